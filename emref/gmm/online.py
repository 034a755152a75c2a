"""Online (stepwise) EM and incremental EM for Gaussian mixtures, on the expected
sufficient statistics of :mod:`emref.gmm.missing`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _gmm_fast as fast
from .. import _gmm_missing as missing_fast
from .._stepwise import step_sizes
from .._validation import (
    check_data,
    check_int,
    check_n_clusters,
    check_option,
    check_real,
    check_seed,
    describe_shape,
)
from ..params import GMMParams
from .fitting import GMMResult, _check_init_for, _initial_params
from .missing import (
    GMMStats,
    _check_columns_observed,
    _complete_statistics,
    _fast_incomplete_statistics,
    _m_step_statistics,
    _observed_column_means,
)
from .steps import _LOG_2PI, COVARIANCE_TYPES, _log_weights

# --------------------------------------------------------------------------------------------
# Online (stepwise) EM and incremental EM
# --------------------------------------------------------------------------------------------
#
# Both work on the expected sufficient statistics s = (S0, S1, S2) of :class:`GMMStats`,
# whose M-step θ = M(s) is :func:`m_step_statistics`.
#
# Stepwise EM (Cappé & Moulines 2009; Liang & Klein 2009). Batch t = 0, 1, 2, ... of n_t
# points, met with the current θ_t, gives its average statistics s̄_t = (1/n_t) Σ_n
# E[s(x_n, z_n) | x_n, θ_t], and
#
#   ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,   η_t = (t + 2)^(-α),  0.5 < α <= 1,
#   θ_{t+1} = M(ŝ_t),
#
# a stochastic approximation of the batch EM fixed point s = E[s̄(θ(s))]. Σ_t η_t = ∞ and
# Σ_t η_t² < ∞ for α in (0.5, 1]. ŝ_{-1} = s(θ⁰), the statistics θ⁰ itself implies
# (π_k, π_k(μ_k - c), π_k(Σ_k + (μ_k - c)(μ_k - c)ᵀ)), so that M(ŝ_{-1}) = θ⁰. During the
# first ``n_warmup`` batches ŝ is updated but θ is not (Cappé & Moulines: the first M-steps
# would follow too few points). With a constant step η_t = 1 and one batch holding every
# point, θ_{t+1} = M(s̄(θ_t)) is batch EM.
#
# Incremental EM (Neal & Hinton 1998). The data are cut into fixed blocks b; S = Σ_b s_b.
# One step E-steps a single block at the current θ, S ← S - s_b(old) + s_b(new), θ ← M(S).
# It never lowers the free energy F(q, θ) = E_q[log p(X, Z | θ)] + H(q), where q is, block
# by block, the posterior at the θ where the block was last visited: F = Q(S; θ) + Σ_b H_b,
# with Q(S; θ) = Σ_k [S0_k log π_k - ½ S0_k (D log 2π + log|Σ_k|) - ½ tr(Σ_k⁻¹ M_k)],
# M_k = S2_k - d_k S1_kᵀ - S1_k d_kᵀ + S0_k d_k d_kᵀ, d_k = μ_k - c (Bishop 9.40 with the
# expected statistics), and H_b = log p(X_b | θ_b) - Q(s_b; θ_b) fixed at the visit.
# log p(X | θ) >= F, with equality after a full E-step.


@dataclass(frozen=True, eq=False)
class OnlineGMMResult(GMMResult):
    """What :func:`fit_online` and :func:`fit_incremental` return: a :class:`GMMResult`
    (see those functions for what ``resp``, ``loglik`` and ``loglik_history`` hold) and

    free_energy_history : ndarray or None
        :func:`fit_incremental`: the free energy F(q, θ) after its first full E-step and
        after every block step (never decreasing). :func:`fit_online`: None.
    n_points : int, the number of points read (over all passes).
    """

    free_energy_history: np.ndarray | None = None
    n_points: int = 0


def _statistics_of_params(params: GMMParams, shift: np.ndarray) -> GMMStats:
    """s(θ): the per-point statistics θ implies, so that M(s(θ)) = θ (without reg_covar)."""
    w = params.weights
    d = params.means - shift
    outer = params.covariances + d[:, :, None] * d[:, None, :]
    return GMMStats(w.copy(), w[:, None] * d, w[:, None, None] * outer, shift, 1.0)


def _batch_statistics(X: np.ndarray, params: GMMParams, shift: np.ndarray):
    """(GMMStats, resp, loglik) of one batch: the pattern E-step if anything is missing."""
    if np.isnan(X).any():
        return _fast_incomplete_statistics(missing_fast.PatternData(X, shift), params)
    return _complete_statistics(X, params, shift)


def _expected_complete_loglik(stats: GMMStats, params: GMMParams) -> float:
    """Q(S; θ) = Σ_k [S0_k log π_k - ½ S0_k (D log 2π + log|Σ_k|) - ½ tr(Σ_k⁻¹ M_k)]."""
    D = params.n_features
    d = params.means - stats.shift                                     # d_k = μ_k - c
    M = (stats.outer - d[:, :, None] * stats.sums[:, None, :]
         - stats.sums[:, :, None] * d[:, None, :]
         + stats.counts[:, None, None] * d[:, :, None] * d[:, None, :])  # M_k
    P = params.precisions_cholesky                                     # Σ_k⁻¹ = P_k P_kᵀ
    trace = np.einsum("kde,kdf,kfe->k", P, M, P)                       # tr(P_kᵀ M_k P_k)
    log_det = -2.0 * np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)  # log|Σ_k|
    with np.errstate(invalid="ignore"):
        log_w = np.where(stats.counts > 0, stats.counts * _log_weights(params.weights), 0.0)
    return float(log_w.sum() - 0.5 * (stats.counts * (D * _LOG_2PI + log_det)).sum()
                 - 0.5 * trace.sum())


def _passes(batches, n_passes: int, name: str = "batches"):
    """Yield (pass, index, checked batch) for ``n_passes`` passes over ``batches``."""
    if callable(batches):
        source = batches
    else:
        if isinstance(batches, (str, bytes, np.ndarray)) or batches is None:
            raise TypeError(f"{name} must be an iterable of (n_b, D) arrays (a list, a "
                            f"generator, or a function returning one); found "
                            f"{type(batches).__name__}")
        try:
            first_iter = iter(batches)
        except TypeError:
            raise TypeError(f"{name} must be an iterable of (n_b, D) arrays; found "
                            f"{type(batches).__name__}") from None
        if n_passes > 1 and first_iter is batches:
            raise ValueError(f"{name} is an iterator, which can be read only once; for "
                             f"n_passes = {n_passes} pass a list, or a function that returns "
                             f"a new iterator for every pass")
        source = lambda: batches
    D = None
    for p in range(n_passes):
        seen = 0
        for i, batch in enumerate(source()):
            label = f"{name}[{i}]"
            X = check_data(batch, label, allow_missing=True)
            if D is None:
                D = X.shape[1]
            elif X.shape[1] != D:
                raise ValueError(f"{label} must have D = {D} columns like the first batch; "
                                 f"found {describe_shape(X)}")
            seen += 1
            yield p, i, X
        if seen == 0:
            raise ValueError(f"{name} must hold at least one batch; found none"
                             + (f" on pass {p + 1}" if p else ""))


def _start_from_batch(X: np.ndarray, k: int, init, covariance_type: str, reg_covar: float,
                      rng: np.random.Generator, name: str) -> GMMParams:
    if isinstance(init, GMMParams):
        return _check_init_for(init, k, X.shape[1])
    check_n_clusters(k, X.shape[0], "k")
    if np.isnan(X).all(axis=0).any():
        raise ValueError(f"{name} (the first batch, which sets the start) has a column "
                         f"never observed; pass init=GMMParams or a fuller first batch")
    filled = np.where(np.isnan(X), _observed_column_means(X), X)
    return _initial_params(fast.SufficientData(filled), k, init, covariance_type, reg_covar,
                           rng)


def _check_online_options(k, init, covariance_type, reg_covar, n_passes):
    k = check_int(k, "k", low=1)
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    n_passes = check_int(n_passes, "n_passes", low=1)
    if not isinstance(init, (str, GMMParams)):
        raise TypeError(f"init must be 'kmeans', 'random' or a GMMParams; found "
                        f"{type(init).__name__}")
    if isinstance(init, str):
        check_option(init, "init", ("kmeans", "random"))
    return k, covariance_type, reg_covar, n_passes


def fit_online(batches, k, *, init="kmeans", covariance_type: str = "full",
               step_exponent: float = 0.6, step_size: float | None = None,
               n_warmup: int = 5, n_passes: int = 1, reg_covar: float = 1e-6,
               seed=None) -> OnlineGMMResult:
    """Stepwise (online) EM over mini-batches (Cappé & Moulines 2009).

    Batch t, met with θ_t, gives its average expected statistics s̄_t (:func:`expected_statistics`
    divided by its size: missing values are allowed); the running statistics and parameters are

        ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,  η_t = (t + 2)^(-α),  θ_{t+1} = M(ŝ_t)

    with M the M-step :func:`m_step_statistics` (Bishop 9.24-9.27 in the statistics) and
    ŝ_{-1} the statistics implied by θ⁰. Only one batch is held in memory at a time.

    Parameters
    ----------
    batches : iterable of (n_b, D) arrays, or a function returning such an iterable
        A list, or a generator (e.g. reading a file that does not fit in memory). NaN
        entries are missing values. With ``n_passes > 1`` it must be readable again: a list
        or a function called once per pass (a generator object is a ValueError).
    k : int >= 1, the number of components K.
    init : "kmeans", "random" or GMMParams
        "kmeans"/"random" are computed on the first batch (as :func:`fit` would), which must
        then hold at least k points.
    covariance_type : {"full", "diag", "spherical", "tied"}
    step_exponent : float, 0.5 < α <= 1
        The step sizes η_t = (t + 2)^(-α); α near 0.5 forgets the start fastest, α = 1 is a
        running average.
    step_size : None or float in (0, 1]
        A constant step η_t = step_size instead (1 with one batch holding all the data is
        batch EM, step for step).
    n_warmup : int >= 0
        For the first ``n_warmup`` batches ŝ is updated but θ stays θ⁰.
    n_passes : int >= 1, passes over ``batches``.
    reg_covar : float >= 0, added to every covariance's diagonal in every M-step.
    seed : None, int or numpy Generator (for the start).

    Returns
    -------
    OnlineGMMResult (a GMMResult)
        ``params``: the last θ. ``loglik_history``: one value per batch, the log-likelihood
        of batch t under θ_t, the parameters it met (a progressive validation score), then
        the log-likelihood of the last batch under the returned θ, which is also ``loglik``;
        ``resp``: that last batch's responsibilities under the returned θ; ``n_iter``: the
        number of batches processed; ``converged``: False (stepwise EM has no stopping test;
        compare held-out log-likelihoods).
    """
    k, covariance_type, reg_covar, n_passes = _check_online_options(
        k, init, covariance_type, reg_covar, n_passes)
    step = step_sizes(step_size, step_exponent)
    n_warmup = check_int(n_warmup, "n_warmup", low=0)
    rng = check_seed(seed)
    params = running = shift = last = None
    history = []
    t = n_points = 0
    for _, _, X in _passes(batches, n_passes):
        if params is None:
            params = _start_from_batch(X, k, init, covariance_type, reg_covar, rng,
                                       "batches[0]")
            if X.shape[1] != params.n_features:
                raise ValueError(f"batches[0] must have D = {params.n_features} columns "
                                 f"to match init; found {describe_shape(X)}")
            shift = _observed_column_means(X)                   # c: fixed for the run
            running = _statistics_of_params(params, shift)      # ŝ_{-1} = s(θ⁰)
        elif X.shape[1] != params.n_features:
            raise ValueError(f"batches must all have D = {params.n_features} columns")
        stats, _, loglik = _batch_statistics(X, params, shift)  # E-step at θ_t
        history.append(loglik)
        eta = step(t)                                           # η_t
        running = running.combined(stats.scaled(1.0 / X.shape[0]), 1.0 - eta, eta)  # ŝ_t
        if t + 1 > n_warmup:
            params = _m_step_statistics(running, covariance_type, reg_covar)  # θ_{t+1}
        t += 1
        n_points += X.shape[0]
        last = X
    _, resp, loglik = _batch_statistics(last, params, shift)
    history.append(loglik)
    return OnlineGMMResult(params=params, resp=resp, loglik=float(loglik),
                           loglik_history=np.asarray(history), n_iter=t, converged=False,
                           free_energy_history=None, n_points=n_points)


def fit_incremental(blocks, k, *, init="kmeans", covariance_type: str = "full",
                    n_passes: int = 10, reg_covar: float = 1e-6, seed=None) -> OnlineGMMResult:
    """Incremental EM over fixed blocks (Neal & Hinton 1998).

    A full E-step on every block at θ⁰ gives s_b and S = Σ_b s_b, θ¹ = M(S); then, pass after
    pass, block after block: s_b ← E-step of block b at the current θ, S ← S - s_b(old) +
    s_b(new), θ ← M(S) (:func:`m_step_statistics`). Every step raises (or keeps) the free
    energy F(q, θ) = Q(S; θ) + Σ_b H_b ≤ log p(X | θ), q being each block's posterior at its
    last visit; after a pass the parameters have seen B M-steps for the price of one E-step
    over the data.

    Parameters
    ----------
    blocks : list of (n_b, D) arrays (NaN entries are missing values), kept in memory.
    k, init, covariance_type, reg_covar, seed : as :func:`fit` ("kmeans"/"random" on all
        blocks together).
    n_passes : int >= 1, passes over the blocks after the first full E-step.

    Returns
    -------
    OnlineGMMResult (a GMMResult)
        ``loglik_history[p]``: log p(X | θ) of the full data after pass p (p = 0: θ⁰),
        ``n_iter`` = n_passes; ``resp`` and ``loglik`` at the returned θ;
        ``free_energy_history``: F after the first M-step and after every block step (it
        never decreases; with reg_covar > 0 the M-step is not an exact maximiser and F may
        fall by about reg_covar's effect).
    """
    k, covariance_type, reg_covar, n_passes = _check_online_options(
        k, init, covariance_type, reg_covar, n_passes)
    if not isinstance(blocks, (list, tuple)):
        raise TypeError(f"blocks must be a list of (n_b, D) arrays; found "
                        f"{type(blocks).__name__}")
    data = [X for _, _, X in _passes(list(blocks), 1, "blocks")]
    whole = np.concatenate(data)
    _check_columns_observed(whole, "blocks")
    rng = check_seed(seed)
    params = _start_from_batch(whole, k, init, covariance_type, reg_covar, rng, "blocks")
    if whole.shape[1] != params.n_features:
        raise ValueError(f"blocks must have D = {params.n_features} columns to match init")
    shift = _observed_column_means(whole)
    del whole

    def full_e_step(theta):
        out = [_batch_statistics(X, theta, shift) for X in data]
        return out, sum(o[2] for o in out)

    visits, loglik = full_e_step(params)                     # q_b = p(Z_b | X_b, θ⁰)
    history = [loglik]
    block_stats = [v[0] for v in visits]
    entropy = [v[2] - _expected_complete_loglik(v[0], params) for v in visits]   # H_b
    total = block_stats[0]
    for s in block_stats[1:]:
        total = total.combined(s)                            # S = Σ_b s_b
    params = _m_step_statistics(total, covariance_type, reg_covar)
    free_energy = [_expected_complete_loglik(total, params) + sum(entropy)]
    for _ in range(n_passes):
        for b, X in enumerate(data):
            stats, _, ll_b = _batch_statistics(X, params, shift)   # partial E-step
            entropy[b] = ll_b - _expected_complete_loglik(stats, params)
            total = total.combined(block_stats[b], 1.0, -1.0).combined(stats)  # S update
            block_stats[b] = stats
            params = _m_step_statistics(total, covariance_type, reg_covar)    # M-step
            free_energy.append(_expected_complete_loglik(total, params) + sum(entropy))
        visits, loglik = full_e_step(params)
        history.append(loglik)
    resp = np.concatenate([v[1] for v in visits])
    return OnlineGMMResult(params=params, resp=resp, loglik=float(loglik),
                           loglik_history=np.asarray(history), n_iter=n_passes,
                           converged=False, free_energy_history=np.asarray(free_energy),
                           n_points=int(sum(len(X) for X in data)))
