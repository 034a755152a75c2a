"""The course's version of an earlier part, handed to the student's code as their own would be.

While a part is judged, the student's code calls the course's versions of the earlier parts
(:mod:`emcourse_grader.callbacks`). A correct later part may rely on what its own earlier
part returns: a list it compares with ``==``, a float32 array, a namedtuple it reads by
field, a ``GMMParams`` whose ``n_components`` it asks for. So the worker remembers what the
student's own version returned the last time the grader called it (:func:`likeness`: the
containers and dtypes, no data) and gives the course's value the same form
(:func:`conform`); parameters arrive as the course's class (``GMMParams``, any type of
:mod:`.param_types`: :func:`as_student_values`). Where the student's version was never
called, or returned something else, the course's value is passed as it is. A call that
raises with the values so shaped is made once more with them as the course returns them (the
worker's ``call``).

Runs inside the sandbox; nothing here is trusted by the grader.
"""

from __future__ import annotations

import numpy as np

from . import param_types

#: Levels of containers a likeness describes (deeper ones are passed as they are).
MAX_DEPTH = 6


def likeness(value, depth=0):
    """A small description of ``value``'s form: ``("nd", dtype)``, ``("list",)``,
    ``("tuple", cls, [items])``, ``("float",)``, ``("int",)``, ``("scalar", dtype)``, or
    None (anything else, or nested deeper than :data:`MAX_DEPTH`)."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, np.ndarray):
        return ("nd", value.dtype)
    if isinstance(value, list):
        return ("list",)
    if isinstance(value, tuple):
        cls = type(value) if hasattr(type(value), "_fields") else tuple
        return ("tuple", cls, [likeness(v, depth + 1) for v in value])
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, np.number):
        return ("scalar", value.dtype)
    if isinstance(value, float):
        return ("float",)
    if isinstance(value, int):
        return ("int",)
    return None


def conform(value, like):
    """``value`` (the course's) in the form ``like`` describes, where it fits; else
    ``value`` unchanged."""
    if like is None:
        return value
    kind = like[0]
    try:
        if kind == "nd":
            dtype = like[1]
            if isinstance(value, list):
                value = np.asarray(value)
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" \
                    and dtype.kind in "biuf" and (value.dtype.kind in "biu") == \
                    (dtype.kind in "biu"):
                return value.astype(dtype, copy=False)
            return value
        if kind == "list":
            return value.tolist() if isinstance(value, np.ndarray) else value
        if kind == "tuple":
            _, cls, items = like
            fields = param_types.values_of(value)
            if fields is not None and len(fields) == len(items):
                value = fields  # the course's parameters; theirs: a plain tuple of the fields
            if not isinstance(value, (tuple, list)) or len(value) != len(items):
                return value
            parts = [conform(v, lk) for v, lk in zip(value, items)]
            if cls is tuple:
                return tuple(parts)
            try:
                return cls(*parts)
            except Exception:  # noqa: BLE001 - a record that will not take them: a tuple
                return tuple(parts)
        if kind in ("float", "int", "scalar") and np.ndim(value) == 0 \
                and not isinstance(value, (str, bytes)):
            number = np.asarray(value)
            if number.dtype.kind not in "biuf":
                return value
            if kind == "float":
                return float(number)
            if kind == "int":
                return int(number) if number.dtype.kind in "biu" else value
            return like[1].type(number)
    except (TypeError, ValueError, OverflowError):
        return value
    return value


def as_student_values(value, as_params, depth=0):
    """``value`` with every parameter record from the wire (:func:`.param_types.record`)
    turned into the course's class by ``as_params``, inside tuples and lists too."""
    value = as_params(value)
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [as_student_values(v, as_params, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(as_student_values(v, as_params, depth + 1) for v in value)
    return value
