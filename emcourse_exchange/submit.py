"""Student side: submit (an nbgrader Exchange class).

``c.ExchangeFactory.submit = "emcourse_exchange.submit.HubSubmit"``. The service files
the submission under the name the hub gives the token and stamps it with its own clock;
``--student`` cannot change either.
"""

from __future__ import annotations

import os

from nbgrader.exchange.abc import ExchangeSubmit

from .client import HubExchange


class HubSubmit(HubExchange, ExchangeSubmit):
    """``nbgrader submit hw1``: send ``./hw1`` to the service."""

    def copy_files(self):
        aid = self.coursedir.assignment_id
        src = os.path.abspath(self.local_assignment_dir(aid))
        if not os.path.isdir(src):
            self.fail(f"Assignment not found at: {src}")
        me = self.whoami()
        claimed = self.coursedir.student_id
        if claimed not in ("", "*", me["name"]):
            self.log.warning("--student=%s is ignored: the exchange files submissions under "
                             "the hub user who sends them, %s", claimed, me["name"])
        released = {a["assignment_id"]: a["notebooks"] for a in self.get_json("assignments")}
        if aid not in released:
            self.fail(f"Assignment {aid} is not released in {me['course_id']}")
        files = self.read_local(src)
        self.check_notebooks(released[aid], sorted(p[:-6] for p in files
                                                   if p.endswith(".ipynb") and "/" not in p))
        self.log.info("Source: %s", src)
        answer = self.send_files("POST", f"submissions/{aid}", files)
        self.log.info("Submitted as: %s %s %s", me["course_id"], aid, answer["timestamp"])

    def check_notebooks(self, released, submitted):
        """Warn (or with ``strict`` fail) when notebooks are missing or extra."""
        missing = sorted(set(released) - set(submitted))
        extra = sorted(set(submitted) - set(released))
        if not missing and not extra:
            return
        msg = (f"Expected notebooks: {', '.join(released) or '-'}; missing: "
               f"{', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'}")
        if missing and self.strict:
            self.fail(f"Assignment {self.coursedir.assignment_id} not submitted. {msg}")
        self.log.warning("Possible missing notebooks and/or extra notebooks submitted for "
                         "assignment %s: %s", self.coursedir.assignment_id, msg)
