"""The red-team corpus: submissions that try to get points without the work.

Every file tests/redteam/<hw>/<attack>.py is a student of one autograde run (per session, in
a temporary copy of the course, through the real nbgrader commands: release, fetch, submit,
collect, ``nbgrader autograde "*"``). Its header says the score it must get
(``# expect: N``, 0 for the attacked parts) and what the integrity report must say about it
(``# flag: <words of the reason>``, ``a | b`` for either). Honest students (the full solution, a partial answer,
answers that print warnings, a naive one) run in the same class: their scores must stay
those of scripts/demo_class.py's EXPECTED, and nothing may be flagged for them. Nobody is
lost: every submission ends in the gradebook with a score; the gradebook and the sources
are untouched.
"""

from __future__ import annotations

import atexit
import csv
import functools
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDTEAM = ROOT / "tests" / "redteam"
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = [hw for hw in demo_class.ASSIGNMENTS if (REDTEAM / hw).is_dir()]
HONEST = {
    "ada": {hw: "solution" for hw in HW},
    "partial": {hw: "partial.py" for hw in HW},
    "warner": {"hw1": "warner.py", "hw2": "warner.py", "hw3": "solution"},
    "naive": {hw: "naive.py" for hw in HW},
}
# Shorter timeouts than a real class (20 s): the corpus has several endless loops.
AUTOGRADE_ARGS = ("--SafeExecute.timeout=5", "--TrustedGrade.timeout=5")


def attacks():
    for hw in HW:
        for path in sorted((REDTEAM / hw).glob("*.py")):
            yield hw, path.stem, path


def expectations(path: Path):
    text = path.read_text()
    score = float(re.search(r"^# expect: (\S+)$", text, re.MULTILINE).group(1))
    flags = re.findall(r"^# flag: (.+)$", text, re.MULTILINE)
    return score, flags


def roster():
    students = {name: {hw: plan[hw] for hw in HW if hw in plan} for name, plan in HONEST.items()}
    for hw, attack, path in attacks():
        students.setdefault(f"rt_{attack}", {})[hw] = str(path)
    return students


