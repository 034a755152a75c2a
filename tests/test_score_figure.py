"""The grading summary's picture and page (emcourse_grader.score_figure, run_summary):
counts checked against a hand count, the SVG and the page parsed, student text escaped,
colours against WCAG's contrast formula, and no plotting library imported."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from emcourse_grader import score_figure

SVG = "{http://www.w3.org/2000/svg}"
TABLE = {"ada": {"assign": 10.0, "fit": 0.0}, "bob": {"assign": 5.0, "fit": None},
         "cy": {"assign": 5.5, "fit": 20.0}, "dee": {"assign": 9.99, "fit": 20.0},
         "eve": {"assign": 0.0, "fit": 7.0}}
TOP = {"assign": 10.0, "fit": 20.0}


def _totals(table):
    return {s: {**row, "total": sum(v or 0 for v in row.values())} for s, row in table.items()}


def _bars(svg: str) -> dict:
    """part -> {(low, high): count} read back from the bars' titles."""
    root = ET.fromstring(svg)
    out = {}
    for group in root.iter(f"{SVG}g"):
        label = group.get("aria-label")
        if not label:
            continue
        part = label.split(":")[0]
        for rect in group.iter(f"{SVG}rect"):
            m = re.fullmatch(r"(\d+) students?: ([\d.]+) to ([\d.]+) points",
                             rect.find(f"{SVG}title").text)
            out.setdefault(part, {})[float(m[2]), float(m[3])] = int(m[1])
    return out


def test_each_bar_counts_the_students_in_its_range():
    table = _totals(TABLE)
    top = {**TOP, "total": 30.0}
    bars = _bars(score_figure.render_svg("hw1", ["assign", "fit", "total"], top, table))
    # by hand: assign has one bin per point; 10 falls in the last, closed, bin
    assign = {k: v for k, v in bars["assign"].items() if v}
    assert assign == {(0, 1): 1, (5, 6): 2, (9, 10): 2}
    assert sum(bars["assign"].values()) == 5 and len(bars["assign"]) == 10
    # fit: 10 bins of 2 points; a missing score counts as 0
    fit = {k: v for k, v in bars["fit"].items() if v}
    assert fit == {(0, 2): 2, (6, 8): 1, (18, 20): 2}
    # totals 10, 5, 25.5, 29.99, 7 in bins of 3 points
    total = {k: v for k, v in bars["total"].items() if v}
    assert total == {(3, 6): 1, (6, 9): 1, (9, 12): 1, (24, 27): 1, (27, 30): 1}


def test_the_picture_names_itself_and_every_part():
    svg = score_figure.render_svg("hw1", ["assign", "fit", "total"],
                                  {**TOP, "total": 30.0}, _totals(TABLE))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "fig-title fig-desc"
    assert "5 submissions" in root.find(f"{SVG}title").text
    desc = root.find(f"{SVG}desc").text
    assert "assign: mean 6.1 of 10" in desc and "fit: mean 9.4 of 20" in desc


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_the_bars_contrast_with_the_page():
    for colour in (score_figure.BAR, score_figure.TOTAL):
        ratio = (1.0 + 0.05) / (_luminance(colour) + 0.05)
        assert ratio >= 4.5, (colour, ratio)  # 3:1 is WCAG's floor for graphics


def test_the_page_escapes_what_students_wrote(tmp_path):
    from emcourse_grader import run_summary

    evil = '<img src=x onerror="alert(1)">'
    table = _totals({evil: {"assign": 3.0, "fit": 1.0}, "bob": {"assign": 1.0, "fit": 2.0}})
    spec = {"name": "hw1", "notebooks": [{"grade_cells": [
        {"name": "assign", "max_score": 10.0}, {"name": "fit", "max_score": 20.0}]}]}
    app = SimpleNamespace(coursedir=SimpleNamespace(
        root=str(tmp_path), db_url=f"sqlite:///{tmp_path / 'gradebook.db'}"))
    run = SimpleNamespace(graded=[], skipped=[], seconds=1.0, workers=2,
                          failed=[SimpleNamespace(student=evil, reason=evil)])
    rows = [{"student": evil, "part": "assign", "reason": "<script>x()</script>",
             "detail": "=HYPERLINK()"}]
    figure, page = run_summary.write_summary(app, spec, ["assign", "fit"], table, rows, run)
    html = page.read_text()
    assert "<img src=x" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert figure.name == "hw1.svg" and html.count("<svg") == 1
    ET.fromstring(figure.read_text())  # well-formed on its own


def test_drawing_the_summary_imports_no_plotting_library(tmp_path):
    code = ("import sys; from emcourse_grader import score_figure; "
            "score_figure.render_svg('hw1', ['a', 'total'], {'a': 5, 'total': 5}, "
            "{'x': {'a': 2, 'total': 2}}); print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "False"
