"""The assignments themselves: releases in git match the sources, carry nothing secret, run.

- assignments/ equals a fresh ``nbgrader generate_assignment`` (in a copy of the course);
- releases and sources are committed without outputs; releases hold no solutions and no
  hidden tests;
- the solutions pass their own tests (``nbgrader validate``);
- each release opens and runs top to bottom in a plain kernel up to the first
  NotImplementedError.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_grading_roundtrip import HW, ROOT, demo_class

NOTEBOOKS = {hw: demo_class.ASSIGNMENTS[hw] for hw in HW}


def release(hw):
    return ROOT / "assignments" / hw / f"{NOTEBOOKS[hw]}.ipynb"


def source(hw):
    return ROOT / "solutions" / hw / f"{NOTEBOOKS[hw]}.ipynb"


def _comparable(nb):
    nb = nbformat.from_dict(nb)
    return {"metadata": dict(nb.metadata),
            "cells": [{"cell_type": c.cell_type, "source": c.source, "metadata": c.metadata,
                       "id": c.get("id")} for c in nb.cells]}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A copy of the course (sources, configuration, manifest) whose releases were made
    afresh by ``nbgrader generate_assignment`` (not a whole class run: 5 s, not 90)."""
    course = demo_class.copy_course(tmp_path_factory.mktemp("generated") / "course", HW)
    for hw in HW:
        demo_class.nbgrader(course, "generate_assignment", hw, "--force", log=lambda *a: None)
    return course


@pytest.mark.parametrize("hw", HW)
def test_release_in_git_equals_a_fresh_generate_assignment(hw, generated):
    fresh = generated / "assignments" / hw / f"{NOTEBOOKS[hw]}.ipynb"
    a = _comparable(nbformat.read(release(hw), 4))
    b = _comparable(nbformat.read(fresh, 4))
    assert a == b, (f"assignments/{hw} is out of date: run `make course` (or nbgrader "
                    f"generate_assignment {hw} --force) and commit the release")
    listed = sorted(p.name for p in (ROOT / "assignments" / hw).iterdir())
    assert listed == sorted(p.name for p in fresh.parent.iterdir())


@pytest.mark.parametrize("hw", HW)
@pytest.mark.parametrize("which", ["release", "source"])
def test_notebooks_are_committed_without_outputs(hw, which):
    nb = nbformat.read(release(hw) if which == "release" else source(hw), 4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("hw", HW)
def test_release_holds_no_solution_and_no_hidden_test(hw):
    text = release(hw).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "emcourse_grader.checks"):
        assert marker not in text
    rel = nbformat.read(release(hw), 4)
    released = "\n".join(c.source for c in rel.cells)
    src = "\n".join(c.source for c in nbformat.read(source(hw), 4).cells)
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", src, flags=re.DOTALL)
    public = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", "", src, flags=re.DOTALL)
    for line in "\n".join(regions).splitlines():
        line = line.strip()
        # a real line of the answer ("return r" is too short to tell), that the notebook
        # does not show elsewhere (the debugging exercise repeats the given function)
        if len(line) > 25 and line not in public:
            assert line not in released, f"solution line in the release: {line}"
    stubs = [c.source for c in rel.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("YOUR CODE HERE" in s or "YOUR ANSWER HERE" in s for s in stubs)


def test_solutions_pass_their_own_tests():
    # `nbgrader validate` exits 0 even when a test fails: read what it says.
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    paths = [str(source(hw).relative_to(ROOT)) for hw in HW]
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", *paths], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("Success! Your notebook passes all the tests.") == len(paths), out
    assert "VALIDATION FAILED" not in out, out
    # nbgrader's own errors; not the kernel's log at shutdown (ipykernel may log a ZMQ
    # "Socket operation on non-socket" while the notebook's kernel is torn down, after the
    # verdict, on some machines).
    app_errors = [line for line in out.splitlines()
                  if re.match(r"\[\w+App \| (ERROR|CRITICAL)\]", line)]
    assert not app_errors, out


@pytest.mark.parametrize("hw", HW)
def test_release_runs_until_the_first_not_implemented_error(hw, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(release(hw), 4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors, "a blank release should stop at the first unanswered exercise"
    first_cell, first = errors[0]
    assert first.ename == "NotImplementedError", (first.ename, first.evalue)
    # everything before it ran cleanly: the setup and the instructions' code work as shipped
    for cell in nb.cells[:first_cell]:
        if cell.cell_type == "code":
            assert cell.execution_count is not None
