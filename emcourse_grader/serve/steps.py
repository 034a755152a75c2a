"""The steps of one job, each through the course's own commands, each safe to redo.

* :func:`collect` - ``nbgrader collect ASSIGNMENT --student S`` (the exchange's own collect
  class: :class:`emcourse_grader.resubmit.ResubmitCollect` on the filesystem exchange,
  :class:`emcourse_exchange.collect.HubCollect` on the hub's; both seal the copy, custody),
  then the time of the submission it collected.
* The grading itself is :mod:`.grading` (each submission on its own, on the service's Dask
  client, TLS): a submission already graded from the same copy is skipped, so a job redone
  after a crash is not graded again.
* :func:`scores` / :func:`write_scores` - an attempt's autograded scores read from, and put
  back into, nbgrader's gradebook (which holds the counting attempt; the journal holds them
  all).
* :func:`feedback` - ``nbgrader generate_feedback`` for one student, then what the policy lets
  them see before the deadline, then ``nbgrader release_feedback`` for that student alone
  (the exchange's release path: to them only).

nbgrader's applications run in this process (as ``nbgrader`` would run them, reading the
course's nbgrader_config.py), from the course root.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("emcourse.serve")


class StepError(RuntimeError):
    """An nbgrader command of a job failed; the message says which and why."""


@contextlib.contextmanager
def _cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def nbgrader(command: str, root, *args: str) -> None:
    """Run ``nbgrader COMMAND ARGS`` in this process, from ``root``.

    Raises
    ------
    StepError
        When the command fails (nbgrader exits non-zero).
    """
    from nbgrader.apps import CollectApp, GenerateFeedbackApp, ReleaseFeedbackApp

    apps = {"collect": CollectApp, "generate_feedback": GenerateFeedbackApp,
            "release_feedback": ReleaseFeedbackApp}
    if command not in apps:
        raise ValueError(f"command: expected one of {sorted(apps)}, found {command!r}")
    with _cwd(root):
        app = apps[command]()
        before = list(app.log.handlers)
        try:
            app.initialize(list(args))
            app.start()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise StepError(f"nbgrader {command} {' '.join(args)} failed (exit "
                                f"{exc.code}); see the service's log") from None
        finally:
            for handler in list(app.log.handlers):  # each app adds its own: do not pile up
                if handler not in before:
                    app.log.removeHandler(handler)
            type(app).clear_instance()


def iso(stamp) -> str:
    """A submission's time as the journal writes it: ISO 8601 in UTC, microseconds kept."""
    from nbgrader.utils import parse_utc

    when = parse_utc(stamp) if isinstance(stamp, str) else stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def submitted_dir(root, assignment: str, student: str) -> Path:
    """``submitted/<student>/<assignment>`` (the course's layout)."""
    return Path(root) / "submitted" / student / assignment


def collect(root, assignment: str, student: str, extra=()) -> str | None:
    """Collect the student's submission; the time (:func:`iso`) of the one now collected,
    or None if there is none."""
    nbgrader("collect", root, assignment, f"--student={student}", *extra)
    stamp = submitted_dir(root, assignment, student) / "timestamp.txt"
    if not stamp.is_file():
        return None
    return iso(stamp.read_text().strip())


def _db_url(root) -> str:
    return f"sqlite:///{Path(root) / 'gradebook.db'}"


def scores(root, course_id: str, assignment: str, student: str) -> dict:
    """The autograded parts of the student's submission in the gradebook, with the first
    line of each failing test's error: ``{notebook: {cell: [score, max, message]}}``."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(_db_url(root), course_id) as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            cells = {}
            for grade in nb.grades:
                if grade.cell_type != "code":   # written answers: graded by hand
                    continue
                cells[grade.name] = [float(grade.auto_score or 0),
                                     float(grade.max_score or 0), ""]
            out[nb.name] = cells
    for name, cells in out.items():
        path = Path(root) / "autograded" / student / assignment / f"{name}.ipynb"
        for cell, message in _messages(path).items():
            if cell in cells and cells[cell][0] < cells[cell][1]:
                cells[cell][2] = message
    return out


def _messages(path: Path) -> dict:
    """grade_id -> the first line of the error a test cell printed (autograded notebook)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for cell in nb.get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not grade_id:
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                text = f"{o.get('ename', 'Error')}: {o.get('evalue', '')}"
                out[grade_id] = text.splitlines()[0][:300] if text else ""
                break
    return out


def write_scores(root, course_id: str, assignment: str, student: str, parts: dict) -> None:
    """Put an attempt's autograded scores into the gradebook (the counting attempt);
    manual grades are left as they are."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(_db_url(root), course_id) as gb:
        for notebook, cells in parts.items():
            for cell, value in cells.items():
                try:
                    grade = gb.find_grade(cell, notebook, assignment, student)
                except MissingEntry:
                    continue
                grade.auto_score = float(value[0])
        gb.db.commit()


def set_duedate(root, course_id: str, assignment: str, deadline) -> None:
    """The gradebook's due date of the assignment is the policy's deadline (collect's
    ``before_duedate`` and nbgrader's late penalties read it)."""
    from nbgrader.api import Gradebook

    with Gradebook(_db_url(root), course_id) as gb:
        a = gb.find_assignment(assignment)
        due = deadline.astimezone(datetime.UTC).replace(tzinfo=None) if deadline else None
        if a.duedate != due:
            gb.update_or_create_assignment(assignment, duedate=due)


def feedback(root, assignment: str, student: str, show: str, attempt, extra=()) -> None:
    """Generate the student's feedback, cut it to what ``show`` allows, release it to them.

    ``show`` "messages" releases nbgrader's feedback as it is; "score" and "parts" replace
    each notebook's page by a page of the service's template (emcourse_grader/serve/
    templates/summary.html) holding the total, or the total and each part passed or not.
    """
    nbgrader("generate_feedback", root, assignment, f"--student={student}", "--force",
             *extra)
    if show != "messages":
        folder = Path(root) / "feedback" / student / assignment
        for page in folder.glob("*.html"):
            page.write_text(summary_page(page.stem, assignment, attempt, show),
                            encoding="utf-8")
    nbgrader("release_feedback", root, assignment, f"--student={student}", *extra)


def summary_page(notebook: str, assignment: str, attempt, show: str) -> str:
    """The page a student gets before the deadline when ``show`` is "score" or "parts"."""
    from .pages import render

    cells = (attempt.parts or {}).get(notebook, {})
    rows = [(cell, "passed" if v[0] >= v[1] else "not yet") for cell, v in
            sorted(cells.items())] if show == "parts" else []
    got = sum(v[0] for v in cells.values())
    top = sum(v[1] for v in cells.values())
    return render("summary.html", rows=rows, assignment=assignment, notebook=notebook,
                  attempt=attempt.number or "", score=f"{got:g} / {top:g}")
