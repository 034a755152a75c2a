"""Notebook format games and cell attachments, through both real graders.

What the red-team corpus's format (tests/redteam/README.md) cannot express: the notebook
file's own structure. In a temporary copy of the course (scripts/demo_class.py) hw1 is
generated and one class of submissions laid out in submitted/, all of them the full solution
but for the game each plays:

* graded on its code (full points, no row saying it could not be read): ``future``
  (``nbformat_minor`` 99, every cell the same id, extra top-level ``metadata`` of its own,
  ``kernelspec`` naming a kernel of the student's making, installed here so that starting it
  would leave a mark, ``language_info`` saying bash) and ``v3`` (saved as nbformat 3);
* refused with the reason in the report (0, graded as the unanswered release): ``v5``
  (nbformat 5), ``nominor`` (no ``nbformat_minor``), ``strminor`` (``"5"``), ``ids`` (a cell
  id with ``../`` and one of 100 000 characters), ``keys`` (unknown top-level and cell keys);
* ``pics``: a written answer with attachments: an honest PNG, HTML, an SVG with a script,
  JavaScript, a 6 MB image, a name with ``../`` and a reference to an attachment that does
  not exist; and a Markdown cell of the student's own with an honest pasted PNG;
* ``beside``: every answer cell imports ``helper.py``, handed in beside the notebook, where
  the work is: only the notebook is graded (0), and the report and the feedback say why;
* ``modbug``: every answer a module the notebook writes (``%%writefile``) and imports, with a
  bug in ``assign``: it costs that part only, as in a notebook that defines its functions;
* ``ada``: the plain solution, the class around them.

``nbgrader autograde hw1`` and ``generate_feedback`` grade the class, then ``python -m
emcourse_grader grade hw1 --force --workers 2`` grades it again.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class
from inert_helpers import assert_inert
from inert_helpers import render_notebook as _render

HW, NOTEBOOK = "hw1", demo_class.ASSIGNMENTS["hw1"]
FULL = demo_class.EXPECTED[HW]["ada"]
KERNEL = "rt-own-kernel"
GRADED = ("ada", "future", "v3", "pics")
REFUSED = {  # student -> words of the reason its report row must give
    "v5": "its nbformat is 5",
    "nominor": "no nbformat_minor",
    "strminor": "nbformat_minor is '5', not a whole number",
    "ids": "does not match",
    "keys": "Additional properties are not allowed",
}


def _png(size=8) -> str:
    """A real PNG of ``size`` x ``size`` pixels, base64 (as Jupyter stores attachments)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


PNG = _png()
SKETCH = "A sketch of my clusters: ![sketch](attachment:sketch.png)"
ANSWER = ("Each step lowers $J$. ![plot](attachment:plot.png) ![a](attachment:evil.svg) "
          "![b](attachment:../../escape.png) ![c](attachment:missing.png) "
          "![d](attachment:huge.png) ![e](attachment:page.html)")


def _attachments() -> dict:
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(4_500_000)).decode()  # 6 MB
    return {
        "plot.png": {"image/png": PNG},
        "evil.svg": {"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" '
                     'onload="alert(\'PWNED-svg\')"><script>alert("PWNED-script")</script>'
                     '</svg>'},
        "page.html": {"text/html": "<script>alert('PWNED-html')</script>"},
        "code.js": {"application/javascript": "alert('PWNED-js')"},
        "../../escape.png": {"image/png": PNG},
        "huge.png": {"image/png": huge},
    }


