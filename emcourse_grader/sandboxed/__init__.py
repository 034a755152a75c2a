"""The programs that run *inside* the grading sandbox (emcourse_grader.sandbox).

Nothing here is trusted by the grader: student code runs in the same process tree and may
change anything in it. They import only the standard library, numpy, nbclient/IPython and each
other, because the sandbox sees nothing else of the course.

* :mod:`.execute` runs a notebook in a kernel started inside the same sandbox and writes the
  executed notebook back to the scratch directory (what the feedback shows);
* :mod:`.worker` runs the student's cells in an IPython shell and answers the grader's calls
  over a pipe, in plain data only (:mod:`.wire`).
"""
