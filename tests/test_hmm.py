"""Tests of emref.hmm: brute force, hmmlearn step for step, properties, bad input."""

import itertools
import logging
import warnings

import numpy as np
import pytest
from helpers import emission_matrix, random_hmm_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

# private on purpose: its blocks are forced short, so that the batched path is checked across
# block seams against brute force and the readable reference
import emref._hmm_batched as batched
from emref import datasets, hmm
from emref.em import LikelihoodDecreaseWarning

logging.getLogger("hmmlearn").setLevel(logging.ERROR)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def brute_force(x, params):
    """Enumerate all K^T paths: loglik, gamma, xi_sum, best path and its log-probability."""
    K = params.n_states
    T = len(x)
    b = emission_matrix(x, params)
    total, gamma, xi = 0.0, np.zeros((T, K)), np.zeros((K, K))
    best_p, best_z = -1.0, None
    for z in itertools.product(range(K), repeat=T):
        p = params.startprob[z[0]] * b[0, z[0]]
        for t in range(1, T):
            p *= params.transmat[z[t - 1], z[t]] * b[t, z[t]]
        if params.endprob is not None:
            p *= params.endprob[z[-1]]
        total += p
        for t in range(T):
            gamma[t, z[t]] += p
        for t in range(1, T):
            xi[z[t - 1], z[t]] += p
        if p > best_p:
            best_p, best_z = p, np.array(z)
    return np.log(total), gamma / total, xi / total, best_z, np.log(best_p)


def log_forward_backward(x, params):
    """Plain log-space forward and backward recursions (reference, independent of emref)."""
    with np.errstate(divide="ignore"):
        lb = np.log(emission_matrix(x, params))
        lA = np.log(params.transmat)
        lpi = np.log(params.startprob)
        le = np.zeros(params.n_states) if params.endprob is None else np.log(params.endprob)
    T, K = lb.shape
    la = np.empty((T, K))
    lbeta = np.empty((T, K))
    la[0] = lpi + lb[0]
    for t in range(1, T):
        la[t] = logsumexp(la[t - 1][:, None] + lA, axis=0) + lb[t]
    lbeta[T - 1] = le
    for t in range(T - 2, -1, -1):
        lbeta[t] = logsumexp(lA + (lb[t + 1] + lbeta[t + 1])[None, :], axis=1)
    ll_forward = logsumexp(la[-1] + le)
    ll_backward = logsumexp(lpi + lb[0] + lbeta[0])
    gamma = np.exp(la + lbeta - ll_forward)
    return ll_forward, ll_backward, gamma


@pytest.fixture
def small_blocks(monkeypatch):
    """Force blocks of 7 steps so that short sequences exercise the block boundaries."""
    monkeypatch.setattr(batched, "block_length", lambda lengths: 7)


