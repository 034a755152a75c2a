"""hw3 (HMMs, categorical emissions, no STOP state): ``forward``, ``backward``, ``posteriors``,
``baum_welch_step``, ``count_estimate``, ``viterbi``.

The notebook passes ``(startprob, transmat, emissionprob)`` arrays where emref takes an
``HMMParams``, and its forward and backward return the row-normalised messages that emref
keeps inside. So the course's versions of the parts ``baum_welch_step`` calls are the
adapters :func:`forward`, :func:`backward` and :func:`posteriors` below, with the notebook's
signatures and return values; forward and backward call the course's readable reference,
:func:`emref.hmm.forward` and :func:`emref.hmm.backward` (Bishop's scaled recursions, exact
for any length). They are also the reference the checks of those parts compare with; emref's
``e_step``, ``m_step``, ``fit_supervised`` and ``viterbi`` are the reference for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emref import hmm

from ._common import (
    Fail,
    as_array,
    as_number,
    as_tuple,
    call,
    close,
    finite,
    num,
    q,
    register,
    rows_sum_to_one,
    same_value,
    show,
    worst_entry,
    worst_row,
)

__all__ = ["backward", "forward", "posteriors"]


# --------------------------------------------------------------------------------------------
# The course's versions, with the notebook's signatures
# --------------------------------------------------------------------------------------------

def _params(startprob, transmat, emissionprob) -> hmm.HMMParams:
    return hmm.HMMParams(np.asarray(startprob, dtype=float), np.asarray(transmat, dtype=float),
                         hmm.Categorical(np.asarray(emissionprob, dtype=float)))


def forward(obs, startprob, transmat, emissionprob):
    """``(alpha, loglik)``: α̂(z_n) = p(z_n | x_1..x_n), rows summing to 1, and log p(obs),
    from the course's reference :func:`emref.hmm.forward` (Bishop 13.59)."""
    fwd = hmm.forward(np.asarray(obs, dtype=int), _params(startprob, transmat, emissionprob))
    return fwd.alpha_hat, fwd.loglik


def backward(obs, startprob, transmat, emissionprob):
    """``(beta, loglik)``: β(z_n) = p(x_n+1..x_T | z_n), each row normalised to sum to 1 (the
    notebook's convention; Bishop's β̂ of :func:`emref.hmm.backward`, 13.62, differs from it
    by one factor per row), and log p(obs)."""
    obs = np.asarray(obs, dtype=int)
    params = _params(startprob, transmat, emissionprob)
    fwd = hmm.forward(obs, params)
    beta = hmm.backward(obs, params, fwd).beta_hat
    return beta / beta.sum(axis=1, keepdims=True), fwd.loglik


def _forward_transposed(obs, startprob, transmat, emissionprob):
    """The classic slip, modelled for its hint: the forward step with Aᵀ in place of A."""
    B = np.asarray(emissionprob, dtype=float)[:, np.asarray(obs, dtype=int)].T
    alpha = np.empty_like(B)
    a = np.asarray(startprob, dtype=float) * B[0]
    for n in range(len(B)):
        if n:
            a = B[n] * (alpha[n - 1] @ np.asarray(transmat, dtype=float).T)
        alpha[n] = a / a.sum()
    return alpha


def posteriors(alpha, beta, obs, transmat, emissionprob):
    """``(gamma, xi)`` from forward's alpha and backward's beta (any positive row scaling):
    γ (T, K) and ξ (T-1, K, K), xi[n-1, j, k] = p(z_n-1 = j, z_n = k | obs)."""
    alpha = np.asarray(alpha, dtype=float)
    beta = np.asarray(beta, dtype=float)
    obs = np.asarray(obs, dtype=int)
    B = np.asarray(emissionprob, dtype=float)
    gamma = alpha * beta
    gamma = gamma / gamma.sum(axis=1, keepdims=True)
    xi = (alpha[:-1, :, None] * np.asarray(transmat, dtype=float)[None]
          * (B[:, obs[1:]].T * beta[1:])[:, None, :])
    xi = xi / xi.sum(axis=(1, 2), keepdims=True)
    return gamma, xi


# --------------------------------------------------------------------------------------------
# Random problems
# --------------------------------------------------------------------------------------------

def _random_hmm(rng, K, M, sticky=True):
    """Strictly positive (startprob, transmat, emissionprob)."""
    pi = rng.dirichlet(np.full(K, 2.0))
    A = rng.dirichlet(np.full(K, 1.0), size=K) + (3.0 * np.eye(K) if sticky else 0.0)
    A = 0.02 + A
    A /= A.sum(axis=1, keepdims=True)
    B = 0.02 + rng.dirichlet(np.full(M, 0.7), size=K)
    B /= B.sum(axis=1, keepdims=True)
    return pi, A, B


