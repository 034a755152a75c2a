r"""The homework checks: a student's function against the course's reference on fresh inputs.

What the hidden tests of the assignments call. In a test cell::

    from emcourse_grader.checks import require
    require("gmm.e_step", e_step)    # raises GradingError with the message if it fails

:func:`verify` returns a :class:`Verdict` instead of raising. Each check builds random
problems, calls the student's function on copies of them, compares the answer with emref's
(up to a permutation of the labels wherever labels are arbitrary) and stops at the first
thing that is wrong, with a message that names the student's function and shows what was
expected beside what was got (a small summary, never a hidden array). Of an exception the
student's function raised it quotes one line, the type and the start of the message
(:func:`._common.quote_error`), never the arguments: the student's code sees the problem and
could put it in the message. Nothing is printed and no global state is touched (but for the
course's secret, read and, on first use, made).

Reproducible and unpredictable: without ``seed`` the random problems are drawn from the
check's seed, HMAC-SHA256 of the course's secret and "<assignment>/<check>"
(:mod:`.secret`: ``$EMCOURSE_SECRET`` or ``<course root>/.emcourse/secret``), salted, while
the grader grades a notebook, with the digest of its cell sources (:func:`.secret.salted`), so
the same submission graded twice gets the same verdict and the same message, while a student,
who has no secret, cannot compute the problems, nor reuse those of an earlier submission;
pass ``seed=`` to draw other problems.

One registry, :data:`CHECKS`, name -> :class:`Check`; one module per assignment registers its
checks: the module that the course's manifest (course.toml, :mod:`emcourse_grader.course`)
names for it, imported on the registry's first use (:func:`load`; importing this package
reads no file) (:mod:`.hw1_kmeans`, :mod:`.hw2_gmm`,
:mod:`.hw3_hmm`, or a module of the course's own). A check's ``uses`` lists the
course's own versions of the earlier parts that the graded function calls (for
``kmeans.fit``: ``assign`` and ``update``), so a grader can put them in place of the
student's while it grades that part: one bug in ``assign`` then costs ``assign`` only.

No cheat detector here. emref.grading used to scan a student's bytecode for references to
emref's implementations; that is gone. The student's code now runs in an OS sandbox
(emcourse_grader.sandbox) where emref's implementations are absent, and these checks run
outside it on plain data, so an answer cannot call the reference it is compared with, and a
name-based scan (which a determined student could get round anyway) is no longer needed.

Importing this package imports emref's kmeans, gmm and hmm: it belongs to the grader's side,
outside the sandbox.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from . import _common, secret
from ._common import Check, Fail, register

# register and Fail: what a checks module of a course's own needs (docs/teaching.md, "Adding
# an assignment"); the helpers of this package's modules stay in ._common.
__all__ = ["CHECKS", "Check", "Fail", "GradingError", "Verdict", "checks_in", "load",
           "register", "require", "verify"]

_LOADED: list = []  # [True] once the course's checks modules are imported


def load(course=None) -> None:
    """Import the checks modules that the course's manifest names (they register their
    checks), once: ``course`` is an :class:`emcourse_grader.course.Course`, default the one
    found from the working directory or ``$EMCOURSE_COURSE``. Done on the first use of
    :data:`CHECKS` (not at import: importing this package reads no file). An unknown module
    is an error (:class:`emcourse_grader.course.ManifestError`)."""
    if _LOADED:
        return
    from .. import course as _course

    _LOADED.append(True)  # first, so that a checks module that imports this package is fine
    try:
        _course.import_checks(course if course is not None else _course.load())
    except BaseException:
        _LOADED.clear()
        raise


class _Checks(Mapping):
    """Every check, by name: the registry, filled with the course's checks on first use."""

    @staticmethod
    def _all() -> dict:
        load()
        return _common.REGISTRY

    def __getitem__(self, name):
        return self._all()[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())

    def __repr__(self):
        return f"CHECKS({sorted(self._all())})"


#: Every check, by name ("kmeans.assign", "gmm.e_step", "hmm.forward", ...).
CHECKS: Mapping[str, Check] = _Checks()


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: whether it passed and what a student should look at."""

    check: str
    passed: bool
    message: str = ""

    def __bool__(self) -> bool:
        return self.passed


class GradingError(AssertionError):
    """A failed check. In a notebook its traceback is just the message (no hidden code)."""

    def _render_traceback_(self):  # IPython shows this instead of the full traceback
        return str(self).splitlines() or [""]


def _seed(check: str, spec: Check, seed):
    if seed is None:
        return secret.seed_of(check, spec.assignment)
    return seed


def verify(check: str, fn: Callable, *, seed=None) -> Verdict:
    """Run the check named ``check`` on the student's function ``fn``; never raises for what
    the student's function does (an unsafe course secret raises ValueError, a check that the
    pinned seeds lack KeyError: the grader's errors).

    ``seed`` (an int) fixes the random problems; None (the default) derives it from the
    course's secret and the check's name (:func:`.secret.seed_of`), so the same function
    always gets the same verdict and message in one course.
    """
    spec = CHECKS.get(check) if isinstance(check, str) else None
    if spec is None:
        return Verdict(str(check), False,
                       f"there is no check named {check!r}; the checks are "
                       f"{', '.join(sorted(CHECKS))}")
    name = _common.q(spec.function)
    if not callable(fn):
        return Verdict(check, False, f"{name} must be a function; found "
                                     f"{type(fn).__name__}")
    seed = _seed(check, spec, seed)  # a missing or unsafe secret is the grader's error: raised
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        return Verdict(check, False, f"seed must be None or a non-negative int ({exc})")
    token = _common.start_precision()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                spec.run(fn, rng)
            except Fail as exc:
                return Verdict(check, False, str(exc))
            except Exception as exc:  # noqa: BLE001 - verify never raises
                return Verdict(check, False,
                               f"{name} returned something the grader could not compare "
                               f"({_common.quote_error(exc)}); check the types and shapes "
                               f"of what it returns against the instructions")
            finally:
                _common.end_precision(token)
    return Verdict(check, True, f"{name}: all hidden checks passed")


def require(check: str, fn: Callable, *, seed=None) -> None:
    """Like :func:`verify`, but raise :class:`GradingError` with the message on failure."""
    verdict = verify(check, fn, seed=seed)
    if not verdict.passed:
        raise GradingError(verdict.message)


def _parse(source: str):
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    # IPython magics and shell escapes are not Python: drop those lines and try again
    kept = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    try:
        return ast.parse(kept)
    except SyntaxError:
        return None


def checks_in(source: str) -> list[str]:
    """The check names that ``require(...)`` / ``verify(...)`` calls in ``source`` name.

    Only calls whose first argument is a string literal count (``require("kmeans.fit",
    fit)``, ``checks.verify("gmm.e_step", e_step)``), in the order they appear, each once.
    Source that does not parse gives [].
    """
    tree = _parse(source)
    if tree is None:
        return []
    found = []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    for node in calls:
        func = node.func
        fname = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if fname not in ("require", "verify") or not node.args:
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                and first.value not in found:
            found.append(first.value)
    return found


