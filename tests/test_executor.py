"""The executor that runs a submission's kernel inside the sandbox (sandboxed/execute.py).

Run here without the sandbox (the executor is the same program inside and out; the sandbox
is tested in test_sandbox.py): what it does with cells that hang, swallow interrupts or kill
their kernel, so that the rest of the notebook still shows its outputs in the feedback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

CELLS = {
    "before": 'print("before")',
    "sleeps": "import time\ntime.sleep(600)",           # an interrupt stops it
    "swallows": ("while True:\n    try:\n        while True:\n            pass\n"
                 "    except KeyboardInterrupt:\n        pass"),
    "dies": "import os\nos._exit(3)",
    "after": 'print("after")',
}


def execute(tmp_path, names, timeout=2, *options):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELLS[n]) for n in names])
    src, dest = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    # A generous guard only: without the executor's own limit the swallowing loop would run
    # until this kills it, and the test fails on the missing file.
    subprocess.run([sys.executable, "-m", "emcourse_grader.sandboxed.execute", str(src),
                    str(dest), "--cell-timeout", str(timeout), *options], cwd=tmp_path, timeout=150,
                   check=True, capture_output=True)
    out = json.loads(dest.read_text())
    return out["cells"], out["metadata"]["emcourse_execute"]


def text(cell) -> str:
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell["outputs"])


def test_a_cell_that_sleeps_is_interrupted_and_the_rest_runs(tmp_path):
    cells, what = execute(tmp_path, ["before", "sleeps", "after"])
    assert [text(c).strip() for c in (cells[0], cells[2])] == ["before", "after"]
    assert cells[1]["outputs"][-1]["ename"] == "KeyboardInterrupt"
    assert what["skipped"] == {}


@pytest.mark.parametrize("bad", ["swallows", "dies"])
def test_a_cell_that_outlives_its_interrupt_or_kills_the_kernel_is_skipped(tmp_path, bad):
    """The notebook is run again without that cell: the others keep their outputs."""
    cells, what = execute(tmp_path, ["before", bad, "after"])
    assert text(cells[0]).strip() == "before" and text(cells[2]).strip() == "after"
    assert "skipped" in text(cells[1]) and cells[1]["source"] == CELLS[bad]
    assert list(what["skipped"]) == ["1"]


def test_a_notebook_whose_every_cell_swallows_interrupts_ends_after_its_attempts(tmp_path):
    """Each run skips one more hanging cell; the runs are capped, so five such cells cost
    three runs of about two cell timeouts each, not the grader's whole notebook limit
    (execute's own guard fails the test if the runs were not capped)."""
    cells, what = execute(tmp_path, ["before"] + ["swallows"] * 5, 1, "--attempts", "3")
    assert text(cells[0]).strip() == "before"
    assert sorted(what["skipped"], key=int) == ["1", "2", "3"]
    assert what["unreached"] == [4, 5]
    for cell in cells[1:4]:
        assert "skipped" in text(cell)
    for cell in cells[4:]:
        assert "never reached" in text(cell)
