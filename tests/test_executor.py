"""The one run of a submission: its cells in the sandboxed worker, their outputs kept.

Each student cell runs once, in the real sandbox (emcourse_grader.sandboxed.worker, driven by
emcourse_grader.judge.Worker), and its outputs come back with the answer: streams, display
data (matplotlib figures included), the value of the last expression and errors with a
plain traceback, bounded per cell. A cell that runs too long is interrupted; one that goes on
through the interrupt or stops its process is ended, reported, and the cells after it still
run and keep their outputs. TrustedGrade writes those outputs into the notebook and replaces
each test cell's with the verdict (tests run in the grader; none enters the sandbox).
"""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from sandbox_helpers import needs_bwrap, trusted_grade

from emcourse_grader.judge import Worker

pytestmark = needs_bwrap

CELL = 2.0  # s per cell before the interrupt (the honest cells get more: the first import
# of matplotlib in a fresh sandbox builds its font cache, seconds on a busy machine)

CELLS = {
    "before": 'print("before")',
    "stderr": 'import sys, warnings\nprint("to stderr", file=sys.stderr)\n'
              'warnings.warn("a warning")',
    "figure": "%matplotlib inline\nimport matplotlib.pyplot as plt\n"
              "plt.figure(figsize=(2, 1))\nplt.plot([0, 1], [1, 0])\nplt.show()",
    "figure_default": "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1))\n"
                      "plt.plot([0, 1])",
    "magic": "%%time\ntotal = sum(range(10))",
    "line_magic": "%who_ls",
    "value": "21 * 2",
    "html": 'from IPython.display import HTML, display\ndisplay(HTML("<b>bold</b>"))',
    "error": "def f():\n    return 1 / 0\nf()",
    "sleeps": "import time\ntime.sleep(600)",  # an interrupt stops it
    "swallows": ("while True:\n    try:\n        while True:\n            pass\n"
                 "    except KeyboardInterrupt:\n        pass"),
    "dies": "import os\nos._exit(3)",
    "after": 'print("after")',
    "flood": 'for i in range(100_000):\n    print("x" * 60)',
    "many": "from IPython.display import display\nfor i in range(1000):\n    display(i)",
    "input": 'input("your name? ")',
    "call": "def double(x):\n    print('inside the call', x)\n    return 2 * x",
}


def run(names, *, max_output_bytes=20_000, max_outputs=50, budget=120, max_restarts=4,
        cell_timeout=CELL):
    """Run the cells in one worker; (answers in order, the worker's flags, seconds)."""
    flags = []
    worker = Worker(call_timeout=10, budget=budget, cell_timeout=cell_timeout,
                    max_output_bytes=max_output_bytes, max_outputs=max_outputs,
                    max_restarts=max_restarts, on_flag=lambda r, d: flags.append(r))
    start = time.monotonic()
    answers = []
    try:
        for i, name in enumerate(names):
            answer = worker.exec_cell(i, CELLS[name])
            answers.append(answer if answer is not None else {"failure": worker.failure})
        if "call" in names:
            answers.append({"double": worker.call("double", [21], {})})
    finally:
        worker.close()
    return answers, flags, time.monotonic() - start


def text(answer, kind="stdout") -> str:
    return "".join(o.get("text", "") for o in answer.get("outputs", [])
                   if o["output_type"] == "stream" and o["name"] == kind)


@pytest.fixture(scope="module")
def honest():
    names = ["before", "stderr", "figure", "figure_default", "magic", "line_magic", "value",
             "html", "error", "after", "flood", "many", "input", "call"]
    answers, flags, _ = run(names, cell_timeout=30.0)
    return dict(zip(names + ["result"], answers)), flags


def test_streams_are_kept_apart(honest):
    cells, _ = honest
    assert text(cells["before"]) == "before\n"
    assert "to stderr" in text(cells["stderr"], "stderr")
    assert "a warning" in text(cells["stderr"], "stderr")
    assert text(cells["stderr"]) == ""


@pytest.mark.parametrize("name", ["figure", "figure_default"])
def test_a_matplotlib_figure_is_a_png_display(honest, name):
    cells, _ = honest
    pngs = [o for o in cells[name]["outputs"] if o["output_type"] == "display_data"
            and o["data"].get("image/png", "").startswith("iVBOR")]
    assert len(pngs) == 1, cells[name]["outputs"]
    assert cells[name]["ok"], cells[name]


def test_magics_run_and_print(honest):
    cells, _ = honest
    assert "Wall time" in text(cells["magic"]) and cells["magic"]["ok"]
    assert cells["line_magic"]["ok"], cells["line_magic"]


def test_values_and_display_data_are_outputs(honest):
    cells, _ = honest
    (value,) = cells["value"]["outputs"]
    assert value["output_type"] == "execute_result" and value["data"]["text/plain"] == "42"
    (html,) = cells["html"]["outputs"]
    assert html["output_type"] == "display_data" and html["data"]["text/html"] == "<b>bold</b>"


def test_an_error_has_its_name_value_and_a_plain_traceback(honest):
    cells, _ = honest
    (err,) = cells["error"]["outputs"]
    assert err["output_type"] == "error" and err["ename"] == "ZeroDivisionError"
    assert err["evalue"] == "division by zero"
    tb = "".join(err["traceback"])
    assert "return 1 / 0" in tb and "\x1b[" not in tb  # plain: no colour codes


