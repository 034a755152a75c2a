"""Plain data between the grader and the sandboxed worker: JSON with numeric arrays.

The grader never unpickles anything the worker sends. :func:`decode` turns a message into
numpy arrays of numbers (bool, int, uint, float), Python numbers, strings, tuples, lists,
dicts with string keys, records of the declared parameter types (:mod:`.param_types`) and
:class:`NotPlainData` for anything else, so an object that "equals everything" or pretends to
be an array cannot reach a check.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import os
import select
import struct
import time
from collections import namedtuple

import numpy as np

from . import param_types
from .boundedjson import Caps, UntrustedJSONError, loads

MAX_MESSAGE = 64 * 2**20  # bytes
MAX_DEPTH = 20
# A frame, checked before it is parsed: a value nested MAX_DEPTH deep is two JSON levels per
# level ({"t": ..., "items": [...]}) inside a message and a reply of a few levels more; a list
# of 100 000 Python floats is 100 000 objects.
FRAME_CAPS = Caps(max_bytes=MAX_MESSAGE, max_depth=2 * MAX_DEPTH + 10,
                  max_containers=500_000, max_values=1_000_000)
_DTYPES = {"b", "i", "u", "f"}  # numpy kinds that may cross (no objects, strings, voids)
# The JSON types each scalar kind may arrive as (an int is a valid float).
_SCALARS = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


class NotPlainData:
    """Stands for a value the worker could not send as plain data (no arithmetic, no array)."""

    __array_priority__ = -1

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self):
        return f"<not plain data: {self.type_name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"a {self.type_name} is not an array of numbers")

    def __float__(self):
        raise TypeError(f"a {self.type_name} is not a number")

    __int__ = __index__ = __float__

    def __len__(self):
        raise TypeError(f"a {self.type_name} has no length")

    def __iter__(self):
        raise TypeError(f"a {self.type_name} cannot be iterated")


class WireError(Exception):
    """A malformed or oversized message."""


def parse(data: bytes) -> dict:
    """A frame's message, parsed only within :data:`FRAME_CAPS`; else :class:`WireError`
    saying why (never ``RecursionError`` or ``MemoryError`` from what the peer sent)."""
    try:
        msg = loads(data, FRAME_CAPS, what="the message")
    except UntrustedJSONError as exc:
        raise WireError(str(exc)) from None
    if not isinstance(msg, dict):
        raise WireError(f"malformed message: a JSON {type(msg).__name__}, not an object")
    return msg


def _float_out(x: float):
    return x if math.isfinite(x) else repr(x)


def _fields(value):
    """Field names of a namedtuple or a dataclass instance, else None."""
    if isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple):
        return list(type(value)._fields)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f.name for f in dataclasses.fields(value)]
    return None


def encode(value, *, depth=0):
    """Plain-data tree for ``value``: numbers, strings, numeric arrays, lists, tuples,
    namedtuples and dataclasses (by their fields), dicts with string keys, the declared
    parameter types (:func:`.param_types.matching`, by their declared fields); anything else
    becomes "opaque" (its type name only). A complex number or array whose imaginary part is
    zero crosses as the real number(s) it holds."""
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        v = int(value)
        if abs(v) < 2**63:
            return {"t": "int", "v": v}
        return {"t": "float", "v": _float_out(float(v))}
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        # a float32 (or float16) number keeps its precision: the checks compare it at that
        # precision (checks._common.tolerances)
        return {"t": "float", "v": _float_out(float(value)), "p": value.dtype.str}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": _float_out(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)[:100_000]}
    if isinstance(value, (complex, np.complexfloating)):
        if value.imag == 0:  # a real number held in a complex (np.roots, np.linalg.eig)
            return {"t": "float", "v": _float_out(float(value.real))}
        return {"t": "opaque", "type": "complex number (with an imaginary part)"}
    if isinstance(value, np.ndarray) and type(value).__module__.startswith("numpy"):
        arr = np.asarray(value)
        if arr.dtype.kind == "c" and not np.any(arr.imag):
            arr = arr.real  # real numbers held in complex: the real part is all there is
        if arr.dtype.kind not in _DTYPES:
            return {"t": "opaque", "type": f"array of dtype {arr.dtype}"}
        arr = np.ascontiguousarray(arr)
        return {"t": "nd", "dtype": arr.dtype.str, "shape": list(arr.shape),
                "b64": base64.b64encode(arr.tobytes()).decode("ascii")}
    fields = _fields(value)
    ptype = param_types.matching(value) if fields is not None else None
    if ptype is not None:
        return {"t": "params", "type": ptype.name,
                "items": [encode(getattr(value, f), depth=depth + 1) for f in ptype.fields]}
    if fields is not None:
        return {"t": "ntuple", "fields": [str(f) for f in fields],
                "items": [encode(getattr(value, f), depth=depth + 1) for f in fields]}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [encode(v, depth=depth + 1) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"t": "dict", "items": {str(k): encode(v, depth=depth + 1)
                                      for k, v in value.items()}}
    return {"t": "opaque", "type": f"{type(value).__module__}.{type(value).__qualname__}"}


_LOWER_PRECISION = {np.dtype(np.float32).str: np.float32, np.dtype(np.float16).str: np.float16}


def _lower_precision(name):
    """The numpy type of a float32 or float16 number's ``"p"`` field; nothing else."""
    if not isinstance(name, str) or name not in _LOWER_PRECISION:
        raise WireError("malformed float precision")
    return _LOWER_PRECISION[name]


