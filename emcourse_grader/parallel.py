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
* **The coordinator alone writes** the course (its own gradebook writes through one
  connection kept for the run; nbgrader's steps open theirs): as each result arrives, one
  submission at a time, it records the student and the submission in ``gradebook.db`` and
  runs nbgrader's
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

The jobs live in modules of their own: the worker's task (:mod:`.grading_worker`) and its
deadline (:mod:`.watchdog`), the scratch gradebook (:mod:`.scratch_gradebook`), the queue's
order (:mod:`.grading_queue`), the writer (:mod:`.grading_writer`), the progress line
(:mod:`.progress`), the end-of-run summary (:mod:`.run_summary`) and the Dask cluster
(:mod:`.cluster`; started while the coordinator prepares the tasks and stopped while it
writes the summary: :mod:`.cluster_start`); this module is the coordinator.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import custody
from .cluster import check_client, check_scheduler_address, dask_client
from .cluster_start import BackgroundCluster
from .grading_queue import known_seconds, previous_seconds, queue_order, summary_dir
from .grading_worker import _grade, grade_submission
from .grading_writer import _scores, _Writer

# Timestamps read without CourseDirectory.fail.
from .guard import needs_grading, read_timestamp
from .progress import Progress
from .run_summary import class_scores, print_summary, write_run, write_summary
from .scratch_gradebook import assignment_spec, build_gradebook, ensure_path
from .watchdog import EVENT_TOPIC, Watchdog

__all__ = ["EVENT_TOPIC", "Outcome", "Progress", "RunResult", "Watchdog", "_grade",
           "_scores", "assignment_spec", "build_gradebook", "class_scores", "dask_client",
           "grade", "grade_all", "grade_submission", "load_course", "needs_grading",
           "previous_seconds", "print_summary", "queue_order", "read_timestamp",
           "summary_dir", "write_run", "write_summary"]

SLACK = 300.0  # s beyond the configured notebook budgets before a submission counts as hung


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
    summary_figure: Path | None = None  # grading_summary/<hw>.svg
    summary_html: Path | None = None
    commit_seconds: float = 0.0    # the coordinator writing results
    startup_seconds: float = 0.0   # waiting for the cluster once the tasks were ready

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
    from .grading_writer import quiet_nbgrader

    if client is not None:
        check_client(client)  # TLS only: a plain scheduler runs anyone's code
    elif scheduler is not None:
        check_scheduler_address(scheduler)
    quiet_nbgrader()
    ensure_path()
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
    assignments = list(dict.fromkeys(assignments))  # each once, in the order given
    # The cluster starts while the submissions are read, and stops while the summary is
    # written (emcourse_grader.cluster_start).
    jobs = {}
    with BackgroundCluster(workers, scheduler, security, client) as cluster:
        try:
            return _run(cluster, jobs, assignments, root, students, force, timeout,
                        extra_args, summary, stream, start, workers)
        finally:
            for job in jobs.values():
                job.writer.close()


def _run(cluster, jobs, assignments, root, students, force, timeout, extra_args, summary,
         stream, start, workers):
    from distributed import as_completed

    several = len(assignments) > 1
    tasks, history, files = {}, {}, {}  # keyed by (assignment, student)
    for hw in assignments:
        job, todo = _prepare(hw, root, students, force, timeout, extra_args, stream)
        jobs[hw] = job
        for s, task in todo.items():
            tasks[hw, s] = task
            files[hw, s] = task["files"]
        history.update({(hw, s): t for s, t in known_seconds(job.app, hw).items()})

    def label(key):
        return f"{key[1]} ({key[0]})" if several else key[1]

    startup = 0.0
    n_workers = 0
    if tasks:
        t_start = time.perf_counter()
        cl = cluster.client()
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
    cluster.close_soon()
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
