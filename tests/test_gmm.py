"""emref.gmm: step for step against scikit-learn, densities against scipy, EM properties,
sampling, model selection and degenerate data."""

import warnings

import numpy as np
import pytest
from helpers import blob_data
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.linalg import solve_triangular
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

import emref
from emref import gmm

TYPES = gmm.COVARIANCE_TYPES
PROPS = settings(max_examples=30, deadline=None)


# --------------------------------------------------------------------------------------------
# Helpers: random starts per covariance type, conversion to and from scikit-learn's shapes
# --------------------------------------------------------------------------------------------

def random_spd(gen, d, scale=1.0):
    q, _ = np.linalg.qr(gen.normal(size=(d, d)))
    return (q * gen.uniform(0.2, 2.0, size=d)) @ q.T * scale


def random_params(gen, X, k, covariance_type="full"):
    """A start θ⁰ whose covariances have the structure of ``covariance_type``."""
    n, d = X.shape
    weights = gen.dirichlet(np.full(k, 3.0))
    means = X[gen.choice(n, size=k, replace=False)] + 0.1 * gen.normal(size=(k, d))
    s = X.var(axis=0).mean() + 1e-3
    if covariance_type == "full":
        cov = np.stack([random_spd(gen, d, s) for _ in range(k)])
    elif covariance_type == "diag":
        cov = np.stack([np.diag(gen.uniform(0.2, 2.0, size=d) * s) for _ in range(k)])
    elif covariance_type == "spherical":
        cov = np.stack([np.eye(d) * gen.uniform(0.2, 2.0) * s for _ in range(k)])
    else:
        cov = np.broadcast_to(random_spd(gen, d, s), (k, d, d)).copy()
    return gmm.GMMParams(weights, means, cov)


def to_sklearn_precisions(cov, covariance_type):
    if covariance_type == "full":
        return np.linalg.inv(cov)
    if covariance_type == "diag":
        return 1.0 / np.diagonal(cov, axis1=1, axis2=2)
    if covariance_type == "spherical":
        return 1.0 / cov[:, 0, 0]
    return np.linalg.inv(cov[0])


def to_sklearn_covariances(cov, covariance_type):
    if covariance_type == "full":
        return cov
    if covariance_type == "diag":
        return np.diagonal(cov, axis1=1, axis2=2).copy()
    if covariance_type == "spherical":
        return cov[:, 0, 0].copy()
    return cov[0].copy()


def from_sklearn_covariances(cov, covariance_type, k, d):
    if covariance_type == "full":
        return cov
    if covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    if covariance_type == "spherical":
        return cov[:, None, None] * np.eye(d)
    return np.broadcast_to(cov, (k, d, d))


