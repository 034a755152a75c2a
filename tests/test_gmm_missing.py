"""emref.gmm with missing values (NaN): against scikit-learn and complete-data EM when nothing
is missing, scipy's Gaussian densities for the observed-data likelihood, scipy.optimize on
that likelihood, and Anderson's (1957) closed form for a monotone pattern."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

import emref
from emref import gmm


def two_blobs(seed, n=200, d=3):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n // 2, d))
    b = rng.normal(size=(n - n // 2, d)) @ np.diag(np.linspace(0.4, 0.9, d)) + 3.0
    X = np.concatenate([a, b])
    return X[rng.permutation(n)]


def knock_out(X, fraction, seed):
    """X with a random ``fraction`` of its entries set to NaN; no row left empty."""
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    Xm[rng.uniform(size=X.shape) < fraction] = np.nan
    empty = np.isnan(Xm).all(axis=1)
    Xm[empty, 0] = X[empty, 0]
    return Xm


def observed_loglik(X, weights, means, covs):
    """Σ_n log Σ_k π_k N(x_{n,o} | μ_{k,o}, Σ_{k,oo}) with scipy's densities, the rows of
    one missingness pattern at a time."""
    patterns, inverse = np.unique(np.isnan(X), axis=0, return_inverse=True)
    total = 0.0
    for p, pattern in enumerate(patterns):
        rows, o = X[inverse.ravel() == p], ~pattern
        terms = [np.log(w) + np.atleast_1d(multivariate_normal(m[o], c[np.ix_(o, o)])
                                           .logpdf(rows[:, o]))
                 for w, m, c in zip(weights, means, covs)]
        total += logsumexp(terms, axis=0).sum()
    return total


# --------------------------------------------------------------------------------------------
# Nothing missing: complete-data EM, step for step
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", gmm.COVARIANCE_TYPES)
def test_statistics_em_equals_complete_data_em_step_for_step(covariance_type):
    X = two_blobs(0)
    p0 = gmm.fit(X, 2, max_iter=0, seed=3, covariance_type=covariance_type).params
    ref = gmm.fit(X, 2, init=p0, max_iter=8, tol=0, covariance_type=covariance_type)
    params, history = p0, []
    for _ in range(8):
        stats, _, loglik = gmm.expected_statistics(X, params, shift=X.mean(axis=0))
        history.append(loglik)
        params = gmm.m_step_statistics(stats, covariance_type=covariance_type)
        history_ref_params = params
    assert np.allclose(history, ref.loglik_history[:8], rtol=1e-12, atol=0)
    for name in ("weights", "means", "covariances"):
        assert np.allclose(getattr(history_ref_params, name), getattr(ref.params, name),
                           rtol=1e-12, atol=1e-12), name
    # and the same θ⁸ as scikit-learn from the same start
    sk = GaussianMixture(2, covariance_type="full", weights_init=p0.weights,
                         means_init=p0.means, precisions_init=np.linalg.inv(p0.covariances),
                         max_iter=8, tol=0, reg_covar=1e-6)
    if covariance_type == "full":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
        assert np.allclose(params.means, sk.means_, rtol=1e-10, atol=1e-10)
        assert np.allclose(params.covariances, sk.covariances_, rtol=1e-10, atol=1e-10)


def test_pattern_e_step_on_complete_rows_equals_the_complete_e_step():
    """Statistics add over rows: those of X with missing rows equal the complete rows' (fast
    complete-data path) plus the incomplete rows' (pattern path)."""
    X = two_blobs(1)
    Xm = X.copy()
    Xm[::3, 1] = np.nan
    params = gmm.fit(X, 2, seed=0).params
    shift = np.nanmean(Xm, axis=0)
    whole, resp, ll = gmm.expected_statistics(Xm, params, shift=shift)
    done = ~np.isnan(Xm).any(axis=1)
    a, resp_a, ll_a = gmm.expected_statistics(Xm[done], params, shift=shift)
    b, _, ll_b = gmm.expected_statistics(Xm[~done], params, shift=shift)
    assert ll == pytest.approx(ll_a + ll_b, rel=1e-13)
    assert np.allclose(resp[done], resp_a, atol=1e-13)
    for name in ("counts", "sums", "outer"):
        assert np.allclose(getattr(whole, name), getattr(a, name) + getattr(b, name),
                           rtol=1e-12, atol=1e-10), name


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_fit_on_incomplete_data_equals_the_readable_statistics_loop(covariance_type):
    """fit takes a faster path on incomplete data; expected_statistics is the reference
    (one pattern at a time); from the same start they agree step for step."""
    X = knock_out(two_blobs(10, n=400, d=5), 0.25, seed=10)
    p0 = gmm.fit(np.nan_to_num(X), 3, max_iter=0, seed=0,
                 covariance_type=covariance_type).params
    ref = gmm.fit(X, 3, init=p0, max_iter=6, tol=0, covariance_type=covariance_type)
    params, history = p0, []
    shift = np.nanmean(X, axis=0)
    for _ in range(6):
        stats, _resp, loglik = gmm.expected_statistics(X, params, shift=shift)
        history.append(loglik)
        params = gmm.m_step_statistics(stats, covariance_type=covariance_type)
    assert np.allclose(history, ref.loglik_history[:6], rtol=1e-12, atol=0)
    for name in ("weights", "means", "covariances"):
        assert np.allclose(getattr(params, name), getattr(ref.params, name), rtol=1e-10,
                           atol=1e-12), name
    assert np.allclose(gmm.predict_proba(X, params), ref.resp, atol=1e-10)


