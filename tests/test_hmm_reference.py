"""emref.hmm's readable reference (forward, backward, viterbi) and the batched path.

The reference is checked against the definitions of its messages by enumerating every path;
the batched path (what forward_backward, e_step, score and fit use) is checked against the
reference to 1e-10 on random problems: with and without a STOP state, several sequences of
different lengths, T = 1, blocks cut short, and degenerate models.
"""

import dataclasses
import itertools

import numpy as np
import pytest
from helpers import emission_matrix, random_hmm_params
from scipy.special import logsumexp

# private on purpose: its blocks are forced short, so that the batched path is checked across
# block seams against brute force and the readable reference
import emref._hmm_batched as batched
from emref import hmm


def degenerate_params(K, rng, *, end):
    """A model with zeros: a symbol state 0 never emits, a transition never taken, and (with
    a STOP state) a state that never stops."""
    params = random_hmm_params(K, rng, M=4, end=end, zeros=True)
    A = np.array(params.transmat)
    e = None if params.endprob is None else np.array(params.endprob)
    if K > 1:
        total = A[0].sum()
        A[0, 1] = 0.0
        A[0] *= total / A[0].sum()
        if end:
            moved = e[1]
            e[1] = 0.0
            A[1] += moved / K
    return hmm.HMMParams(params.startprob, A, params.emission, e)


def observations(kind, rng, T, D=2):
    if kind == "categorical":
        return rng.integers(0, 4, T)
    return rng.normal(0, 2, (T, D))


def problems():
    """(params, sequences) on random and degenerate models."""
    out = []
    rng = np.random.default_rng(2024)
    for kind, end, K in itertools.product(["categorical", "gaussian"], [False, True], [1, 2, 4]):
        D = 2 if kind == "gaussian" else None
        params = random_hmm_params(K, rng, D=D, end=end)
        seqs = [observations(kind, rng, T) for T in (1, 2, 9, 30, 131)]
        out.append(pytest.param(params, seqs, id=f"{kind}-K{K}-{'stop' if end else 'nostop'}"))
    for end, K in itertools.product([False, True], [2, 3]):
        params = degenerate_params(K, rng, end=end)
        # sequences the model can produce (sampled), so that none is impossible
        seqs = [hmm.sample(params, T, seed=int(rng.integers(1 << 30)))[0]
                for T in (1, 3, 17, 60)]
        out.append(pytest.param(params, seqs, id=f"degenerate-K{K}-{'stop' if end else 'no'}"))
    return out


def reference_posteriors(x, params):
    """γ (13.64), Σ ξ (13.65) and ln p(X) from hmm.forward and hmm.backward."""
    f = hmm.forward(x, params)
    b = hmm.backward(x, params, f)
    gamma = f.alpha_hat * b.beta_hat
    p_x = emission_matrix(x, params)
    xi_sum = np.zeros((params.n_states,) * 2)
    for n in range(1, len(x)):
        xi_sum += (np.outer(f.alpha_hat[n - 1], p_x[n] * b.beta_hat[n])
                   * params.transmat / f.scale[n])
    return gamma, xi_sum, f.loglik


# --------------------------------------------------------------------------------------------
# the reference against the definitions of its messages
# --------------------------------------------------------------------------------------------

def joint_by_enumeration(x, params):
    """p(x_1..x_n, z_n = k) for every n (the unscaled α, 13.34) and p(X) (with the stop)."""
    K, T = params.n_states, len(x)
    b = emission_matrix(x, params)
    alpha = np.zeros((T, K))
    total = 0.0
    for z in itertools.product(range(K), repeat=T):
        p = params.startprob[z[0]] * b[0, z[0]]
        alpha[0, z[0]] += p / K ** (T - 1)  # every prefix is counted K^(T-1-n) times
        for n in range(1, T):
            p *= params.transmat[z[n - 1], z[n]] * b[n, z[n]]
            alpha[n, z[n]] += p / K ** (T - 1 - n)
        total += p * (1.0 if params.endprob is None else params.endprob[z[-1]])
    return alpha, total


