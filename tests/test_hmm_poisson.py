"""emref.hmm.Poisson: an emission added as one class, checked against hmmlearn's PoissonHMM,
enumeration and the readable reference."""

import itertools
import logging

import numpy as np
import pytest
from helpers import emission_matrix, random_hmm_params
from scipy.special import logsumexp

from emref import hmm

logging.getLogger("hmmlearn").setLevel(logging.ERROR)


def random_poisson_params(K, D, rng, *, end=False):
    rates = rng.uniform(0.5, 8.0, (K, D))
    return random_hmm_params(K, rng, end=end, emission=hmm.Poisson(rates))


def counts(rng, lengths, D, scale=4.0):
    return [rng.poisson(scale * rng.uniform(0.3, 2.0, D), size=(T, D)) for T in lengths]


@pytest.fixture
def log_joint(path_log_joint):
    """ln p(X, Z | θ) of one path, by the definition (emissions from scipy's pmf)."""
    return lambda x, z, params: path_log_joint(emission_matrix(x, params), z, params)


def hmmlearn_model(p0, n_iter, implementation="log"):
    from hmmlearn.hmm import PoissonHMM
    ref = PoissonHMM(n_components=p0.n_states, n_iter=n_iter, tol=-np.inf, init_params="",
                     params="stl", startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                     lambdas_weight=0.0, implementation=implementation)
    ref.startprob_ = p0.startprob.copy()
    ref.transmat_ = p0.transmat.copy()
    ref.lambdas_ = p0.emission.rates.copy()
    return ref


@pytest.mark.parametrize("implementation", ["log", "scaling"])
@pytest.mark.parametrize("n_iter", [1, 6])
def test_equals_hmmlearn_step_for_step(n_iter, implementation):
    rng = np.random.default_rng(31)
    seqs = counts(rng, [5, 40, 17, 1, 63, 8], 3)
    p0 = random_poisson_params(3, 3, rng)
    ref = hmmlearn_model(p0, n_iter, implementation)
    X, lengths = np.concatenate(seqs), [len(s) for s in seqs]
    ref.fit(X, lengths)
    res = hmm.fit(seqs, 3, init=p0, max_iter=n_iter, tol=0.0)
    assert res.n_iter == n_iter
    np.testing.assert_allclose(res.params.startprob, ref.startprob_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.params.transmat, ref.transmat_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.params.emission.rates, ref.lambdas_, rtol=1e-8)
    # hmmlearn's history holds log p(X | θ⁰..θⁿ⁻¹)
    np.testing.assert_allclose(res.loglik_history[:-1], ref.monitor_.history, rtol=1e-10)
    assert hmm.score(seqs, res.params) == pytest.approx(ref.score(X, lengths), rel=1e-10)
    # BIC counts K - 1 + K(K - 1) + K·D free parameters, as hmmlearn does
    assert hmm.n_parameters(res.params) == 2 + 6 + 9
    assert hmm.bic(seqs, res.params) == pytest.approx(ref.bic(X, lengths), rel=1e-10)


@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("T", [1, 2, 5])
def test_brute_force(end, T, log_joint):
    rng = np.random.default_rng(7 * T + end)
    params = random_poisson_params(2, 2, rng, end=end)
    x = counts(rng, [T], 2)[0]
    paths = [np.array(z) for z in itertools.product(range(2), repeat=T)]
    logs = np.array([log_joint(x, z, params) for z in paths])
    ll = logsumexp(logs)
    post = np.exp(logs - ll)
    gamma = sum(w * np.eye(2)[z] for w, z in zip(post, paths))
    r = hmm.forward_backward(x, params)
    assert r.loglik == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(r.gamma, gamma, rtol=1e-10, atol=1e-13)
    f = hmm.forward(x, params)
    b = hmm.backward(x, params, f)
    assert f.loglik == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(f.alpha_hat * b.beta_hat, gamma, rtol=1e-10, atol=1e-13)
    states, log_prob = hmm.viterbi(x, params)
    assert log_prob == pytest.approx(logs.max(), rel=1e-12)
    assert log_joint(x, states, params) == pytest.approx(logs.max(), rel=1e-12)
    # Q(θ, θ) by enumeration equals q_function from the expected statistics
    stats, _ = hmm.e_step(x, params)
    expected = sum(w * log_joint(x, z, params) for w, z in zip(post, paths))
    assert hmm.q_function(stats, params) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("end", [False, True])
