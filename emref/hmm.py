r"""Hidden Markov models fitted by EM: forward-backward, Viterbi and Baum-Welch (Bishop §13.2).

The model, in Bishop's notation, for K hidden states z_1..z_N and observations x_1..x_N:

.. math::

    p(X, Z \mid \theta) = p(z_1 \mid \pi) \prod_{n=2}^N p(z_n \mid z_{n-1}, A)
                          \prod_{n=1}^N p(x_n \mid z_n, \phi) \; [\, e_{z_N} \,]

with π_k = p(z_1 = k), A_jk = p(z_n = k | z_{n-1} = j), an emission model φ
(:class:`Categorical`, :class:`Gaussian` or :class:`Poisson`) and, optionally,
e_k = p(STOP | z_N = k): the STOP state of Eisner's ice-cream spreadsheet. With a STOP state
each row of A plus its e_k sums to one and the likelihood includes the probability of
stopping after the last step.

Read this module beside Bishop §13.2.2-13.2.5:

- :func:`forward` and :func:`backward` are the scaled recursions of §13.2.4 (eqs 13.59 and
  13.62), one sequence, one step at a time, each line naming the equation it implements;
  :func:`viterbi` is the max-sum algorithm of §13.2.5 in log space. They are the reference.
- :func:`forward_backward`, :func:`e_step`, :func:`score` and :func:`fit` compute the same
  numbers by a faster path that processes many sequences and blocks of long sequences at
  once (the private module ``emref._hmm_batched``); the tests hold it to 1e-10 of
  :func:`forward` and :func:`backward`.

E-step: the posterior marginals γ(z_nk) = p(z_n = k | X) = α̂(z_nk) β̂(z_nk) (13.64) and the
expected transition counts Σ_n ξ(z_{n-1,j}, z_nk) (13.65). M-step (:func:`m_step`):
π_k ∝ Σ_sequences γ(z_1k) (13.18); A_jk ∝ Σ_n ξ(z_{n-1,j}, z_nk) (13.19); e_k from the
expected number of sequences ending in k; each emission re-estimates itself from γ (13.20-
13.23 for categorical and Gaussian emissions). :func:`fit` alternates the two steps in the
shared loop :func:`emref.em.run` (Baum-Welch); from the same start each iteration equals
hmmlearn's (with its priors switched off).

Emission models own their model. A subclass of :class:`Emission` with a ``name`` registers
itself in :data:`EMISSIONS` (name -> class), which :func:`fit` and :func:`fit_supervised`
read; it checks its observations, gives their log-likelihood under each state, collects
expected sufficient statistics from γ, re-estimates itself from them (M-step), draws a
random start, estimates itself from tagged data, samples, and counts its free parameters.
Everything else is shared.
"""

from __future__ import annotations

import bisect
import numbers
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np
from scipy.special import gammaln, xlogy

from . import _hmm_batched as batched
from . import em
from ._stepwise import step_sizes
from ._validation import (
    as_float_array,
    check_covariances,
    check_int,
    check_option,
    check_probability_vector,
    check_real,
    check_row_stochastic,
    check_seed,
    describe_shape,
)
from .gmm import _estimate_log_gaussian_prob
from .params import precision_cholesky_from_cholesky

__all__ = [
    "EMISSIONS",
    "BackwardResult",
    "Categorical",
    "Emission",
    "ForwardBackwardResult",
    "ForwardResult",
    "Gaussian",
    "HMMParams",
    "HMMResult",
    "HMMStats",
    "Poisson",
    "ViterbiResult",
    "backward",
    "bic",
    "e_step",
    "fit",
    "fit_stepwise",
    "fit_supervised",
    "forward",
    "forward_backward",
    "m_step",
    "n_parameters",
    "posterior_decode",
    "q_function",
    "sample",
    "score",
    "viterbi",
]

#: The registry of emission models, name -> class (filled by :class:`Emission` subclasses).
EMISSIONS: dict = {}
_EPS10 = 10 * np.finfo(float).eps
_LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------------------------
# Emission models
# --------------------------------------------------------------------------------------------

