r"""Hidden Markov models fitted by EM: forward-backward, Viterbi and Baum-Welch (Bishop §13.2).

The model, in Bishop's notation, for K hidden states z_1..z_T and observations x_1..x_T:

.. math::

    p(X, Z \mid \theta) = p(z_1 \mid \pi) \prod_{n=2}^T p(z_n \mid z_{n-1}, A)
                          \prod_{n=1}^T p(x_n \mid z_n, \phi) \; [\, e_{z_T} \,]

with π_k = p(z_1 = k), A_jk = p(z_n = k | z_{n-1} = j), an emission model φ
(:class:`Categorical` or :class:`Gaussian`) and, optionally, e_k = p(STOP | z_T = k): the
STOP state of Eisner's ice-cream spreadsheet. With a STOP state each row of A plus its e_k
sums to one and the likelihood includes the probability of stopping after the last step.

E-step (:func:`forward_backward`, :func:`e_step`): the posterior marginals
γ(z_nk) = p(z_n = k | X) and the expected transition counts
Σ_n ξ(z_{n-1,j}, z_{nk}) = Σ_n p(z_{n-1} = j, z_n = k | X). The recursions are *scaled*
(Bishop §13.2.4): every α̂(z_n) is normalised to sum to one and the logs of the normalisers
c_n add up to log p(X), so a million steps neither underflow nor lose precision.

M-step (:func:`m_step`): π_k ∝ Σ_sequences γ(z_1k); A_jk ∝ Σ_n ξ(z_{n-1,j}, z_nk); e_k from
the expected number of sequences ending in k; each emission re-estimates itself from γ
(:meth:`Categorical.m_step`, :meth:`Gaussian.m_step`). :func:`fit` alternates the two steps in
the shared loop :func:`emref.em.run` (Baum-Welch); from the same start each iteration equals
hmmlearn's (with its priors switched off).

Speed. Sequences of different lengths are processed together, never one by one: every
sequence is cut into blocks of at most L steps and all blocks of all sequences form one
padded (n_blocks, L, K) array, so the recursions are Python loops of length L over whole
stacks of blocks. A long sequence becomes many blocks: the product of each block's scaled
transfer matrices A·diag(p(x_n|z_n)) is computed for all blocks at once, the block
boundaries are then fixed by a short sweep over blocks, and the exact scaled recursion runs
inside every block at once. The block length comes from a small cost model
(:func:`_block_length`): a batch of similar lengths stays whole, and a single sequence of T
steps is cut into blocks of about √T, so that it costs about 5·√T Python steps in all.

Emission models are pluggable: a subclass of :class:`Emission` checks its observations,
gives their log-likelihood under each state, collects expected sufficient statistics from
γ, re-estimates itself from them and samples; everything else is shared.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import em
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
    "Categorical",
    "Emission",
    "ForwardBackwardResult",
    "Gaussian",
    "HMMParams",
    "HMMResult",
    "HMMStats",
    "e_step",
    "fit",
    "fit_supervised",
    "forward_backward",
    "m_step",
    "posterior_decode",
    "q_function",
    "sample",
    "score",
    "viterbi",
]

EMISSIONS = ("categorical", "gaussian")
_EPS10 = 10 * np.finfo(float).eps
_LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------------------------
# Emission models
# --------------------------------------------------------------------------------------------

class Emission:
    """Base class of emission models p(x | z = k).

    A new emission type is one small subclass that knows how to check a sequence of its
    observations, evaluate their log-likelihood under each state, collect expected
    sufficient statistics from posteriors γ, re-estimate itself from them (M-step) and draw
    samples. Everything else (forward-backward, Viterbi, Baum-Welch) is shared.
    """

    obs_ndim = 1  # dimensions of one observation sequence (1: symbols; 2: (T, D) vectors)
    kind = ""

    @property
    def n_states(self) -> int:
        raise NotImplementedError

    def check_sequence(self, seq, name: str) -> np.ndarray:
        """Validate one observation sequence; return it as an array."""
        raise NotImplementedError

    def log_likelihood(self, X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """log p(x_n | z_n = k) for a concatenation of checked sequences, shape (N, K).

        ``out``, if given, is an (N, K) float array the result may be written into.
        """
        raise NotImplementedError

    def prepare(self, X: np.ndarray):
        """Data-only work for :meth:`statistics`, done once per fit (default: nothing)."""
        return X

    def statistics(self, prepared, gamma: np.ndarray):
        """Expected sufficient statistics Σ_n γ(z_nk) s(x_n) (a tuple of arrays).

        ``prepared`` is :meth:`prepare` of the observations; ``gamma`` is (N, K).
        """
        raise NotImplementedError

    def m_step(self, stats, **options) -> Emission:
        """The emission parameters maximising Q for the given statistics."""
        raise NotImplementedError

    def expected_log_likelihood(self, stats) -> float:
        """Σ_n Σ_k γ(z_nk) ln p(x_n | φ_k) from the statistics: the emission part of Q."""
        raise NotImplementedError

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
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite integer {what}; found NaN "
                             f"or infinite values")
        frac = arr != np.round(arr)
        if np.any(frac):
            t = int(np.flatnonzero(frac)[0])
            raise ValueError(f"{name} must hold integer {what}; found non-integer value "
                             f"{arr[t].item()!r} at position {t}")
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


def _check_vectors(seq, name: str, n_features: int | None) -> np.ndarray:
    """A (T, D) array of finite observation vectors."""
    arr = as_float_array(seq, name)
    if arr.ndim != 2:
        hint = f": for D = 1 use {name}.reshape(-1, 1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array of shape (T, D) (one sequence of "
                         f"D-dimensional observations); found {describe_shape(arr)}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must not be empty; found a sequence of length 0")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} must have D = {n_features} columns to match the Gaussian "
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
    obs_ndim = 1
    kind = "categorical"

    def __post_init__(self):
        probs = as_float_array(self.probs, "probs", ndim=2)
        if probs.shape[0] < 1 or probs.shape[1] < 1:
            raise ValueError(f"probs must have shape (K, M) with K, M >= 1; found "
                             f"{describe_shape(probs)}")
        probs = check_row_stochastic(probs, "probs", probs.shape)
        object.__setattr__(self, "probs", _frozen(probs))

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.probs.shape[1]

    def check_sequence(self, seq, name: str) -> np.ndarray:
        return _check_symbols(seq, name, self.n_symbols)

    def log_likelihood(self, X, out=None):
        with np.errstate(divide="ignore"):
            logp = np.log(self.probs)
        return np.take(np.ascontiguousarray(logp.T), X, axis=0, out=out)

    def statistics(self, X, gamma):
        M = self.n_symbols
        return (np.stack([np.bincount(X, weights=g, minlength=M) for g in gamma.T]),)

    @staticmethod
    def from_counts(counts) -> Categorical:
        """Rows of expected (or observed) counts normalised; an all-zero row becomes uniform."""
        return Categorical(_normalise_rows(counts))

    def m_step(self, stats, **options) -> Categorical:
        return Categorical.from_counts(stats[0])

    def expected_log_likelihood(self, stats) -> float:
        return _sum_count_log(stats[0], self.probs)

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
    obs_ndim = 2
    kind = "gaussian"

    def __post_init__(self):
        means = as_float_array(self.means, "means", ndim=2)
        if means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(f"means must have shape (K, D) with K, D >= 1; found "
                             f"{describe_shape(means)}")
        K, D = means.shape
        cov, chol = check_covariances(self.covariances, "covariances", K, D)
        object.__setattr__(self, "means", _frozen(means))
        object.__setattr__(self, "covariances", _frozen(cov))
        object.__setattr__(self, "precisions_cholesky",
                           _frozen(precision_cholesky_from_cholesky(chol)))

    @property
    def n_states(self) -> int:
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def check_sequence(self, seq, name: str) -> np.ndarray:
        return _check_vectors(seq, name, self.n_features)

    def log_likelihood(self, X, out=None):
        logp = _estimate_log_gaussian_prob(X, self.means, self.precisions_cholesky)
        if out is None:
            return logp
        out[...] = logp
        return out

    def prepare(self, X):
        return _gaussian_features(X)

    def statistics(self, prepared, gamma):
        return _gaussian_statistics(prepared, gamma)

    @staticmethod
    def from_statistics(post, first, second, center, reg_covar: float = 1e-6) -> Gaussian:
        """μ_k = Σ_n γ x_n / N_k, Σ_k = Σ_n γ (x_n-μ_k)(x_n-μ_k)ᵀ / N_k + reg_covar·I.

        N_k gets 10 machine epsilons (as in :mod:`emref.gmm`), so a state nobody visits gets
        the data mean and covariance reg_covar·I instead of NaN.
        """
        nk = post + _EPS10
        mc = first / nk[:, None]
        cov = second / nk[:, None, None] - mc[:, :, None] * mc[:, None, :]
        cov += reg_covar * np.eye(mc.shape[1])
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        return Gaussian(mc + center, cov)

    def m_step(self, stats, *, reg_covar: float = 1e-6, **options) -> Gaussian:
        return Gaussian.from_statistics(*stats, reg_covar=reg_covar)

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

    def sample_states(self, states, rng):
        chol = np.linalg.cholesky(self.covariances)
        eps = rng.standard_normal((len(states), self.n_features))
        return self.means[states] + np.einsum("nij,nj->ni", chol[states], eps)


def _gaussian_features(X):
    """Φ = [(x-c)_i (x-c)_j for i <= j, x - c, 1] with c the data mean, and c.

    Centring at the data mean keeps E[xxᵀ] - μμᵀ accurate; with Φ every Gaussian statistic
    is one product γᵀΦ.
    """
    center = X.mean(axis=0)
    Xc = X - center
    i, j = np.triu_indices(X.shape[1])
    return np.concatenate([Xc[:, i] * Xc[:, j], Xc, np.ones((len(X), 1))], axis=1), center


def _gaussian_statistics(prepared, gamma):
    """(N_k, Σ_n γ(x_n - c), Σ_n γ(x_n - c)(x_n - c)ᵀ, c) from Φ = _gaussian_features(X)."""
    phi, center = prepared
    D = center.shape[0]
    n_pairs = D * (D + 1) // 2
    G = gamma.T @ phi
    i, j = np.triu_indices(D)
    second = np.empty((gamma.shape[1], D, D))
    second[:, i, j] = G[:, :n_pairs]
    second[:, j, i] = G[:, :n_pairs]
    return (G[:, -1].copy(), G[:, n_pairs:n_pairs + D].copy(), second, center)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

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
    emission : Categorical or Gaussian (any :class:`Emission`)
    endprob : None or array of shape (K,)
        e_k = p(STOP | z_T = k): the optional STOP state. With it the likelihood of a
        sequence includes stopping after its last step.
    """

    startprob: np.ndarray
    transmat: np.ndarray
    emission: Emission
    endprob: np.ndarray | None = None

    def __post_init__(self):
        if not isinstance(self.emission, Emission):
            raise TypeError(f"emission must be an emission model (Categorical or Gaussian); "
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


# --------------------------------------------------------------------------------------------
# Sequences
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


class _Data:
    """Checked sequences, concatenated, with their block layout (computed once per fit)."""

    def __init__(self, seqs: list, block: int | None = None, X: np.ndarray | None = None):
        self.seqs = seqs
        self.lengths = np.array([len(s) for s in seqs], dtype=np.intp)
        if X is None:
            X = seqs[0] if len(seqs) == 1 else np.concatenate(seqs, axis=0)
        self.X = X
        self.layout = _Layout(self.lengths, block)
        self._Xp = None
        self._prepared = {}
        self._work = {}

    def work(self, name: str, shape: tuple) -> np.ndarray:
        """A buffer reused from one E-step to the next (its contents are not kept)."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape)
        return buf

    def prepared(self, emission: Emission):
        """``emission.prepare(Xp)``, cached per emission type."""
        key = type(emission)
        if key not in self._prepared:
            self._prepared[key] = emission.prepare(self.Xp)
        return self._prepared[key]

    @property
    def Xp(self) -> np.ndarray:
        """The observations in the padded time-major layout, flattened: (Lp * nb, ...)."""
        if self._Xp is None:
            self._Xp = np.take(self.X, self.layout.idxT.ravel(), axis=0)
        return self._Xp

    @property
    def n_points(self) -> int:
        return int(self.lengths.sum())


def _check_many(raw: list, names: list, check) -> _Data:
    """Check every sequence with ``check(seq, name)`` and build their _Data.

    Fast path for many numpy arrays of one dtype: the element checks run once on their
    concatenation; only if that fails are the sequences checked one by one, so that the
    message names the offending one.
    """
    if len(raw) > 1 and all(isinstance(r, np.ndarray) for r in raw):
        dtypes = {r.dtype for r in raw}
        ndims = {r.ndim for r in raw}
        tails = {r.shape[1:] for r in raw}
        if (len(dtypes) == 1 and len(ndims) == 1 and len(tails) == 1
                and dtypes.pop().kind in "iuf" and all(len(r) > 0 for r in raw)):
            try:
                X = check(np.concatenate(raw, axis=0), names[0])
            except (TypeError, ValueError):
                X = None
            if X is not None:
                lengths = np.array([len(r) for r in raw], dtype=np.intp)
                return _Data(np.split(X, np.cumsum(lengths)[:-1]), X=X)
    return _Data([check(r, n) for r, n in zip(raw, names)])


def _data_for(sequences, params: HMMParams, name: str = "sequences") -> _Data:
    raw, names = _split(sequences, name, params.emission.obs_ndim)
    return _check_many(raw, names, params.emission.check_sequence)


def _one_sequence(obs, params: HMMParams, name: str = "obs") -> _Data:
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
    return _Data([emission.check_sequence(obs, name)])


# --------------------------------------------------------------------------------------------
# The block layout and the scaled recursions
# --------------------------------------------------------------------------------------------

def _block_length(lengths: np.ndarray, K: int = 4) -> int:
    """Steps per block: the L that minimises a rough cost model of one E-step.

    Each Python step costs a fixed overhead (about 2500 element operations' worth) plus the
    work on every block in the stack; blocks of sequences cut into several also need the
    K x K transfer-matrix products (about K times the work of a vector step) and two sweeps
    over their blocks (each step about twice a vector step's overhead). Whole short
    sequences are padded to L, long ones are cut: a single sequence of T steps gets
    L ≈ √T, a batch of similar lengths stays unsplit.
    """
    lengths = np.asarray(lengths)
    tmax = int(lengths.max())
    cands = {tmax, max(1, math.ceil(math.sqrt(tmax)))}
    cands.update(max(1, -(-tmax // 2 ** i)) for i in range(1, 24) if 2 ** i <= tmax)
    cands.update(int(np.ceil(np.quantile(lengths, q))) for q in (0.5, 0.75, 0.9, 0.95, 0.99))
    best, best_cost = tmax, np.inf
    for L in sorted(c for c in cands if c >= min(tmax, 16)):
        nbs = -(-lengths // L)
        nb = float(nbs.sum())
        n_multi = float(nbs[nbs > 1].sum())
        cost = 3 * L * (2500 + 10 * nb * K)
        if n_multi:  # the matrix products, and the two sweeps over each sequence's blocks
            cost += L * (2500 + 4 * n_multi * K * K) + 4 * float(nbs.max()) * 2500
        if cost < best_cost:
            best, best_cost = L, cost
    return best


class _Layout:
    """Every sequence cut into blocks of at most L steps; blocks stacked into (nb, Lp)."""

    def __init__(self, lengths: np.ndarray, block: int | None = None):
        L = _block_length(lengths) if block is None else int(block)
        n_seq = len(lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        nbs = -(-lengths // L)
        nb = int(nbs.sum())
        seq = np.repeat(np.arange(n_seq), nbs)
        first_block = np.concatenate([[0], np.cumsum(nbs)[:-1]])
        rank = np.arange(nb) - first_block[seq]
        start = offsets[seq] + rank * L
        blen = np.minimum(L, lengths[seq] - rank * L)
        Lp = int(blen.max())
        j = np.arange(Lp)
        self.valid = j[None, :] < blen[:, None]
        self.idx = np.where(self.valid, start[:, None] + j[None, :], 0)
        self.idxT = np.ascontiguousarray(self.idx.T)
        self.validT = np.ascontiguousarray(self.valid.T)
        self.full_col = self.valid.all(axis=0)
        self.all_full = bool(self.full_col.all())
        self.n_blocks, self.width = nb, Lp
        self.seq, self.rank, self.blen, self.nbs = seq, rank, blen, nbs
        self.is_first = rank == 0
        self.is_last = rank == nbs[seq] - 1
        self.first_idx = np.flatnonzero(self.is_first)
        self.last_idx = np.flatnonzero(self.is_last)
        self.offsets = offsets
        self.multi = np.flatnonzero(nbs[seq] > 1)
        self.max_rank = int(nbs.max())
        self.by_rank = [np.flatnonzero(rank == r) for r in range(self.max_rank)] \
            if self.max_rank > 1 else [self.first_idx]
        self.by_rank_not_last = [np.flatnonzero((rank == r) & ~self.is_last)
                                 for r in range(self.max_rank - 1)]
        self.not_first_idx = np.flatnonzero(rank > 0)
        # positions (in the concatenation) that have a predecessor in their sequence
        starts = np.zeros(int(offsets[-1]), dtype=bool)
        starts[offsets[:-1]] = True
        self.not_start = np.flatnonzero(~starts)
        self.seq_starts = offsets[:-1]
        self.seq_ends = offsets[1:] - 1


def _scaled_emissions(logB: np.ndarray):
    """exp(log p(x_n|k) - max_k) and the per-step offsets max_k log p(x_n|k).

    Works in place: ``logB`` is overwritten by the scaled probabilities (fresh arrays of
    this size cost more in page faults than the arithmetic).
    """
    offset = logB[:, 0].copy()
    for k in range(1, logB.shape[1]):  # K passes over N: much faster than max(axis=1)
        np.maximum(offset, logB[:, k], out=offset)
    impossible = ~np.isfinite(offset)
    if np.any(impossible):
        offset = np.where(impossible, 0.0, offset)
    np.subtract(logB, offset[:, None], out=logB)
    np.exp(logB, out=logB)
    return logB, offset


def _normalise(v: np.ndarray, axis=-1):
    s = v.sum(axis=axis, keepdims=True)
    bad = s <= 0
    if np.any(bad):
        s = np.where(bad, 1.0, s)
    return v / s


def _block_products(lay: _Layout, Bp: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Normalised products of the transfer matrices A·diag(b_n) over each block (nb, K, K).

    ``Bp`` is time-major, (Lp, nb, K). Only blocks of sequences that span several blocks need
    the products. The first block of a sequence starts with diag(b_1) (no transition into
    the first step). Padded steps are the identity.
    """
    _, nb, K = Bp.shape
    P = np.zeros((nb, K, K))
    sub = lay.multi
    if sub.size == 0:
        return P
    Bs = Bp[:, sub]
    valid = lay.validT[:, sub]
    first = lay.is_first[sub]
    n = sub.size
    ones = np.ones(K * K)
    S = A[None, :, :] * Bs[0, :, None, :]
    if np.any(first):
        S[first] = np.eye(K)[None] * Bs[0, first, None, :]
    tot = S.reshape(n, K * K) @ ones
    any_pad = ~valid.all(axis=1)
    buf = np.empty_like(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(1, Bs.shape[0]):
            # the previous step's normalisation 1/tot is folded into this step's emissions
            scale = Bs[j] / np.where(tot > 0, tot, 1.0)[:, None]
            np.matmul(S.reshape(n * K, K), A, out=buf.reshape(n * K, K))
            buf *= scale[:, None, :]
            if any_pad[j]:
                pad = ~valid[j]
                buf[pad] = S[pad] / np.where(tot[pad] > 0, tot[pad], 1.0)[:, None, None]
            S, buf = buf, S
            tot = S.reshape(n, K * K) @ ones
    S /= np.where(tot > 0, tot, 1.0)[:, None, None]
    P[sub] = S
    return P


def _empty(work, name, shape):
    return np.empty(shape) if work is None else work(name, shape)


def _forward_backward_core(lay: _Layout, logBp: np.ndarray, params: HMMParams,
                           want_posteriors: bool = True, work=None):
    """Scaled forward-backward on all blocks of all sequences at once.

    ``logBp`` holds log p(x | k) in the padded time-major layout, shape (Lp * nb, K) (see
    :attr:`_Data.Xp`). Returns (loglik per sequence, gamma (Lp, nb, K) with zeros at padded
    steps, or None; xi_sum (K, K) or None; impossible).
    Arrays inside are time-major, (Lp, nb, K): step j of every block at once. ``logBp`` is
    overwritten; ``work(name, shape)``, if given, supplies reusable buffers.
    """
    K = params.n_states
    A = params.transmat
    pi = params.startprob
    end = params.endprob
    nb, Lp = lay.n_blocks, lay.width
    B, offset = _scaled_emissions(logBp)
    Bp = B.reshape(Lp, nb, K)
    offset = offset.reshape(Lp, nb)
    ones = np.ones(K)
    multi = lay.max_rank > 1
    P = _block_products(lay, Bp, A) if multi else None

    # forward sweep over blocks: α̂ just before each block (π for first blocks)
    a_in = np.empty((nb, K))
    a_in[lay.first_idx] = pi
    for cur in lay.by_rank[1:]:
        v = np.einsum("bi,bij->bj", a_in[cur - 1], P[cur - 1])
        a_in[cur] = v / np.where((s := v @ ones) > 0, s, 1.0)[:, None]

    # the exact scaled forward recursion inside every block at once
    alpha = _empty(work, "alpha", (Lp, nb, K))
    logc = _empty(work, "logc", (Lp, nb))
    a = a_in
    first = lay.first_idx
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(Lp):
            u = alpha[j]
            np.matmul(a, A, out=u)
            if j == 0:
                u[first] = a[first]
            u *= Bp[j]
            c = u @ ones
            if not lay.full_col[j]:
                v = lay.validT[j]
                c[~v] = 1.0
                u[~v] = a[~v]
            u /= c[:, None]
            np.log(c, out=logc[j])
            a = u
    validT = lay.validT
    lc = logc[validT] if not lay.all_full else logc
    if not np.all(np.isfinite(lc)):
        return np.full(len(lay.nbs), -np.inf), None, None, True

    last_pos = lay.blen[lay.last_idx] - 1
    a_last = alpha[last_pos, lay.last_idx]                    # α̂ at each sequence's end
    per_block = logc.sum(axis=0) if lay.all_full else np.where(validT, logc, 0.0).sum(axis=0)
    loglik = np.bincount(lay.seq, weights=per_block, minlength=len(lay.nbs))
    if not lay.all_full:
        offset = np.where(validT, offset, 0.0)
    loglik += np.bincount(lay.seq, weights=offset.sum(axis=0), minlength=len(lay.nbs))
    if end is not None:
        stop = a_last @ end
        if np.any(stop <= 0):
            return np.full(len(lay.nbs), -np.inf), None, None, True
        loglik += np.log(stop)
    if not want_posteriors:
        return loglik, None, None, False

    # backward: directions β̃ (normalised to sum 1) at the end of every block, then inside
    e_vec = ones if end is None else end
    e_vec = e_vec / e_vec.sum()
    b_out = np.empty((nb, K))
    b_out[lay.last_idx] = e_vec
    if multi:
        for cur in lay.by_rank_not_last[::-1]:
            v = np.einsum("bij,bj->bi", P[cur + 1], b_out[cur + 1])
            b_out[cur] = v / np.where((s := v @ ones) > 0, s, 1.0)[:, None]
    beta = _empty(work, "beta", (Lp, nb, K))
    W = _empty(work, "W", (Lp, nb, K))    # W[j] = b_j ⊙ β̃_j, reused by ξ
    snorm = _empty(work, "snorm", (Lp, nb))  # Σ_i (A W[j])_i, the normaliser of β̃_{j-1}
    snorm[0] = 1.0
    b = b_out
    beta[Lp - 1] = b
    AT = np.ascontiguousarray(A.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(Lp - 1, 0, -1):
            w = W[j]
            np.multiply(Bp[j], b, out=w)
            nxt = beta[j - 1]
            np.matmul(w, AT, out=nxt)
            s = snorm[j]
            np.matmul(nxt, ones, out=s)
            if not lay.full_col[j]:
                keep = j >= lay.blen
                s[keep] = 1.0
                nxt[keep] = b_out[keep]
            s[s <= 0] = 1.0
            nxt /= s[:, None]
            b = nxt

    # ξ across block boundaries (the first step of every non-first block)
    xi_sum = np.zeros((K, K))
    if multi:
        cur = lay.not_first_idx
        w = Bp[0, cur] * beta[0, cur]
        prev = alpha[Lp - 1, cur - 1]
        norm = np.einsum("bi,bi->b", prev, w @ AT)
        norm[norm <= 0] = np.inf
        xi_sum += (prev / norm[:, None]).T @ w

    gam = np.multiply(alpha, beta, out=beta)   # β̃ is not needed any more
    gs = gam @ ones
    if not lay.all_full:
        gs[~validT] = np.inf       # padded steps get γ = 0
    gs[gs <= 0] = 1.0
    gam /= gs[..., None]
    # Σ_n ξ(z_{n-1,i}, z_{n,j}) ∝ α̂_{n-1}(i) A_ij b_n(j) β̃_n(j). Its normaliser
    # Σ_ij α̂_{n-1}(i) A_ij W_n(j) = snorm_n · (α̂_{n-1}·β̃_{n-1}) = snorm_n · gs_{n-1}.
    if Lp > 1:
        norm = snorm[1:] * gs[:-1]
        if not lay.all_full:
            norm[~validT[1:]] = np.inf
        prev_s = np.divide(alpha[:-1], norm[..., None], out=alpha[:-1])  # last use of α̂
        xi_sum += prev_s.reshape(-1, K).T @ W[1:].reshape(-1, K)
    xi_sum *= A
    return loglik, gam, xi_sum, False


def _unpad(lay: _Layout, gam: np.ndarray) -> np.ndarray:
    """(Lp, nb, K) time-major padded array -> (N, K) in the order of the concatenation."""
    return gam.transpose(1, 0, 2)[lay.valid]


def _posteriors(data: _Data, params: HMMParams, name: str):
    lay = data.layout
    logBp = params.emission.log_likelihood(
        data.Xp, out=data.work("logB", (lay.width * lay.n_blocks, params.n_states)))
    ll, gam, xi_sum, bad = _forward_backward_core(lay, logBp, params, work=data.work)
    if bad:
        raise _impossible(name)
    return ll, gam, xi_sum


def _impossible(name: str):
    return ValueError(f"{name} has probability zero under params (some observation cannot be "
                      f"emitted by any state the model can be in there, or no state can "
                      f"stop); its posteriors are undefined")


# --------------------------------------------------------------------------------------------
# Public inference
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ForwardBackwardResult:
    """What :func:`forward_backward` returns.

    Attributes
    ----------
    gamma : ndarray (T, K), γ(z_nk) = p(z_n = k | X, θ); rows sum to 1.
    xi_sum : ndarray (K, K), Σ_{n=2}^T ξ(z_{n-1,j}, z_nk): expected transition counts.
    loglik : float, log p(X | θ) (including the stop when the model has ``endprob``).
    """

    gamma: np.ndarray
    xi_sum: np.ndarray
    loglik: float


def forward_backward(obs, params: HMMParams) -> ForwardBackwardResult:
    """Posterior state marginals and expected transition counts of one sequence.

    Parameters
    ----------
    obs : one sequence: 1-D int array (categorical) or (T, D) array (Gaussian), T >= 1.
    params : HMMParams

    Returns
    -------
    ForwardBackwardResult
        ``gamma`` (T, K), ``xi_sum`` (K, K), ``loglik``.

    Notes
    -----
    Scaled recursions (Bishop §13.2.4): α̂(z_n) = c_n⁻¹ p(x_n|z_n) Σ α̂(z_{n-1}) A, with
    log p(X) = Σ_n log c_n (+ log Σ_k α̂(z_Tk) e_k with a STOP state), exact for any T.
    Raises ValueError if ``obs`` has probability zero under ``params``.
    """
    params = _check_params(params)
    data = _one_sequence(obs, params)
    ll, gam, xi_sum = _posteriors(data, params, "obs")
    return ForwardBackwardResult(gamma=_unpad(data.layout, gam), xi_sum=xi_sum,
                                 loglik=float(ll[0]))


def score(sequences, params: HMMParams) -> float:
    """log p(sequences | θ), summed over sequences (-inf if one is impossible)."""
    params = _check_params(params)
    data = _data_for(sequences, params)
    logBp = params.emission.log_likelihood(data.Xp)
    ll, _, _, bad = _forward_backward_core(data.layout, logBp, params, want_posteriors=False)
    return float(ll.sum()) if not bad else -np.inf


def posterior_decode(obs, params: HMMParams) -> np.ndarray:
    """The individually most probable state of every step, argmax_k γ(z_nk), shape (T,)."""
    return forward_backward(obs, params).gamma.argmax(axis=1)


@dataclass(frozen=True, eq=False)
class HMMStats:
    """Expected sufficient statistics of :func:`e_step`, summed over sequences.

    Attributes
    ----------
    start : (K,) Σ_sequences γ(z_1k).
    trans : (K, K) Σ_sequences Σ_n ξ(z_{n-1,j}, z_nk) (expected transition counts).
    end : (K,) Σ_sequences γ(z_Tk) (expected number of sequences stopping in k).
    occupancy : (K,) Σ_sequences Σ_n γ(z_nk).
    emission : tuple of arrays, the emission's statistics (``Categorical``: expected
        counts (K, M); ``Gaussian``: (N_k, Σγ(x-c), Σγ(x-c)(x-c)ᵀ, c)).
    gamma : list of (T_s, K) arrays, the posteriors of every sequence (computed on access).
    n_sequences, n_points : int.
    """

    start: np.ndarray
    trans: np.ndarray
    end: np.ndarray
    occupancy: np.ndarray
    emission: tuple
    n_sequences: int
    n_points: int
    _padded: np.ndarray = field(repr=False, default=None)
    _layout: object = field(repr=False, default=None)

    @property
    def gamma(self) -> list:
        flat = _unpad(self._layout, self._padded)
        return np.split(flat, self._layout.offsets[1:-1])


def _e_step(data: _Data, params: HMMParams):
    ll, gam, xi_sum = _posteriors(data, params, "sequences")
    lay = data.layout
    K = params.n_states
    last_pos = lay.blen[lay.last_idx] - 1
    stats = HMMStats(start=gam[0, lay.first_idx].sum(axis=0), trans=xi_sum,
                     end=gam[last_pos, lay.last_idx].sum(axis=0),
                     occupancy=gam.sum(axis=(0, 1)),
                     emission=params.emission.statistics(data.prepared(params.emission),
                                                         gam.reshape(-1, K)),
                     n_sequences=len(data.seqs), n_points=data.n_points,
                     _padded=gam, _layout=lay)
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
    loglik : float, Σ_sequences log p(X_s | θᵗ).
    """
    params = _check_params(params)
    return _e_step(_data_for(sequences, params), params)


def _m_step(stats: HMMStats, params: HMMParams, reg_covar: float) -> HMMParams:
    startprob = stats.start / stats.start.sum()
    emission = params.emission.m_step(stats.emission, reg_covar=reg_covar)
    if params.endprob is None:
        transmat = _normalise_rows(stats.trans)
        endprob = None
    else:
        both = _normalise_rows(np.concatenate([stats.trans, stats.end[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
        if not np.any(endprob > 0):  # cannot happen from data: every sequence ends somewhere
            raise ValueError("endprob re-estimated to all zeros")
    return HMMParams(startprob, transmat, emission, endprob)


def _sum_count_log(counts, probs) -> float:
    """Σ counts · ln probs, with 0 · ln 0 = 0 (and -inf where a positive count meets 0)."""
    counts = np.asarray(counts, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.log(probs)
    return float(np.sum(np.where(counts > 0, counts * logs, 0.0)))


def q_function(stats: HMMStats, params: HMMParams) -> float:
    """Q(θ, θᵗ) = E_{Z|X,θᵗ}[ln p(X, Z | θ)] from the expected counts of an E-step at θᵗ.

    Q = Σ_k γ(z_1k) ln π_k + Σ_n Σ_jk ξ(z_{n-1,j}, z_nk) ln A_jk (+ Σ_k γ(z_Nk) ln e_k with a
    STOP state) + Σ_n Σ_k γ(z_nk) ln p(x_n | φ_k)  (Bishop 13.17), summed over sequences.
    ``stats`` comes from :func:`e_step` at θᵗ; ``params`` is θ (same structure). Terms with
    zero expected count contribute 0 even where a probability is 0. :func:`m_step` returns
    the θ that maximises it.
    """
    params = _check_params(params)
    if not isinstance(stats, HMMStats):
        raise TypeError(f"stats must be an HMMStats (from e_step); found "
                        f"{type(stats).__name__}")
    q = _sum_count_log(stats.start, params.startprob) + _sum_count_log(stats.trans,
                                                                        params.transmat)
    if params.endprob is not None:
        q += _sum_count_log(stats.end, params.endprob)
    return q + params.emission.expected_log_likelihood(stats.emission)


def m_step(stats: HMMStats, params: HMMParams, *, reg_covar: float = 1e-6) -> HMMParams:
    """M-step: θᵗ⁺¹ from the expected counts of :func:`e_step`.

    π_k = Σ γ(z_1k) / S; A_jk = Σ ξ(z_{n-1,j}, z_nk) / Σ_l Σ ξ(z_{n-1,j}, z_nl) without a
    STOP state, and A_jk = Σ ξ_jk / Σ_n γ(z_nj), e_j = Σ γ(z_Tj) / Σ_n γ(z_nj) with one; the
    emission re-estimates itself. ``params`` (θᵗ) supplies the model's structure (emission
    type, whether it has a STOP state). A state with no expected transitions out of it gets
    a uniform row.
    """
    params = _check_params(params)
    if not isinstance(stats, HMMStats):
        raise TypeError(f"stats must be an HMMStats (from e_step); found "
                        f"{type(stats).__name__}")
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    return _m_step(stats, params, reg_covar)


# --------------------------------------------------------------------------------------------
# Viterbi
# --------------------------------------------------------------------------------------------

def _maxplus_block_products(lay: _Layout, lBp: np.ndarray, logA: np.ndarray) -> np.ndarray:
    nb, _, K = lBp.shape
    P = np.full((nb, K, K), -np.inf)
    sub = lay.multi
    if sub.size == 0:
        return P
    lB = lBp[sub]
    valid = lay.valid[sub]
    first = lay.is_first[sub]
    S = logA[None] + lB[:, 0, None, :]
    if np.any(first):
        diag = np.where(np.eye(K, dtype=bool), 0.0, -np.inf)
        S[first] = diag[None] + lB[first, 0, None, :]
    S = _shift_max(S)
    any_pad = ~valid.all(axis=0)
    for j in range(1, lB.shape[1]):
        new = (S[:, :, :, None] + logA[None, None]).max(axis=2) + lB[:, j, None, :]
        new = _shift_max(new)
        if any_pad[j]:
            new = np.where(valid[:, j, None, None], new, S)
        S = new
    P[sub] = S
    return P


def _shift_max(S: np.ndarray) -> np.ndarray:
    """Subtract each stack entry's overall maximum (max-plus normalisation)."""
    m = S.reshape(S.shape[0], -1).max(axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    return S - m.reshape((-1,) + (1,) * (S.ndim - 1))


def _path_log_prob(states, logB, logpi, logA, logend) -> float:
    terms = [logpi[states[0]], logB[np.arange(len(states)), states].sum()]
    if len(states) > 1:
        terms.append(logA[states[:-1], states[1:]].sum())
    if logend is not None:
        terms.append(logend[states[-1]])
    return float(sum(terms))


def viterbi(obs, params: HMMParams):
    """The most probable state path of one sequence and its joint log-probability.

    Parameters
    ----------
    obs : one sequence.
    params : HMMParams

    Returns
    -------
    states : ndarray (T,) of ints, argmax_Z p(X, Z | θ).
    log_prob : float, log p(X, Z* | θ) (with the stop when the model has ``endprob``);
        -inf if ``obs`` is impossible under ``params``.

    Notes
    -----
    Max-sum recursion ω(z_n) = log p(x_n|z_n) + max_{z_{n-1}} (log A + ω(z_{n-1}))
    (Bishop §13.2.5) in log space, run over blocks of the sequence at once: max-plus block
    products fix the block boundaries, back-pointers are composed per block.
    """
    params = _check_params(params)
    data = _one_sequence(obs, params)
    lay = data.layout
    K = params.n_states
    with np.errstate(divide="ignore"):
        logA = np.log(params.transmat)
        logpi = np.log(params.startprob)
        logend = None if params.endprob is None else np.log(params.endprob)
    logB = params.emission.log_likelihood(data.X)
    lBp = logB[lay.idx]
    nb, Lp = lay.n_blocks, lay.width
    P = _maxplus_block_products(lay, lBp, logA) if lay.max_rank > 1 else None
    d_in = np.empty((nb, K))
    d_in[0] = logpi
    for r in range(1, nb):
        d_in[r] = _shift_max((d_in[r - 1][:, None] + P[r - 1]).max(axis=0)[None])[0]
    ptr = np.zeros((nb, Lp, K), dtype=np.intp)
    d = d_in
    for j in range(Lp):
        cand = d[:, :, None] + logA[None]
        ptr[:, j] = cand.argmax(axis=1)
        new = cand.max(axis=1)
        if j == 0:
            new[0] = d[0]
        new = _shift_max(new + lBp[:, j])
        if not lay.full_col[j]:
            new = np.where(lay.valid[:, j, None], new, d)
        d = new
    final = d[nb - 1] + (0.0 if logend is None else logend)
    if not np.any(np.isfinite(final)):
        return np.zeros(data.n_points, dtype=np.intp), -np.inf
    # Z[b, j, k]: state at step j on the best path ending in state k at the block's end
    Z = np.empty((nb, Lp, K), dtype=np.intp)
    cur = np.broadcast_to(np.arange(K), (nb, K)).copy()
    rows = np.arange(nb)[:, None]
    for j in range(Lp - 1, -1, -1):
        if lay.full_col[j]:
            Z[:, j] = cur
            cur = ptr[rows, j, cur]
        else:
            v = lay.valid[:, j, None]
            Z[:, j] = cur
            cur = np.where(v, ptr[rows, j, cur], cur)
    # cur[b, k]: state just before block b on the best path ending in k at block b's end
    end_state = np.empty(nb, dtype=np.intp)
    end_state[nb - 1] = int(np.argmax(final))
    for b in range(nb - 1, 0, -1):
        end_state[b - 1] = cur[b, end_state[b]]
    states = Z[np.arange(nb)[:, None], np.arange(Lp)[None, :], end_state[:, None]]
    states = states[lay.valid]
    return states, _path_log_prob(states, logB, logpi, logA, logend)


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class HMMResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params : HMMParams, the fitted θⁿ.
    loglik : float, log p(sequences | θⁿ), summed over sequences.
    loglik_history : ndarray (n_iter + 1,), log p(sequences | θⁱ) for i = 0..n (θ⁰ first).
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


def _random_params(data: _Data, K: int, emission: str, n_symbols, reg_covar: float,
                   with_endprob: bool, rng: np.random.Generator) -> HMMParams:
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K + 1 if with_endprob else K), size=K)
    endprob = None
    if with_endprob:
        transmat, endprob = transmat[:, :-1], transmat[:, -1]
    if emission == "categorical":
        M = int(data.X.max()) + 1 if n_symbols is None else n_symbols
        em_model = Categorical(rng.dirichlet(np.ones(M), size=K))
    else:
        X = data.X
        N, D = X.shape
        pick = rng.choice(N, size=K, replace=N < K)
        cov = np.atleast_2d(np.cov(X.T, bias=True)) if N > 1 else np.zeros((D, D))
        cov = cov + max(reg_covar, 1e-6 * max(float(np.trace(cov)) / D, 1e-12)) * np.eye(D)
        em_model = Gaussian(X[pick], np.broadcast_to(cov, (K, D, D)).copy())
    return HMMParams(startprob, transmat, em_model, endprob)


def fit(sequences, n_states, *, init="random", emission=None, max_iter: int = 100,
        tol: float = 1e-6, reg_covar: float = 1e-6, seed=None, n_symbols=None,
        with_endprob: bool = False) -> HMMResult:
    """Baum-Welch: fit an HMM by EM (run by :func:`emref.em.run`).

    Parameters
    ----------
    sequences : one sequence or a list of sequences of any lengths.
    n_states : int >= 1, the number of hidden states K.
    init : "random" or HMMParams
        "random": π and the rows of A (and of the emission, categorical) drawn from a flat
        Dirichlet; Gaussian means are K data points, covariances the data covariance.
        HMMParams: start exactly there (its emission type and STOP state decide the model).
    emission : None, "categorical" or "gaussian"
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
    if emission is not None:
        emission = check_option(emission, "emission", EMISSIONS)
    if isinstance(init, HMMParams):
        if init.n_states != K:
            raise ValueError(f"init must have n_states = {K} states; found an HMMParams "
                             f"with {init.n_states}")
        if emission is not None and init.emission.kind != emission:
            raise ValueError(f"emission must match init; found emission={emission!r} and an "
                             f"init with {init.emission.kind} emissions")
        params0 = init
        data = _data_for(sequences, params0)
    elif isinstance(init, str):
        check_option(init, "init", ("random",))
        emission = emission or "categorical"
        rng = check_seed(seed)
        if n_symbols is not None:
            n_symbols = check_int(n_symbols, "n_symbols", low=1)
        if emission == "categorical":
            raw, names = _split(sequences, "sequences", 1)
            data = _check_many(raw, names, lambda s, n: _check_symbols(s, n, n_symbols))
        else:
            raw, names = _split(sequences, "sequences", 2)
            D = _check_vectors(raw[0], names[0], None).shape[1]
            data = _check_many(raw, names, lambda s, n: _check_vectors(s, n, D))
        params0 = _random_params(data, K, emission, n_symbols, reg_covar, bool(with_endprob),
                                 rng)
    else:
        raise TypeError(f"init must be 'random' or an HMMParams; found {type(init).__name__}")

    structure = [params0]

    def e(params):
        structure[0] = params
        return _e_step(data, params)

    def m(stats):
        return _m_step(stats, structure[0], reg_covar)

    run = em.run(e, m, params0, n_points=data.n_points, max_iter=max_iter, tol=tol)
    return HMMResult(params=run.params, loglik=run.loglik, loglik_history=run.loglik_history,
                     n_iter=run.n_iter, converged=run.converged, stats=run.stats)


def fit_supervised(sequences, state_sequences, n_states, *, n_symbols=None,
                   pseudocount: float = 0.0, with_endprob: bool = False,
                   reg_covar: float = 1e-6) -> HMMParams:
    """Maximum-likelihood HMM from tagged sequences, by counting.

    Parameters
    ----------
    sequences : one sequence or a list: 1-D int arrays (categorical) or (T, D) arrays
        (Gaussian); the emission type follows from their shape.
    state_sequences : the hidden state of every step, matching ``sequences`` in number and
        lengths, integers 0..n_states-1.
    n_states : int >= 1
    n_symbols : None or int, alphabet size M (default: largest symbol + 1).
    pseudocount : float >= 0, added to every start, transition, (stop) and emission count
        (add-λ smoothing; Gaussians: not used for means and covariances).
    with_endprob : bool, estimate a STOP state from where the sequences end.
    reg_covar : float >= 0, added to the Gaussian covariances' diagonal.

    Returns
    -------
    HMMParams
        π ∝ starts + λ, A_jk ∝ #(j→k) + λ, (e_j ∝ #(j ends) + λ), B_km ∝ #(k emits m) + λ;
        a state never seen (and λ = 0) gets uniform rows.
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
        if isinstance(sequences, np.ndarray) and sequences.dtype != object or isinstance(sequences, (list, tuple)):
            obs_raw = list(sequences)
        else:
            raise TypeError(f"sequences must be a list of sequences to match "
                            f"state_sequences; found {type(sequences).__name__}")
        obs_names = [f"sequences[{i}]" for i in range(len(obs_raw))]
        if len(obs_raw) != len(states):
            raise ValueError(f"sequences must hold one sequence per state sequence; found "
                             f"{len(obs_raw)} sequences and {len(states)} state sequences")
    first = np.asarray(obs_raw[0]) if not isinstance(obs_raw[0], np.ndarray) else obs_raw[0]
    gaussian = first.ndim == 2
    if gaussian:
        seqs = [_check_vectors(s, n, None) for s, n in zip(obs_raw, obs_names)]
        D = seqs[0].shape[1]
        seqs = [_check_vectors(s, n, D) for s, n in zip(seqs, obs_names)]
    else:
        if n_symbols is not None:
            n_symbols = check_int(n_symbols, "n_symbols", low=1)
        seqs = [_check_symbols(s, n, n_symbols) for s, n in zip(obs_raw, obs_names)]
    for x, z, n, zn in zip(seqs, states, obs_names, state_names):
        if len(x) != len(z):
            raise ValueError(f"{zn} must have the same length as {n}; found {len(z)} states "
                             f"for {len(x)} observations")
    data = _Data(seqs)
    Z = np.concatenate(states)
    lay = data.layout
    onehot = np.zeros((len(Z), K))
    onehot[np.arange(len(Z)), Z] = 1.0
    start = np.bincount(Z[lay.seq_starts], minlength=K).astype(float) + pseudocount
    ends = np.bincount(Z[lay.seq_ends], minlength=K).astype(float)
    trans = np.zeros((K, K))
    ns = lay.not_start
    np.add.at(trans, (Z[ns - 1], Z[ns]), 1.0)
    trans += pseudocount
    if start.sum() <= 0:
        start = np.ones(K)
    startprob = start / start.sum()
    if with_endprob:
        both = _normalise_rows(np.concatenate([trans, (ends + pseudocount)[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
    else:
        transmat, endprob = _normalise_rows(trans), None
    if gaussian:
        X = data.X
        post, firstm, second, center = _gaussian_statistics(_gaussian_features(X), onehot)
        emission = Gaussian.from_statistics(post, firstm, second, center, reg_covar=reg_covar)
    else:
        M = int(data.X.max()) + 1 if n_symbols is None else n_symbols
        counts = np.zeros((K, M))
        np.add.at(counts, (Z, data.X), 1.0)
        emission = Categorical.from_counts(counts + pseudocount)
    return HMMParams(startprob, transmat, emission, endprob)


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
    import bisect
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
