"""What every HMM emission model provides, the registry that finds them by name, and the
checks their observations share.

An emission model p(x | z = k, φ) is one subclass of :class:`Emission` with a ``name``;
defining the class registers it in :data:`EMISSIONS`, the one table that
:func:`emref.hmm.fit`, :func:`emref.hmm.fit_supervised`, :func:`emref.hmm.fit_stepwise` and
their error messages read. Nothing else in emref names an emission type.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..._validation import as_float_array, check_option, describe_shape

__all__ = ["EMISSIONS", "Emission", "emission_class"]

#: The registry of emission models, name -> class (filled by :class:`Emission` subclasses).
EMISSIONS: dict = {}


class Emission:
    """Base class of emission models p(x | z = k, φ): a subclass owns its whole model.

    A subclass sets ``name`` (its key in :data:`EMISSIONS`, where it registers itself),
    ``obs_ndim`` (1: a sequence is a 1-D array; 2: a (T, D) array), ``sequence_kind`` (what
    one sequence is, in words, for error messages) and ``options`` (its own keyword options and their defaults, which reach :func:`emref.hmm.fit`,
    :func:`emref.hmm.fit_supervised`, :func:`emref.hmm.m_step` and
    :func:`emref.hmm.fit_stepwise`), and implements the methods below. The last three
    (:meth:`statistics_of`, :meth:`scale_statistics`, :meth:`mix_statistics`) serve stepwise
    EM; the two last have defaults for statistics that are plain sums.
    """

    name: ClassVar[str] = ""
    obs_ndim: ClassVar[int] = 1
    options: ClassVar[dict] = {}
    #: What one sequence is, for messages ("a 1-D array of integer symbols").
    sequence_kind: ClassVar[str] = "a 1-D array"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.name:
            return
        old = EMISSIONS.get(cls.name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__,
                                                                       cls.__qualname__):
            raise ValueError(f"an emission named {cls.name!r} is already registered "
                             f"({old.__module__}.{old.__qualname__}); found another class "
                             f"{cls.__module__}.{cls.__qualname__} with that name")
        EMISSIONS[cls.name] = cls

    # -- options ----------------------------------------------------------------------------
    @classmethod
    def check_options(cls, options: dict, caller: str) -> dict:
        """Every option of this emission, the given ones checked, the others at their
        defaults. An option this emission does not have is a TypeError naming ``caller``."""
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            have = ", ".join(cls.options) or "none"
            raise TypeError(f"{caller} got the option {unknown[0]!r}, which the {cls.name} "
                            f"emission does not take; its options are: {have}")
        return {**cls.options, **options}

    @classmethod
    def sequence_size(cls, options: dict) -> int | None:
        """The ``size`` that :meth:`check_sequence` checks against, from checked options
        (None: any)."""
        return None

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
    def m_step(self, stats, **options) -> Emission:
        """The emission parameters maximising Q for the given statistics."""
        raise NotImplementedError

    @classmethod
    def random_init(cls, X: np.ndarray, n_states: int, rng: np.random.Generator,
                    **options) -> Emission:
        """A random start for :func:`emref.hmm.fit` from the concatenated observations X."""
        raise NotImplementedError

    @classmethod
    def supervised(cls, X: np.ndarray, states: np.ndarray, n_states: int, *,
                   pseudocount: float = 0.0, **options) -> Emission:
        """The maximum-likelihood emission from tagged data (each x_n with its state z_n)."""
        raise NotImplementedError

    # -- sampling ---------------------------------------------------------------------------
    def sample_states(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One observation for each state in ``states``."""
        raise NotImplementedError

    # -- stepwise EM ------------------------------------------------------------------------
    def statistics_of(self, occupancy: np.ndarray) -> tuple:
        """Statistics from which :meth:`m_step` returns this model, as if state k had been
        occupied ``occupancy[k]`` times: stepwise EM's ŝ_{-1}."""
        raise NotImplementedError(
            f"the {self.name} emission does not provide statistics_of, which stepwise EM "
            f"needs to start its running statistics from θ⁰")

    @staticmethod
    def scale_statistics(stats: tuple, factor: float) -> tuple:
        """The statistics of ``factor`` times as much data (default: every array scaled)."""
        return tuple(s * factor for s in stats)

    @staticmethod
    def mix_statistics(old: tuple, new: tuple, eta: float) -> tuple:
        """(1 - η) old + η new (default: array by array)."""
        return tuple((1.0 - eta) * a + eta * b for a, b in zip(old, new))


def emission_class(emission: str):
    """The registered class named ``emission`` (a ValueError listing the names otherwise)."""
    return EMISSIONS[check_option(emission, "emission", tuple(EMISSIONS))]


# --------------------------------------------------------------------------------------------
# What several emissions share
# --------------------------------------------------------------------------------------------

EPS10 = 10 * np.finfo(float).eps


def frozen(value) -> np.ndarray:
    """A read-only float copy."""
    value = np.array(value, dtype=float)
    value.setflags(write=False)
    return value


def normalise_rows(counts: np.ndarray) -> np.ndarray:
    """Rows divided by their sums; a row of zero counts becomes uniform (documented choice)."""
    counts = np.asarray(counts, dtype=float)
    sums = counts.sum(axis=-1, keepdims=True)
    out = np.empty_like(counts)
    np.divide(counts, sums, out=out, where=sums > 0)
    empty = (sums <= 0)[..., 0]
    if np.any(empty):
        out[empty] = 1.0 / counts.shape[-1]
    return out


def one_hot(states: np.ndarray, K: int) -> np.ndarray:
    onehot = np.zeros((len(states), K))
    onehot[np.arange(len(states)), states] = 1.0
    return onehot


def sum_count_log(counts, probs) -> float:
    """Σ counts · ln probs, with 0 · ln 0 = 0 (and -inf where a positive count meets 0)."""
    counts = np.asarray(counts, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.log(probs)
    return float(np.sum(np.where(counts > 0, counts * logs, 0.0)))


def check_integers(arr: np.ndarray, name: str, what: str) -> np.ndarray:
    """Finite, integer-valued entries of a numeric array (floats are checked, not cast)."""
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


def check_matrix(value, name: str, cols: str) -> np.ndarray:
    """A finite (K, cols) array with K, cols >= 1."""
    arr = as_float_array(value, name, ndim=2)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have shape (K, {cols}) with K, {cols} >= 1; found "
                         f"{describe_shape(arr)}")
    return arr


def check_symbols(seq, name: str, n_symbols: int | None, what: str = "symbols",
                  letter: str = "M") -> np.ndarray:
    """A 1-D sequence of integer symbols (or states) in 0..n_symbols-1, as np.intp."""
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
    arr = check_integers(arr, name, what)
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


def check_vectors(seq, name: str, n_features: int | None, model: str) -> np.ndarray:
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
