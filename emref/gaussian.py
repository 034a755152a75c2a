"""Gaussian log-densities, shared by :mod:`emref.gmm` and the HMM's Gaussian emission.

Both models need ln N(x_n | μ_k, Σ_k) for every point and every component (or state), many
times per fit. The computation lives here, in one public place, from the Cholesky factors of
the precisions P_k (Σ_k⁻¹ = P_k P_kᵀ, as :class:`emref.gmm.GMMParams` and
:class:`emref.hmm.Gaussian` store them, never an explicit inverse):

.. math::

    \\ln \\mathcal N(x \\mid \\mu_k, \\Sigma_k) = -\\tfrac D2 \\ln 2\\pi
        + \\sum_d \\ln (P_k)_{dd} - \\tfrac12 \\lVert P_k^\\top (x - \\mu_k) \\rVert^2
    \\qquad \\text{(Bishop 2.43)}

since -½ ln|Σ_k| = ln|P_k| = Σ_d ln (P_k)_dd. :func:`emref.gmm.log_gaussian` is the checked
entry point that takes covariances.
"""

from __future__ import annotations

import numpy as np

from ._validation import describe_shape

__all__ = ["log_density", "log_density_kn"]

_LOG_2PI = np.log(2.0 * np.pi)
# Floats of working memory one vectorised block may use; bounds the (K*D, columns) products.
_BLOCK_FLOATS = 1 << 18


def _check_shapes(D: int, means: np.ndarray, precisions_cholesky: np.ndarray) -> None:
    if means.ndim != 2 or means.shape[1] != D:
        raise ValueError(f"means must have shape (K, {D}) to match the data's D = {D}; found "
                         f"{describe_shape(means)}")
    K = means.shape[0]
    if precisions_cholesky.shape != (K, D, D):
        raise ValueError(f"precisions_cholesky must have shape ({K}, {D}, {D}), one factor per "
                         f"row of means; found {describe_shape(precisions_cholesky)}")


def log_density_kn(XT: np.ndarray, means: np.ndarray,
                   precisions_cholesky: np.ndarray) -> np.ndarray:
    """ln N(x_n | μ_k, Σ_k) for every k and n, shape (K, N), from Xᵀ of shape (D, N).

    Parameters
    ----------
    XT : float array (D, N), the data transposed (C-contiguous is fastest).
    means : float array (K, D)
    precisions_cholesky : float array (K, D, D), P_k with Σ_k⁻¹ = P_k P_kᵀ.

    Notes
    -----
    The Mahalanobis terms ‖P_kᵀ(x_n - μ_k)‖² of every component come from one matrix product
    [P_1 ... P_K]ᵀ Xᵀ, done in column blocks that fit in cache. Components run along the
    first axis so that sums over D and over K are sums of contiguous rows.
    """
    D, N = XT.shape
    _check_shapes(D, means, precisions_cholesky)
    K = means.shape[0]
    # Rows k*D..(k+1)*D-1 of PT are P_kᵀ; shift holds P_kᵀ μ_k in the same order.
    PT = np.ascontiguousarray(precisions_cholesky.transpose(0, 2, 1).reshape(K * D, D))
    shift = np.einsum("kd,kde->ke", means, precisions_cholesky).reshape(K * D, 1)
    const = (np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
             - 0.5 * D * _LOG_2PI)
    out = np.empty((K, N))
    cols = max(1, _BLOCK_FLOATS // (K * D))
    for start in range(0, N, cols):
        y = PT @ XT[:, start:start + cols]
        y -= shift
        y *= y
        out[:, start:start + cols] = y.reshape(K, D, -1).sum(axis=1)
    out *= -0.5
    out += const[:, None]
    return out


def log_density(X: np.ndarray, means: np.ndarray, precisions_cholesky: np.ndarray) -> np.ndarray:
    """ln N(x_n | μ_k, Σ_k), shape (N, K) (scikit-learn's layout), for X of shape (N, D).

    See :func:`log_density_kn` for the arguments; X must be a finite float array (N, D).
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of shape (N, D); found {describe_shape(X)}")
    return log_density_kn(np.ascontiguousarray(X.T), means, precisions_cholesky).T
