"""Noticing new submissions in the exchange the course is configured with.

* nbgrader's filesystem exchange: the names of ``<Exchange.root>/<course>/inbound/``
  (``student+assignment+timestamp[+random]``, as ``nbgrader submit`` names them). What this
  exchange does not protect is in docs/teaching.md (a student can write a name there).
* The hub exchange (:mod:`emcourse_exchange`, ``ExchangeFactory.collect`` its
  ``HubCollect``): its API, ``GET api/submissions/<assignment>``, with the service's own hub
  token (the exchange lets the grading service list and collect as an instructor).

Each :class:`Submission` carries the submission's time (ISO 8601 UTC, as the journal keys it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .steps import iso


@dataclass(frozen=True)
class Submission:
    """One submission seen in the exchange."""

    assignment: str
    student: str
    submitted: str  # ISO 8601 UTC


def _config(root, extra=()):
    """The course's nbgrader configuration (``nbgrader collect`` reads the same)."""
    from nbgrader.apps import CollectApp

    from .steps import _cwd

    with _cwd(root):
        app = CollectApp()
        try:
            app.initialize(["-", *extra])
            return app.config, app.coursedir, app.authenticator
        finally:
            CollectApp.clear_instance()


class Watcher:
    """Lists the submissions of the course's assignments in its exchange.

    Parameters
    ----------
    root : str or Path
        The course root.
    assignments : list of str
        The assignments to watch.
    extra : sequence of str
        ``--Class.trait=value`` arguments for nbgrader (e.g. ``--Exchange.root=...``).
    """

    def __init__(self, root, assignments, extra=()):
        self.root = os.fspath(root)
        self.assignments = list(assignments)
        self.config, self.coursedir, self.authenticator = _config(self.root, extra)
        collect = str(self.config.get("ExchangeFactory", {}).get("collect", ""))
        self.kind = "hub" if "emcourse_exchange" in collect else "filesystem"

    def __call__(self) -> list[Submission]:
        """Every submission the exchange holds now (known ones included)."""
        return self._hub() if self.kind == "hub" else self._filesystem()

    def _filesystem(self) -> list[Submission]:
        from nbgrader.exchange.default import Exchange

        exchange_root = Exchange(coursedir=self.coursedir, config=self.config).root
        inbound = os.path.join(exchange_root, self.coursedir.course_id, "inbound")
        try:
            names = os.listdir(inbound)
        except FileNotFoundError:
            return []
        out = []
        wanted = set(self.assignments)
        for name in names:
            bits = name.split("+")
            if len(bits) < 3 or bits[1] not in wanted:
                continue
            try:
                out.append(Submission(bits[1], bits[0], iso(bits[2])))
            except (ValueError, TypeError, OverflowError):
                continue  # not a submission nbgrader made; collect ignores it too
        return out

    def _hub(self) -> list[Submission]:
        from emcourse_exchange.client import HubExchange

        client = HubExchange(coursedir=self.coursedir, authenticator=self.authenticator,
                             config=self.config)
        out = []
        for hw in self.assignments:
            for sub in client.get_json(f"submissions/{hw}"):
                out.append(Submission(hw, sub["student_id"], iso(sub["timestamp"])))
        return out