@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
@pytest.mark.parametrize("T", [1, 2, 6])
def test_forward_messages_are_bishops_definitions(end, kind, T):
    rng = np.random.default_rng(40 + 3 * T + end)
    params = random_hmm_params(3, rng, end=end, D=2 if kind == "gaussian" else None)
    x = observations(kind, rng, T)
    alpha, p_X = joint_by_enumeration(x, params)
    prefix = alpha.sum(axis=1)                      # p(x_1..x_n)
    f = hmm.forward(x, params)
    np.testing.assert_allclose(f.alpha_hat, alpha / prefix[:, None], rtol=1e-12)  # (13.55)
    c = prefix / np.concatenate([[1.0], prefix[:-1]])                            # (13.56)
    np.testing.assert_allclose(f.scale, c, rtol=1e-12)
    assert f.loglik == pytest.approx(np.log(p_X), rel=1e-12)
    if end:
        assert f.end_scale == pytest.approx(p_X / prefix[-1], rel=1e-12)
    else:
        assert f.end_scale == 1.0
    b = hmm.backward(x, params)
    assert b.loglik == f.loglik
    np.testing.assert_array_equal(b.scale, f.scale)
    # β̂(z_n) = p(x_{n+1..N} [, STOP] | z_n) / p(x_{n+1..N} [, STOP] | x_1..x_n): then
    # α̂ β̂ is the posterior γ, which sums to one
    np.testing.assert_allclose((f.alpha_hat * b.beta_hat).sum(axis=1), 1.0, rtol=1e-12)


def test_forward_and_backward_return_documented_named_tuples():
    rng = np.random.default_rng(1)
    params = random_hmm_params(2, rng, end=True)
    x = rng.integers(0, 4, 5)
    f = hmm.forward(x, params)
    assert isinstance(f, hmm.ForwardResult) and f._fields == ("alpha_hat", "scale", "loglik",
                                                             "end_scale")
    b = hmm.backward(x, params, f)
    assert isinstance(b, hmm.BackwardResult) and b._fields == ("beta_hat", "scale", "loglik")
    v = hmm.viterbi(x, params)
    assert isinstance(v, hmm.ViterbiResult) and v._fields == ("states", "log_prob")
    states, log_prob = v
    assert states.shape == (5,) and isinstance(log_prob, float)


def test_forward_matches_a_log_space_recursion_on_a_long_sequence():
    """400 steps: the scaled reference equals plain log-space recursions (no underflow)."""
    rng = np.random.default_rng(8)
    params = random_hmm_params(3, rng, end=True)
    x = rng.integers(0, 4, 400)
    lb, lA = np.log(emission_matrix(x, params)), np.log(params.transmat)
    la = np.log(params.startprob) + lb[0]
    for n in range(1, len(x)):
        la = logsumexp(la[:, None] + lA, axis=0) + lb[n]
    assert hmm.forward(x, params).loglik == pytest.approx(
        logsumexp(la + np.log(params.endprob)), rel=1e-12)


def test_impossible_sequence_in_the_reference():
    params = hmm.HMMParams([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]],
                           hmm.Categorical([[1.0, 0.0], [0.0, 1.0]]))
    f = hmm.forward([0, 0, 1, 0], params)
    assert f.loglik == -np.inf
    assert np.all(np.isfinite(f.alpha_hat)) and np.all(f.alpha_hat[2:] == 0)
    with pytest.raises(ValueError, match="probability zero"):
        hmm.backward([0, 0, 1, 0], params)
    states, log_prob = hmm.viterbi([0, 0, 1, 0], params)
    assert log_prob == -np.inf and states.shape == (4,)


# --------------------------------------------------------------------------------------------
# the batched path against the reference
# --------------------------------------------------------------------------------------------

@pytest.fixture(params=["whole", "blocks of 7"])
def block(request, monkeypatch):
    """The batched path with its own block length, and with blocks of 7 steps (so that short
    sequences cross block boundaries)."""
    if request.param != "whole":
        monkeypatch.setattr(batched, "block_length", lambda lengths: 7)
    return request.param


