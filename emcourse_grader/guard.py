"""What one submission does wrong costs that submission only, in both grading commands.

``nbgrader autograde`` grades one submission after another and stops the whole class on some
errors of a single notebook (nbgrader 0.9.6, ``BaseConverter.convert_notebooks``: a cell whose
nbgrader ``schema_version`` is too new or too old ends the run); any other exception leaves
that student ungraded and the command failing. The parallel command
(:mod:`emcourse_grader.parallel`) runs the same converter in its workers and writes the
results in its coordinator. This module holds what both use so that a malformed submission
is graded (0 where nothing can be read) with its reason in the integrity report, and the
rest of the class is graded as usual:

* :func:`read_notebook`: a notebook a student handed in, read within caps (size, nesting,
  number of values) *before* it is parsed, its saved outputs dropped (never graded), then the
  20 MB limit applied to what is left.
* :func:`read_timestamp` / :func:`repair_timestamp`: ``timestamp.txt`` read without nbgrader's
  ``CourseDirectory.get_existing_timestamp`` (which calls a ``fail`` method that does not
  exist on an unparsable one); an unparsable one counts as missing (as nbgrader treats an
  empty one: no late penalty) and is reported.
* :class:`GuardedExporter` (``c.Autograde.exporter_class``): nbgrader's notebook exporter whose
  preprocessor chain contains a failure to the submission. While sanitizing, a submission
  that makes a step raise is graded as the unanswered release; while autograding, every test
  cell of the notebook gets the failure as its verdict (0 points) and the steps that record
  scores still run. Either way one row in the integrity report says why. Errors that are not
  the submission's (the gradebook's database, a missing sandbox) still stop the run.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import stat
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter

from .sandboxed.boundedjson import Caps, UntrustedJSONError, loads

# Any notebook read from a submission or a sandbox: at most 100 MB, 100 levels of nesting,
# 500 000 arrays and objects, 1.5 million values; parsing what passes stays well under 1 GB.
NOTEBOOK_CAPS = Caps(max_bytes=100 * 2**20, max_depth=100, max_containers=500_000,
                     max_values=1_500_000)
MAX_SOURCE_BYTES = 20 * 2**20  # a submitted notebook without its outputs


class UnreadableNotebook(ValueError):
    """A notebook that cannot be graded as handed in; the message says why."""


# --------------------------------------------------------------------------------------------
# Reading what a student or a sandbox wrote
# --------------------------------------------------------------------------------------------

def read_bounded(path, max_bytes: int) -> bytes:
    """The bytes of a regular file (never through a symlink, never more than ``max_bytes``),
    or :class:`UnreadableNotebook` saying why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UnreadableNotebook(f"it cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableNotebook("it is not a regular file")
        if st.st_size > max_bytes:
            raise UnreadableNotebook(f"it is {st.st_size / 2**20:.0f} MB; at most "
                                     f"{max_bytes // 2**20} MB are read")
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise UnreadableNotebook(f"it grew beyond {max_bytes // 2**20} MB while read")
    return raw


def parse_notebook(raw: bytes, *, strip_outputs: bool = True) -> nbformat.NotebookNode:
    """A notebook (nbformat 4, validated) from untrusted bytes, parsed within
    :data:`NOTEBOOK_CAPS`; with ``strip_outputs`` its code cells' outputs and execution counts
    are dropped first and what is left must fit in :data:`MAX_SOURCE_BYTES`. Raises
    :class:`UnreadableNotebook` with the reason."""
    try:
        data = loads(raw, NOTEBOOK_CAPS, what="the notebook")
    except UntrustedJSONError as exc:
        raise UnreadableNotebook(str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        raise UnreadableNotebook("it is JSON but not a notebook (no list of cells)")
    if strip_outputs:
        for cell in data.get("cells", []):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        size = len(json.dumps(data).encode())
        if size > MAX_SOURCE_BYTES:
            raise UnreadableNotebook(f"it is {size / 2**20:.0f} MB without its outputs; at "
                                     f"most {MAX_SOURCE_BYTES // 2**20} MB are graded")
    _check_version(data)
    try:
        major, minor = nbformat.reader.get_version(data)
        nb = nbformat.versions[major].to_notebook_json(data, minor=minor)
        nb = nbformat.convert(nb, 4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - anything nbformat refuses
        # the student's own values (a 100 000-character cell id) shortened, in quotes
        text = re.sub(r"'([^'\n]{40})[^'\n]+'", r"'\1...'", str(exc))
        raise UnreadableNotebook(f"it is not a valid notebook ({type(exc).__name__}: "
                                 f"{text[:160]})") from None
    return nb


def _check_version(data: dict) -> None:
    """:class:`UnreadableNotebook` naming the problem when ``data``'s ``nbformat`` is not one
    that nbformat reads (3 or 4) or its ``nbformat_minor`` is missing or not a whole number
    (nbformat itself fails on them with a bare KeyError or AssertionError). A minor version
    newer than nbformat knows is read as the newest it knows, as Jupyter does."""
    major, minor = data.get("nbformat"), data.get("nbformat_minor")
    if type(major) is not int or major not in (3, 4):
        raise UnreadableNotebook(f"its nbformat is {_brief(major)}; the grader reads "
                                 f"nbformat 4 (and 3), as Jupyter saves them")
    if "nbformat_minor" not in data:
        raise UnreadableNotebook(f"it has nbformat {major} but no nbformat_minor")
    if type(minor) is not int or minor < 0:
        raise UnreadableNotebook(f"its nbformat_minor is {_brief(minor)}, not a whole "
                                 f"number")


def _brief(value) -> str:
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    return repr(value)[:20] if value is not None else "missing"


def read_notebook(path, *, strip_outputs: bool = True) -> nbformat.NotebookNode:
    """A submitted notebook read as untrusted data (see :func:`parse_notebook`)."""
    return parse_notebook(read_bounded(path, NOTEBOOK_CAPS.max_bytes),
                          strip_outputs=strip_outputs)


def release_notebook(release_directory, assignment: str, notebook: str):
    """The released notebook (unanswered), or an empty one when the course has none here (the
    sanitize steps then add the graded cells back from the gradebook)."""
    path = Path(release_directory) / assignment / f"{notebook}.ipynb"
    if path.is_file():
        return read_notebook(path, strip_outputs=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


# --------------------------------------------------------------------------------------------
# timestamp.txt
# --------------------------------------------------------------------------------------------

def read_timestamp(folder) -> tuple[datetime.datetime | None, str]:
    """``(time, problem)`` of a submission folder's ``timestamp.txt``: ``(None, "")`` when
    there is none or it is empty (as nbgrader), ``(None, why)`` when it cannot be read."""
    from nbgrader.utils import parse_utc

    path = os.path.join(folder, "timestamp.txt")
    if not os.path.lexists(path):
        return None, ""
    try:
        text = read_bounded(path, 4096).decode("utf-8").strip()
    except (UnreadableNotebook, UnicodeDecodeError) as exc:
        return None, f"timestamp.txt cannot be read ({exc})"
    if not text:
        return None, ""
    try:
        return parse_utc(text), ""
    except (ValueError, TypeError, OverflowError) as exc:
        return None, f"timestamp.txt holds no time ({text[:60]!r}: {str(exc)[:80]})"


def repair_timestamp(folder) -> str:
    """Set an unreadable ``timestamp.txt`` aside as ``timestamp.txt.unreadable`` (nbgrader
    would fail on it) and return why; "" when it is readable or absent."""
    _, why = read_timestamp(folder)
    if why:
        path = os.path.join(folder, "timestamp.txt")
        os.replace(path, path + ".unreadable")
    return why


def needs_grading(coursedir, assignment, student, force) -> bool:
    """nbgrader's rule (BaseConverter.init_destination with all notebooks), with timestamps
    read by :func:`read_timestamp` (an unreadable one counts as missing)."""
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if not os.path.exists(dest) or force:
        return True
    new = read_timestamp(coursedir.format_path(coursedir.submitted_directory, student,
                                               assignment))[0]
    old = read_timestamp(dest)[0]
    return new is not None and old is not None and new > old


# --------------------------------------------------------------------------------------------
# The converter's exporter
# --------------------------------------------------------------------------------------------

def _not_the_submissions(exc: BaseException) -> bool:
    """Errors that are not the submission's to pay for: those that would fail every
    submission alike stop the run as before, and a custody refusal (a folder someone else
    could have changed since collect) leaves that submission ungraded, for nbgrader to name."""
    from sqlalchemy.exc import OperationalError

    from .custody import CustodyError
    from .sandbox import SandboxUnavailable
    return isinstance(exc, (OperationalError, SandboxUnavailable, CustodyError))


class GuardedExporter(NotebookExporter):
    """nbgrader's notebook exporter (``c.Autograde.exporter_class``) that reads notebooks
    with :func:`read_notebook` and keeps a failure of the preprocessors to one submission
    (see the module's docstring). Outside nbgrader's Autograde it behaves as its base.
    Made by ``nbgrader autograde`` (before any submission is touched), it first takes the
    course's writer lock (:func:`emcourse_grader.course_lock.hold_for_autograde`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .course_lock import hold_for_autograde

        hold_for_autograde(self)

    def _phase(self):
        sanitizing = getattr(self.parent, "_sanitizing", None)
        return None if sanitizing is None else ("sanitize" if sanitizing else "autograde")

    def from_file(self, file_stream, resources=None, **kw):
        phase = self._phase()
        if phase is None:
            return super().from_file(file_stream, resources=resources, **kw)
        path = os.path.realpath(file_stream.name)
        try:
            nb = read_notebook(path, strip_outputs=phase == "sanitize")
        except UnreadableNotebook as exc:
            if phase != "sanitize":
                raise
            from .preprocessors import UNREADABLE
            UNREADABLE[path] = str(exc)  # IntegrityCheck reports it
            nb = self._release(resources)
        return self.from_notebook_node(nb, resources=resources, **kw)

    def _release(self, resources):
        cd = self.parent.coursedir
        g = resources["nbgrader"]
        return release_notebook(cd.format_path(cd.release_directory, ".", "."),
                                g["assignment"], g["notebook"])

    def _run(self, steps, nb, resources):
        for step in steps:
            nb, resources = step(nb, resources)
            if not self.optimistic_validation:
                self._validate_preprocessor(nb, step)
        return nb, resources

    def _preprocess(self, nb, resources):
        phase = self._phase()
        if phase is None:
            return super()._preprocess(nb, resources)
        from nbformat import validator

        steps = list(self._preprocessors)
        nbc, resc = copy.deepcopy(nb), copy.deepcopy(resources)
        if hasattr(validator, "normalize"):
            _, nbc = validator.normalize(nbc)
        for i, step in enumerate(steps):
            try:
                nbc, resc = step(nbc, resc)
                if not self.optimistic_validation:
                    self._validate_preprocessor(nbc, step)
            except Exception as exc:
                if _not_the_submissions(exc):
                    raise
                self.log.warning("%s failed on this submission; it costs this submission "
                                 "only", type(step).__name__, exc_info=True)
                return self._contain(phase, steps, i, nbc, resc, resources, exc)
        return nbc, resc

    def _contain(self, phase, steps, i, nb, resources, original, exc):
        from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

        from . import preprocessors as pp

        why = f"{type(steps[i]).__name__}: {type(exc).__name__}: {str(exc)[:200]}"
        report = next((s.report_file for s in [steps[i], *steps]
                       if isinstance(s, pp._Base)), "integrity_report.csv")
        try:
            if phase == "sanitize":  # graded as the unanswered release
                reason = "the notebook could not be graded as handed in; graded as unanswered"
                nb, resources = self._run(steps, self._release(original),
                                          copy.deepcopy(original))
            else:  # every test cell fails with the reason; the scores are still recorded
                reason = "the notebook could not be graded: 0 for every test"
                for cell in nb.cells:
                    if pp.is_test(cell):
                        cell.outputs = [pp._error(f"this notebook could not be graded ({why})")]
                start = i if isinstance(steps[i], (SaveAutoGrades, AssignLatePenalties)) \
                    else i + 1  # no student code runs again: the steps after it that remain
                nb, resources = self._run([s for s in steps[start:]
                                           if not isinstance(s, pp._LimitsConfig)],
                                          nb, resources)
        except Exception as again:
            raise again from exc
        pp._flag(resources, reason, why)
        pp._write_flags(resources, report)
        return nb, resources
