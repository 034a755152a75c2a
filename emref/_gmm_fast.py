"""The fast E- and M-steps of :func:`emref.gmm.fit`: all components at once.

This module is private. The readable references are :func:`emref.gmm.e_step` (Bishop 9.23,
a loop over the components) and :func:`emref.gmm.m_step` (9.24-9.27, a loop over the
components); :func:`e_step` and :func:`m_step` here compute the same numbers (the tests hold
them equal) in a (K, N) layout. E-step: the Mahalanobis terms of every component come from
one cache-blocked matrix product (:func:`emref.gaussian.log_density_kn`) and each column is
normalised in place. M-step: the data are centred once per fit and their pairwise products
x_i x_j (i <= j) stored, so that the scatter matrices of all components come from one matrix
product with the responsibilities instead of a loop over components.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_not_collapsed
from .gaussian import log_density_kn
from .params import GMMParams

__all__ = ["SufficientData", "e_step", "e_step_kn", "m_step", "normalise_log_columns"]


def normalise_log_columns(a: np.ndarray) -> np.ndarray:
    """In place: a[k, n] -> exp(a[k, n] - log Σ_j exp(a[j, n])); returns the column log-sums.

    Shifting each column by its maximum keeps exp from overflowing or underflowing to an
    all-zero column, so a point far from every component still gets responsibilities.
    """
    amax = a.max(axis=0)
    a -= amax
    np.exp(a, out=a)
    total = a.sum(axis=0)
    a /= total
    np.log(total, out=total)
    total += amax
    return total


def e_step_kn(XT: np.ndarray, params: GMMParams):
    """E-step on Xᵀ (D, N): responsibilities as a (K, N) array and the log-likelihood."""
    log_prob = log_density_kn(XT, params.means, params.precisions_cholesky)
    with np.errstate(divide="ignore"):
        log_prob += np.log(params.weights)[:, None]
    log_norm = normalise_log_columns(log_prob)
    return log_prob, float(log_norm.sum())


def e_step(X: np.ndarray, params: GMMParams):
    """The E-step of :func:`emref.gmm.e_step` on complete, checked data: (resp (N, K), loglik)."""
    resp_kn, loglik = e_step_kn(np.ascontiguousarray(X.T), params)
    return resp_kn.T, loglik


class SufficientData:
    """The data-only parts of EM, computed once per fit.

    Xᵀ is kept contiguous for the E-step. For the M-step the data are centred at their mean,
    which keeps E[xxᵀ] - μμᵀ accurate, and the pairwise products x_i x_j (i <= j) are stored
    so that every component's scatter matrix comes from one matrix product with the
    responsibilities instead of a loop over components.
    """

    # Above this many floats the pairwise products are not stored; full covariances are then
    # computed component by component.
    max_pair_floats = 1 << 25

    def __init__(self, X: np.ndarray):
        self.X = X
        self.XT = np.ascontiguousarray(X.T)
        self.center = X.mean(axis=0)
        self.XcT = self.XT - self.center[:, None]
        self.iu = np.triu_indices(X.shape[1])
        self._pairs = None
        self._squares = None

    @property
    def pairs(self):
        """(D(D+1)/2, N): rows x_i x_j of the centred data for i <= j, or None if too big."""
        if self._pairs is None and self.X.shape[0] * len(self.iu[0]) <= self.max_pair_floats:
            i, j = self.iu
            self._pairs = self.XcT[i] * self.XcT[j]
        return self._pairs

    @property
    def squares(self):
        """(D, N): squares of the centred data."""
        if self._squares is None:
            self._squares = self.XcT * self.XcT
        return self._squares


def _full_covariances(data: SufficientData, resp_kn, nk, means_c):
    K, D = means_c.shape
    pairs = data.pairs
    cov = np.empty((K, D, D))
    if pairs is None:
        for k in range(K):
            diff = data.XcT - means_c[k][:, None]
            cov[k] = (resp_kn[k] * diff) @ diff.T / nk[k]
        return cov
    upper = (resp_kn @ pairs.T) / nk[:, None]
    i, j = data.iu
    cov[:, i, j] = upper
    cov[:, j, i] = upper
    cov -= means_c[:, :, None] * means_c[:, None, :]
    # E[xxᵀ] - μμᵀ cancels for a component that is thin (in any direction) far from the data
    # mean, as one collapsing onto a point or a line: redo those two-pass, as scikit-learn.
    var = np.diagonal(cov, axis1=1, axis2=2)
    thin = np.linalg.eigvalsh(cov)[:, 0] <= 1e-6 * (var + means_c ** 2).max(axis=1)
    for k in np.flatnonzero(thin):
        diff = data.XcT - means_c[k][:, None]
        cov[k] = (resp_kn[k] * diff) @ diff.T / nk[k]
    return cov


def m_step(data: SufficientData, resp_kn: np.ndarray, covariance_type: str,
            reg_covar: float) -> GMMParams:
    """M-step from responsibilities laid out as (K, N)."""
    K = resp_kn.shape[0]
    D = data.X.shape[1]
    # 10 eps keeps an empty component finite (its mean becomes the data mean), as sklearn.
    nk = resp_kn.sum(axis=1) + 10 * np.finfo(float).eps
    means_c = (resp_kn @ data.XcT.T) / nk[:, None]
    if covariance_type == "full":
        cov = _full_covariances(data, resp_kn, nk, means_c)
    elif covariance_type == "tied":
        shared = (data.XcT @ data.XcT.T - (nk * means_c.T) @ means_c) / nk.sum()
        cov = np.broadcast_to(shared, (K, D, D)).copy()
    else:
        var = (resp_kn @ data.squares.T) / nk[:, None] - means_c ** 2
        if covariance_type == "spherical":
            var = np.repeat(var.mean(axis=1, keepdims=True), D, axis=1)
        cov = var[:, :, None] * np.eye(D)
    if reg_covar == 0.0:
        check_not_collapsed(cov, means_c)
    cov += reg_covar * np.eye(D)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return GMMParams(nk / nk.sum(), means_c + data.center, cov)