def sklearn_precisions_cholesky(cov, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(to_sklearn_covariances(cov, covariance_type))
    mats = cov if covariance_type == "full" else cov[:1]
    out = np.stack([solve_triangular(np.linalg.cholesky(c), np.eye(len(c)), lower=True).T
                    for c in mats])
    return out if covariance_type == "full" else out[0]


def sklearn_fit(X, params0, covariance_type, max_iter, reg_covar=1e-6):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        return GaussianMixture(
            n_components=params0.n_components, covariance_type=covariance_type,
            weights_init=params0.weights, means_init=params0.means,
            precisions_init=to_sklearn_precisions(params0.covariances, covariance_type),
            max_iter=max_iter, tol=0.0, reg_covar=reg_covar, init_params="random",
            random_state=0).fit(X)


def sklearn_with_params(params, covariance_type):
    """A GaussianMixture holding exactly ``params`` (converted to its covariance type)."""
    sk = GaussianMixture(n_components=params.n_components, covariance_type=covariance_type)
    sk.weights_ = np.array(params.weights)
    sk.means_ = np.array(params.means)
    sk.covariances_ = to_sklearn_covariances(params.covariances, covariance_type)
    sk.precisions_cholesky_ = sklearn_precisions_cholesky(params.covariances, covariance_type)
    sk.precisions_ = to_sklearn_precisions(params.covariances, covariance_type)
    sk.converged_, sk.n_iter_, sk.lower_bound_ = True, 1, 0.0
    return sk


def assert_close(actual, expected, rtol=1e-8):
    """Relative to the largest entry, so that near-zero off-diagonals do not dominate."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol,
                               atol=rtol * max(np.abs(expected).max(), 1e-300))


def structured(cov, covariance_type):
    """Project full matrices onto the structure of ``covariance_type``."""
    _, d, _ = cov.shape
    if covariance_type == "diag":
        return np.diagonal(cov, axis1=1, axis2=2)[:, :, None] * np.eye(d)
    if covariance_type == "spherical":
        return cov[:, :1, :1] * np.eye(d)
    if covariance_type == "tied":
        return np.broadcast_to(cov[0], cov.shape)
    return cov


# --------------------------------------------------------------------------------------------
# Step for step against scikit-learn
# --------------------------------------------------------------------------------------------

# (seed, N, D, K, separation, offset)
PROBLEMS = [
    (0, 100, 2, 3, 5.0, 0.0),     # well separated
    (1, 300, 3, 4, 0.5, 0.0),     # badly separated
    (2, 50, 1, 2, 2.0, 0.0),      # one dimension
    (3, 200, 5, 3, 1.0, 0.0),     # five dimensions
    (4, 30, 2, 5, 0.3, 0.0),      # few points per component
    (5, 400, 4, 6, 3.0, 5.0),     # offset from the origin
    (6, 80, 3, 1, 1.0, 0.0),      # a single component
    (7, 150, 2, 4, 10.0, -2.0),   # very well separated: responsibilities nearly 0/1
]


@pytest.mark.parametrize("n_iter", [1, 2, 5, 10])
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"seed{p[0]}-N{p[1]}-D{p[2]}-K{p[3]}")
def test_fit_equals_sklearn_step_for_step(problem, covariance_type, n_iter):
    seed, n, d, k, sep, offset = problem
    X, _ = blob_data(seed, n, d, k, separation=sep, offset=offset)
    params0 = random_params(np.random.default_rng(seed + 1), X, k, covariance_type)
    ours = gmm.fit(X, k, init=params0, covariance_type=covariance_type, max_iter=n_iter, tol=0)
    sk = sklearn_fit(X, params0, covariance_type, n_iter)
    assert ours.n_iter == sk.n_iter_ == n_iter
    assert_close(ours.params.weights, sk.weights_)
    assert_close(ours.params.means, sk.means_)
    assert_close(ours.params.covariances,
                 from_sklearn_covariances(sk.covariances_, covariance_type, k, d))
    # the covariances keep the structure of their type
    np.testing.assert_array_equal(ours.params.covariances,
                                  structured(ours.params.covariances, covariance_type))
    # the E-step log-likelihood of θⁿ is scikit-learn's mean score times N
    loglik = sk.score(X) * n
    assert ours.loglik == pytest.approx(loglik, rel=1e-8)
    assert ours.loglik_history[-1] == ours.loglik
    assert gmm.e_step(X, ours.params)[1] == pytest.approx(loglik, rel=1e-8)
    np.testing.assert_allclose(gmm.predict_proba(X, ours.params), sk.predict_proba(X),
                               rtol=1e-6, atol=1e-8)


@st.composite
def sklearn_problems(draw):
    k = draw(st.integers(1, 5))
    d = draw(st.integers(1, 5))
    n = draw(st.integers(2 * k + 3, 200))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    sep = draw(st.sampled_from([0.2, 1.0, 3.0, 10.0]))
    offset = draw(st.sampled_from([0.0, 10.0]))
    X, _ = blob_data(seed, n, d, k, separation=sep, offset=offset)
    return X, k, seed


@settings(max_examples=40, deadline=None)
@given(sklearn_problems(), st.sampled_from(TYPES), st.sampled_from([1, 2, 5, 10]))
def test_fit_equals_sklearn_on_random_problems(problem, covariance_type, n_iter):
    X, k, seed = problem
    params0 = random_params(np.random.default_rng(seed), X, k, covariance_type)
    ours = gmm.fit(X, k, init=params0, covariance_type=covariance_type, max_iter=n_iter, tol=0)
    # A component collapsed onto a few points (covariance near reg_covar·I) makes the
    # comparison ill-conditioned: scikit-learn's own diagonal formula E[x²] - μ² then keeps
    # only ~eps·x²/reg_covar relative accuracy. Such cases are tested apart, below.
    assume(np.linalg.eigvalsh(ours.params.covariances).min() > 1e-3)
    sk = sklearn_fit(X, params0, covariance_type, n_iter)
    assert_close(ours.params.weights, sk.weights_)
    assert_close(ours.params.means, sk.means_)
    assert_close(ours.params.covariances,
                 from_sklearn_covariances(sk.covariances_, covariance_type, k, X.shape[1]))
    assert ours.loglik == pytest.approx(sk.score(X) * len(X), rel=1e-8)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_loglik_history_is_loglik_of_each_iterate(blobs, covariance_type):
    """loglik_history[i] = log p(X | θⁱ): compare with fits stopped after i iterations."""
    X, _ = blobs(10, 120, 2, 3, separation=1.0)
    params0 = random_params(np.random.default_rng(0), X, 3, covariance_type)
    full = gmm.fit(X, 3, init=params0, covariance_type=covariance_type, max_iter=6, tol=0)
    assert len(full.loglik_history) == 7
    assert full.loglik_history[0] == pytest.approx(gmm.e_step(X, params0)[1], rel=1e-12)
    for i in range(1, 7):
        sk = sklearn_fit(X, params0, covariance_type, i)
        assert full.loglik_history[i] == pytest.approx(sk.score(X) * len(X), rel=1e-8)


def test_fit_equals_sklearn_with_other_reg_covar(blobs):
    X, _ = blobs(12, 100, 3, 3, separation=1.0)
    params0 = random_params(np.random.default_rng(1), X, 3, "full")
    for reg in (0.0, 1e-3, 0.5):
        with warnings.catch_warnings():
            # a large reg_covar is no exact EM: the likelihood may fall (and here does)
            warnings.simplefilter("ignore", emref.LikelihoodDecreaseWarning)
            ours = gmm.fit(X, 3, init=params0, max_iter=5, tol=0, reg_covar=reg)
        sk = sklearn_fit(X, params0, "full", 5, reg_covar=reg)
        assert_close(ours.params.covariances, sk.covariances_)


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,n,d,k", [(0, 20, 1, 1), (1, 50, 2, 3), (2, 30, 5, 4),
                                        (3, 10, 8, 2)])
def test_log_gaussian_equals_scipy(seed, n, d, k):
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d)) * 3
    means = gen.normal(size=(k, d))
    cov = np.stack([random_spd(gen, d, gen.uniform(0.1, 10)) for _ in range(k)])
    out = gmm.log_gaussian(X, means, cov)
    assert out.shape == (n, k)
    expected = np.column_stack([multivariate_normal(means[j], cov[j]).logpdf(X).reshape(n)
                                for j in range(k)])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_log_gaussian_accepts_lists():
    out = gmm.log_gaussian([[0.0]], [[0.0]], [[[1.0]]])
    assert out == pytest.approx(-0.5 * np.log(2 * np.pi))


@pytest.mark.parametrize("d", [1, 2, 4])
def test_far_out_points_get_finite_responsibilities(d):
    gen = np.random.default_rng(d)
    cov = np.stack([random_spd(gen, d, 1.0), random_spd(gen, d, 4.0)])
    params = gmm.GMMParams([0.3, 0.7], gen.normal(size=(2, d)), cov)
    direction = gen.normal(size=d)
    direction /= np.linalg.norm(direction)
    sd = np.sqrt(direction @ cov[0] @ direction)
    X = params.means[0] + np.outer([1e3, -1e3, 5e3, 0.0], direction) * sd
    logp = gmm.log_gaussian(X, params.means, params.covariances)
    assert np.all(np.isfinite(logp)) and logp[0, 0] < -4e5
    resp, loglik = gmm.e_step(X, params)
    assert np.all(np.isfinite(resp)) and np.isfinite(loglik)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((resp >= 0) & (resp <= 1))
    # log p(x) = logsumexp over components, computed here without underflow by hand
    wlp = logp + np.log(params.weights)
    m = wlp.max(axis=1)
    assert loglik == pytest.approx(float(np.sum(m + np.log(np.exp(wlp - m[:, None]).sum(1)))),
                                   rel=1e-12)


# --------------------------------------------------------------------------------------------
# Properties of EM
# --------------------------------------------------------------------------------------------

@st.composite
def gmm_problems(draw, min_per_component=1, scales=(1e-2, 1.0, 100.0)):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    n = draw(st.integers(k * min_per_component, 60))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    sep = draw(st.sampled_from([0.0, 0.5, 2.0, 8.0]))
    scale = draw(st.sampled_from(scales))
    X, z = blob_data(seed, n, d, k, separation=sep)
    X *= scale
    return X, z, k, seed


@st.composite
def e_steps(draw):
    """A gmm_problems problem, random parameters of a drawn covariance type and the E-step
    there: (X, k, params, resp, loglik)."""
    X, _, k, seed = draw(gmm_problems())
    params = random_params(np.random.default_rng(seed), X, k, draw(st.sampled_from(TYPES)))
    resp, loglik = gmm.e_step(X, params)
    return X, k, params, resp, loglik


@PROPS
@given(e_steps())
def test_responsibilities_are_distributions(e_step):
    X, k, _, resp, loglik = e_step
    assert resp.shape == (len(X), k) and np.isfinite(loglik)
    assert np.all((resp >= 0) & (resp <= 1))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@PROPS
@given(e_steps())
def test_loglik_equals_q_plus_entropy(e_step):
    X, _, params, resp, loglik = e_step
    q = gmm.q_function(X, resp, params)
    h = gmm.responsibility_entropy(resp)
    assert h >= 0
    assert loglik == pytest.approx(q + h, rel=1e-9, abs=1e-9 * (1 + abs(q) + h))


def check_monotone(X, k, covariance_type, reg_covar, init, seed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", emref.LikelihoodDecreaseWarning)
        res = gmm.fit(X, k, init=init, covariance_type=covariance_type, reg_covar=reg_covar,
                      max_iter=25, tol=0, seed=seed)
    if reg_covar > 0:
        # a component collapsed onto a point: its covariance is about reg_covar·I, where the
        # regularised M-step is no longer an exact EM step and may lower the likelihood
        assume(np.linalg.eigvalsh(res.params.covariances).min() > 1e3 * reg_covar)
    assert not [w for w in caught if issubclass(w.category, emref.LikelihoodDecreaseWarning)]
    hist = res.loglik_history
    assert len(hist) == 26 and np.all(np.isfinite(hist))
    slack = 1e-9 * (np.abs(hist) + len(X))
    assert np.all(np.diff(hist) >= -slack[1:])


@PROPS
@given(gmm_problems(scales=(1.0, 100.0)), st.sampled_from(TYPES),
       st.sampled_from(["kmeans", "random"]))
def test_loglik_never_decreases(problem, covariance_type, init):
    """With reg_covar > 0 EM is not exact (Σ + εI does not maximise Q), so this holds only
    where reg_covar is negligible against the spacing of the points: data of unit scale."""
    X, _, k, seed = problem
    check_monotone(X, k, covariance_type, 1e-6, init, seed)


@PROPS
@given(gmm_problems(min_per_component=5), st.sampled_from(TYPES),
       st.sampled_from(["kmeans", "random"]))
def test_loglik_never_decreases_without_regularisation(problem, covariance_type, init):
    X, _, k, seed = problem
    try:
        check_monotone(X, k, covariance_type, 0.0, init, seed)
    except ValueError as exc:  # a covariance became singular: the data do not allow reg 0
        assert "reg_covar" in str(exc)
        assume(False)


def perturbations(gen, params, covariance_type, n_dir=3):
    """Small moves of θ that stay valid: weights on the simplex, covariances SPD and of the
    same structure. Each yields (name, params_plus, params_minus)."""
    w, mu, cov = params.weights, params.means, params.covariances
    k, d = mu.shape
    for _ in range(n_dir):
        if k > 1:
            v = gen.normal(size=k)
            v -= v.mean()
            eps = 0.01 * w.min() / np.abs(v).max()
            yield "weights", *(gmm.GMMParams(w + s * eps * v, mu, cov) for s in (1, -1))
        j = gen.integers(k)
        sd = np.sqrt(np.linalg.eigvalsh(cov[j]).min())
        V = np.zeros_like(mu)
        V[j] = gen.normal(size=d)
        yield "means", *(gmm.GMMParams(w, mu + s * 1e-3 * sd * V, cov) for s in (1, -1))
        A = gen.normal(size=(d, d))
        A = A + A.T
        if covariance_type == "diag":
            A = np.diag(np.diag(A))
        elif covariance_type == "spherical":
            A = np.eye(d) * gen.normal()
        B = np.zeros_like(cov)
        if covariance_type == "tied":
            B[:] = A
            lam = np.linalg.eigvalsh(cov[0]).min()
        else:
            B[j] = A
            lam = sd ** 2
        eps = 1e-3 * lam / np.abs(np.linalg.eigvalsh(A)).max()
        yield "covariances", *(gmm.GMMParams(w, mu, cov + s * eps * B) for s in (1, -1))


@PROPS
@given(gmm_problems(min_per_component=8), st.sampled_from(TYPES))
def test_m_step_maximises_q(problem, covariance_type):
    X, _, k, seed = problem
    gen = np.random.default_rng(seed)
    theta_t = random_params(gen, X, k, covariance_type)
    resp, _ = gmm.e_step(X, theta_t)
    assume(resp.sum(axis=0).min() > 1.0)  # every component holds some data
    try:
        best = gmm.m_step(X, resp, covariance_type=covariance_type, reg_covar=0.0)
    except ValueError:
        assume(False)
    q_best = gmm.q_function(X, resp, best)
    assert q_best >= gmm.q_function(X, resp, theta_t) - 1e-9 * abs(q_best)
    slack = 1e-11 * (abs(q_best) + len(X))
    for name, plus, minus in perturbations(gen, best, covariance_type):
        for moved in (plus, minus):
            assert gmm.q_function(X, resp, moved) < q_best + slack, name


def test_m_step_with_one_hot_resp_is_per_cluster_mean_and_covariance(blobs):
    X, z = blobs(13, 90, 3, 3)
    resp = np.eye(3)[z]
    p = gmm.m_step(X, resp, reg_covar=0.0)
    for j in range(3):
        pts = X[z == j]
        np.testing.assert_allclose(p.weights[j], len(pts) / len(X), rtol=1e-12)
        np.testing.assert_allclose(p.means[j], pts.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p.covariances[j], np.cov(pts.T, bias=True), rtol=1e-10,
                                   atol=1e-12)
    p_reg = gmm.m_step(X, resp, reg_covar=0.25)
    np.testing.assert_allclose(p_reg.covariances - p.covariances,
                               np.broadcast_to(0.25 * np.eye(3), (3, 3, 3)), atol=1e-12)


# --------------------------------------------------------------------------------------------
# fit: the contract
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_iter", [0, 1, 7])
def test_tol_zero_runs_exactly_max_iter(faithful_std, max_iter):
    res = gmm.fit(faithful_std, 2, max_iter=max_iter, tol=0, seed=0)
    assert res.n_iter == max_iter and not res.converged
    assert len(res.loglik_history) == max_iter + 1
    assert res.loglik == res.loglik_history[-1]


def test_fit_result_is_consistent(faithful_std):
    res = gmm.fit(faithful_std, 2, seed=0)
    assert res.converged and res.n_iter < 100
    assert len(res.loglik_history) == res.n_iter + 1
    resp, loglik = gmm.e_step(faithful_std, res.params)
    np.testing.assert_allclose(res.resp, resp, rtol=1e-12, atol=1e-15)
    assert res.loglik == pytest.approx(loglik, rel=1e-12)
    np.testing.assert_array_equal(res.labels, resp.argmax(axis=1))
    np.testing.assert_array_equal(gmm.predict(faithful_std, res.params), res.labels)
    # the two eruption types of Old Faithful: about 35% short, 65% long
    assert sorted(res.params.weights) == pytest.approx([0.356, 0.644], abs=0.01)
    # tol is per data point: the last change is below it
    assert abs(res.loglik_history[-1] - res.loglik_history[-2]) / 272 < 1e-6


def test_fit_equals_sklearn_on_old_faithful(faithful):
    X = faithful
    res = gmm.fit(X, 2, seed=0, tol=1e-8)
    sk = GaussianMixture(2, tol=1e-10, max_iter=500, random_state=0, n_init=3).fit(X)
    order = np.argsort(res.params.means[:, 0])
    sk_order = np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(res.params.means[order], sk.means_[sk_order], rtol=1e-4)
    assert res.loglik == pytest.approx(sk.score(X) * len(X), rel=1e-7)


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_seed_reproducible_and_n_init_keeps_best(blobs, init):
    X, _ = blobs(14, 150, 2, 4, separation=1.0)
    a = gmm.fit(X, 4, init=init, seed=3, max_iter=30)
    b = gmm.fit(X, 4, init=init, seed=3, max_iter=30)
    np.testing.assert_array_equal(a.params.means, b.params.means)
    best = gmm.fit(X, 4, init=init, seed=3, max_iter=30, n_init=4)  # first start = a
    assert best.loglik >= a.loglik


def test_fit_from_params_ignores_n_init(blobs):
    X, _ = blobs(15, 60, 2, 2)
    p0 = random_params(np.random.default_rng(0), X, 2)
    a = gmm.fit(X, 2, init=p0, n_init=5, max_iter=3, tol=0)
    b = gmm.fit(X, 2, init=p0, max_iter=3, tol=0)
    np.testing.assert_array_equal(a.params.covariances, b.params.covariances)


def test_params_are_read_only():
    p = gmm.GMMParams([1.0], [[0.0, 0.0]], [np.eye(2)])
    with pytest.raises(ValueError):
        p.means[0, 0] = 1.0
    with pytest.raises(AttributeError):  # a frozen dataclass
        p.weights = np.array([1.0])
    assert p.n_components == 1 and p.n_features == 2


# --------------------------------------------------------------------------------------------
# Sampling and model selection
# --------------------------------------------------------------------------------------------

def test_sample_moments_approach_parameters():
    gen = np.random.default_rng(0)
    params = gmm.GMMParams([0.2, 0.5, 0.3], [[-4.0, 0.0], [0.0, 3.0], [5.0, 5.0]],
                           np.stack([random_spd(gen, 2, s) for s in (0.5, 1.0, 2.0)]))
    n = 200_000
    X, z = gmm.sample(params, n, seed=1)
    assert X.shape == (n, 2) and z.shape == (n,)
    freq = np.bincount(z, minlength=3) / n
    np.testing.assert_allclose(freq, params.weights, atol=4 * np.sqrt(0.25 / n))
    for j in range(3):
        pts = X[z == j]
        se = np.sqrt(np.diag(params.covariances[j]) / len(pts))
        np.testing.assert_allclose(pts.mean(axis=0), params.means[j], atol=5 * se.max())
        np.testing.assert_allclose(np.cov(pts.T), params.covariances[j],
                                   atol=0.03 * np.abs(params.covariances[j]).max())
    # the mixture as a whole
    mean = params.weights @ params.means
    np.testing.assert_allclose(X.mean(axis=0), mean, atol=0.03)


def test_sample_reproducible_and_empty():
    p = gmm.GMMParams([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[2.0]]])
    np.testing.assert_array_equal(gmm.sample(p, 10, seed=4)[0], gmm.sample(p, 10, seed=4)[0])
    X, z = gmm.sample(p, 0, seed=0)
    assert X.shape == (0, 1) and z.shape == (0,)


def test_sample_accepts_weights_that_sum_to_one_within_tolerance():
    """GMMParams accepts weights summing to 1 within 1e-6; sampling must accept them too."""
    p = gmm.GMMParams([0.5, 0.5 + 1e-7], [[0.0], [1.0]], [[[1.0]], [[2.0]]])
    X, _ = gmm.sample(p, 100, seed=0)
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_bic_aic_predict_proba_equal_sklearn(blobs, covariance_type):
    X, _ = blobs(16, 120, 3, 3, separation=1.5)
    params = gmm.fit(X, 3, covariance_type=covariance_type, seed=0, max_iter=20).params
    sk = sklearn_with_params(params, covariance_type)
    assert gmm.bic(X, params, covariance_type) == pytest.approx(sk.bic(X), rel=1e-10)
    assert gmm.aic(X, params, covariance_type) == pytest.approx(sk.aic(X), rel=1e-10)
    assert gmm.n_parameters(params, covariance_type) == sk._n_parameters()
    np.testing.assert_allclose(gmm.predict_proba(X, params), sk.predict_proba(X),
                               rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(gmm.predict(X, params), sk.predict(X))
    # and on new points
    Y = np.random.default_rng(0).normal(size=(20, 3)) * 3
    np.testing.assert_allclose(gmm.predict_proba(Y, params), sk.predict_proba(Y),
                               rtol=1e-8, atol=1e-12)


def test_bic_prefers_the_true_number_of_components(blobs):
    X, _ = blobs(17, 400, 2, 3, separation=6.0)
    bics = [gmm.bic(X, gmm.fit(X, k, seed=0, n_init=2).params) for k in (1, 2, 3, 4, 5)]
    assert int(np.argmin(bics)) == 2


# --------------------------------------------------------------------------------------------
# Degenerate but valid data: finite answers, never NaN
# --------------------------------------------------------------------------------------------

def assert_finite_result(res):
    p = res.params
    for a in (p.weights, p.means, p.covariances, res.resp, res.loglik_history):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(res.resp.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("init", ["kmeans", "random"])
@pytest.mark.parametrize("k", [1, 3])
def test_all_points_equal(covariance_type, init, k):
    X = np.full((6, 2), -1.5)
    res = gmm.fit(X, k, init=init, covariance_type=covariance_type, seed=0)
    assert_finite_result(res)
    np.testing.assert_allclose(res.params.means, np.full((k, 2), -1.5))
    np.testing.assert_allclose(res.params.covariances,
                               np.broadcast_to(1e-6 * np.eye(2), (k, 2, 2)), rtol=1e-6)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_duplicate_points(covariance_type):
    X = np.array([[0.0, 1.0]] * 5 + [[3.0, -1.0]] * 5 + [[1.0, 1.0]] * 2)
    res = gmm.fit(X, 3, covariance_type=covariance_type, seed=0)
    assert_finite_result(res)


def test_component_collapsing_onto_one_point(blobs):
    X, _ = blobs(18, 60, 2, 1)
    X = np.r_[X, [[50.0, 50.0]]]  # a lone outlier gets its own component
    res = gmm.fit(X, 2, seed=0)
    assert_finite_result(res)
    j = int(np.argmax(res.params.means[:, 0]))
    np.testing.assert_allclose(res.params.means[j], [50.0, 50.0], rtol=1e-9)
    np.testing.assert_allclose(res.params.covariances[j], 1e-6 * np.eye(2), rtol=1e-9,
                               atol=1e-15)
    with pytest.raises(ValueError, match="reg_covar"):
        gmm.fit(X, 2, seed=0, reg_covar=0.0)


@pytest.mark.parametrize("offset", [0.0, 1e2, 1e4])
def test_component_collapsed_onto_a_line_stays_accurate(offset):
    """Two points far from the rest: the covariance is singular along a direction that is no
    axis; with reg_covar its small eigenvalues must be reg_covar to full accuracy (that
    direction's precision is what the E-step uses)."""
    gen = np.random.default_rng(1)
    X = np.r_[gen.normal(size=(40, 3)), [[30.0, 30.0, 30.0], [30.5, 29.5, 30.2]]] + offset
    resp = np.zeros((42, 2))
    resp[:40, 0] = resp[40:, 1] = 1.0
    p = gmm.m_step(X, resp)
    exact = np.cov(X[40:].T, bias=True) + 1e-6 * np.eye(3)
    np.testing.assert_allclose(np.linalg.eigvalsh(p.covariances[1]), np.linalg.eigvalsh(exact),
                               rtol=1e-9)
    ours = gmm.fit(X, 2, init=p, max_iter=3, tol=0)
    sk = sklearn_fit(X, p, "full", 3)
    np.testing.assert_allclose(np.linalg.inv(ours.params.covariances[1]),
                               np.linalg.inv(sk.covariances_[1]), rtol=1e-8, atol=1e-4)
    assert ours.loglik == pytest.approx(sk.score(X) * len(X), rel=1e-10)


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e5])
def test_collapsed_component_far_from_the_data_stays_accurate(offset):
    """A component on duplicates of one far point: its covariance is reg_covar·I, as in
    scikit-learn, not reg_covar·I plus the rounding of E[xxᵀ] - μμᵀ (which, far enough out,
    is not even positive definite)."""
    gen = np.random.default_rng(0)
    X = np.r_[gen.normal(size=(50, 2)), np.full((3, 2), 30.0)] + offset
    resp = np.zeros((53, 2))
    resp[:50, 0] = resp[50:, 1] = 1.0
    p = gmm.m_step(X, resp)
    np.testing.assert_allclose(p.covariances[1], 1e-6 * np.eye(2), rtol=1e-9, atol=1e-15)
    params0 = gmm.GMMParams(p.weights, p.means, p.covariances)
    ours = gmm.fit(X, 2, init=params0, max_iter=3, tol=0)
    sk = sklearn_fit(X, params0, "full", 3)
    assert_close(ours.params.covariances[1], sk.covariances_[1])