def _games(solution: dict) -> dict:
    """Student -> the bytes of the notebook file they hand in."""
    def variant(change):
        nb = copy.deepcopy(solution)
        change(nb)
        return json.dumps(nb).encode()

    def future(nb):
        nb["nbformat_minor"] = 99
        nb["metadata"]["kernelspec"] = {"name": KERNEL, "display_name": "Mine",
                                        "language": "bash"}
        nb["metadata"]["language_info"] = {"name": "bash", "version": "5.2",
                                           "file_extension": ".sh"}
        nb["metadata"]["rt_future"] = {"anything": [1, 2, 3]}
        for cell in nb["cells"]:
            cell["id"] = "same"

    def ids(nb):
        nb["cells"][0]["id"] = "../escape"
        nb["cells"][1]["id"] = "x" * 100_000

    def keys(nb):
        nb["rt_extra"] = {"run": "rm -rf /"}
        nb["cells"][0]["rt_extra"] = True

    def pics(nb):
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "inertia_answer":
                cell["source"], cell["attachments"] = ANSWER, _attachments()
        nb["cells"].append({"cell_type": "markdown", "id": "sketch", "metadata": {},
                            "source": SKETCH, "attachments": {"sketch.png": {"image/png": PNG}}})

    v3 = nbformat.writes(nbformat.convert(nbformat.from_dict(solution), 3)).encode()
    return {
        "ada": json.dumps(solution).encode(),
        "future": variant(future), "v3": v3, "pics": variant(pics),
        "v5": variant(lambda nb: nb.update(nbformat=5)),
        "nominor": variant(lambda nb: nb.pop("nbformat_minor")),
        "strminor": variant(lambda nb: nb.update(nbformat_minor="5")),
        "ids": variant(ids), "keys": variant(keys), "beside": _beside(solution),
        "modbug": _modules(solution),
    }


def _beside(solution: dict) -> dict:
    """The notebook whose answer cells import ``helper`` (the file handed in beside it)."""
    nb = copy.deepcopy(solution)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            cell["source"] = "from helper import *"
    return {f"{NOTEBOOK}.ipynb": json.dumps(nb).encode(),
            "helper.py": "".join(c["source"] if isinstance(c["source"], str) else
                                 "".join(c["source"]) for c in solution["cells"]
                                 if c["metadata"].get("nbgrader", {}).get("solution")
                                 and c["cell_type"] == "code").encode()}


def _modules(solution: dict) -> bytes:
    """Each answer a module: a cell of the student's writes it, the answer cell imports it;
    ``assign`` has a bug (the farthest centre)."""
    nb = copy.deepcopy(solution)
    cells = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            gid, source = meta["grade_id"], "".join(cell["source"])
            if gid == "assign":
                assert "argmin" in source
                source = source.replace("argmin", "argmax")
            cells.append({"cell_type": "code", "id": f"module-{gid}", "metadata": {},
                          "execution_count": None, "outputs": [],
                          "source": f"%%writefile answer_{gid}.py\nfrom __main__ import *\n"
                                    f"\n\n{source}\n"})
            cell["source"] = f"from answer_{gid} import *"
        cells.append(cell)
    nb["cells"] = cells
    return json.dumps(nb).encode()


def plant(course: Path, files: dict) -> None:
    for student, raw in files.items():
        folder = course / "submitted" / student / HW
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
        for name, data in (raw.items() if isinstance(raw, dict) else
                           [(f"{NOTEBOOK}.ipynb", raw)]):
            (folder / name).write_bytes(data)


def _own_kernel(top: Path) -> Path:
    """A kernel of the student's making, installed where Jupyter looks (JUPYTER_PATH): it
    only leaves a mark, should anything start it."""
    mark = top / "own-kernel-started"
    spec = top / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": ["/bin/sh", "-c", f"touch {mark}", "{connection_file}"],
        "display_name": "Mine", "language": "bash"}))
    return mark


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def _scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(HW).submissions}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formats")
    course = demo_class.copy_course(tmp / "course", assignments=[HW])
    mark = _own_kernel(tmp)
    log: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
        demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=log.append)
        release = course / "assignments" / HW / f"{NOTEBOOK}.ipynb"
        work = tmp / "solution.ipynb"
        shutil.copy(release, work)
        demo_class.fill_notebook(work, course / "solutions" / HW / f"{NOTEBOOK}.ipynb",
                                 "solution", HW)
        files = _games(json.loads(work.read_text()))
        plant(course, files)
        out = {"course": course, "mark": mark, "tmp": tmp}
        out["serial_log"] = demo_class.nbgrader(course, "autograde", HW, log=log.append)
        demo_class.nbgrader(course, "generate_feedback", HW, log=log.append)
        out["serial"] = {"scores": _scores(course), "autograded": _tree(course / "autograded"),
                         "feedback": _tree(course / "feedback"),
                         "report": (course / "integrity_report.csv").read_text()}
        plant(course, files)
        out["parallel_log"] = demo_class.parallel_grade(course, [HW], "--force", workers=2,
                                                        log=log.append)
        out["parallel"] = {"scores": _scores(course),
                           "autograded": _tree(course / "autograded"),
                           "report": (course / "integrity_report.csv").read_text()}
    return out


RUNS = ["serial", "parallel"]


