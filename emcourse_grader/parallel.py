"""Grade a whole class in parallel on Dask: ``python -m emcourse_grader grade hwN``.

``nbgrader autograde hwN`` grades one submission after another. :func:`grade` grades every
collected submission of an assignment with the same result (scores, autograded notebooks,
integrity report) on a Dask cluster: a :class:`distributed.LocalCluster` with one worker
process per core by default, or an existing cluster (``--scheduler tls://ADDRESS``: several
machines, started by hand, by dask-jobqueue on SLURM/PBS or by dask-kubernetes;
docs/teaching.md). Either way TLS with client certificates (emcourse_grader.cluster).

How the work is split:

* **The coordinator** (this process, in the course root) loads the course's nbgrader
  configuration exactly as ``nbgrader autograde`` does, decides which submissions need grading
  (nbgrader's own rule: no ``autograded/<student>/<hw>/`` yet, a newer ``timestamp.txt`` in
  ``submitted/``, or ``--force``), and sends one task per submission. A task carries, as data,
  everything grading needs: the submission's files (notebook bytes, ``timestamp.txt``), the
  assignment's definition from the gradebook (notebooks, source, grade, solution and task cells,
  due date), the released notebooks (an unreadable submission is graded as the unanswered
  release) and the configuration.
* **A worker** (:func:`grade_submission`) shares no directory with the course. It builds a
  private scratch gradebook from the assignment's definition (once per worker process and
  assignment; copied for each submission), lays the submission out in a private scratch course
  and runs **nbgrader's own Autograde converter** on it with the course's preprocessors
  (repair_unreadable, IntegrityCheck, OverwriteCells, TrustedGrade behind bubblewrap, ...)
  except those that write grades (SaveAutoGrades, AssignLatePenalties): a submission is
  scored once, by the coordinator. It returns plain results: the autograded directory's files
  and the integrity report rows. It never writes the course's gradebook or report.
* **The coordinator alone writes** the course: as each result arrives, one submission at a
  time, it records the student and the submission in ``gradebook.db`` and runs nbgrader's
  ``SaveAutoGrades`` and ``AssignLatePenalties`` on the returned autograded notebook against
  the real gradebook (so earlier manual grades, extensions and the late-penalty plugin count
  exactly as with ``nbgrader autograde``), replaces the
  submission's rows in ``integrity_report.csv``, and only then moves the autograded directory
  into place (atomically). A run killed at any point loses no finished grade, and a rerun
  grades exactly what has no autograded directory yet or changed since.

Failures cost one submission: a worker that dies (or that a hung submission made the watchdog
end) is replaced by its nanny and the submission is tried once more; if it fails again it gets
0 points (``needs_manual_grade`` set), a row in the integrity report and no autograded
directory, so the next run tries it again.

Several assignments can be graded in one run (:func:`grade_all`): one cluster and one queue,
the costliest submissions of all of them first, so that each assignment's slowest
submissions overlap the others' instead of ending each assignment's run alone.

At the end: the grade table, the assignment's integrity report, and a summary of the score
distribution per part (``grading_summary/<hw>.png`` and ``.html`` next to the gradebook), for
each assignment.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import csv
import datetime
import hashlib
import html
import io
import json
import logging
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import custody, scoring
from .cluster import check_client, check_scheduler_address, dask_client

# Timestamps read without CourseDirectory.fail.
from .guard import needs_grading, read_timestamp

EVENT_TOPIC = "emcourse-grading"
SLACK = 300.0  # s beyond the configured notebook budgets before a submission counts as hung


# --------------------------------------------------------------------------------------------
# The assignment as data (coordinator) and as a scratch gradebook (worker)
# --------------------------------------------------------------------------------------------

def assignment_spec(db_url: str, course_id: str, assignment: str) -> dict:
    """Everything the gradebook knows about an assignment's cells, as plain data."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        a = gb.find_assignment(assignment)
        spec = {"name": a.name, "course_id": course_id,
                "duedate": a.duedate.isoformat() if a.duedate else None, "notebooks": []}
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            spec["notebooks"].append({
                "name": nb.name, "kernelspec": nb.kernelspec,
                "grade_cells": [{"name": c.name, "max_score": float(c.max_score),
                                 "cell_type": c.cell_type} for c in nb.grade_cells],
                "solution_cells": [{"name": c.name} for c in nb.solution_cells],
                "task_cells": [{"name": c.name, "max_score": float(c.max_score),
                                "cell_type": c.cell_type} for c in nb.task_cells],
                "source_cells": [{"name": c.name, "cell_type": c.cell_type,
                                  "locked": bool(c.locked), "source": c.source,
                                  "checksum": c.checksum} for c in nb.source_cells],
            })
    spec["alembic_version"] = _alembic_version(db_url)
    spec["digest"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return spec


def _alembic_version(db_url: str):
    """The schema version recorded in the course's gradebook (None if it has none)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no such table: let nbgrader ask alembic
        return None
    finally:
        engine.dispose()


def build_gradebook(spec: dict, path: Path) -> None:
    """A gradebook holding one assignment and nothing else (no students, no grades)."""
    from nbgrader.api import Base, Gradebook
    from sqlalchemy import create_engine, text

    if spec.get("alembic_version"):
        # The tables and the course gradebook's schema version, so that nbgrader does not
        # run `alembic heads` (a subprocess of seconds) to create them.
        engine = create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(bind=engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version "
                              "(version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": spec["alembic_version"]})
        engine.dispose()
    with Gradebook(f"sqlite:///{path}", spec["course_id"]) as gb:
        kwargs = {"duedate": spec["duedate"]} if spec["duedate"] else {}
        gb.add_assignment(spec["name"], **kwargs)
        for nb in spec["notebooks"]:
            gb.add_notebook(nb["name"], spec["name"], kernelspec=nb["kernelspec"])
            for c in nb["grade_cells"]:
                gb.add_grade_cell(c["name"], nb["name"], spec["name"],
                                  max_score=c["max_score"], cell_type=c["cell_type"])
            for c in nb["solution_cells"]:
                gb.add_solution_cell(c["name"], nb["name"], spec["name"])
            for c in nb["task_cells"]:
                gb.add_task_cell(c["name"], nb["name"], spec["name"],
                                 max_score=c["max_score"], cell_type=c["cell_type"])
            for c in nb["source_cells"]:
                gb.add_source_cell(c["name"], nb["name"], spec["name"],
                                   cell_type=c["cell_type"], locked=c["locked"],
                                   source=c["source"], checksum=c["checksum"])


def _ensure_path() -> None:
    """nbgrader runs ``alembic`` (a script of this environment) when it creates a gradebook:
    this interpreter's bin/ must be on PATH, also in a worker started without it."""
    here = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and here not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


_TEMPLATES: dict[str, Path] = {}  # assignment digest -> template gradebook (per process)
_LOCK = threading.Lock()          # one submission at a time per worker process (chdir)


def _template(spec: dict) -> Path:
    path = _TEMPLATES.get(spec["digest"])
    if path is None or not path.exists():
        d = Path(tempfile.mkdtemp(prefix="emcourse-gradebook-"))
        path = d / "template.db"
        build_gradebook(spec, path)
        _TEMPLATES[spec["digest"]] = path
        import atexit
        atexit.register(shutil.rmtree, d, ignore_errors=True)
    return path


# --------------------------------------------------------------------------------------------
# The worker: one submission, in a private scratch course
# --------------------------------------------------------------------------------------------

def _scores(db_url: str, course_id: str, assignment: str, student: str) -> dict:
    """notebook -> {cell: [auto_score, max_score]} of one submission in a gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url, course_id) as gb:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            out[nb.name] = {g.name: [g.auto_score, float(g.max_score)] for g in nb.grades}
    return out


def _read_tree(root: str) -> dict:
    from emcourse_grader.untrusted import read_submission
    return read_submission(root)[0]  # regular files only, no link followed


class Watchdog:
    """End this worker process if the submission outlives its time: the nanny starts a new
    worker, the scheduler reports the task's worker as killed, the coordinator retries once.

    The deadline and the end of grading race each other; one lock decides which came first.
    Once the deadline has fired, a result that arrives during the second the event needs to
    reach the scheduler is thrown away (:meth:`finish` raises), so a submission is either
    graded inside its time or not at all, never both.
    """

    def __init__(self, task: dict, seconds: float):
        try:
            from distributed import get_worker
            self.worker = get_worker()  # thread-local: found in the task's thread
        except Exception:  # noqa: BLE001 - not inside a Dask worker
            self.worker = None
        self.task, self.seconds = task, seconds
        self.reason = f"grading did not finish within {seconds:g} s"
        self._decided = threading.Lock()
        self._fired = self._finished = False
        self.exit = os._exit  # what ends the process (a test puts a recorder here)
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()

    def finish(self, result):
        """The grading is done: return its result unless the deadline came first."""
        with self._decided:
            if self._fired:
                raise TimeoutError(self.reason)
            self._finished = True
        return result

    def _fire(self):
        with self._decided:
            if self._finished:
                return
            self._fired = True
        try:
            self.worker.log_event(EVENT_TOPIC, {
                "student": self.task["student"], "assignment": self.task["assignment"],
                "reason": self.reason})
            time.sleep(1.0)  # let the event reach the scheduler before the process goes
        except Exception:  # noqa: BLE001, S110 - not inside a Dask worker
            pass
        self.exit(70)


def grade_submission(task: dict) -> dict:
    """Grade one submission with nbgrader's Autograde in a private scratch course.

    ``task``: ``student``, ``assignment``, ``files`` (path in the submission folder -> bytes),
    ``released`` (the released notebooks: name -> bytes), ``spec`` (:func:`assignment_spec`), ``config`` (the course's nbgrader Config, pickled),
    ``timeout`` (s), ``seeds`` (the checks', never the secret). Returns plain data: ``ok``, ``files`` (the autograded
    directory), ``rows`` (integrity report), ``seconds``, ``log``, ``worker``.
    """
    _ensure_path()
    with _LOCK, Watchdog(task, task["timeout"]) as watchdog:
        return watchdog.finish(_grade(task))


def _grade(task: dict) -> dict:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    start = time.perf_counter()
    student, hw, spec = task["student"], task["assignment"], task["spec"]
    scratch = Path(tempfile.mkdtemp(prefix="emcourse-grade-"))
    cwd = os.getcwd()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    try:
        db = scratch / "gradebook.db"
        shutil.copyfile(_template(spec), db)
        cfg = Config(pickle.loads(task["config"]))
        report = str(scratch / "integrity_report.csv")
        overrides = Config()
        overrides.CourseDirectory.root = str(scratch)
        overrides.CourseDirectory.db_url = f"sqlite:///{db}"
        overrides.CourseDirectory.course_id = spec["course_id"]
        overrides.CourseDirectory.assignment_id = hw
        overrides.CourseDirectory.student_id = student
        overrides.CourseDirectory.notebook_id = "*"
        overrides.CourseDirectory.student_id_exclude = ""
        overrides.Autograde.force = True
        overrides.Autograde.create_student = True
        for name in ("IntegrityCheck", "TrustedGrade"):
            overrides[name].report_file = report
        # Scored once, by the coordinator against the course's gradebook: the steps that
        # write grades do not run here (they would only fill the scratch gradebook).
        overrides.Autograde.autograde_preprocessors = [
            pp for pp in scoring.configured_steps(cfg) if not scoring.writes_grades(pp)]
        if task.get("sandbox_uid") is not None:
            overrides.TrustedGrade.sandbox_uid = task["sandbox_uid"]
        cfg.merge(overrides)
        coursedir = CourseDirectory(config=cfg)
        src = Path(coursedir.format_path(coursedir.submitted_directory, student, hw))
        src.mkdir(parents=True)
        for rel, data in task["files"].items():
            p = (src / rel).resolve()
            if not str(p).startswith(str(src.resolve()) + os.sep):
                continue  # never outside the scratch submission folder
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", hw))
        release.mkdir(parents=True)
        for name, data in task.get("released", {}).items():
            (release / os.path.basename(name)).write_bytes(data)
        converter = Autograde(coursedir=coursedir, config=cfg)
        converter.log.addHandler(handler)
        from .checks import secret  # the checks' seeds come with the task, not the secret
        try:
            with secret.pinned(task.get("seeds")):
                converter.start()
            ok, error = True, ""
        except Exception as exc:  # noqa: BLE001 - NbGraderException and anything else
            ok, error = False, f"{type(exc).__name__}: {exc}"
        finally:
            converter.log.removeHandler(handler)
            os.chdir(cwd)
        dest = coursedir.format_path(coursedir.autograded_directory, student, hw)
        rows = []
        if os.path.exists(report):
            with open(report, newline="") as f:
                rows = list(csv.DictReader(f))
        if not ok:  # the exception behind nbgrader's "see the traceback above"
            causes = re.findall(r"^\s*(\w+(?:Error|Exception)\b.*)$", log.getvalue(),
                                re.MULTILINE)
            causes = [c for c in causes if not c.startswith("NbGraderException")]
            error = f"{causes[-1][:300]} ({error[:100]})" if causes else error
        result = {"ok": ok and os.path.isdir(dest), "error": error or log.getvalue()[-2000:],
                  "student": student, "assignment": hw, "rows": rows,
                  "files": _read_tree(dest) if os.path.isdir(dest) else {},
                  "log": log.getvalue()[-4000:], "worker": _worker_name()}
        result["seconds"] = time.perf_counter() - start
        return result
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)


def _worker_name() -> str:
    try:
        from distributed import get_worker
        return str(get_worker().name)
    except Exception:  # noqa: BLE001
        return f"pid {os.getpid()}"


# --------------------------------------------------------------------------------------------
# The coordinator
# --------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    student: str
    status: str                 # "graded", "failed", "no notebook"
    seconds: float = 0.0        # time inside the worker
    reason: str = ""
    scores: dict = field(default_factory=dict)   # notebook -> {cell: [auto, max]}
    tries: int = 1


@dataclass
class RunResult:
    assignment: str
    graded: list                # Outcome
    skipped: list               # students up to date
    seconds: float
    workers: int
    summary_png: Path | None = None
    summary_html: Path | None = None
    commit_seconds: float = 0.0    # the coordinator writing results
    startup_seconds: float = 0.0   # starting (or connecting to) the cluster

    @property
    def failed(self):
        return [o for o in self.graded if o.status == "failed"]


def load_course(assignment: str, root: str = ".", extra_args=()):
    """The course's nbgrader configuration, read as ``nbgrader autograde`` reads it."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    old = os.getcwd()
    os.chdir(root)
    try:
        app = AutogradeApp()
        app.initialize([*extra_args, assignment])
        app.coursedir.assignment_id = assignment
        return app
    finally:
        os.chdir(old)


def _submissions(coursedir, assignment):
    """student -> submitted folder, as nbgrader's init_notebooks finds them."""
    import glob

    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    regexp = coursedir.format_path(coursedir.submitted_directory, "(?P<student_id>.*)",
                                   re.escape(assignment), escape=True)
    out = {}
    for path in sorted(glob.glob(pattern)):
        m = re.fullmatch(regexp, path)
        if m and os.path.isdir(path):
            out[m.group("student_id")] = path
    return out


def queue_order(students, files, history) -> list:
    """The submissions to grade (``students``: their keys, a student or an (assignment,
    student) pair, as in ``files`` and ``history``), the costliest first
    (longest-processing-time first).

    A class's grading time is its slowest worker's: with the queue in arrival order, one
    notebook that runs into its time budget near the end leaves every other worker idle while
    it finishes. So the queue starts with the submissions expected to take longest: by the
    seconds each took in the previous run of this assignment (``history``: student -> s, from
    grading_summary/<hw>.json); a student without history is expected to take the median of
    those that have one, and ties (a first run has no history at all) go to the larger
    notebook, which usually holds more code to run.
    """
    known = sorted(history.values())
    typical = known[len(known) // 2] if known else 0.0

    def cost(s):
        size = sum(len(data) for name, data in files[s].items() if name.endswith(".ipynb"))
        return (history.get(s, typical), size)

    return sorted(students, key=cost, reverse=True)


def previous_seconds(app, assignment) -> dict:
    """student -> seconds their last grading took (grading_summary/<hw>.json; {} if none)."""
    path = summary_dir(app) / f"{assignment}.json"
    try:
        seconds = json.loads(path.read_text()).get("seconds_by_student", {})
        return {str(s): float(t) for s, t in seconds.items() if isinstance(t, (int, float))}
    except (OSError, ValueError, AttributeError):
        return {}


def _released_notebooks(coursedir, assignment: str) -> dict:
    """The assignment's released notebooks (name -> bytes): a worker's scratch course needs
    them where the course keeps them, for ``repair_unreadable`` grades an unreadable
    submission as the unanswered release."""
    folder = Path(coursedir.format_path(coursedir.release_directory, ".", assignment))
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.ipynb")) if p.is_file()}


def _submission_files(folder: str, ignore) -> tuple[dict, list]:
    """The files of a submission with nbgrader's ignore patterns, and the refused (path,
    reason) pairs: links, special files, files over the caps (emcourse_grader.untrusted).
    A notebook too large to read is not dropped: a one-line note stands in for it, so it is
    graded as unreadable with that reason, as ``nbgrader autograde`` grades it."""
    from emcourse_grader.guard import NOTEBOOK_CAPS, UnreadableNotebook, read_bounded
    from emcourse_grader.untrusted import read_submission

    files, refused = read_submission(folder, list(ignore))
    for rel, why in list(refused):
        if rel.endswith(".ipynb") and os.sep not in rel and os.path.isfile(
                os.path.join(folder, rel)) and not os.path.islink(os.path.join(folder, rel)):
            try:
                files[rel] = read_bounded(os.path.join(folder, rel), NOTEBOOK_CAPS.max_bytes)
            except UnreadableNotebook as exc:
                files[rel] = f"not read by the grader: {exc}\n".encode()
            refused.remove((rel, why))
    return files, refused


class _Writer:
    """Everything that writes the course: the gradebook, the report, autograded/."""

    def __init__(self, app, spec):
        from emcourse_grader.preprocessors import IntegrityCheck

        self.app, self.cd, self.cfg, self.spec = app, app.coursedir, app.config, spec
        self.hw = spec["name"]
        self.report = IntegrityCheck(config=self.cfg).report_file
        if not os.path.isabs(self.report):
            self.report = os.path.join(self.cd.root, self.report)
        self.notebooks = [nb["name"] for nb in spec["notebooks"]]
        self.db_steps = self._db_steps()
        from nbgrader.converters import Autograde
        conv = Autograde(coursedir=self.cd, config=self.cfg)
        self.permissions = int(str(conv.permissions), 8)
        self.exclude = conv.exclude_overwriting.get(self.hw, [])
        self.refused = {}  # student -> [(path, reason)] of _submission_files

    def _db_steps(self):
        """The configured autograde preprocessors that write the gradebook."""
        from traitlets.utils.importstring import import_item

        return [import_item(pp) if isinstance(pp, str) else pp
                for pp in scoring.configured_steps(self.cfg) if scoring.writes_grades(pp)]

    def _resources(self, student, notebook):
        return {"nbgrader": {"student": student, "assignment": self.hw, "notebook": notebook,
                             "db_url": self.cd.db_url}}

    def _submission(self, gb, student):
        src = self.cd.format_path(self.cd.submitted_directory, student, self.hw)
        gb.update_or_create_student(student)
        ts = read_timestamp(src)[0]
        if ts:
            return gb.update_or_create_submission(self.hw, student, timestamp=ts)
        return gb.update_or_create_submission(self.hw, student)

    def _zero(self, gb, student, notebook, needs_manual):
        sub = gb.find_submission_notebook(notebook, self.hw, student)
        for grade in sub.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = needs_manual
        gb.db.commit()

    def commit(self, student, result) -> dict:
        """Write one graded submission; returns notebook -> {cell: [auto, max]}."""
        import nbformat
        from nbgrader.api import Gradebook

        files = dict(result["files"])
        present = [n for n in self.notebooks if f"{n}.ipynb" in files]
        with Gradebook(self.cd.db_url, self.cd.course_id) as gb:
            self._submission(gb, student)
            for n in self.notebooks:
                if n not in present:  # as nbgrader: a notebook not handed in scores 0
                    self._zero(gb, student, n, False)
        for n in present:
            nb = nbformat.reads(files[f"{n}.ipynb"].decode("utf-8"), as_version=4)
            for cls in self.db_steps:
                cls(config=self.cfg).preprocess(nb, self._resources(student, n))
        scores = _scores(self.cd.db_url, self.cd.course_id, self.hw, student)
        self._report(student, result.get("rows", []))
        self._place(student, files)
        return scores

    def fail(self, student, reason, rows=()):
        self._zero_all(student, True, "could not be graded (0 points until regraded)",
                       lambda n: reason, rows)
        dest = self.cd.format_path(self.cd.autograded_directory, student, self.hw)
        if os.path.isdir(dest):  # as nbgrader after a failure: no stale autograded copy
            shutil.rmtree(dest)

    def missing(self, student, files):
        self._zero_all(student, False, "no notebook handed in; graded as 0",
                       lambda n: f"{n}.ipynb is not in the submission")
        self._place(student, {k: v for k, v in files.items() if not k.endswith(".ipynb")})

    def _zero_all(self, student, needs_manual, reason, detail, rows=()):
        """0 for every notebook of the assignment, one report row each (plus ``rows``)."""
        from nbgrader.api import Gradebook

        with Gradebook(self.cd.db_url, self.cd.course_id) as gb:
            self._submission(gb, student)
            for n in self.notebooks:
                self._zero(gb, student, n, needs_manual)
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        self._report(student, [{"time": now, "student": student, "assignment": self.hw,
                                "notebook": n, "part": "", "reason": reason,
                                "detail": detail(n)} for n in self.notebooks] + list(rows))

    def _report(self, student, rows):
        from emcourse_grader.preprocessors import reset_report, write_rows

        for n in self.notebooks:
            reset_report(self.report, student, self.hw, n)
        rows = list(rows) + [{"time": time.strftime("%Y-%m-%d %H:%M:%S"), "student": student,
                              "assignment": self.hw, "notebook": self.notebooks[0], "part": "",
                              "reason": "a file of the submission was refused (not copied)",
                              "detail": f"{rel}: {why}"} for rel, why in self.refused.get(
                                  student, [])]
        if rows:
            write_rows(self.report, rows)

    def _place(self, student, files):
        """The autograded folder, as nbgrader leaves it, moved into place in one rename."""
        from nbgrader.utils import find_all_files

        dest = Path(self.cd.format_path(self.cd.autograded_directory, student, self.hw))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.hw}.partial-", dir=dest.parent))
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        source = self.cd.format_path(self.cd.source_directory, ".", self.hw)
        excluded = {os.path.join(source, x) for x in self.exclude}
        for f in set(find_all_files(source, self.cd.ignore + ["*.ipynb"])) - excluded:
            p = tmp / os.path.relpath(f, source)
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.exists():
                p.unlink()
            shutil.copy(f, p)
        for dirpath, _, names in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for name in names:
                os.chmod(os.path.join(dirpath, name), self.permissions)
        old = None
        if dest.exists():
            old = dest.parent / f".{self.hw}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


class Progress:
    """One line on the terminal: done, running, failed, time left (a log line per submission
    when the output is not a terminal)."""

    def __init__(self, total, workers, stream=None):
        self.total, self.workers = total, workers
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = self.failed = self.running = 0
        self.start = time.perf_counter()
        self.last = ""
        self.lock = threading.Lock()

    def left(self) -> str:
        if not self.done:
            return "--:--"
        elapsed = time.perf_counter() - self.start
        secs = elapsed / self.done * (self.total - self.done)
        return f"{int(secs) // 60:d}:{int(secs) % 60:02d}"

    def line(self) -> str:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
                f"{self.running} running, {self.failed} failed, {self.left()} left")

    def update(self, running=None, message=None):
        with self.lock:
            self._update(running, message)

    def _update(self, running, message):
        if running is not None:
            self.running = running
        if self.tty:
            text = self.line()
            if message:
                self.stream.write("\r\033[K" + message + "\n")
            if text != self.last or message:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self.last = text
        elif message:
            self.stream.write(f"  {message}   ({self.line()})\n")
            self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + "\n")
            self.stream.flush()