def _sample_hmm(rng, pi, A, B, T):
    z = np.empty(T, dtype=int)
    x = np.empty(T, dtype=int)
    z[0] = rng.choice(len(pi), p=pi)
    for t in range(T):
        if t:
            z[t] = rng.choice(len(pi), p=A[z[t - 1]])
        x[t] = rng.choice(B.shape[1], p=B[z[t]])
    return x, z


_CASES = ((1, 2, 3), (6, 2, 3), (60, 3, 4), (400, 4, 5), (3000, 2, 3))
# Log-probabilities are compared to 1e-6 relative: a float32 answer (rounding 6e-8) passes, a
# wrong recursion is off by far more.
_LL = {"rtol": 1e-6, "atol": 1e-6}


def _problems(rng, cases=_CASES):
    """For each (T, K, M): a random strictly positive HMM and a sequence drawn from it, as
    (T, K, pi, A, B, x)."""
    for T, K, M in cases:
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        yield T, K, pi, A, B, x


def _long(T):
    return f" on a sequence of {T} steps" if T >= 1000 else ""


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Recursion:
    """What the check of the forward or the backward recursion needs to know of it."""

    name: str             # the student's function: "forward" or "backward"
    returns: str          # what it returns beside the loglik: "alpha" or "beta"
    reference: Callable   # the course's version, with the same signature
    advice: str           # how to keep the messages from underflowing on long sequences
    rows: str             # what each row of the messages is normalised over
    loglik: str           # what the loglik is, after "expected <value>"
    mismatch: Callable    # mismatch(got, expected, problem): how got differs, naming slips


def _check_recursion(rec: _Recursion, fn, rng):
    name = rec.name
    for problem in _problems(rng):
        T, K, pi, A, B, x = problem
        expected, ll_ref = rec.reference(x, pi, A, B)
        got, ll = as_tuple(call(name, fn, x, pi, A, B), name, (rec.returns, "loglik"))
        what = rec.returns + _long(T)
        got = as_array(got, name, what, shape=(T, K))
        ll = as_number(ll, name, "loglik")
        hint = (f": unscaled {name} probabilities underflow to 0 after a few hundred steps. "
                f"{rec.advice}" if T >= 300 else "")
        finite(got, name, what, hint)
        rows_sum_to_one(got, name, what, rec.rows)
        if not close(got, expected, rtol=1e-6, atol=1e-9):
            raise Fail(rec.mismatch(got, expected, problem))
        same_value(ll, ll_ref, name, "the loglik {got}" + _long(T) + "; expected {expected}"
                   + rec.loglik, **_LL)


def _alpha_mismatch(alpha, alpha_ref, problem) -> str:
    _, K, pi, A, B, x = problem
    first = int(np.flatnonzero(~np.all(np.isclose(alpha, alpha_ref, rtol=1e-6, atol=1e-9),
                                       axis=1))[0])
    got = f"alpha[{first}] is {show(alpha[first])}; expected {show(alpha_ref[first])}"
    if K > 1 and close(alpha, _forward_transposed(x, pi, A, B), rtol=1e-6, atol=1e-9):
        return (f"{q('forward')} uses the transition matrix transposed ({got}): α(z_nk) = "
                f"p(x_n|z_n=k) Σ_j α(z_n-1,j) A_jk, where A_jk = p(z_n = k | z_n-1 = j): sum "
                f"over the previous state, down the columns of A")
    if first > 0:
        return (f"the first step of {q('forward')} is right but a later one is not ({got}): "
                f"α(z_nk) = p(x_n|z_n=k) Σ_j α(z_n-1,j) A_jk, then normalise")
    return (f"{q('forward')} starts wrong ({got}): α(z_1k) = π_k p(x_1|z_1 = k), then "
            f"normalise")


def _beta_mismatch(beta, beta_ref, problem) -> str:
    _, K, pi, A, B, x = problem
    got = worst_row(beta, beta_ref, "beta")
    if K > 1 and close(beta, backward(x, pi, A.T, B)[0], rtol=1e-6, atol=1e-9):
        return (f"{q('backward')} uses the transition matrix transposed ({got}): β(z_n,j) = "
                f"Σ_k A_jk p(x_n+1|z_n+1 = k) β(z_n+1,k) sums over the next state, along the "
                f"rows of A")
    return (f"{q('backward')} returned beta not proportional to β(z_n) = p(x_n+1..x_T | z_n) "
            f"({got}): β(z_n,j) = Σ_k A_jk p(x_n+1|z_n+1 = k) β(z_n+1,k)")


