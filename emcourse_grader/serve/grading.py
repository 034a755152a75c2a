"""One submission at a time through the grader on Dask: the service's pipeline.

``python -m emcourse_grader grade`` grades a class in one run (:func:`emcourse_grader.
parallel.grade_all`); the service instead sends each collected submission to the cluster on
its own, as soon as a worker is free, and takes each result as soon as it is there, so one
slow submission delays no other. The pieces are those of the parallel grader: the task
(:func:`emcourse_grader.grading_worker.grade_submission`, on a worker, sharing no directory
with the course), nbgrader's rule for what needs grading (:func:`emcourse_grader.guard.
needs_grading`: a copy graded already is not graded again, so a job redone after a crash is
not), custody (a copy changed since collect is not graded) and the writer (:class:`emcourse_
grader.grading_writer._Writer`: the gradebook, the integrity report and ``autograded/``,
written by this process alone, one result at a time).

A worker that dies under a submission (or that the watchdog ends) is replaced by its nanny
and the submission is sent once more; a second failure, or a pipeline that failed, costs that
submission alone: 0 points and a reason, as with ``grade``.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

from ..parallel import Outcome


def warm() -> None:
    """On a worker: import what grading a submission imports (nbgrader, the converter and
    its preprocessors), so the first submission a worker takes does not wait for it."""
    import nbgrader.converters
    import nbgrader.preprocessors  # noqa: F401

    from .. import grading_worker, preprocessors  # noqa: F401


@dataclass
class _Assignment:
    """What every task of one assignment carries, read once per service life."""

    app: object
    spec: dict
    writer: object
    config: bytes
    seeds: dict
    released: dict
    timeout: float


@dataclass
class Running:
    """A submission on the cluster: its future, its task, how many times it was sent."""

    assignment: str
    student: str
    task: dict
    future: object = None
    tries: int = 0
    sent: float = field(default_factory=time.perf_counter)


class Grader:
    """Sends single submissions to a Dask cluster and records each result as it comes.

    Parameters
    ----------
    root : str or Path
        The course root (the coordinator's side: gradebook, ``submitted/``, ``autograded/``).
    client : callable
        Returns the :class:`distributed.Client` (TLS) to grade on; called when a task is sent,
        so the cluster starts with the first submission.
    extra : sequence of str
        ``--Class.trait=value`` arguments for nbgrader's configuration.
    """

    def __init__(self, root, client, extra=()):
        if not callable(client):
            raise TypeError(f"client: expected a callable returning a distributed.Client, "
                            f"found {type(client).__name__}")
        self.root = str(root)
        self.client = client
        self.extra = list(extra)
        self._assignments: dict[str, _Assignment] = {}

    def assignment(self, hw: str) -> _Assignment:
        """The configuration and definition of ``hw``, read at its first submission and
        kept for the service's life (after ``nbgrader generate_assignment`` again, restart
        the service)."""
        if hw not in self._assignments:
            import warnings

            from sqlalchemy.exc import SAWarning

            from ..checks import CHECKS, secret
            from ..grading_writer import _Writer
            from ..parallel import (
                _default_timeout,
                _plain_config,
                _released_notebooks,
                assignment_spec,
                load_course,
            )
            from ..scratch_gradebook import ensure_path

            warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's, as in grade
            ensure_path()  # nbgrader runs alembic from this environment's bin/
            app = load_course(hw, self.root, self.extra)
            cd = app.coursedir
            spec = assignment_spec(cd.db_url, cd.course_id, hw)
            self._assignments[hw] = _Assignment(
                app=app, spec=spec, writer=_Writer(app, spec),
                config=pickle.dumps(_plain_config(app.config)),
                seeds=secret.seeds(CHECKS), released=_released_notebooks(cd, hw),
                timeout=_default_timeout(app.config))
        return self._assignments[hw]

    def start(self, hw: str, student: str) -> Running | Outcome:
        """Send the student's collected submission of ``hw`` to the cluster.

        Returns
        -------
        Running or Outcome
            The running task; or, when no worker is needed, what became of it at once: "up
            to date" (graded already from this copy), "no notebook" (0, written), "failed"
            (the copy changed since collect: not graded).
        """
        from .. import custody
        from ..guard import needs_grading
        from ..parallel import _submission_files

        a = self.assignment(hw)
        cd = a.app.coursedir
        folder = cd.format_path(cd.submitted_directory, student, hw)
        if not needs_grading(cd, hw, student, False):
            return Outcome(student, "up to date")
        why = custody.breach(folder)
        if why:
            return Outcome(student, "failed", reason=f"not graded: {why}")
        files, a.writer.refused[student] = _submission_files(folder, cd.ignore)
        if not any(f"{n}.ipynb" in files for n in a.writer.notebooks):
            a.writer.missing(student, files)
            return Outcome(student, "no notebook", reason="no notebook handed in")
        task = {"student": student, "assignment": hw, "files": files, "spec": a.spec,
                "released": a.released, "config": a.config, "timeout": a.timeout,
                "seeds": a.seeds}
        running = Running(hw, student, task)
        self._send(running)
        return running

    def _send(self, running: Running) -> None:
        from ..grading_worker import grade_submission

        running.tries += 1
        running.future = self.client().submit(
            grade_submission, running.task, pure=False,
            key=f"serve-{running.assignment}-{running.student}-{running.tries}-"
                f"{time.time_ns()}")

    def result(self, running: Running) -> Outcome | None:
        """The outcome of a finished task, written to the course (gradebook, report,
        ``autograded/``); None when the task was sent again (its worker died: once)."""
        if not running.future.done():
            raise ValueError(f"running: the task of {running.student} ({running.assignment})"
                             " has not finished")
        from ..parallel import _death_reason

        a = self.assignment(running.assignment)
        s = running.student
        result, why, again = None, "", True
        try:
            result = running.future.result()
            if not result["ok"]:  # nbgrader's pipeline failed: it would again
                why = "the grading pipeline failed: " + (result["error"] or "")[-400:]
                again = False
        except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
            why = _death_reason(self.client(), running.assignment, s, exc)
        running.future.release()
        if why and again and running.tries < 2:
            self._send(running)
            return None
        scores = None
        try:  # a result that cannot be recorded costs its submission only
            if not why:
                scores = a.writer.commit(s, result)
        except Exception as exc:  # noqa: BLE001
            why = f"its result could not be recorded: {type(exc).__name__}: {exc}"
        if why:
            a.writer.fail(s, why, (result or {}).get("rows", []))
            return Outcome(s, "failed", reason=why, tries=running.tries)
        return Outcome(s, "graded", seconds=result["seconds"], scores=scores,
                       tries=running.tries)