@functools.cache
def class_run():
    tmp = Path(tempfile.mkdtemp(prefix="emcourse-redteam-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    course = demo_class.copy_course(tmp / "course", assignments=HW)
    result = demo_class.run_class(course, students=roster(), log=lambda *a: None,
                                  autograde_args=AUTOGRADE_ARGS)
    report = course / "integrity_report.csv"
    rows = []
    if report.exists():
        with open(report, newline="") as f:
            rows = list(csv.DictReader(f))
    return result, rows


@pytest.fixture(scope="session")
def run():
    return class_run()


def _rows(rows, student, hw):
    return [r for r in rows if r["student"] == student and r["assignment"] == hw]


@pytest.mark.parametrize("hw,attack", [(hw, a) for hw, a, _ in attacks()])
def test_attack_scores_only_its_own_work_and_is_flagged(run, hw, attack):
    result, rows = run
    score, flags = expectations(REDTEAM / hw / f"{attack}.py")
    student = f"rt_{attack}"
    mine = _rows(rows, student, hw)
    text = "\n".join(f"{r['part']}: {r['reason']} ({r['detail']})" for r in mine)
    assert result.score(hw, student) == score, f"{hw}/{attack}; report:\n{text}"
    assert mine, f"{hw}/{attack} is not in the integrity report"
    for flag in flags:  # "a | b": either
        assert any(alt.strip().lower() in text.lower() for alt in flag.split(" | ")), \
            f"{hw}/{attack}: no flag {flag!r} in\n{text}"


@pytest.mark.parametrize("hw", HW)
@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_submissions_keep_their_points_and_are_not_flagged(run, hw, student):
    result, rows = run
    assert result.score(hw, student) == demo_class.EXPECTED[hw][student]
    assert not _rows(rows, student, hw), _rows(rows, student, hw)


def test_no_submission_is_lost_and_the_gradebook_is_intact(run):
    from nbgrader.api import Gradebook

    result, _ = run
    with Gradebook(f"sqlite:///{result.course / 'gradebook.db'}") as gb:
        for hw in HW:
            assignment = gb.find_assignment(hw)
            auto = sum(c.max_score for nb in assignment.notebooks for c in nb.grade_cells
                       if c.cell_type == "code")
            assert auto == demo_class.EXPECTED[hw]["ada"]  # nobody rewrote max_score
            for student, plan in roster().items():
                if hw not in plan:
                    continue
                sub = gb.find_submission(hw, student)
                assert sub.score is not None
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        assert grade.manual_score is None, (student, hw, grade.name)
    for hw in HW:
        for src in (ROOT / "solutions" / hw).glob("*.ipynb"):
            assert (result.course / "solutions" / hw / src.name).read_text() == src.read_text()


# --------------------------------------------------------------------------------------------
# The pieces, fast (no nbgrader run)
# --------------------------------------------------------------------------------------------

def _answer_sources(hw, recipe):
    import nbformat

    nb_name = demo_class.ASSIGNMENTS[hw]
    sol = {c.metadata["nbgrader"]["grade_id"]: c.source
           for c in nbformat.read(ROOT / "solutions" / hw / f"{nb_name}.ipynb", 4).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    if recipe == "solution":
        return list(sol.values())
    answers = demo_class.read_answers(demo_class.SUBMISSIONS / hw / recipe)
    return [sol[g] if v == "solution" else v for g, v in answers.items()]


@pytest.mark.parametrize("hw", HW)
@pytest.mark.parametrize("student", sorted(HONEST))
def test_the_scan_finds_nothing_in_honest_answers(hw, student):
    from emcourse_grader.scan import scan

    for source in _answer_sources(hw, HONEST[student][hw]):
        assert scan(source) == [], source


def test_the_wire_carries_plain_data_only():
    import numpy as np

    from emcourse_grader import wire

    class Liar:
        def __eq__(self, other):
            return True

        def __array__(self, *a, **k):
            return np.zeros(3)

    odd = []
    tree = wire.encode((np.arange(3.0), [1, 2.5, float("nan")], Liar(),
                        np.array([object()], dtype=object)), oddities=odd)
    value = wire.decode(tree)
    assert np.array_equal(value[0], [0.0, 1.0, 2.0]) and value[0].dtype == float
    assert value[1][:2] == [1, 2.5] and np.isnan(value[1][2])
    assert isinstance(value[2], wire.NotPlainData) and isinstance(value[3], wire.NotPlainData)
    assert len(odd) == 2
    assert not (value[2] == 0)  # noqa: SIM201 - __eq__ itself is what is tested
    with pytest.raises(TypeError):
        np.asarray(value[2], dtype=float)
    for bad in ({"t": "nd", "dtype": "|O", "shape": [1], "b64": ""},
                {"t": "nd", "dtype": "<f8", "shape": [2], "b64": "AAAAAAAAAAA="},
                {"t": "pickle", "v": "gASVAAAAAAAAAAB9lC4="}):
        with pytest.raises(wire.WireError):
            wire.decode(bad)


def test_the_guard_refuses_protected_files_and_the_worker_trips_on_emref(tmp_path):
    from emcourse_grader import sandbox
    from emcourse_grader.judge import Worker, run_test_cell

    secret = tmp_path / "gradebook.db"
    secret.write_text("hidden tests")
    flags = []
    policy = dict(sandbox.DEFAULTS, protected=[str(secret)], readonly=[str(tmp_path)])
    worker = Worker(policy, timeout=10, on_flag=lambda r, d: flags.append(r))
    try:
        worker.exec_cell(0, f"import numpy as np\ntry:\n    open({str(secret)!r}).read()\n"
                            f"except PermissionError:\n    refused = True\n")
        worker.exec_cell(1, "from emref import kmeans\n"
                            "def assign(X, C):\n    return kmeans.assign(X, C)\n")
        passed, message = run_test_cell(worker, "from emref.grading import require\n"
                                                "require('kmeans.assign', assign)\n")
    finally:
        worker.close()
    assert "opens a protected file" in flags
    assert "calls emref's implementation" in flags
    assert not passed and "emref" in message
