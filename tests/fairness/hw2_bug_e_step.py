# hw: hw2
# A bug in e_step only (the mixture weights are left out): e_step loses its 15 points; fit,
# which calls e_step and whose visible test calls it too, keeps its 10.
# lose: test_e_step | `e_step`
# %% * = solution
# %% e_step
def e_step(X, params):
    a = log_gaussian(X, params.means, params.covariances)
    m = a.max(axis=1, keepdims=True)
    log_norm = m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    return np.exp(a - log_norm), float(log_norm.sum())