@pytest.mark.parametrize("covariance_type", TYPES)
def test_k_equals_n(covariance_type):
    X = np.random.default_rng(0).normal(size=(6, 2))
    res = gmm.fit(X, 6, covariance_type=covariance_type, seed=0)
    assert_finite_result(res)


def test_empty_component_in_m_step(blobs):
    X, z = blobs(19, 40, 2, 2)
    resp = np.zeros((40, 3))
    resp[np.arange(40), z] = 1.0  # component 2 gets nothing
    p = gmm.m_step(X, resp)
    assert np.all(np.isfinite(p.means)) and np.all(np.isfinite(p.covariances))
    assert p.weights[2] < 1e-14
    np.testing.assert_allclose(p.means[2], X.mean(axis=0))
    resp2, loglik = gmm.e_step(X, p)
    assert np.all(np.isfinite(resp2)) and np.isfinite(loglik)
    with pytest.raises(ValueError, match="reg_covar"):
        gmm.m_step(X, resp, reg_covar=0.0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_reg_covar_zero_collapse_raises(d):
    gen = np.random.default_rng(d)
    X = gen.normal(size=(30, d))
    X[0] = X.mean(axis=0) + 0.0  # the lone point of component 1, at the data mean
    X = X - X.mean(axis=0)
    resp = np.zeros((30, 2))
    resp[:, 0] = 1.0
    resp[0] = [0.0, 1.0]
    with pytest.raises(ValueError, match="reg_covar"):
        gmm.m_step(X, resp, reg_covar=0.0)
    p = gmm.m_step(X, resp)  # the default keeps it finite
    np.testing.assert_allclose(p.covariances[1], 1e-6 * np.eye(d), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_reg_covar_zero_collapse_raises_wherever_the_point_is(d, covariance_type):
    """Rounding must not decide: a one-point component is singular for every point and type."""
    gen = np.random.default_rng(d)
    for trial in range(10):
        X = gen.normal(size=(20, d)) * 3 + 1
        resp = np.zeros((20, 2))
        resp[:, 0] = 1.0
        resp[trial] = [0.0, 1.0]
        if covariance_type == "tied":  # only singular when all of the data are
            X[:] = X[0]
        with pytest.raises(ValueError, match="reg_covar"):
            gmm.m_step(X, resp, covariance_type=covariance_type, reg_covar=0.0)


def test_too_few_points_for_a_full_covariance_raises_with_reg_covar_zero():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [5.0, -1.0], [6.0, 0.0], [5.5, 1.0]])
    resp = np.zeros((6, 2))
    resp[:3, 0] = resp[3:, 1] = 1.0  # component 0: three points on a line
    with pytest.raises(ValueError, match="reg_covar"):
        gmm.m_step(X, resp, reg_covar=0.0)
    p = gmm.m_step(X, resp, covariance_type="diag", reg_covar=0.0)  # diagonal is fine
    assert np.all(np.isfinite(p.covariances))


