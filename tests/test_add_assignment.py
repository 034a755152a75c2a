"""Adding an assignment is what docs/teaching.md ("Adding an assignment") says, end to end.

In a temporary copy of the course, a throwaway hw4 is added exactly as the recipe says: its
folder in solutions/ (one notebook, one autograded part whose hidden test calls
``require("hw4.double", double)``), its checks module (one of the course's own,
``course_checks/hw4_double.py`` in the course root, registering ``hw4.double``) and its entry in
course.toml; then ``nbgrader generate_assignment``. Nothing else is edited: not the grader,
not its checks registry, not the demo class.

Then the real class flow (scripts/demo_class.run_class: release, fetch, submit, collect,
``nbgrader autograde``, ``generate_feedback``, ``export``) for a student with the right
function and one whose function passes the visible test but not the hidden check, and again
with the parallel grader (``python -m emcourse_grader grade hw4``), as `make course` grades:
the right one gets the part's points, the wrong one 0 with the check's own message in the
feedback. A grader that did not find the course's checks module would give both 0 (``there is
no check named 'hw4.double'``).
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import documented_counts

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import course as course_script  # scripts/course.py: `python scripts/course.py docs`
import demo_class

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("EMCOURSE_UNSANDBOXED") != "1",
    reason="grading needs bubblewrap (make installs it)")

HW, NOTEBOOK, POINTS = "hw4", "hw4_double", 10

# 1. The assignment's folder in solutions/: the instructor's notebook.
ANSWER = '''def double(x):
    """Twice x (a number or a numpy array)."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION'''
TEST = '''assert double(2) == 4, f"double(2) should be 4; got {double(2)}"
### BEGIN HIDDEN TESTS
from emcourse_grader.checks import require
require("hw4.double", double)
### END HIDDEN TESTS'''

# 2. Its checks module, a module of the course's own (the course root is on the grader's path).
CHECKS = '''"""hw4: the check of ``double`` (a throwaway assignment of tests/test_add_assignment.py)."""

import numpy as np

from emcourse_grader.checks import Fail, register


@register("hw4.double", function="double", assignment="hw4")
def check_double(fn, rng):
    x = rng.normal(size=7)
    got = np.asarray(fn(x.copy()), dtype=float)
    if got.shape != x.shape or not np.allclose(got, 2 * x):
        raise Fail("`double` does not return twice its argument on random arrays")
'''

# 3. Its entry in course.toml.
ENTRY = f'''
[[assignments]]
id = "{HW}"
notebook = "{NOTEBOOK}"
title = "Homework 4: doubling"
after = "11_missing_data"
summary = "`double`, a throwaway assignment"
points = {{ auto = {POINTS}, manual = 0 }}
checks = "course_checks.hw4_double"

[assignments.parts]
test_double = ["hw4.double"]
'''

# The students: the right function, and one that passes the visible test only (2 * 2 == 2 ** 2).
WRONG = """# %% double
def double(x):
    return x * x
"""


def _cell(kind, source, **nbgrader):
    cell = (nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell)(
        source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False,
                                     "task": False, "schema_version": 3, **nbgrader}
        cell.id = nbgrader["grade_id"].replace("_", "-")
    return cell