def _fmt_scores(scores) -> str:
    got = sum(s[0] or 0 for nb in scores.values() for s in nb.values())
    top = sum(s[1] for nb in scores.values() for s in nb.values())
    return f"{got:g}/{top:g}"


@dataclass
class _Job:
    """One assignment of a run, on the coordinator's side: its configuration, definition,
    writer and what became of its submissions."""

    name: str
    app: object
    spec: dict
    writer: _Writer
    skipped: list
    outcomes: list = field(default_factory=list)
    commit_seconds: float = 0.0


def grade(assignment: str, **kwargs) -> RunResult:
    """Grade every collected submission of ``assignment`` that needs it (see module doc);
    ``kwargs`` as :func:`grade_all`."""
    return grade_all([assignment], **kwargs)[0]


def grade_all(assignments, *, root: str = ".", workers: int | None = None,
              scheduler: str | None = None, students=None, force: bool = False,
              timeout: float | None = None, summary: bool = True, stream=None,
              extra_args=(), client=None, security=None) -> list[RunResult]:
    """Grade several assignments in one run: one cluster and one queue for all their
    submissions (the costliest first), so the long submissions of every assignment overlap
    instead of each assignment waiting for its own slowest. One :class:`RunResult` per
    assignment, in the order given, each written and summarised as by a run of its own.

    The cluster (:func:`emcourse_grader.cluster.dask_client`) requires TLS client
    certificates: a local one of ``workers`` processes, or the ``tls://`` ``scheduler`` with
    the client's ``security`` (a :class:`distributed.Security`; default: Dask's configuration),
    or a ``client`` of one's own whose scheduler address must be ``tls://``."""
    import warnings

    from sqlalchemy.exc import SAWarning

    if client is not None:
        check_client(client)  # TLS only: a plain scheduler runs anyone's code
    elif scheduler is not None:
        check_scheduler_address(scheduler)
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own, as in autograde
    _ensure_path()
    stream = stream or sys.stderr
    start = time.perf_counter()
    root = os.path.abspath(root)
    # Local Dask workers start outside the course: they find its course.toml (and the
    # checks modules it names) through this variable, set for this run only (a caller's own
    # later subprocesses, e.g. nbgrader in another course, must not inherit it).
    from . import course as manifest
    with _environ(manifest.ENV, root):
        return _grade_all(assignments, root, students, force, timeout, extra_args, summary,
                          stream, start, workers, scheduler, security, client)