# --------------------------------------------------------------------------------------------
# The fast M-step of fit against the readable m_step
# --------------------------------------------------------------------------------------------

def assert_params_close(a, b, rtol=1e-10):
    scale = max(np.abs(b.means).max(), 1.0)
    np.testing.assert_allclose(a.weights, b.weights, rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(a.means, b.means, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.covariances, b.covariances, rtol=rtol,
                               atol=rtol * np.abs(b.covariances).max())


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"seed{p[0]}-N{p[1]}-D{p[2]}-K{p[3]}")
def test_fast_m_step_equals_plain_m_step(problem, covariance_type):
    """fit's M-step (pairwise products, components at once) equals m_step (a loop over the
    components, as Bishop 9.24-9.27 read) to 1e-10: one iteration from θ⁰, and the
    iterates of a short run against the loop of the public steps."""
    seed, n, d, k, sep, offset = problem
    X, _ = blob_data(seed, n, d, k, separation=sep, offset=offset)
    params = random_params(np.random.default_rng(seed + 2), X, k, covariance_type)
    for _ in range(4):
        resp, _ = gmm.e_step(X, params)
        plain = gmm.m_step(X, resp, covariance_type=covariance_type)
        fast = gmm.fit(X, k, init=params, covariance_type=covariance_type, max_iter=1,
                       tol=0).params
        assert_params_close(fast, plain)
        params = plain


@pytest.mark.filterwarnings("ignore::emref.LikelihoodDecreaseWarning")  # reg_covar on a point
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_fast_m_step_equals_plain_m_step_on_degenerate_data(covariance_type, offset):
    """An empty component (it gets the data mean) and a component on duplicates of one far
    point (its covariance is reg_covar·I), far from the origin or not."""
    gen = np.random.default_rng(3)
    X = np.r_[gen.normal(size=(50, 2)), np.full((3, 2), 30.0)] + offset
    resp = np.zeros((53, 3))
    resp[:50, 0] = resp[50:, 1] = 1.0  # component 2 gets nothing
    plain = gmm.m_step(X, resp, covariance_type=covariance_type)
    np.testing.assert_allclose(plain.means[2], X.mean(axis=0), rtol=1e-12)
    params0 = gmm.GMMParams(plain.weights, plain.means, plain.covariances)
    resp0, _ = gmm.e_step(X, params0)
    fast = gmm.fit(X, 3, init=params0, covariance_type=covariance_type, max_iter=1,
                   tol=0).params
    assert_params_close(fast, gmm.m_step(X, resp0, covariance_type=covariance_type),
                        rtol=1e-9)
