"""Stepwise EM for an HMM over batches of sequences (Liang & Klein 2009), for every emission.

Batch t (a list of sequences), met with θ_t, gives its expected statistics per sequence
s̄_t = (1/S_t) Σ_sequences (Σ γ(z_1k), Σ_n ξ(z_{n-1,j}, z_nk), Σ γ(z_Nk), Σ_n γ(z_nk),
the emission's Σ_n γ(z_nk) s(x_n)) from forward-backward (Bishop 13.64-13.65), and

    ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,   η_t = (t + 2)^(-α),   θ_{t+1} = M(ŝ_t),

M being the Baum-Welch M-step (13.18-13.23). Every emission takes part through three
methods of its class: ``statistics_of`` (ŝ_{-1}, statistics with the proportions of θ⁰),
``scale_statistics`` and ``mix_statistics`` (the last two are plain array arithmetic unless
the statistics hold something that is not a sum, as the Gaussian's centre). An emission
without ``statistics_of`` cannot start stepwise EM, and says so.
"""

from __future__ import annotations

import numpy as np

from .._stepwise import step_sizes
from .._validation import check_int, check_seed
from .em_steps import HMMStats, e_step_batch, m_step_checked
from .learning import HMMResult, model_options, random_params
from .parameters import HMMParams
from .sequences import batch, many_sequences

__all__ = ["fit_stepwise"]


def _scaled_stats(stats: HMMStats, factor: float, emission) -> HMMStats:
    return HMMStats(start=stats.start * factor, trans=stats.trans * factor,
                    end=stats.end * factor, occupancy=stats.occupancy * factor,
                    emission=emission.scale_statistics(stats.emission, factor), gamma=[],
                    n_sequences=stats.n_sequences, n_points=stats.n_points)


def _mixed_stats(old: HMMStats, new: HMMStats, eta: float, emission) -> HMMStats:
    """(1 - η) old + η new, entry by entry (the emission's by its ``mix_statistics``)."""
    def mix(a, b):
        return (1.0 - eta) * a + eta * b
    return HMMStats(start=mix(old.start, new.start), trans=mix(old.trans, new.trans),
                    end=mix(old.end, new.end), occupancy=mix(old.occupancy, new.occupancy),
                    emission=emission.mix_statistics(old.emission, new.emission, eta),
                    gamma=[], n_sequences=new.n_sequences, n_points=new.n_points)


def _statistics_of_params(params: HMMParams, like: HMMStats) -> HMMStats:
    """Counts with the row totals of ``like`` and the proportions of θ, so that the M-step
    returns θ: ŝ_{-1}, a start worth one batch."""
    out_of = like.trans.sum(axis=1) + (like.end if params.endprob is not None else 0.0)
    trans = params.transmat * out_of[:, None]
    end = params.endprob * out_of if params.endprob is not None else like.end
    return HMMStats(start=params.startprob * like.start.sum(), trans=trans, end=end,
                    occupancy=like.occupancy.copy(),
                    emission=params.emission.statistics_of(like.occupancy), gamma=[],
                    n_sequences=like.n_sequences, n_points=like.n_points)


def _source(batches, n_passes: int):
    """A function returning a fresh iterator over the batches."""
    if callable(batches):
        return batches
    if isinstance(batches, (str, bytes, np.ndarray)) or batches is None or not hasattr(
            batches, "__iter__"):
        raise TypeError(f"batches must be an iterable of batches of sequences (a list, "
                        f"a generator, or a function returning one); found "
                        f"{type(batches).__name__}")
    if n_passes > 1 and iter(batches) is batches:
        raise ValueError(f"batches is an iterator, which can be read only once; for "
                         f"n_passes = {n_passes} pass a list, or a function that returns "
                         f"a new iterator for every pass")
    return lambda: batches


def fit_stepwise(batches, n_states, *, init="random", emission=None,
                 step_exponent: float = 0.7, step_size: float | None = None,
                 n_passes: int = 1, n_warmup: int = 0, seed=None, with_endprob: bool = False,
                 **emission_options) -> HMMResult:
    """Stepwise EM for an HMM over batches of sequences (Liang & Klein 2009).

    See the module's docstring for the update. ŝ_{-1} has the proportions of θ⁰ and the size
    of the first batch's statistics. With ``step_size=1`` and one batch holding every
    sequence this is Baum-Welch, step for step. Tagged-then-untagged: start from
    :func:`emref.hmm.fit_supervised` on the tagged sequences, then stream the untagged ones.

    Parameters
    ----------
    batches : iterable of batches, each one sequence (an array) or a list of sequences, or a
        function returning such an iterable; with ``n_passes > 1`` a list or such a function
        (a generator object can be read only once).
    n_states : int >= 1
    init : "random" or HMMParams
        "random": as :func:`emref.hmm.fit`, drawn from the first batch.
    emission : None or a name in :data:`EMISSIONS`, as for :func:`emref.hmm.fit`.
    step_exponent : float, 0.5 < α <= 1.
    step_size : None or float in (0, 1], a constant step instead of (t + 2)^(-α).
    n_passes : int >= 1; n_warmup : int >= 0, batches during which θ stays θ⁰.
    seed : None, int or numpy Generator.
    with_endprob : bool, give a random start a STOP state.
    **emission_options : the emission's own options, as for :func:`emref.hmm.fit`.

    Returns
    -------
    HMMResult
        ``loglik_history``: ln p(batch t | θ_t) for every batch, then ln p(last batch | θ)
        at the returned θ (= ``loglik``); ``n_iter``: batches processed; ``converged``:
        False (no stopping test); ``stats``: the last batch's E-step at the returned θ.
    """
    K = check_int(n_states, "n_states", low=1)
    n_passes = check_int(n_passes, "n_passes", low=1)
    n_warmup = check_int(n_warmup, "n_warmup", low=0)
    step = step_sizes(step_size, step_exponent)
    cls, options = model_options(init, emission, K, "fit_stepwise", emission_options)
    rng = check_seed(seed)
    source = _source(batches, n_passes)
    params = init if isinstance(init, HMMParams) else None
    running = last = None
    history = []
    t = 0
    for p in range(n_passes):
        seen = 0
        for i, sequences in enumerate(source()):
            name = f"batches[{i}]"
            if params is None:
                X = many_sequences(sequences, cls, cls.sequence_size(options), name)[1]
                params = random_params(cls, X, K, rng, with_endprob, options)
            data = batch(sequences, params, name)
            stats, loglik = e_step_batch(data, params)                   # E-step at θ_t
            history.append(loglik)
            mean = _scaled_stats(stats, 1.0 / stats.n_sequences, params.emission)  # s̄_t
            if running is None:
                running = _statistics_of_params(params, mean)            # ŝ_{-1}
            eta = step(t)                                                # η_t
            running = _mixed_stats(running, mean, eta, params.emission)  # ŝ_t
            if t + 1 > n_warmup:
                params = m_step_checked(running, params, options)        # θ_{t+1} = M(ŝ_t)
            t += 1
            seen += 1
            last = data
        if seen == 0:
            raise ValueError("batches must hold at least one batch; found none"
                             + (f" on pass {p + 1}" if p else ""))
    stats, loglik = e_step_batch(last, params)
    history.append(loglik)
    return HMMResult(params=params, loglik=float(loglik), loglik_history=np.asarray(history),
                     n_iter=t, converged=False, stats=stats)
