"""Grading that cannot be gamed: nbgrader preprocessors for emcourse.

A submission's points come from a verdict taken *outside* the student's kernel:

* :class:`~emcourse_grader.preprocessors.IntegrityCheck` (sanitize, before OverwriteCells)
  compares every nbgrader cell of the submission with the gradebook's copy and flags edited,
  emptied, deleted or re-labelled cells;
* :class:`~emcourse_grader.preprocessors.SafeExecute` runs the notebook in a sandboxed kernel
  (resource limits, no access to the gradebook or the sources, an unprivileged user when
  grading as root) and never lets one notebook stop the run;
* :class:`~emcourse_grader.preprocessors.TrustedGrade` re-runs the student's code in a fresh
  sandboxed worker process and evaluates every test cell in the grader's own process, where
  the student's functions are remote calls that can only return plain numbers and arrays;
  it rewrites the test cells' outputs, so nbgrader's own scoring counts only what passed
  there.

Every flag is a row of ``integrity_report.csv`` in the course root. See docs/integrity.md.
"""
