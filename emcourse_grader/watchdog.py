"""The deadline of one grading task on a Dask worker (:class:`Watchdog`).

A submission that outlives its time ends the worker process it runs in: the nanny starts a
new one, the scheduler reports the task's worker as killed, and the coordinator
(:mod:`emcourse_grader.parallel`) reads the reason from the event this sends and retries the
submission once.
"""

from __future__ import annotations

import os
import threading
import time

EVENT_TOPIC = "emcourse-grading"


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
