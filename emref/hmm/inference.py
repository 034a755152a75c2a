"""The readable reference: forward, backward, Viterbi and the posteriors γ and ξ of one
sequence, one step at a time, each line naming the equation of Bishop's PRML (§13.2) it
implements.

:func:`emref.hmm.forward_backward`, :func:`emref.hmm.e_step`, :func:`emref.hmm.score` and
:func:`emref.hmm.fit` compute the same numbers by the batched fast path
(``emref._hmm_batched``); the tests hold it to 1e-10 of :func:`forward`, :func:`backward`
and :func:`posteriors`, and these to the definitions of the messages by enumerating paths.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .parameters import HMMParams, check_params
from .sequences import one_sequence

__all__ = ["BackwardResult", "ForwardResult", "Posteriors", "ViterbiResult", "backward",
           "forward", "impossible", "posteriors", "viterbi"]


def impossible(name: str):
    """The error for a sequence of probability zero (its posteriors are undefined)."""
    return ValueError(f"{name} has probability zero under params (some observation cannot be "
                      f"emitted by any state the model can be in there, or no state can "
                      f"stop); its posteriors are undefined")


class ForwardResult(NamedTuple):
    """The scaled forward messages of one sequence x_1..x_N (Bishop §13.2.4).

    Attributes
    ----------
    alpha_hat : ndarray (N, K)
        α̂(z_n) = p(z_n | x_1..x_n) (13.59); each row sums to 1.
    scale : ndarray (N,)
        c_n = p(x_n | x_1..x_{n-1}) (13.56), c_1 = p(x_1).
    loglik : float
        ln p(X) = Σ_n ln c_n (13.63), plus ln c_{N+1} with a STOP state; -inf if X is
        impossible under the model.
    end_scale : float
        c_{N+1} = p(STOP | x_1..x_N) = Σ_k α̂(z_Nk) e_k with a STOP state, 1.0 without one.
    """

    alpha_hat: np.ndarray
    scale: np.ndarray
    loglik: float
    end_scale: float


class BackwardResult(NamedTuple):
    """The scaled backward messages of one sequence (Bishop §13.2.4).

    Attributes
    ----------
    beta_hat : ndarray (N, K)
        β̂(z_n) = p(x_{n+1}..x_N | z_n) / p(x_{n+1}..x_N | x_1..x_n) (13.61) (with a STOP
        state, the stop is part of the future: p(x_{n+1}..x_N, STOP | z_n) / ...).
        γ(z_n) = α̂(z_n) β̂(z_n) (13.64).
    scale : ndarray (N,), the c_n of :func:`forward` used by the recursion (13.62).
    loglik : float, ln p(X) (as :func:`forward`'s).
    """

    beta_hat: np.ndarray
    scale: np.ndarray
    loglik: float


class ViterbiResult(NamedTuple):
    """The most probable state path and its joint log-probability.

    Attributes
    ----------
    states : ndarray (N,) of ints, Z* = argmax_Z p(X, Z | θ).
    log_prob : float, ln p(X, Z* | θ) (with the stop when the model has ``endprob``);
        -inf if X is impossible under θ.
    """

    states: np.ndarray
    log_prob: float


def forward(obs, params: HMMParams) -> ForwardResult:
    """The scaled forward recursion of one sequence (Bishop §13.2.4, eq. 13.59).

    ``obs`` is one sequence (a 1-D int array for categorical emissions, an (N, D) array for
    vector ones) and ``params`` an :class:`HMMParams`. Returns a :class:`ForwardResult`:
    ``alpha_hat`` α̂ (N, K), ``scale`` c_n (N,), ``loglik`` ln p(X) and ``end_scale``.

    The STOP state enters once, after the last step: p(X) = p(x_1..x_N) Σ_k α̂(z_Nk) e_k, so
    c_{N+1} = Σ_k α̂(z_Nk) e_k is one more scale factor and ln p(X) = Σ_{n=1}^{N+1} ln c_n.
    This reference works with probabilities, as Bishop does: an observation whose density
    underflows (below about 1e-308) under every state gives c_n = 0 and loglik = -inf, as
    does an impossible sequence; from there on α̂ is zero. :func:`forward_backward` and
    :func:`score` work from log-densities with a per-step offset and do not underflow.
    """
    params = check_params(params)
    x = one_sequence(obs, params.emission)
    pi, A, e = params.startprob, params.transmat, params.endprob
    with np.errstate(under="ignore"):
        p_x = np.exp(params.emission.log_likelihood(x))  # p(x_n | z_n = k), shape (N, K)
    N, K = p_x.shape
    alpha_hat = np.zeros((N, K))
    c = np.zeros(N)
    for n in range(N):
        if n == 0:
            a = pi * p_x[0]                          # α(z_1) = p(z_1) p(x_1|z_1)       (13.37)
        else:
            a = p_x[n] * (alpha_hat[n - 1] @ A)      # p(x_n|z_n) Σ_{z_{n-1}} α̂(z_{n-1}) A
        c[n] = a.sum()                               # c_n = p(x_n | x_1..x_{n-1})      (13.56)
        if c[n] == 0:                                # X is impossible (or underflowed)
            return ForwardResult(alpha_hat, c, -np.inf, 0.0)
        alpha_hat[n] = a / c[n]                      # c_n α̂(z_n) = p(x_n|z_n) Σ α̂ A   (13.59)
    end_scale = 1.0
    if e is not None:
        end_scale = float(alpha_hat[-1] @ e)         # c_{N+1} = Σ α̂(z_N) p(STOP | z_N)
    with np.errstate(divide="ignore"):
        loglik = float(np.log(c).sum() + np.log(end_scale))  # ln p(X) = Σ ln c_n       (13.63)
    return ForwardResult(alpha_hat, c, loglik, end_scale)


def backward(obs, params: HMMParams, fwd: ForwardResult | None = None) -> BackwardResult:
    """The scaled backward recursion of one sequence (Bishop §13.2.4, eq. 13.62).

    Parameters
    ----------
    obs : one sequence.
    params : HMMParams
    fwd : ForwardResult of ``forward(obs, params)``, or None to compute it here (the scaled
        β̂ needs the forward pass's c_n).

    Returns
    -------
    BackwardResult
        ``beta_hat`` β̂ (N, K), ``scale`` c_n (N,), ``loglik``.

    Notes
    -----
    Without a STOP state β(z_N) = 1 (13.39). With one, the stop is the last thing emitted:
    β(z_N) = p(STOP | z_N) = e(z_N), scaled by its own factor c_{N+1}, so
    β̂(z_N) = e(z_N) / c_{N+1}; this is where the end factor enters. Raises ValueError if
    ``obs`` has probability zero (β̂ is then undefined).
    """
    params = check_params(params)
    x = one_sequence(obs, params.emission)
    if fwd is None:
        fwd = forward(x, params)
    if not np.isfinite(fwd.loglik):
        raise impossible("obs")
    A, e, c = params.transmat, params.endprob, fwd.scale
    with np.errstate(under="ignore"):
        p_x = np.exp(params.emission.log_likelihood(x))  # p(x_n | z_n = k), shape (N, K)
    N, K = p_x.shape
    beta_hat = np.empty((N, K))
    if e is None:
        beta_hat[N - 1] = 1.0                        # β(z_N) = 1                        (13.39)
    else:
        beta_hat[N - 1] = e / fwd.end_scale          # β̂(z_N) = p(STOP | z_N) / c_{N+1}
    for n in range(N - 2, -1, -1):
        # c_{n+1} β̂(z_n) = Σ_{z_{n+1}} β̂(z_{n+1}) p(x_{n+1}|z_{n+1}) p(z_{n+1}|z_n)  (13.62)
        beta_hat[n] = A @ (beta_hat[n + 1] * p_x[n + 1]) / c[n + 1]
    return BackwardResult(beta_hat, c, fwd.loglik)


def viterbi(obs, params: HMMParams) -> ViterbiResult:
    """The most probable state path of one sequence: max-sum in log space (Bishop §13.2.5).

    Returns the :class:`ViterbiResult` ``(states, log_prob)`` of ``obs`` (one sequence)
    under ``params``: argmax_Z p(X, Z | θ) and ln p(X, Z* | θ) (with the stop when the model
    has ``endprob``), or ``(zeros, -inf)`` if ``obs`` is impossible.

    ω(z_n) = max_{z_1..z_{n-1}} ln p(x_1..x_n, z_1..z_n). The STOP state enters at the end:
    the best last state maximises ω(z_N) + ln e(z_N). Ties go to the lowest state index.
    """
    params = check_params(params)
    x = one_sequence(obs, params.emission)
    log_p_x = params.emission.log_likelihood(x)      # ln p(x_n | z_n = k), shape (N, K)
    with np.errstate(divide="ignore"):
        log_pi, log_A = np.log(params.startprob), np.log(params.transmat)
        log_e = 0.0 if params.endprob is None else np.log(params.endprob)
    N, K = log_p_x.shape
    omega = np.empty((N, K))                         # ω(z_n) - m_n (see below)
    chi = np.zeros((N, K), dtype=np.intp)            # χ[n, k]: best z_{n-1} given z_n = k
    m = np.zeros(N)                                  # m_n = max_k ω(z_nk), kept apart
    omega[0] = log_pi + log_p_x[0]                   # ω(z_1) = ln p(z_1) + ln p(x_1|z_1) (13.69)
    for n in range(N):
        if n > 0:
            cand = omega[n - 1][:, None] + log_A     # ln p(z_n|z_{n-1}) + ω(z_{n-1}), [j, k]
            chi[n] = cand.argmax(axis=0)             # the maximising z_{n-1} for each z_n
            omega[n] = log_p_x[n] + cand.max(axis=0)  # ω(z_n) = ln p(x_n|z_n) + max (.) (13.68)
        # a constant taken out of every ω(z_n) changes no maximiser; it keeps the numbers near
        # zero, so that their rounding does not grow with n
        m[n] = omega[n].max() if np.isfinite(omega[n].max()) else 0.0
        omega[n] -= m[n]
    final = omega[N - 1] + log_e                     # ... and the stop after z_N
    if not np.any(np.isfinite(final)):
        return ViterbiResult(np.zeros(N, dtype=np.intp), -np.inf)
    states = np.empty(N, dtype=np.intp)
    states[N - 1] = np.argmax(final)                 # z*_N = argmax ω(z_N) [+ ln e(z_N)]
    for n in range(N - 1, 0, -1):
        states[n - 1] = chi[n, states[n]]            # back-track: z*_{n-1} = χ(z*_n)    (13.71)
    return ViterbiResult(states, float(m.sum() + final.max()))  # ln p(X,Z*) = max ω(z_N)


class Posteriors(NamedTuple):
    """The posterior marginals of one sequence (Bishop §13.2.2).

    Attributes
    ----------
    gamma : ndarray (N, K), γ(z_nk) = p(z_n = k | X) (13.33, 13.64); rows sum to 1.
    xi : ndarray (N - 1, K, K), xi[n - 1, j, k] = ξ(z_{n-1,j}, z_nk) =
        p(z_{n-1} = j, z_n = k | X) (13.43, 13.65); each (K, K) slice sums to 1.
    loglik : float, ln p(X) (as :func:`forward`'s).
    """

    gamma: np.ndarray
    xi: np.ndarray
    loglik: float


def posteriors(obs, params: HMMParams) -> Posteriors:
    """γ and ξ of one sequence from the scaled messages (Bishop 13.64, 13.65).

    ``obs`` is one sequence, ``params`` an :class:`HMMParams`. ξ is the joint posterior of
    two successive states,

        ξ(z_{n-1}, z_n) = α(z_{n-1}) p(x_n | z_n) p(z_n | z_{n-1}) β(z_n) / p(X)      (13.43)
                        = c_n⁻¹ α̂(z_{n-1}) p(x_n | z_n) p(z_n | z_{n-1}) β̂(z_n)     (13.65)

    :func:`emref.hmm.forward_backward` returns γ and Σ_n ξ by the batched fast path, tested
    equal to these. Raises ValueError if ``obs`` has probability zero under ``params``.
    """
    params = check_params(params)
    x = one_sequence(obs, params.emission)
    fwd = forward(x, params)
    bwd = backward(x, params, fwd)                   # raises if p(X) = 0
    A, c = params.transmat, fwd.scale
    with np.errstate(under="ignore"):
        p_x = np.exp(params.emission.log_likelihood(x))  # p(x_n | z_n = k), shape (N, K)
    N, K = p_x.shape
    gamma = fwd.alpha_hat * bwd.beta_hat             # γ(z_n) = α̂(z_n) β̂(z_n)            (13.64)
    xi = np.empty((max(N - 1, 0), K, K))
    for n in range(1, N):
        # ξ(z_{n-1,j}, z_nk) = c_n⁻¹ α̂(z_{n-1,j}) p(x_n | z_nk) A_jk β̂(z_nk)          (13.65)
        xi[n - 1] = (fwd.alpha_hat[n - 1][:, None] * A
                     * (p_x[n] * bwd.beta_hat[n])[None, :]) / c[n]
    return Posteriors(gamma, xi, fwd.loglik)
