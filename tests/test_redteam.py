"""The red-team corpus, through the real grading of one simulated class.

Every attack in tests/redteam/attacks/ and every honest variant in tests/redteam/honest/ is
written once and handed in for *every* assignment (one student per file: ``rt_<attack>``,
``hv_<variant>``), next to the demo class's honest students (scripts/demo_class.py). One class
run per session, in a temporary copy of the course: release, fetch, submit, collect, grade,
``generate_feedback``, ``export`` (scripts/demo_class.run_class).

The grading is ``python -m emcourse_grader grade hw1 hw2 ...`` (every assignment in one
queue) on two local Dask workers, each of which runs nbgrader's own Autograde (the same
preprocessors, sandbox and verdict as ``nbgrader autograde``) on one submission at a time:
the class takes a third of the serial time on two cores. ``EMCOURSE_REDTEAM_GRADER=nbgrader`` runs the same class through the serial
``nbgrader autograde "*"`` instead (``make redteam-serial``); tests/test_grading_roundtrip.py
runs the serial command on the demo class in every ``make test``.

What must hold (issue 9):

* an attack gets what its header says (``# expect: 0``, or ``full``) and the integrity report
  names it where its header says so (``# flag: <words>``, ``a | b`` for either);
* an honest variant gets exactly the solution's automatic points and no report row;
* no submission is lost (each is in the gradebook with a score; the maximum scores are the
  instructor's); the gradebook's instructor tables, solutions/, the releases,
  nbgrader_config.py, the other students' submissions and the virtual environment's
  site-packages are unchanged (hashed before autograde starts and after the class);
* no process of the sandbox user is left running, and none of the escapees;
* nothing secret (gradebook, solutions, hidden tests) reaches a student's notebook or
  feedback; every notebook is graded within its wall-clock budget.

The time limits are shorter than a real class's (AUTOGRADE_ARGS) so that the attacks on time
end quickly; the honest ``slow`` variant shows that they are per call.
"""

from __future__ import annotations

import atexit
import csv
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from emcourse_grader import sandbox

ROOT = Path(__file__).resolve().parent.parent
REDTEAM = ROOT / "tests" / "redteam"
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = list(demo_class.ASSIGNMENTS)
GRADER = os.environ.get("EMCOURSE_REDTEAM_GRADER", "parallel")  # or "nbgrader" (serial)
ATTACKS = sorted(p.stem for p in (REDTEAM / "attacks").glob("*.py"))
HONEST = sorted(p.stem for p in (REDTEAM / "honest").glob("*.py"))
# The demo class's honest students, with their known scores (demo_class.EXPECTED).
DEMO = ("ada", "partial", "warner", "naive")

CELL, CALL, NOTEBOOK = 5, 10, 60  # seconds
AUTOGRADE_ARGS = (f"--TrustedGrade.cell_timeout={CELL}",
                  f"--TrustedGrade.timeout={CALL}",
                  f"--TrustedGrade.notebook_timeout={NOTEBOOK}")
# One notebook's wall clock: its budget, plus nbgrader's own work and a busy machine.
NOTEBOOK_BUDGET = NOTEBOOK + 30
# The uids sandboxes run as (each its own, leased from this range; emcourse_grader.sandbox).
SANDBOX_UIDS = range(sandbox.Limits().uid, sandbox.Limits().uid + sandbox.UID_SPAN)
ESCAPEE = "rt-escapee"  # the name the processes of attacks/escape.py give themselves


def header(kind: str, name: str):
    """(expected score or "full", [flags]) from a corpus file's header."""
    text = (REDTEAM / kind / f"{name}.py").read_text()
    found = re.search(r"^# expect: (\S+)$", text, re.MULTILINE)
    expect = found.group(1) if found else "full"
    return (expect if expect == "full" else float(expect),
            re.findall(r"^# flag: (.+)$", text, re.MULTILINE))


