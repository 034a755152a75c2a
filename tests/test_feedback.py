"""emcourse_grader.feedback and emcourse_student without nbgrader commands: the template and the
"no feedback yet" note.

The whole path (generate_feedback, release, Fetch Feedback in JupyterLab, MathJax in Lab and
in a browser tab) is tests/test_student_lab.py; this checks the pieces in a second or two.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import emcourse_student
from emcourse_grader import feedback

LONG = "expected centres [[1, 0], [10, 9]]; got " + ", ".join(f"[{i}.5, {i}.25]" for i in range(40))


def _exporter():
    """FeedbackExporter configured as nbgrader's GenerateFeedback configures HTMLExporter."""
    import nbgrader
    from traitlets.config import Config

    here = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [str(here / "templates")]
    c.HTMLExporter.extra_template_paths = [
        str(here / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    return feedback.FeedbackExporter(config=c)


def _graded_notebook():
    def nbg(grade_id, **kw):
        return {"nbgrader": {"grade_id": grade_id, "locked": False, "schema_version": 3,
                             "solution": False, "grade": False, "task": False, **kw}}

    cells = [
        new_markdown_cell("The inertia $$J = \\sum_n \\|x_n - \\mu_{k(n)}\\|^2$$ and $r_{nk}$."),
        new_code_cell("def assign(X, centers):\n    return 0", metadata=nbg("assign", solution=True)),
        new_code_cell("assert False, msg", metadata=nbg("test_assign", grade=True, points=20,
                                                         score=0.0, pending=False),
                      outputs=[new_output("error", ename="AssertionError", evalue=LONG,
                                          traceback=[f"AssertionError: {LONG}"])]),
        new_markdown_cell("Each step lowers $J$.",
                          metadata=nbg("inertia_answer", solution=True, grade=True, points=10,
                                       score=0.0, pending=True)),
    ]
    return new_notebook(cells=cells)


@pytest.fixture(scope="module")
def html():
    resources = {"nbgrader": {"assignment": "hw1", "notebook": "hw1_kmeans", "score": 0.0,
                              "max_score": 30.0,
                              "late_penalty": 0, "pending_points": 10.0}}
    out, _ = _exporter().from_notebook_node(_graded_notebook(), resources=resources)
    return out


def test_mathjax_comes_from_the_students_server_never_a_cdn(html):
    assert "cdnjs" not in html and "cdn.jsdelivr" not in html
    assert feedback.MATHJAX_PATH in html and "/files/" in html
    assert 'renderer: emcourseOpaque ? "NativeMML" : "HTML-CSS"' in html


def test_written_answers_waiting_for_a_human_are_pending_not_zero(html):
    assert "(Score: 0 / 30)" in html
    assert "10 of these points are" in html
    assert 'Score: <span class="emcourse-pending">pending</span> / 10' in html
    assert "0 / 10" not in html
    assert "Score: 0 / 20" in html  # an autograded part that failed is a real 0


def test_the_page_names_its_language_and_the_assignment_and_its_headings_start_at_h1(html):
    """What a screen reader announces first; the whole page is checked by axe-core in
    tests/test_accessibility_browser.py."""
    import itertools
    import re

    assert '<html lang="en">' in html
    assert "<title>Feedback on hw1: hw1_kmeans</title>" in html
    levels = [int(n) for n in re.findall(r"<h([1-6])[\s>]", html)]
    assert levels and levels[0] == 1, levels
    skipped = [(a, b) for a, b in itertools.pairwise(levels) if b > a + 1]
    assert not skipped, f"a heading level skipped: {levels}"


def test_code_is_highlighted_in_a_high_contrast_style(html):
    from pygments.formatters import HtmlFormatter

    rules = HtmlFormatter(style=feedback.PYGMENTS_STYLE).get_style_defs(".highlight")
    comment = next(r for r in rules.splitlines() if r.startswith(".highlight .c "))
    assert comment in html  # the style's own rules, inlined in the page
    assert "inTabOrder: false" in html  # MathJax puts no formula in the Tab order


def test_long_lines_wrap(html):
    assert "white-space: pre-wrap" in html and "overflow-wrap: anywhere" in html


def test_no_feedback_yet_note_goes_next_to_the_latest_submission():
    listing = {"success": True, "value": [
        {"assignment_id": "hw1", "status": "submitted", "submissions": [
            {"timestamp": "2026-12-01 10:00:00 UTC", "has_local_feedback": False},
            {"timestamp": "2026-12-01 11:00:00 UTC", "has_local_feedback": False}]},
        {"assignment_id": "hw2", "status": "released"}]}
    assert emcourse_student.mark_no_feedback(listing, "hw1")
    stamps = [s["timestamp"] for s in listing["value"][0]["submissions"]]
    assert stamps[0] == "2026-12-01 10:00:00 UTC"
    assert stamps[1].startswith("2026-12-01 11:00:00 UTC") and "no feedback yet" in stamps[1]
    # feedback already fetched for the latest submission: nothing to say
    listing["value"][0]["submissions"][1]["has_local_feedback"] = True
    assert not emcourse_student.mark_no_feedback(listing, "hw1")
    assert not emcourse_student.mark_no_feedback({"success": False, "value": "x"}, "hw1")


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="no /usr/bin/chromium")
def test_in_chromium_long_lines_wrap_and_a_file_page_says_where_to_open_it(html, tmp_path):
    """Opened from disk (no Jupyter server, so no MathJax): nothing overflows sideways, and
    the page tells the student how to see the formulas typeset."""
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "hw1_kmeans.html"
    page_path.write_text(html)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(page_path.as_uri())
        note = page.locator("#emcourse-math-note")
        note.wait_for()
        assert "Open in New Browser Tab" in note.inner_text()
        widths = page.evaluate("""() => [...document.querySelectorAll('pre')]
            .map(p => [p.scrollWidth, p.clientWidth])""")
        browser.close()
    assert widths and all(sw <= cw + 1 for sw, cw in widths), widths


def test_a_notebook_read_back_from_disk_renders_without_pending_total():
    """A notebook read back from disk renders; without GetGradesPending's total (an older
    configuration) the page has no pending line but each pending cell still says so."""
    nb = nbformat.reads(nbformat.writes(_graded_notebook()), as_version=4)
    resources = {"nbgrader": {"notebook": "x", "score": 1, "max_score": 2, "late_penalty": 0}}
    out, _ = _exporter().from_notebook_node(nb, resources=resources)
    assert "(Score: 1 / 2)" in out and "of these points are" not in out
    assert 'Score: <span class="emcourse-pending">pending</span> / 10' in out