@contextlib.contextmanager
def _environ(key: str, value: str):
    """``os.environ[key] = value`` for the ``with`` block, then as it was."""
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _grade_all(assignments, root, students, force, timeout, extra_args, summary, stream, start,
               workers, scheduler, security, client):
    from distributed import as_completed

    assignments = list(dict.fromkeys(assignments))  # each once, in the order given
    several = len(assignments) > 1
    jobs, tasks, history, files = {}, {}, {}, {}  # tasks etc. keyed by (assignment, student)
    for hw in assignments:
        job, todo = _prepare(hw, root, students, force, timeout, extra_args, stream)
        jobs[hw] = job
        for s, task in todo.items():
            tasks[hw, s] = task
            files[hw, s] = task["files"]
        history.update({(hw, s): t for s, t in previous_seconds(job.app, hw).items()})

    def label(key):
        return f"{key[1]} ({key[0]})" if several else key[1]

    startup = 0.0
    n_workers = 0
    if tasks:
        ctx = contextlib.nullcontext((client, None)) if client is not None else \
            dask_client(workers, scheduler, security)
        t_start = time.perf_counter()
        with ctx as (cl, _):
            startup = time.perf_counter() - t_start
            n_workers = len(cl.scheduler_info().get("workers", {})) or (workers or 1)
            progress = Progress(len(tasks), n_workers, stream)
            futures = {}
            tries = {}

            # Dask runs higher priorities first: the costliest submission has the highest,
            # and a retry goes before all of the queue.
            order = queue_order(list(tasks), files, history)
            rank = {key: len(order) - i for i, key in enumerate(order)}

            def submit(key):
                tries[key] = tries.get(key, 0) + 1
                fut = cl.submit(grade_submission, tasks[key], pure=False,
                                priority=rank[key] if tries[key] == 1 else len(order) + 1,
                                key=f"grade-{key[0]}-{key[1]}-{tries[key]}-{time.time_ns()}")
                futures[fut] = key
                return fut

            pending = as_completed([submit(key) for key in order])
            stop = threading.Event()

            def ticker():
                while not stop.wait(1.0):
                    try:
                        busy = sum(len(v) for v in cl.processing().values())
                        progress.update(running=busy)
                    except Exception:  # noqa: BLE001, S110 - display only
                        pass

            tick = threading.Thread(target=ticker, daemon=True)
            tick.start()
            try:
                for fut in pending:
                    key = futures.pop(fut)
                    (hw, s), job = key, jobs[key[0]]
                    result, why, again = None, "", True
                    try:
                        result = fut.result()
                        if not result["ok"]:  # nbgrader's pipeline failed: it would again
                            why = "the grading pipeline failed: " + \
                                (result["error"] or "")[-400:]
                            again = False
                    except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
                        why = _death_reason(cl, hw, s, exc)
                    fut.release()
                    if why and again and tries[key] < 2:
                        progress.update(message=f"{label(key)}: {why[:160]}; retrying once")
                        pending.add(submit(key))
                        continue
                    t0 = time.perf_counter()
                    try:  # a result that cannot be recorded costs its submission only
                        scores = None if why else job.writer.commit(s, result)
                    except Exception as exc:  # noqa: BLE001
                        why = f"its result could not be recorded: {type(exc).__name__}: {exc}"
                    if why:
                        job.writer.fail(s, why, (result or {}).get("rows", []))
                        o = Outcome(s, "failed", reason=why, tries=tries[key])
                        progress.failed += 1
                        msg = f"{label(key)}: FAILED ({why[:200]}): 0 points"
                    else:
                        o = Outcome(s, "graded", seconds=result["seconds"], scores=scores,
                                    tries=tries[key])
                        msg = (f"{label(key)}: {_fmt_scores(scores)} ({result['seconds']:.1f}"
                               f" s on worker {result['worker']})")
                    job.commit_seconds += time.perf_counter() - t0
                    job.outcomes.append(o)
                    progress.done += 1
                    progress.update(message=msg)
            except KeyboardInterrupt:
                progress.update(message=f"interrupted: {progress.done} graded and kept; run "
                                "the same command again to grade the rest")
                raise
            finally:
                stop.set()
                progress.close()
    results = []
    for hw in assignments:
        job = jobs[hw]
        run = RunResult(hw, job.outcomes, job.skipped, time.perf_counter() - start, n_workers,
                        commit_seconds=job.commit_seconds, startup_seconds=startup)
        write_run(job.app, run)
        if summary:
            print_summary(job.app, job.spec, job.writer, run, stream)
        results.append(run)
    return results


