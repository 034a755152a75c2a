"""The parameter types that cross the sandbox boundary: the one place that declares them.

A parameter type is a class of the course's (``emref.params.GMMParams``) that the grader
hands to a student's function and a student's function returns: a test calls ``m_step`` and
gets mixture parameters back, the grader calls ``e_step`` with its own. Across the boundary
only plain data goes (:mod:`.wire`), so each type is declared here once, by:

* its name and the module that defines it, the same module inside the sandbox (the
  student-facing emref, :mod:`emcourse_grader.sandbox`) and in the grader;
* its fields, in the order its constructor takes them: :mod:`.wire` sends an instance as
  ``{"t": "params", "type": name, "items": [...]}``, one plain value per field, and
  :func:`record` gives back a namedtuple of those fields on the other side;
* how it is rebuilt from plain data (:func:`rebuild`), on either side: the record, or (in
  the grader's callbacks only) a plain tuple that :attr:`ParamType.plain` recognises, goes
  through the course's class, which validates it; what the class refuses is passed on as it
  is (the course's code then says what is wrong).

Everything else derives from this module: the wire encoding, the grader's list of classes
a test may receive (:func:`emcourse_grader.allowlist.parameter_classes`), the files and stub
modules of the student-facing emref, the callbacks' and the worker's conversion, the
likeness of a student's own value (:mod:`.likeness`) and the static scan's allowed names.
Adding a type is its class (in emref) and one :func:`register` call below.

Runs inside the sandbox too: it imports only the standard library and numpy.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections import namedtuple
from collections.abc import Callable

__all__ = ["ParamType", "get", "matching", "rebuild", "record", "register", "registered",
           "unregister", "values_of"]


@dataclasses.dataclass(frozen=True)
class ParamType:
    """One parameter type.

    Parameters
    ----------
    name : str
        The class's name, e.g. ``"GMMParams"``.
    module : str
        The module that defines it, importable both in the grader and inside the sandbox
        (a module of emref whose file the student-facing emref copies).
    fields : tuple of str
        The constructor's arguments, in order; each crosses the wire as plain data.
    also_in : tuple of str
        Other modules that export the class (``emref.gmm``); inside the sandbox, where they
        hold algorithms, a stub of each re-exports it alone.
    plain : callable or None
        ``plain(values) -> bool`` for a plain tuple or list of ``len(fields)`` values: whether
        the grader's callbacks take it as this type (a student's ``m_step`` may return a
        triple). None: only a record is.
    """

    name: str
    module: str
    fields: tuple
    also_in: tuple = ()
    plain: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be a class name (an identifier); found {self.name!r}")
        if not _emref_module(self.module):
            raise ValueError(f"module must be a module of emref ('emref.params') for "
                             f"{self.name}; found {self.module!r}")
        if not isinstance(self.also_in, tuple) or not all(map(_emref_module, self.also_in)):
            raise ValueError(f"also_in must be a tuple of modules of emref (('emref.gmm',)) "
                             f"for {self.name}; found {self.also_in!r}")
        fields = self.fields
        if not isinstance(fields, tuple) or not fields or not all(
                isinstance(f, str) and f.isidentifier() and not f.startswith("_")
                for f in fields) or len(set(fields)) != len(fields):
            raise ValueError(f"fields must be a non-empty tuple of distinct public names for "
                             f"{self.name}; found {fields!r}")
        if self.plain is not None and not callable(self.plain):
            raise TypeError(f"plain must be callable or None for {self.name}; found "
                            f"{type(self.plain).__name__}")

    def load(self) -> type:
        """The class itself, from :attr:`module`."""
        return getattr(importlib.import_module(self.module), self.name)

    def holds(self, value) -> bool:
        """Whether ``value`` is a record of fields (a namedtuple or a dataclass instance)
        that has every one of this type's fields."""
        return _has_fields(value) and all(hasattr(value, f) for f in self.fields)


def _emref_module(name) -> bool:
    return isinstance(name, str) and name.startswith("emref.") and all(
        part.isidentifier() for part in name.split("."))


def _has_fields(value) -> bool:
    if isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


