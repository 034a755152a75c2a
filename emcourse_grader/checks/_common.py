"""What the three assignment modules share: the check record and its registry, calling the
student's function, reading what came back, comparisons, permutation matching, random
problems and the wording of messages.

Every message names the student's function in backticks and, where it compares, shows what
was expected beside what was got, as a small summary (one entry or one short row, never a
hidden array).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------
# The check record and the one registry
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One homework check.

    run : callable(fn, rng) -> None
        Builds random problems from ``rng``, calls the student's ``fn`` and raises
        :class:`Fail` with the student-facing message at the first thing that is wrong.
    function : str
        The name of the student's function it grades (as in the notebook, e.g. ``"fit"``).
    uses : dict name -> callable
        The course's own versions of the earlier parts that the student's function calls
        (emref functions, or adapters of the assignment module when the notebook's signature
        differs from emref's); the grader may put them in place of the student's while it
        grades this part, so that a bug in an earlier part costs only that part.
    assignment : str
        "hw1", "hw2" or "hw3".
    """

    run: Callable
    function: str
    uses: dict = field(default_factory=dict)
    assignment: str = ""


REGISTRY: dict = {}


def register(name: str, *, function: str, assignment: str, uses: dict | None = None):
    """Decorator: register ``run(fn, rng)`` as the check ``name``."""
    def decorate(run):
        if name in REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        REGISTRY[name] = Check(run=run, function=function, uses=dict(uses or {}),
                               assignment=assignment)
        return run
    return decorate


class Fail(Exception):
    """Raised inside a check: its text is the student-facing message."""


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------

def q(name: str) -> str:
    """A function or variable name as the messages show it."""
    return f"`{name}`"


def num(x, digits: int = 4) -> str:
    """A number in ``digits`` significant digits (nan, inf shown as such)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "a non-number"  # never the value's own text: it may be the student's
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def show(a, limit: int = 6, digits: int = 4) -> str:
    """A short value: a number, or an array of at most ``limit`` entries; else its shape."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        return num(arr, digits)
    if arr.size <= limit:
        if arr.ndim == 1:
            return "[" + ", ".join(num(v, digits) for v in arr) + "]"
        return "[" + ", ".join(show(row, limit, digits) for row in arr) + "]"
    return f"an array of shape {arr.shape}"


def got_expected(got, expected, limit: int = 6) -> tuple:
    """``show`` of both, with as many digits as it takes (4 to 12) for them to differ."""
    for digits in range(4, 13):
        a, b = show(got, limit, digits), show(expected, limit, digits)
        if a != b:
            break
    return a, b


def index(idx) -> str:
    idx = tuple(int(i) for i in np.atleast_1d(idx))
    return "[" + ", ".join(str(i) for i in idx) + "]"


def worst_entry(got: np.ndarray, expected: np.ndarray, what: str) -> str:
    """'what[i, j] is 0.31; expected 0.25' at the largest difference."""
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    at = np.unravel_index(int(np.argmax(diff)), diff.shape)
    g, e = got_expected(got[at], expected[at])
    return f"{what}{index(at)} is {g}; expected {e}"


def worst_row(got: np.ndarray, expected: np.ndarray, what: str) -> str:
    """The row with the largest difference, both versions, if rows are short; else its entry."""
    if got.ndim < 2 or got.shape[-1] > 6 or got.ndim > 2:
        return worst_entry(got, expected, what)
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(diff), np.inf, diff).max(axis=1)
    i = int(np.argmax(diff))
    g, e = got_expected(got[i], expected[i])
    return f"{what}[{i}] is {g}; expected {e}"


# --------------------------------------------------------------------------------------------
# Calling the student's function and reading what comes back
# --------------------------------------------------------------------------------------------

def _copy(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, list):
        return [_copy(x) for x in a]
    return a


def describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"an array of shape {a.shape}"
    if isinstance(a, (list, tuple)):
        return f"a {type(a).__name__} of {len(a)}"
    if isinstance(a, (int, float, np.number)):
        return "a number"
    return type(a).__name__


#: How much of a student's exception the messages quote: its type's name and the start of its
#: text, on one line. The student's code sees the hidden problems, so whatever it raises could
#: carry them out through the feedback; this bound keeps that channel narrow.
QUOTE_TYPE = 40
QUOTE_TEXT = 80


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line: newlines, tabs and runs of spaces become one space
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quote_error(exc: BaseException) -> str:
    """A student's exception as the messages show it: ``Type: text`` with the type's name cut to
    :data:`QUOTE_TYPE` characters and the text to :data:`QUOTE_TEXT`, on one line."""
    kind = _clip(type(exc).__name__, QUOTE_TYPE) or "Exception"
    try:
        text = _clip(str(exc), QUOTE_TEXT)
    except Exception:  # noqa: BLE001 - a __str__ that fails is the student's
        text = ""
    return f"{kind}: {text}" if text else kind


