"""emref's public surface: tests use public names only (and share helpers through helpers.py,
not conftest.py or each other), public result types hold public fields only, and every
private fast module is exercised through (and checked against) a reference."""

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

import emref

TESTS = Path(__file__).resolve().parent
PRIVATE_FAST_MODULES = ("emref._hmm_batched", "emref._kmeans_fast", "emref._gmm_fast")
# test_assignments.py and test_parallel_grading.py reuse the one serial grading of the demo
# class that test_grading_roundtrip.py runs per session (minutes of nbgrader): the one test
# module that others may import from.
SHARED_TEST_MODULE = "test_grading_roundtrip"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_shared_wrongly(module: str) -> bool:
    """conftest.py or another test module, imported by a test module."""
    top = module.split(".")[0]
    return top == "conftest" or (top.startswith("test_") and top != SHARED_TEST_MODULE)


def _is_module(module: str, name: str) -> bool:
    return inspect.ismodule(getattr(importlib.import_module(module), name, None))


def _root(node: ast.expr):
    """The name an attribute chain such as ``hmm.Gaussian._x`` starts from, or None."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def private_imports(path: Path):
    """What a test file takes that it should not: a private name of emref (imported, or an
    attribute of an emref module), anything from conftest.py, anything from another test
    module. The private fast modules may be imported whole: tests check them against the
    readable path."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def hit(node, text):
        return f"{path.name}:{node.lineno}: {text}"

    emref_modules = set()  # local names bound to emref or one of its modules
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if _is_shared_wrongly(alias.name):
                    yield hit(node, f"import {alias.name}")
                elif top == "emref":
                    if any(map(_is_private, alias.name.split("."))) \
                            and alias.name not in PRIVATE_FAST_MODULES:
                        yield hit(node, f"import {alias.name}")
                    emref_modules.add(alias.asname or top)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if _is_shared_wrongly(node.module):
                yield hit(node, f"from {node.module} import ...")
            elif node.module.split(".")[0] == "emref":
                for alias in node.names:
                    if _is_private(alias.name):
                        yield hit(node, f"from {node.module} import {alias.name}")
                    elif _is_module(node.module, alias.name):
                        emref_modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) \
                and _root(node.value) in emref_modules:
            yield hit(node, ast.unparse(node))


def test_tests_import_no_private_helpers():
    found = [hit for path in sorted(TESTS.glob("*.py")) for hit in private_imports(path)]
    assert not found, "\n".join(found)


def test_the_hygiene_check_sees_what_it_forbids(tmp_path):
    """private_imports finds each kind of forbidden import (so that its silence means something)."""
    bad = tmp_path / "test_bad.py"
    bad.write_text("import emref._validation\n"
                   "from emref.hmm import _normalise\n"
                   "from conftest import blob_data\n"
                   "from test_hmm import brute_force\n"
                   "from emref import hmm\n"
                   "hmm._forward_blocks(1)\n"
                   "import emref._hmm_batched as batched\n"
                   "from helpers import blob_data\n"
                   "from test_grading_roundtrip import class_run\n")
    found = list(private_imports(bad))
    assert [hit.split(":")[1] for hit in found] == ["1", "2", "3", "4", "6"], found


@pytest.mark.parametrize("module", ["em", "gmm", "hmm", "kmeans", "params"])
def test_public_dataclasses_hold_public_fields_only(module):
    mod = importlib.import_module(f"emref.{module}")
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
            private = [f.name for f in dataclasses.fields(obj) if f.name.startswith("_")]
            assert not private, f"emref.{module}.{name} has private fields {private}"


@pytest.mark.parametrize("module", PRIVATE_FAST_MODULES)
def test_fast_modules_are_private_and_unexported(module):
    importlib.import_module(module)
    short = module.split(".")[1]
    assert short.startswith("_") and short not in emref.__all__


def _modules_after(code: str) -> set:
    """The modules a fresh interpreter holds after running ``code``."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, cwd=TESTS.parent)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_emref_does_no_work():
    """``import emref`` imports none of its submodules and no scipy; a submodule costs only
    what it needs (k-means: numpy). The grader's course-versions helper imports one
    submodule per submission, and a student's ``from emref import datasets`` did too."""
    loaded = _modules_after("import emref")
    assert not {m for m in loaded if m.startswith(("emref.", "scipy"))}, loaded
    loaded = _modules_after("import emref.kmeans")
    assert not {m for m in loaded if m.startswith("scipy")}
    assert not {"emref.gmm", "emref.hmm", "emref.factor"} & loaded


def test_lazy_submodules_behave_like_attributes():
    assert emref.gmm is importlib.import_module("emref.gmm")
    assert emref.LikelihoodDecreaseWarning is importlib.import_module(
        "emref.em").LikelihoodDecreaseWarning
    assert set(emref.__all__) <= set(dir(emref))
    namespace = {}
    exec("from emref import *", namespace)  # noqa: S102 - the star import names __all__
    assert {"datasets", "em", "factor", "gmm", "hmm", "kmeans"} <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        emref.nope  # noqa: B018
