"""Resubmissions: the last submission before the deadline is the one graded.

A student may submit as often as they like; every ``nbgrader submit`` (or *Submit* in the
Assignment List) adds one timestamped copy to the exchange. With nbgrader's defaults a
resubmission is silently ignored: ``nbgrader collect hw1`` keeps the copy it collected first
("Submission already exists, use --update to update") and ``nbgrader autograde hw1`` skips
it ("Skipping existing assignment"), both exiting 0.

How nbgrader 0.9.6 decides (converters/base.py, ``BaseConverter.init_destination``):
autograde processes a submission when ``autograded/<student>/<hw>/`` does not exist, with
``--force``, or when the ``timestamp.txt`` of ``submitted/<student>/<hw>/`` is *newer* than
the one in ``autograded/<student>/<hw>/`` (autograde copies it there); otherwise it skips.
generate_feedback does the same between ``autograded/`` and ``feedback/``. So the course
configures (nbgrader_config.py):

* ``ExchangeCollect.update = True``: collect replaces a collected submission by a newer one
  (``--update`` by default). The new ``timestamp.txt`` is newer than the graded one, so the
  next ``nbgrader autograde hw1`` regrades exactly the submissions that changed, without
  ``--force``, and skips the others; ``generate_feedback`` then does the same.
* ``ExchangeCollect.before_duedate = True``: when the assignment has a due date in the
  gradebook (``nbgrader db assignment add hw1 --duedate=...``), collect takes each student's
  last submission *before* it (or their last one, if none was on time).
* ``ExchangeFactory.collect = ResubmitCollect``: the one case timestamps miss. When the
  submission collect now picks is *older* than the one already graded (a due date set or
  moved after a first collect, so an on-time copy replaces a late one), nbgrader would skip
  it; :class:`ResubmitCollect` removes the stale ``autograded/`` and ``feedback/`` copies of
  that student's assignment, so autograde and generate_feedback redo them.

The collected ``timestamp.txt`` is the time collect chose the submission by (the inbound
folder's name), never the student's text. Every collected copy is then sealed (:func:`emcourse_grader.custody.seal`): owned by the
grader, writable by nobody else, whatever modes the exchange's copy had.

Files edited by hand in ``submitted/`` keep their timestamp: regrade those with
``nbgrader autograde hw1 --student=<id> --force``.

A student writes the inbound folder: nbgrader's copy (``shutil.copytree``) would follow a link
planted there to any file the instructor can read. :class:`ResubmitCollect` copies without
following links (emcourse_grader.untrusted): links, special files and files over the caps are
refused, each with a warning and a row in the integrity report.
"""

from __future__ import annotations

import os
import shutil
import time

from nbgrader.exchange.default import ExchangeCollect

from . import custody, untrusted


class ResubmitCollect(ExchangeCollect):
    """nbgrader's default collect; afterwards, outputs graded from another submission go.

    Configure with ``c.ExchangeFactory.collect = "emcourse_grader.resubmit.ResubmitCollect"``
    together with ``c.ExchangeCollect.update = True`` (and ``before_duedate``).
    """

    def copy_files(self):
        super().copy_files()
        cd = self.coursedir
        for rec in self.src_records:
            # The copy is the grader's alone from now on (emcourse_grader.custody).
            custody.seal(cd.format_path(cd.submitted_directory, rec["username"],
                                        cd.assignment_id))
            self.invalidate_stale(rec["username"])

    def do_copy(self, src, dest, log=None):
        """Copy a submission from the exchange without following links (nbgrader's copies
        the target of a link); what is refused is logged and reported."""
        from .preprocessors import IntegrityCheck, reset_report, write_rows

        refused = untrusted.copy_submission(src, dest, ignore=self.coursedir.ignore)
        self.write_timestamp(src, dest)
        student = os.path.basename(os.path.dirname(dest))
        hw = os.path.basename(dest)
        report = IntegrityCheck(config=self.config).report_file
        if refused or os.path.exists(report):  # the rows of an earlier collect go
            reset_report(report, student, hw, "")
        for rel, why in refused:
            self.log.warning("Refused %s in %s's submission of %s: %s", rel, student, hw, why)
        if not refused:
            return
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        write_rows(report, [
            {"time": now, "student": student, "assignment": hw, "notebook": "", "part": "",
             "reason": "a file of the submission was refused by collect (not copied)",
             "detail": f"{rel}: {why}"} for rel, why in refused])

    def write_timestamp(self, src, dest) -> None:
        """The collected ``timestamp.txt`` is the one collect chose the submission by (the
        time in the inbound folder's name, which nbgrader parsed), not whatever text the
        student left in the file: an unparsable one would make every later collect and
        autograde of the assignment fail (``CourseDirectory.get_existing_timestamp``)."""
        stamp = self._path_to_record(src)["timestamp"]
        with open(os.path.join(dest, "timestamp.txt"), "w") as f:
            f.write(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z").strip())

    def invalidate_stale(self, student_id: str) -> bool:
        """Remove autograded/ and feedback/ copies that nbgrader would not redo by itself.

        They are stale when they were made from another submission than the one now in
        submitted/ (other timestamp) and that submission is not newer (else nbgrader's own
        timestamp rule regrades it). Returns whether anything was removed.
        """
        cd = self.coursedir
        hw = cd.assignment_id
        submitted = cd.format_path(cd.submitted_directory, student_id, hw)
        new = cd.get_existing_timestamp(submitted)
        removed = False
        for directory in (cd.autograded_directory, cd.feedback_directory):
            path = cd.format_path(directory, student_id, hw)
            if not os.path.isdir(path):
                continue
            old = cd.get_existing_timestamp(path)
            if new is None or old is None or new == old or new > old:
                continue
            self.log.warning("%s was made from a later submission than the one collected "
                             "now (%s < %s); removing it so that it is redone: %s",
                             directory, new, old, path)
            shutil.rmtree(path)
            removed = True
        return removed
