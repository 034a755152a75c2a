"""Everything that writes the course during a parallel run: gradebook, report, autograded/.

The coordinator (:mod:`emcourse_grader.parallel`) alone writes, one submission at a time,
as each result arrives: the student and the submission in the gradebook, the grades by the
course's own grade-writing steps (nbgrader's SaveAutoGrades and AssignLatePenalties, run here
only: each submission is scored once), the submission's rows of ``integrity_report.csv``,
then the autograded folder, moved into place in one rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from . import scoring
from .guard import read_timestamp

#: What nbgrader 0.9 under SQLAlchemy 2 says three times for every submission it creates
#: ("Object of type <SubmittedAssignment> not in session, add operation along
#: 'Assignment.submissions' will not proceed ..."): it builds the submission's rows through
#: relationships before adding the submission, which then adds them all. Every grade is
#: saved (the round-trip tests check each score); 120 such lines for a class of 40 told an
#: instructor nothing but that something might be wrong.
NBGRADER_NOISE = r"Object of type <Submitted\w+> not in session, add operation along"


def quiet_nbgrader() -> None:
    """Hide :data:`NBGRADER_NOISE` (and no other warning) from here on. Called by the
    course's ``nbgrader_config.py`` for nbgrader's own commands, by each grading task in a
    worker (its scratch gradebook) and by the coordinator before each write: a thread that leaves ``warnings.catch_warnings`` (Dask's, while the
    cluster starts beside the coordinator) puts back the filters it found on entering."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=NBGRADER_NOISE, category=SAWarning)


