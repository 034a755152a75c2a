"""The grading service: ``python -m emcourse_grader serve``.

A loop, one step every ``poll`` seconds, in the course root, as the instructor:

1. **Notice** (:mod:`.watch`): every submission of the exchange not in the journal yet is
   recorded, by its assignment's policy (:mod:`.policy`): queued (replacing that student's
   queued one), waiting for the deadline (``attempts = "none-before-deadline"``), or refused
   (its attempts used up; late with ``late = "refuse"``).
2. **Deadline**: once an assignment's deadline has passed, each student's last waiting
   submission is queued, and a feedback released before it that showed less than everything
   (``show`` "score" or "parts") is generated and released again in full.
3. **Results** (:mod:`.grading`): each submission whose grading task has ended on the
   cluster is written (gradebook, integrity report, ``autograded/``) and its scores go into
   the journal.
4. **Free workers** (:meth:`.queue.Journal.take`, fair: the least recently served student
   first, one job per student at a time): for each worker without a task, the next job's
   submission is collected (custody) and sent to the service's Dask cluster (TLS, kept for
   the service's life) on its own.
5. **Finish** each graded job: its feedback generated and released to that student alone
   (what the policy lets them see), the gradebook left holding the counting attempt, and
   only then the job marked done.

A pipeline, not batches: each worker takes the next job as soon as its own is done, and each
job is finished as soon as its own task ends, while the others keep grading; a slow
submission (an endless loop stopped by its budget) holds one worker, not the others' feedback.
When nothing ended, the loop waits for the first task to end (at most ``poll`` seconds, then
it looks at the exchange again).

Crash-safety: the journal is written in transactions; a job is "done" only after its
gradebook write and its release, and every step is safe to redo (collect takes the same copy
again, a copy graded already is not graded again, feedback and its release are replaced).
Killed at any moment and started again, the service loses nothing and grades nothing twice
that was finished. No other service or grading command writes the assignments it serves
while it runs (their writer locks, :mod:`emcourse_grader.course_lock`).

Plain process: it writes the instructor's page to ``serve/status.html`` in the course root
after every step (the instructor's alone). On the hub it also serves the pages
(:mod:`.web`).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import sys
import time
from pathlib import Path

from ..course_lock import CourseBusy
from . import steps
from .grading import Grader, Running, warm
from .queue import FOLDER, JOURNAL, Journal

log = logging.getLogger("emcourse.serve")


def _now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _when(iso_time: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso_time)


class Service:
    """One course's grading service.

    Parameters
    ----------
    root : str or Path
        The course root.
    workers : int, optional
        Worker processes of the local Dask cluster (default: one per core).
    scheduler : str, optional
        A ``tls://`` scheduler instead (as for ``grade``), with ``security``.
    security : distributed.Security, optional
    extra : sequence of str
        ``--Class.trait=value`` arguments for every nbgrader command (and the grader's configuration).
    poll : float
        Seconds between steps when idle.
    stream : file, optional
        Where the grader's progress goes (default: stderr).
    assignments : list of str, optional
        The assignments to serve (default: every one of course.toml).
    """

    def __init__(self, root, *, workers=None, scheduler=None, security=None, extra=(),
                 poll: float = 2.0, stream=None, assignments=None):
        from .. import course as manifest

        if not isinstance(poll, (int, float)) or isinstance(poll, bool) or poll <= 0:
            raise ValueError(f"poll: expected a positive number of seconds, found {poll!r}")
        self.root = Path(root).resolve()
        self.course = manifest.load(self.root)
        self.workers, self.scheduler, self.security = workers, scheduler, security
        self.extra = list(extra)
        self.poll = float(poll)
        self.stream = stream or sys.stderr
        self.folder = self.root / FOLDER
        self.folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.journal = Journal(self.folder / JOURNAL)
        known = [a.id for a in self.course.assignments]
        for hw in assignments or ():
            if hw not in known:
                raise ValueError(f"assignments: {hw!r} is not in {self.course.manifest} "
                                 f"(it has {', '.join(known)})")
        self.policies = {a.id: a.policy for a in self.course.assignments
                         if not assignments or a.id in assignments}
        self.client = None
        self.n_workers = workers or os.cpu_count() or 1
        self.stopping = False
        self._progress = False  # the last step did something (else: wait for a task)
        self._lock = None
        self._spent = {}  # attempt id -> seconds of collect, for the journal
        self.running: dict[int, Running] = {}  # attempt id -> its task on the cluster
        self.grader = Grader(self.root, self._cluster, self.extra)

    # -- life ----------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        """The writer locks of the assignments it serves (:mod:`emcourse_grader.course_lock`),
        for life: no other service, ``grade`` or ``nbgrader autograde`` writes them
        meanwhile."""
        from ..course_lock import acquire

        self._lock = acquire(self.root, "python -m emcourse_grader serve",
                             sorted(self.policies))

    def run(self, *, until_idle: bool = False, on_step=None) -> None:
        """Run until SIGTERM or SIGINT (or, with ``until_idle``, until nothing is left to
        do); ``on_step(self)`` after each step (the web pages' refresh)."""
        self._take_lock()
        try:
            self._serve(until_idle, on_step)
        finally:
            self._lock.release()  # (the process's end drops it too, however it ends)

    def _serve(self, until_idle, on_step) -> None:
        from .. import course as manifest
        from .watch import Watcher

        # Local Dask workers start outside the course: they find course.toml through this.
        os.environ[manifest.ENV] = str(self.root)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        self.watch = Watcher(self.root, list(self.policies), self.extra)
        self._sync_duedates()
        n = self.journal.recover()
        if n:
            log.info("%d jobs taken before the service stopped are queued again", n)
        log.info("serving %s (%s exchange)", self.root, self.watch.kind)
        with contextlib.ExitStack() as self._stack:
            while not self.stopping:
                busy = self.step()
                if on_step is not None:
                    on_step(self)
                self.write_status()
                if until_idle and not busy:
                    break
                if not busy:
                    self._sleep(self.poll)
                elif not self._progress:
                    self._wait(self.poll)
        self.client = None
        self.running.clear()

    def _cluster(self):
        """The Dask client, the cluster started at the first job and kept for life."""
        from ..cluster import dask_client

        if self.client is None:
            self.client, _ = self._stack.enter_context(
                dask_client(self.workers, self.scheduler, self.security))
            self.n_workers = len(self.client.scheduler_info().get("workers", {})) or \
                self.n_workers
            log.info("grading on %d workers", self.n_workers)
            try:
                self.client.run(warm)
            except Exception as exc:  # noqa: BLE001 - only slower: each imports on its own
                log.warning("the workers could not import the grader ahead: %s", exc)
        return self.client

    def _stop(self, *_):
        self.stopping = True

    def _wait(self, seconds: float) -> None:
        """Until a running task ends, the service is stopped or ``seconds`` pass."""
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end and not any(
                r.future.done() for r in self.running.values()):
            time.sleep(0.05)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()))

    def _sync_duedates(self) -> None:
        for hw, policy in self.policies.items():
            if policy.deadline is None:
                continue
            try:
                steps.set_duedate(self.root, self.course.id, hw, policy.deadline)
            except Exception as exc:  # noqa: BLE001 - not generated yet: collect says so
                log.warning("%s: could not set the gradebook's due date: %s", hw, exc)

    # -- one step ------------------------------------------------------------------------------
    def step(self) -> bool:
        """Notice, deadlines, results, free workers, finish (module doc). True if work is
        left or under way (queued or running jobs) or it did some."""
        try:
            noticed = self.notice()
        except Exception as exc:  # noqa: BLE001 - the exchange unreachable: try again later
            log.warning("could not list the exchange: %s", exc)
            noticed = 0
        self._deadlines()
        leftover = self.journal.attempts(states=["graded"])  # after a restart
        for job in leftover:
            self._finish(job)
        ended = self._results()
        started = self._fill()
        for job_id in ended:
            self._finish(self.journal.get(job_id))
        left = self.journal.attempts(states=["queued"])
        self._progress = bool(noticed or leftover or ended or started)
        return bool(self._progress or self.running or left)

    def _deadlines(self) -> None:
        """Past an assignment's deadline: the waiting submissions queued, the feedback that
        showed less than everything released again in full."""
        now = _now_utc()
        for hw, policy in self.policies.items():
            if policy.before_deadline(now):
                continue
            if policy.attempts == 0:
                self.journal.release_waiting(hw)
            if policy.show != "messages":
                for job in self._to_reshow(hw):
                    self._reshow(job)

    def _to_reshow(self, hw: str) -> list:
        """Each student's last graded attempt of ``hw`` whose released feedback shows less
        than everything (the feedback ``autograded/`` can give again is that one's); none
        of a student with an attempt being graded or finished."""
        last, busy = {}, set()
        for job in self.journal.attempts(assignment=hw):
            if job.state in ("grading", "graded"):
                busy.add(job.student)
            if job.state == "done" and job.parts is not None and (
                    job.student not in last or job.number > last[job.student].number):
                last[job.student] = job
        return [job for s, job in sorted(last.items())
                if s not in busy and job.shown in ("score", "parts")]

    def _reshow(self, job) -> None:
        """Release the whole feedback of a done job (the deadline has passed)."""
        hw, student = job.assignment, job.student
        try:
            steps.write_scores(self.root, self.course.id, hw, student, job.parts)
            steps.feedback(self.root, hw, student, "messages", job, self.extra)
            counting = self._counting(hw, student, job)
            if counting.id != job.id:
                steps.write_scores(self.root, self.course.id, hw, student, counting.parts)
        except Exception:
            log.exception("releasing the whole feedback of %s %s failed", student, hw)
            return
        self.journal.reshown(job.id, "messages")
        log.info("%s %s %s: the deadline has passed, whole feedback released", student, hw,
                 job.submitted)

    def notice(self) -> int:
        """Record the exchange's new submissions; how many."""
        new = 0
        for sub in self.watch():
            if self.journal.find(sub.assignment, sub.student, sub.submitted):
                continue
            state, late, reason = self._admit(sub)
            if self.journal.add(sub.assignment, sub.student, sub.submitted, state=state,
                                late=late, reason=reason) is not None:
                new += 1
                log.info("noticed %s %s %s: %s", sub.student, sub.assignment, sub.submitted,
                         state)
        return new

    def _admit(self, sub) -> tuple[str, bool, str]:
        """(state, late, reason) of a new submission under its assignment's policy."""
        policy = self.policies[sub.assignment]
        late = not policy.before_deadline(_when(sub.submitted))
        if late and policy.late == "refuse":
            return "refused", True, "after the deadline"
        if policy.attempts == 0 and not late:
            return "waiting", False, ""
        if policy.attempts and not late:
            used = self.journal.graded_count(sub.assignment, sub.student) + len(
                self.journal.attempts(assignment=sub.assignment, student=sub.student,
                                      states=["grading"]))
            if used >= policy.attempts:
                return "refused", False, f"all {policy.attempts} attempts used"
        return "queued", late, ""

    # -- grading -------------------------------------------------------------------------------
    def _fill(self) -> int:
        """A job for each free worker: taken, collected, sent to the cluster. How many
        jobs were taken."""
        taken = 0
        while not self.stopping and len(self.running) < self.n_workers:
            jobs = self.journal.take(1)
            if not jobs:
                break
            taken += 1
            self._start(jobs[0])
        return taken

    def _start(self, job) -> None:
        """Collect one job's submission and send it to the cluster (or record at once what
        needs no worker)."""
        hw = job.assignment
        policy = self.policies[hw]
        extra = list(self.extra)
        if policy.late == "accept":  # the late copy is the one to grade
            extra.append("--ExchangeCollect.before_duedate=False")
        if policy.attempts and not job.late and job.number is None and \
                self.journal.graded_count(hw, job.student) >= policy.attempts:
            self.journal.finish(job.id, "refused", f"all {policy.attempts} attempts used")
            return
        try:
            self._cluster()  # started with the first job, not counted in its service_s
        except Exception:  # said again, and costs the job, when it is sent
            log.exception("the Dask cluster could not be started")
        t0 = time.perf_counter()
        try:
            got = steps.collect(self.root, hw, job.student, extra)
        except Exception as exc:  # noqa: BLE001 - costs this job only
            self.journal.finish(job.id, "failed", f"collect failed: {exc}")
            return
        job = self._collected(job, got)
        if job is None:
            return
        try:
            running = self.grader.start(hw, job.student)
        except Exception as exc:
            log.exception("grading %s %s failed", job.student, hw)
            self.journal.finish(job.id, "failed", f"grading failed: {exc}")
            return
        self._spent[job.id] = time.perf_counter() - t0
        if isinstance(running, Running):
            self.running[job.id] = running
            self.journal.note(job.id, "sent", "its task went to the cluster")
        else:  # no worker needed: graded already from this copy, no notebook, or refused
            self._record(job, running)
            if self.journal.get(job.id).state == "graded":
                self._finish(self.journal.get(job.id))

    def _results(self) -> list[int]:
        """The ids of the jobs whose task ended, each recorded (graded or failed)."""
        ended = []
        for job_id, running in list(self.running.items()):
            if not running.future.done():
                continue
            t0 = time.perf_counter()
            try:
                outcome = self.grader.result(running)
            except Exception as exc:
                log.exception("recording %s %s failed", running.student, running.assignment)
                del self.running[job_id]
                self.journal.finish(job_id, "failed", f"grading failed: {exc}")
                continue
            if outcome is None:  # its worker died: sent once more
                log.info("%s %s: the worker died; grading it once more", running.student,
                         running.assignment)
                self.journal.note(job_id, "sent", "again: the worker grading it died")
                continue
            del self.running[job_id]
            self._spent[job_id] = self._spent.get(job_id, 0.0) + time.perf_counter() - t0
            self._record(self.journal.get(job_id), outcome)
            if self.journal.get(job_id).state == "graded":
                ended.append(job_id)
        return ended

    def _record(self, job, outcome) -> None:
        """A job's outcome into the journal: its scores ("graded") or why it failed."""
        if outcome.status == "failed":
            self.journal.finish(job.id, "failed", outcome.reason[:2000])
            return
        hw, student = job.assignment, job.student
        parts = steps.scores(self.root, self.course.id, hw, student)
        number = job.number or self.journal.graded_count(hw, student) + 1
        self.journal.graded(job.id, parts=parts, number=number,
                            worker_s=outcome.seconds if outcome.status == "graded" else None)

    def _collected(self, job, got):
        """The job that is to be graded now that collect took the copy of time ``got``."""
        if got is None:
            self.journal.finish(job.id, "failed", "collect found no submission")
            return None
        if got == job.submitted:
            return job
        if got > job.submitted:
            # A later submission came in meanwhile: it replaces this one, and is graded now.
            self.journal.finish(job.id, "superseded", f"replaced by the submission of {got}")
            later = self.journal.find(job.assignment, job.student, got)
            if later is None:
                self.journal.add(job.assignment, job.student, got)
                later = self.journal.find(job.assignment, job.student, got)
            if later.state in ("queued", "grading"):
                self.journal.claim(later.id)
                return self.journal.get(later.id)
            return None
        self.journal.finish(job.id, "failed", f"collect took the submission of {got}, not "
                            "this one (the exchange's rule for late copies)")
        return None

    def _finish(self, job) -> None:
        """Feedback, release and the counting attempt of a graded job; then done."""
        hw, student = job.assignment, job.student
        policy = self.policies[hw]
        t0 = time.perf_counter()
        try:
            steps.write_scores(self.root, self.course.id, hw, student, job.parts)
            shown = policy.shows(_now_utc())
            steps.feedback(self.root, hw, student, shown, job, self.extra)
            counting = self._counting(hw, student, job)
            if counting.id != job.id:
                steps.write_scores(self.root, self.course.id, hw, student, counting.parts)
        except Exception as exc:
            log.exception("finishing %s %s failed", student, hw)
            self.journal.finish(job.id, "failed", f"feedback failed: {exc}")
            return
        spent = self._spent.pop(job.id, 0.0) + time.perf_counter() - t0
        self.journal.done(job.id, counting=counting.id, service_s=spent, shown=shown)
        log.info("%s %s %s: %g/%g, feedback released", student, hw, job.submitted, job.score,
                 job.max_score)

    def _counting(self, hw, student, job):
        """The attempt the gradebook holds: the last graded one, or the best (the later of
        equals)."""
        graded = [t for t in self.journal.attempts(assignment=hw, student=student)
                  if t.id == job.id or (t.state == "done" and t.parts)]
        if self.policies[hw].counts == "best":
            return max(graded, key=lambda t: (t.score or 0, t.submitted))
        return max(graded, key=lambda t: t.submitted)

    # -- the instructor's page (plain process) ---------------------------------------------------
    def write_status(self) -> None:
        """``serve/status.html``: the instructor's live page, as a file."""
        from .pages import instructor_view, render

        html = render("instructor.html", static=True,
                      **instructor_view(self.journal, self.course))
        tmp = self.folder / "status.html.tmp"
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, self.folder / "status.html")


def main(args) -> int:
    """``python -m emcourse_grader serve`` (arguments parsed by emcourse_grader.__main__)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s serve] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        service = Service(args.root, workers=args.workers, scheduler=args.scheduler,
                          security=args.security, extra=args.extra, poll=args.poll,
                          assignments=args.assignments)
        if os.environ.get("JUPYTERHUB_SERVICE_URL"):  # a hub service: the pages too
            from . import web

            web.start(Journal(service.journal.path), service.course,
                      [n for n in (args.instructors or "").split(",") if n],
                      assignments=list(service.policies))
        service.run(until_idle=args.until_idle)
    except CourseBusy as exc:  # another service, grade or autograde writes the course
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError) as exc:  # a bad manifest
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return 0
