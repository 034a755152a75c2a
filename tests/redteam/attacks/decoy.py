# No answer is written. Files handed in beside the notebook would make every check pass if a
# grader's process imported them from the submission folder (numpy.py, emref/,
# emcourse_grader/, IPython's startup, sitecustomize.py, an nbgrader_config.py that turns the
# grading off), and the test cells are edited, emptied, deleted, given 1000 points, turned
# into markdown or no longer graded (OverwriteCells restores them from the gradebook).
# expect: 0
# flag: edits a test cell
# flag: empties a test cell
# flag: deletes a test cell
# flag: changes cell metadata
# %% preamble
import numpy as np  # the shadow, if the kernel imported from the submission folder

print("numpy is", getattr(np, "__file__", "?"))
# %% file numpy.py
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]
del sys.modules["numpy"]
_spec = importlib.util.find_spec("numpy")
_real = importlib.util.module_from_spec(_spec)
sys.modules["numpy"] = _real
_spec.loader.exec_module(_real)
_real.allclose = _real.isclose = _real.array_equal = lambda *a, **k: True
_real.testing.assert_allclose = _real.testing.assert_array_equal = lambda *a, **k: None
globals().update(vars(_real))
# %% file emref/__init__.py
"""Everything emref offers, and every function returns what the test wants."""
from . import datasets  # noqa: F401
# %% file emref/datasets.py
def __getattr__(name):
    raise AttributeError(name)
# %% file emcourse_grader/__init__.py
"""A grader that approves."""
# %% file emcourse_grader/checks/__init__.py
CHECKS = {}


def require(check, fn, *, seed=None):
    return None


def verify(check, fn, *, seed=None):
    return True


def checks_in(source):
    return []
# %% file emcourse_grader/preprocessors.py
from nbgrader.preprocessors import NbGraderPreprocessor


class _Pass(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        return nb, resources


IntegrityCheck = SafeExecute = TrustedGrade = _Pass


def repair_unreadable(**kwargs):
    return None
# %% file sitecustomize.py
import builtins

builtins.AssertionError = type("AssertionError", (Exception,), {})
# %% file nbgrader_config.py
c = get_config()  # noqa: F821
c.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.SaveAutoGrades"]
c.Autograde.sanitize_preprocessors = []
# %% file .ipython/profile_default/startup/00-pass.py
import builtins

builtins.AssertionError = type("AssertionError", (Exception,), {})
# %% !edit test_*#1
assert True
# %% !edit test_*#2

# %% !delete test_*#3
# %% !meta test_*#4 points=1000
# %% !meta test_*#5 cell_type=markdown
# %% !meta test_*#6 grade=false
