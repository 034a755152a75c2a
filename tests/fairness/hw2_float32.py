# hw: hw2
# Single precision: log_gaussian, e_step, m_step, fit and m_step_two_gaussians compute in
# float32 (the notebook does not ask for float64): responsibilities, parameters and the
# log-likelihood history all float32.
# %% * = solution
# %% log_gaussian
def log_gaussian(X, means, covariances):
    X = np.asarray(X, dtype=np.float32)
    N, D = X.shape
    out = np.empty((N, len(means)), dtype=np.float32)
    for k in range(len(means)):
        L = np.linalg.cholesky(np.asarray(covariances[k], dtype=np.float32))
        y = solve_triangular(L, (X - means[k].astype(np.float32)).T, lower=True)
        log_det = 2.0 * np.log(np.diag(L)).sum()
        out[:, k] = -0.5 * (D * np.log(np.float32(2 * np.pi)) + log_det + (y ** 2).sum(axis=0))
    return out
# %% m_step_two_gaussians
def m_step_two_gaussians(X, w):
    X = np.asarray(X, dtype=np.float32)
    w = np.asarray(w, dtype=np.float32)
    v = 1 - w
    mu1 = w @ X / w.sum()
    mu2 = v @ X / v.sum()
    S1 = (w[:, None] * (X - mu1)).T @ (X - mu1) / w.sum()
    S2 = (v[:, None] * (X - mu2)).T @ (X - mu2) / v.sum()
    return w.mean(), mu1, mu2, S1, S2
# %% e_step
def e_step(X, params):
    a = (np.log(np.asarray(params.weights, dtype=np.float32))
         + log_gaussian(X, params.means, params.covariances))
    m = a.max(axis=1, keepdims=True)
    log_norm = m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    return np.exp(a - log_norm), log_norm.sum(dtype=np.float32)
# %% m_step
def m_step(X, resp, reg_covar=1e-6):
    X = np.asarray(X, dtype=np.float32)
    resp = np.asarray(resp, dtype=np.float32)
    N, D = X.shape
    Nk = resp.sum(axis=0)
    means = (resp.T @ X) / Nk[:, None]
    covariances = np.empty((len(Nk), D, D), dtype=np.float32)
    for k in range(len(Nk)):
        diff = X - means[k]
        covariances[k] = ((resp[:, k, None] * diff).T @ diff / Nk[k]
                          + np.float32(reg_covar) * np.eye(D, dtype=np.float32))
    return GMMParams(Nk / np.float32(N), means, covariances)
# %% fit
def fit(X, params0, max_iter=100, tol=1e-6):
    X = np.asarray(X, dtype=np.float32)
    params = params0
    resp, loglik = e_step(X, params)
    history = np.empty(max_iter + 1, dtype=np.float32)
    history[0] = loglik
    n = 1
    for _ in range(max_iter):
        params = m_step(X, resp)
        resp, new_loglik = e_step(X, params)
        history[n] = new_loglik
        n += 1
        if abs(new_loglik - loglik) / X.shape[0] < tol:
            break
        loglik = new_loglik
    return params, history[:n]