@pytest.mark.parametrize("params, seqs", problems())
def test_batched_equals_reference(params, seqs, block):
    stats, ll = hmm.e_step(seqs, params)
    total = 0.0
    start, end = np.zeros(params.n_states), np.zeros(params.n_states)
    trans = np.zeros((params.n_states,) * 2)
    for x, g in zip(seqs, stats.gamma):
        gamma, xi_sum, loglik = reference_posteriors(x, params)
        fb = hmm.forward_backward(x, params)
        np.testing.assert_allclose(fb.gamma, gamma, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(fb.xi_sum, xi_sum, rtol=1e-10, atol=1e-13)
        assert fb.loglik == pytest.approx(loglik, rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(g, gamma, rtol=1e-10, atol=1e-13)
        assert hmm.score(x, params) == pytest.approx(loglik, rel=1e-10, abs=1e-10)
        total += loglik
        start += gamma[0]
        end += gamma[-1]
        trans += xi_sum
    assert ll == pytest.approx(total, rel=1e-10)
    np.testing.assert_allclose(stats.start, start, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(stats.end, end, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(stats.trans, trans, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(stats.occupancy, sum(g.sum(axis=0) for g in stats.gamma),
                               rtol=1e-12)


@pytest.mark.parametrize("end", [False, True])
def test_batched_equals_reference_on_a_long_sequence(end, monkeypatch):
    """A sequence cut into many blocks (block products, sweeps over blocks)."""
    rng = np.random.default_rng(77)
    params = random_hmm_params(3, rng, end=end, M=5)
    x = rng.integers(0, 5, 3000)
    gamma, xi_sum, loglik = reference_posteriors(x, params)
    for L in (None, 37):
        if L is not None:
            monkeypatch.setattr(batched, "block_length", lambda lengths, L=L: L)
        fb = hmm.forward_backward(x, params)
        assert fb.loglik == pytest.approx(loglik, rel=1e-10)
        np.testing.assert_allclose(fb.gamma, gamma, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(fb.xi_sum, xi_sum, rtol=1e-10)


def test_fit_runs_the_reference_steps():
    """One Baum-Welch iteration of fit equals counting with the reference's γ and ξ."""
    rng = np.random.default_rng(5)
    params = random_hmm_params(3, rng, end=True)
    seqs = [rng.integers(0, 4, T) for T in (1, 12, 40)]
    posts = [reference_posteriors(x, params) for x in seqs]
    start = sum(g[0] for g, _, _ in posts)
    end = sum(g[-1] for g, _, _ in posts)
    trans = sum(xi for _, xi, _ in posts)
    counts = sum(np.stack([np.bincount(x, weights=g[:, k], minlength=4)
                           for k in range(3)]) for x, (g, _, _) in zip(seqs, posts))
    both = np.concatenate([trans, end[:, None]], axis=1)
    both /= both.sum(axis=1, keepdims=True)
    new = hmm.fit(seqs, 3, init=params, max_iter=1, tol=0).params
    np.testing.assert_allclose(new.startprob, start / start.sum(), rtol=1e-10)
    np.testing.assert_allclose(new.transmat, both[:, :-1], rtol=1e-10)
    np.testing.assert_allclose(new.endprob, both[:, -1], rtol=1e-10)
    np.testing.assert_allclose(new.emission.probs, counts / counts.sum(axis=1, keepdims=True),
                               rtol=1e-10)


def test_public_statistics_hold_public_fields_only():
    for cls in (hmm.HMMStats, hmm.HMMResult, hmm.ForwardBackwardResult):
        assert all(not f.name.startswith("_") for f in dataclasses.fields(cls)), cls


def test_emissions_registry():
    assert hmm.EMISSIONS["categorical"] is hmm.Categorical
    assert hmm.EMISSIONS["gaussian"] is hmm.Gaussian
    for name, cls in hmm.EMISSIONS.items():
        assert issubclass(cls, hmm.Emission) and cls.name == name