@functools.lru_cache(maxsize=256)
def _record(fields: tuple):
    """A namedtuple class for a result the student returned as a namedtuple or dataclass."""
    return namedtuple("Result", fields)


def decode(tree, *, depth=0):
    """The plain value of a tree from :func:`encode`; trusts nothing in it."""
    if depth > MAX_DEPTH or not isinstance(tree, dict):
        raise WireError("malformed value")
    t = tree.get("t")
    if t == "none":
        return None
    if t in _SCALARS:
        v = tree.get("v")
        if t == "float" and v in ("nan", "inf", "-inf"):
            return _lower_precision(tree["p"])(v) if "p" in tree else float(v)
        if type(v) not in _SCALARS[t]:
            raise WireError(f"malformed {t}")
        if t == "float" and "p" in tree:
            return _lower_precision(tree["p"])(v)
        return float(v) if t == "float" else v
    if t == "nd":
        dtype = np.dtype(str(tree["dtype"]))
        if dtype.kind not in _DTYPES or dtype.hasobject:
            raise WireError("array of a forbidden dtype")
        shape = tuple(int(s) for s in tree["shape"])
        if any(s < 0 for s in shape) or len(shape) > 32:
            raise WireError("bad shape")
        raw = base64.b64decode(str(tree["b64"]), validate=True)
        if len(raw) != dtype.itemsize * math.prod(shape):
            raise WireError("array size does not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if t in ("tuple", "list"):
        items = [decode(v, depth=depth + 1) for v in tree["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "ntuple":
        fields = tuple(str(f) for f in tree["fields"])
        items = [decode(v, depth=depth + 1) for v in tree["items"]]
        if len(fields) != len(items):
            raise WireError("malformed record")
        if all(f.isidentifier() and not f.startswith("_") for f in fields) and \
                len(set(fields)) == len(fields) and len(fields) < 256:
            return _record(fields)(*items)
        return tuple(items)
    if t == "dict":
        return {str(k): decode(v, depth=depth + 1) for k, v in dict(tree["items"]).items()}
    if t == "params":
        ptype = param_types.get(tree.get("type"))
        if ptype is None:
            raise WireError("unknown parameter type")
        items = [decode(v, depth=depth + 1) for v in tree["items"]]
        if len(items) != len(ptype.fields):
            raise WireError(f"malformed {ptype.name}")
        return param_types.record(ptype.name)(*items)
    if t == "opaque":
        return NotPlainData(str(tree.get("type", "object"))[:200])
    raise WireError(f"unknown kind {t!r}")


# --------------------------------------------------------------------------------------------
# Framing: 4-byte length + JSON
# --------------------------------------------------------------------------------------------

def send(fd: int, message: dict, deadline: float | None = None, *,
         replace_oversized: bool = True) -> None:
    """Write ``message`` as one frame on ``fd``. With a ``deadline`` (a ``time.monotonic()``
    value) ``fd`` is made non-blocking and TimeoutError is raised if the peer has not taken
    the whole frame by then: a peer that stops reading (its pipe full) cannot hold the
    writer (the grader) past the time of the request. None: block as long as it takes.

    A message over :data:`MAX_MESSAGE` bytes is a reply's error frame instead (the peer's
    request is answered, with the reason) when ``replace_oversized``; otherwise (a request
    of our own, which the peer would take for a reply) WireError is raised and nothing is
    sent, so that the two ends stay in step."""
    data = json.dumps(message).encode()
    if len(data) > MAX_MESSAGE:
        if not replace_oversized:
            raise WireError(f"the message is too large to send: {len(data):,} bytes "
                            f"(at most {MAX_MESSAGE:,})")
        data = json.dumps({"op": "error", "ename": "WireError",
                           "msg": "the result is too large to send"}).encode()
    payload = struct.pack(">I", len(data)) + data
    view = memoryview(payload)
    if deadline is not None:
        os.set_blocking(fd, False)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
            try:
                n = os.write(fd, view[:1 << 20])
            except BlockingIOError:
                continue
        else:
            n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    """``n`` bytes from ``fd``; EOFError if it closes first, TimeoutError if they have not
    all come by ``deadline`` (a ``time.monotonic()`` value; None: wait as long as it takes)."""
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None) -> dict:
    """The next message on ``fd``: its length is checked before a byte of it is read, its
    JSON within the caps (:func:`parse`); see :func:`read_exact` for ``deadline``."""
    (n,) = struct.unpack(">I", read_exact(fd, 4, deadline))
    if n > MAX_MESSAGE:
        raise WireError(f"message too large: {n:,} bytes (at most {MAX_MESSAGE:,})")
    return parse(read_exact(fd, n, deadline))
