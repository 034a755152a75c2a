"""One place declares a parameter type (emcourse_grader/sandboxed/param_types.py), issue 22.

A throwaway type, ``ThrowawayParams(rate, shape)``, is declared in the test only, and every
part of the grader that deals with parameters takes it with nothing else edited:

* in this process (a fixture registers it and removes it again): the wire carries it both
  ways as a record that each side rebuilds into the class, the allowlist, the test cell's
  class lookup and the static scan accept it, a student's own plain tuple gives the form of
  the course's value (likeness);
* for real: in a temporary copy of emref and emcourse_grader in which exactly two files
  differ (the class appended to emref/params.py, one ``register`` call appended to
  param_types.py), a sandboxed worker (bwrap) gets it as the class from a test cell, returns
  one, and the test cell gets it back; ``from emref.gmm import`` works inside as the
  declaration says.

And no module of the grader but the registry names a declared type's fields by hand.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import documented_counts

from emcourse_grader import allowlist, callbacks, judge, sandbox, scan
from emcourse_grader.sandboxed import likeness, param_types, wire

ROOT = Path(__file__).resolve().parent.parent
GRADER = ROOT / "emcourse_grader"

CLASS = '''

@dataclass(frozen=True, eq=False)
class ThrowawayParams:
    """A throwaway parameter type of tests/test_param_types.py: positive rates, one shape."""

    rate: np.ndarray
    shape: float

    def __post_init__(self):
        rate = np.asarray(self.rate, dtype=float)
        if rate.ndim != 1 or not np.all(rate > 0):
            raise ValueError(f"rate must be a 1-d array of positive numbers; found {rate!r}")
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "shape", float(self.shape))
'''
DECLARATION = '''

register(ParamType("ThrowawayParams", "emref.params", ("rate", "shape"),
                   also_in=("emref.gmm",)))
'''


def _positive_pair(values) -> bool:
    rate, shape = values
    return isinstance(rate, np.ndarray) and rate.ndim == 1 and isinstance(shape, float)


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
    """ThrowawayParams in a module of its own (``emref.throwaway_params``, from a temporary
    file), declared in the registry for the test's length only."""
    path = tmp_path / "throwaway_params.py"
    path.write_text("from dataclasses import dataclass\n\nimport numpy as np\n" + CLASS)
    spec = importlib.util.spec_from_file_location("emref.throwaway_params", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "emref.throwaway_params", module)
    ptype = param_types.register(param_types.ParamType(
        "ThrowawayParams", "emref.throwaway_params", ("rate", "shape"), plain=_positive_pair))
    try:
        yield module.ThrowawayParams
    finally:
        param_types.unregister(ptype.name)


def _across(value):
    """``value`` sent as one frame's JSON text and read back as the other side reads it."""
    text = json.dumps({"op": "result", "value": wire.encode(value)}).encode()
    return wire.decode(wire.parse(text)["value"])


def test_the_throwaway_type_crosses_the_wire_both_ways(throwaway):
    sent = throwaway(np.array([1.0, 2.5]), 3)
    got = _across(sent)  # either way: the grader's argument, or the student's return value
    assert type(got).__name__ == "ThrowawayParams" and got._fields == ("rate", "shape")
    assert not isinstance(got, throwaway)  # a record of plain data, never the object itself
    np.testing.assert_array_equal(got.rate, [1.0, 2.5])
    assert got.shape == 3.0
    # the grader's side (callbacks, a test's course call) rebuilds it through the class ...
    for rebuilt in (callbacks.as_params(got), param_types.rebuild(got)):
        assert isinstance(rebuilt, throwaway)
        np.testing.assert_array_equal(rebuilt.rate, sent.rate)
    # ... and so does the worker's (the same function: inside, emref has the class's module)
    assert isinstance(likeness.as_student_values([got, (got,)], param_types.rebuild)[1][0],
                      throwaway)
    # a plain pair its declaration recognises is taken by the callbacks too
    assert isinstance(callbacks.as_params((np.array([2.0]), 1.0)), throwaway)
    # what the class refuses is passed on as it is, for the course's code to explain
    bad = param_types.record("ThrowawayParams")(np.array([-1.0]), 1.0)
    assert param_types.rebuild(bad) is bad


