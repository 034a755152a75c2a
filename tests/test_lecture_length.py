"""Every lecture in course.toml can be read in about 50 minutes.

The estimate (docs: the lecture rules of issue 24): minutes = prose words / 120 + code lines / 8
+ 1 per figure, where prose words are the whitespace-separated words of the Markdown cells,
code lines the non-blank lines of the code cells, and figures the PNG images among the stored
outputs. The aim is at most 50 minutes; the test fails above 55.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emcourse_grader import course

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MINUTES = 55
WORDS_PER_MINUTE, CODE_LINES_PER_MINUTE, MINUTES_PER_FIGURE = 120, 8, 1


def reading_minutes(notebook: dict) -> tuple[float, int, int, int]:
    """Estimated reading time of a notebook.

    Parameters
    ----------
    notebook : dict
        The notebook's JSON (nbformat 4).

    Returns
    -------
    tuple of (float, int, int, int)
        Minutes, prose words, code lines and figures.
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise TypeError(f"notebook must be a notebook's JSON with a list of cells; found "
                        f"{type(notebook).__name__}")
    words = code = figures = 0
    for cell in notebook["cells"]:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            words += len(source.split())
        elif cell.get("cell_type") == "code":
            code += sum(1 for line in source.splitlines() if line.strip())
            figures += sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    minutes = (words / WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE
               + figures * MINUTES_PER_FIGURE)
    return minutes, words, code, figures


def _cell(kind: str, source: str, n_images: int = 0) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                            "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<figure>"}}
                           for _ in range(n_images)]
    return cell


def test_the_estimate_counts_words_code_lines_and_figures():
    notebook = {"cells": [
        _cell("markdown", "one two three\nfour  five\n\n"),             # 5 words
        _cell("code", "x = 1\n\n   \ny = 2\n", n_images=2),            # 2 lines, 2 figures
        _cell("raw", "not counted at all"),
    ]}
    minutes, words, code, figures = reading_minutes(notebook)
    assert (words, code, figures) == (5, 2, 2)
    assert minutes == pytest.approx(5 / 120 + 2 / 8 + 2)


def test_a_long_notebook_is_over_the_limit():
    long = {"cells": [_cell("markdown", "word " * (120 * 50)), _cell("code", "x = 1\n" * 80)]}
    assert reading_minutes(long)[0] == pytest.approx(60)
    assert reading_minutes(long)[0] > LIMIT_MINUTES


def test_bad_input_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="notebook must be"):
        reading_minutes(["not", "a", "notebook"])


LECTURES = [lecture.id for lecture in course.load(ROOT).lectures]


@pytest.mark.parametrize("lecture_id", LECTURES)
def test_lecture_reads_in_about_50_minutes(lecture_id):
    path = ROOT / course.LECTURES / f"{lecture_id}.ipynb"
    minutes, words, code, figures = reading_minutes(json.loads(path.read_text()))
    assert minutes <= LIMIT_MINUTES, (
        f"{path.name}: about {minutes:.0f} minutes to read ({words} words of prose, {code} "
        f"lines of code, {figures} figures); the limit is {LIMIT_MINUTES}, the aim 50")