def test_a_cell_that_sleeps_is_interrupted_and_the_rest_runs():
    answers, flags, seconds = run(["before", "sleeps", "after"])
    assert answers[1]["outputs"][-1]["ename"] == "KeyboardInterrupt"
    assert answers[1]["interrupted"]
    assert text(answers[0]) == "before\n" and text(answers[2]) == "after\n"
    assert seconds < CELL + 30
    assert "runs past its time and is interrupted" in flags
    assert "hangs through an interrupt or stops the kernel" not in flags


def test_a_flood_of_output_is_cut_with_a_note(honest):
    cells, _ = honest
    out = text(cells["flood"])
    assert 20_000 <= len(out) < 21_000 and "cut by the grader" in out
    assert cells["flood"]["ok"]
    many = cells["many"]["outputs"]
    assert len(many) == 51 and "cut by the grader" in many[-1]["text"]  # 50, then the note


def test_stdin_is_unavailable(honest):
    cells, _ = honest
    assert cells["input"]["ename"] == "StdinNotImplementedError"


def test_what_a_call_prints_is_not_an_output(honest):
    """A test's call could print its inputs into the feedback: its output is dropped."""
    cells, _ = honest
    assert int(cells["result"]["double"]) == 42
    assert not any("inside the call" in json.dumps(a.get("outputs", []))
                   for a in cells.values())


@pytest.mark.parametrize("bad", ["swallows", "dies"])
def test_a_cell_that_outlives_its_interrupt_or_kills_its_process_is_ended(bad):
    """The worker is restarted with the cells before replayed: the others keep their outputs
    and their state."""
    answers, flags, seconds = run(["before", bad, "after", "call"])
    assert text(answers[0]) == "before\n" and text(answers[2]) == "after\n"
    assert "failure" in answers[1]
    assert int(answers[-1]["double"]) == 42
    assert "hangs through an interrupt or stops the kernel" in flags
    assert seconds < 4 * CELL + 30


def test_a_notebook_whose_every_cell_swallows_interrupts_ends_after_its_restarts():
    """Each such cell costs about two cell times and a restart; the restarts are capped, so
    the cells after the cap say why they did not run instead of holding the notebook."""
    answers, _, seconds = run(["before"] + ["swallows"] * 5 + ["after"], max_restarts=2)
    assert text(answers[0]) == "before\n"
    assert all("failure" in a for a in answers[1:])
    assert "restarted too often" in answers[-1]["failure"]
    assert seconds < 3 * (2 * CELL + 1) + 30


def test_a_notebook_out_of_time_says_so_for_the_cells_left():
    answers, flags, _ = run(["before", "swallows", "after"], budget=2 * CELL)
    assert text(answers[0]) == "before\n"
    assert "ran out" in answers[2]["failure"]
    assert "the notebook did not finish executing in time" in flags


# --------------------------------------------------------------------------------------------
# TrustedGrade: the outputs written into the notebook, the verdict replacing a test's
# --------------------------------------------------------------------------------------------

def _nbg(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "locked": False, "schema_version": 3,
                         "solution": False, "grade": False, "task": False, **kw}}


def test_trusted_grade_writes_the_outputs_and_the_verdicts(tmp_path):
    cells = [
        nbformat.v4.new_code_cell(CELLS["figure"] + "\nprint('drawn')",
                                  metadata=_nbg("plot", solution=True)),
        nbformat.v4.new_code_cell(CELLS["call"] + "\nprint('defined')\n"
                                  "from IPython.display import HTML, display\n"
                                  "display(HTML('<script>alert(1)</script><i>ok</i>'))",
                                  metadata=_nbg("answer", solution=True)),
        nbformat.v4.new_code_cell("assert double(2) == 4",
                                  metadata=_nbg("test_pass", grade=True, points=1, locked=True)),
        nbformat.v4.new_code_cell("assert double(2) == 5, 'double is wrong'",
                                  metadata=_nbg("test_fail", grade=True, points=1, locked=True)),
        nbformat.v4.new_code_cell("1 / 0", metadata=_nbg("broken", solution=True)),
        nbformat.v4.new_code_cell('print("still here")'),
    ]
    # What the submission saved is never kept: a forged "pass" and an old output.
    cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed!")]
    cells[5].outputs = [nbformat.v4.new_output("stream", name="stdout", text="forged")]
    report = tmp_path / "report.csv"
    nb = trusted_grade(nbformat.v4.new_notebook(cells=cells), report, assignment="hw",
                       notebook="nb", cell_timeout=30.0, timeout=10.0, notebook_timeout=120.0)
    plot, answer, ok, bad, broken, last = nb.cells
    assert any("image/png" in o.get("data", {}) for o in plot.outputs)
    assert "drawn" in json.dumps(plot.outputs)
    assert "defined" in json.dumps(answer.outputs)
    html = [o.data["text/html"] for o in answer.outputs if "text/html" in o.get("data", {})]
    assert html and "<i>ok</i>" in html[0] and "script" not in html[0]  # sanitised
    assert ok.outputs == []
    assert len(bad.outputs) == 1 and bad.outputs[0].evalue == "double is wrong"
    assert broken.outputs[-1].ename == "ZeroDivisionError"
    assert [o.text for o in last.outputs] == ["still here\n"]
    assert [c.execution_count for c in nb.cells] == [1, 2, None, None, 3, 4]
    assert "GradingError" not in json.dumps([c.outputs for c in nb.cells[:2]])
