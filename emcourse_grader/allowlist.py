"""What of the course student code may use while it is graded: the one list every part of the
grader reads.

* :mod:`emcourse_grader.sandbox` copies :data:`STUDENT_EMREF_FILES` into the student-facing
  emref and hides :data:`MASKED_PACKAGES`, :data:`MASKED_SUBPACKAGES` (and any installed
  copy of :data:`COURSE_PACKAGES`) inside the sandbox;
* :mod:`emcourse_grader.judge` hands a test cell the grader's own copy of a module in
  :data:`TEST_MODULES` and of a class in :data:`PARAMETER_CLASSES` when the student's
  namespace names one;
* :mod:`emcourse_grader.scan` reports uses of :data:`EMREF_ALGORITHMS` (but for their
  :data:`PARAMETER_CLASSES`) and imports of :data:`MASKED_PACKAGES` and
  :data:`MASKED_SUBPACKAGES`.

Adding, say, a parameter container for a new assignment means adding it here (and to
emref/params.py), nowhere else.
"""

from __future__ import annotations

# emref files (in emref/) that the student-facing emref inside the sandbox holds: the data
# sets, the parameter containers and what they validate with. No algorithm.
STUDENT_EMREF_FILES = ("_validation.py", "datasets.py", "params.py", "data")
# emref's modules that hold algorithms: absent inside the sandbox (where emref.gmm holds
# GMMParams only).
EMREF_ALGORITHMS = ("emref.kmeans", "emref.gmm", "emref.hmm", "emref.em", "emref.gaussian")
# Parameter containers: name -> the module that defines it (inside and outside the sandbox).
PARAMETER_CLASSES = {"GMMParams": "emref.params"}
# Libraries that implement the homework: absent inside the sandbox.
MASKED_PACKAGES = ("sklearn", "hmmlearn")
# Subpackages of allowed libraries that implement the homework (scipy.cluster.vq's kmeans2 is
# k-means): absent inside the sandbox too. No other part of scipy imports scipy.cluster.
MASKED_SUBPACKAGES = ("scipy.cluster",)
# The course's own packages. Inside the sandbox the student library stands in for them; an
# install that copied them into site-packages (pip install without -e) would leave the real
# ones (emref's algorithms, the checks) beside it, so they are masked there as well.
COURSE_PACKAGES = ("emref", "emcourse_grader")
# Modules a test cell may receive by name from the student's namespace; the grader imports
# its own copy (whatever the student did to theirs).
TEST_MODULES = frozenset({
    "numpy", "numpy.testing", "numpy.linalg", "scipy", "scipy.linalg", "scipy.special",
    "scipy.stats", "itertools", "math", "functools", "collections", "emref", "emref.datasets",
    "emcourse_grader.checks",
})