# --------------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
@pytest.mark.parametrize("T", [1, 2, 5])
def test_brute_force(end, kind, T, log_joint):
    rng = np.random.default_rng(100 * T + 10 * end + (kind == "gaussian"))
    K = 3 if T < 5 else 2
    params = random_hmm_params(K, rng, end=end, D=2 if kind == "gaussian" else None)
    x = rng.integers(0, 4, T) if kind == "categorical" else rng.normal(0, 2, (T, 2))
    ll, gamma, xi, _, path_lp = brute_force(x, params)
    r = hmm.forward_backward(x, params)
    assert r.loglik == pytest.approx(ll, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(r.gamma, gamma, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(r.xi_sum, xi, rtol=1e-10, atol=1e-13)
    states, log_prob = hmm.viterbi(x, params)
    assert log_prob == pytest.approx(path_lp, rel=1e-12, abs=1e-12)
    # the path is a maximiser (several paths can tie exactly)
    assert log_joint(x, states, params) == pytest.approx(path_lp, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(hmm.posterior_decode(x, params), gamma.argmax(axis=1))


@pytest.mark.parametrize("end", [False, True])
def test_brute_force_across_block_boundaries(end, small_blocks, log_joint):
    rng = np.random.default_rng(7 + end)
    params = random_hmm_params(2, rng, end=end, M=3)
    x = rng.integers(0, 3, 16)  # blocks of 7, 7, 2
    ll, gamma, xi, _, path_lp = brute_force(x, params)
    r = hmm.forward_backward(x, params)
    assert r.loglik == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(r.gamma, gamma, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(r.xi_sum, xi, rtol=1e-9, atol=1e-13)
    states, log_prob = hmm.viterbi(x, params)
    assert log_prob == pytest.approx(path_lp, rel=1e-12)
    assert log_joint(x, states, params) == pytest.approx(path_lp, rel=1e-12)


@pytest.fixture
def log_joint(path_log_joint):
    """ln p(X, Z | θ) of one path, by the definition (emissions from emission_matrix)."""
    return lambda x, z, params: path_log_joint(emission_matrix(x, params), z, params)


@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_q_function_is_the_expected_complete_log_likelihood(end, kind, log_joint):
    rng = np.random.default_rng(31 + end)
    D = 2 if kind == "gaussian" else None
    old = random_hmm_params(2, rng, end=end, D=D)
    new = random_hmm_params(2, rng, end=end, D=D)
    seqs = ([rng.integers(0, 4, n) for n in (4, 3)] if D is None
            else [rng.normal(0, 2, (n, 2)) for n in (4, 3)])
    stats, _ = hmm.e_step(seqs, old)
    expected = 0.0
    for x in seqs:
        paths = [np.array(z) for z in itertools.product(range(2), repeat=len(x))]
        logs_old = np.array([log_joint(x, z, old) for z in paths])
        post = np.exp(logs_old - logsumexp(logs_old))
        expected += sum(w * log_joint(x, z, new) for w, z in zip(post, paths))
    assert hmm.q_function(stats, new) == pytest.approx(expected, rel=1e-10)
    # the M-step maximises it: no other θ (here: θᵗ and a random one) does better
    # reg_covar is the Gaussian emission's option (a categorical one takes none such)
    best = hmm.m_step(stats, old, **({"reg_covar": 0.0} if kind == "gaussian" else {}))
    assert hmm.q_function(stats, best) >= max(hmm.q_function(stats, old),
                                             hmm.q_function(stats, new))


# --------------------------------------------------------------------------------------------
# forward = backward, blocks = no blocks, batch = one by one
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_forward_and_backward_give_the_same_loglik(end, kind):
    rng = np.random.default_rng(3 + end)
    D = 3 if kind == "gaussian" else None
    params = random_hmm_params(4, rng, end=end, D=D)
    x = rng.integers(0, 4, 400) if D is None else rng.normal(0, 2, (400, D))
    ll_f, ll_b, gamma = log_forward_backward(x, params)
    assert ll_f == pytest.approx(ll_b, rel=1e-12)
    r = hmm.forward_backward(x, params)
    assert r.loglik == pytest.approx(ll_f, rel=1e-12)
    np.testing.assert_allclose(r.gamma, gamma, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.gamma.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("end", [False, True])
def test_blocked_long_sequence_equals_single_block(end, monkeypatch):
    rng = np.random.default_rng(11)
    params = random_hmm_params(3, rng, end=end, M=5)
    x = rng.integers(0, 5, 2000)
    one = hmm.forward_backward(x, params)
    path_one = hmm.viterbi(x, params)
    monkeypatch.setattr(batched, "block_length", lambda lengths: 37)
    many = hmm.forward_backward(x, params)
    path_many = hmm.viterbi(x, params)
    assert many.loglik == pytest.approx(one.loglik, rel=1e-12)
    np.testing.assert_allclose(many.gamma, one.gamma, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(many.xi_sum, one.xi_sum, rtol=1e-9)
    np.testing.assert_array_equal(path_many[0], path_one[0])
    assert path_many[1] == pytest.approx(path_one[1], rel=1e-12)


@pytest.mark.parametrize("end", [False, True])
def test_batch_equals_one_by_one(end, small_blocks):
    rng = np.random.default_rng(5)
    params = random_hmm_params(3, rng, end=end, M=4)
    seqs = [rng.integers(0, 4, n) for n in (1, 30, 7, 8, 15, 2)]
    stats, ll = hmm.e_step(seqs, params)
    singles = [hmm.forward_backward(s, params) for s in seqs]
    assert ll == pytest.approx(sum(r.loglik for r in singles), rel=1e-12)
    np.testing.assert_allclose(stats.trans, sum(r.xi_sum for r in singles), rtol=1e-10)
    for g, r in zip(stats.gamma, singles):
        np.testing.assert_allclose(g, r.gamma, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(stats.start, sum(r.gamma[0] for r in singles), rtol=1e-10)
    np.testing.assert_allclose(stats.end, sum(r.gamma[-1] for r in singles), rtol=1e-10)
    assert hmm.score(seqs, params) == pytest.approx(ll, rel=1e-12)


def test_million_steps_finite_and_equal_to_log_space_reference():
    from hmmlearn.hmm import CategoricalHMM
    rng = np.random.default_rng(2)
    params = random_hmm_params(2, rng, M=3)
    x = rng.integers(0, 3, 1_000_000)
    ll = hmm.score(x, params)
    assert np.isfinite(ll)
    ref = CategoricalHMM(n_components=2, n_features=3, implementation="log", init_params="")
    ref.startprob_ = params.startprob
    ref.transmat_ = params.transmat
    ref.emissionprob_ = params.emission.probs
    assert ll == pytest.approx(ref.score(x.reshape(-1, 1)), rel=1e-10)


# --------------------------------------------------------------------------------------------
# hmmlearn step for step
# --------------------------------------------------------------------------------------------

def _lengths_data(rng, kind):
    lengths = [5, 40, 17, 1, 63, 8]
    if kind == "categorical":
        return [rng.integers(0, 5, n) for n in lengths]
    return [rng.normal(0, 1.5, (n, 2)) + rng.normal(0, 2, 2) for n in lengths]


@pytest.mark.parametrize("n_iter", [1, 6])
def test_categorical_equals_hmmlearn_step_for_step(n_iter, small_blocks, hmmlearn_categorical,
                                                   assert_equals_hmmlearn):
    rng = np.random.default_rng(21)
    seqs = _lengths_data(rng, "categorical")
    p0 = random_hmm_params(3, rng, M=5)
    ref = hmmlearn_categorical(seqs, p0, n_iter)
    res = hmm.fit(seqs, 3, init=p0, max_iter=n_iter, tol=0.0)
    assert res.n_iter == n_iter
    # hmmlearn's history holds log p(X | θ⁰..θⁿ⁻¹)
    assert_equals_hmmlearn(res, ref)


def _gaussian_ref(p0, n_iter, min_covar=1e-3, implementation="log"):
    from hmmlearn.hmm import GaussianHMM
    ref = GaussianHMM(n_components=p0.n_states, covariance_type="full", n_iter=n_iter,
                      tol=-np.inf, init_params="", params="stmc", min_covar=min_covar,
                      startprob_prior=1.0, transmat_prior=1.0, means_prior=0.0,
                      means_weight=0.0, covars_prior=0.0, covars_weight=0.0,
                      implementation=implementation)
    ref.startprob_ = p0.startprob.copy()
    ref.transmat_ = p0.transmat.copy()
    ref.means_ = p0.emission.means.copy()
    ref.covars_ = p0.emission.covariances.copy()
    return ref


@pytest.mark.parametrize("implementation", ["log", "scaling"])
def test_gaussian_equals_hmmlearn_step_for_step(implementation, small_blocks):
    rng = np.random.default_rng(22)
    seqs = _lengths_data(rng, "gaussian")
    p0 = random_hmm_params(3, rng, D=2)
    ref = _gaussian_ref(p0, 5, implementation=implementation)
    ref.fit(np.concatenate(seqs), [len(s) for s in seqs])
    res = hmm.fit(seqs, 3, init=p0, max_iter=5, tol=0.0, reg_covar=0.0)
    np.testing.assert_allclose(res.params.startprob, ref.startprob_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.params.transmat, ref.transmat_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.params.emission.means, ref.means_, rtol=1e-8)
    np.testing.assert_allclose(res.params.emission.covariances, ref.covars_, rtol=1e-8)
    np.testing.assert_allclose(res.loglik_history[:-1], ref.monitor_.history, rtol=1e-10)


def test_hmmlearn_min_covar_is_not_reg_covar():
    """hmmlearn's min_covar only enters its own initialisation (init_params containing "c"):
    with init_params="" it changes nothing, while emref's reg_covar is added to every
    covariance in every M-step."""
    rng = np.random.default_rng(23)
    seqs = _lengths_data(rng, "gaussian")
    X, lengths = np.concatenate(seqs), [len(s) for s in seqs]
    p0 = random_hmm_params(2, rng, D=2)
    a = _gaussian_ref(p0, 1, min_covar=1e-3).fit(X, lengths)
    b = _gaussian_ref(p0, 1, min_covar=10.0).fit(X, lengths)
    np.testing.assert_array_equal(a.covars_, b.covars_)
    reg = 0.25
    ours = hmm.fit(seqs, 2, init=p0, max_iter=1, tol=0.0, reg_covar=reg).params.emission
    np.testing.assert_allclose(ours.means, a.means_, rtol=1e-8)
    np.testing.assert_allclose(ours.covariances, a.covars_ + reg * np.eye(2), rtol=1e-8)


# --------------------------------------------------------------------------------------------
# EM properties
# --------------------------------------------------------------------------------------------

@st.composite
def hmm_problems(draw):
    K = draw(st.integers(1, 4))
    M = draw(st.integers(1, 5))
    end = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    lengths = draw(st.lists(st.integers(1, 30), min_size=1, max_size=5))
    rng = np.random.default_rng(seed)
    params = random_hmm_params(K, rng, M=M, end=end)
    seqs = [rng.integers(0, M, n) for n in lengths]
    return params, seqs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hmm_problems())
def test_history_never_decreases_and_gamma_rows_sum_to_one(problem):
    params, seqs = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", LikelihoodDecreaseWarning)
        res = hmm.fit(seqs, params.n_states, init=params, max_iter=8, tol=0.0)
    hist = res.loglik_history
    assert len(hist) == res.n_iter + 1 == 9
    assert np.all(np.isfinite(hist))
    assert np.all(np.diff(hist) >= -1e-9 * (np.abs(hist[:-1]) + 1))
    for g in res.stats.gamma:
        np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-12)
        assert np.all(np.isfinite(g))
    assert (res.params.endprob is None) == (params.endprob is None)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_gaussian_history_never_decreases(K, seed):
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(0, 1, (n, 2)) for n in rng.integers(2, 40, 3)]
    res = hmm.fit(seqs, K, emission="gaussian", max_iter=10, tol=0.0, seed=seed)
    hist = res.loglik_history
    assert np.all(np.isfinite(hist))
    assert np.all(np.diff(hist) >= -1e-9 * (np.abs(hist[:-1]) + 1))


def test_loglik_history_and_tolerance():
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 3, n) for n in (50, 20)]
    res = hmm.fit(seqs, 2, max_iter=200, tol=1e-4, seed=1)
    assert res.converged and res.n_iter < 200
    assert len(res.loglik_history) == res.n_iter + 1
    assert res.loglik == pytest.approx(res.loglik_history[-1])
    assert res.loglik == pytest.approx(hmm.score(seqs, res.params), rel=1e-12)
    again = hmm.fit(seqs, 2, max_iter=200, tol=1e-4, seed=1)
    np.testing.assert_array_equal(again.loglik_history, res.loglik_history)
    exact = hmm.fit(seqs, 2, max_iter=3, tol=0.0, seed=1)
    assert exact.n_iter == 3 and not exact.converged


def test_endprob_is_reestimated():
    p = datasets.ice_cream_params()
    params = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                           p["endprob"])
    x = datasets.ice_cream()
    res = hmm.fit(x, 2, init=params, max_iter=1, tol=0.0)
    r = hmm.forward_backward(x, params)
    occupancy = r.gamma.sum(axis=0)
    np.testing.assert_allclose(res.params.endprob, r.gamma[-1] / occupancy, rtol=1e-12)
    np.testing.assert_allclose(res.params.transmat, r.xi_sum / occupancy[:, None], rtol=1e-12)
    np.testing.assert_allclose(res.params.transmat.sum(axis=1) + res.params.endprob, 1.0)


def test_ice_cream_matches_eisner_spreadsheet():
    """Eisner's spreadsheet: p(Hot | day) sharpens, the likelihood rises over iterations."""
    p = datasets.ice_cream_params()
    params = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                           p["endprob"])
    x = datasets.ice_cream()
    ll, _, gamma = log_forward_backward(x, params)
    r = hmm.forward_backward(x, params)
    assert r.loglik == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(r.gamma, gamma, rtol=1e-10)
    res = hmm.fit(x, 2, init=params, max_iter=10, tol=0.0)
    assert np.all(np.diff(res.loglik_history) > 0)
    hot_after = res.stats.gamma[0][:, 1]
    # sharper: posteriors move towards 0 or 1
    assert np.mean(np.abs(hot_after - 0.5)) > np.mean(np.abs(r.gamma[:, 1] - 0.5)) + 0.02