# --------------------------------------------------------------------------------------------
# The precision the student computes in
# --------------------------------------------------------------------------------------------

#: float64's machine epsilon: the precision every comparison assumes unless the student's
#: function returned floats of a lower one.
EPS64 = float(np.finfo(np.float64).eps)
_PRECISION = contextvars.ContextVar("emcourse_check_precision", default=EPS64)


def precision() -> float:
    """The machine epsilon of the least precise floats the student's function has returned
    in the running check (float64's unless it returned float32 or float16 numbers)."""
    return _PRECISION.get()


def start_precision():
    """Begin a check at float64's precision; returns the token for :func:`end_precision`."""
    return _PRECISION.set(EPS64)


def end_precision(token) -> None:
    _PRECISION.reset(token)


def _note_precision(value, depth=0) -> None:
    """Lower :func:`precision` to that of the floats in ``value`` (arrays, numpy scalars,
    inside tuples, lists and records)."""
    if depth > 6:
        return
    dtype = getattr(value, "dtype", None)
    if isinstance(value, (np.ndarray, np.generic)) and dtype.kind in "fc":
        eps = float(np.finfo(dtype).eps)
        if eps > _PRECISION.get():
            _PRECISION.set(eps)
    elif isinstance(value, (tuple, list)) and len(value) < 64:
        for v in value:
            _note_precision(v, depth + 1)
    elif hasattr(value, "_fields") or hasattr(value, "__dataclass_fields__"):
        for v in (getattr(value, f, None) for f in getattr(value, "_fields", ()) or
                  getattr(value, "__dataclass_fields__", {})):
            _note_precision(v, depth + 1)


def tolerances(rtol: float, atol: float) -> tuple:
    """``(rtol, atol)`` for the precision the student computes in: as given for float64; for
    float32 no finer than 1000 and 100 machine epsilons (1.2e-4 and 1.2e-5), the rounding a
    correct single-precision computation of these sizes accumulates."""
    eps = precision()
    if eps <= EPS64:
        return rtol, atol
    return max(rtol, 1000 * eps), max(atol, 100 * eps)