def _rows(graded, run, student) -> list:
    return [r for r in csv.DictReader(graded[run]["report"].splitlines())
            if r["student"] == student]


def _notebook(graded, run, student):
    raw = graded[run]["autograded"][f"{student}/{HW}/{NOTEBOOK}.ipynb"]
    return nbformat.reads(raw.decode(), as_version=4)


# --------------------------------------------------------------------------------------------
# Format games
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("student", GRADED)
def test_a_readable_notebook_is_graded_on_its_code(graded, run, student):
    score = graded[run]["scores"][student]
    rows = _rows(graded, run, student)
    assert score == FULL, f"{run}/{student}: {score} of {FULL}; report: {rows}"
    assert not [r for r in rows if "could not" in r["reason"]], rows


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("student", sorted(REFUSED))
def test_an_unreadable_format_is_refused_with_its_reason(graded, run, student):
    assert graded[run]["scores"][student] == 0
    rows = _rows(graded, run, student)
    text = " | ".join(f"{r['reason']}: {r['detail']}" for r in rows)
    assert "could not be read; graded as unanswered" in text, text
    assert REFUSED[student] in text, text
    assert "x" * 200 not in text, "a student's 100 000-character id copied into the report"


@pytest.mark.parametrize("run", RUNS)
def test_the_notebooks_kernel_is_never_started_and_the_gradebooks_is_kept(graded, run):
    assert not graded["mark"].exists(), "the kernel named in a submission was started"
    nb = _notebook(graded, run, "future")
    assert nb.metadata.kernelspec.name == "python3", nb.metadata.kernelspec
    assert len({c.id for c in nb.cells}) == len(nb.cells), "duplicate cell ids kept"


# --------------------------------------------------------------------------------------------
# A module handed in beside the notebook
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", RUNS)
def test_a_module_beside_the_notebook_is_not_graded_and_says_why(graded, run):
    from emcourse_grader import beside
    from emcourse_grader.beside import REASON

    assert graded[run]["scores"]["beside"] == 0
    rows = _rows(graded, run, "beside")
    details = [r["detail"] for r in rows if r["reason"] == REASON]
    assert details == [beside.detail("helper.py")], rows
    assert "only the notebook is graded" in details[0]
    nb = _notebook(graded, run, "beside")
    notes = [o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs
             if o.get("name") == "stderr" and REASON in o.get("text", "")]
    assert len(notes) == 4, notes  # under each of hw1's four answer cells
    if run == "serial":
        page = graded["serial"]["feedback"][f"beside/{HW}/{NOTEBOOK}.html"].decode()
        assert REASON in page and "helper.py" in page


@pytest.mark.parametrize("run", RUNS)
def test_a_bug_in_a_module_the_notebook_wrote_costs_its_part_only(graded, run):
    """``fit`` and ``soft_assign`` build on ``assign``: while they are judged, the course's
    ``assign`` stands in for the student's in the modules that imported it too."""
    release = nbformat.read(ROOT / "assignments" / HW / f"{NOTEBOOK}.ipynb", 4)
    assign = next(c.metadata.nbgrader.points for c in release.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "test_assign")
    score = graded[run]["scores"]["modbug"]
    assert score == FULL - assign, f"{run}: {score} of {FULL}\n{_failed(graded, run, 'modbug')}"
    assert not _rows(graded, run, "modbug"), _rows(graded, run, "modbug")


def _failed(graded, run, student) -> str:
    nb = _notebook(graded, run, student)
    return "\n".join(f"{c.metadata.get('nbgrader', {}).get('grade_id')}: "
                     f"{o.get('evalue', '')[:300]}" for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.get("output_type") == "error")


@pytest.mark.parametrize("hw", list(demo_class.ASSIGNMENTS))
def test_every_notebook_says_that_only_the_notebook_is_graded(hw):
    nb = nbformat.read(ROOT / "assignments" / hw / f"{demo_class.ASSIGNMENTS[hw]}.ipynb", 4)
    assert "Only this notebook is graded" in nb.cells[0].source
    assert "%%writefile" in nb.cells[0].source  # and that a module it writes itself is fine


# --------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------

def _cell(nb, *, gid=None, cell_id=None):
    return next(c for c in nb.cells if (gid and c.metadata.get("nbgrader", {}).get(
        "grade_id") == gid) or (cell_id and c.get("id") == cell_id and c.cell_type ==
                                "markdown" and "sketch" in c.source))