def test_symbol_some_state_never_emits_is_fine():
    rng = np.random.default_rng(8)
    params = random_hmm_params(3, rng, M=4, zeros=True)
    x = np.array([0, 1, 0, 0, 2, 3, 0])
    r = hmm.forward_backward(x, params)
    assert np.isfinite(r.loglik) and np.all(np.isfinite(r.gamma))
    assert np.all(r.gamma[x == 0, 0] == 0.0)
    states, lp = hmm.viterbi(x, params)
    assert np.isfinite(lp) and not np.any(states[x == 0] == 0)
    res = hmm.fit([x, rng.integers(0, 4, 30)], 3, init=params, max_iter=5, tol=0.0)
    assert np.all(np.isfinite(res.loglik_history))
    assert res.params.emission.probs[0, 0] == 0.0


def test_impossible_sequence():
    params = hmm.HMMParams([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]],
                           hmm.Categorical([[1.0, 0.0], [0.0, 1.0]]))
    assert hmm.score(np.array([0, 1]), params) == -np.inf
    with pytest.raises(ValueError, match="obs has probability zero"):
        hmm.forward_backward([0, 1], params)
    assert hmm.viterbi([0, 1], params)[1] == -np.inf


# --------------------------------------------------------------------------------------------
# supervised counting, semi-supervised EM
# --------------------------------------------------------------------------------------------

