"""The whole grading round trip, in a temporary copy of the course, with exact scores.

release -> fetch -> submit -> collect -> autograde -> generate_feedback -> export, through
a temporary nbgrader exchange, for a class of simulated students (scripts/demo_class.py):
the full solution gets every automatic point, the blank notebook 0, a known partial
submission its known score, an endless loop 0 without stopping the run, a correct answer
that prints warnings full marks; written answers wait for a human.

The round trip runs once per test session (about two minutes on two cores) and is shared
with tests/test_assignments.py through :func:`class_run`.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = list(demo_class.ASSIGNMENTS)
# Everyone but the cheater (emref's implementation is absent from the sandbox: the red-team
# corpus covers every way of reaching it); hw3 only for the full, blank and partial
# students, to keep the round trip short.
ROSTER = {name: {hw: r for hw, r in plan.items() if hw != "hw3" or name in
                 ("ada", "blank", "partial")}
          for name, plan in demo_class.DEMO_CLASS.items() if name != "cheater"}


def submitters(hw):
    return [s for s, plan in ROSTER.items() if plan.get(hw)]


@functools.cache
def class_run() -> demo_class.ClassResult:
    """Run the class once per process, in a temporary copy of the course."""
    tmp = Path(tempfile.mkdtemp(prefix="emcourse-roundtrip-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    course = demo_class.copy_course(tmp / "course", assignments=HW)
    return demo_class.run_class(course, students=ROSTER, log=lambda *a: None)


@pytest.fixture(scope="session")
def result():
    return class_run()


def auto_max(result, hw):
    """The automatic points of an assignment, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{result.course / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(hw)
        return sum(c.max_score for nb in assignment.notebooks for c in nb.grade_cells
                   if c.cell_type == "code")


@pytest.mark.parametrize("hw", HW)
def test_full_solution_gets_every_automatic_point(result, hw):
    assert auto_max(result, hw) == demo_class.EXPECTED[hw]["ada"]
    assert result.score(hw, "ada") == demo_class.EXPECTED[hw]["ada"]


@pytest.mark.parametrize("hw", HW)
def test_blank_notebook_scores_zero(result, hw):
    assert result.score(hw, "blank") == 0


@pytest.mark.parametrize("hw", HW)
def test_known_partial_submission_gets_its_known_score(result, hw):
    assert result.score(hw, "partial") == demo_class.EXPECTED[hw]["partial"]


@pytest.mark.parametrize("hw", HW)
def test_every_student_gets_the_expected_score(result, hw):
    got = {s: result.score(hw, s) for s in submitters(hw)}
    assert got == {s: demo_class.EXPECTED[hw][s] for s in submitters(hw)}


def test_endless_loop_scores_zero_and_the_run_goes_on(result):
    assert result.score("hw1", "looper") == 0
    nb = result.course / "autograded" / "looper" / "hw1" / "hw1_kmeans.ipynb"
    import nbformat

    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(nb, 4).cells
             if "nbgrader" in c.metadata}
    # the test cell's outputs are the verdict alone: the call that never returned, named
    errors = [o.evalue for o in cells["test_assign"].outputs if o.output_type == "error"]
    assert len(errors) == 1 and "assign did not return" in errors[0], errors
    # the cells after the loop still ran, each judged on its own
    later = [o.evalue for o in cells["test_update"].outputs if o.output_type == "error"]
    assert len(later) == 1 and later[0].startswith("NotImplementedError"), later


@pytest.mark.parametrize("hw", [hw for hw in HW if "warner" in submitters(hw)])
def test_warnings_on_stderr_do_not_cost_points(result, hw):
    assert result.score(hw, "warner") == demo_class.EXPECTED[hw]["ada"]


@pytest.mark.parametrize("hw", HW)
def test_written_answers_wait_for_manual_grading(result, hw):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{result.course / 'gradebook.db'}") as gb:
        notebook = demo_class.ASSIGNMENTS[hw]
        manual = {c.name for nb in gb.find_assignment(hw).notebooks for c in nb.grade_cells
                  if c.cell_type == "markdown"}
        assert manual, "each assignment has a written answer"
        for cell in manual:
            answered = gb.find_grade(cell, notebook, hw, "ada")
            assert answered.needs_manual_grade and answered.auto_score is None
            # an untouched answer cell is 0 at once (nothing to read)
            untouched = gb.find_grade(cell, notebook, hw, "blank")
            assert not untouched.needs_manual_grade and untouched.score == 0
        assert gb.find_submission_notebook(notebook, hw, "ada").needs_manual_grade


@pytest.mark.parametrize("hw", HW)
def test_feedback_exists_and_hides_the_hidden_tests(result, hw):
    notebook = demo_class.ASSIGNMENTS[hw]
    for student in submitters(hw):
        html = (result.feedback / student / hw / f"{notebook}.html").read_text()
        assert "HIDDEN TESTS" not in html and "require(" not in html, student
    if "naive" in submitters(hw):
        # a failed hidden check reaches the student as its message
        html = (result.feedback / "naive" / hw / f"{notebook}.html").read_text()
        assert "log-sum-exp" in html


def test_grades_csv_has_every_student_and_assignment(result):
    pairs = {(r["assignment"], r["student_id"]) for r in result.grades}
    assert pairs == {(hw, s) for hw in HW for s in ROSTER}
    assert all(float(r["max_score"]) == 100 for r in result.grades)
