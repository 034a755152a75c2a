"""Poisson emissions: feature d counts events at rate λ_kd in state k, independently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import gammaln, xlogy

from .base import EPS10, Emission, check_integers, check_matrix, check_vectors, frozen, one_hot

__all__ = ["Poisson"]


def _check_counts(seq, name: str, n_features: int | None) -> np.ndarray:
    """A (T, D) array of non-negative integer counts (as floats)."""
    arr = check_integers(check_vectors(seq, name, n_features, "Poisson"), name, "counts")
    if np.any(arr < 0):
        t, d = (int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{name} must hold non-negative integer counts; found "
                         f"{arr[t, d]:g} at position ({t}, {d})")
    return arr


@dataclass(frozen=True, eq=False)
class Poisson(Emission):
    """Poisson emissions: feature d of x counts events at rate λ_kd in state k, independently.

    p(x | z = k) = Π_d λ_kd^{x_d} e^{-λ_kd} / x_d!

    Parameters
    ----------
    rates : array of shape (K, D)
        λ_kd >= 0. Observations are (T, D) arrays of non-negative integers. A zero rate is
        allowed: that state then only emits 0 in that feature.

    It has no options.
    """

    rates: np.ndarray
    name: ClassVar[str] = "poisson"
    obs_ndim: ClassVar[int] = 2
    sequence_kind: ClassVar[str] = "a (T, D) array of counts"

    def __post_init__(self):
        rates = check_matrix(self.rates, "rates", "D")
        if np.any(rates < 0):
            raise ValueError(f"rates must be non-negative; found minimum {rates.min():.6g}")
        object.__setattr__(self, "rates", frozen(rates))

    n_features = Emission.obs_size  # D

    @property
    def shape(self) -> tuple:
        return self.rates.shape

    @property
    def n_parameters(self) -> int:
        return self.rates.size

    @classmethod
    def check_sequence(cls, seq, name, size=None):
        return _check_counts(seq, name, size)

    def log_likelihood(self, X, out=None):
        """ln p(x_n | k) = Σ_d x_nd ln λ_kd - λ_kd - ln x_nd! (0 · ln 0 = 0)."""
        if out is None:
            out = np.empty((len(X), self.n_states))
        for k, rate in enumerate(self.rates):
            out[:, k] = xlogy(X, rate).sum(axis=1) - rate.sum()
        out -= gammaln(X + 1.0).sum(axis=1)[:, None]
        return out

    @staticmethod
    def prepare(X):
        """The counts and Σ_d ln x_nd! of every observation."""
        return X, gammaln(X + 1.0).sum(axis=1)

    @staticmethod
    def statistics(prepared, gamma):
        """(N_k, Σ_n γ(z_nk) x_n, Σ_n γ(z_nk) Σ_d ln x_nd!)."""
        X, log_factorials = prepared
        return gamma.sum(axis=0), gamma.T @ X, gamma.T @ log_factorials

    def expected_log_likelihood(self, stats) -> float:
        post, first, log_factorials = stats
        return float(xlogy(first, self.rates).sum() - post @ self.rates.sum(axis=1)
                     - log_factorials.sum())

    @staticmethod
    def from_statistics(post, first, *rest) -> Poisson:
        """λ_kd = Σ_n γ(z_nk) x_nd / N_k; a state nobody visits gets rates 0."""
        return Poisson(first / (post + EPS10)[:, None])

    def m_step(self, stats, **options) -> Poisson:
        return Poisson.from_statistics(*stats)

    @classmethod
    def random_init(cls, X, n_states, rng):
        """The data's mean counts, each times a factor drawn uniformly from [0.5, 1.5]."""
        return cls(X.mean(axis=0) * rng.uniform(0.5, 1.5, (n_states, X.shape[1])))

    @classmethod
    def supervised(cls, X, states, n_states, *, pseudocount=0.0):
        """Each state's mean counts; ``pseudocount`` unused."""
        return cls.from_statistics(*cls.statistics(cls.prepare(X), one_hot(states, n_states)))

    def sample_states(self, states, rng):
        return rng.poisson(self.rates[states])

    def statistics_of(self, occupancy):
        """(N_k, N_k λ_k, 0): the M-step reads the first two; the third (Σ γ ln x!) only
        enters Q, and a start drawn from θ⁰ has no data to take it from."""
        return occupancy.copy(), occupancy[:, None] * self.rates, np.zeros(len(occupancy))
