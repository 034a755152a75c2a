"""An assignment's grading policy, from ``[assignments.policy]`` in course.toml.

::

    [assignments.policy]
    attempts = 3                  # "unlimited" (default), a number >= 1, or
                                  # "none-before-deadline" (graded once, at the deadline)
    counts = "best"               # "last" (default) or "best": the attempt in the gradebook
    show = "parts"                # before the deadline: "score", "parts" (pass/fail per
                                  # part) or "messages" (nbgrader's whole feedback; default)
    deadline = 2026-12-10T17:00:00Z   # a TOML date-time with its offset (or Z)
    late = "refuse"               # after the deadline: "refuse" (not graded) or "accept"
                                  # (graded; nbgrader's late-submission penalty applies)

An attempt is a submission that was graded: a resubmission that replaces one still in the
queue does not use one up. After the deadline students see everything (nbgrader's
feedback). Every problem names the field, what was found and what is expected.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

UNLIMITED = "unlimited"
AT_DEADLINE = "none-before-deadline"
COUNTS = ("last", "best")
SHOW = ("score", "parts", "messages")
LATE = ("refuse", "accept")
_KEYS = ("attempts", "counts", "show", "deadline", "late")


@dataclass(frozen=True)
class Policy:
    """How ``serve`` treats an assignment's submissions.

    Attributes
    ----------
    attempts : int or None
        Graded attempts allowed before the deadline; None for unlimited, 0 for none before
        the deadline (each student's last on-time submission is graded at the deadline).
    counts : str
        "last" or "best": which graded attempt the gradebook holds.
    show : str
        What a student sees before the deadline: "score", "parts" or "messages".
    deadline : datetime.datetime or None
        Aware (UTC) datetime, or None for no deadline.
    late : str
        "refuse" or "accept".
    """

    attempts: int | None = None
    counts: str = "last"
    show: str = "messages"
    deadline: datetime.datetime | None = None
    late: str = "accept"

    def before_deadline(self, when: datetime.datetime) -> bool:
        """Whether ``when`` (aware) is at or before the deadline (always, without one)."""
        return self.deadline is None or when <= self.deadline

    def shows(self, when: datetime.datetime) -> str:
        """What a student sees of feedback released at ``when``: ``show`` before the
        deadline, "messages" after it."""
        return self.show if self.before_deadline(when) else "messages"


def parse(raw, where: str) -> tuple[Policy | None, list[str]]:
    """The policy of ``raw`` (the ``policy`` table of one assignment, or None) and the
    problems found, each naming ``where`` and the field.

    Parameters
    ----------
    raw : dict or None
        As tomllib read it.
    where : str
        E.g. "course.toml: assignment hw1", the start of each problem.

    Returns
    -------
    (Policy or None, list of str)
        The policy (the defaults when ``raw`` is None) when there is no problem.
    """
    if raw is None:
        return Policy(), []
    if not isinstance(raw, dict):
        return None, [f"{where}: 'policy' must be a table, found {raw!r}"]
    problems = [f"{where}: policy: unknown key {key!r} (the keys are {', '.join(_KEYS)})"
                for key in sorted(set(raw) - set(_KEYS))]
    attempts = raw.get("attempts", UNLIMITED)
    if attempts == UNLIMITED:
        n = None
    elif attempts == AT_DEADLINE:
        n = 0
    elif isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 1:
        n = attempts
    else:
        n = None
        problems.append(f"{where}: policy.attempts must be \"{UNLIMITED}\", a whole number "
                        f">= 1 or \"{AT_DEADLINE}\", found {attempts!r}")
    for key, allowed in (("counts", COUNTS), ("show", SHOW), ("late", LATE)):
        if key in raw and raw[key] not in allowed:
            problems.append(f"{where}: policy.{key} must be one of "
                            f"{', '.join(map(repr, allowed))}, found {raw[key]!r}")
    deadline = raw.get("deadline")
    if deadline is not None:
        if not isinstance(deadline, datetime.datetime):
            problems.append(f"{where}: policy.deadline must be a TOML date-time such as "
                            f"2026-12-10T17:00:00Z, found {deadline!r}")
            deadline = None
        elif deadline.tzinfo is None:
            problems.append(f"{where}: policy.deadline must say its time zone (e.g. "
                            f"{deadline.isoformat()}Z or +01:00), found {deadline.isoformat()}")
            deadline = None
        else:
            deadline = deadline.astimezone(datetime.UTC)
    if n == 0 and deadline is None and "deadline" not in raw:
        problems.append(f"{where}: policy.attempts = \"{AT_DEADLINE}\" needs policy.deadline")
    if problems:
        return None, problems
    defaults = Policy()
    return Policy(attempts=n, counts=raw.get("counts", defaults.counts),
                  show=raw.get("show", defaults.show), deadline=deadline,
                  late=raw.get("late", defaults.late)), []