# --------------------------------------------------------------------------------------------
# The declarations
# --------------------------------------------------------------------------------------------

def _mixture_shaped(values) -> bool:
    """Arrays shaped ``(K,)``, ``(K, D)``, ``(K, D, D)``: mixture parameters as a triple."""
    import numpy as np

    shapes = [np.shape(v) if isinstance(v, np.ndarray) else None for v in values]
    if None in shapes:
        return False
    w, m, c = shapes
    return (len(w) == 1 and len(m) == 2 and len(c) == 3 and w[0] == m[0] == c[0]
            and c[1] == c[2] == m[1])


_TYPES: dict[str, ParamType] = {}


def register(ptype: ParamType) -> ParamType:
    """Declare ``ptype`` (once per name); returns it.

    Raises
    ------
    TypeError
        ``ptype`` is not a :class:`ParamType`.
    ValueError
        A type of that name is declared already.
    """
    if not isinstance(ptype, ParamType):
        raise TypeError(f"ptype must be a ParamType; found {type(ptype).__name__}")
    if ptype.name in _TYPES:
        raise ValueError(f"ptype: a parameter type named {ptype.name!r} is declared already "
                         f"(in {_TYPES[ptype.name].module}); expected a new name")
    _TYPES[ptype.name] = ptype
    return ptype


def unregister(name: str) -> None:
    """Remove the type called ``name`` (a test's throwaway type); KeyError if there is none."""
    if name not in _TYPES:
        raise KeyError(f"name: no parameter type called {name!r}; the types are "
                       f"{', '.join(_TYPES) or 'none'}")
    del _TYPES[name]
    record.cache_clear()


register(ParamType("GMMParams", "emref.params", ("weights", "means", "covariances"),
                   also_in=("emref.gmm",), plain=_mixture_shaped))


# --------------------------------------------------------------------------------------------
# What the rest of the grader asks
# --------------------------------------------------------------------------------------------

def registered() -> tuple:
    """Every declared type, in the order of declaration."""
    return tuple(_TYPES.values())


def get(name: str) -> ParamType | None:
    """The type called ``name``, or None."""
    return _TYPES.get(name) if isinstance(name, str) else None


@functools.cache
def record(name: str):
    """The namedtuple class (named ``name``, with the type's fields) that an instance of the
    type called ``name`` arrives as from the wire."""
    return namedtuple(name, _TYPES[name].fields)


def record_type(value) -> ParamType | None:
    """The type of which ``value`` is a wire record (:func:`record`), or None."""
    ptype = get(getattr(type(value), "__name__", None))
    if ptype is not None and type(value) is record(ptype.name):
        return ptype
    return None


def matching(value) -> ParamType | None:
    """The type ``value`` is sent as: one whose fields it has (:meth:`ParamType.holds`),
    the one of its own class name first, else the one with the most fields; or None."""
    if not _has_fields(value):
        return None
    found = [t for t in _TYPES.values() if t.holds(value)]
    if not found:
        return None
    own = [t for t in found if t.name == type(value).__name__]
    return own[0] if own else max(found, key=lambda t: len(t.fields))


def values_of(value) -> tuple | None:
    """The field values of ``value`` in the type's order, if it is of a declared type
    (:func:`matching`); else None."""
    ptype = matching(value)
    return None if ptype is None else tuple(getattr(value, f) for f in ptype.fields)


def rebuild(value, *, plain: bool = False):
    """``value`` as the course's class where it is a wire record of a declared type, or
    (with ``plain``) a tuple or list its type's :attr:`~ParamType.plain` recognises; what
    the class refuses (TypeError, ValueError) and anything else is returned as it is. The
    class is imported from its module on this side (an ImportError is not caught)."""
    ptype = record_type(value)
    if ptype is None and plain and isinstance(value, (tuple, list)):
        ptype = next((t for t in _TYPES.values() if t.plain is not None
                      and len(value) == len(t.fields) and t.plain(value)), None)
    if ptype is None:
        return value
    cls = ptype.load()
    try:
        return cls(*value)
    except (TypeError, ValueError):
        return value