def _prepare(hw, root, students, force, timeout, extra_args, stream) -> tuple[_Job, dict]:
    """The coordinator's part before any worker: the assignment's configuration and
    definition, which submissions need grading, 0 and a reason for those without a notebook,
    and a task (plain data) for each of the others, student -> task."""
    app = load_course(hw, root, extra_args)
    cd = app.coursedir
    spec = assignment_spec(cd.db_url, cd.course_id, hw)
    writer = _Writer(app, spec)
    found = _submissions(cd, hw)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            print(f"no submission of {hw} from: {', '.join(unknown)}", file=stream)
        found = {s: p for s, p in found.items() if s in set(students)}
    excluded = set(filter(None, cd.student_id_exclude.split(",")))
    found = {s: p for s, p in found.items() if s not in excluded}
    todo = [s for s in found if needs_grading(cd, hw, s, force)]
    job = _Job(hw, app, spec, writer, skipped=[s for s in found if s not in todo])
    if timeout is None:
        timeout = _default_timeout(app.config)
    config_bytes = pickle.dumps(_plain_config(app.config))
    from .checks import CHECKS, secret
    seeds = secret.seeds(CHECKS)  # from the course's secret, which stays here
    released = _released_notebooks(cd, hw)
    print(f"{hw}: {len(found)} submissions, {len(todo)} to grade, "
          f"{len(job.skipped)} up to date", file=stream)
    tasks = {}
    for s in todo:
        why = custody.breach(found[s])  # changed since collect? then not graded at all
        if why:
            job.outcomes.append(Outcome(s, "failed", reason=f"not graded: {why}"))
            print(f"  {s}: not graded: {why}", file=stream)
            continue
        files, writer.refused[s] = _submission_files(found[s], cd.ignore)
        if not any(f"{n}.ipynb" in files for n in writer.notebooks):
            # no notebook of the assignment: 0 and a reason, no worker needed
            writer.missing(s, files)
            job.outcomes.append(Outcome(s, "no notebook", reason="no notebook handed in"))
            print(f"  {s}: no notebook of {hw} handed in: 0", file=stream)
            continue
        tasks[s] = {"student": s, "assignment": hw, "files": files, "spec": spec,
                    "released": released, "config": config_bytes, "timeout": timeout,
                    "seeds": seeds}
    return job, tasks


