"""The program that runs *inside* the grading sandbox (emcourse_grader.sandbox).

Nothing here is trusted by the grader: student code runs in the same process tree and may
change anything in it. It imports only the standard library, numpy, IPython and its own
modules, because the sandbox sees nothing else of the course.

* :mod:`.worker` runs the student's cells once, in an IPython shell, sends back each cell's
  outputs (what the feedback shows) and answers the grader's calls over a pipe, in plain
  data only (:mod:`.wire`, read within :mod:`.boundedjson`'s caps).
* :mod:`.param_types` declares the course's parameter classes that cross (``GMMParams``):
  the one place the wire, both sides' conversions and the grader's allowlist read them from.
"""
