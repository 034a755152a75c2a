"""emref.factor (factor analysis and probabilistic PCA by EM) against independent oracles:
scipy's Gaussian density for the log-likelihood, Gaussian conditioning of the joint (z, x) for
the posterior, scikit-learn's FactorAnalysis at convergence, the closed-form PPCA maximum of
Tipping and Bishop (1999) and scikit-learn's PCA where they coincide; bad input names its
argument."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA, FactorAnalysis

from emref import factor

D, L, N = 6, 2, 600


@pytest.fixture(scope="module")
def truth():
    rng = np.random.default_rng(12)
    W = rng.normal(size=(D, L)) * 1.5
    psi = rng.uniform(0.2, 1.0, size=D)
    return factor.FactorParams(mean=rng.normal(size=D), W=W, psi=psi)


@pytest.fixture(scope="module")
def data(truth):
    X, _ = factor.sample(truth, N, seed=3)
    return X


@pytest.fixture(scope="module")
def fa_run(data):
    return factor.fit(data, L, model="fa", max_iter=5000, tol=1e-15, seed=0)


@pytest.fixture(scope="module")
def ppca_run(data):
    return factor.fit(data, L, model="ppca", max_iter=5000, tol=1e-15, seed=0)


def test_log_likelihood_is_a_sum_of_gaussian_log_densities(data, truth):
    expected = multivariate_normal(truth.mean, truth.W @ truth.W.T + np.diag(truth.psi)
                                   ).logpdf(data).sum()
    assert factor.log_likelihood(data, truth) == pytest.approx(expected, rel=1e-12)


def test_posterior_is_the_conditional_of_the_joint_gaussian(data, truth):
    # (z, x) is jointly Gaussian with cov [[I, Wᵀ], [W, C]]: condition on x directly.
    C = truth.covariance
    gain = np.linalg.solve(C, truth.W).T                      # Wᵀ C⁻¹
    post = factor.posterior(data[:20], truth)
    np.testing.assert_allclose(post.means, (data[:20] - truth.mean) @ gain.T, atol=1e-10)
    np.testing.assert_allclose(post.cov, np.eye(L) - gain @ truth.W, atol=1e-10)


@pytest.mark.parametrize("run", ["fa_run", "ppca_run"])
def test_em_never_lowers_the_log_likelihood_and_converges(run, request):
    result = request.getfixturevalue(run)
    steps = np.diff(result.loglik_history)
    assert steps.min() > -1e-9 * abs(result.loglik)
    assert result.converged


def test_fa_matches_scikit_learn_factor_analysis(data, fa_run):
    sk = FactorAnalysis(n_components=L, tol=1e-12, max_iter=20000, random_state=0).fit(data)
    # W is defined up to a rotation: compare what is identifiable.
    np.testing.assert_allclose(fa_run.params.covariance, sk.get_covariance(), atol=1e-4)
    assert fa_run.loglik / N == pytest.approx(sk.score(data), abs=1e-7)
    np.testing.assert_allclose(fa_run.params.psi, sk.noise_variance_, atol=1e-4)


def test_ppca_closed_form_is_the_maximum_that_em_reaches(data, ppca_run):
    closed = factor.ppca_closed_form(data, L)
    S = np.cov(data.T, bias=True)
    nu = np.sort(np.linalg.eigvalsh(S))[::-1]
    assert closed.psi[0] == pytest.approx(nu[L:].mean(), rel=1e-12)  # σ² = mean of the rest
    np.testing.assert_allclose(ppca_run.params.covariance, closed.covariance, atol=1e-6)
    assert ppca_run.loglik == pytest.approx(factor.log_likelihood(data, closed), abs=1e-6)
    np.testing.assert_allclose(ppca_run.params.psi, np.full(D, closed.psi[0]), rtol=1e-6)


def test_ppca_closed_form_equals_scikit_learn_pca(data):
    # PCA's probabilistic model divides the scatter by N - 1: the same maximum, rescaled.
    closed = factor.ppca_closed_form(data, L)
    sk = PCA(n_components=L, svd_solver="full").fit(data)
    np.testing.assert_allclose(closed.covariance * N / (N - 1), sk.get_covariance(), atol=1e-10)
    assert closed.psi[0] * N / (N - 1) == pytest.approx(sk.noise_variance_, rel=1e-10)


def test_fa_differs_from_ppca_when_the_noise_is_not_isotropic(fa_run, ppca_run):
    assert fa_run.loglik > ppca_run.loglik + 1.0
    assert np.ptp(fa_run.params.psi) > 0.1


def test_m_step_equations_against_a_direct_sum(data, truth):
    # 12.56/12.69 and 12.70 written point by point, against the vectorised statistics.
    stats, _ = factor.e_step(data, factor.FactorParams(data.mean(0), truth.W, truth.psi))
    post = factor.posterior(data, factor.FactorParams(data.mean(0), truth.W, truth.psi))
    xc = data - data.mean(0)
    A = sum(np.outer(xc[n], post.means[n]) for n in range(N))
    B = sum(post.cov + np.outer(post.means[n], post.means[n]) for n in range(N))
    W_new = A @ np.linalg.inv(B)
    S = xc.T @ xc / N
    psi_new = np.diag(S - W_new @ sum(np.outer(post.means[n], xc[n]) for n in range(N)) / N)
    new = factor.m_step(stats, model="fa")
    np.testing.assert_allclose(new.W, W_new, atol=1e-10)
    np.testing.assert_allclose(new.psi, psi_new, atol=1e-10)
    sigma2 = sum(xc[n] @ xc[n] - 2 * post.means[n] @ W_new.T @ xc[n]
                 + np.trace((post.cov + np.outer(post.means[n], post.means[n])) @ W_new.T
                            @ W_new) for n in range(N)) / (N * D)
    assert factor.m_step(stats, model="ppca").psi[0] == pytest.approx(sigma2, rel=1e-10)


def test_sample_draws_from_the_model(truth):
    X, Z = factor.sample(truth, 20000, seed=1)
    assert Z.shape == (20000, L)
    np.testing.assert_allclose(np.cov(X.T), truth.covariance, atol=0.15)


@pytest.mark.parametrize("call, exc, words", [
    (lambda X, p: factor.fit(X, 0), ValueError, "n_latent"),
    (lambda X, p: factor.fit(X, D), ValueError, "n_latent"),
    (lambda X, p: factor.fit(X, 1.5), TypeError, "n_latent"),
    (lambda X, p: factor.fit(X, L, model="pca"), ValueError, "model"),
    (lambda X, p: factor.fit(X, L, min_noise=0.0), ValueError, "min_noise"),
    (lambda X, p: factor.fit(X, L, init="random"), TypeError, "init"),
    (lambda X, p: factor.fit(X[:, :1], 1), ValueError, "X"),
    (lambda X, p: factor.fit("data", L), TypeError, "X"),
    (lambda X, p: factor.log_likelihood(X[:, :3], p), ValueError, "X must have 6 columns"),
    (lambda X, p: factor.posterior(X, "params"), TypeError, "params"),
    (lambda X, p: factor.m_step(p), TypeError, "stats"),
    (lambda X, p: factor.FactorParams(p.mean, p.W, -p.psi), ValueError, "psi"),
    (lambda X, p: factor.FactorParams(p.mean, p.W.T, p.psi), ValueError, "W"),
    (lambda X, p: factor.FactorParams(p.mean, p.W, p.psi[:3]), ValueError, "psi"),
    (lambda X, p: factor.ppca_closed_form(X, D), ValueError, "n_latent"),
    (lambda X, p: factor.ppca_closed_form(np.ones((10, 3)) @ np.eye(3), 1), ValueError, "σ²"),
])
def test_bad_input_names_the_argument(data, truth, call, exc, words):
    with pytest.raises(exc, match=words):
        call(data, truth)