_FORWARD = _Recursion(
    "forward", "alpha", forward,
    advice="Normalise α(z_n) at every step and keep the logs of the normalisers c_n",
    rows="the states: return the scaled α̂(z_n), each row divided by its sum c_n",
    loglik=" = Σ_n log c_n, the sum of the logs of the normalisers",
    mismatch=_alpha_mismatch)

_BACKWARD = _Recursion(
    "backward", "beta", backward,
    advice="Normalise β(z_n) at every step and keep the logs of the normalisers",
    rows="the states (β(z_T) = 1 for every state becomes 1/K)",
    loglik=", the same as the forward one: log p(X) = log Σ_k π_k p(x_1|k) β(z_1k) plus the "
           "logs of your normalisers",
    mismatch=_beta_mismatch)


@register("hmm.forward", function="forward", assignment="hw3")
def check_forward(fn, rng):
    _check_recursion(_FORWARD, fn, rng)


@register("hmm.backward", function="backward", assignment="hw3")
def check_backward(fn, rng):
    _check_recursion(_BACKWARD, fn, rng)


@register("hmm.posteriors", function="posteriors", assignment="hw3")
def check_posteriors(fn, rng):
    name = "posteriors"
    for T, K, pi, A, B, x in _problems(rng, _CASES[1:]):
        alpha, _ = forward(x, pi, A, B)
        beta, _ = backward(x, pi, A, B)
        g_ref, xi_ref = posteriors(alpha, beta, x, A, B)
        gamma, xi = as_tuple(call(name, fn, alpha, beta, x, A, B), name, ("gamma", "xi"))
        gamma = as_array(gamma, name, "gamma", shape=(T, K))
        xi = as_array(xi, name, "xi", shape=(T - 1, K, K))
        finite(gamma, name, "gamma")
        finite(xi, name, "xi")
        rows_sum_to_one(gamma, name, "gamma", "the states: γ(z_n) ∝ α̂(z_n) β̂(z_n)")
        if not close(gamma, g_ref, rtol=1e-6, atol=1e-9):
            raise Fail(f"{q(name)} returned another gamma ({worst_row(gamma, g_ref, 'gamma')}): γ(z_n) ∝ "
                       f"α̂(z_n) β̂(z_n), the element-wise product, each row normalised")
        tot = xi.sum(axis=(1, 2))
        if not np.allclose(tot, 1.0, atol=1e-6):
            i = int(np.argmax(np.abs(tot - 1)))
            raise Fail(f"{q(name)} returned xi[{i}] summing to {num(tot[i])}; expected each "
                       f"xi[n] to sum to 1 over both states: it is a joint distribution of "
                       f"(z_n-1, z_n)")
        if not close(xi, xi_ref, rtol=1e-6, atol=1e-9):
            got = worst_entry(xi, xi_ref, "xi")
            if close(np.swapaxes(xi, 1, 2), xi_ref, rtol=1e-6, atol=1e-9):
                raise Fail(f"{q(name)} returned xi transposed ({got}): xi[n-1, j, k] = "
                           f"p(z_n-1 = j, z_n = k | X)")
            raise Fail(f"{q(name)} returned another xi ({got}): ξ(z_n-1,j, z_nk) ∝ α̂(z_n-1,j) A_jk "
                       f"p(x_n | z_n = k) β̂(z_nk); its row sums should be γ(z_n-1)")


def _compare_hmm(name, pi, A, B, ref, K, M):
    pi = as_array(pi, name, "startprob", shape=(K,))
    A = as_array(A, name, "transmat", shape=(K, K))
    B = as_array(B, name, "emissionprob", shape=(K, M))
    for what, val in (("startprob", pi), ("transmat", A), ("emissionprob", B)):
        finite(val, name, what, ": is a count divided by zero?")
    same_value(pi, ref.startprob, name, "startprob {got}; expected {expected}: π_k is the "
               "(expected) share of sequences that start in state k")
    if not close(A, ref.transmat, atol=1e-8):
        got = worst_row(A, ref.transmat, "transmat")
        if close(A.T, ref.transmat, atol=1e-8):
            raise Fail(f"{q(name)} returned transmat transposed ({got}): A[j, k] = "
                       f"p(z_n = k | z_n-1 = j)")
        rows_sum_to_one(A, name, "transmat", "the next state")
        raise Fail(f"{q(name)} returned another transmat ({got}): A_jk = (expected) count of j -> k "
                   f"transitions / count of transitions out of j")
    if not close(B, ref.emission.probs, atol=1e-8):
        got = worst_row(B, ref.emission.probs, "emissionprob")
        rows_sum_to_one(B, name, "emissionprob", "the symbols")
        raise Fail(f"{q(name)} returned another emissionprob ({got}): B_km = (expected) count of state k emitting "
                   f"symbol m / (expected) time spent in k")


