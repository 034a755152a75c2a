"""Categorical emissions: state k emits symbol m with probability B_km (Bishop 13.22-13.23)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..._validation import check_int, check_row_stochastic
from .base import Emission, check_matrix, check_symbols, frozen, normalise_rows, sum_count_log

__all__ = ["Categorical"]


@dataclass(frozen=True, eq=False)
class Categorical(Emission):
    """Categorical emissions: state k emits symbol m with probability ``probs[k, m]``.

    Parameters
    ----------
    probs : array of shape (K, M)
        Rows are non-negative and sum to 1. Observations are integers 0..M-1. A symbol some
        state can never emit (a zero entry) is allowed.

    Options (keywords of :func:`emref.hmm.fit` and the other learners)
    ------------------------------------------------------------------
    n_symbols : None or int >= 1
        The alphabet size M of a random start or a supervised estimate (default: the largest
        symbol seen + 1); observations are checked against it.
    """

    probs: np.ndarray
    name: ClassVar[str] = "categorical"
    obs_ndim: ClassVar[int] = 1
    sequence_kind: ClassVar[str] = "a 1-D array of integer symbols"
    options: ClassVar[dict] = {"n_symbols": None}

    def __post_init__(self):
        probs = check_matrix(self.probs, "probs", "M")
        probs = check_row_stochastic(probs, "probs", probs.shape)
        object.__setattr__(self, "probs", frozen(probs))

    @classmethod
    def check_options(cls, options, caller):
        options = super().check_options(options, caller)
        if options["n_symbols"] is not None:
            options["n_symbols"] = check_int(options["n_symbols"], "n_symbols", low=1)
        return options

    @classmethod
    def sequence_size(cls, options):
        return options["n_symbols"]

    @property
    def shape(self) -> tuple:
        return self.probs.shape

    n_symbols = Emission.obs_size  # M

    @property
    def n_parameters(self) -> int:
        return self.n_states * (self.n_symbols - 1)

    @classmethod
    def check_sequence(cls, seq, name, size=None):
        return check_symbols(seq, name, size)

    def log_likelihood(self, X, out=None):
        with np.errstate(divide="ignore"):
            logp = np.log(self.probs)
        return np.take(np.ascontiguousarray(logp.T), X, axis=0, out=out)

    def statistics(self, X, gamma):
        """(Σ_n γ(z_nk) [x_n = m],): expected counts (K, M)."""
        M = self.n_symbols
        return (np.stack([np.bincount(X, weights=g, minlength=M) for g in gamma.T]),)

    def expected_log_likelihood(self, stats) -> float:
        return sum_count_log(stats[0], self.probs)

    @staticmethod
    def from_counts(counts) -> Categorical:
        """Rows of expected (or observed) counts normalised; an all-zero row becomes uniform."""
        return Categorical(normalise_rows(counts))

    def m_step(self, stats, **options) -> Categorical:
        """μ_km = Σ_n γ(z_nk) x_nm / Σ_n γ(z_nk) (Bishop 13.23)."""
        return Categorical.from_counts(stats[0])

    @classmethod
    def random_init(cls, X, n_states, rng, *, n_symbols=None):
        """Rows drawn from a flat Dirichlet over M = n_symbols (default: largest symbol + 1)."""
        M = int(X.max()) + 1 if n_symbols is None else n_symbols
        return cls(rng.dirichlet(np.ones(M), size=n_states))

    @classmethod
    def supervised(cls, X, states, n_states, *, pseudocount=0.0, n_symbols=None):
        """B_km ∝ #(k emits m) + pseudocount; a row with no counts becomes uniform."""
        M = int(X.max()) + 1 if n_symbols is None else n_symbols
        counts = np.zeros((n_states, M))
        np.add.at(counts, (states, X), 1.0)
        return cls.from_counts(counts + pseudocount)

    def sample_states(self, states, rng):
        cdf = np.cumsum(self.probs, axis=1)
        cdf[:, -1] = 1.0
        u = rng.uniform(size=len(states))
        return (u[:, None] >= cdf[states]).sum(axis=1).astype(np.intp)

    def statistics_of(self, occupancy):
        """(B_km N_k,): counts in the proportions of B."""
        return (self.probs * occupancy[:, None],)
