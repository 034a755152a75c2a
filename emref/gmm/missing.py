"""Missing values and the expected sufficient statistics S0, S1, S2 of a Gaussian mixture
(Dempster, Laird & Rubin 1977, §4.1.3; Ghahramani & Jordan 1994): the readable E-step per
missingness pattern, the M-step from statistics, imputation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _gmm_fast as fast
from .. import _gmm_missing as missing_fast
from .._validation import (
    as_float_array,
    check_not_collapsed,
    check_option,
    check_real,
    describe_shape,
)
from ..params import GMMParams
from .steps import (
    _LOG_2PI,
    COVARIANCE_TYPES,
    _check_data_for,
    _check_params,
    _log_weights,
)

# --------------------------------------------------------------------------------------------
# Missing values and expected sufficient statistics (Dempster, Laird & Rubin 1977, §4.1.3;
# Ghahramani & Jordan 1994)
# --------------------------------------------------------------------------------------------
#
# A point x_n is split into its observed coordinates o and its missing ones m (NaN), missing
# at random. Under component k, Bishop's partitioned Gaussian (§2.3.1-2.3.2) gives
#
#   marginal      p(x_o | z_k = 1) = N(x_o | μ_o, Σ_oo)                               (2.98)
#   conditional   x̂_m = E[x_m | x_o, z_k = 1] = μ_m + Σ_mo Σ_oo⁻¹ (x_o - μ_o)         (2.81)
#                 C_mm = cov[x_m | x_o, z_k = 1] = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om              (2.82)
#
# (μ, Σ those of component k). With Σ_oo = L Lᵀ (Cholesky), u = L⁻¹(x_o - μ_o) and
# V = L⁻¹ Σ_om: log N(x_o|μ_o,Σ_oo) = -½‖u‖² - Σ log L_ii - ½ d_o log 2π, x̂_m = μ_m + Vᵀu and
# C_mm = Σ_mm - VᵀV; no inverse is formed. All points sharing a missingness pattern share
# L and V, so the E-step loops over patterns, not over points.
#
# The E-step returns the expected sufficient statistics of the complete data, per component,
# taken about a fixed shift c (the observed column means) for accuracy:
#
#   S0_k = Σ_n γ(z_nk),  S1_k = Σ_n γ(z_nk) (x̃_nk - c),
#   S2_k = Σ_n γ(z_nk) [(x̃_nk - c)(x̃_nk - c)ᵀ + C̃_nk]
#
# where x̃_nk is x_n with its missing entries replaced by x̂_m under component k and C̃_nk is
# C_mm in the (m, m) block, zero elsewhere: E[x xᵀ] = x̂ x̂ᵀ + cov[x]. The M-step (9.24-9.27
# written in these statistics) is then
#
#   π_k = S0_k / N,  μ_k = c + S1_k / S0_k,  Σ_k = S2_k / S0_k - (μ_k - c)(μ_k - c)ᵀ (+ εI).
#
# With nothing missing these are exactly the complete-data statistics, and each iteration is
# complete-data EM. The log-likelihood reported is the observed-data one,
# Σ_n log Σ_k π_k N(x_{n,o} | μ_{k,o}, Σ_{k,oo}), which EM never lowers.


@dataclass(frozen=True, eq=False)
class GMMStats:
    """Expected sufficient statistics of a Gaussian mixture (what stepwise EM averages).

    Attributes
    ----------
    counts : ndarray (K,), S0_k = Σ_n γ(z_nk).
    sums : ndarray (K, D), S1_k = Σ_n γ(z_nk) (E[x_n | z_nk] - shift).
    outer : ndarray (K, D, D), S2_k = Σ_n γ(z_nk) E[(x_n - shift)(x_n - shift)ᵀ | z_nk]
        (the conditional covariance of missing entries included).
    shift : ndarray (D,), the point c the moments are taken about.
    n_points : float, the number of points the statistics summarise (N, or a running weight).
    """

    counts: np.ndarray
    sums: np.ndarray
    outer: np.ndarray
    shift: np.ndarray
    n_points: float

    def scaled(self, factor: float) -> GMMStats:
        """All statistics times ``factor`` (same shift)."""
        return GMMStats(self.counts * factor, self.sums * factor, self.outer * factor,
                        self.shift, self.n_points * factor)

    def combined(self, other: GMMStats, weight_self: float = 1.0,
                 weight_other: float = 1.0) -> GMMStats:
        """weight_self · self + weight_other · other (both about the same shift)."""
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("statistics must be taken about the same shift to be combined")
        return GMMStats(weight_self * self.counts + weight_other * other.counts,
                        weight_self * self.sums + weight_other * other.sums,
                        weight_self * self.outer + weight_other * other.outer,
                        self.shift, weight_self * self.n_points + weight_other * other.n_points)


def _observed_column_means(X: np.ndarray) -> np.ndarray:
    """The mean of each column over its observed entries (0 for a column never observed)."""
    seen = ~np.isnan(X)
    counts = seen.sum(axis=0)
    return np.where(seen, X, 0.0).sum(axis=0) / np.maximum(counts, 1)


def _check_columns_observed(X: np.ndarray, name: str = "X") -> None:
    never = np.flatnonzero(np.isnan(X).all(axis=0))
    if never.size:
        raise ValueError(f"{name} has column(s) {never.tolist()} never observed (all NaN): "
                         f"their mean and variance cannot be estimated; drop them")


def _missingness_patterns(missing: np.ndarray):
    """The distinct rows of the (N, D) mask and, for each, the indices of its points."""
    patterns, inverse = missing_fast.group_by_pattern(missing)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(patterns) + 1))
    return [(patterns[p], order[bounds[p]:bounds[p + 1]]) for p in range(len(patterns))]


def _pattern_conditionals(x_obs: np.ndarray, obs: np.ndarray, mis: np.ndarray,
                          params: GMMParams):
    """For the points of one pattern (rows ``x_obs``, (n, d_o)) and every component k:

    log N(x_o | μ_ko, Σ_k,oo) (K, n); the filled points x̃ (K, n, D) with x̂_m (2.81) in the
    missing coordinates; the conditional covariance C_mm (K, d_m, d_m) (2.82).
    """
    mu, cov = params.means, params.covariances
    K, D = mu.shape
    L = np.linalg.cholesky(cov[:, obs][:, :, obs])                   # Σ_oo = L Lᵀ
    diff = x_obs.T[None] - mu[:, obs, None]                            # x_o - μ_o  (K, d_o, n)
    u = np.linalg.solve(L, diff)                                       # u = L⁻¹(x_o - μ_o)
    log_det = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)     # ½ log|Σ_oo|
    log_marg = (-0.5 * np.einsum("kdn,kdn->kn", u, u) - log_det[:, None]
                - 0.5 * obs.sum() * _LOG_2PI)                          # log N(x_o|μ_o,Σ_oo) (2.98)
    filled = np.empty((K, x_obs.shape[0], D))
    filled[:, :, obs] = x_obs
    cond_cov = np.zeros((K, int(mis.sum()), int(mis.sum())))
    if mis.any():
        V = np.linalg.solve(L, cov[:, obs][:, :, mis])                 # V = L⁻¹ Σ_om
        filled[:, :, mis] = (mu[:, mis, None]
                             + np.einsum("kom,kon->kmn", V, u)).transpose(0, 2, 1)  # x̂_m (2.81)
        cond_cov = cov[:, mis][:, :, mis] - np.einsum("kom,kol->kml", V, V)  # C_mm (2.82)
    return log_marg, filled, cond_cov


def _incomplete_e_step(X: np.ndarray, params: GMMParams, shift: np.ndarray | None = None,
                       want: str = "stats"):
    """The E-step on incomplete data, grouped by missingness pattern.

    want="resp": (resp (N, K), observed-data log-likelihood);
    want="stats": (GMMStats, resp, log-likelihood); want="impute": the imputed X.
    """
    N, D = X.shape
    K = params.n_components
    missing = np.isnan(X)
    if shift is None:
        shift = np.zeros(D)
    log_w = _log_weights(params.weights)
    resp = np.empty((N, K))
    loglik = 0.0
    counts = np.zeros(K)
    sums = np.zeros((K, D))
    outer = np.zeros((K, D, D))
    imputed = X.copy() if want == "impute" else None
    for pattern, rows in _missingness_patterns(missing):
        obs, mis = ~pattern, pattern
        log_marg, filled, cond_cov = _pattern_conditionals(X[rows][:, obs], obs, mis, params)
        log_joint = log_marg + log_w[:, None]                   # log π_k N(x_o|μ_o,Σ_oo)
        log_norm = fast.normalise_log_columns(log_joint)            # now γ(z_nk), (K, n)  (9.23)
        loglik += float(log_norm.sum())                         # Σ_n log p(x_{n,o})
        gamma = log_joint
        resp[rows] = gamma.T
        if want == "impute" and mis.any():                      # E[x_m|x_o] = Σ_k γ x̂_m,k
            imputed[np.ix_(rows, np.flatnonzero(mis))] = np.einsum(
                "kn,knm->nm", gamma, filled[:, :, mis])
        if want != "stats":
            continue
        centred = filled - shift                                # x̃_nk - c
        nk = gamma.sum(axis=1)
        counts += nk                                            # S0_k += Σ_n γ
        sums += np.einsum("kn,knd->kd", gamma, centred)         # S1_k += Σ_n γ (x̃ - c)
        outer += np.einsum("kn,knd,kne->kde", gamma, centred, centred)  # Σ γ (x̃-c)(x̃-c)ᵀ
        if mis.any():
            idx = np.flatnonzero(mis)
            outer[:, idx[:, None], idx] += nk[:, None, None] * cond_cov  # + Σ γ C_mm
    if want == "impute":
        return imputed
    if want == "resp":
        return resp, loglik
    return GMMStats(counts, sums, outer, shift, float(N)), resp, loglik


def _complete_statistics(X: np.ndarray, params: GMMParams, shift: np.ndarray):
    """The same statistics for complete data from the fast E-step: (GMMStats, resp, loglik)."""
    resp_kn, loglik = fast.e_step_kn(np.ascontiguousarray(X.T), params)
    centred = X - shift
    counts = resp_kn.sum(axis=1)                                 # S0_k = Σ_n γ(z_nk)
    sums = resp_kn @ centred                                     # S1_k = Σ_n γ (x_n - c)
    outer = np.empty((params.n_components,) + (X.shape[1],) * 2)
    for k in range(params.n_components):                         # S2_k = Σ_n γ (x-c)(x-c)ᵀ
        outer[k] = (resp_kn[k][:, None] * centred).T @ centred
    return GMMStats(counts, sums, outer, shift, float(X.shape[0])), resp_kn.T, loglik


def expected_statistics(X, params: GMMParams, *, shift=None):
    """E-step as expected sufficient statistics, for complete or incomplete (NaN) data.

    Parameters
    ----------
    X : array of shape (N, D); NaN marks a missing entry (missing at random). A row with
        every entry missing is a ValueError.
    params : GMMParams (θᵗ)
    shift : None or array (D,), the point c the moments are taken about (default: 0).

    Returns
    -------
    stats : GMMStats
        S0_k = Σ_n γ(z_nk), S1_k = Σ_n γ(z_nk)(x̃_nk - c),
        S2_k = Σ_n γ(z_nk)[(x̃_nk - c)(x̃_nk - c)ᵀ + C̃_nk], where x̃_nk fills the missing
        coordinates m of x_n with x̂_m = μ_m + Σ_mo Σ_oo⁻¹(x_o - μ_o) (Bishop 2.81) and C̃_nk
        holds C_mm = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om (2.82) in the (m, m) block.
    resp : ndarray (N, K), γ(z_nk) = p(z_n = k | x_{n,o}, θᵗ).
    loglik : float, the observed-data log-likelihood Σ_n log Σ_k π_k N(x_{n,o}|μ_{k,o},Σ_{k,oo}).
    """
    params = _check_params(params)
    X = _check_data_for(X, params, allow_missing=True)
    D = X.shape[1]
    shift = np.zeros(D) if shift is None else as_float_array(shift, "shift", ndim=1)
    if shift.shape != (D,):
        raise ValueError(f"shift must have shape ({D},); found {describe_shape(shift)}")
    if np.isnan(X).any():
        return _incomplete_e_step(X, params, shift, "stats")
    return _complete_statistics(X, params, shift)


def _covariance_full(nk, means_c, outer):
    return outer / nk[:, None, None] - means_c[:, :, None] * means_c[:, None, :]


def _covariance_diag(nk, means_c, outer):
    var = np.diagonal(outer, axis1=1, axis2=2) / nk[:, None] - means_c ** 2
    return var[:, :, None] * np.eye(means_c.shape[1])


def _covariance_spherical(nk, means_c, outer):
    D = means_c.shape[1]
    var = np.trace(outer, axis1=1, axis2=2) / nk - (means_c ** 2).sum(axis=1)
    return (var / D)[:, None, None] * np.eye(D)


def _covariance_tied(nk, means_c, outer):
    K, D = means_c.shape
    shared = (outer.sum(axis=0) - (nk * means_c.T) @ means_c) / nk.sum()  # Σ_k N_k Σ_k / N
    return np.broadcast_to(shared, (K, D, D)).copy()


# M-step covariance from the statistics, one function per covariance type.
_COVARIANCE_FROM_STATISTICS = {
    "full": _covariance_full,            # Σ_k = S2_k / N_k - (μ_k - c)(μ_k - c)ᵀ
    "diag": _covariance_diag,            # only its diagonal
    "spherical": _covariance_spherical,  # its trace / D times I
    "tied": _covariance_tied,            # Σ = Σ_k N_k Σ_k / N, shared
}


def _check_stats(stats) -> GMMStats:
    if not isinstance(stats, GMMStats):
        raise TypeError(f"stats must be a GMMStats (from expected_statistics); found "
                        f"{type(stats).__name__}")
    return stats


def _m_step_statistics(stats: GMMStats, covariance_type: str, reg_covar: float) -> GMMParams:
    D = stats.sums.shape[1]
    nk = stats.counts + 10 * np.finfo(float).eps     # N_k = S0_k                  (9.27)
    means_c = stats.sums / nk[:, None]               # μ_k - c = S1_k / N_k         (9.24)
    cov = _COVARIANCE_FROM_STATISTICS[covariance_type](nk, means_c, stats.outer)  # (9.25)
    if reg_covar == 0.0:
        check_not_collapsed(cov, means_c)
    cov += reg_covar * np.eye(D)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return GMMParams(nk / nk.sum(), means_c + stats.shift, cov)  # π_k = N_k / N   (9.26)


def m_step_statistics(stats: GMMStats, *, covariance_type: str = "full",
                      reg_covar: float = 1e-6) -> GMMParams:
    """M-step from expected sufficient statistics (complete, incomplete or averaged).

    π_k = S0_k / Σ_j S0_j, μ_k = c + S1_k / S0_k, Σ_k = S2_k / S0_k - (μ_k - c)(μ_k - c)ᵀ
    + reg_covar·I (Bishop 9.24-9.27 with the data's moments replaced by their conditional
    expectations); "diag" keeps the diagonal, "spherical" the mean variance, "tied" the
    average Σ_k N_k Σ_k / N. S0_k gets 10 machine epsilons as in :func:`m_step`.
    """
    stats = _check_stats(stats)
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    return _m_step_statistics(stats, covariance_type, reg_covar)


def impute(X, params: GMMParams) -> np.ndarray:
    """X with every missing (NaN) entry replaced by its conditional mean under the mixture.

    E[x_m | x_o, θ] = Σ_k γ(z_nk) x̂_m,k with x̂_m,k = μ_km + Σ_k,mo Σ_k,oo⁻¹ (x_o - μ_ko)
    (Bishop 2.81) and γ(z_nk) computed from the observed coordinates alone. Observed entries
    are returned unchanged; a row with nothing missing is copied as it is.
    """
    params = _check_params(params)
    X = _check_data_for(X, params, allow_missing=True)
    if not np.isnan(X).any():
        return X.copy()
    return _incomplete_e_step(X, params, want="impute")


def _stats_and_loglik(e_step_output):
    """(stats, resp, loglik) -> ((stats, resp), loglik), the shape :func:`em.run` expects."""
    stats, resp, loglik = e_step_output
    return (stats, resp), loglik


def _fast_incomplete_statistics(data: missing_fast.PatternData, params: GMMParams):
    """(GMMStats, resp, loglik) as :func:`_incomplete_e_step` computes them, by the faster
    path of ``emref._gmm_missing`` (patterns grouped once, sums over all points at once)."""
    counts, sums, outer, resp, loglik = missing_fast.e_step(
        data, params.means, params.covariances, _log_weights(params.weights))
    return GMMStats(counts, sums, outer, data.shift, float(data.N)), resp, loglik
