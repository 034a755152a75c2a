# Right: log_gaussian, e_step, the exam update (45 points). Wrong: m_step divides the
# covariances by N instead of N_k; fit and the debugging exercise left blank.
# %% log_gaussian = solution
# %% e_step = solution
# %% m_step
def m_step(X, resp, reg_covar=1e-6):
    N, D = X.shape
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    covariances = np.empty((len(Nk), D, D))
    for k in range(len(Nk)):
        diff = X - means[k]
        covariances[k] = (resp[:, k, None] * diff).T @ diff / N + reg_covar * np.eye(D)
    return GMMParams(Nk / N, means, covariances)
# %% m_step_two_gaussians = solution
# %% exam_derivation
Q is the expected complete log-likelihood; setting its derivatives to zero gives weighted means.
