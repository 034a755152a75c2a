"""The order of a parallel run's queue: the costliest submissions first.

Each run records every student's grading time (``grading_summary/<hw>.json``, written by
:func:`emcourse_grader.run_summary.write_run`); the next run reads it back
(:func:`previous_seconds`) and starts with the submissions that took longest
(:func:`queue_order`).
"""

from __future__ import annotations

import json
from pathlib import Path


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


def summary_dir(app) -> Path:
    db = app.coursedir.db_url
    if db.startswith("sqlite:///"):
        return Path(db[len("sqlite:///"):]).resolve().parent / "grading_summary"
    return Path(app.coursedir.root) / "grading_summary"