def test_the_allowlist_the_test_cells_and_the_scan_take_it(throwaway):
    assert allowlist.parameter_classes()["ThrowawayParams"] == "emref.throwaway_params"
    assert "throwaway_params.py" in allowlist.student_emref_files()

    class Lookup:  # what a worker answers when the student's namespace names the class
        def lookup(self, names):
            return {"ThrowawayParams": {"t": "class",
                                        "name": "emref.throwaway_params.ThrowawayParams"},
                    "Other": {"t": "class", "name": "emref.throwaway_params.Other"}}

    passed, message = judge.run_test_cell(Lookup(), textwrap.dedent("""
        assert ThrowawayParams([1.0], 2).shape == 2.0
        assert type(Other).__name__ == "NotPlainData"
        """))
    assert passed, message
    assert scan.scan("from emref.gmm import ThrowawayParams") == []
    assert scan.scan("ThrowawayParams = dict") == [
        ("monkeypatches a name the tests rely on", "ThrowawayParams")]


def test_the_students_own_form_is_kept_for_the_course_value(throwaway):
    theirs = likeness.likeness((np.array([1.0], dtype=np.float32), 2.0))
    course = throwaway(np.array([4.0]), 5.0)
    shaped = likeness.conform(course, theirs)
    assert type(shaped) is tuple and shaped[0].dtype == np.float32 and shaped[1] == 5.0


def test_once_removed_the_type_is_unknown_on_the_wire(throwaway):
    tree = wire.encode(throwaway(np.array([1.0]), 1.0))
    param_types.unregister("ThrowawayParams")
    try:
        with pytest.raises(wire.WireError, match="unknown parameter type"):
            wire.decode(tree)
        assert "ThrowawayParams" not in allowlist.parameter_classes()
    finally:  # the fixture removes it again
        param_types.register(param_types.ParamType("ThrowawayParams",
                                                   "emref.throwaway_params", ("rate", "shape")))


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "not a name", "module": "emref.params", "fields": ("a",)}, "name must be"),
    ({"name": "P", "module": "numpy", "fields": ("a",)}, "module must be a module of emref"),
    ({"name": "P", "module": "emref.params", "fields": ("a",), "also_in": "emref.gmm"},
     "also_in must be"),
    ({"name": "P", "module": "emref.params", "fields": ("a", "a")}, "fields must be"),
    ({"name": "P", "module": "emref.params", "fields": ["a"]}, "fields must be"),
    ({"name": "P", "module": "emref.params", "fields": ("_a",)}, "fields must be"),
])
def test_a_bad_declaration_is_a_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        param_types.ParamType(**kwargs)


def test_a_second_declaration_of_a_name_is_refused():
    with pytest.raises(ValueError, match="'GMMParams' is declared already"):
        param_types.register(param_types.ParamType("GMMParams", "emref.params", ("w",)))
    with pytest.raises(TypeError, match="ptype must be a ParamType"):
        param_types.register({"name": "P"})
    with pytest.raises(KeyError, match="no parameter type called 'Nope'"):
        param_types.unregister("Nope")


# ---- nothing else names the fields -----------------------------------------------------------

