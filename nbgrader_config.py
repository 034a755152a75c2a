"""nbgrader configuration: the repository root is the course directory.

Every nbgrader command reads this file from the current directory only, so run them from the
repository root (scripts/demo_class.py and the tests do). See docs/teaching.md.
"""

import os

from emcourse_grader import course as _course

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

# nbgrader's one harmless warning per new submission row (SQLAlchemy 2), and no other
from emcourse_grader.grading_writer import quiet_nbgrader as _quiet

_quiet()

# The course id is the manifest's (course.toml, beside this file).
c.CourseDirectory.course_id = _course.load(os.path.dirname(os.path.abspath(__file__))).id
# Notebooks with solutions and hidden tests (the instructor's version) ...
c.CourseDirectory.source_directory = "solutions"
# ... and the student version generated from them, checked in.
c.CourseDirectory.release_directory = "assignments"
# The gradebook (gradebook.db), submitted/, autograded/ and feedback/ are created here by
# nbgrader and ignored by git (.gitignore): grades never enter the repository.

# Students work on the released notebook; if they delete a locked cell (a test, the
# instructions), autograding puts it back from the source instead of failing.
c.OverwriteCells.add_missing_cells = True

# Per-cell time limits live in TrustedGrade below (nbgrader's own Execute preprocessor is not
# used: it would start a kernel outside the sandbox).

# Feedback: the HTML a student gets back shows the visible tests and the messages of the
# hidden ones, never the hidden test code. emcourse_grader.feedback makes it readable:
# MathJax from the student's own Jupyter server (jupyter-server-mathjax, no CDN), long lines
# wrapped, written answers "pending" until graded by hand (GetGradesPending instead of
# nbgrader's GetGrades). Generate feedback after manual grading (docs/teaching.md).
c.GenerateFeedback.preprocessors = [
    "emcourse_grader.feedback.GetGradesPending",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GenerateFeedback.exporter_class = "emcourse_grader.feedback.FeedbackExporter"

# Resubmissions (emcourse_grader/resubmit.py): `nbgrader collect hw1` replaces a collected
# submission by the student's newer one (as --update), taking each student's last submission
# before the due date when the gradebook has one; `nbgrader autograde hw1` then regrades
# exactly the submissions that changed, without --force, and skips the others.
c.ExchangeCollect.update = True
c.ExchangeCollect.before_duedate = True
c.ExchangeFactory.collect = "emcourse_grader.resubmit.ResubmitCollect"

# --------------------------------------------------------------------------------------------
# Grading behind an OS boundary (emcourse_grader, docs/integrity.md). Student code (one worker
# per notebook, and anything it starts) runs once, inside bubblewrap: no network, its own PID
# namespace, the system and the environment read-only, one scratch directory with one notebook,
# no course directory, gradebook, sources or other submissions, and an emref without the
# algorithms. The verdict is computed outside: the test cells, taken from the gradebook before
# any student code runs, run in this process on plain data returned by the student's functions,
# and replace the test cells' outputs. Without bubblewrap, grading refuses to run student code
# unless EMCOURSE_UNSANDBOXED=1 is set (and then every report row says so).
import functools

import emcourse_grader.custody as _custody
import emcourse_grader.untrusted as _untrusted

# Before nbgrader copies a submission's files (shutil.copy follows links): a notebook nbformat
# cannot read is set aside and graded as the unanswered release (0 and a reason); symbolic
# links, special files (fifos, sockets, devices) and files over 20 MB (100 MB in all) are
# removed from submitted/ (the exchange keeps the original), each with a row in the report.
# First of all, custody: a submission folder that anyone but the grader could have changed
# since collect is noted here and refused by IntegrityCheck (not graded, named at the end).
c.Autograde.pre_convert_hook = functools.partial(
    _custody.before_grading, release_directory=c.CourseDirectory.release_directory)
c.GenerateFeedback.pre_convert_hook = _untrusted.screen_folder
# One submission never stops the class (emcourse_grader/guard.py): notebooks are read within
# caps (size, nesting) before they are parsed, and a step that fails on one submission grades
# it as the unanswered release (sanitizing) or gives its tests 0 (autograding), with the
# reason in the integrity report, where nbgrader would stop the run or leave it ungraded.
# (A custody refusal is not such a failure: that submission is not graded at all.)
c.Autograde.exporter_class = "emcourse_grader.guard.GuardedExporter"
c.Autograde.sanitize_preprocessors = [
    "emcourse_grader.preprocessors.IntegrityCheck",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    # The student's cells, once, in the sandbox (their outputs for the feedback); the tests
    # in this process, on plain data; the verdict replaces each test cell's outputs.
    "emcourse_grader.preprocessors.TrustedGrade",
    # Nothing a student sends is active where the instructor or a student reads it: outputs,
    # written answers and raw cells of the autograded notebook (what the Formgrader shows and
    # the feedback is made from) carry no script, event handler or javascript: link.
    "emcourse_grader.untrusted.SanitizeUntrusted",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.TrustedGrade.cell_timeout = 20           # s per student cell (then an interrupt)
c.TrustedGrade.timeout = 30                # s per call of a student's function from a test
c.TrustedGrade.notebook_timeout = 600      # s for a whole notebook, restarts included
c.TrustedGrade.max_output_bytes = 200_000  # output kept per cell; the rest is cut with a note
# Limits of every sandboxed process tree.
c.TrustedGrade.memory_mb = 3072
c.TrustedGrade.processes = 128
c.TrustedGrade.cpu_seconds = 900
c.TrustedGrade.file_mb = 64

# --------------------------------------------------------------------------------------------
# A deployment's own settings, last so that they win: on a shared JupyterHub server, the hub
# exchange (docs/teaching.md, "The exchange through the hub") replaces the filesystem
# exchange's classes above. They live beside this file in nbgrader_config_site.py (not in git;
# nothing happens when it is absent).
load_subconfig("nbgrader_config_site.py", os.path.dirname(os.path.abspath(__file__)))  # noqa: F821