def call(name: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on copies; a raised exception becomes a message naming ``name``
    that quotes at most a short line of it (:func:`quote_error`) and never the arguments.
    The precision of the floats it returns sets the tolerances (:func:`tolerances`)."""
    try:
        value = fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
        _note_precision(value)
        return value
    except NotImplementedError:
        raise Fail(f"{q(name)} is not implemented yet: it raises NotImplementedError") from None
    except RecursionError:
        raise Fail(f"{q(name)} recursed without end (RecursionError)") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a message
        shapes = ", ".join(describe(a) for a in args)
        raise Fail(f"{q(name)} raised {quote_error(exc)} when called with {shapes}; "
                   f"run it on the visible examples to see where") from None


def as_array(value, name: str, what: str, shape=None, ndim=None) -> np.ndarray:
    """``value`` as a float array of the expected shape, or a message naming ``name``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Fail(f"{q(name)} returned {describe(value)} as {what}; expected a numpy array "
                   f"of numbers") from None
    if shape is not None and arr.shape != tuple(shape):
        hint = ""
        if arr.ndim == len(shape) == 2 and arr.shape == tuple(shape)[::-1]:
            hint = " (it looks transposed)"
        elif arr.size == int(np.prod(shape)):
            hint = " (the right number of entries: reshape or drop the extra axis)"
        raise Fail(f"{q(name)} returned {what} of shape {arr.shape}; expected shape "
                   f"{tuple(shape)}{hint}")
    if ndim is not None and arr.ndim != ndim:
        raise Fail(f"{q(name)} returned {what} of shape {arr.shape}; expected a {ndim}-D array")
    return arr


def as_number(value, name: str, what: str) -> float:
    try:
        arr = np.asarray(value, dtype=float)
        if arr.size != 1:
            raise ValueError
        return float(arr.reshape(-1)[0])
    except (TypeError, ValueError):
        raise Fail(f"{q(name)} returned {describe(value)} as {what}; expected one "
                   f"number") from None


def as_tuple(value, name: str, parts: tuple) -> tuple:
    """A returned tuple (or list) of ``len(parts)`` values, or a message listing them."""
    if not isinstance(value, (tuple, list)) or len(value) != len(parts):
        found = (f"a {type(value).__name__} of {len(value)} values"
                 if isinstance(value, (tuple, list)) else describe(value))
        raise Fail(f"{q(name)} returned {found}; expected a tuple ({', '.join(parts)})")
    return tuple(value)


def finite(arr: np.ndarray, name: str, what: str, hint: str = "") -> None:
    """A message if ``arr`` has NaN or infinite entries; ``hint`` only when it fits."""
    if np.all(np.isfinite(arr)):
        return
    nan = int(np.isnan(arr).sum())
    inf = int(np.isinf(arr).sum())
    kinds = " and ".join(f"{c} {k}" for k, c in (("NaN", nan), ("infinite", inf)) if c)
    raise Fail(f"{q(name)} returned {what} with {kinds} entries (of {arr.size}); expected "
               f"finite numbers{hint}")


def close(a, b, rtol=1e-6, atol=1e-8) -> bool:
    """Same shape and equal within ``rtol``/``atol``, loosened for a student who computes in
    single precision (:func:`tolerances`)."""
    rtol, atol = tolerances(rtol, atol)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def same_value(got, expected, name: str, returned: str, slips=(), rtol: float = 1e-6,
               atol: float = 1e-8) -> None:
    """A message unless ``got`` (a number or an array) is close to ``expected``.

    ``returned`` words what follows "`name` returned ", with ``{got}`` and ``{expected}``
    standing for the two values, shown with the digits it takes to tell them apart. ``slips``
    lists known mistakes as ``(value, returned)``: when ``got`` is close to such a value, that
    wording, which names the mistake, is used instead.
    """
    if close(got, expected, rtol=rtol, atol=atol):
        return
    g, e = got_expected(got, expected)
    wording = next((slip for value, slip in slips if close(got, value, rtol=rtol, atol=atol)),
                   returned)
    raise Fail(f"{q(name)} returned " + wording.format(got=g, expected=e))


def rows_sum_to_one(arr: np.ndarray, name: str, what: str, over: str, axes=1) -> None:
    """A message with the worst row sum if the rows (over ``axes``) do not sum to 1."""
    sums = arr.sum(axis=axes)
    if np.allclose(sums, 1.0, atol=tolerances(0, 1e-6)[1]):
        return
    flat = sums.reshape(-1)
    i = int(np.argmax(np.abs(flat - 1)))
    raise Fail(f"{q(name)} returned {what} whose rows sum to {num(flat[i])} (row {i}); "
               f"expected every row to sum to 1: normalise over {over}")


# --------------------------------------------------------------------------------------------
# Arbitrary labels
# --------------------------------------------------------------------------------------------

def best_perm(est_means: np.ndarray, ref_means: np.ndarray) -> np.ndarray:
    """``p`` such that ``est_means[p]`` best matches ``ref_means`` (least squares)."""
    from scipy.optimize import linear_sum_assignment  # here: scipy.optimize takes 0.6 s to import

    est = np.asarray(est_means, dtype=float).reshape(len(est_means), -1)
    ref = np.asarray(ref_means, dtype=float).reshape(len(ref_means), -1)
    cost = ((ref[:, None, :] - est[None, :, :]) ** 2).sum(axis=2)
    cost = np.where(np.isfinite(cost), cost, 1e300)
    _, cols = linear_sum_assignment(cost)
    return cols


# --------------------------------------------------------------------------------------------
# Random problems
# --------------------------------------------------------------------------------------------

def blobs(rng, N, D, K, spread=6.0):
    """N points around K well separated centres; returns X, the centres and the labels."""
    centers = rng.normal(scale=spread, size=(K, D))
    while K > 1 and min(np.linalg.norm(centers[i] - centers[j])
                        for i in range(K) for j in range(i)) < spread / 2:
        centers = rng.normal(scale=spread, size=(K, D))
    z = np.concatenate([np.arange(K), rng.integers(K, size=N - K)])
    X = centers[z] + rng.normal(size=(N, D))
    return X, centers, z


def sqdist(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def spd(rng, K, D, scale=1.0):
    """K random symmetric positive definite (D, D) matrices."""
    A = rng.normal(size=(K, D, D))
    return scale * (A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D))


def random_resp(rng, N, K):
    r = rng.uniform(0.05, 1.0, size=(N, K))
    return r / r.sum(axis=1, keepdims=True)