# --------------------------------------------------------------------------------------------
# The E-step on incomplete rows
# --------------------------------------------------------------------------------------------

def test_observed_data_loglik_and_responsibilities_match_scipy():
    X = knock_out(two_blobs(2, n=60), 0.3, seed=2)
    params = gmm.fit(np.nan_to_num(X), 2, seed=0).params
    resp, loglik = gmm.e_step(X, params)
    assert loglik == pytest.approx(
        observed_loglik(X, params.weights, params.means, params.covariances), rel=1e-12)
    assert np.allclose(resp.sum(axis=1), 1.0)
    assert np.allclose(gmm.predict_proba(X, params), resp)
    n = int(np.flatnonzero(np.isnan(X).sum(axis=1) == 2)[0])  # one coordinate observed
    o = int(np.flatnonzero(~np.isnan(X[n]))[0])
    dens = [w * multivariate_normal(m[o], c[o, o]).pdf(X[n, o])
            for w, m, c in zip(params.weights, params.means, params.covariances)]
    assert np.allclose(resp[n], np.array(dens) / sum(dens), atol=1e-12)


def test_impute_is_the_conditional_mean():
    rng = np.random.default_rng(4)
    X = knock_out(two_blobs(4, n=50, d=4), 0.3, seed=4)
    params = gmm.fit(np.nan_to_num(X), 2, seed=0).params
    out = gmm.impute(X, params)
    resp = gmm.predict_proba(X, params)
    for n in rng.choice(len(X), 15, replace=False):
        o, m = ~np.isnan(X[n]), np.isnan(X[n])
        assert np.array_equal(out[n, o], X[n, o])
        expect = np.zeros(m.sum())
        for k in range(2):
            mu, S = params.means[k], params.covariances[k]
            cond = mu[m] + S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)], X[n, o] - mu[o])
            expect += resp[n, k] * cond
        assert np.allclose(out[n, m], expect, atol=1e-12)
    assert not np.isnan(out).any()
    assert np.array_equal(gmm.impute(np.nan_to_num(X), params), np.nan_to_num(X))


