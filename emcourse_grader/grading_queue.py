"""The order of a parallel run's queue: the costliest submissions first.

Each run records every student's grading time (``grading_summary/<hw>.json``, written by
:func:`emcourse_grader.run_summary.write_run`); the next run reads it back
(:func:`previous_seconds`) and starts with the submissions that took longest
(:func:`queue_order`). A first run of an assignment that the grading service (``serve``)
has graded reads the service's times instead (:func:`service_seconds`): the deadline's
whole-class run then starts with the submissions that were slow when their feedback was
made.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# What can keep a notebook running until its time budget, found in its raw bytes (never
# parsed: the notebook is the student's; these expressions have no nesting and bounded
# repeats, so they are linear in its size):
# - a ``while`` statement at the start of a line of source, as nbformat stores it (each line
#   a JSON string, ``"    while not converged:\n"``, or one string with ``\n`` escapes);
# - a walk of the file system, a wait, another process: ``glob.glob(``, ``os.walk(``,
#   ``.rglob(``, ``time.sleep(``, ``subprocess.run(``, ...
SCAN_BYTES = 4 << 20  # of each notebook at most: 0.2 s for the costliest bytes
_LONG = re.compile(rb'(?:"|\\n)[ \t]*while[ (][^"\n]{0,200}:'
                   rb'|\b(?:glob|rglob|iglob|walk|scandir|listdir|sleep|subprocess|system|popen)'
                   rb'\b *[.(]')


def may_run_long(files) -> bool:
    """Whether a submission's notebooks hold code that may run until its time budget: a
    ``while`` loop (the usual way an EM answer does: a convergence test that never passes),
    a walk of the file system (what a notebook that snoops for the tests does), a wait or
    another process. Only ever an order for the queue, never a grade."""
    return any(_LONG.search(data, 0, SCAN_BYTES) for name, data in files.items()
               if name.endswith(".ipynb"))


def queue_order(students, files, history) -> list:
    """The submissions to grade (``students``: their keys, a student or an (assignment,
    student) pair, as in ``files`` and ``history``), the costliest first
    (longest-processing-time first).

    A class's grading time is its slowest worker's: with the queue in arrival order, one
    notebook that runs into its time budget near the end leaves every other worker idle while
    it finishes. So the queue starts with the submissions expected to take longest: by the
    seconds each took in the previous run of this assignment (``history``: student -> s, from
    grading_summary/<hw>.json); a student without history is expected to take the median of
    those that have one. Ties (a first run has no history at all) go first to a notebook
    that may run until its budget (:func:`may_run_long`: a loop that never ends or a walk of
    the whole file system costs 20 to 30 s where a submission takes 1 to 2 s, and one started
    last leaves the other workers idle until it ends), then to the larger notebook, which
    usually holds more code to run.
    """
    known = sorted(history.values())
    typical = known[len(known) // 2] if known else 0.0

    def cost(s):
        size = sum(len(data) for name, data in files[s].items() if name.endswith(".ipynb"))
        return (history.get(s, typical), may_run_long(files[s]), size)

    return sorted(students, key=cost, reverse=True)


def previous_seconds(app, assignment) -> dict:
    """student -> seconds their last grading took (grading_summary/<hw>.json; {} if none)."""
    path = summary_dir(app) / f"{assignment}.json"
    try:
        seconds = json.loads(path.read_text()).get("seconds_by_student", {})
        return {str(s): float(t) for s, t in seconds.items() if isinstance(t, (int, float))}
    except (OSError, ValueError, AttributeError):
        return {}


def known_seconds(app, assignment) -> dict:
    """student -> the best estimate of their grading time: the last ``grade`` run's
    (:func:`previous_seconds`), else the grading service's (:func:`service_seconds`)."""
    return {**service_seconds(app, assignment), **previous_seconds(app, assignment)}


def service_seconds(app, assignment) -> dict:
    """student -> seconds the grading service's latest grading of their submission of
    ``assignment`` took on its worker (``<course root>/serve/journal.sqlite``; {} if the
    course has no service journal). Only an estimate for the queue's order: the times of a
    ``grade`` run (:func:`previous_seconds`) win over them."""
    from .serve.queue import FOLDER, JOURNAL, worker_seconds

    return worker_seconds(Path(app.coursedir.root) / FOLDER / JOURNAL, assignment)


def summary_dir(app) -> Path:
    db = app.coursedir.db_url
    if db.startswith("sqlite:///"):
        return Path(db[len("sqlite:///"):]).resolve().parent / "grading_summary"
    return Path(app.coursedir.root) / "grading_summary"
