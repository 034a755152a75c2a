"""Parameter containers, apart from the algorithms that estimate them.

:class:`GMMParams` lives here, not in :mod:`emref.gmm`, so that code which must see the
parameters but not the algorithms (the grading sandbox's student-facing emref, see
emcourse_grader.sandbox) can import it alone. ``emref.gmm.GMMParams`` is the same class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import as_float_array, check_covariances, check_probability_vector, describe_shape

__all__ = ["GMMParams", "precision_cholesky_from_cholesky"]


def precision_cholesky_from_cholesky(cov_chol: np.ndarray) -> np.ndarray:
    """Given Σ_k = L_k L_kᵀ, return P_k = L_k^{-T}, so that Σ_k^{-1} = P_k P_kᵀ.

    One batched numpy solve for all components: calling scipy here, between numpy's large
    matrix products, makes two BLAS thread pools fight over the cores.
    """
    K, D, _ = cov_chol.shape
    return np.swapaxes(np.linalg.solve(cov_chol, np.broadcast_to(np.eye(D), (K, D, D))), 1, 2)



@dataclass(frozen=True, eq=False)
class GMMParams:
    """Parameters θ = (π, μ, Σ) of a Gaussian mixture.

    Parameters
    ----------
    weights : array of shape (K,)
        Mixing weights π_k, non-negative, summing to 1.
    means : array of shape (K, D)
        Component means μ_k.
    covariances : array of shape (K, D, D)
        Component covariances Σ_k, symmetric positive definite.

    The arrays are stored read-only. The Cholesky factors of the precisions, which every
    density evaluation needs, are computed once here (as scikit-learn's
    ``precisions_cholesky_``), never an explicit inverse.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        weights = check_probability_vector(self.weights, "weights")
        K = weights.shape[0]
        means = as_float_array(self.means, "means", ndim=2)
        if means.shape[0] != K:
            raise ValueError(f"means must have one row per component, shape ({K}, D) for "
                             f"{K} weights; found {describe_shape(means)}")
        D = means.shape[1]
        covariances, chol = check_covariances(self.covariances, "covariances", K, D)
        prec_chol = precision_cholesky_from_cholesky(chol)
        for name, value in (("weights", weights), ("means", means),
                            ("covariances", covariances), ("precisions_cholesky", prec_chol)):
            value = np.array(value, dtype=float)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]
