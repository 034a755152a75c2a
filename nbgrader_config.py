"""nbgrader configuration: the repository root is the course directory.

Every nbgrader command reads this file from the current directory only, so run them from the
repository root (scripts/demo_class.py and the tests do). See docs/teaching.md.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "emcourse"
# Notebooks with solutions and hidden tests (the instructor's version) ...
c.CourseDirectory.source_directory = "solutions"
# ... and the student version generated from them, checked in.
c.CourseDirectory.release_directory = "assignments"
# The gradebook (gradebook.db), submitted/, autograded/ and feedback/ are created here by
# nbgrader and ignored by git (.gitignore): grades never enter the repository.

# Students work on the released notebook; if they delete a locked cell (a test, the
# instructions), autograding puts it back from the source instead of failing.
c.OverwriteCells.add_missing_cells = True

# Autograding executes every notebook; a cell that runs longer than this (an endless loop)
# is interrupted and recorded as an error (0 points for that test), and the run goes on.
# nbgrader's Execute preprocessor reads Execute.timeout (ExecutePreprocessor.timeout is
# ignored once Execute.timeout is set).
c.Execute.timeout = 20
c.Execute.interrupt_on_timeout = True
# Short tracebacks in the graded notebooks and the feedback: each frame's line and the
# message, not pages of context. (A failed emref.grading check shows only its message.)
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                             "--InteractiveShell.xmode=Plain"]

# nbgrader gives 0 points to a test cell that writes anything to stderr, so a harmless
# warning (RuntimeWarning: divide by zero, a DeprecationWarning from a library, a student's
# own warnings.warn) would zero a correct answer. Before grading, drop the stderr outputs
# that are Python warnings; errors still count.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning:"

# Feedback: the HTML a student gets back shows the visible tests and the messages of the
# hidden ones, never the hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# --------------------------------------------------------------------------------------------
# Grading that cannot be gamed (emcourse_grader, docs/integrity.md). nbgrader runs student code
# with the grader's rights, and its tests run in the student's kernel after the student's
# code. So: (1) before OverwriteCells restores the locked cells, IntegrityCheck flags every
# edited, emptied, deleted or re-labelled nbgrader cell; (2) SafeExecute runs the notebook in
# a sandboxed kernel (memory, CPU and file-size limits; as root, the user `nobody`; an audit
# hook that refuses the gradebook, the sources and the other submissions) and never lets a
# hanging or dying kernel stop the run; (3) TrustedGrade re-runs the student's code in a
# fresh sandboxed worker and the test cells (visible and hidden) in the grader's own process,
# on plain numbers and arrays only, and rewrites the test cells' outputs: nbgrader then
# scores what passed there. Flags go to integrity_report.csv in the course root.
c.Autograde.sanitize_preprocessors = [
    "emcourse_grader.preprocessors.IntegrityCheck",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "emcourse_grader.preprocessors.SafeExecute",
    "emcourse_grader.preprocessors.TrustedGrade",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# SafeExecute is nbgrader's Execute (it reads the Execute.* settings above) plus these.
c.SafeExecute.timeout = 20                # per cell, as Execute.timeout
c.SafeExecute.notebook_timeout = 600      # per notebook (s)
c.SafeExecute.max_output_bytes = 200_000  # output kept per cell
c.SafeExecute.memory_mb = 3072            # address space of the kernel
c.SafeExecute.cpu_seconds = 600
c.TrustedGrade.timeout = 20               # per cell and per call in the trusted re-run