def _scores(db_url: str, course_id: str, assignment: str, student: str) -> dict:
    """notebook -> {cell: [auto_score, max_score]} of one submission in a gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        return _scores_in(gb, assignment, student)


def _scores_in(gb, assignment: str, student: str) -> dict:
    """:func:`_scores` from an open :class:`nbgrader.api.Gradebook`, read afresh (what other
    connections committed counts) and leaving no transaction open."""
    gb.db.rollback()  # a new transaction: nothing cached from before
    try:
        sub = gb.find_submission(assignment, student)
        return {nb.name: {g.name: [g.auto_score, float(g.max_score)] for g in nb.grades}
                for nb in sub.notebooks}
    finally:
        gb.db.rollback()


class _Writer:
    """Everything that writes the course: the gradebook, the report, autograded/."""

    def __init__(self, app, spec):
        from emcourse_grader.preprocessors import IntegrityCheck

        self.app, self.cd, self.cfg, self.spec = app, app.coursedir, app.config, spec
        self.hw = spec["name"]
        self.report = IntegrityCheck(config=self.cfg).report_file
        if not os.path.isabs(self.report):
            self.report = os.path.join(self.cd.root, self.report)
        self.notebooks = [nb["name"] for nb in spec["notebooks"]]
        self.db_steps = self._db_steps()
        from nbgrader.converters import Autograde
        conv = Autograde(coursedir=self.cd, config=self.cfg)
        self.permissions = int(str(conv.permissions), 8)
        self.exclude = conv.exclude_overwriting.get(self.hw, [])
        self.refused = {}  # student -> [(path, reason)] of _submission_files
        self._book = None  # the gradebook, opened once for the run (close())

    def _gradebook(self):
        """The course's gradebook, opened at the first write and kept until :meth:`close`
        (one engine for the run: nbgrader's Gradebook builds its engine, checks its tables
        and compiles its queries afresh each time it is opened). Every write through it is
        committed at once, so it holds no lock between submissions."""
        from nbgrader.api import Gradebook

        quiet_nbgrader()  # at every write: see its docstring
        if self._book is None:
            self._book = Gradebook(self.cd.db_url, self.cd.course_id)
        return self._book

    def close(self):
        """Close the gradebook :meth:`_gradebook` opened (if it did)."""
        if self._book is not None:
            self._book.close()
            self._book = None

    def _db_steps(self):
        """The configured autograde preprocessors that write the gradebook."""
        from traitlets.utils.importstring import import_item

        return [import_item(pp) if isinstance(pp, str) else pp
                for pp in scoring.configured_steps(self.cfg) if scoring.writes_grades(pp)]

    def _resources(self, student, notebook):
        return {"nbgrader": {"student": student, "assignment": self.hw, "notebook": notebook,
                             "db_url": self.cd.db_url}}

    def _submission(self, gb, student):
        src = self.cd.format_path(self.cd.submitted_directory, student, self.hw)
        gb.update_or_create_student(student)
        ts = read_timestamp(src)[0]
        if ts:
            return gb.update_or_create_submission(self.hw, student, timestamp=ts)
        return gb.update_or_create_submission(self.hw, student)

    def _zero(self, gb, student, notebook, needs_manual):
        sub = gb.find_submission_notebook(notebook, self.hw, student)
        for grade in sub.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = needs_manual
        gb.db.commit()

    def commit(self, student, result) -> dict:
        """Write one graded submission; returns notebook -> {cell: [auto, max]}."""
        import nbformat

        files = dict(result["files"])
        present = [n for n in self.notebooks if f"{n}.ipynb" in files]
        gb = self._gradebook()
        try:
            self._submission(gb, student)
            for n in self.notebooks:
                if n not in present:  # as nbgrader: a notebook not handed in scores 0
                    self._zero(gb, student, n, False)
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        for n in present:
            nb = nbformat.reads(files[f"{n}.ipynb"].decode("utf-8"), as_version=4)
            for cls in self.db_steps:  # nbgrader's own, with a connection of their own
                cls(config=self.cfg).preprocess(nb, self._resources(student, n))
        scores = _scores_in(gb, self.hw, student)
        self._report(student, result.get("rows", []))
        self._place(student, files)
        return scores

    def fail(self, student, reason, rows=()):
        self._zero_all(student, True, "could not be graded (0 points until regraded)",
                       lambda n: reason, rows)
        dest = self.cd.format_path(self.cd.autograded_directory, student, self.hw)
        if os.path.isdir(dest):  # as nbgrader after a failure: no stale autograded copy
            shutil.rmtree(dest)

    def missing(self, student, files):
        self._zero_all(student, False, "no notebook handed in; graded as 0",
                       lambda n: f"{n}.ipynb is not in the submission")
        self._place(student, {k: v for k, v in files.items() if not k.endswith(".ipynb")})

    def _zero_all(self, student, needs_manual, reason, detail, rows=()):
        """0 for every notebook of the assignment, one report row each (plus ``rows``)."""
        gb = self._gradebook()
        try:
            self._submission(gb, student)
            for n in self.notebooks:
                self._zero(gb, student, n, needs_manual)
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        self._report(student, [{"time": now, "student": student, "assignment": self.hw,
                                "notebook": n, "part": "", "reason": reason,
                                "detail": detail(n)} for n in self.notebooks] + list(rows))

    def _report(self, student, rows):
        from emcourse_grader.preprocessors import reset_report, write_rows

        for n in self.notebooks:
            reset_report(self.report, student, self.hw, n)
        rows = list(rows) + [{"time": time.strftime("%Y-%m-%d %H:%M:%S"), "student": student,
                              "assignment": self.hw, "notebook": self.notebooks[0], "part": "",
                              "reason": "a file of the submission was refused (not copied)",
                              "detail": f"{rel}: {why}"} for rel, why in self.refused.get(
                                  student, [])]
        if rows:
            write_rows(self.report, rows)

    def _place(self, student, files):
        """The autograded folder, as nbgrader leaves it, moved into place in one rename."""
        from nbgrader.utils import find_all_files

        dest = Path(self.cd.format_path(self.cd.autograded_directory, student, self.hw))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.hw}.partial-", dir=dest.parent))
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        source = self.cd.format_path(self.cd.source_directory, ".", self.hw)
        excluded = {os.path.join(source, x) for x in self.exclude}
        for f in set(find_all_files(source, self.cd.ignore + ["*.ipynb"])) - excluded:
            p = tmp / os.path.relpath(f, source)
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.exists():
                p.unlink()
            shutil.copy(f, p)
        for dirpath, _, names in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for name in names:
                os.chmod(os.path.join(dirpath, name), self.permissions)
        old = None
        if dest.exists():
            old = dest.parent / f".{self.hw}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
