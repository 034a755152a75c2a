"""Argument checks shared by every emref module.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, wrong
value or shape) with a message that names the argument, says what was found and what is
expected. Keeping them here means one wording for one mistake across k-means, GMMs and HMMs.
"""

from __future__ import annotations

import numbers

import numpy as np

# Probabilities are accepted when they sum to one within this tolerance; it is loose enough
# for values typed by hand with a few decimals and tight enough to catch a forgotten
# normalisation.
SUM_TOL = 1e-6


def describe_shape(a) -> str:
    return "shape " + str(tuple(np.shape(a)))


def as_float_array(x, name: str, ndim: int | None = None,
                   allow_nan: bool = False) -> np.ndarray:
    """Convert ``x`` to a float64 array, rejecting non-numeric input and NaN/inf.

    With ``allow_nan`` a NaN is accepted (it stands for a missing value); infinities are not.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of numbers; found {type(x).__name__}")
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers; found {type(x).__name__} "
                        f"that cannot be converted ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array; found a {arr.ndim}-D array "
                         f"of {describe_shape(arr)}")
    if allow_nan:
        n_inf = int(np.count_nonzero(np.isinf(arr)))
        if n_inf:
            raise ValueError(f"{name} must contain only finite numbers or NaN (missing); "
                             f"found {n_inf} infinite value(s)")
    elif not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must contain only finite numbers; found {bad} NaN or "
                         f"infinite value(s)")
    return arr


def check_data(X, name: str = "X", allow_missing: bool = False) -> np.ndarray:
    """Data matrix of shape (N, D), N >= 1, D >= 1, finite.

    With ``allow_missing`` a NaN entry is a missing value; a row with every entry missing
    carries no information and is rejected.
    """
    arr = as_float_array(X, name, allow_nan=allow_missing)
    if arr.ndim == 1:
        raise ValueError(f"{name} must be a 2-D array of shape (N, D); found a 1-D array of "
                         f"{describe_shape(arr)}: for one feature use {name}.reshape(-1, 1)")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (N, D); found {describe_shape(arr)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one point of at least one dimension; "
                         f"found {describe_shape(arr)}")
    if allow_missing:
        empty = np.flatnonzero(np.isnan(arr).all(axis=1))
        if empty.size:
            raise ValueError(f"{name} has {empty.size} row(s) with every entry missing (NaN), "
                             f"first row {int(empty[0])}: such a point carries no "
                             f"information; drop it")
    return arr


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """An integer (not a bool, not a float) in [low, high]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; found {value!r} "
                        f"of type {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}; found {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}; found {value}")
    return value


def check_n_clusters(k, n_points: int, name: str = "k") -> int:
    k = check_int(k, name, low=1)
    if k > n_points:
        raise ValueError(f"{name} must be at most the number of data points ({n_points}); "
                         f"found {k}")
    return k


def check_real(value, name: str, low: float | None = None, low_open: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; found {value!r} "
                        f"of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; found {value}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise ValueError(f"{name} must be {bound}; found {value}")
    return value


def check_option(value, name: str, options) -> str:
    if not isinstance(value, str) or value not in options:
        expected = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {expected}; found {value!r}")
    return value


def check_probability_vector(p, name: str, size: int | None = None) -> np.ndarray:
    """Non-negative entries summing to one."""
    arr = as_float_array(p, name, ndim=1)
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have shape ({size},); found {describe_shape(arr)}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; found minimum {arr.min():.6g}")
    total = arr.sum()
    if abs(total - 1.0) > SUM_TOL:
        raise ValueError(f"{name} must sum to 1; found sum {total:.10g}")
    return arr


def check_row_stochastic(P, name: str, shape: tuple, row_extra=None,
                         extra_name: str | None = None) -> np.ndarray:
    """Non-negative matrix whose rows (plus ``row_extra``, if given) sum to one."""
    arr = as_float_array(P, name, ndim=len(shape))
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; found {describe_shape(arr)}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; found minimum {arr.min():.6g}")
    sums = arr.sum(axis=-1)
    what = f"each row of {name}"
    if row_extra is not None:
        sums = sums + row_extra
        what += f" plus its {extra_name}"
    bad = np.abs(sums - 1.0) > SUM_TOL
    if np.any(bad):
        idx = np.flatnonzero(bad.ravel())[0]
        raise ValueError(f"{what} must sum to 1; row {idx} sums to {sums.ravel()[idx]:.10g}")
    return arr


def check_covariances(covariances, name: str, K: int, D: int):
    """Symmetric positive definite (K, D, D) matrices; returns them with their Cholesky factors.

    Symmetry is checked to a relative tolerance (products of floats are not exactly
    symmetric: 1e-8, or 64 machine epsilons of a float32 or float16 input) and the matrix is then symmetrised, so that the factor belongs to it exactly.
    """
    # products in single precision are symmetric only to float32's rounding: the tolerance
    # follows the precision the caller computed in (never tighter than 1e-8)
    given = getattr(covariances, "dtype", None)
    eps = np.finfo(given).eps if given is not None and np.issubdtype(given, np.floating) \
        else np.finfo(float).eps
    rel_tol = max(1e-8, 64 * float(eps))
    arr = as_float_array(covariances, name, ndim=3)
    if arr.shape != (K, D, D):
        raise ValueError(f"{name} must have shape ({K}, {D}, {D}) (one full matrix per "
                         f"component); found {describe_shape(arr)}")
    asym = np.abs(arr - np.swapaxes(arr, 1, 2)).max(axis=(1, 2))
    scale = np.abs(arr).max(axis=(1, 2))
    bad = asym > rel_tol * np.maximum(scale, 1e-300)
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{k}] must be symmetric; found a largest asymmetry "
                         f"|S - S.T| of {asym[k]:.3g}")
    arr = 0.5 * (arr + np.swapaxes(arr, 1, 2))
    try:
        chol = np.linalg.cholesky(arr)
    except np.linalg.LinAlgError:
        chol = None
    if chol is None or not np.all(np.isfinite(chol)):
        eig = np.linalg.eigvalsh(arr).min(axis=1)
        k = int(np.argmin(eig))
        raise ValueError(f"{name}[{k}] must be positive definite; found smallest "
                         f"eigenvalue {eig[k]:.3g} (a component may have collapsed onto "
                         f"a single point: increase reg_covar)")
    return arr, chol


def check_seed(seed) -> np.random.Generator:
    """None, an int, or a Generator: the usual numpy spellings of a seed."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, an int or a numpy Generator; found "
                        f"{type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative; found {seed}")
    return np.random.default_rng(int(seed))


def check_not_collapsed(cov, means_c):
    """With reg_covar=0, a covariance that should be singular (a component on fewer than
    D + 1 points) keeps rounding noise of either sign, so positive definiteness alone would
    accept or reject it at random. Eigenvalues this small relative to the component's spread
    about the data mean are called singular."""
    D = cov.shape[1]
    scale = (np.diagonal(cov, axis1=1, axis2=2) + means_c ** 2).max(axis=1)
    smallest = np.linalg.eigvalsh(0.5 * (cov + np.swapaxes(cov, 1, 2)))[:, 0]
    bad = np.flatnonzero(smallest <= 1e-12 * scale)
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"covariances[{k}] is singular (smallest eigenvalue {smallest[k]:.3g}):"
                         f" component {k} has collapsed onto fewer than D + 1 = {D + 1} "
                         f"points; use reg_covar > 0")