def _field_lists(path: Path):
    """Every tuple or list of two or more string constants in ``path``'s code, and every
    ``namedtuple(...)`` field list, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) >= 2 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            yield node.lineno, tuple(e.value for e in node.elts)
        if isinstance(node, ast.Call) and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            yield node.lineno, tuple(node.args[1].value.replace(",", " ").split())


def _hand_written(names) -> list:
    """The declared types whose fields (two or more, in any order) ``names`` holds."""
    return [t.name for t in param_types.registered()
            if len(t.fields) >= 2 and set(t.fields) <= set(names)]


def test_the_scan_for_hand_written_fields_finds_them(tmp_path):
    """The check below can fail: the code this change removed from wire.py is caught."""
    path = tmp_path / "hand_written.py"
    path.write_text('Params = namedtuple("Params", ["weights", "means", "covariances"])\n'
                    'M = ("weights", "means", "covariances")\n'
                    'N = namedtuple("N", "weights means covariances")\n'
                    'O = ("weights", "means")\n')
    found = sorted((line, _hand_written(names)) for line, names in _field_lists(path)
                   if _hand_written(names))
    assert found == [(1, ["GMMParams"]), (2, ["GMMParams"]), (3, ["GMMParams"])]


def test_no_module_of_the_grader_but_the_registry_names_a_types_fields():
    """The grader's machinery (wire, worker, likeness, callbacks, judge, sandbox, scan,
    allowlist, ...) reads the fields from the registry. The checks of an assignment
    (emcourse_grader/checks/) are that assignment's own files and may know its types."""
    offenders = []
    for path in sorted(GRADER.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if path.name == "param_types.py" or "checks" in rel.parts:
            continue
        offenders += [f"{rel}:{line}: {names} are {', '.join(_hand_written(names))}'s fields"
                      for line, names in _field_lists(path) if _hand_written(names)]
    assert not offenders, "\n".join(offenders)


# ---- for real: a copy with the two files of a new type ------------------------------------------

DRIVER = '''
import json, sys
import numpy as np
from emcourse_grader import judge
from emcourse_grader.sandboxed import param_types
from emref.params import ThrowawayParams

STUDENT = """
import numpy as np
from emref.params import ThrowawayParams
from emref.gmm import ThrowawayParams as Again, GMMParams

def doubled(p):
    assert isinstance(p, ThrowawayParams), type(p)   # the grader's arrives as the class
    assert Again is ThrowawayParams
    return ThrowawayParams(2 * p.rate, p.shape + 1)

def kind(p):
    return type(p).__name__
"""
TEST = """
out = doubled(ThrowawayParams(np.array([1.0, 3.0]), 2))
assert list(out.rate) == [2.0, 6.0] and out.shape == 3.0, out
assert kind(ThrowawayParams(np.array([1.0]), 1)) == "ThrowawayParams"
"""
w = judge.Worker(call_timeout=30, budget=120)
try:
    cell = w.exec_cell(0, STUDENT)
    back = w.call("doubled", [ThrowawayParams(np.array([0.5]), 1.0)], {})
    passed, message = judge.run_test_cell(w, TEST)
    print(json.dumps({"cell": bool(cell and cell.get("ok")), "cell_error": str(cell)[-800:],
                      "record": type(back).__name__, "fields": list(back._fields),
                      "rebuilt": type(param_types.rebuild(back)).__name__,
                      "rate": param_types.rebuild(back).rate.tolist(),
                      "passed": passed, "message": message}))
finally:
    w.close()
'''


@pytest.fixture(scope="module")
def copy_with_a_new_type(tmp_path_factory):
    """emref and emcourse_grader copied, with the class and its declaration appended: the
    two files a new parameter type touches."""
    dest = tmp_path_factory.mktemp("course")
    for package in ("emref", "emcourse_grader"):
        shutil.copytree(ROOT / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(dest / "emref" / "params.py", "a", encoding="utf-8") as f:
        f.write(CLASS)
    with open(dest / "emcourse_grader" / "sandboxed" / "param_types.py", "a",
              encoding="utf-8") as f:
        f.write(DECLARATION)
    return dest


def _changed(copy: Path) -> list:
    return sorted(str(p.relative_to(copy)) for p in copy.rglob("*.py")
                  if p.read_bytes() != (ROOT / p.relative_to(copy)).read_bytes())


def test_the_docs_count_the_two_files(copy_with_a_new_type):
    assert _changed(copy_with_a_new_type) == ["emcourse_grader/sandboxed/param_types.py",
                                              "emref/params.py"]
    for doc in ("teaching.md", "emref_reference.md"):
        assert documented_counts(ROOT / "docs" / doc, "a parameter type") == (2, 0)


@pytest.mark.skipif(bool(sandbox.availability()),
                    reason=f"no sandbox here: {sandbox.availability()}")
def test_a_new_type_crosses_the_real_sandbox_with_two_files_edited(copy_with_a_new_type):
    assert len(_changed(copy_with_a_new_type)) == 2
    env = dict(os.environ, PYTHONPATH=str(copy_with_a_new_type))
    proc = subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True,
                          text=True, timeout=300, cwd=copy_with_a_new_type, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["cell"], got["cell_error"]
    assert (got["record"], got["fields"]) == ("ThrowawayParams", ["rate", "shape"])
    assert (got["rebuilt"], got["rate"]) == ("ThrowawayParams", [1.0])
    assert got["passed"], got["message"]