@pytest.mark.parametrize("run", RUNS)
def test_attachments_keep_only_inert_images_with_plain_names(graded, run):
    nb = _notebook(graded, run, "pics")
    answer = _cell(nb, gid="inertia_answer")
    assert set(answer.get("attachments", {})) == {"plot.png"}, set(answer.attachments)
    assert set(answer.attachments["plot.png"]) == {"image/png"}
    # its references to what was dropped and to what never was: shown as text, not rendered
    assert "plain text" in answer.source and ANSWER in answer.source, answer.source[:300]
    sketch = _cell(nb, cell_id="sketch")  # the honest pasted image: as the student wrote it
    assert sketch.source == SKETCH and set(sketch.attachments) == {"sketch.png"}
    page = _render(nb)  # as the Formgrader shows the autograded notebook
    assert_inert(page, f"{run}: the autograded notebook rendered")
    assert "PWNED" not in page and f"data:image/png;base64,{PNG}" in page


def test_the_feedback_shows_the_honest_image_and_nothing_active(graded):
    page = graded["serial"]["feedback"][f"pics/{HW}/{NOTEBOOK}.html"].decode()
    assert_inert(page, "feedback")
    assert "PWNED" not in page
    assert f"data:image/png;base64,{PNG}" in page  # the pasted sketch
    assert "Each step lowers" in page  # the written answer, as text


@pytest.mark.parametrize("run", RUNS)
def test_no_file_is_written_from_an_attachments_name(graded, run):
    tmp = graded["tmp"]
    for name in ("escape.png", "plot.png", "huge.png", "sketch.png", "evil.svg", "page.html"):
        found = [p for p in tmp.parent.rglob(name)]
        assert not found, found
    files = set(graded[run]["autograded"])
    assert {f for f in files if f.startswith(f"pics/{HW}/")} == {
        f"pics/{HW}/{NOTEBOOK}.ipynb", f"pics/{HW}/timestamp.txt"}, files


@pytest.mark.parametrize("run", RUNS)
def test_every_submission_is_graded_and_nothing_crashed(graded, run):
    assert set(graded[run]["scores"]) == set(GRADED) | set(REFUSED) | {"beside", "modbug"}
    assert all(s is not None for s in graded[run]["scores"].values())


# --------------------------------------------------------------------------------------------
# The same rules, fast (no grading)
# --------------------------------------------------------------------------------------------

def test_a_reference_to_an_attachment_renders_or_is_shown_as_text():
    from emcourse_grader import untrusted

    kept = untrusted.clean_attachments(_attachments())
    assert set(kept) == {"plot.png"}
    text = "![p](attachment:plot.png)"
    assert untrusted.clean_markdown(text, kept) == text  # an honest pasted image, unchanged
    for missing in ("![p](attachment:missing.png)", "![p](attachment:plot.png)"):
        shown = untrusted.clean_markdown(missing)  # no attachments at all: never raises
        assert "plain text" in shown and "a missing attachment" in shown, shown
    for bad in (None, [], "x", {"a.png": None}, {"": {"image/png": PNG}},
                {"a\nb.png": {"image/png": PNG}}, {"a.png": {"image/png": "not base64!"}}):
        assert untrusted.clean_attachments(bad) == {}, bad


@pytest.mark.parametrize("change,reason", [
    ({"nbformat": 5}, "its nbformat is 5"),
    ({"nbformat": "4"}, "its nbformat is '4'"),
    ({"nbformat_minor": None}, "its nbformat_minor is missing, not a whole number"),
    ({"nbformat_minor": 5.0}, "its nbformat_minor is 5.0, not a whole number"),
    ({"nbformat_minor": -1}, "its nbformat_minor is -1, not a whole number"),
])
def test_the_reason_names_the_version_problem(change, reason):
    from emcourse_grader.guard import UnreadableNotebook, parse_notebook

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    parse_notebook(json.dumps(nb).encode())  # the plain one is read
    nb.update(change)
    with pytest.raises(UnreadableNotebook, match=reason.replace("(", r"\(")):
        parse_notebook(json.dumps(nb).encode())
    nb = {"nbformat": 4, "nbformat_minor": 99, "metadata": {}, "cells": []}
    assert parse_notebook(json.dumps(nb).encode()).nbformat == 4  # a newer minor is read