class Emission:
    """Base class of emission models p(x | z = k, φ): a subclass owns its whole model.

    A subclass sets ``name`` (its key in :data:`EMISSIONS`, where it registers itself) and
    ``obs_ndim`` (1: a sequence is a 1-D array of symbols; 2: a (T, D) array), and implements
    the methods below. Nothing else in emref names an emission type.
    """

    name: ClassVar[str] = ""
    obs_ndim: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            EMISSIONS[cls.name] = cls

    # -- the model's shape ------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """(K, M) or (K, D): the number of states, and of symbols or of features."""
        raise NotImplementedError

    @property
    def n_states(self) -> int:
        return self.shape[0]

    @property
    def obs_size(self) -> int:
        """What :meth:`check_sequence`'s ``size`` is for this model (M symbols, D features)."""
        return self.shape[1]

    @property
    def n_parameters(self) -> int:
        """The number of free parameters (for BIC)."""
        raise NotImplementedError

    # -- observations -----------------------------------------------------------------------
    @classmethod
    def check_sequence(cls, seq, name: str, size: int | None = None) -> np.ndarray:
        """Validate one observation sequence (``size``: M symbols or D features, None: any);
        return it as an array."""
        raise NotImplementedError

    def check(self, seq, name: str) -> np.ndarray:
        """Validate one observation sequence against this model."""
        return type(self).check_sequence(seq, name, self.obs_size)

    # -- E-step -----------------------------------------------------------------------------
    def log_likelihood(self, X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """ln p(x_n | z_n = k) for a concatenation of checked sequences, shape (N, K).

        ``out``, if given, is an (N, K) float array the result may be written into.
        """
        raise NotImplementedError

    def prepare(self, X: np.ndarray):
        """Data-only work for :meth:`statistics`, done once per fit (default: nothing)."""
        return X

    def statistics(self, prepared, gamma: np.ndarray) -> tuple:
        """Expected sufficient statistics Σ_n γ(z_nk) s(x_n) (a tuple of arrays).

        ``prepared`` is :meth:`prepare` of the observations; ``gamma`` is (N, K).
        """
        raise NotImplementedError

    def expected_log_likelihood(self, stats) -> float:
        """Σ_n Σ_k γ(z_nk) ln p(x_n | φ_k) from the statistics: the emission part of Q."""
        raise NotImplementedError

    # -- M-step and other estimates ---------------------------------------------------------
    def m_step(self, stats, *, reg_covar: float = 1e-6) -> Emission:
        """The emission parameters maximising Q for the given statistics."""
        raise NotImplementedError

    @classmethod
    def random_init(cls, X: np.ndarray, n_states: int, rng: np.random.Generator, *,
                    n_symbols: int | None = None, reg_covar: float = 1e-6) -> Emission:
        """A random start for :func:`fit` from the concatenated observations ``X``."""
        raise NotImplementedError

    @classmethod
    def supervised(cls, X: np.ndarray, states: np.ndarray, n_states: int, *,
                   n_symbols: int | None = None, pseudocount: float = 0.0,
                   reg_covar: float = 1e-6) -> Emission:
        """The maximum-likelihood emission from tagged data (each x_n with its state z_n)."""
        raise NotImplementedError

    # -- sampling ---------------------------------------------------------------------------
    def sample_states(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One observation for each state in ``states``."""
        raise NotImplementedError


def _frozen(value) -> np.ndarray:
    value = np.array(value, dtype=float)
    value.setflags(write=False)
    return value


def _normalise_rows(counts: np.ndarray) -> np.ndarray:
    """Rows divided by their sums; a row of zero counts becomes uniform (documented choice)."""
    counts = np.asarray(counts, dtype=float)
    sums = counts.sum(axis=-1, keepdims=True)
    out = np.empty_like(counts)
    np.divide(counts, sums, out=out, where=sums > 0)
    empty = (sums <= 0)[..., 0]
    if np.any(empty):
        out[empty] = 1.0 / counts.shape[-1]
    return out


def _one_hot(states: np.ndarray, K: int) -> np.ndarray:
    onehot = np.zeros((len(states), K))
    onehot[np.arange(len(states)), states] = 1.0
    return onehot


def _check_integers(arr: np.ndarray, name: str, what: str) -> np.ndarray:
    """Finite, integer-valued, non-negative entries of a numeric array, as np.intp."""
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite integer {what}; found NaN "
                             f"or infinite values")
        frac = arr != np.round(arr)
        if np.any(frac):
            t = np.argwhere(frac)[0]
            where = int(t[0]) if arr.ndim == 1 else tuple(int(i) for i in t)
            raise ValueError(f"{name} must hold integer {what}; found non-integer value "
                             f"{arr[tuple(t)].item()!r} at position {where}")
    return arr


def _check_matrix(value, name: str, cols: str) -> np.ndarray:
    """A finite (K, cols) array with K, cols >= 1."""
    arr = as_float_array(value, name, ndim=2)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (K, {cols}) with K, {cols} >= 1; found "
                         f"{describe_shape(arr)}")
    return arr


def _check_symbols(seq, name: str, n_symbols: int | None, what: str = "symbols",
                   letter: str = "M") -> np.ndarray:
    """A 1-D sequence of integer symbols (or states) in 0..n_symbols-1."""
    if isinstance(seq, (str, bytes)) or seq is None:
        raise TypeError(f"{name} must be a 1-D array of integer {what}; found "
                        f"{type(seq).__name__}")
    arr = np.asarray(seq)
    if arr.dtype == object or arr.dtype.kind not in "iufb":
        raise TypeError(f"{name} must be a 1-D array of integer {what}; found an array of "
                        f"dtype {arr.dtype}")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer {what}, not booleans")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer {what} (one sequence); "
                         f"found {describe_shape(arr)}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; found a sequence of length 0")
    arr = _check_integers(arr, name, what)
    if np.any(arr < 0):
        t = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"{name} must hold {what} 0..{letter}-1 (non-negative integers); "
                         f"found {arr[t].item()!r} at position {t}")
    arr = arr.astype(np.intp)
    if n_symbols is not None and np.any(arr >= n_symbols):
        t = int(np.flatnonzero(arr >= n_symbols)[0])
        raise ValueError(f"{name} must hold {what} 0..{n_symbols - 1} (the model has "
                         f"{letter} = {n_symbols} {what}); found {arr[t]} at position {t}")
    return arr


def _check_vectors(seq, name: str, n_features: int | None, model: str) -> np.ndarray:
    """A (T, D) array of finite observation vectors."""
    arr = as_float_array(seq, name)
    if arr.ndim != 2:
        hint = f": for D = 1 use {name}.reshape(-1, 1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of shape (T, D) (one sequence of "
                         f"D-dimensional observations); found {describe_shape(arr)}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must not be empty; found a sequence of length 0")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} must have D = {n_features} columns to match the {model} "
                         f"emission; found {describe_shape(arr)}")
    return arr


@dataclass(frozen=True, eq=False)
class Categorical(Emission):
    """Categorical emissions: state k emits symbol m with probability ``probs[k, m]``.

    Parameters
    ----------
    probs : array of shape (K, M)
        Rows are non-negative and sum to 1. Observations are integers 0..M-1. A symbol some
        state can never emit (a zero entry) is allowed.
    """

    probs: np.ndarray
    name: ClassVar[str] = "categorical"
    obs_ndim: ClassVar[int] = 1

    def __post_init__(self):
        probs = _check_matrix(self.probs, "probs", "M")
        probs = check_row_stochastic(probs, "probs", probs.shape)
        object.__setattr__(self, "probs", _frozen(probs))

    @property
    def shape(self) -> tuple:
        return self.probs.shape

    n_symbols = Emission.obs_size  # M

    @property
    def n_parameters(self) -> int:
        return self.n_states * (self.n_symbols - 1)

    @classmethod
    def check_sequence(cls, seq, name, size=None):
        return _check_symbols(seq, name, size)

    def log_likelihood(self, X, out=None):
        with np.errstate(divide="ignore"):
            logp = np.log(self.probs)
        return np.take(np.ascontiguousarray(logp.T), X, axis=0, out=out)

    def statistics(self, X, gamma):
        """(Σ_n γ(z_nk) [x_n = m],): expected counts (K, M)."""
        M = self.n_symbols
        return (np.stack([np.bincount(X, weights=g, minlength=M) for g in gamma.T]),)

    def expected_log_likelihood(self, stats) -> float:
        return _sum_count_log(stats[0], self.probs)

    @staticmethod
    def from_counts(counts) -> Categorical:
        """Rows of expected (or observed) counts normalised; an all-zero row becomes uniform."""
        return Categorical(_normalise_rows(counts))

    def m_step(self, stats, *, reg_covar=1e-6) -> Categorical:
        """μ_km = Σ_n γ(z_nk) x_nm / Σ_n γ(z_nk) (Bishop 13.23)."""
        return Categorical.from_counts(stats[0])

    @classmethod
    def random_init(cls, X, n_states, rng, *, n_symbols=None, reg_covar=1e-6):
        """Rows drawn from a flat Dirichlet over M = n_symbols (default: largest symbol + 1)."""
        M = int(X.max()) + 1 if n_symbols is None else n_symbols
        return cls(rng.dirichlet(np.ones(M), size=n_states))

    @classmethod
    def supervised(cls, X, states, n_states, *, n_symbols=None, pseudocount=0.0,
                   reg_covar=1e-6):
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


@dataclass(frozen=True, eq=False)
class Gaussian(Emission):
    """Gaussian emissions with full covariances: x | z = k ~ N(μ_k, Σ_k).

    Parameters
    ----------
    means : array of shape (K, D)
    covariances : array of shape (K, D, D), symmetric positive definite.
    """

    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray = field(init=False, repr=False)
    name: ClassVar[str] = "gaussian"
    obs_ndim: ClassVar[int] = 2

    def __post_init__(self):
        means = _check_matrix(self.means, "means", "D")
        K, D = means.shape
        cov, chol = check_covariances(self.covariances, "covariances", K, D)
        object.__setattr__(self, "means", _frozen(means))
        object.__setattr__(self, "covariances", _frozen(cov))
        object.__setattr__(self, "precisions_cholesky",
                           _frozen(precision_cholesky_from_cholesky(chol)))

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
        return _check_vectors(seq, name, size, "Gaussian")

    def log_likelihood(self, X, out=None):
        logp = _estimate_log_gaussian_prob(X, self.means, self.precisions_cholesky)
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
        nk = post + _EPS10
        mc = first / nk[:, None]
        cov = second / nk[:, None, None] - mc[:, :, None] * mc[:, None, :]
        cov += reg_covar * np.eye(mc.shape[1])
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        return Gaussian(mc + center, cov)

    def m_step(self, stats, *, reg_covar=1e-6) -> Gaussian:
        return Gaussian.from_statistics(*stats, reg_covar=reg_covar)

    @classmethod
    def random_init(cls, X, n_states, rng, *, n_symbols=None, reg_covar=1e-6):
        """Means: K data points drawn at random; covariances: the data covariance (+ a small
        ridge)."""
        N, D = X.shape
        pick = rng.choice(N, size=n_states, replace=N < n_states)
        cov = np.atleast_2d(np.cov(X.T, bias=True)) if N > 1 else np.zeros((D, D))
        cov = cov + max(reg_covar, 1e-6 * max(float(np.trace(cov)) / D, 1e-12)) * np.eye(D)
        return cls(X[pick], np.broadcast_to(cov, (n_states, D, D)).copy())

    @classmethod
    def supervised(cls, X, states, n_states, *, n_symbols=None, pseudocount=0.0,
                   reg_covar=1e-6):
        """Each state's sample mean and covariance (+ reg_covar·I); ``pseudocount`` unused."""
        tagged = cls.statistics(cls.prepare(X), _one_hot(states, n_states))
        return cls.from_statistics(*tagged, reg_covar=reg_covar)

    def sample_states(self, states, rng):
        chol = np.linalg.cholesky(self.covariances)
        eps = rng.standard_normal((len(states), self.n_features))
        return self.means[states] + np.einsum("nij,nj->ni", chol[states], eps)


def _check_counts(seq, name: str, n_features: int | None) -> np.ndarray:
    """A (T, D) array of non-negative integer counts (as floats)."""
    arr = _check_integers(_check_vectors(seq, name, n_features, "Poisson"), name, "counts")
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
    """

    rates: np.ndarray
    name: ClassVar[str] = "poisson"
    obs_ndim: ClassVar[int] = 2

    def __post_init__(self):
        rates = _check_matrix(self.rates, "rates", "D")
        if np.any(rates < 0):
            raise ValueError(f"rates must be non-negative; found minimum {rates.min():.6g}")
        object.__setattr__(self, "rates", _frozen(rates))

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
        return Poisson(first / (post + _EPS10)[:, None])

    def m_step(self, stats, *, reg_covar=1e-6) -> Poisson:
        return Poisson.from_statistics(*stats)

    @classmethod
    def random_init(cls, X, n_states, rng, *, n_symbols=None, reg_covar=1e-6):
        """The data's mean counts, each times a factor drawn uniformly from [0.5, 1.5]."""
        return cls(X.mean(axis=0) * rng.uniform(0.5, 1.5, (n_states, X.shape[1])))

    @classmethod
    def supervised(cls, X, states, n_states, *, n_symbols=None, pseudocount=0.0,
                   reg_covar=1e-6):
        """Each state's mean counts; ``pseudocount`` unused."""
        return cls.from_statistics(*cls.statistics(cls.prepare(X), _one_hot(states, n_states)))

    def sample_states(self, states, rng):
        return rng.poisson(self.rates[states])


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

def _emission_names() -> str:
    return " or ".join(cls.__name__ for cls in EMISSIONS.values())


@dataclass(frozen=True, eq=False)
class HMMParams:
    """Parameters θ = (π, A, φ, e) of a hidden Markov model.

    Parameters
    ----------
    startprob : array of shape (K,)
        π_k = p(z_1 = k), non-negative, summing to 1.
    transmat : array of shape (K, K)
        A_jk = p(z_n = k | z_{n-1} = j). Without ``endprob`` each row sums to 1; with it,
        each row plus its ``endprob`` entry sums to 1.
    emission : an :class:`Emission` (Categorical, Gaussian, Poisson)
    endprob : None or array of shape (K,)
        e_k = p(STOP | z_N = k): the optional STOP state. With it the likelihood of a
        sequence includes stopping after its last step.
    """

    startprob: np.ndarray
    transmat: np.ndarray
    emission: Emission
    endprob: np.ndarray | None = None

    def __post_init__(self):
        if not isinstance(self.emission, Emission):
            raise TypeError(f"emission must be an emission model ({_emission_names()}); "
                            f"found {type(self.emission).__name__}")
        K = self.emission.n_states
        startprob = as_float_array(self.startprob, "startprob", ndim=1)
        if startprob.shape != (K,):
            raise ValueError(f"startprob must have shape ({K},) to match the emission's "
                             f"K = {K} states; found {describe_shape(startprob)}")
        startprob = check_probability_vector(startprob, "startprob", K)
        endprob = None
        if self.endprob is not None:
            endprob = as_float_array(self.endprob, "endprob", ndim=1)
            if endprob.shape != (K,):
                raise ValueError(f"endprob must have shape ({K},); found "
                                 f"{describe_shape(endprob)}")
            if np.any(endprob < 0) or np.any(endprob > 1):
                raise ValueError(f"endprob must hold probabilities in [0, 1]; found values "
                                 f"from {endprob.min():.6g} to {endprob.max():.6g}")
            if not np.any(endprob > 0):
                raise ValueError("endprob must have at least one positive entry (with a STOP "
                                 "state that can never be reached no sequence has positive "
                                 "probability); found all zeros")
        transmat = check_row_stochastic(self.transmat, "transmat", (K, K), row_extra=endprob,
                                        extra_name="endprob")
        object.__setattr__(self, "startprob", _frozen(startprob))
        object.__setattr__(self, "transmat", _frozen(transmat))
        object.__setattr__(self, "endprob", None if endprob is None else _frozen(endprob))

    @property
    def n_states(self) -> int:
        return self.startprob.shape[0]

    @property
    def has_end(self) -> bool:
        return self.endprob is not None


def _check_params(params) -> HMMParams:
    if not isinstance(params, HMMParams):
        raise TypeError(f"params must be an HMMParams; found {type(params).__name__}")
    return params


def _one_sequence(obs, params: HMMParams, name: str = "obs") -> np.ndarray:
    """One checked observation sequence (rejecting a list of sequences)."""
    emission = params.emission
    if isinstance(obs, (list, tuple)) and len(obs) == 0:
        raise ValueError(f"{name} must not be empty; found a sequence of length 0")
    if isinstance(obs, (list, tuple)):
        try:
            depth = np.ndim(obs[0])
        except ValueError:
            depth = emission.obs_ndim
        if depth >= emission.obs_ndim:
            raise ValueError(f"{name} must be one sequence; found a list of sequences (use "
                             f"e_step or score for several)")
    return emission.check(obs, name)


def _impossible(name: str):
    return ValueError(f"{name} has probability zero under params (some observation cannot be "
                      f"emitted by any state the model can be in there, or no state can "
                      f"stop); its posteriors are undefined")


# --------------------------------------------------------------------------------------------
# The reference: scaled forward and backward (Bishop §13.2.4), Viterbi (§13.2.5)
# --------------------------------------------------------------------------------------------

class ForwardResult(NamedTuple):
    """The scaled forward messages of one sequence x_1..x_N (Bishop §13.2.4).

    Attributes
    ----------
    alpha_hat : ndarray (N, K)
        α̂(z_n) = p(z_n | x_1..x_n) (13.59); each row sums to 1.
    scale : ndarray (N,)
        c_n = p(x_n | x_1..x_{n-1}) (13.56), c_1 = p(x_1).
    loglik : float
        ln p(X) = Σ_n ln c_n (13.63), plus ln c_{N+1} with a STOP state; -inf if X is
        impossible under the model.
    end_scale : float
        c_{N+1} = p(STOP | x_1..x_N) = Σ_k α̂(z_Nk) e_k with a STOP state, 1.0 without one.
    """

    alpha_hat: np.ndarray
    scale: np.ndarray
    loglik: float
    end_scale: float


class BackwardResult(NamedTuple):
    """The scaled backward messages of one sequence (Bishop §13.2.4).

    Attributes
    ----------
    beta_hat : ndarray (N, K)
        β̂(z_n) = p(x_{n+1}..x_N | z_n) / p(x_{n+1}..x_N | x_1..x_n) (13.61) (with a STOP
        state, the stop is part of the future: p(x_{n+1}..x_N, STOP | z_n) / ...).
        γ(z_n) = α̂(z_n) β̂(z_n) (13.64).
    scale : ndarray (N,), the c_n of :func:`forward` used by the recursion (13.62).
    loglik : float, ln p(X) (as :func:`forward`'s).
    """

    beta_hat: np.ndarray
    scale: np.ndarray
    loglik: float


class ViterbiResult(NamedTuple):
    """The most probable state path and its joint log-probability.

    Attributes
    ----------
    states : ndarray (N,) of ints, Z* = argmax_Z p(X, Z | θ).
    log_prob : float, ln p(X, Z* | θ) (with the stop when the model has ``endprob``);
        -inf if X is impossible under θ.
    """

    states: np.ndarray
    log_prob: float


def forward(obs, params: HMMParams) -> ForwardResult:
    """The scaled forward recursion of one sequence (Bishop §13.2.4, eq. 13.59).

    ``obs`` is one sequence (a 1-D int array for categorical emissions, an (N, D) array for
    vector ones) and ``params`` an :class:`HMMParams`. Returns a :class:`ForwardResult`:
    ``alpha_hat`` α̂ (N, K), ``scale`` c_n (N,), ``loglik`` ln p(X) and ``end_scale``.

    The STOP state enters once, after the last step: p(X) = p(x_1..x_N) Σ_k α̂(z_Nk) e_k, so
    c_{N+1} = Σ_k α̂(z_Nk) e_k is one more scale factor and ln p(X) = Σ_{n=1}^{N+1} ln c_n.
    This reference works with probabilities, as Bishop does: an observation whose density
    underflows (below about 1e-308) under every state gives c_n = 0 and loglik = -inf, as
    does an impossible sequence; from there on α̂ is zero. :func:`forward_backward` and
    :func:`score` work from log-densities with a per-step offset and do not underflow.
    """
    params = _check_params(params)
    x = _one_sequence(obs, params)
    pi, A, e = params.startprob, params.transmat, params.endprob
    with np.errstate(under="ignore"):
        p_x = np.exp(params.emission.log_likelihood(x))  # p(x_n | z_n = k), shape (N, K)
    N, K = p_x.shape
    alpha_hat = np.zeros((N, K))
    c = np.zeros(N)
    for n in range(N):
        if n == 0:
            a = pi * p_x[0]                          # α(z_1) = p(z_1) p(x_1|z_1)       (13.37)
        else:
            a = p_x[n] * (alpha_hat[n - 1] @ A)      # p(x_n|z_n) Σ_{z_{n-1}} α̂(z_{n-1}) A
        c[n] = a.sum()                               # c_n = p(x_n | x_1..x_{n-1})      (13.56)
        if c[n] == 0:                                # X is impossible (or underflowed)
            return ForwardResult(alpha_hat, c, -np.inf, 0.0)
        alpha_hat[n] = a / c[n]                      # c_n α̂(z_n) = p(x_n|z_n) Σ α̂ A   (13.59)
    end_scale = 1.0
    if e is not None:
        end_scale = float(alpha_hat[-1] @ e)         # c_{N+1} = Σ α̂(z_N) p(STOP | z_N)
    with np.errstate(divide="ignore"):
        loglik = float(np.log(c).sum() + np.log(end_scale))  # ln p(X) = Σ ln c_n       (13.63)
    return ForwardResult(alpha_hat, c, loglik, end_scale)


def backward(obs, params: HMMParams, fwd: ForwardResult | None = None) -> BackwardResult:
    """The scaled backward recursion of one sequence (Bishop §13.2.4, eq. 13.62).

    Parameters
    ----------
    obs : one sequence.
    params : HMMParams
    fwd : ForwardResult of ``forward(obs, params)``, or None to compute it here (the scaled
        β̂ needs the forward pass's c_n).

    Returns
    -------
    BackwardResult
        ``beta_hat`` β̂ (N, K), ``scale`` c_n (N,), ``loglik``.

    Notes
    -----
    Without a STOP state β(z_N) = 1 (13.39). With one, the stop is the last thing emitted:
    β(z_N) = p(STOP | z_N) = e(z_N), scaled by its own factor c_{N+1}, so
    β̂(z_N) = e(z_N) / c_{N+1}; this is where the end factor enters. Raises ValueError if
    ``obs`` has probability zero (β̂ is then undefined).
    """
    params = _check_params(params)
    x = _one_sequence(obs, params)
    if fwd is None:
        fwd = forward(x, params)
    if not np.isfinite(fwd.loglik):
        raise _impossible("obs")
    A, e, c = params.transmat, params.endprob, fwd.scale
    with np.errstate(under="ignore"):
        p_x = np.exp(params.emission.log_likelihood(x))  # p(x_n | z_n = k), shape (N, K)
    N, K = p_x.shape
    beta_hat = np.empty((N, K))
    if e is None:
        beta_hat[N - 1] = 1.0                        # β(z_N) = 1                        (13.39)
    else:
        beta_hat[N - 1] = e / fwd.end_scale          # β̂(z_N) = p(STOP | z_N) / c_{N+1}
    for n in range(N - 2, -1, -1):
        # c_{n+1} β̂(z_n) = Σ_{z_{n+1}} β̂(z_{n+1}) p(x_{n+1}|z_{n+1}) p(z_{n+1}|z_n)  (13.62)
        beta_hat[n] = A @ (beta_hat[n + 1] * p_x[n + 1]) / c[n + 1]
    return BackwardResult(beta_hat, c, fwd.loglik)


def viterbi(obs, params: HMMParams) -> ViterbiResult:
    """The most probable state path of one sequence: max-sum in log space (Bishop §13.2.5).

    Returns the :class:`ViterbiResult` ``(states, log_prob)`` of ``obs`` (one sequence)
    under ``params``: argmax_Z p(X, Z | θ) and ln p(X, Z* | θ) (with the stop when the model
    has ``endprob``), or ``(zeros, -inf)`` if ``obs`` is impossible.

    ω(z_n) = max_{z_1..z_{n-1}} ln p(x_1..x_n, z_1..z_n). The STOP state enters at the end:
    the best last state maximises ω(z_N) + ln e(z_N). Ties go to the lowest state index.
    """
    params = _check_params(params)
    x = _one_sequence(obs, params)
    log_p_x = params.emission.log_likelihood(x)      # ln p(x_n | z_n = k), shape (N, K)
    with np.errstate(divide="ignore"):
        log_pi, log_A = np.log(params.startprob), np.log(params.transmat)
        log_e = 0.0 if params.endprob is None else np.log(params.endprob)
    N, K = log_p_x.shape
    omega = np.empty((N, K))                         # ω(z_n) - m_n (see below)
    psi = np.zeros((N, K), dtype=np.intp)            # ψ[n, k]: best z_{n-1} given z_n = k
    m = np.zeros(N)                                  # m_n = max_k ω(z_nk), kept apart
    omega[0] = log_pi + log_p_x[0]                   # ω(z_1) = ln p(z_1) + ln p(x_1|z_1) (13.69)
    for n in range(N):
        if n > 0:
            cand = omega[n - 1][:, None] + log_A     # ln p(z_n|z_{n-1}) + ω(z_{n-1}), [j, k]
            psi[n] = cand.argmax(axis=0)             # the maximising z_{n-1} for each z_n
            omega[n] = log_p_x[n] + cand.max(axis=0)  # ω(z_n) = ln p(x_n|z_n) + max (.) (13.68)
        # a constant taken out of every ω(z_n) changes no maximiser; it keeps the numbers near
        # zero, so that their rounding does not grow with n
        m[n] = omega[n].max() if np.isfinite(omega[n].max()) else 0.0
        omega[n] -= m[n]
    final = omega[N - 1] + log_e                     # ... and the stop after z_N
    if not np.any(np.isfinite(final)):
        return ViterbiResult(np.zeros(N, dtype=np.intp), -np.inf)
    states = np.empty(N, dtype=np.intp)
    states[N - 1] = np.argmax(final)                 # z*_N = argmax ω(z_N) [+ ln e(z_N)]
    for n in range(N - 1, 0, -1):
        states[n - 1] = psi[n, states[n]]            # back-track: z*_{n-1} = ψ(z*_n)    (13.71)
    return ViterbiResult(states, float(m.sum() + final.max()))  # ln p(X,Z*) = max ω(z_N)


# --------------------------------------------------------------------------------------------
# Sequences (one or many)
# --------------------------------------------------------------------------------------------

def _split(sequences, name: str, one_ndim: int):
    """Return (list of raw sequences, names). One sequence or a list/batch of them."""
    if isinstance(sequences, (str, bytes)) or sequences is None:
        raise TypeError(f"{name} must be one sequence or a list of sequences; found "
                        f"{type(sequences).__name__}")
    if isinstance(sequences, np.ndarray):
        if sequences.ndim == one_ndim:
            return [sequences], [name]
        if sequences.ndim == one_ndim + 1 and sequences.dtype != object:
            return list(sequences), [f"{name}[{i}]" for i in range(len(sequences))]
        if sequences.dtype == object and sequences.ndim == 1:
            sequences = list(sequences)
        else:
            raise ValueError(f"{name} must be one sequence ({one_ndim}-D) or a list of them; "
                             f"found {describe_shape(sequences)}")
    if not isinstance(sequences, (list, tuple)):
        raise TypeError(f"{name} must be an array or a list of sequences; found "
                        f"{type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError(f"{name} must hold at least one non-empty sequence; found an empty "
                         f"list")
    first = sequences[0]
    if isinstance(first, (numbers.Number, np.generic)):
        depth = 0
    else:
        try:
            depth = np.ndim(first)
        except ValueError:
            depth = one_ndim  # ragged: a list of sequences
    if depth == one_ndim - 1:
        return [sequences], [name]
    return list(sequences), [f"{name}[{i}]" for i in range(len(sequences))]


def _check_many(raw: list, names: list, cls, size=None) -> tuple[list, np.ndarray]:
    """Check every sequence with ``cls.check_sequence`` (``size`` None: for vector
    observations, the first sequence's D); return (the sequences, their concatenation).

    Fast path for many numpy arrays of one dtype: the element checks run once on their
    concatenation; only if that fails are the sequences checked one by one, so that the
    message names the offending one.
    """
    if size is None and cls.obs_ndim == 2:
        size = cls.check_sequence(raw[0], names[0]).shape[1]
    if len(raw) > 1 and all(isinstance(r, np.ndarray) for r in raw):
        dtypes = {r.dtype for r in raw}
        ndims = {r.ndim for r in raw}
        tails = {r.shape[1:] for r in raw}
        if (len(dtypes) == 1 and len(ndims) == 1 and len(tails) == 1
                and dtypes.pop().kind in "iuf" and all(len(r) > 0 for r in raw)):
            try:
                X = cls.check_sequence(np.concatenate(raw, axis=0), names[0], size)
            except (TypeError, ValueError):
                X = None
            if X is not None:
                lengths = np.array([len(r) for r in raw], dtype=np.intp)
                return np.split(X, np.cumsum(lengths)[:-1]), X
    seqs = [cls.check_sequence(r, n, size) for r, n in zip(raw, names)]
    return seqs, (seqs[0] if len(seqs) == 1 else np.concatenate(seqs, axis=0))


def _batch(sequences, params: HMMParams, name: str = "sequences") -> batched.Batch:
    emission = params.emission
    raw, names = _split(sequences, name, emission.obs_ndim)
    return batched.Batch(*_check_many(raw, names, type(emission), emission.obs_size))


# --------------------------------------------------------------------------------------------
# Inference on many sequences (the fast path, tested equal to the reference above)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ForwardBackwardResult:
    """What :func:`forward_backward` returns.

    Attributes
    ----------
    gamma : ndarray (N, K), γ(z_nk) = p(z_n = k | X, θ) = α̂(z_nk) β̂(z_nk) (13.64); rows sum
        to 1.
    xi_sum : ndarray (K, K), Σ_{n=2}^N ξ(z_{n-1,j}, z_nk) (13.65): expected transition counts.
    loglik : float, ln p(X | θ) (including the stop when the model has ``endprob``).
    """

    gamma: np.ndarray
    xi_sum: np.ndarray
    loglik: float


def forward_backward(obs, params: HMMParams) -> ForwardBackwardResult:
    """Posterior state marginals and expected transition counts of one sequence.

    Parameters
    ----------
    obs : one sequence: 1-D int array (categorical) or (N, D) array (Gaussian, Poisson).
    params : HMMParams

    Returns
    -------
    ForwardBackwardResult
        ``gamma`` (N, K), ``xi_sum`` (K, K), ``loglik``.

    Notes
    -----
    The numbers of :func:`forward` and :func:`backward` (γ = α̂ β̂, ξ = c_n⁻¹ α̂ p(x_n|z_n) A β̂),
    computed by the batched path of ``emref._hmm_batched``, which works from log-densities
    with per-step offsets and is exact for any N. Raises ValueError if ``obs`` has
    probability zero under ``params``.
    """
    params = _check_params(params)
    x = _one_sequence(obs, params)
    out = batched.forward_backward(batched.Batch([x], x), params)
    if out is None:
        raise _impossible("obs")
    ll, gamma, xi_sum = out
    return ForwardBackwardResult(gamma=gamma, xi_sum=xi_sum, loglik=float(ll[0]))


def score(sequences, params: HMMParams) -> float:
    """ln p(sequences | θ), summed over sequences (-inf if one is impossible)."""
    params = _check_params(params)
    ll = batched.loglik(_batch(sequences, params), params)
    return -np.inf if ll is None else float(ll.sum())


def posterior_decode(obs, params: HMMParams) -> np.ndarray:
    """The individually most probable state of every step, argmax_k γ(z_nk), shape (N,)."""
    return forward_backward(obs, params).gamma.argmax(axis=1)


@dataclass(frozen=True, eq=False)
class HMMStats:
    """Expected sufficient statistics of :func:`e_step`, summed over sequences.

    Attributes
    ----------
    start : (K,) Σ_sequences γ(z_1k).
    trans : (K, K) Σ_sequences Σ_n ξ(z_{n-1,j}, z_nk) (expected transition counts).
    end : (K,) Σ_sequences γ(z_Nk) (expected number of sequences stopping in k).
    occupancy : (K,) Σ_sequences Σ_n γ(z_nk).
    emission : tuple of arrays, the emission's statistics (see its ``statistics`` method).
    gamma : list of (N_s, K) arrays, the posteriors of every sequence.
    n_sequences, n_points : int.
    """

    start: np.ndarray
    trans: np.ndarray
    end: np.ndarray
    occupancy: np.ndarray
    emission: tuple
    gamma: list = field(repr=False)
    n_sequences: int
    n_points: int


def _e_step(batch: batched.Batch, params: HMMParams):
    out = batched.forward_backward(batch, params)
    if out is None:
        raise _impossible("sequences")
    ll, gamma, xi_sum = out
    starts, ends = batch.offsets[:-1], batch.offsets[1:] - 1
    stats = HMMStats(start=gamma[starts].sum(axis=0), trans=xi_sum,
                     end=gamma[ends].sum(axis=0), occupancy=gamma.sum(axis=0),
                     emission=params.emission.statistics(batch.prepared(params.emission),
                                                         gamma),
                     gamma=[gamma[a:b] for a, b in zip(starts, ends + 1)],
                     n_sequences=len(batch.seqs),
                     n_points=batch.n_points)
    return stats, float(ll.sum())


def e_step(sequences, params: HMMParams):
    """E-step: expected sufficient statistics and the total log-likelihood.

    Parameters
    ----------
    sequences : one sequence or a list of sequences of any lengths.
    params : HMMParams (θᵗ)

    Returns
    -------
    stats : HMMStats
    loglik : float, Σ_sequences ln p(X_s | θᵗ).
    """
    params = _check_params(params)
    return _e_step(_batch(sequences, params), params)


def _m_step(stats: HMMStats, params: HMMParams, reg_covar: float) -> HMMParams:
    startprob = stats.start / stats.start.sum()                  # π_k ∝ Σ γ(z_1k)   (13.18)
    emission = params.emission.m_step(stats.emission, reg_covar=reg_covar)
    if params.endprob is None:
        transmat = _normalise_rows(stats.trans)                  # A_jk ∝ Σ ξ_jk      (13.19)
        endprob = None
    else:  # the stop is one more "next state": row j of [A | e] ∝ [Σ ξ_j· | Σ γ(z_Nj)]
        both = _normalise_rows(np.concatenate([stats.trans, stats.end[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
    return HMMParams(startprob, transmat, emission, endprob)


def _sum_count_log(counts, probs) -> float:
    """Σ counts · ln probs, with 0 · ln 0 = 0 (and -inf where a positive count meets 0)."""
    counts = np.asarray(counts, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.log(probs)
    return float(np.sum(np.where(counts > 0, counts * logs, 0.0)))


def _check_stats(stats) -> HMMStats:
    if not isinstance(stats, HMMStats):
        raise TypeError(f"stats must be an HMMStats (from e_step); found "
                        f"{type(stats).__name__}")
    return stats


def q_function(stats: HMMStats, params: HMMParams) -> float:
    """Q(θ, θᵗ) = E_{Z|X,θᵗ}[ln p(X, Z | θ)] from the expected counts of an E-step at θᵗ.

    Q = Σ_k γ(z_1k) ln π_k + Σ_n Σ_jk ξ(z_{n-1,j}, z_nk) ln A_jk (+ Σ_k γ(z_Nk) ln e_k with a
    STOP state) + Σ_n Σ_k γ(z_nk) ln p(x_n | φ_k)  (Bishop 13.17), summed over sequences.
    ``stats`` comes from :func:`e_step` at θᵗ; ``params`` is θ (same structure). Terms with
    zero expected count contribute 0 even where a probability is 0. :func:`m_step` returns
    the θ that maximises it.
    """
    params = _check_params(params)
    stats = _check_stats(stats)
    q = _sum_count_log(stats.start, params.startprob) + _sum_count_log(stats.trans,
                                                                        params.transmat)
    if params.endprob is not None:
        q += _sum_count_log(stats.end, params.endprob)
    return q + params.emission.expected_log_likelihood(stats.emission)


def m_step(stats: HMMStats, params: HMMParams, *, reg_covar: float = 1e-6) -> HMMParams:
    """M-step: θᵗ⁺¹ from the expected counts of :func:`e_step`.

    π_k = Σ γ(z_1k) / S; A_jk = Σ ξ(z_{n-1,j}, z_nk) / Σ_l Σ ξ(z_{n-1,j}, z_nl) without a
    STOP state, and A_jk = Σ ξ_jk / Σ_n γ(z_nj), e_j = Σ γ(z_Nj) / Σ_n γ(z_nj) with one; the
    emission re-estimates itself. ``params`` (θᵗ) supplies the model's structure (emission
    type, whether it has a STOP state). A state with no expected transitions out of it gets
    a uniform row.
    """
    params = _check_params(params)
    stats = _check_stats(stats)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    return _m_step(stats, params, reg_covar)


def n_parameters(params: HMMParams) -> int:
    """Free parameters: K - 1 for π, K(K - 1) for A (K² with a STOP state, whose e_k takes
    one entry of each row), and the emission's own count."""
    params = _check_params(params)
    K = params.n_states
    rows = K * K if params.endprob is not None else K * (K - 1)
    return (K - 1) + rows + params.emission.n_parameters


def bic(sequences, params: HMMParams) -> float:
    """Bayesian information criterion -2 ln p(X | θ) + p ln N, N the number of observations
    (lower is better)."""
    params = _check_params(params)
    batch = _batch(sequences, params)
    ll = batched.loglik(batch, params)
    ll = -np.inf if ll is None else float(ll.sum())
    return -2.0 * ll + n_parameters(params) * np.log(batch.n_points)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class HMMResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params : HMMParams, the fitted θⁿ.
    loglik : float, ln p(sequences | θⁿ), summed over sequences.
    loglik_history : ndarray (n_iter + 1,), ln p(sequences | θⁱ) for i = 0..n (θ⁰ first).
    n_iter : int, number of Baum-Welch iterations (M-steps).
    converged : bool, whether the change per observation fell below ``tol``.
    stats : HMMStats at θⁿ (posteriors ``stats.gamma`` of every sequence).
    """

    params: HMMParams
    loglik: float
    loglik_history: np.ndarray
    n_iter: int
    converged: bool
    stats: HMMStats = field(repr=False, default=None)


def _emission_class(emission: str):
    return EMISSIONS[check_option(emission, "emission", tuple(EMISSIONS))]


def _random_params(cls, X, K: int, rng: np.random.Generator, with_endprob: bool,
                   **emission_options) -> HMMParams:
    """A random start: π and each row of A (with its STOP probability when ``with_endprob``)
    from a flat Dirichlet, the emission parameters from ``cls.random_init`` on the data X."""
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K + 1 if with_endprob else K), size=K)
    endprob = None
    if with_endprob:
        transmat, endprob = transmat[:, :-1], transmat[:, -1]
    return HMMParams(startprob, transmat, cls.random_init(X, K, rng, **emission_options),
                     endprob)


def fit(sequences, n_states, *, init="random", emission=None, max_iter: int = 100,
        tol: float = 1e-6, reg_covar: float = 1e-6, seed=None, n_symbols=None,
        with_endprob: bool = False) -> HMMResult:
    """Baum-Welch: fit an HMM by EM (run by :func:`emref.em.run`).

    Parameters
    ----------
    sequences : one sequence or a list of sequences of any lengths.
    n_states : int >= 1, the number of hidden states K.
    init : "random" or HMMParams
        "random": π and the rows of A drawn from a flat Dirichlet, the emission from its
        ``random_init`` (categorical: flat Dirichlet rows; Gaussian: K data points as means,
        the data covariance; Poisson: the data means times uniform factors in [0.5, 1.5]).
        HMMParams: start exactly there (its emission type and STOP state decide the model).
    emission : None or a name in :data:`EMISSIONS` ("categorical", "gaussian", "poisson")
        With ``init="random"``, the emission model (None means "categorical"). With an
        HMMParams start it must be None or agree with it.
    max_iter : int >= 0
    tol : float >= 0
        Stop when the log-likelihood changes by less than ``tol`` per observation.
        ``tol=0`` runs exactly ``max_iter`` iterations.
    reg_covar : float >= 0
        Added to the diagonal of every Gaussian covariance in every M-step (as in
        :mod:`emref.gmm`). hmmlearn has no such term: its ``min_covar`` only enters its own
        initialisation, so emref with ``reg_covar=0`` equals hmmlearn with priors off.
    seed : None, int or numpy Generator (for ``init="random"``).
    n_symbols : None or int, the alphabet size M for a random categorical start (default:
        largest symbol + 1).
    with_endprob : bool, give a random start a STOP state (re-estimated like the rest).

    Returns
    -------
    HMMResult
    """
    K = check_int(n_states, "n_states", low=1)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=0)
    tol = check_real(tol, "tol", low=0.0)
    cls = None if emission is None else _emission_class(emission)
    if isinstance(init, HMMParams):
        if init.n_states != K:
            raise ValueError(f"init must have n_states = {K} states; found an HMMParams "
                             f"with {init.n_states}")
        if cls is not None and not isinstance(init.emission, cls):
            raise ValueError(f"emission must match init; found emission={emission!r} and an "
                             f"init with {init.emission.name} emissions")
        params0 = init
        batch = _batch(sequences, params0)
    elif isinstance(init, str):
        check_option(init, "init", ("random",))
        cls = cls or Categorical
        rng = check_seed(seed)
        if n_symbols is not None:
            n_symbols = check_int(n_symbols, "n_symbols", low=1)
        raw, names = _split(sequences, "sequences", cls.obs_ndim)
        batch = batched.Batch(*_check_many(raw, names, cls, n_symbols if cls.obs_ndim == 1
                                           else None))
        params0 = _random_params(cls, batch.X, K, rng, with_endprob, n_symbols=n_symbols,
                                 reg_covar=reg_covar)
    else:
        raise TypeError(f"init must be 'random' or an HMMParams; found {type(init).__name__}")

    def e(params):
        return _e_step(batch, params)

    def m(stats, params):
        return _m_step(stats, params, reg_covar)

    run = em.run(e, m, params0, n_points=batch.n_points, max_iter=max_iter, tol=tol)
    return HMMResult(params=run.params, loglik=run.loglik, loglik_history=run.loglik_history,
                     n_iter=run.n_iter, converged=run.converged, stats=run.stats)


def fit_supervised(sequences, state_sequences, n_states, *, n_symbols=None,
                   pseudocount: float = 0.0, with_endprob: bool = False,
                   reg_covar: float = 1e-6, emission=None) -> HMMParams:
    """Maximum-likelihood HMM from tagged sequences, by counting.

    Parameters
    ----------
    sequences : one sequence or a list: 1-D int arrays (categorical) or (T, D) arrays.
    state_sequences : the hidden state of every step, matching ``sequences`` in number and
        lengths, integers 0..n_states-1.
    n_states : int >= 1
    n_symbols : None or int, alphabet size M (default: largest symbol + 1).
    pseudocount : float >= 0, added to every start, transition, (stop) and emission count
        (add-λ smoothing; Gaussian and Poisson emissions: not used for their parameters).
    with_endprob : bool, estimate a STOP state from where the sequences end.
    reg_covar : float >= 0, added to the Gaussian covariances' diagonal.
    emission : None or a name in :data:`EMISSIONS`; None: "categorical" for 1-D sequences,
        "gaussian" for (T, D) ones.

    Returns
    -------
    HMMParams
        π ∝ starts + λ, A_jk ∝ #(j→k) + λ, (e_j ∝ #(j ends) + λ), the emission from its
        ``supervised`` estimate (categorical: B_km ∝ #(k emits m) + λ); a state never seen
        (and λ = 0) gets uniform rows.
    """
    K = check_int(n_states, "n_states", low=1)
    pseudocount = check_real(pseudocount, "pseudocount", low=0.0)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    states_raw, state_names = _split(state_sequences, "state_sequences", 1)
    states = [_check_symbols(z, n, K, what="states", letter="K")
              for z, n in zip(states_raw, state_names)]
    single_states = len(states_raw) == 1 and state_names[0] == "state_sequences"
    if single_states:
        obs_raw, obs_names = [sequences], ["sequences"]
    else:
        if (isinstance(sequences, np.ndarray) and sequences.dtype != object
                or isinstance(sequences, (list, tuple))):
            obs_raw = list(sequences)
        else:
            raise TypeError(f"sequences must be a list of sequences to match "
                            f"state_sequences; found {type(sequences).__name__}")
        obs_names = [f"sequences[{i}]" for i in range(len(obs_raw))]
        if len(obs_raw) != len(states):
            raise ValueError(f"sequences must hold one sequence per state sequence; found "
                             f"{len(obs_raw)} sequences and {len(states)} state sequences")
    if emission is None:  # the default follows the shape of the observations
        emission = "gaussian" if np.ndim(obs_raw[0]) == 2 else "categorical"
    cls = _emission_class(emission)
    if n_symbols is not None:
        n_symbols = check_int(n_symbols, "n_symbols", low=1)
    seqs, X = _check_many(obs_raw, obs_names, cls, n_symbols if cls.obs_ndim == 1 else None)
    for x, z, n, zn in zip(seqs, states, obs_names, state_names):
        if len(x) != len(z):
            raise ValueError(f"{zn} must have the same length as {n}; found {len(z)} states "
                             f"for {len(x)} observations")
    Z = np.concatenate(states)
    offsets = np.concatenate([[0], np.cumsum([len(z) for z in states])])
    start = np.bincount(Z[offsets[:-1]], minlength=K).astype(float) + pseudocount
    ends = np.bincount(Z[offsets[1:] - 1], minlength=K).astype(float)
    has_prev = np.ones(len(Z), dtype=bool)           # steps with a predecessor in their sequence
    has_prev[offsets[:-1]] = False
    n = np.flatnonzero(has_prev)
    trans = np.zeros((K, K))
    np.add.at(trans, (Z[n - 1], Z[n]), 1.0)
    trans += pseudocount
    if start.sum() <= 0:
        start = np.ones(K)
    startprob = start / start.sum()
    if with_endprob:
        both = _normalise_rows(np.concatenate([trans, (ends + pseudocount)[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
    else:
        transmat, endprob = _normalise_rows(trans), None
    em_model = cls.supervised(X, Z, K, n_symbols=n_symbols, pseudocount=pseudocount,
                              reg_covar=reg_covar)
    return HMMParams(startprob, transmat, em_model, endprob)


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------

def _sample_chain(startprob, transmat, endprob, T, rng):
    """State path: T steps, or (with endprob) until STOP, at most T steps if T is given."""
    K = len(startprob)
    if endprob is not None:
        full = np.concatenate([transmat, endprob[:, None]], axis=1)
    else:
        full = transmat
    cdf = np.cumsum(full, axis=1)
    cdf[:, -1] = 1.0
    start_cdf = np.cumsum(startprob)
    start_cdf[-1] = 1.0
    limit = T if T is not None else np.inf
    chunk = 4096 if T is None else min(int(T), 1 << 16)
    out = []
    z = int(np.searchsorted(start_cdf, rng.uniform(), side="right"))
    out.append(z)
    cdf_list = cdf.tolist()
    while len(out) < limit:
        us = rng.uniform(size=chunk).tolist()
        stop = False
        for u in us:
            nxt = bisect.bisect_right(cdf_list[z], u)
            if nxt >= K:  # STOP
                stop = True
                break
            z = nxt
            out.append(z)
            if len(out) >= limit:
                break
        if stop:
            break
    return np.array(out, dtype=np.intp)


def sample(params: HMMParams, T=None, seed=None):
    """Draw one sequence from the HMM.

    Parameters
    ----------
    params : HMMParams
    T : int >= 1, or None
        Number of steps. With a STOP state (``endprob``) the chain runs until it stops and
        ``T``, if given, caps its length; without one ``T`` is required.
    seed : None, int or numpy Generator

    Returns
    -------
    obs : ndarray (T,) of symbols or (T, D) of vectors.
    states : ndarray (T,) of ints.
    """
    params = _check_params(params)
    if T is None:
        if params.endprob is None:
            raise ValueError("T must be given (an int >= 1) for a model without endprob; "
                             "found None")
    else:
        T = check_int(T, "T", low=1)
    rng = check_seed(seed)
    states = _sample_chain(params.startprob, params.transmat, params.endprob, T, rng)
    return params.emission.sample_states(states, rng), states


# --------------------------------------------------------------------------------------------
# Stepwise EM over batches of sequences (Liang & Klein 2009)
# --------------------------------------------------------------------------------------------

def _scaled_stats(stats: HMMStats, factor: float) -> HMMStats:
    return HMMStats(start=stats.start * factor, trans=stats.trans * factor,
                    end=stats.end * factor, occupancy=stats.occupancy * factor,
                    emission=tuple(e * factor for e in stats.emission), gamma=[],
                    n_sequences=stats.n_sequences, n_points=stats.n_points)


def _mixed_stats(old: HMMStats, new: HMMStats, eta: float) -> HMMStats:
    """(1 - η) old + η new, entry by entry."""
    def mix(a, b):
        return (1.0 - eta) * a + eta * b
    return HMMStats(start=mix(old.start, new.start), trans=mix(old.trans, new.trans),
                    end=mix(old.end, new.end), occupancy=mix(old.occupancy, new.occupancy),
                    emission=tuple(mix(a, b) for a, b in zip(old.emission, new.emission)),
                    gamma=[], n_sequences=new.n_sequences, n_points=new.n_points)


def _statistics_of_params(params: HMMParams, like: HMMStats) -> HMMStats:
    """Counts with the row totals of ``like`` and the proportions of θ, so that the M-step
    returns θ: ŝ_{-1}, a start worth one batch."""
    out_of = like.trans.sum(axis=1) + (like.end if params.endprob is not None else 0.0)
    trans = params.transmat * out_of[:, None]
    end = params.endprob * out_of if params.endprob is not None else like.end
    emitted = like.emission[0].sum(axis=1)
    return HMMStats(start=params.startprob * like.start.sum(), trans=trans, end=end,
                    occupancy=like.occupancy.copy(),
                    emission=(params.emission.probs * emitted[:, None],), gamma=[],
                    n_sequences=like.n_sequences, n_points=like.n_points)


def fit_stepwise(batches, n_states, *, init="random", step_exponent: float = 0.7,
                 step_size: float | None = None, n_passes: int = 1, n_warmup: int = 0,
                 seed=None, n_symbols=None, with_endprob: bool = False) -> HMMResult:
    """Stepwise EM for a categorical HMM over batches of sequences (Liang & Klein 2009).

    Batch t (a list of sequences), met with θ_t, gives its expected counts per sequence
    s̄_t = (1/S_t) Σ_sequences (Σ γ(z_1k), Σ_n ξ(z_{n-1,j}, z_nk), Σ γ(z_Nk),
    Σ_n γ(z_nk)[x_n = m]) from forward-backward (Bishop 13.64-13.65), and

        ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,   η_t = (t + 2)^(-α),   θ_{t+1} = M(ŝ_t),

    M being the Baum-Welch M-step :func:`m_step` (13.18, 13.19, 13.23: rows of counts
    normalised). ŝ_{-1} has the proportions of θ⁰ and the size of the first batch's
    counts. With ``step_size=1`` and one batch holding every sequence this is Baum-Welch,
    step for step. Tagged-then-untagged: start from :func:`fit_supervised` on the tagged
    sentences, then stream the untagged ones.

    Parameters
    ----------
    batches : iterable of batches, each one sequence or a list of sequences (1-D int
        arrays), or a function returning such an iterable; with ``n_passes > 1`` a list or
        such a function (a generator object can be read only once).
    n_states : int >= 1
    init : "random" or HMMParams with :class:`Categorical` emissions
        "random": as :func:`fit`, drawn with ``n_symbols`` symbols (default: the largest
        symbol of the first batch + 1) and ``with_endprob``.
    step_exponent : float, 0.5 < α <= 1.
    step_size : None or float in (0, 1], a constant step instead of (t + 2)^(-α).
    n_passes : int >= 1; n_warmup : int >= 0, batches during which θ stays θ⁰.
    seed : None, int or numpy Generator.

    Returns
    -------
    HMMResult
        ``loglik_history``: ln p(batch t | θ_t) for every batch, then ln p(last batch | θ)
        at the returned θ (= ``loglik``); ``n_iter``: batches processed; ``converged``:
        False (no stopping test); ``stats``: the last batch's E-step at the returned θ.
    """
    K = check_int(n_states, "n_states", low=1)
    n_passes = check_int(n_passes, "n_passes", low=1)
    n_warmup = check_int(n_warmup, "n_warmup", low=0)
    step = step_sizes(step_size, step_exponent)
    if isinstance(init, HMMParams):
        if not isinstance(init.emission, Categorical):
            raise ValueError(  # noqa: TRY004 (the emission's value is wrong, not init's type)
                f"init must have categorical emissions for stepwise EM; found "
                f"{init.emission.name} emissions")
        if init.n_states != K:
            raise ValueError(f"init must have n_states = {K} states; found an HMMParams "
                             f"with {init.n_states}")
    elif isinstance(init, str):
        check_option(init, "init", ("random",))
        if n_symbols is not None:
            n_symbols = check_int(n_symbols, "n_symbols", low=1)
    else:
        raise TypeError(f"init must be 'random' or an HMMParams; found {type(init).__name__}")
    rng = check_seed(seed)
    if callable(batches):
        source = batches
    else:
        if isinstance(batches, (str, bytes, np.ndarray)) or batches is None or not hasattr(
                batches, "__iter__"):
            raise TypeError(f"batches must be an iterable of batches of sequences (a list, "
                            f"a generator, or a function returning one); found "
                            f"{type(batches).__name__}")
        if n_passes > 1 and iter(batches) is batches:
            raise ValueError(f"batches is an iterator, which can be read only once; for "
                             f"n_passes = {n_passes} pass a list, or a function that returns "
                             f"a new iterator for every pass")
        source = lambda: batches
    params = init if isinstance(init, HMMParams) else None
    running = last = None
    history = []
    t = 0
    for p in range(n_passes):
        seen = 0
        for i, sequences in enumerate(source()):
            name = f"batches[{i}]"
            if params is None:
                raw, names = _split(sequences, name, 1)
                X = _check_many(raw, names, Categorical, n_symbols)[1]
                params = _random_params(Categorical, X, K, rng, with_endprob,
                                        n_symbols=n_symbols)
            batch = _batch(sequences, params, name)
            stats, loglik = _e_step(batch, params)                      # E-step at θ_t
            history.append(loglik)
            mean = _scaled_stats(stats, 1.0 / stats.n_sequences)        # s̄_t
            if running is None:
                running = _statistics_of_params(params, mean)           # ŝ_{-1}
            eta = step(t)                                               # η_t
            running = _mixed_stats(running, mean, eta)                  # ŝ_t
            if t + 1 > n_warmup:
                params = _m_step(running, params, 0.0)                  # θ_{t+1} = M(ŝ_t)
            t += 1
            seen += 1
            last = batch
        if seen == 0:
            raise ValueError("batches must hold at least one batch; found none"
                             + (f" on pass {p + 1}" if p else ""))
    stats, loglik = _e_step(last, params)
    history.append(loglik)
    return HMMResult(params=params, loglik=float(loglik), loglik_history=np.asarray(history),
                     n_iter=t, converged=False, stats=stats)
