"""The course manifest (course.toml, emcourse_grader.course): the real course passes its check;
a notebook removed or added, points that disagree, a check nobody registers, a checks module
that does not exist and a malformed manifest each fail, with a message naming the file and
what is wrong. The broken courses are temporary copies of the real one.

Also what reads the manifest: the table in docs/teaching.md is the one it writes, the demo
class covers exactly its assignments, the site's navigation lists its lectures in order, and
`make course` refuses a step that does not exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emcourse_grader import checks
from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import course as course_script  # scripts/course.py: `make course`
import demo_class


@pytest.fixture
def copy(tmp_path) -> Path:
    """A temporary copy of what the manifest describes: course.toml, lectures/, solutions/,
    assignments/."""
    dest = tmp_path / "course"
    dest.mkdir()
    shutil.copy2(ROOT / manifest.MANIFEST, dest / manifest.MANIFEST)
    for folder in (manifest.LECTURES, manifest.SOURCES, manifest.RELEASES):
        shutil.copytree(ROOT / folder, dest / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def edit_manifest(root: Path, old: str, new: str) -> None:
    path = root / manifest.MANIFEST
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in course.toml"
    path.write_text(text.replace(old, new))


def problems(root: Path) -> str:
    with pytest.raises(manifest.ManifestError) as info:
        manifest.check(root)
    return str(info.value)


def edit_cell(notebook: Path, grade_id: str, **changes) -> None:
    """Change one cell of a notebook: its ``source`` or its nbgrader ``points``."""
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                == grade_id)
    if "source" in changes:
        cell["source"] = changes["source"]
    if "points" in changes:
        cell["metadata"]["nbgrader"]["points"] = changes["points"]
    notebook.write_text(json.dumps(nb, indent=1))


# ---- the real course ---------------------------------------------------------------------------

def test_the_course_passes_its_check():
    course = manifest.check(ROOT)
    assert course.id == "emcourse"
    assert sorted(a.id for a in course.assignments) == sorted(
        p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    assert [lec.id for lec in course.lectures] == sorted(
        p.stem for p in (ROOT / "lectures").glob("*.ipynb"))
    hw1 = course.assignment("hw1")
    assert (hw1.notebook, hw1.auto_points, hw1.manual_points) == ("hw1_kmeans", 90, 10)
    assert hw1.parts["test_fit"] == ("kmeans.fit",)


def test_the_grader_imports_the_checks_the_manifest_names():
    named = {name for a in manifest.load(ROOT).assignments for part in a.parts.values()
             for name in part}
    assert named == set(checks.CHECKS)
    modules = {a.checks for a in manifest.load(ROOT).assignments}
    assert {c.run.__module__ for c in checks.CHECKS.values()} == modules


def test_checking_another_course_leaves_the_graders_registry_as_it_was(copy):
    before = dict(checks.CHECKS)
    module = sys.modules["emcourse_grader.checks.hw1_kmeans"]
    path = list(sys.path)
    manifest.check(copy)
    assert checks.CHECKS == before
    assert all(checks.CHECKS[name] is before[name] for name in before)
    assert sys.modules["emcourse_grader.checks.hw1_kmeans"] is module
    assert sys.path == path


def test_the_copy_passes_before_it_is_broken(copy):
    assert [a.id for a in manifest.check(copy).assignments] == \
        [a.id for a in manifest.load(ROOT).assignments]


# ---- missing and extra notebooks ------------------------------------------------------------

def test_a_removed_lecture_is_an_error(copy):
    (copy / "lectures" / "04_general_em.ipynb").unlink()
    msg = problems(copy)
    assert f"{copy / 'lectures' / '04_general_em.ipynb'}: missing" in msg, msg
    assert "course.toml names it" in msg


def test_a_lecture_not_in_the_manifest_is_an_error(copy):
    shutil.copy2(copy / "lectures" / "01_kmeans.ipynb", copy / "lectures" / "11_extra.ipynb")
    msg = problems(copy)
    assert f"{copy / 'lectures' / '11_extra.ipynb'}: not in {copy / 'course.toml'}" in msg, msg


def test_a_removed_solution_is_an_error(copy):
    shutil.rmtree(copy / "solutions" / "hw2")
    msg = problems(copy)
    assert f"{copy / 'solutions' / 'hw2' / 'hw2_gmm.ipynb'}: missing" in msg, msg


def test_a_missing_release_says_how_to_make_it(copy):
    (copy / "assignments" / "hw3" / "hw3_hmm.ipynb").unlink()
    msg = problems(copy)
    assert f"{copy / 'assignments' / 'hw3' / 'hw3_hmm.ipynb'}: missing" in msg, msg
    assert "nbgrader generate_assignment hw3" in msg


def test_an_assignment_not_in_the_manifest_is_an_error(copy):
    (copy / "solutions" / "hw4").mkdir()
    shutil.copy2(copy / "solutions" / "hw1" / "hw1_kmeans.ipynb",
                 copy / "solutions" / "hw4" / "hw4_more.ipynb")
    msg = problems(copy)
    assert f"{copy / 'solutions' / 'hw4' / 'hw4_more.ipynb'}: not in" in msg, msg


def test_a_second_notebook_in_an_assignment_is_an_error(copy):
    shutil.copy2(copy / "solutions" / "hw1" / "hw1_kmeans.ipynb",
                 copy / "solutions" / "hw1" / "hw1_extra.ipynb")
    msg = problems(copy)
    assert f"{copy / 'solutions' / 'hw1' / 'hw1_extra.ipynb'}: not in" in msg, msg


def test_an_empty_assignment_folder_is_an_error(copy):
    (copy / "assignments" / "hw9").mkdir()
    msg = problems(copy)
    assert f"{copy / 'assignments' / 'hw9'}: a folder of no assignment" in msg, msg


# ---- points and parts -----------------------------------------------------------------------

def test_points_that_disagree_with_the_solution_are_an_error(copy):
    edit_manifest(copy, "points = { auto = 85, manual = 15 }", "points = { auto = 85, manual = 5 }")
    msg = problems(copy)
    assert "assignment hw2: points = { auto = 85, manual = 5 }" in msg, msg
    assert f"the grade cells of {copy / 'solutions' / 'hw2' / 'hw2_gmm.ipynb'} give auto = 85, " \
           f"manual = 15" in msg


def test_a_grade_cell_changed_in_the_solution_is_an_error(copy):
    edit_cell(copy / "solutions" / "hw1" / "hw1_kmeans.ipynb", "test_fit", points=30)
    msg = problems(copy)
    assert "give auto = 95, manual = 10" in msg, msg


def test_a_test_cell_missing_from_the_parts_is_an_error(copy):
    edit_manifest(copy, 'test_viterbi = ["hmm.viterbi"]\n', "")
    msg = problems(copy)
    assert "assignment hw3: the test cell 'test_viterbi'" in msg and "not among its parts" in msg


def test_a_part_that_is_no_test_cell_is_an_error(copy):
    edit_manifest(copy, 'test_fit = ["kmeans.fit"]\n',
                  'test_fit = ["kmeans.fit"]\ntest_predict = ["kmeans.fit"]\n')
    msg = problems(copy)
    assert "assignment hw1: part 'test_predict' is not a test cell" in msg, msg


def test_an_unknown_check_in_the_manifest_is_an_error(copy):
    edit_manifest(copy, 'test_update = ["kmeans.update"]', 'test_update = ["kmeans.updaet"]')
    msg = problems(copy)
    assert "part 'test_update' lists the checks ['kmeans.updaet'], but its test cell" in msg, msg
    assert "calls ['kmeans.update']" in msg
    assert "uses the check 'kmeans.updaet', which no checks module of the course registers" \
           in msg


def test_a_hidden_test_calling_an_unregistered_check_is_an_error(copy):
    notebook = copy / "solutions" / "hw1" / "hw1_kmeans.ipynb"
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_assign")
    source = "".join(cell["source"]).replace('require("kmeans.assign"', 'require("kmeans.asign"')
    edit_cell(notebook, "test_assign", source=source)
    edit_manifest(copy, 'test_assign = ["kmeans.assign"]', 'test_assign = ["kmeans.asign"]')
    msg = problems(copy)
    assert "uses the check 'kmeans.asign', which no checks module of the course registers " \
           "(expected in emcourse_grader.checks.hw1_kmeans)" in msg, msg


def test_a_check_of_an_assignment_the_course_dropped_is_not_registered(copy):
    # hw3's module stays installed, but the course no longer names it: its checks are not
    # the course's (the grader, importing only the manifest's modules, would not have them)
    edit_manifest(copy, 'checks = "emcourse_grader.checks.hw3_hmm"',
                  'checks = "emcourse_grader.checks.hw1_kmeans"')
    msg = problems(copy)
    assert "uses the check 'hmm.forward', which no checks module of the course registers" \
           in msg, msg


def test_a_missing_checks_module_is_an_error(copy):
    edit_manifest(copy, 'checks = "emcourse_grader.checks.hw2_gmm"',
                  'checks = "emcourse_grader.checks.hw2_gmmm"')
    msg = problems(copy)
    assert f"{copy / 'course.toml'}: assignment hw2: its checks module " \
           f"'emcourse_grader.checks.hw2_gmmm' cannot be imported" in msg, msg


def test_a_checks_module_that_fails_on_import_is_an_error(copy):
    (copy / "broken_checks.py").write_text("raise RuntimeError('half written')\n")
    edit_manifest(copy, 'checks = "emcourse_grader.checks.hw2_gmm"',
                  'checks = "broken_checks"')
    msg = problems(copy)
    assert "its checks module 'broken_checks' cannot be imported (RuntimeError: half written)" \
           in msg, msg
    assert "broken_checks" not in sys.modules


# ---- the manifest as a file -------------------------------------------------------------------

@pytest.mark.parametrize("old,new,expected", [
    ('title = "The mental picture"', 'titel = "The mental picture"',
     "lecture 8: unknown key 'titel'"),
    ('notebook = "hw2_gmm"\n', "", "assignment hw2: 'notebook' is missing"),
    ('after = "07_hmm_learning"', 'after = "07_hmm_learnin"',
     "assignment hw3: after = '07_hmm_learnin' is not a lecture"),
    ('id = "hw2"', 'id = "hw1"', "two assignments have the id 'hw1'"),
    ("points = { auto = 90, manual = 10 }\nchecks = \"emcourse_grader.checks.hw1_kmeans\"",
     "points = 100\nchecks = \"emcourse_grader.checks.hw1_kmeans\"",
     "assignment hw1: 'points' must be a non-empty dict"),
    ('test_fit = ["kmeans.fit"]', 'test_fit = "kmeans.fit"',
     "assignment hw1: part 'test_fit' must list check names"),
    ('id = "emcourse"', 'id = "emcourse', "not valid TOML"),
])
def test_a_malformed_manifest_is_an_error(copy, old, new, expected):
    edit_manifest(copy, old, new)
    with pytest.raises(manifest.ManifestError) as info:
        manifest.load(copy)
    assert str(copy / "course.toml") in str(info.value)
    assert expected in str(info.value), str(info.value)


def test_a_course_without_a_manifest_is_an_error(copy):
    (copy / "course.toml").unlink()
    with pytest.raises(manifest.ManifestError, match="the course manifest is missing"):
        manifest.load(copy)


def test_the_course_is_found_from_below_its_root_or_by_the_environment(copy, monkeypatch):
    monkeypatch.delenv(manifest.ENV, raising=False)
    assert manifest.find_root(copy / "solutions" / "hw1") == copy.resolve()
    monkeypatch.setenv(manifest.ENV, str(ROOT))
    assert manifest.find_root(copy / "solutions" / "hw1") == ROOT


# ---- what reads it ------------------------------------------------------------------------------

def test_the_table_in_the_teaching_guide_is_the_manifests():
    text = course_script.TEACHING.read_text(encoding="utf-8")
    assert course_script.teaching_with_table(text, manifest.load(ROOT)) == text, (
        "docs/teaching.md's table of assignments is not course.toml's: run "
        "`python scripts/course.py docs` and commit docs/teaching.md")


def test_the_readme_lists_the_manifests_lectures_in_its_order():
    text = course_script.README.read_text(encoding="utf-8")
    assert course_script.readme_with_lectures(text, manifest.load(ROOT)) == text, (
        "README.md's list of lectures is not course.toml's: run "
        "`python scripts/course.py docs` and commit README.md")
    import re

    section = text.split("## The lectures", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^(\d+)\. `([^`]+)`", section, re.MULTILINE)
    assert [lid for _, lid in listed] == [lec.id for lec in manifest.load(ROOT).lectures]


def test_the_readme_list_follows_the_manifest(copy):
    """A lecture added to course.toml is in README's list after `course.py docs`, numbered."""
    with open(copy / "course.toml", "a", encoding="utf-8") as f:
        f.write('\n[[lectures]]\nid = "99_extra"\ntitle = "An extra lecture"\n'
                'summary = "added by a test."\n')
    course = manifest.load(copy)
    text = course_script.README.read_text(encoding="utf-8")
    new = course_script.readme_with_lectures(text, course)
    n = len(course.lectures)
    assert f"{n}. `99_extra`, **An extra lecture**: added by a test." in new
    assert course_script.readme_with_lectures(new, manifest.load(ROOT)) == text