def test_fit_supervised_equals_hand_counts():
    seqs = [[0, 1, 1, 2], [2, 2], [0]]
    tags = [[0, 0, 1, 1], [1, 0], [0]]
    p = hmm.fit_supervised(seqs, tags, 2, n_symbols=4)
    # starts: 0, 1, 0; transitions 0->0, 0->1, 1->1, 1->0; emissions by hand
    np.testing.assert_allclose(p.startprob, [2 / 3, 1 / 3])
    np.testing.assert_allclose(p.transmat, [[1 / 2, 1 / 2], [1 / 2, 1 / 2]])
    np.testing.assert_allclose(p.emission.probs, [[2 / 4, 1 / 4, 1 / 4, 0], [0, 1 / 3, 2 / 3, 0]])
    assert p.endprob is None
    q = hmm.fit_supervised(seqs, tags, 2, n_symbols=4, pseudocount=0.5, with_endprob=True)
    np.testing.assert_allclose(q.startprob, [2.5 / 4, 1.5 / 4])
    # from 0: ->0 once, ->1 once, ends twice (sequences 2 and 3 end in 0): 1.5 + 1.5 + 2.5
    np.testing.assert_allclose(q.transmat[0], [1.5 / 5.5, 1.5 / 5.5])
    # from 1: ->1 once, ->0 once, ends once (sequence 1): 1.5 + 1.5 + 1.5
    np.testing.assert_allclose(q.transmat[1], [1.5 / 4.5, 1.5 / 4.5])
    np.testing.assert_allclose(q.endprob, [2.5 / 5.5, 1.5 / 4.5])
    np.testing.assert_allclose(q.emission.probs[1], np.array([0.5, 1.5, 2.5, 0.5]) / 5)


