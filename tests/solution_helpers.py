"""The solution notebooks' own functions, for the test modules that judge answers with them
(test_checks, test_check_secrecy). Test modules import nothing from each other
(tests/test_emref_hygiene.py checks it): what they share lives here."""

from pathlib import Path

import nbformat

from emcourse_grader import course as manifest
from emcourse_grader.checks import CHECKS

ROOT = Path(__file__).resolve().parent.parent
# The solution notebook of every assignment of the manifest (course.toml).
NOTEBOOKS = {a.id: ROOT / a.solution for a in manifest.load(ROOT).assignments}


def notebook_cells(hw):
    return nbformat.read(NOTEBOOKS[hw], as_version=4).cells


def _run_notebook(hw) -> dict:
    """The namespace of a solution notebook after every code cell but the test cells."""
    ns: dict = {}
    for cell in notebook_cells(hw):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        code = compile(cell.source, f"<{hw} {cell.metadata['nbgrader']['grade_id']}>", "exec")
        exec(code, ns)  # noqa: S102 - the course's own notebooks
    return ns


NS = {hw: _run_notebook(hw) for hw in NOTEBOOKS}


def solution(check):
    spec = CHECKS[check]
    return NS[spec.assignment][spec.function]