@register("hmm.baum_welch_step", function="baum_welch_step", assignment="hw3",
          uses={"forward": forward, "backward": backward, "posteriors": posteriors})
def check_baum_welch_step(fn, rng):
    name = "baum_welch_step"
    for T, K, pi, A, B, x in _problems(rng, ((2, 2, 2), (50, 2, 3), (500, 3, 4), (3000, 2, 3))):
        params = _params(pi, A, B)
        stats, ll_ref = hmm.e_step(x, params)
        ref = hmm.m_step(stats, params)
        out = as_tuple(call(name, fn, x, pi, A, B), name,
                       ("startprob", "transmat", "emissionprob", "loglik"))
        _compare_hmm(name, out[0], out[1], out[2], ref, K, B.shape[1])
        late = "the loglik {got} of the new parameters; expected {expected}, that of the " \
               "parameters it was given (before the update)"
        same_value(as_number(out[3], name, "loglik"), ll_ref, name,
                   "the loglik {got}" + _long(T) + "; expected {expected} = log p(X) under the "
                   "parameters it was given", slips=[(hmm.score(x, ref), late)], **_LL)


@register("hmm.count_estimate", function="count_estimate", assignment="hw3")
def check_count_estimate(fn, rng):
    name = "count_estimate"
    for n_seq, K, M in ((1, 2, 2), (5, 3, 4), (40, 4, 6)):
        pi, A, B = _random_hmm(rng, K, M, sticky=False)
        while True:
            seqs, states = [], []
            for _ in range(n_seq):
                x, z = _sample_hmm(rng, pi, A, B, int(rng.integers(20, 80)))
                seqs.append(x)
                states.append(z)
            allz = np.concatenate(states)
            allx = np.concatenate(seqs)
            outgoing = np.concatenate([z[:-1] for z in states])
            if (np.bincount(outgoing, minlength=K) > 0).all() and len(np.unique(allx)) == M \
                    and (np.bincount(allz, minlength=K) > 0).all():
                break
        ref = hmm.fit_supervised(seqs, states, K, n_symbols=M)
        out = as_tuple(call(name, fn, seqs, states, K, M), name,
                       ("startprob", "transmat", "emissionprob"))
        _compare_hmm(name, out[0], out[1], out[2], ref, K, M)


@register("hmm.viterbi", function="viterbi", assignment="hw3")
def check_viterbi(fn, rng):
    name = "viterbi"
    for T, K, pi, A, B, x in _problems(rng):
        _, ref_lp = hmm.viterbi(x, _params(pi, A, B))
        path, lp = as_tuple(call(name, fn, x, pi, A, B), name, ("states", "log_prob"))
        path = as_array(path, name, "states", shape=(T,))
        finite(path, name, "states")
        if not np.all(path == np.round(path)) or path.min() < 0 or path.max() >= K:
            raise Fail(f"{q(name)} returned states from {num(path.min())} to "
                       f"{num(path.max())}; expected integers 0..{K - 1}")
        path = path.astype(int)
        lp = as_number(lp, name, "log_prob")
        own = float(np.log(pi[path[0]]) + np.log(A[path[:-1], path[1:]]).sum()
                    + np.log(B[path, x]).sum())
        long = _long(T)
        if not np.isfinite(lp):
            hint = (f": a product of {T} probabilities underflows to 0; run Viterbi on "
                    f"log-probabilities (sums, not products)" if T >= 300 else "")
            raise Fail(f"{q(name)} returned the log_prob {num(lp)}{long}; expected "
                       f"{num(ref_lp)}{hint}")
        same_value(lp, own, name, "the log_prob {got}" + long + ", but the path it returns "
                   "has log p(x, z) = {expected}: return the joint log-probability of that path",
                   **_LL)
        same_value(own, ref_lp, name, "a path with log p(x, z) = {got}" + long + "; the most "
                   "probable path has {expected}: keep, for every state, the best "
                   "log-probability of a path ending there and its best predecessor, then "
                   "trace back from the best last state", rtol=1e-9, atol=1e-9)
