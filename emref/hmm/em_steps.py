"""The two steps of Baum-Welch (Bishop §13.2.1): expected counts, and the θ that maximises Q.

E-step (:func:`e_step`): the posterior marginals γ(z_nk) = p(z_n = k | X) (13.64) and the
expected transition counts Σ_n ξ(z_{n-1,j}, z_nk) (13.65), by the batched fast path,
collected into :class:`HMMStats` with the emission's own expected sufficient statistics.
M-step (:func:`m_step`): π_k ∝ Σ_sequences γ(z_1k) (13.18); A_jk ∝ Σ_n ξ(z_{n-1,j}, z_nk)
(13.19); e_k from the expected number of sequences ending in k; the emission re-estimates
itself from its statistics (13.20-13.23 for categorical and Gaussian emissions).
:func:`q_function` is Q(θ, θᵗ) (13.17).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _hmm_batched as batched
from .emissions.base import normalise_rows, sum_count_log
from .inference import impossible
from .parameters import HMMParams, check_params
from .sequences import batch

__all__ = ["HMMStats", "e_step", "e_step_batch", "m_step", "m_step_checked", "q_function"]


@dataclass(frozen=True, eq=False)
class HMMStats:
    """Expected sufficient statistics of :func:`e_step`, summed over sequences.

    Attributes
    ----------
    start : (K,) Σ_sequences γ(z_1k).
    trans : (K, K) Σ_sequences Σ_n ξ(z_{n-1,j}, z_nk) (expected transition counts).
    end : (K,) Σ_sequences γ(z_Nk) (expected number of sequences stopping in k).
    occupancy : (K,) Σ_sequences Σ_n γ(z_nk).
    emission : tuple of arrays, the emission's statistics (see its ``statistics`` method).
    gamma : list of (N_s, K) arrays, the posteriors of every sequence.
    n_sequences, n_points : int.
    """

    start: np.ndarray
    trans: np.ndarray
    end: np.ndarray
    occupancy: np.ndarray
    emission: tuple
    gamma: list = field(repr=False)
    n_sequences: int
    n_points: int


def e_step_batch(data: batched.Batch, params: HMMParams):
    """:func:`e_step` on sequences already checked and laid out (once per fit)."""
    out = batched.forward_backward(data, params)
    if out is None:
        raise impossible("sequences")
    ll, gamma, xi_sum = out
    starts, ends = data.offsets[:-1], data.offsets[1:] - 1
    stats = HMMStats(start=gamma[starts].sum(axis=0), trans=xi_sum,
                     end=gamma[ends].sum(axis=0), occupancy=gamma.sum(axis=0),
                     emission=params.emission.statistics(data.prepared(params.emission),
                                                         gamma),
                     gamma=[gamma[a:b] for a, b in zip(starts, ends + 1)],
                     n_sequences=len(data.seqs),
                     n_points=data.n_points)
    return stats, float(ll.sum())


def e_step(sequences, params: HMMParams):
    """E-step: expected sufficient statistics and the total log-likelihood.

    Parameters
    ----------
    sequences : one sequence (an array) or a list of sequences of any lengths (see
        :mod:`emref.hmm.sequences`).
    params : HMMParams (θᵗ)

    Returns
    -------
    stats : HMMStats
    loglik : float, Σ_sequences ln p(X_s | θᵗ).
    """
    params = check_params(params)
    return e_step_batch(batch(sequences, params), params)


def m_step_checked(stats: HMMStats, params: HMMParams, options: dict) -> HMMParams:
    """:func:`m_step` with arguments already checked (``options``: the emission's, complete)."""
    startprob = stats.start / stats.start.sum()                  # π_k ∝ Σ γ(z_1k)   (13.18)
    emission = params.emission.m_step(stats.emission, **options)
    if params.endprob is None:
        transmat = normalise_rows(stats.trans)                   # A_jk ∝ Σ ξ_jk      (13.19)
        endprob = None
    else:  # the stop is one more "next state": row j of [A | e] ∝ [Σ ξ_j· | Σ γ(z_Nj)]
        both = normalise_rows(np.concatenate([stats.trans, stats.end[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
    return HMMParams(startprob, transmat, emission, endprob)


def _check_stats(stats) -> HMMStats:
    if not isinstance(stats, HMMStats):
        raise TypeError(f"stats must be an HMMStats (from e_step); found "
                        f"{type(stats).__name__}")
    return stats


def q_function(stats: HMMStats, params: HMMParams) -> float:
    """Q(θ, θᵗ) = E_{Z|X,θᵗ}[ln p(X, Z | θ)] from the expected counts of an E-step at θᵗ.

    Q = Σ_k γ(z_1k) ln π_k + Σ_n Σ_jk ξ(z_{n-1,j}, z_nk) ln A_jk (+ Σ_k γ(z_Nk) ln e_k with a
    STOP state) + Σ_n Σ_k γ(z_nk) ln p(x_n | φ_k)  (Bishop 13.17), summed over sequences.
    ``stats`` comes from :func:`e_step` at θᵗ; ``params`` is θ (same structure). Terms with
    zero expected count contribute 0 even where a probability is 0. :func:`m_step` returns
    the θ that maximises it.
    """
    params = check_params(params)
    stats = _check_stats(stats)
    q = sum_count_log(stats.start, params.startprob) + sum_count_log(stats.trans,
                                                                      params.transmat)
    if params.endprob is not None:
        q += sum_count_log(stats.end, params.endprob)
    return q + params.emission.expected_log_likelihood(stats.emission)


def m_step(stats: HMMStats, params: HMMParams, **emission_options) -> HMMParams:
    """M-step: θᵗ⁺¹ from the expected counts of :func:`e_step`.

    π_k = Σ γ(z_1k) / S; A_jk = Σ ξ(z_{n-1,j}, z_nk) / Σ_l Σ ξ(z_{n-1,j}, z_nl) without a
    STOP state, and A_jk = Σ ξ_jk / Σ_n γ(z_nj), e_j = Σ γ(z_Nj) / Σ_n γ(z_nj) with one; the
    emission re-estimates itself. ``params`` (θᵗ) supplies the model's structure (emission
    type, whether it has a STOP state). A state with no expected transitions out of it gets
    a uniform row. ``emission_options`` are the emission's own options (for example
    ``reg_covar`` of a Gaussian emission); one it does not take is a TypeError.
    """
    params = check_params(params)
    stats = _check_stats(stats)
    options = type(params.emission).check_options(emission_options, "m_step")
    return m_step_checked(stats, params, options)