def _plain_config(config):
    """The course's Config without what only the coordinator may know (paths, db)."""
    from traitlets.config import Config

    cfg = Config(copy.deepcopy(dict(config)))
    for key in ("root", "db_url", "student_id", "assignment_id", "notebook_id"):
        cfg.CourseDirectory.pop(key, None)
    for key in ("logfile",):
        for section in list(cfg):
            if isinstance(cfg[section], Config):
                cfg[section].pop(key, None)
    return cfg


def _default_timeout(config) -> float:
    def get(section, key, default):
        try:
            return float(config[section][key])
        except (KeyError, TypeError, ValueError):
            return default
    return get("TrustedGrade", "notebook_timeout", 600.0) + SLACK


def _death_reason(client, assignment, student, exc) -> str:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, TimeoutError):  # the watchdog's deadline beat a late result
        return f"{exc}; the worker was restarted"
    if not isinstance(exc, KilledWorker):
        return f"grading raised {type(exc).__name__}: {str(exc)[:300]}"
    why = "the worker grading it died (killed, out of memory or crashed)"
    try:
        for _, event in client.get_events(EVENT_TOPIC) or []:
            if isinstance(event, dict) and event.get("student") == student and \
                    event.get("assignment") == assignment:
                why = f"{event.get('reason')}; the worker was restarted"
    except Exception:  # noqa: BLE001, S110 - the reason stays the generic one
        pass
    return why


