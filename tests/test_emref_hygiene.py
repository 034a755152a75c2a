"""emref's public surface: tests use public names only, public result types hold public fields
only, and every private fast module is exercised through (and checked against) a reference."""

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

import emref

TESTS = Path(__file__).resolve().parent
PRIVATE_FAST_MODULES = ("emref._hmm_batched", "emref._kmeans_fast", "emref._gmm_fast")


def private_imports(path: Path):
    """`from X import _y` in a test file, for X in emref, conftest or another test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            ours = node.module.split(".")[0] in ("emref", "conftest") or \
                node.module.startswith("test_")
            for alias in node.names:
                if ours and alias.name.startswith("_"):
                    yield f"{path.name}:{node.lineno}: from {node.module} import {alias.name}"


def test_tests_import_no_private_helpers():
    found = [hit for path in sorted(TESTS.glob("*.py")) for hit in private_imports(path)]
    assert not found, "\n".join(found)


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