def roster() -> dict:
    # The demo students hand in what demo_class plans for them (an assignment added to the
    # manifest without plans has only the red-team's submissions).
    students = {name: {hw: plan for hw, plan in demo_class.DEMO_CLASS[name].items() if hw in HW}
                for name in DEMO}
    for kind, prefix, names in (("attacks", "rt_", ATTACKS), ("honest", "hv_", HONEST)):
        for name in names:
            students[prefix + name] = {hw: str(REDTEAM / kind / f"{name}.py") for hw in HW}
    return students


# --------------------------------------------------------------------------------------------
# What must not change: hashed before autograde and after the class
# --------------------------------------------------------------------------------------------

INSTRUCTOR_TABLES = ("course", "assignment", "notebook", "base_cell", "grade_cells",
                     "solution_cells", "task_cells", "source_cell")


def _tree_hash(*paths: Path, skip=()) -> dict:
    out = {}
    for top in paths:
        if top.is_file():
            out[str(top)] = hashlib.sha256(top.read_bytes()).hexdigest()
            continue
        for dirpath, _, files in os.walk(top):
            for name in files:
                p = Path(dirpath) / name
                if not any(s in p.parts for s in skip):
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _site_packages(tops=None) -> dict:
    """Every file of the environment's site-packages: (size, mtime, owner); .pth and
    *customize.py files also by content."""
    out = {}
    tops = tops or {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    for top in tops:
        for dirpath, _, files in os.walk(top):
            for name in files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                out[p] = (st.st_size, st.st_mtime_ns, st.st_uid)
                if name.endswith((".pth", "customize.py")):
                    out[p] += (hashlib.sha256(Path(p).read_bytes()).hexdigest(),)
    return out


def site_changes(before: dict, after: dict) -> list:
    """Files of site-packages added, removed or changed, except the bytecode caches that a
    grader's own imports may write (new .pyc files not owned by the sandbox's user)."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p)
                  and not (p not in before and p.endswith(".pyc")
                           and after[p][2] not in SANDBOX_UIDS))


def _gradebook_tables(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}")))
                for t in INSTRUCTOR_TABLES}
    finally:
        con.close()


def snapshot(course: Path) -> dict:
    return {
        "course": _tree_hash(course / "solutions", course / "assignments",
                             course / "nbgrader_config.py"),
        "submitted": _tree_hash(course / "submitted", skip=("rt_unreadable",)),
        "gradebook": _gradebook_tables(course / "gradebook.db"),
        "site-packages": _site_packages(),
    }


# --------------------------------------------------------------------------------------------
# Processes of the sandbox user
# --------------------------------------------------------------------------------------------

def _proc(pid: str, what: str) -> str:
    try:
        with open(f"/proc/{pid}/{what}", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _status(pid: str) -> dict:
    out = {}
    for line in _proc(pid, "status").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.split()
    return out


def stray_processes() -> list:
    """Processes of the sandbox user that no grader owns any more (their ancestors are
    sandbox processes, bwrap or init only), and any process named like an escapee."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        status = _status(pid)
        if not status.get("Uid"):
            continue
        cmdline = _proc(pid, "cmdline")
        named = ESCAPEE in cmdline or ESCAPEE in _proc(pid, "comm")
        if int(status["Uid"][0]) not in SANDBOX_UIDS and not named:
            continue
        owned, parent = False, status.get("PPid", ["0"])[0]
        while parent not in ("0", "1"):
            up = _status(parent)
            if not up.get("Uid"):
                break
            if int(up["Uid"][0]) not in SANDBOX_UIDS and _proc(parent, "comm").strip() != "bwrap":
                owned = True  # a live grader (someone's nbgrader or pytest) waits for it
                break
            parent = up.get("PPid", ["0"])[0]
        if named or not owned:
            out.append(f"{pid}: {cmdline[:200]}")
    return out


# --------------------------------------------------------------------------------------------
# The class
# --------------------------------------------------------------------------------------------

@functools.cache
def class_run():
    tmp = Path(tempfile.mkdtemp(prefix="emcourse-redteam-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    course = demo_class.copy_course(tmp / "course", assignments=HW)
    (course / "course_checks").mkdir(exist_ok=True)
    (course / "course_checks" / "__init__.py").write_text(f'"""{CHECKS_MARK}"""\n')
    before, log, marks = {}, [], {}

    def on_log(line):
        log.append(line)
        if line.startswith("-- grading"):  # collected, nothing graded yet
            before.update(snapshot(course))
            marks["autograde"] = time.time()

    result = demo_class.run_class(course, students=roster(), log=on_log,
                                  autograde_args=AUTOGRADE_ARGS, grader=GRADER, workers=2)
    strays = stray_processes()
    report = course / "integrity_report.csv"
    with open(report, newline="") as f:
        rows = list(csv.DictReader(f))
    return {"result": result, "rows": rows, "before": before, "after": snapshot(course),
            "strays": strays, "log": log, "marks": marks}


@pytest.fixture(scope="module")
def run():
    return class_run()


def _rows(rows, student, hw):
    return [r for r in rows if r["student"] == student and r["assignment"] == hw]


def _text(rows) -> str:
    return "\n".join(f"{r['part']}: {r['reason']} ({r['detail']})" for r in rows)


def full_points(run, hw) -> float:
    """The automatic points of an assignment, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{run['result'].course / 'gradebook.db'}") as gb:
        return sum(c.max_score for nb in gb.find_assignment(hw).notebooks
                   for c in nb.grade_cells if c.cell_type == "code")


@pytest.mark.parametrize("hw,attack", [(hw, a) for a in ATTACKS for hw in HW])
def test_attack_earns_nothing_and_is_reported(run, hw, attack):
    expect, flags = header("attacks", attack)
    student = f"rt_{attack}"
    mine = _rows(run["rows"], student, hw)
    text = _text(mine)
    want = full_points(run, hw) if expect == "full" else expect
    assert run["result"].score(hw, student) == want, f"{hw}/{attack}; report:\n{text}"
    for flag in flags:
        assert any(alt.strip().lower() in text.lower() for alt in flag.split(" | ")), \
            f"{hw}/{attack}: no report row says {flag!r}; its rows:\n{text}"


@pytest.mark.parametrize("hw,variant", [(hw, v) for v in HONEST for hw in HW])
def test_honest_variant_keeps_every_point_and_is_not_reported(run, hw, variant):
    student = f"hv_{variant}"
    mine = _rows(run["rows"], student, hw)
    got = run["result"].score(hw, student)
    failed = _failed_tests(run, student, hw)
    assert got == full_points(run, hw), \
        f"{hw}/{variant}: {got:g} of {full_points(run, hw):g}; failed tests:\n{failed}"
    assert not mine, f"{hw}/{variant} is in the integrity report:\n{_text(mine)}"


@pytest.mark.parametrize("hw,student", [(hw, s) for s in DEMO for hw in HW
                                        if hw in demo_class.DEMO_CLASS[s]])
def test_demo_students_keep_their_scores_and_are_not_reported(run, hw, student):
    mine = _rows(run["rows"], student, hw)
    got = run["result"].score(hw, student)
    assert got == demo_class.EXPECTED[hw][student], \
        f"{hw}/{student}: {got:g}; failed tests:\n{_failed_tests(run, student, hw)}"
    assert not mine, f"{hw}/{student} is in the integrity report:\n{_text(mine)}"


def _failed_tests(run, student, hw) -> str:
    import nbformat

    path = (run["result"].course / "autograded" / student / hw
            / f"{demo_class.ASSIGNMENTS[hw]}.ipynb")
    if not path.exists():
        return "(no autograded notebook)"
    out = []
    for cell in nbformat.read(path, as_version=4).cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                out.append(f"  {gid}: {o.get('evalue', '')[:400]}")
    return "\n".join(out)


def test_no_submission_is_lost_and_the_maximum_scores_are_the_instructors(run):
    from nbgrader.api import Gradebook

    result = run["result"]
    with Gradebook(f"sqlite:///{result.course / 'gradebook.db'}") as gb:
        for hw in HW:
            assert full_points(run, hw) == demo_class.EXPECTED[hw]["ada"]
            for student, plan in roster().items():
                if hw not in plan:
                    continue
                sub = gb.find_submission(hw, student)
                assert sub.score is not None, (student, hw)
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        assert grade.manual_score is None, (student, hw, grade.name)
                        assert grade.auto_score is None or \
                            grade.auto_score <= grade.max_score, (student, hw, grade.name)
    exported = {(r["student_id"], r["assignment"]) for r in result.grades}
    missing = {(s, hw) for s in roster() for hw in HW} - exported
    assert not missing, f"not exported: {sorted(missing)}"
    fed_back = {(p.parts[-3], p.parts[-2]) for p in result.feedback.glob("*/*/*.html")}
    assert not ({(s, hw) for s in roster() for hw in HW} - fed_back), "feedback missing"


@pytest.mark.parametrize("what", ["course", "submitted", "gradebook", "site-packages"])
def test_nothing_outside_the_sandbox_changed(run, what):
    before, after = run["before"][what], run["after"][what]
    if what == "gradebook":
        assert before == after, "the gradebook's instructor tables changed"
        return
    changed = site_changes(before, after) if what == "site-packages" else sorted(
        k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"{what} changed: {changed[:20]}"


def test_no_escapee_nor_sandbox_process_is_left(run):
    assert not run["strays"], "\n".join(run["strays"])
    leftovers = list(run["result"].course.rglob("rt-escapee-was-here"))
    assert not leftovers, leftovers


def _outputs(path: Path) -> str:
    """Everything the code cells of a notebook output (not their sources)."""
    nb = json.loads(path.read_text(errors="replace"))
    return json.dumps([c.get("outputs", []) for c in nb.get("cells", [])])


# A course's own checks package (docs/teaching.md, "Adding an assignment"), planted in the
# class's course: nothing in a sandbox may read it.
CHECKS_MARK = "the course's own checks: a red-team marker"

# What a student's outputs and feedback must never carry. The autograded notebooks are the
# instructor's (they hold the hidden tests), so only their outputs are searched; the
# feedback is the student's, searched whole.
SECRETS = ("SQLite format", "BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "from emcourse_grader.checks",
           "CourseDirectory.source_directory", "SNOOPED", "REFERENCE-FOUND", "('found'",
           "CHECKS-FOUND", CHECKS_MARK)


@pytest.mark.parametrize("student", ["rt_intruder", "rt_reference", "rt_links", "rt_decoy",
                                     "rt_peek"])
def test_nothing_secret_reaches_the_students_outputs_or_feedback(run, student):
    course = run["result"].course
    for hw in HW:
        nb_name = demo_class.ASSIGNMENTS[hw]
        outputs = _outputs(course / "autograded" / student / hw / f"{nb_name}.ipynb")
        feedback = (course / "feedback" / student / hw / f"{nb_name}.html").read_text(
            errors="replace")
        for needle in SECRETS:
            assert needle not in outputs, f"{student}/{hw}: {needle!r} in its outputs"
        for needle in SECRETS[:5]:
            if needle != "BEGIN SOLUTION":  # the fixture's own answer cells may carry it
                assert needle not in feedback, f"{student}/{hw}: {needle!r} in its feedback"


def test_a_module_handed_in_beside_the_notebook_is_named_in_the_feedback(run):
    """Only the notebook is graded: the student whose answers import a module handed in
    beside it (attacks/beside.py) reads why in the feedback, under the answer cell."""
    from emcourse_grader.beside import REASON

    course = run["result"].course
    for hw in HW:
        page = (course / "feedback" / "rt_beside" / hw /
                f"{demo_class.ASSIGNMENTS[hw]}.html").read_text(errors="replace")
        assert REASON in page and "answers_beside.py" in page, hw


def test_every_notebook_is_graded_within_its_budget(run):
    """Per notebook: the worker's own time (grading_summary/<hw>.json) when graded in
    parallel; from the autograded notebooks' modification times when serial (nbgrader grades
    one after the other: the time since the previous one finished)."""
    course = run["result"].course
    if GRADER == "parallel":
        took = []
        for hw in HW:
            seconds = json.loads((course / "grading_summary" / f"{hw}.json").read_text())
            took += [(s, f"{student}/{hw}")
                     for student, s in seconds["seconds_by_student"].items()]
        handed_in = sum(len(plans) for plans in roster().values())
        assert len(took) == handed_in  # every one was graded, none failed
    else:
        done = sorted((p.stat().st_mtime, f"{p.parts[-3]}/{p.parts[-2]}")
                      for p in course.glob("autograded/*/*/*.ipynb"))
        took, previous = [], run["marks"]["autograde"]
        for mtime, name in done:
            took.append((mtime - previous, name))
            previous = mtime
        took = took[1:]  # the first also carries nbgrader's start-up
    slowest = sorted(took, reverse=True)[:8]
    print("slowest notebooks:", ", ".join(f"{n} {s:.0f} s" for s, n in slowest))
    print(f"{len(took)} notebooks graded ({GRADER}); the whole class: "
          f"{run['result'].seconds:.0f} s")
    over = [(round(s), n) for s, n in took if s > NOTEBOOK_BUDGET]
    assert not over, f"over {NOTEBOOK_BUDGET} s: {over}"


# --------------------------------------------------------------------------------------------
# The corpus itself, fast (no nbgrader run)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["attacks", "honest"])
def test_the_corpus_fills_every_assignment(tmp_path, kind):
    """Every file makes a notebook for every assignment whose answer cells compile; the
    honest variants give the static scan nothing to report."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from emcourse_grader.scan import scan

    names = ATTACKS if kind == "attacks" else HONEST
    for name in names:
        for hw, nb_name in demo_class.ASSIGNMENTS.items():
            folder = tmp_path / name / hw
            folder.mkdir(parents=True)
            nb_path = folder / f"{nb_name}.ipynb"
            shutil.copy(ROOT / "assignments" / hw / f"{nb_name}.ipynb", nb_path)
            demo_class.fill_notebook(nb_path, ROOT / "solutions" / hw / f"{nb_name}.ipynb",
                                     str(REDTEAM / kind / f"{name}.py"), hw)
            if name == "unreadable":
                with pytest.raises(UnicodeDecodeError):
                    nb_path.read_text(encoding="utf-8")
                continue
            for cell in nbformat.read(nb_path, as_version=4).cells:
                if cell.cell_type != "code" or not cell.metadata.get(
                        "nbgrader", {}).get("solution"):
                    continue
                compile(TransformerManager().transform_cell(cell.source), name, "exec")
                if kind == "honest":
                    assert scan(cell.source) == [], (name, hw, scan(cell.source))


def test_each_template_sees_every_function():
    src = ("import numpy as np\n\n\ndef f(x, y=1, *rest, k, **kw):\n    '''doc'''\n"
           "    return x\n\n\n@staticmethod\ndef g():\n    pass\n")
    out = demo_class.apply_each("def {name}({params}):\n    return ({args}, '''{solution}''')",
                                src)
    assert "def f(x, y=1, *rest, k, **kw):\n    return (x, y, *rest, k=k, **kw," in out
    assert "def g():\n    return (, '''@staticmethod\ndef g():\n    pass''')" in out
    assert out.startswith("import numpy as np\n")
