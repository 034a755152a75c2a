"""What people see: the student's page and the instructor's live page, from the journal.

Every page is a template file of ``templates/`` rendered by Jinja2 with autoescaping on:
whatever a student controls (their name, a failure message their code raised) is text, never
markup, and no page runs a script. :func:`student_view` and :func:`instructor_view` compute
the pages' data (plain dicts; the tests read them too); :func:`render` makes the HTML.
"""

from __future__ import annotations

import collections
import datetime
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(template: str, **context) -> str:
    """The template file ``templates/<template>`` rendered with ``context``, escaped."""
    from ..rendering import render as render_file

    return render_file(TEMPLATES, template, **context)


def _utc(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _status(t, policy, now: datetime.datetime) -> tuple[str, str]:
    """(status, score) of one attempt as its student may see them now."""
    label = {"waiting": "submitted: graded at the deadline", "queued": "submitted",
             "grading": "grading", "graded": "grading", "done": "feedback ready",
             "failed": "could not be graded", "superseded": "replaced by a later submission",
             "refused": "not graded"}[t.state]
    if t.state in ("refused", "failed", "superseded") and t.reason:
        label += f" ({t.reason})"
    score = ""
    if t.state == "done" and t.score is not None:
        score = f"{t.score:g} / {t.max_score:g}"
        if t.counts:
            score += " (counts)"
    return label, score


def rule(policy) -> str:
    """The policy in one sentence, for students."""
    if policy.attempts is None:
        tries = "Every submission is graded"
    elif policy.attempts == 0:
        tries = "Your last submission before the deadline is graded at the deadline"
    else:
        tries = f"Your first {policy.attempts} graded submissions count as attempts"
    counts = "your best attempt counts" if policy.counts == "best" else \
        "your last graded attempt counts"
    due = (f"; deadline {policy.deadline:%Y-%m-%d %H:%M} UTC, late submissions "
           f"{'are not graded' if policy.late == 'refuse' else 'are graded as late'}"
           if policy.deadline else "")
    return f"{tries}; {counts}{due}."


def student_view(journal, course, student: str, now=None, assignments=None) -> dict:
    """The data of ``student``'s page: each assignment's attempts with their status (the
    ``assignments`` served, or all of the course)."""
    now = now or datetime.datetime.now(datetime.UTC)
    out = []
    for a in course.assignments:
        if assignments is not None and a.id not in assignments:
            continue
        rows = []
        for t in journal.attempts(assignment=a.id, student=student):
            status, score = _status(t, a.policy, now)
            rows.append({"submitted": t.submitted[:19].replace("T", " "), "status": status,
                         "score": score})
        out.append({"id": a.id, "rule": rule(a.policy), "attempts": rows})
    return {"student": student, "assignments": out}


def _percentile(values, q: float) -> str:
    if not values:
        return "-"
    values = sorted(values)
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return f"{values[i]:.0f} s"


def instructor_view(journal, course, now: float | None = None) -> dict:
    """The data of the instructor's live page (see templates/instructor.html)."""
    import time

    now = time.time() if now is None else now
    rows = journal.attempts()
    count = collections.Counter(t.state for t in rows)
    per_hour = collections.Counter(_utc(t.noticed)[:13] + ":00" for t in rows)
    queue = [{"student": t.student, "assignment": t.assignment,
              "submitted": t.submitted[:19].replace("T", " "), "state": t.state,
              "waiting": f"{now - t.noticed:.0f} s"}
             for t in sorted(rows, key=lambda t: t.noticed)
             if t.state in ("waiting", "queued", "grading", "graded")]
    failures = [{"student": t.student, "assignment": t.assignment,
                 "submitted": t.submitted[:19].replace("T", " "), "reason": t.reason or ""}
                for t in rows if t.state == "failed"]
    turnaround = [t.finished - t.noticed for t in rows
                  if t.state == "done" and t.finished is not None]
    parts, messages = [], collections.Counter()
    for a in course.assignments:
        points = collections.defaultdict(list)
        maxima = {}
        for t in rows:
            if t.assignment != a.id or not t.parts:
                continue
            for cells in t.parts.values():
                for cell, v in cells.items():
                    if t.counts:
                        points[cell].append(v[0])
                        maxima[cell] = v[1]
                    if len(v) > 2 and v[2]:
                        messages[(f"{a.id} {cell}", v[2])] += 1
        table = []
        for cell in sorted(points):
            hist = collections.Counter(points[cell])
            table.append({"part": cell, "max": f"{maxima[cell]:g}",
                          "histogram": ", ".join(f"{p:g}: {n}" for p, n in sorted(hist.items())),
                          "mean": f"{sum(points[cell]) / len(points[cell]):.2f}"})
        if table:
            parts.append({"assignment": a.id, "rows": table})
    return {"course": course.id, "now": _utc(now), "queued": count["queued"] + count["waiting"],
            "grading": count["grading"] + count["graded"], "done": count["done"],
            "failed": count["failed"], "refused": count["refused"],
            "superseded": count["superseded"], "p50": _percentile(turnaround, 0.5),
            "p95": _percentile(turnaround, 0.95), "per_hour": sorted(per_hour.items()),
            "queue": queue, "failures": failures, "parts": parts,
            "messages": [{"part": p, "message": m, "count": n}
                         for (p, m), n in messages.most_common(20)]}
