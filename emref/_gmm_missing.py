"""The fast E-step of :func:`emref.gmm.fit` on data with missing values.

This module is private. The readable reference is ``emref.gmm.missing._incomplete_e_step`` (behind
:func:`emref.gmm.expected_statistics`, :func:`emref.gmm.e_step` and :func:`emref.gmm.impute`):
one missingness pattern at a time, every statistic accumulated inside the loop. Here the
same numbers are computed with the pattern grouping done once per fit (the rows sorted by
pattern, so that each pattern is a contiguous slice) and only what differs between patterns
inside the loop: the Cholesky factor of Σ_oo, the Mahalanobis terms and the conditional
means x̂_m = μ_m + Vᵀu (Bishop 2.81), written into one (K, N, D) array of filled points.
The responsibilities and the sums S0, S1, S2 then come from a handful of operations over
all points at once (batched matrix products), plus the conditional covariances
C_mm = Σ_mm - VᵀV (2.82) weighted by each pattern's Σ_n γ(z_nk). The tests hold
:func:`emref.gmm.fit` on incomplete data to the reference loop to 1e-10.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PatternData", "e_step", "group_by_pattern"]

_LOG_2PI = np.log(2.0 * np.pi)


def group_by_pattern(missing: np.ndarray):
    """(patterns (P, D) bool, inverse (N,) pattern index of each row) of an (N, D) mask.

    Rows are coded as integers (bit d set where coordinate d is missing) when D <= 62, which
    is much faster than ``np.unique(..., axis=0)`` on boolean rows.
    """
    D = missing.shape[1]
    if D <= 62:
        codes = missing.astype(np.int64) @ (np.int64(1) << np.arange(D, dtype=np.int64))
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        return missing[first], inverse.ravel()
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    return patterns, inverse.ravel()


class PatternData:
    """The data-only part of the incomplete-data E-step, computed once per fit.

    ``order`` sorts the rows by pattern, so that each pattern is a contiguous slice; the
    sorted rows, centred at ``shift`` with missing entries set to 0 (x⁰), and their
    pairwise products x⁰_i x⁰_j (i <= j) are stored, so that the part of S2_k that comes
    from observed coordinates, Σ_n γ(z_nk) x⁰_n x⁰_nᵀ, is one matrix product for all
    components. Patterns with the same number d_o of observed coordinates form one group,
    whose Σ_oo blocks (every pattern, every component) one batched Cholesky call factors:
    ``groups`` holds, per d_o, the observed and missing coordinate indices (P, d_o) and
    (P, D - d_o) of its P patterns and, per pattern, its row slice and its centred observed
    values (d_o, n), contiguous.
    """

    def __init__(self, X: np.ndarray, shift: np.ndarray):
        self.N, self.D = X.shape
        self.shift = shift
        missing = np.isnan(X)
        patterns, inverse = group_by_pattern(missing)
        self.order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[self.order], np.arange(len(patterns) + 1))
        self.starts = bounds[:-1]
        Xs = X[self.order] - shift
        self.centred_zero = np.where(np.isnan(Xs), 0.0, Xs)            # x⁰_n, (N, D)
        self.iu = np.triu_indices(self.D)
        i, j = self.iu
        self.pairs = self.centred_zero[:, i] * self.centred_zero[:, j]  # (N, D(D+1)/2)
        n_obs = (~patterns).sum(axis=1)
        self.groups = []
        for d in np.unique(n_obs):
            members = np.flatnonzero(n_obs == d)
            obs = np.array([np.flatnonzero(~patterns[p]) for p in members]).reshape(-1, d)
            mis = np.array([np.flatnonzero(patterns[p]) for p in members]).reshape(
                len(members), self.D - d)
            rows = []
            for p in members:
                start, stop = int(bounds[p]), int(bounds[p + 1])
                x_obs = np.ascontiguousarray(self.centred_zero[start:stop][:, ~patterns[p]].T)
                rows.append((int(p), start, stop, x_obs))                 # x_o - c, (d_o, n)
            self.groups.append((obs, mis, rows))


def e_step(data: PatternData, means: np.ndarray, covariances: np.ndarray,
           log_weights: np.ndarray):
    """(counts (K,), sums (K, D), outer (K, D, D) about ``data.shift``, resp (N, K) in the
    caller's row order, observed-data log-likelihood)."""
    K, D = means.shape
    N = data.N
    means_c = means - data.shift                                        # μ - c
    log_prob = np.empty((K, N))
    fills = []                                                          # per pattern
    for obs, mis, rows in data.groups:
        d_o, d_m = obs.shape[1], mis.shape[1]
        cov_oo = covariances[:, obs[:, :, None], obs[:, None, :]]      # (K, P, d_o, d_o)
        L = np.linalg.cholesky(cov_oo)                                  # Σ_oo = L Lᵀ
        # L⁻¹ of the triangular factor (as GMMParams.precisions_cholesky), so that the
        # solves for all n points of a pattern become one matrix product
        L_inv = np.linalg.solve(L, np.broadcast_to(np.eye(d_o), L.shape))
        const = (np.log(np.diagonal(L, axis1=2, axis2=3)).sum(axis=2)
                 + 0.5 * d_o * _LOG_2PI)                                # ½ log|2π Σ_oo|
        shifted = (L_inv @ means_c[:, obs][..., None])[..., 0]         # L⁻¹(μ_o - c_o)
        if d_m:
            V = L_inv @ covariances[:, obs[:, :, None], mis[:, None, :]]  # L⁻¹ Σ_om
            VT = np.swapaxes(V, 2, 3)
            C = covariances[:, mis[:, :, None], mis[:, None, :]] - VT @ V  # C_mm (2.82)
            mu_m = means_c[:, mis]                                      # μ_m - c (K, P, d_m)
        for j, (p, start, stop, x_obs) in enumerate(rows):
            n = stop - start
            u = L_inv[:, j].reshape(K * d_o, d_o) @ x_obs               # L⁻¹(x_o - μ_o)
            u -= shifted[:, j].reshape(K * d_o, 1)
            u = u.reshape(K, d_o, n)
            log_prob[:, start:stop] = -0.5 * np.einsum("kdn,kdn->kn", u, u) - const[:, j, None]
            if d_m:                                                     # x̂_m - c   (2.81)
                fills.append((obs[j], mis[j], start, stop, x_obs,
                              mu_m[:, j, :, None] + VT[:, j] @ u, C[:, j]))
    log_prob += log_weights[:, None]
    top = log_prob.max(axis=0)
    log_prob -= top
    np.exp(log_prob, out=log_prob)
    total = log_prob.sum(axis=0)
    log_prob /= total
    gamma = log_prob                                                    # γ(z_nk), (K, N)
    loglik = float((np.log(total) + top).sum())
    # Observed coordinates (x⁰, zero where missing) for all points at once ...
    counts = gamma.sum(axis=1)                                          # S0_k
    sums = gamma @ data.centred_zero                                    # S1_k, observed part
    upper = gamma @ data.pairs
    outer = np.empty((K, D, D))
    i, j = data.iu
    outer[:, i, j] = upper                                              # Σ γ x⁰ x⁰ᵀ
    outer[:, j, i] = upper
    # ... then the filled-in coordinates, pattern by pattern: x̃ = x⁰ + x̂_m (in m), so
    # x̃x̃ᵀ adds x⁰_o x̂_mᵀ (and its transpose) and x̂_m x̂_mᵀ, and E[x xᵀ] adds C_mm.
    for obs, mis, start, stop, x_obs, x_hat, C in fills:
        g = gamma[:, None, start:stop]
        gx = x_hat * g                                                  # γ x̂_m, (K, d_m, n)
        sums[:, mis] += gx.sum(axis=2)
        cross = np.matmul(x_obs, np.swapaxes(gx, 1, 2))                 # Σ γ x⁰_o x̂_mᵀ
        outer[:, obs[:, None], mis] += cross
        outer[:, mis[:, None], obs] += np.swapaxes(cross, 1, 2)
        outer[:, mis[:, None], mis] += (gx @ np.swapaxes(x_hat, 1, 2)
                                        + g.sum(axis=2)[:, :, None] * C)
    resp = np.empty((N, K))
    resp[data.order] = gamma.T
    return counts, sums, outer, resp, loglik