# --------------------------------------------------------------------------------------------
# The end of a run: the table, the report, the picture
# --------------------------------------------------------------------------------------------

def class_scores(app, spec) -> tuple[list, dict]:
    """(parts, student -> {part: score}) of every graded submission of the assignment; parts
    are the code grade cells (automatic points), in notebook order, and 'total'."""
    from nbgrader.api import Gradebook

    cd, hw = app.coursedir, spec["name"]
    order = []
    for nb in spec["notebooks"]:
        names = [c["name"] for c in nb["grade_cells"] if c["cell_type"] == "code"]
        # notebook order: as the source cells list them
        pos = {c["name"]: i for i, c in enumerate(nb["source_cells"])}
        order += sorted(names, key=lambda n: pos.get(n, 10**6))
    table = {}
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for sub in gb.find_assignment(hw).submissions:
            row = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    row[g.name] = g.score
            row["total"] = sum(v or 0 for v in row.values())
            table[sub.student.id] = row
    return order, table


def _max_points(spec) -> dict:
    out = {c["name"]: c["max_score"] for nb in spec["notebooks"] for c in nb["grade_cells"]}
    out["total"] = sum(out.values())
    return out


def print_summary(app, spec, writer, run: RunResult, stream):
    from emcourse_grader.untrusted import terminal_text as tty

    hw = spec["name"]
    parts, table = class_scores(app, spec)
    top = _max_points(spec)
    print(f"\n{hw}: graded {len(run.graded)} submission(s) in {run.seconds:.1f} s "
          f"on {run.workers} worker(s); {len(run.skipped)} up to date; "
          f"{len(run.failed)} failed", file=stream)
    print(f"\nGrades ({hw}; written answers wait for manual grading):", file=stream)
    width = max([7] + [len(s) for s in table]) + 2
    print(f"{'student':<{width}}{'score':>12}", file=stream)
    for s in sorted(table):
        print(f"{tty(s):<{width}}{table[s]['total']:>8g}/{top['total']:g}", file=stream)
    rows = _report_rows(writer.report, hw)
    print(f"\nIntegrity report ({writer.report}, {hw}):", file=stream)
    for r in rows:  # student text: no escape codes reach the terminal
        print(f"  {tty(r['student']):<12} {tty(r['part']):<22} {tty(r['reason'])}"
              + (f" ({tty(r['detail'])[:150]})" if r["detail"] else ""), file=stream)
    if not rows:
        print("  (nothing flagged)", file=stream)
    if table:
        png, page = write_summary(app, spec, parts, table, rows, run)
        run.summary_png, run.summary_html = png, page
        print(f"\nScore distribution per part: {page}", file=stream)


