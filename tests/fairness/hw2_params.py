# hw: hw2
# A fit that uses what GMMParams offers (n_components, n_features) and a history kept as a
# Python list of floats; log_gaussian's log-determinant from scipy.linalg.eigvals, which
# always returns complex numbers (their imaginary parts are zero), so log_gaussian returns a
# complex array holding real numbers.
# %% * = solution
# %% log_gaussian
import scipy.linalg


def log_gaussian(X, means, covariances):
    N, D = X.shape
    out = np.zeros((N, len(means)), dtype=complex)
    for k, (mu, S) in enumerate(zip(means, covariances)):
        log_det = np.sum(np.log(scipy.linalg.eigvals(S)))
        L = np.linalg.cholesky(S)
        y = solve_triangular(L, (X - mu).T, lower=True)
        out[:, k] = -0.5 * (D * np.log(2 * np.pi) + log_det + (y ** 2).sum(axis=0))
    return out
# %% fit
def fit(X, params0, max_iter=100, tol=1e-6):
    params = params0
    K, D = params.n_components, params.n_features
    assert params.means.shape == (K, D)
    resp, ll = e_step(X, params)
    history = [float(ll)]
    for _ in range(max_iter):
        params = m_step(X, resp)
        assert params.n_components == K
        resp, ll = e_step(X, params)
        history.append(float(ll))
        if abs(history[-1] - history[-2]) < tol * len(X):
            break
    return params, history
