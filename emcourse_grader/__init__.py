"""Grading that cannot be gamed: nbgrader preprocessors for emcourse.

A submission's points come from a verdict taken *outside* the student's kernel:

* :class:`~emcourse_grader.preprocessors.IntegrityCheck` (sanitize, before OverwriteCells)
  compares every nbgrader cell of the submission with the gradebook's copy and flags edited,
  emptied, deleted or re-labelled cells;
* :class:`~emcourse_grader.preprocessors.TrustedGrade` runs the student's code once, in a
  sandboxed worker process (resource limits, no access to the gradebook or the sources, an
  unprivileged user when grading as root), keeping each cell's outputs for the feedback, and
  evaluates every test cell in the grader's own process, where the student's functions are
  remote calls that can only return plain numbers and arrays; it rewrites the test cells'
  outputs, so nbgrader's own scoring counts only what passed there. One notebook never
  stops the run.

Every flag is a row of ``integrity_report.csv`` in the course root. See docs/integrity.md.
"""
