"""The fast M-step of :func:`emref.gmm.fit`: every component's statistics in one product.

This module is private. The readable reference is :func:`emref.gmm.m_step` (a loop over the
components, as Bishop's eqs 9.24-9.27 read); :func:`m_step` here computes the same
parameters (the tests hold the two to 1e-10 of each other) from responsibilities laid out
as (K, N): the data are centred once per fit and their pairwise products x_i x_j (i <= j)
stored, so that the scatter matrices of all components come from one matrix product with the
responsibilities instead of a loop over components.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_not_collapsed
from .params import GMMParams

__all__ = ["SufficientData", "m_step"]


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