# --------------------------------------------------------------------------------------------
# EM on incomplete data
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", gmm.COVARIANCE_TYPES)
def test_observed_data_loglik_never_decreases(covariance_type):
    X = knock_out(two_blobs(5, n=300, d=4), 0.25, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gmm.fit(X, 3, covariance_type=covariance_type, max_iter=40, tol=0, seed=1)
    h = res.loglik_history
    assert len(h) == 41
    assert np.all(np.diff(h) >= -1e-9 * np.abs(h[1:]))
    assert res.loglik == pytest.approx(observed_loglik(X, res.params.weights,
                                                       res.params.means,
                                                       res.params.covariances), rel=1e-11)
    assert res.resp.shape == (300, 3)


def _unpack(theta, K, D):
    """weights (softmax), means, covariances L Lᵀ with a log-diagonal: an unconstrained
    parametrisation for scipy.optimize."""
    logits = np.concatenate([[0.0], theta[:K - 1]])
    w = np.exp(logits - logsumexp(logits))
    means = theta[K - 1:K - 1 + K * D].reshape(K, D)
    rest = theta[K - 1 + K * D:].reshape(K, -1)
    covs = []
    il = np.tril_indices(D)
    for r in rest:
        L = np.zeros((D, D))
        L[il] = r
        L[np.diag_indices(D)] = np.exp(np.diag(L))
        covs.append(L @ L.T)
    return w, means, np.array(covs)


def _pack(w, means, covs):
    D = means.shape[1]
    il = np.tril_indices(D)
    parts = [np.log(w[1:] / w[0]), means.ravel()]
    for c in covs:
        L = np.linalg.cholesky(c)
        L[np.diag_indices(D)] = np.log(np.diag(L))
        parts.append(L[il])
    return np.concatenate(parts)


@pytest.mark.parametrize("K", [1, 2])
def test_em_maximises_the_observed_data_likelihood_found_by_scipy_optimize(K):
    X = knock_out(two_blobs(6, n=40 * K, d=2), 0.3, seed=6)
    res = gmm.fit(X, K, reg_covar=0.0, max_iter=2000, tol=1e-13, seed=0)
    D = 2

    def neg(theta):
        return -observed_loglik(X, *_unpack(theta, K, D))

    # scipy starts from the complete rows' estimate (K = 1) or a perturbed EM answer (K = 2:
    # the likelihood is multimodal, and the question is whether EM stopped at a maximum)
    if K == 1:
        done = X[~np.isnan(X).any(axis=1)]
        start = _pack(np.ones(1), done.mean(axis=0)[None], np.cov(done.T)[None])
    else:
        start = _pack(res.params.weights, res.params.means, res.params.covariances)
        start = start + np.random.default_rng(0).normal(scale=0.1, size=start.shape)
    opt = minimize(neg, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    assert -opt.fun <= res.loglik + 1e-7
    assert res.loglik - (-opt.fun) < 1e-6
    w, means, covs = _unpack(opt.x, K, D)
    order = np.argsort(means[:, 0])
    mine = np.argsort(res.params.means[:, 0])
    assert np.allclose(res.params.weights[mine], w[order], atol=1e-4)
    assert np.allclose(res.params.means[mine], means[order], atol=1e-4)
    assert np.allclose(res.params.covariances[mine], covs[order], atol=1e-4)


def test_k1_monotone_pattern_equals_andersons_closed_form():
    """x_A always observed, x_B observed on the first n rows only: the MLE (Anderson 1957)
    is μ_A, Σ_AA from all N rows, the regression of x_B on x_A from the n complete rows,
    and μ_B, Σ_BA, Σ_BB put back together from the two."""
    rng = np.random.default_rng(7)
    N, n = 300, 180
    S = np.array([[2.0, 0.6, 0.8, 0.1], [0.6, 1.0, 0.3, 0.2],
                  [0.8, 0.3, 1.5, 0.4], [0.1, 0.2, 0.4, 0.7]])
    X = rng.multivariate_normal([1.0, -2.0, 0.5, 3.0], S, size=N)
    A, B = slice(0, 2), slice(2, 4)
    Xm = X.copy()
    Xm[n:, B] = np.nan
    # the closed form, with maximum-likelihood (1/N) moments
    mu_A = X[:, A].mean(axis=0)
    S_AA = np.cov(X[:, A].T, bias=True)
    c = X[:n]
    m_A, m_B = c[:, A].mean(axis=0), c[:, B].mean(axis=0)
    C = np.cov(c.T, bias=True)
    beta = np.linalg.solve(C[A, A], C[A, B]).T                # (x_B on x_A) coefficients
    resid = C[B, B] - beta @ C[A, B]                            # Σ_BB·A
    mu_B = m_B + beta @ (mu_A - m_A)
    S_BA = beta @ S_AA
    S_BB = resid + beta @ S_AA @ beta.T
    mean = np.concatenate([mu_A, mu_B])
    cov = np.block([[S_AA, S_BA.T], [S_BA, S_BB]])

    res = gmm.fit(Xm, 1, reg_covar=0.0, max_iter=400, tol=0)
    assert np.allclose(res.params.means[0], mean, atol=1e-9)
    assert np.allclose(res.params.covariances[0], cov, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Invariances, degenerate data, errors
# --------------------------------------------------------------------------------------------

def test_row_order_does_not_matter():
    X = knock_out(two_blobs(8, n=120), 0.3, seed=8)
    p0 = gmm.fit(np.nan_to_num(X), 2, max_iter=0, seed=0).params
    perm = np.random.default_rng(0).permutation(len(X))
    a = gmm.fit(X, 2, init=p0, max_iter=5, tol=0)
    b = gmm.fit(X[perm], 2, init=p0, max_iter=5, tol=0)
    assert np.allclose(a.params.covariances, b.params.covariances, rtol=1e-10, atol=1e-12)
    assert np.allclose(a.resp[perm], b.resp, atol=1e-12)


def test_duplicate_points_with_missing_entries_get_finite_answers():
    X = np.tile([[1.0, 2.0, np.nan], [1.0, np.nan, 3.0]], (10, 1))
    with warnings.catch_warnings():
        # zero variances: reg_covar dominates the M-step, which is then not exact EM
        warnings.simplefilter("ignore", emref.LikelihoodDecreaseWarning)
        res = gmm.fit(X, 2, seed=0, max_iter=20)
    for a in (res.params.weights, res.params.means, res.params.covariances, res.resp):
        assert np.all(np.isfinite(a))
    assert np.isfinite(res.loglik)
    assert np.all(np.isfinite(gmm.impute(X, res.params)))


def test_errors_name_the_argument():
    X = two_blobs(9, n=20)
    params = gmm.fit(X, 2, seed=0).params
    empty_row = X.copy()
    empty_row[4] = np.nan
    for call in (lambda: gmm.fit(empty_row, 2), lambda: gmm.e_step(empty_row, params),
                 lambda: gmm.impute(empty_row, params),
                 lambda: gmm.predict_proba(empty_row, params)):
        with pytest.raises(ValueError, match=r"X has 1 row\(s\) with every entry missing"):
            call()
    empty_col = X.copy()
    empty_col[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"X has column\(s\) \[1\] never observed"):
        gmm.fit(empty_col, 2)
    inf = X.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="X must contain only finite numbers or NaN"):
        gmm.fit(inf, 2)
    with pytest.raises(ValueError, match="X must have D = 3 columns"):
        gmm.impute(X[:, :2], params)
    with pytest.raises(TypeError, match="params must be a GMMParams"):
        gmm.impute(X, "params")
    with pytest.raises(TypeError, match="stats must be a GMMStats"):
        gmm.m_step_statistics({"counts": 1})
    with pytest.raises(ValueError, match="shift must have shape"):
        gmm.expected_statistics(X, params, shift=np.zeros(2))
    with pytest.raises(ValueError, match="covariance_type"):
        gmm.m_step_statistics(gmm.expected_statistics(X, params)[0], covariance_type="x")


def test_more_than_62_dimensions_group_patterns_too():
    """Missingness patterns of D > 62 columns do not fit one integer code; the answer must
    not change."""
    rng = np.random.default_rng(11)
    D = 64
    X = rng.normal(size=(150, D)) @ np.diag(rng.uniform(0.5, 2.0, D))
    X[:75] += 2.0
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    p0 = gmm.fit(np.nan_to_num(X), 2, max_iter=0, seed=0, covariance_type="diag").params
    ref = gmm.fit(X, 2, init=p0, max_iter=3, tol=0, covariance_type="diag")
    params, history = p0, []
    for _ in range(3):
        stats, _, loglik = gmm.expected_statistics(X, params, shift=np.nanmean(X, axis=0))
        history.append(loglik)
        params = gmm.m_step_statistics(stats, covariance_type="diag")
    assert np.allclose(history, ref.loglik_history[:3], rtol=1e-12, atol=0)
    assert np.allclose(params.means, ref.params.means, rtol=1e-10, atol=1e-12)
