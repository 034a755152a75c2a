"""The readable GMM E-step (emref.gmm.e_step, Bishop 9.23, a loop over components) against
scikit-learn's predict_proba and score as the oracle, and the cache-blocked fast E-step
(emref._gmm_fast.e_step, what gmm.fit runs) against it; the Gaussian log-density of
emref.gaussian (shared with the HMM's Gaussian emission) against scipy."""

import numpy as np
import pytest
from helpers import blob_data
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

import emref._gmm_fast as fast
from emref import gaussian, gmm


def random_params(rng, K, D, zero_weight=False):
    w = rng.dirichlet(np.ones(K))
    if zero_weight:
        w[0] = 0.0
        w /= w.sum()
    L = rng.normal(0, 0.5, (K, D, D)) + np.eye(D)
    return gmm.GMMParams(w, rng.normal(0, 3, (K, D)), L @ np.swapaxes(L, 1, 2) + 0.05 * np.eye(D))


def sklearn_holding(params):
    sk = GaussianMixture(n_components=params.n_components, covariance_type="full")
    sk.weights_ = params.weights.copy()
    sk.means_ = params.means.copy()
    sk.covariances_ = params.covariances.copy()
    sk.precisions_cholesky_ = params.precisions_cholesky.copy()
    return sk


@pytest.mark.parametrize("seed, N, D, K", [(0, 200, 2, 3), (1, 57, 5, 4), (2, 1, 1, 1),
                                           (3, 3000, 3, 6)])
def test_readable_e_step_equals_sklearn(seed, N, D, K):
    rng = np.random.default_rng(seed)
    X = blob_data(seed, N, D, K)[0] if N > K else rng.normal(size=(N, D))
    params = random_params(rng, K, D)
    resp, loglik = gmm.e_step(X, params)
    sk = sklearn_holding(params)
    np.testing.assert_allclose(resp, sk.predict_proba(X), rtol=1e-9, atol=1e-12)
    assert loglik == pytest.approx(sk.score(X) * N, rel=1e-10)


@pytest.mark.parametrize("seed, N, D, K", [(4, 500, 2, 3), (5, 40000, 3, 5), (6, 10, 7, 2)])
def test_fast_e_step_equals_the_readable_one(seed, N, D, K):
    """Same signature, same numbers; 40 000 points cross the fast path's cache blocks."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 4, (N, D))
    for zero_weight in (False, True):
        params = random_params(rng, K, D, zero_weight)
        ref_resp, ref_ll = gmm.e_step(X, params)
        resp, ll = fast.e_step(X, params)
        np.testing.assert_allclose(resp, ref_resp, rtol=1e-12, atol=1e-14)
        assert ll == pytest.approx(ref_ll, rel=1e-12)
        if zero_weight:
            assert np.all(resp[:, 0] == 0.0)


def test_far_out_points_get_finite_responsibilities_in_both():
    rng = np.random.default_rng(9)
    params = random_params(rng, 3, 2)
    X = np.array([[1e4, -1e4], [0.0, 0.0], [-5e3, 2e3]])
    for resp, _ in (gmm.e_step(X, params), fast.e_step(X, params)):
        assert np.all(np.isfinite(resp))
        np.testing.assert_allclose(resp.sum(axis=1), 1.0)


def test_log_density_equals_scipy():
    rng = np.random.default_rng(11)
    params = random_params(rng, 3, 4)
    X = rng.normal(0, 2, (50, 4))
    got = gaussian.log_density(X, params.means, params.precisions_cholesky)
    for k in range(3):
        want = multivariate_normal(params.means[k], params.covariances[k]).logpdf(X)
        np.testing.assert_allclose(got[:, k], want, rtol=1e-10)


def test_log_density_bad_shapes_name_the_argument():
    rng = np.random.default_rng(12)
    params = random_params(rng, 2, 3)
    with pytest.raises(ValueError, match=r"means must have shape \(K, 2\)"):
        gaussian.log_density(np.zeros((4, 2)), params.means, params.precisions_cholesky)
    with pytest.raises(ValueError, match=r"precisions_cholesky must have shape \(2, 3, 3\)"):
        gaussian.log_density(np.zeros((4, 3)), params.means, params.precisions_cholesky[:, :2])
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        gaussian.log_density(np.zeros(3), params.means, params.precisions_cholesky)
