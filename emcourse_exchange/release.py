"""Instructor side: release an assignment, release feedback (nbgrader Exchange classes).

``c.ExchangeFactory.release_assignment = "emcourse_exchange.release.HubReleaseAssignment"``
and ``c.ExchangeFactory.release_feedback = "emcourse_exchange.release.HubReleaseFeedback"``.
The service lets only the course's instructors do either.
"""

from __future__ import annotations

import glob
import os

from nbgrader.exchange.abc import ExchangeReleaseAssignment, ExchangeReleaseFeedback

from .client import HubExchange


class HubReleaseAssignment(HubExchange, ExchangeReleaseAssignment):
    """``nbgrader release_assignment hw1``: send ``<release_directory>/hw1`` to the service."""

    def copy_files(self):
        cd = self.coursedir
        src = cd.format_path(cd.release_directory, ".", cd.assignment_id)
        if not os.path.isdir(src):
            source = cd.format_path(cd.source_directory, ".", cd.assignment_id)
            hint = (" (it is in the source: run `nbgrader generate_assignment "
                    f"{cd.assignment_id}` first)" if os.path.isdir(source) else "")
            self.fail(f"Assignment not found: {src}{hint}")
        me = self.whoami()
        if not me["instructor"]:
            self.fail(f"{me['name']} is not an instructor of {me['course_id']}")
        files = self.read_local(src)
        self.log.info("Source: %s", src)
        self.send_files("PUT", f"assignments/{cd.assignment_id}", files,
                        **({"force": "1"} if self.force else {}))
        self.log.info("Released %s to the exchange at %s (%d files)", cd.assignment_id,
                      self.url, len(files))


class HubReleaseFeedback(HubExchange, ExchangeReleaseFeedback):
    """``nbgrader release_feedback hw1``: each student's feedback, for the submission graded.

    ``feedback/<student>/hw1/timestamp.txt`` names the submission (the service's timestamp,
    carried through collect, autograde and generate_feedback); its ``*.html`` go to the
    service, which gives them to that student alone.
    """

    def copy_files(self):
        cd = self.coursedir
        me = self.whoami()
        if not me["instructor"]:
            self.fail(f"{me['name']} is not an instructor of {me['course_id']}")
        exclude = set(cd.student_id_exclude.split(",")) if cd.student_id_exclude else set()
        student = cd.student_id if cd.student_id not in ("", "*") else "*"
        pattern = cd.format_path(cd.feedback_directory, student, cd.assignment_id)
        folders = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
        if not folders:
            self.log.warning("No feedback to release: nothing matches %s", pattern)
        by_student = {}
        for folder in folders:
            sid = os.path.basename(os.path.dirname(folder))
            if sid in exclude:
                continue
            stamp_file = os.path.join(folder, "timestamp.txt")
            if not os.path.isfile(stamp_file):
                self.log.warning("Skipping %s: no timestamp.txt", folder)
                continue
            with open(stamp_file) as fh:
                timestamp = fh.read().strip()
            if sid not in by_student:
                by_student[sid] = {s["timestamp"]: s["stamp"] for s in self.get_json(
                    f"submissions/{cd.assignment_id}", student=sid)}
            stamp = by_student[sid].get(timestamp)
            if stamp is None:
                self.log.warning("Skipping %s: the exchange has no submission of %s made at %s",
                                 folder, sid, timestamp)
                continue
            html = {}
            for path in sorted(glob.glob(os.path.join(folder, "*.html"))):
                with open(path, "rb") as fh:
                    html[os.path.basename(path)] = fh.read()
            self.send_files("PUT", f"feedback/{cd.assignment_id}/{sid}/{stamp}", html)
            self.log.info("Released feedback for student '%s' on assignment '%s/%s' (%s)",
                          sid, cd.course_id, cd.assignment_id, timestamp)