def test_fit_supervised_gaussian_and_unseen_state():
    rng = np.random.default_rng(9)
    x = rng.normal(0, 1, (50, 2))
    z = (x[:, 0] > 0).astype(int)
    p = hmm.fit_supervised(x, z, 2, reg_covar=0.0)
    np.testing.assert_allclose(p.emission.means[1], x[z == 1].mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(p.emission.covariances[0], np.cov(x[z == 0].T, bias=True),
                               rtol=1e-10)
    # a state never seen: uniform transition row, the data mean and reg_covar·I
    q = hmm.fit_supervised(x, z, 3, reg_covar=1e-3)
    np.testing.assert_allclose(q.transmat[2], 1 / 3)
    np.testing.assert_allclose(q.emission.means[2], x.mean(axis=0), rtol=1e-8)
    np.testing.assert_allclose(q.emission.covariances[2], 1e-3 * np.eye(2), rtol=1e-6)
    with pytest.raises(ValueError, match=r"covariances\[2\] must be positive definite"):
        hmm.fit_supervised(x, z, 3, reg_covar=0.0)


def test_pos_like_simulator():
    p = datasets.pos_like_params()
    params = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                           p["endprob"])
    assert params.n_states == len(p["states"]) == 6
    assert params.emission.n_symbols == len(p["words"])
    sents, tags = datasets.pos_like(50, seed=1, max_length=12)
    assert len(sents) == len(tags) == 50
    for x, z in zip(sents, tags):
        assert 1 <= len(x) == len(z) <= 12
        assert np.isfinite(hmm.score(x, params))   # every sentence ends through STOP
    again, _ = datasets.pos_like(50, seed=1, max_length=12)
    assert all(np.array_equal(a, b) for a, b in zip(sents, again))
    shared = [w for w in p["words"] if np.count_nonzero(p["emission"][:, p["words"].index(w)]) > 1]
    assert {"light", "run", "watch", "that"} <= set(shared)