def add_hw4(course: Path) -> None:
    """The recipe, steps 1-3."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [
        _cell("markdown", f"# Homework 4: doubling\n\n*{POINTS} points: `double`.*",
              grade_id="intro", locked=True),
        _cell("code", "import numpy as np", grade_id="imports", locked=True),
        _cell("code", ANSWER, grade_id="double", solution=True),
        _cell("code", TEST, grade_id="test_double", grade=True, locked=True, points=POINTS),
    ]
    (course / "solutions" / HW).mkdir()
    nbformat.write(nb, course / "solutions" / HW / f"{NOTEBOOK}.ipynb")
    (course / "course_checks").mkdir()
    (course / "course_checks" / "__init__.py").write_text('"""The course\'s own checks."""\n')
    (course / "course_checks" / "hw4_double.py").write_text(CHECKS)
    with open(course / manifest.MANIFEST, "a", encoding="utf-8") as f:
        f.write(ENTRY)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the whole course (the lectures too, so that its manifest check can pass)
    with hw4 added and its release generated."""
    course = demo_class.copy_course(tmp_path_factory.mktemp("add") / "course")
    shutil.copytree(ROOT / "lectures", course / "lectures")
    add_hw4(course)
    return course


def test_the_manifest_check_wants_the_release_then_passes(course):
    with pytest.raises(manifest.ManifestError, match="nbgrader generate_assignment hw4"):
        manifest.check(course)
    # step 4 of the recipe: run_class does it, for every assignment of the manifest
    demo_class.nbgrader(course, "generate_assignment", "*", "--force", log=lambda *a: None)
    checked = manifest.check(course)
    assert checked.assignment(HW).parts == {"test_double": ("hw4.double",)}


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
            and "__pycache__" not in p.parts and p.name not in ("gradebook.db", ".nbgrader.log")}


def test_the_docs_count_the_files_the_recipe_touches(tmp_path):
    """Steps 1-3 written, then the release generated, in a fresh copy: the files that
    changed, and the teaching guide's table that `python scripts/course.py docs` rewrites."""
    fresh = demo_class.copy_course(tmp_path / "course")
    before = _files(fresh)
    add_hw4(fresh)
    demo_class.nbgrader(fresh, "generate_assignment", HW, "--force", log=lambda *a: None)
    after = _files(fresh)
    changed = sorted(p for p in after if before.get(p) != after[p])
    teaching = ROOT / "docs" / "teaching.md"
    table = course_script.teaching_with_table(teaching.read_text(), manifest.load(fresh))
    generated = [p for p in changed if p.startswith(f"{manifest.RELEASES}/")] + \
        (["docs/teaching.md"] if table != teaching.read_text() else [])
    # the first checks module of the course's own package brings its __init__.py
    written = [p for p in changed if p not in generated and p != "course_checks/__init__.py"]
    assert written == ["course.toml", "course_checks/hw4_double.py",
                       f"solutions/{HW}/{NOTEBOOK}.ipynb"]
    assert generated == [f"assignments/{HW}/{NOTEBOOK}.ipynb", "docs/teaching.md"]
    for doc in ("teaching.md", "emref_reference.md"):
        assert documented_counts(ROOT / "docs" / doc, "an assignment") == \
            (len(written), len(generated))


@pytest.fixture(scope="module")
def graded(course):
    """The class, graded by nbgrader autograde."""
    wrong = course.parent / "wrong.py"
    wrong.write_text(WRONG)
    students = {"right": {HW: "solution"}, "wrong": {HW: str(wrong)}}
    return demo_class.run_class(course, students=students, assignments=[HW],
                                log=lambda *a: None)


def test_the_right_function_gets_the_points_and_the_wrong_one_zero(graded):
    assert graded.score(HW, "right") == POINTS
    assert graded.score(HW, "wrong") == 0


def test_the_wrong_one_is_told_what_the_courses_check_says(graded):
    html = (graded.feedback / "wrong" / HW / f"{NOTEBOOK}.html").read_text()
    assert "does not return twice its argument on random arrays" in html
    assert "HIDDEN TESTS" not in html and "require(" not in html


def test_the_parallel_grader_finds_the_courses_checks_too(graded):
    demo_class.parallel_grade(graded.course, [HW], "--force", workers=1, log=lambda *a: None)
    demo_class.nbgrader(graded.course, "export", "--to=parallel.csv", log=lambda *a: None)
    with open(graded.course / "parallel.csv", newline="") as f:
        scores = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(f)
                  if r["assignment"] == HW}
    assert scores == {"right": POINTS, "wrong": 0}
