# Densities exponentiated and logged back, responsibilities normalised without log-sum-exp:
# right on the visible examples, NaN/-inf for far-away points. Loses log_gaussian and e_step
# (30 points): 55.
# %% log_gaussian
def log_gaussian(X, means, covariances):
    N, D = X.shape
    out = np.empty((N, len(means)))
    for k in range(len(means)):
        diff = X - means[k]
        inv = np.linalg.inv(covariances[k])
        maha = np.einsum("nd,de,ne->n", diff, inv, diff)
        dens = np.exp(-0.5 * maha) / np.sqrt((2 * np.pi) ** D * np.linalg.det(covariances[k]))
        out[:, k] = np.log(dens)
    return out
# %% e_step
def e_step(X, params):
    dens = params.weights * np.exp(log_gaussian(X, params.means, params.covariances))
    total = dens.sum(axis=1, keepdims=True)
    return dens / total, float(np.log(total).sum())
# %% m_step = solution
# %% fit = solution
# %% exam_derivation = solution
# %% m_step_two_gaussians = solution
# %% em_1d = solution