def test_tagged_then_untagged_improves_held_out_pos_like():
    sents, tags = datasets.pos_like(400, seed=0)
    p = datasets.pos_like_params()
    K, M = len(p["states"]), len(p["words"])
    start = hmm.fit_supervised(sents[:10], tags[:10], K, n_symbols=M, pseudocount=0.1,
                               with_endprob=True)
    held_out = sents[250:]
    res = hmm.fit(sents[10:250], K, init=start, max_iter=30, tol=1e-6)
    assert hmm.score(held_out, res.params) > hmm.score(held_out, start) + 100
    acc = lambda params: np.mean(np.concatenate(
        [hmm.viterbi(x, params)[0] == z for x, z in zip(held_out, tags[250:])]))
    assert acc(res.params) > acc(start)


def test_tagged_then_untagged_improves_held_out_ice_cream():
    p = datasets.ice_cream_params()
    truth = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                          p["endprob"])
    draws = [hmm.sample(truth, None, seed) for seed in range(60)]
    tagged = draws[:3]
    start = hmm.fit_supervised([d[0] for d in tagged], [d[1] for d in tagged], 2,
                               n_symbols=3, pseudocount=1.0, with_endprob=True)
    untagged = [datasets.ice_cream()] + [d[0] for d in draws[3:40]]
    held_out = [d[0] for d in draws[40:]]
    res = hmm.fit(untagged, 2, init=start, max_iter=50)
    assert hmm.score(held_out, res.params) > hmm.score(held_out, start)