def test_the_teaching_guide_table_follows_the_manifest(copy):
    edit_manifest(copy, "k-means: `assign`, `update`", "k-means, renamed: `assign`, `update`")
    text = course_script.TEACHING.read_text(encoding="utf-8")
    new = course_script.teaching_with_table(text, manifest.load(copy))
    assert "| `hw1` | `hw1_kmeans.ipynb` | 100 (10 by hand) | k-means, renamed:" in new
    assert "| 100 (10 by hand) | k-means: `assign`" not in new  # the old row is gone
    assert new.replace("k-means, renamed:", "k-means:") == text  # and nothing else changed


def test_the_site_lists_the_lectures_of_the_manifest_in_order():
    course = manifest.load(ROOT)
    chapters = course_script.toc(course)["parts"][0]["chapters"]
    assert [c["file"] for c in chapters] == [f"lectures/{lec.id}" for lec in course.lectures]
    lines = course_script.syllabus(course)["lectures"].splitlines()
    assert lines[0].startswith("1. [k-means as a two-step process](lectures/01_kmeans.ipynb): ")
    assert len(lines) == len(course.lectures)
    rows = course_script.syllabus(course)["assignments"].splitlines()[2:]
    assert rows[2] == ("| Homework 3: hidden Markov models, forward–backward and Baum–Welch | 7 "
                       "| 100 (10 by hand) | {download}`hw3_hmm.ipynb <assignments/hw3/hw3_hmm.ipynb>` |")


