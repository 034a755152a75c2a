"""Student side: fetch an assignment, fetch feedback (nbgrader Exchange classes).

``c.ExchangeFactory.fetch_assignment = "emcourse_exchange.fetch.HubFetchAssignment"``
and ``c.ExchangeFactory.fetch_feedback = "emcourse_exchange.fetch.HubFetchFeedback"``.
Feedback comes only for the caller's own submissions: the service checks the hub's name.
"""

from __future__ import annotations

import os
import shutil
import uuid

from nbgrader.exchange.abc import ExchangeFetchAssignment, ExchangeFetchFeedback

from .client import HubExchange
from .payload import write_folder


def write_missing(files: dict[str, bytes], dest: str) -> list[str]:
    """Write the files of ``files`` that ``dest`` lacks; return their paths."""
    written = []
    for path, data in sorted(files.items()):
        target = os.path.join(dest, *path.split("/"))
        if os.path.lexists(target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "xb") as fh:
            fh.write(data)
        written.append(path)
    return written


class HubFetchAssignment(HubExchange, ExchangeFetchAssignment):
    """``nbgrader fetch_assignment hw1``: the release, into ``./hw1``."""

    def copy_files(self):
        aid = self.coursedir.assignment_id
        self.whoami()
        files = self.get_files(f"assignments/{aid}")
        dest = os.path.abspath(self.local_assignment_dir(aid))
        if os.path.isdir(dest):
            if not self.replace_missing_files:
                self.fail(f"You already have a copy of the assignment in this directory: {aid}")
            for path in write_missing(files, dest):
                self.log.info("Replacing missing file: %s", path)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            write_folder(files, dest, file_mode=0o644 & ~_umask(), dir_mode=0o755 & ~_umask())
        self.log.info("Fetched as: %s %s", self.coursedir.course_id, aid)


class HubFetchFeedback(HubExchange, ExchangeFetchFeedback):
    """``nbgrader fetch_feedback hw1``: into ``./hw1/feedback/<timestamp>/``, as nbgrader does."""

    def copy_files(self):
        aid = self.coursedir.assignment_id
        me = self.whoami()
        subs = [s for s in self.get_json(f"submissions/{aid}", student=me["name"])
                if s["feedback"]]
        if not subs:
            self.log.warning("No feedback available to fetch for %s", aid)
            return
        base = os.path.join(os.path.abspath(self.local_assignment_dir(aid)), "feedback")
        os.makedirs(base, exist_ok=True)
        for sub in subs:
            files = self.get_files(f"feedback/{aid}/{me['name']}/{sub['stamp']}")
            dest = os.path.join(base, sub["timestamp"])
            tmp = os.path.join(base, "." + uuid.uuid4().hex)
            write_folder(files, tmp, file_mode=0o644 & ~_umask(), dir_mode=0o755 & ~_umask())
            if os.path.isdir(dest):
                shutil.rmtree(dest)
            os.rename(tmp, dest)
            self.log.info("Fetched feedback of the submission of %s: %s", sub["timestamp"], dest)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
