"""Gaussian emissions with full covariances: x | z = k ~ N(μ_k, Σ_k) (Bishop 13.20-13.21)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..._validation import check_covariances, check_real
from ...gaussian import log_density
from ...params import precision_cholesky_from_cholesky
from .base import EPS10, Emission, check_matrix, check_vectors, frozen, one_hot

__all__ = ["Gaussian"]

_LOG_2PI = np.log(2.0 * np.pi)


@dataclass(frozen=True, eq=False)
class Gaussian(Emission):
    """Gaussian emissions with full covariances: x | z = k ~ N(μ_k, Σ_k).

    Parameters
    ----------
    means : array of shape (K, D)
    covariances : array of shape (K, D, D), symmetric positive definite.

    Options (keywords of :func:`emref.hmm.fit` and the other learners)
    ------------------------------------------------------------------
    reg_covar : float >= 0, default 1e-6
        Added to the diagonal of every covariance in every M-step and supervised estimate
        (as in :mod:`emref.gmm`). hmmlearn has no such term (its ``min_covar`` only enters
        its own initialisation), so emref with ``reg_covar=0`` equals hmmlearn with priors
        off.
    """

    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray = field(init=False, repr=False)
    name: ClassVar[str] = "gaussian"
    obs_ndim: ClassVar[int] = 2
    sequence_kind: ClassVar[str] = "a (T, D) array of observations"
    options: ClassVar[dict] = {"reg_covar": 1e-6}

    def __post_init__(self):
        means = check_matrix(self.means, "means", "D")
        K, D = means.shape
        cov, chol = check_covariances(self.covariances, "covariances", K, D)
        object.__setattr__(self, "means", frozen(means))
        object.__setattr__(self, "covariances", frozen(cov))
        object.__setattr__(self, "precisions_cholesky",
                           frozen(precision_cholesky_from_cholesky(chol)))

    @classmethod
    def check_options(cls, options, caller):
        options = super().check_options(options, caller)
        options["reg_covar"] = check_real(options["reg_covar"], "reg_covar", low=0.0)
        return options

    @property
    def shape(self) -> tuple:
        return self.means.shape

    @property
    def n_parameters(self) -> int:
        """K means of D entries and K symmetric D x D covariances."""
        K, D = self.shape
        return K * (D + D * (D + 1) // 2)

    n_features = Emission.obs_size  # D

    @classmethod
    def check_sequence(cls, seq, name, size=None):
        return check_vectors(seq, name, size, "Gaussian")

    def log_likelihood(self, X, out=None):
        logp = log_density(X, self.means, self.precisions_cholesky)
        if out is None:
            return logp
        out[...] = logp
        return out

    @staticmethod
    def prepare(X):
        """The sufficient statistics s(x_n) = (1, x_n - c, (x_n - c)_i (x_n - c)_j for i <= j)
        of every observation, and c, the data mean (centring keeps E[xxᵀ] - μμᵀ accurate)."""
        center = X.mean(axis=0)
        Xc = X - center
        i, j = np.triu_indices(X.shape[1])
        return np.column_stack([np.ones(len(X)), Xc, Xc[:, i] * Xc[:, j]]), center

    @staticmethod
    def statistics(prepared, gamma):
        """(N_k, Σ_n γ(z_nk)(x_n - c), Σ_n γ(z_nk)(x_n - c)(x_n - c)ᵀ, c)."""
        s, center = prepared
        D = len(center)
        G = gamma.T @ s                                # Σ_n γ(z_nk) s(x_n), one row per k
        i, j = np.triu_indices(D)
        second = np.empty((len(G), D, D))
        second[:, i, j] = second[:, j, i] = G[:, 1 + D:]
        return G[:, 0], G[:, 1:1 + D], second, center

    def expected_log_likelihood(self, stats) -> float:
        # Σ_n γ_nk (x_n-μ_k)(x_n-μ_k)ᵀ = S_k - f_k dᵀ - d f_kᵀ + N_k d dᵀ with d = μ_k - c
        post, first, second, center = stats
        d = self.means - center
        scatter = (second - first[:, :, None] * d[:, None, :] - d[:, :, None] * first[:, None, :]
                   + post[:, None, None] * d[:, :, None] * d[:, None, :])
        prec = self.precisions_cholesky @ np.swapaxes(self.precisions_cholesky, 1, 2)
        log_det = np.log(np.diagonal(self.precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)
        D = self.n_features
        per_state = (post * (log_det - 0.5 * D * _LOG_2PI)
                     - 0.5 * np.einsum("kij,kji->k", prec, scatter))
        return float(per_state.sum())

    @staticmethod
    def from_statistics(post, first, second, center, reg_covar: float = 1e-6) -> Gaussian:
        """μ_k = Σ_n γ x_n / N_k, Σ_k = Σ_n γ (x_n-μ_k)(x_n-μ_k)ᵀ / N_k + reg_covar·I
        (Bishop 13.20, 13.21).

        N_k gets 10 machine epsilons (as in :mod:`emref.gmm`), so a state nobody visits gets
        the data mean and covariance reg_covar·I instead of NaN.
        """
        nk = post + EPS10
        mc = first / nk[:, None]
        cov = second / nk[:, None, None] - mc[:, :, None] * mc[:, None, :]
        cov += reg_covar * np.eye(mc.shape[1])
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        return Gaussian(mc + center, cov)

    def m_step(self, stats, *, reg_covar=1e-6) -> Gaussian:
        return Gaussian.from_statistics(*stats, reg_covar=reg_covar)

    @classmethod
    def random_init(cls, X, n_states, rng, *, reg_covar=1e-6):
        """Means: K data points drawn at random; covariances: the data covariance (+ a small
        ridge)."""
        N, D = X.shape
        pick = rng.choice(N, size=n_states, replace=N < n_states)
        cov = np.atleast_2d(np.cov(X.T, bias=True)) if N > 1 else np.zeros((D, D))
        cov = cov + max(reg_covar, 1e-6 * max(float(np.trace(cov)) / D, 1e-12)) * np.eye(D)
        return cls(X[pick], np.broadcast_to(cov, (n_states, D, D)).copy())

    @classmethod
    def supervised(cls, X, states, n_states, *, pseudocount=0.0, reg_covar=1e-6):
        """Each state's sample mean and covariance (+ reg_covar·I); ``pseudocount`` unused."""
        tagged = cls.statistics(cls.prepare(X), one_hot(states, n_states))
        return cls.from_statistics(*tagged, reg_covar=reg_covar)

    def sample_states(self, states, rng):
        chol = np.linalg.cholesky(self.covariances)
        eps = rng.standard_normal((len(states), self.n_features))
        return self.means[states] + np.einsum("nij,nj->ni", chol[states], eps)

    # -- stepwise EM: the statistics carry their centre c, which is not a sum ----------------
    def statistics_of(self, occupancy):
        """(N_k, N_k (μ_k - c), N_k (Σ_k + (μ_k - c)(μ_k - c)ᵀ), c), c the mean of the μ_k
        weighted by N_k: :meth:`from_statistics` with reg_covar = 0 gives back (μ, Σ)."""
        w = occupancy / occupancy.sum() if occupancy.sum() > 0 else np.full(len(occupancy),
                                                                             1 / len(occupancy))
        center = w @ self.means
        d = self.means - center
        second = occupancy[:, None, None] * (self.covariances + d[:, :, None] * d[:, None, :])
        return occupancy.copy(), occupancy[:, None] * d, second, center

    @staticmethod
    def scale_statistics(stats, factor):
        post, first, second, center = stats
        return post * factor, first * factor, second * factor, center

    @staticmethod
    def mix_statistics(old, new, eta):
        """(1 - η) old + η new, after moving ``new``'s sums to ``old``'s centre c:
        Σ γ(x - c) = Σ γ(x - c') + N δ and Σ γ(x - c)(x - c)ᵀ = S' + f' δᵀ + δ f'ᵀ + N δ δᵀ,
        δ = c' - c."""
        post, first, second, center = new
        delta = center - old[3]
        first_c = first + post[:, None] * delta
        second_c = (second + first[:, :, None] * delta[None, None, :]
                    + delta[None, :, None] * first[:, None, :]
                    + post[:, None, None] * np.outer(delta, delta))
        moved = (post, first_c, second_c)
        return (*((1.0 - eta) * a + eta * b for a, b in zip(old[:3], moved)), old[3])
