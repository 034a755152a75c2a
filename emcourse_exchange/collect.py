"""Instructor side: collect (an nbgrader Exchange class), with the course's resubmission rule.

``c.ExchangeFactory.collect = "emcourse_exchange.collect.HubCollect"``. Each student's
submissions are those the service filed under the name the hub authenticated: no
"cheating attempt?" to check. The choice is nbgrader's and :mod:`emcourse_grader.resubmit`'s:
the latest submission, or with ``ExchangeCollect.before_duedate`` the latest one before the
gradebook's due date (the latest of all if none was on time); ``update`` replaces a collected
copy by a newer one; copies graded from another submission are removed
(:meth:`ResubmitCollect.invalidate_stale`) so autograde and generate_feedback redo them.

The copies in ``submitted/`` are written by the instructor's process: owned by the instructor,
files 0644 and folders 0755, whatever the umask (nobody else can change them).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import defaultdict

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.abc import ExchangeCollect
from nbgrader.utils import parse_utc

from .client import HubExchange
from .payload import write_folder


class HubCollect(HubExchange, ExchangeCollect):
    """``nbgrader collect hw1``: each student's chosen submission into ``submitted/``."""

    def init_src(self):
        cd = self.coursedir
        me = self.whoami()
        if not me["instructor"]:
            self.fail(f"{me['name']} is not an instructor of {me['course_id']}")
        params = {} if cd.student_id in ("", "*") else {"student": cd.student_id}
        by_student = defaultdict(list)
        for sub in self.get_json(f"submissions/{cd.assignment_id}", **params):
            by_student[sub["student_id"]].append(
                {"username": sub["student_id"], "stamp": sub["stamp"],
                 "timestamp": parse_utc(sub["timestamp"])})
        with Gradebook(cd.db_url, cd.course_id) as gb:
            try:
                duedate = gb.find_assignment(cd.assignment_id).duedate
            except MissingEntry:
                duedate = None
        self.src_records = []
        for records in by_student.values():
            records.sort(key=lambda r: r["timestamp"], reverse=True)
            on_time = [r for r in records if duedate is not None and r["timestamp"] <= duedate]
            pick = on_time[0] if (self.before_duedate and on_time) else records[0]
            self.src_records.append(pick)

    def copy_files(self):
        cd = self.coursedir
        aid = cd.assignment_id
        if not self.src_records:
            self.log.warning("No submissions of '%s' for course '%s' to collect", aid,
                             cd.course_id)
            return
        self.log.info("Processing %d submissions of '%s' for course '%s'",
                      len(self.src_records), aid, cd.course_id)
        for rec in self.src_records:
            sid = rec["username"]
            dest = cd.format_path(cd.submitted_directory, sid, aid)
            updating = False
            if os.path.isdir(dest):
                existing = cd.get_existing_timestamp(dest)
                newer = existing is None or rec["timestamp"] > existing
                # update: a newer one replaces it; before_duedate: any other one does (an
                # on-time copy replaces a late one)
                updating = ((self.update and newer)
                            or (self.before_duedate and existing != rec["timestamp"]))
                if not updating:
                    self.log.info("No newer submission to collect: %s %s" if self.update else
                                  "Submission already exists, use --update to update: %s %s",
                                  sid, aid)
                    continue
            files = self.get_files(f"submissions/{aid}/{sid}/{rec['stamp']}")
            parent = os.path.dirname(dest)
            os.makedirs(parent, exist_ok=True)
            tmp = os.path.join(parent, f".{aid}.{uuid.uuid4().hex}")
            write_folder(files, tmp, file_mode=0o644, dir_mode=0o755)
            if updating:
                self.log.info("Updating submission: %s %s", sid, aid)
                shutil.rmtree(dest)
            else:
                self.log.info("Collecting submission: %s %s", sid, aid)
            os.rename(tmp, dest)
        # The course's resubmission rule (instructor side only: imported here, so that the
        # student-side modules of this package need nothing else of emcourse_grader).
        from emcourse_grader.resubmit import ResubmitCollect

        for rec in self.src_records:
            ResubmitCollect.invalidate_stale(self, rec["username"])
