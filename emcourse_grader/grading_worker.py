"""A Dask worker's task: one submission graded by nbgrader's Autograde in a scratch course.

:func:`grade_submission` (sent by :mod:`emcourse_grader.parallel`) lays the submission out
in a private scratch course with a scratch gradebook (:mod:`.scratch_gradebook`), runs
nbgrader's own Autograde converter with the course's preprocessors except those that write
grades (the coordinator scores each submission once, :mod:`.scoring`), under a
:class:`.watchdog.Watchdog`, and returns plain data: the autograded files, the integrity
report rows, the time it took. It never writes the course.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import pickle
import re
import shutil
import time
from pathlib import Path

from . import scoring
from .cluster_start import wait_until_warm
from .grading_writer import quiet_nbgrader
from .leftovers import make_folder
from .scratch_gradebook import _LOCK, ensure_path, fresh_scratch_gradebook
from .watchdog import Watchdog


def _read_tree(root: str) -> dict:
    from emcourse_grader.untrusted import read_submission
    return read_submission(root)[0]  # regular files only, no link followed


def grade_submission(task: dict) -> dict:
    """Grade one submission with nbgrader's Autograde in a private scratch course.

    ``task``: ``student``, ``assignment``, ``files`` (path in the submission folder -> bytes),
    ``released`` (the released notebooks: name -> bytes), ``spec`` (:func:`assignment_spec`), ``config`` (the course's nbgrader Config, pickled),
    ``timeout`` (s), ``seeds`` (the checks', never the secret). Returns plain data: ``ok``, ``files`` (the autograded
    directory), ``rows`` (integrity report), ``seconds``, ``log``, ``worker``.
    """
    ensure_path()
    wait_until_warm()  # the worker's warm-up imports (emcourse_grader.cluster_start)
    with _LOCK, Watchdog(task, task["timeout"]) as watchdog:
        return watchdog.finish(_grade(task))


def _grade(task: dict) -> dict:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    quiet_nbgrader()  # the scratch gradebook's new submission: nbgrader's harmless noise
    start = time.perf_counter()
    student, hw, spec = task["student"], task["assignment"], task["spec"]
    scratch = make_folder("grade")
    cwd = os.getcwd()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    try:
        db_url = fresh_scratch_gradebook(spec)  # one file per process: one engine
        cfg = Config(pickle.loads(task["config"]))
        report = str(scratch / "integrity_report.csv")
        overrides = Config()
        overrides.CourseDirectory.root = str(scratch)
        overrides.CourseDirectory.db_url = db_url
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
