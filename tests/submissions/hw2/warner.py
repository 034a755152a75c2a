# The full solution; e_step takes log(0) once, which prints a RuntimeWarning on stderr.
# IgnorePattern strips it, so the score is still full.
# %% log_gaussian = solution
# %% e_step
def e_step(X, params):
    np.log(np.zeros(1))  # RuntimeWarning: divide by zero encountered in log
    a = np.log(params.weights) + log_gaussian(X, params.means, params.covariances)
    m = a.max(axis=1, keepdims=True)
    log_norm = m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    return np.exp(a - log_norm), float(log_norm.sum())
# %% m_step = solution
# %% fit = solution
# %% exam_derivation = solution
# %% m_step_two_gaussians = solution
# %% em_1d = solution