def test_batched_equals_reference(end):
    rng = np.random.default_rng(3)
    params = random_poisson_params(3, 2, rng, end=end)
    seqs = counts(rng, [1, 4, 30, 200], 2)
    stats, ll = hmm.e_step(seqs, params)
    total = 0.0
    for x, g in zip(seqs, stats.gamma):
        f = hmm.forward(x, params)
        b = hmm.backward(x, params, f)
        np.testing.assert_allclose(g, f.alpha_hat * b.beta_hat, rtol=1e-10, atol=1e-13)
        total += f.loglik
    assert ll == pytest.approx(total, rel=1e-10)


def test_zero_rate_and_unvisited_state():
    """A zero rate: the state emits only zeros there (0 · ln 0 = 0), positive counts are
    impossible in it; a state nobody visits gets rates 0 from the M-step, not NaN."""
    params = hmm.HMMParams([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]],
                           hmm.Poisson([[0.0, 2.0], [1.0, 1.0]]))
    x = np.array([[0, 3], [2, 1], [0, 0]])
    fb = hmm.forward_backward(x, params)
    assert fb.gamma[1, 0] == 0.0 and np.all(np.isfinite(fb.gamma))
    stats, _ = hmm.e_step(x, params)
    new = hmm.m_step(stats, params)
    assert np.all(np.isfinite(new.emission.rates))
    lonely = hmm.HMMParams([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]],
                           hmm.Poisson([[1.0, 1.0], [3.0, 3.0]]))
    new = hmm.m_step(hmm.e_step(x, lonely)[0], lonely)
    np.testing.assert_array_equal(new.emission.rates[1], [0.0, 0.0])
    np.testing.assert_allclose(new.emission.rates[0], x.mean(axis=0))


def test_fit_supervised_is_per_state_means():
    rng = np.random.default_rng(4)
    truth = random_poisson_params(2, 3, rng)
    tagged = [hmm.sample(truth, 300, seed=s) for s in range(4)]
    xs, zs = [x for x, _ in tagged], [z for _, z in tagged]
    est = hmm.fit_supervised(xs, zs, 2, emission="poisson")
    X, Z = np.concatenate(xs), np.concatenate(zs)
    for k in range(2):
        np.testing.assert_allclose(est.emission.rates[k], X[Z == k].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(est.emission.rates, truth.emission.rates, rtol=0.25)


def test_sample_and_random_fit():
    rng = np.random.default_rng(5)
    truth = random_poisson_params(2, 2, rng)
    x, z = hmm.sample(truth, 2000, seed=1)
    assert x.shape == (2000, 2) and x.dtype.kind == "i" and np.all(x >= 0)
    for k in range(2):
        np.testing.assert_allclose(x[z == k].mean(axis=0), truth.emission.rates[k], rtol=0.15)
    res = hmm.fit(x, 2, emission="poisson", seed=0, max_iter=200)
    assert np.all(np.diff(res.loglik_history) >= -1e-9 * np.abs(res.loglik_history[1:]))
    assert isinstance(res.params.emission, hmm.Poisson)
    assert res.loglik >= hmm.score(x, truth) - 5.0


def test_registry_finds_it():
    assert hmm.EMISSIONS["poisson"] is hmm.Poisson


@pytest.mark.parametrize("call, exc, words", [
    (lambda: hmm.Poisson([[1.0, -0.5]]), ValueError, ["rates", "non-negative"]),
    (lambda: hmm.Poisson([1.0, 2.0]), ValueError, ["rates", "2-D"]),
    (lambda: hmm.Poisson([[np.nan, 1.0]]), ValueError, ["rates", "finite"]),
    (lambda: hmm.fit([np.array([[1, -2]])], 2, emission="poisson"), ValueError,
     ["sequences", "non-negative", "-2"]),
    (lambda: hmm.fit([np.array([[1, 2.5]])], 2, emission="poisson"), ValueError,
     ["sequences", "integer", "2.5"]),
    (lambda: hmm.forward(np.array([[1, 2, 3]]), hmm.HMMParams(
        [1.0], [[1.0]], hmm.Poisson([[1.0, 1.0]]))), ValueError, ["obs", "D = 2", "(1, 3)"]),
    (lambda: hmm.fit([np.array([[1, 2]])], 1, emission="binomial"), ValueError,
     ["emission", "binomial", "'poisson'"]),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)
