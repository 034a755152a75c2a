"""The grading service: ``python -m emcourse_grader serve``.

A loop, one step every ``poll`` seconds, in the course root, as the instructor:

1. **Notice** (:mod:`.watch`): every submission of the exchange not in the journal yet is
   recorded, by its assignment's policy (:mod:`.policy`): queued (replacing that student's
   queued one), waiting for the deadline (``attempts = "none-before-deadline"``), or refused
   (its attempts used up; late with ``late = "refuse"``).
2. **Deadline**: once an assignment's deadline has passed, each student's last waiting
   submission is queued.
3. **Finish** what was graded but not released (after a restart).
4. **A batch** (:meth:`.queue.Journal.take`, fair: one job per student, the least recently
   served students first, as many as the cluster has workers): each student's submission is
   collected (custody), the batch is graded by :func:`emcourse_grader.parallel.grade_all` on
   the service's Dask cluster (TLS, kept for the service's life), and each job is then
   finished: its scores into the journal, the feedback generated and released to that
   student alone (what the policy lets them see), the gradebook left holding the counting
   attempt, and only then the job marked done.

Crash-safety: the journal is written in transactions; a job is "done" only after its
gradebook write and its release, and every step is safe to redo (collect takes the same copy
again, grade_all skips a copy graded already, feedback and its release are replaced). Killed
at any moment and started again, the service loses nothing and grades nothing twice that was
finished. One service per course (a lock file).

Plain process: it writes the instructor's page to ``serve/status.html`` in the course root
after every step (the instructor's alone). On the hub it also serves the pages
(:mod:`.web`).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path

from . import steps
from .queue import Journal

log = logging.getLogger("emcourse.serve")
FOLDER = "serve"          # in the course root, 0700
JOURNAL = "journal.sqlite"


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
        ``--Class.trait=value`` arguments for every nbgrader command (and ``grade_all``).
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
        self._lock = None
        self._spent = {}  # attempt id -> seconds of collect, for the journal

    # -- life ----------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        self._lock = open(self.folder / "lock", "w")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another grading service runs for {self.root} (it holds "
                               f"{self.folder / 'lock'})") from None

    def run(self, *, until_idle: bool = False, on_step=None) -> None:
        """Run until SIGTERM or SIGINT (or, with ``until_idle``, until nothing is left to
        do); ``on_step(self)`` after each step (the web pages' refresh)."""
        from .. import course as manifest
        from .watch import Watcher

        self._take_lock()
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
        self.client = None

    def _cluster(self):
        """The Dask client, the cluster started at the first batch and kept for life."""
        from ..cluster import dask_client

        if self.client is None:
            self.client, _ = self._stack.enter_context(
                dask_client(self.workers, self.scheduler, self.security))
            self.n_workers = len(self.client.scheduler_info().get("workers", {})) or \
                self.n_workers
            log.info("grading on %d workers", self.n_workers)
        return self.client

    def _stop(self, *_):
        self.stopping = True

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
        """Notice, release at deadlines, finish, grade one batch. True if it did work or
        work is left (queued jobs)."""
        try:
            noticed = self.notice()
        except Exception as exc:  # noqa: BLE001 - the exchange unreachable: try again later
            log.warning("could not list the exchange: %s", exc)
            noticed = 0
        now = _now_utc()
        for hw, policy in self.policies.items():
            if policy.attempts == 0 and not policy.before_deadline(now):
                self.journal.release_waiting(hw)
        for job in self.journal.attempts(states=["graded"]):
            self._finish(job)
        batch = self.journal.take(self.n_workers)
        if batch:
            self.grade_batch(batch)
        left = self.journal.attempts(states=["queued"])
        return bool(noticed or batch or left)

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
    def grade_batch(self, batch) -> None:
        """Collect, grade and finish one batch (one assignment, one job per student)."""
        from ..parallel import grade_all

        hw = batch[0].assignment
        policy = self.policies[hw]
        extra = list(self.extra)
        if policy.late == "accept":  # the late copy is the one to grade
            extra.append("--ExchangeCollect.before_duedate=False")
        jobs = {}
        for job in batch:
            if policy.attempts and not job.late and job.number is None and \
                    self.journal.graded_count(hw, job.student) >= policy.attempts:
                self.journal.finish(job.id, "refused", f"all {policy.attempts} attempts used")
                continue
            t0 = time.perf_counter()
            try:
                got = steps.collect(self.root, hw, job.student, extra)
            except Exception as exc:  # noqa: BLE001 - costs this job only
                self.journal.finish(job.id, "failed", f"collect failed: {exc}")
                continue
            job = self._collected(job, got)
            if job is not None:
                jobs[job.student] = job
                self._spent[job.id] = time.perf_counter() - t0
        if not jobs:
            return
        try:
            run = grade_all([hw], root=str(self.root), students=sorted(jobs),
                            client=self._cluster(),
                            summary=False, stream=self.stream, extra_args=self.extra)[0]
        except Exception as exc:  # noqa: BLE001 - e.g. the gradebook lacks the assignment
            for job in jobs.values():
                self.journal.finish(job.id, "failed", f"grading failed: {exc}")
            return
        outcomes = {o.student: o for o in run.graded}
        for student, job in jobs.items():
            o = outcomes.get(student)
            if o is not None and o.status == "failed":
                self.journal.finish(job.id, "failed", o.reason[:2000])
                continue
            parts = steps.scores(self.root, self.course.id, hw, student)
            number = job.number or self.journal.graded_count(hw, student) + 1
            self.journal.graded(job.id, parts=parts, number=number,
                                worker_s=o.seconds if o is not None else None)
            self._finish(self.journal.get(job.id))

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
            steps.feedback(self.root, hw, student, policy.shows(_now_utc()), job, self.extra)
            counting = self._counting(hw, student, job)
            if counting.id != job.id:
                steps.write_scores(self.root, self.course.id, hw, student, counting.parts)
        except Exception as exc:
            log.exception("finishing %s %s failed", student, hw)
            self.journal.finish(job.id, "failed", f"feedback failed: {exc}")
            return
        spent = self._spent.pop(job.id, 0.0) + time.perf_counter() - t0
        self.journal.done(job.id, counting=counting.id, service_s=spent)
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

        html = render("instructor.html", **instructor_view(self.journal, self.course))
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
    except (RuntimeError, ValueError) as exc:  # another service runs; a bad manifest
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    return 0