def test_the_demo_class_is_the_manifests():
    assert demo_class.ASSIGNMENTS == {a.id: a.notebook for a in manifest.load(ROOT).assignments}
    assert set(demo_class.EXPECTED) == set(demo_class.ASSIGNMENTS)
    for a in manifest.load(ROOT).assignments:  # the solution gets every automatic point
        assert demo_class.EXPECTED[a.id]["ada"] == a.auto_points


def test_a_demo_class_naming_an_assignment_the_course_lacks_is_an_error(monkeypatch):
    monkeypatch.setitem(demo_class.DEMO_CLASS, "naive", {**demo_class.DEMO_CLASS["naive"],
                                                         "hw9": "naive.py"})
    with pytest.raises(ValueError, match=r"DEMO_CLASS\['naive'\] names 'hw9', which .*course"
                                         r"\.toml does not list"):
        demo_class.check_demo_class()


def test_a_demo_student_without_an_expected_score_is_an_error(monkeypatch):
    monkeypatch.setitem(demo_class.EXPECTED, "hw2", {k: v for k, v in
                                                     demo_class.EXPECTED["hw2"].items()
                                                     if k != "naive"})
    with pytest.raises(ValueError, match="naive hands in hw2 but has no expected score"):
        demo_class.check_demo_class()


def test_make_course_refuses_a_step_that_does_not_exist():
    with pytest.raises(SystemExit, match="no step 'build_site'"):
        course_script.main(["check", "build_site"])


def test_importing_the_checks_reads_no_file(tmp_path):
    """No work at import: importing the checks (and the preprocessors that use them) opens no
    course.toml; the registry's first use is what reads the manifest."""
    code = ("import sys\nopened = []\n"
            "sys.addaudithook(lambda ev, args: opened.append(str(args[0])) if ev == 'open' "
            "and str(args[0]).endswith('course.toml') else None)\n"
            "import emcourse_grader.checks as c, emcourse_grader.preprocessors\n"
            "print(len(opened))\nprint(len(c.CHECKS) > 0, len(opened) > 0)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["0", "True True"], res.stdout