def _report_rows(path, hw):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("assignment") == hw]


def write_run(app, run: RunResult) -> Path:
    """grading_summary/<hw>.json: what the last run did (machine-readable)."""
    out = summary_dir(app)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run.assignment}.json"
    # Each student's last grading time, kept across runs that grade only some students:
    # the next run orders its queue by it (queue_order).
    seconds = previous_seconds(app, run.assignment)
    seconds.update({o.student: o.seconds for o in run.graded if o.status == "graded"})
    path.write_text(json.dumps({
        "assignment": run.assignment, "seconds": run.seconds, "workers": run.workers,
        "startup_seconds": run.startup_seconds, "commit_seconds": run.commit_seconds,
        "skipped": run.skipped,
        "outcomes": [{"student": o.student, "status": o.status, "seconds": o.seconds,
                      "tries": o.tries, "reason": o.reason} for o in run.graded],
        "seconds_by_student": seconds}, indent=1))
    return path


def summary_dir(app) -> Path:
    db = app.coursedir.db_url
    if db.startswith("sqlite:///"):
        return Path(db[len("sqlite:///"):]).resolve().parent / "grading_summary"
    return Path(app.coursedir.root) / "grading_summary"


def write_summary(app, spec, parts, table, rows, run):
    """grading_summary/<hw>.png (a histogram per part) and <hw>.html (picture and tables)."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    hw = spec["name"]
    top = _max_points(spec)
    out = summary_dir(app)
    out.mkdir(parents=True, exist_ok=True)
    cols = parts + ["total"]
    ncol = min(4, len(cols))
    nrow = -(-len(cols) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.5 * nrow), squeeze=False)
    for ax, part in zip(axes.flat, cols):
        values = np.array([table[s].get(part) or 0 for s in table], dtype=float)
        hi = top.get(part, 1) or 1
        bins = np.linspace(0, hi, min(11, int(hi) + 1) if hi >= 1 else 2)
        ax.hist(values, bins=bins, color="#c44e52" if part == "total" else "#4c72b0",
                edgecolor="white")
        ax.set_title(f"{part} (mean {values.mean():.1f}/{hi:g})", fontsize=9)
        ax.set_xlim(0, hi)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.suptitle(f"{hw}: automatic points per part, {len(table)} submissions", fontsize=11)
    fig.tight_layout()
    png = out / f"{hw}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)

    esc = html.escape
    b64 = base64.b64encode(png.read_bytes()).decode("ascii")
    head = "".join(f"<th>{esc(p)}<br><small>/{top.get(p, 0):g}</small></th>" for p in cols)
    body = "".join(
        "<tr><td>" + esc(s) + "</td>" + "".join(
            f"<td>{(table[s].get(p) or 0):g}</td>" for p in cols) + "</tr>"
        for s in sorted(table))
    stats = "".join(
        f"<tr><td>{esc(p)}</td><td>{np.mean(v):.2f}</td><td>{np.median(v):g}</td>"
        f"<td>{np.mean(v >= top.get(p, 0) - 1e-9) * 100:.0f}%</td>"
        f"<td>{np.mean(v <= 1e-9) * 100:.0f}%</td></tr>"
        for p in cols for v in [np.array([table[s].get(p) or 0 for s in table], float)])
    report = "".join(
        f"<tr><td>{esc(r['student'])}</td><td>{esc(r['part'])}</td><td>{esc(r['reason'])}"
        f"</td><td>{esc(r['detail'])}</td></tr>" for r in rows) or \
        "<tr><td colspan=4>(nothing flagged)</td></tr>"
    failed = "".join(f"<li>{esc(o.student)}: {esc(o.reason)}</li>" for o in run.failed)
    page = out / f"{hw}.html"
    page.write_text(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(hw)}: grading summary</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{esc(hw)}: grading summary</h1>
<p>{len(table)} graded submissions (automatic points; written answers wait for manual
grading). This run: {len(run.graded)} graded in {run.seconds:.0f} s on {run.workers}
worker(s), {len(run.skipped)} up to date, {len(run.failed)} failed.
Written {datetime.datetime.now():%Y-%m-%d %H:%M}.</p>
{f"<p><b>Could not be graded (0 points until regraded):</b></p><ul>{failed}</ul>" if failed
 else ""}
<h2>Distribution of scores per part</h2>
<img alt="histograms of the points per part" src="data:image/png;base64,{b64}">
<h2>Per part</h2>
<table><tr><th>part</th><th>mean</th><th>median</th><th>full marks</th><th>zero</th></tr>
{stats}</table>
<h2>Integrity report</h2>
<table><tr><th>student</th><th>part</th><th>reason</th><th>detail</th></tr>{report}</table>
<h2>Grades</h2>
<table><tr><th>student</th>{head}</tr>{body}</table>
</body></html>
""")
    return png, page