# --------------------------------------------------------------------------------------------
# dishonest casino, sampling
# --------------------------------------------------------------------------------------------

def test_dishonest_casino_viterbi_finds_loaded_stretches():
    c = datasets.dishonest_casino()
    params = hmm.HMMParams(c["startprob"], c["transmat"], hmm.Categorical(c["emission"]))
    rolls, dice = hmm.sample(params, 10_000, seed=3)
    states, _ = hmm.viterbi(rolls, params)
    loaded = dice == 1
    accuracy = np.mean(states == dice)
    chance = max(loaded.mean(), 1 - loaded.mean())  # always guessing the commoner die
    assert accuracy > chance + 0.1
    precision = np.mean(loaded[states == 1])
    assert precision > 0.75 > loaded.mean() + 0.4


def test_sample_shapes_and_frequencies():
    rng = np.random.default_rng(6)
    params = random_hmm_params(2, rng, D=3)
    x, z = hmm.sample(params, 500, seed=1)
    assert x.shape == (500, 3) and z.shape == (500,)
    c = datasets.dishonest_casino()
    casino = hmm.HMMParams(c["startprob"], c["transmat"], hmm.Categorical(c["emission"]))
    rolls, dice = hmm.sample(casino, 50_000, seed=2)
    assert np.mean(rolls[dice == 1] == 5) == pytest.approx(0.5, abs=0.02)
    assert np.mean(dice[1:][dice[:-1] == 0] == 1) == pytest.approx(0.05, abs=0.01)
    p = datasets.ice_cream_params()
    eisner = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                           p["endprob"])
    lengths = [len(hmm.sample(eisner, None, s)[0]) for s in range(300)]
    assert np.mean(lengths) == pytest.approx(10, rel=0.2)  # geometric, stop .1 per day
    assert len(hmm.sample(eisner, 3, 0)[0]) <= 3


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

CAT = hmm.Categorical([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
GAU = hmm.Gaussian(np.zeros((2, 2)), np.stack([np.eye(2)] * 2))
GOOD = hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], CAT)
GOOD_G = hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], GAU)


