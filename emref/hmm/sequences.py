"""How sequences are passed to emref.hmm: the one rule, checked, never guessed.

- **One sequence is one array**: a 1-D array of integer symbols for categorical emissions,
  a (T, D) array for vector emissions (Gaussian, Poisson). Where a function takes one
  sequence (``obs``), any array-like of that shape will do.
- **Several sequences are a list** (or tuple) of such arrays, of any lengths. Where a
  function takes ``sequences``, a numpy array is one sequence and a list is several; a
  list is never read as one sequence, an array never as several.

A wrong shape is a ValueError that names the argument, what was found and what was
expected (for example a 2-D int array given as ``sequences`` to a categorical model: "pass
list(sequences) for S sequences of equal length").
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _hmm_batched as batched

__all__ = ["batch", "many_sequences", "one_sequence"]


def _what(cls) -> str:
    return cls.sequence_kind


def one_sequence(obs, emission, name: str = "obs") -> np.ndarray:
    """``obs`` checked as one sequence of the model ``emission`` (an Emission instance)."""
    if isinstance(obs, (list, tuple)) and len(obs) > 0:
        try:
            depth = np.ndim(obs)
        except ValueError:          # ragged: a list of sequences of different lengths
            depth = emission.obs_ndim + 1
        if depth > emission.obs_ndim:
            raise ValueError(f"{name} must be one sequence ({_what(emission)}); found a list "
                             f"of {len(obs)} sequences (use e_step or score for several)")
    return emission.check(obs, name)


def _as_list(sequences, name: str, cls) -> list:
    """The sequences of ``sequences`` as a list, by the rule of this module."""
    if isinstance(sequences, (str, bytes)) or sequences is None:
        raise TypeError(f"{name} must be one sequence ({_what(cls)}) or a list of sequences; "
                        f"found {type(sequences).__name__}")
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        if sequences.ndim == cls.obs_ndim + 1:
            raise ValueError(f"{name} must be one sequence ({_what(cls)}) or a list of "
                             f"sequences; found a {sequences.ndim}-D array of shape "
                             f"{sequences.shape}: pass list({name}) for "
                             f"{sequences.shape[0]} sequences of equal length")
        return [sequences]
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1:  # an object array of them
        sequences = list(sequences)
    if not isinstance(sequences, (list, tuple)):
        raise TypeError(f"{name} must be one sequence (a numpy array) or a list of sequences; "
                        f"found {type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError(f"{name} must hold at least one non-empty sequence; found an empty "
                         f"list")
    for i, seq in enumerate(sequences):
        if isinstance(seq, (numbers.Number, np.generic)) or (isinstance(seq, np.ndarray)
                                                              and seq.ndim == 0):
            raise ValueError(f"{name}[{i}] must be a sequence ({_what(cls)}); found the "
                             f"number {seq!r}: a list holds sequences, so one sequence is "
                             f"passed as an array (np.asarray({name})), several as a list "
                             f"of arrays")
    return list(sequences)


def many_sequences(sequences, cls, size: int | None = None,
                   name: str = "sequences") -> tuple[list, np.ndarray]:
    """Check one sequence or a list of sequences of the emission class ``cls``.

    ``size`` is the alphabet size M or dimension D to check against (None: any; for vector
    observations the first sequence's D then fixes the rest). Returns (the checked
    sequences, their concatenation). Many numpy arrays of one dtype are checked at once on
    their concatenation; only if that fails are they checked one by one, so that the
    message names the offending one.
    """
    raw = _as_list(sequences, name, cls)
    names = [name] if isinstance(sequences, np.ndarray) and sequences.dtype != object \
        else [f"{name}[{i}]" for i in range(len(raw))]
    if size is None and cls.obs_ndim == 2:
        size = cls.check_sequence(raw[0], names[0]).shape[1]
    if len(raw) > 1 and all(isinstance(r, np.ndarray) for r in raw):
        dtypes = {r.dtype for r in raw}
        ndims = {r.ndim for r in raw}
        tails = {r.shape[1:] for r in raw}
        if (len(dtypes) == 1 and ndims == {cls.obs_ndim} and len(tails) == 1
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


def batch(sequences, params, name: str = "sequences") -> batched.Batch:
    """The checked sequences of the model ``params``, laid out for the batched fast path."""
    emission = params.emission
    return batched.Batch(*many_sequences(sequences, type(emission), emission.obs_size, name))
