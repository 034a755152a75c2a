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