@pytest.mark.parametrize("build, exc, words", [
    (lambda: hmm.HMMParams([0.5, 0.5], [[0.9, 0.2], [0.2, 0.8]], CAT), ValueError,
     ["transmat", "row 0", "1.1"]),
    (lambda: hmm.HMMParams([0.5, 0.5], [[0.8, 0.1], [0.1, 0.8]], CAT, endprob=[0.1, 0.2]),
     ValueError, ["transmat", "endprob", "row 1"]),
    (lambda: hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], CAT, endprob=[0.1, 0.1]),
     ValueError, ["transmat", "endprob"]),
    (lambda: hmm.HMMParams([1.5, -0.5], [[0.9, 0.1], [0.2, 0.8]], CAT), ValueError,
     ["startprob", "non-negative"]),
    (lambda: hmm.HMMParams([0.5, 0.5], [[1.1, -0.1], [0.2, 0.8]], CAT), ValueError,
     ["transmat", "non-negative"]),
    (lambda: hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], CAT, endprob=[-0.1, 0.0]),
     ValueError, ["endprob"]),
    (lambda: hmm.Categorical([[0.5, 0.6], [0.5, 0.5]]), ValueError, ["probs", "row 0"]),
    (lambda: hmm.Categorical([[1.5, -0.5], [0.5, 0.5]]), ValueError, ["probs", "negative"]),
    (lambda: hmm.HMMParams([1.0], [[1.0]], CAT), ValueError, ["startprob", "(2,)"]),
    (lambda: hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5]]), TypeError,
     ["emission", "list"]),
    (lambda: hmm.Gaussian(np.zeros((2, 2)), np.stack([np.eye(2), -np.eye(2)])), ValueError,
     ["covariances[1]", "positive definite"]),
])
def test_bad_parameters(build, exc, words):
    with pytest.raises(exc) as info:
        build()
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: hmm.forward_backward([0, 3, 1], GOOD), ValueError, ["obs", "0..2", "found 3"]),
    (lambda: hmm.forward_backward([0, -1], GOOD), ValueError, ["obs", "found -1"]),
    (lambda: hmm.forward_backward([0, 1.5], GOOD), ValueError, ["obs", "integer", "1.5"]),
    (lambda: hmm.forward_backward(["a", "b"], GOOD), TypeError, ["obs", "integer"]),
    (lambda: hmm.forward_backward([], GOOD), ValueError, ["obs", "empty"]),
    (lambda: hmm.forward_backward(np.array([], dtype=int), GOOD), ValueError, ["obs", "empty"]),
    (lambda: hmm.e_step([[0, 1], []], GOOD), ValueError, ["sequences[1]", "empty"]),
    (lambda: hmm.e_step([], GOOD), ValueError, ["sequences", "empty"]),
    (lambda: hmm.e_step([[0, 1], [0, 7]], GOOD), ValueError, ["sequences[1]", "found 7"]),
    (lambda: hmm.viterbi([0, 9], GOOD), ValueError, ["obs", "found 9"]),
    (lambda: hmm.forward_backward(np.zeros((5, 3)), GOOD_G), ValueError,
     ["obs", "D = 2", "(5, 3)"]),
    (lambda: hmm.forward_backward(np.zeros(5), GOOD_G), ValueError, ["obs", "(T, D)"]),
    (lambda: hmm.forward_backward(np.zeros((0, 2)), GOOD_G), ValueError, ["obs", "empty"]),
    (lambda: hmm.e_step([np.zeros((4, 2)), np.zeros((3, 1))], GOOD_G), ValueError,
     ["sequences[1]", "D = 2"]),
    (lambda: hmm.e_step([np.zeros((4, 2)), np.array([[0.0, np.nan]])], GOOD_G), ValueError,
     ["sequences[1]", "NaN"]),
    (lambda: hmm.e_step([[0, 1], [True, False]], GOOD), TypeError, ["sequences[1]", "boolean"]),
    (lambda: hmm.fit([np.zeros((4, 2)), np.zeros((3, 3))], 2, emission="gaussian"), ValueError,
     ["sequences[1]", "D = 2"]),
    (lambda: hmm.forward_backward([0, 1], "params"), TypeError, ["params", "HMMParams"]),
    (lambda: hmm.fit([[0, 1]], 0), ValueError, ["n_states", "at least 1", "found 0"]),
    (lambda: hmm.fit([[0, 1]], 1.5), TypeError, ["n_states", "integer"]),
    (lambda: hmm.fit([[0, 1]], 2, emission="binomial"), ValueError, ["emission", "binomial"]),
    (lambda: hmm.fit([[0, 1]], 2, init="kmeans"), ValueError, ["init", "kmeans"]),
    (lambda: hmm.fit([[0, 1]], 3, init=GOOD), ValueError, ["init", "n_states = 3"]),
    (lambda: hmm.fit([[0, -1]], 2), ValueError, ["sequences[0]", "found -1"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, 1, 1]], 2), ValueError,
     ["state_sequences[0]", "same length", "sequences[0]"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, 2]], 2), ValueError,
     ["state_sequences[0]", "0..1", "found 2"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, -1]], 2), ValueError,
     ["state_sequences[0]", "found -1"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, 0]], 0), ValueError, ["n_states"]),
    (lambda: hmm.fit_supervised([[0, 1], [1]], [[0, 0]], 2), ValueError,
     ["sequences", "2 sequences and 1 state"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, 0]], 2, pseudocount=-1), ValueError,
     ["pseudocount"]),
    (lambda: hmm.fit_supervised([[0, 1]], [[0, 0]], 2, n_symbols=1), ValueError,
     ["sequences[0]", "found 1"]),
    (lambda: hmm.sample(GOOD, None), ValueError, ["T"]),
    (lambda: hmm.sample(GOOD, 0), ValueError, ["T", "at least 1"]),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), str(info.value)
