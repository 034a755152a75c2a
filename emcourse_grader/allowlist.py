"""What of the course student code may use while it is graded: the one list every part of the
grader reads.

* :mod:`emcourse_grader.sandbox` copies :func:`student_emref_files` into the student-facing
  emref (with the stub modules of :func:`parameter_stubs`) and hides
  :data:`MASKED_PACKAGES`, :data:`MASKED_SUBPACKAGES` (and any installed copy of
  :data:`COURSE_PACKAGES`) inside the sandbox;
* :mod:`emcourse_grader.judge` hands a test cell the grader's own copy of a module in
  :data:`TEST_MODULES` and of a class in :func:`parameter_classes` when the student's
  namespace names one;
* :mod:`emcourse_grader.scan` reports uses of :data:`EMREF_ALGORITHMS` (but for their
  :func:`parameter_classes`) and imports of :data:`MASKED_PACKAGES` and
  :data:`MASKED_SUBPACKAGES`.

The parameter containers (``GMMParams``) are declared in
:mod:`emcourse_grader.sandboxed.param_types`, which the sandbox reads too; the functions here
derive the grader's lists from it. Adding a container for a new assignment means its class
in emref and its declaration there, nowhere else.
"""

from __future__ import annotations

from .sandboxed import param_types

# emref files (in emref/) that the student-facing emref inside the sandbox holds besides the
# parameter containers' modules (student_emref_files): the data sets and what the containers
# validate with. No algorithm.
STUDENT_EMREF_DATA = ("_validation.py", "datasets.py", "data")
# emref's modules that hold algorithms: absent inside the sandbox (where a stub of emref.gmm
# re-exports GMMParams only: parameter_stubs).
EMREF_ALGORITHMS = ("emref.kmeans", "emref.gmm", "emref.hmm", "emref.em", "emref.gaussian")
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


def parameter_classes() -> dict:
    """The parameter containers, name -> the module that defines it (inside and outside the
    sandbox), as :mod:`.sandboxed.param_types` declares them now."""
    return {t.name: t.module for t in param_types.registered()}


def student_emref_files() -> tuple:
    """The files of emref/ (relative paths) that the student-facing emref holds:
    :data:`STUDENT_EMREF_DATA` and the module of each parameter container (``params.py``)."""
    modules = [t.module.split(".", 1)[1].replace(".", "/") + ".py"
               for t in param_types.registered()]
    return tuple(dict.fromkeys([*STUDENT_EMREF_DATA, *modules]))


def parameter_stubs() -> dict:
    """The stub modules of the student-facing emref: each module of emref that holds
    algorithms but also exports parameter containers (``emref.gmm``) -> the source of a
    module that re-exports only those (from the module that defines each)."""
    stubs: dict[str, list] = {}
    for t in param_types.registered():
        for mod in t.also_in:
            stubs.setdefault(mod, []).append(t)
    return {mod: '"""Only the parameter containers."""\n\n' + "".join(
        f"from {t.module} import {t.name}\n" for t in types) + "\n__all__ = " +
        repr([t.name for t in types]).replace("'", '"') + "\n" for mod, types in stubs.items()}
