"""The fairness corpus, through the real grading of one simulated class (issue 21).

Every file in tests/fairness/ is one student's answers to one assignment, written in a style
students bring (loops, classes, scipy, log space, float32, lists, records, extra helpers and
keyword arguments, a process pool, complex numbers holding reals), a bug in exactly one part,
or a first answer that never finishes, exits or asks for too much memory. Its header says what
it must score, part by part (tests/fairness/README.md):

    # hw: hw1
    # lose: <grade_id> | <words the message of that test must contain>
    # flag: <words an integrity-report row of it must contain>

Every part a ``lose`` line does not name must keep all its points; a named part gets 0, with
a message that names the function. One class run for the whole corpus, in a temporary copy of
the course (scripts/demo_class.run_class: generate, release, fetch, fill, submit, collect),
graded by ``python -m emcourse_grader grade hw1 hw2 hw3 --workers 2`` (each worker runs
nbgrader's own Autograde); the scores are read part by part from the gradebook and the
messages from the autograded notebooks (feedback and export are the red-team class's).
"""

from __future__ import annotations

import atexit
import csv
import functools
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
FAIRNESS = ROOT / "tests" / "fairness"
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

CASES = sorted(p.stem for p in FAIRNESS.glob("hw*.py"))
# Short limits, as the red-team class's: an endless first answer ends quickly.
AUTOGRADE_ARGS = ("--SafeExecute.timeout=5", "--SafeExecute.notebook_timeout=90",
                  "--TrustedGrade.timeout=10", "--TrustedGrade.notebook_timeout=60")

needs_sandbox = pytest.mark.skipif(shutil.which("bwrap") is None,
                                   reason="grading needs bubblewrap (make installs it)")


def header(name: str) -> dict:
    """``{"hw", "lose": {grade_id: [words]}, "flags": [...]}`` from a corpus file."""
    text = (FAIRNESS / f"{name}.py").read_text()
    hw = re.search(r"^# hw: (\S+)$", text, re.MULTILINE)
    if hw is None:
        raise ValueError(f"tests/fairness/{name}.py: no '# hw: <assignment>' line")
    lose = {}
    for gid, words in re.findall(r"^# lose: (\S+) \| (.+)$", text, re.MULTILINE):
        lose.setdefault(gid, []).extend(w.strip() for w in words.split(" | "))
    return {"hw": hw.group(1), "lose": lose,
            "flags": re.findall(r"^# flag: (.+)$", text, re.MULTILINE)}


def student(name: str) -> str:
    return f"fv_{name}"


@functools.cache
def class_run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="emcourse-fairness-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    plans = {name: header(name)["hw"] for name in CASES}
    hws = sorted(set(plans.values()))
    course = demo_class.copy_course(tmp / "course", assignments=hws)
    students = {student(name): {hw: str(FAIRNESS / f"{name}.py")}
                for name, hw in plans.items()}
    log = []
    start = time.perf_counter()
    demo_class.run_class(course, students=students, log=log.append, grader="none",
                         assignments=hws)  # generate, release, fetch, fill, submit, collect
    handed_in = time.perf_counter()
    demo_class.parallel_grade(course, hws, "--force", *AUTOGRADE_ARGS, workers=2,
                              log=log.append)
    graded = time.perf_counter()
    from nbgrader.api import Gradebook

    parts, messages = {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name, hw in plans.items():
            nb = gb.find_submission_notebook(demo_class.ASSIGNMENTS[hw], hw, student(name))
            parts[name] = {g.name: (g.score, g.max_score) for g in nb.grades
                           if g.name.startswith("test_")}
    for name, hw in plans.items():
        path = course / "autograded" / student(name) / hw / f"{demo_class.ASSIGNMENTS[hw]}.ipynb"
        found = {}
        for cell in nbformat.read(path, as_version=4).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and gid:
                    found[gid] = out.get("evalue", "")
        messages[name] = found
    with open(course / "integrity_report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"parts": parts, "messages": messages, "rows": rows, "log": log,
            "seconds": {"hand in": handed_in - start, "grade": graded - handed_in}}


@pytest.fixture(scope="module")
def run():
    return class_run()


@needs_sandbox
@pytest.mark.parametrize("name", CASES)
def test_every_part_scores_as_its_header_says(run, name):
    want = header(name)
    parts = run["parts"][name]
    assert set(want["lose"]) <= set(parts), f"{name}: unknown parts {set(want['lose'])}"
    wrong = []
    for gid, (score, full) in sorted(parts.items()):
        expected = 0.0 if gid in want["lose"] else full
        if score != expected:
            wrong.append(f"{gid}: {score:g} of {full:g} (expected {expected:g}): "
                         f"{run['messages'][name].get(gid, '(no message)')[:500]}")
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


@needs_sandbox
@pytest.mark.parametrize("name", [n for n in CASES if header(n)["lose"]])
def test_a_lost_part_says_which_function_and_what_to_look_at(run, name):
    for gid, words in header(name)["lose"].items():
        message = run["messages"][name].get(gid, "")
        for w in words:
            assert w in message, f"{name}/{gid}: {w!r} not in its message:\n{message}"


@needs_sandbox
@pytest.mark.parametrize("name", CASES)
def test_the_integrity_report_says_only_what_the_header_expects(run, name):
    rows = [r for r in run["rows"] if r["student"] == student(name)]
    text = "\n".join(f"{r['part']}: {r['reason']} ({r['detail']})" for r in rows)
    flags = header(name)["flags"]
    for flag in flags:
        assert flag.lower() in text.lower(), f"{name}: no report row says {flag!r}:\n{text}"
    if not flags and not header(name)["lose"]:
        assert not rows, f"{name}: an honest submission in the integrity report:\n{text}"


@needs_sandbox
def test_the_class_is_graded_in_one_run(run):
    print("; ".join(f"{k}: {v:.0f} s" for k, v in run["seconds"].items()))
    print("\n".join(line for line in run["log"] if line.lstrip().startswith("$")))
    assert set(run["parts"]) == set(CASES)


def test_the_corpus_is_large_enough_and_every_file_fills_its_notebook(tmp_path):
    honest = [n for n in CASES if not header(n)["lose"]]
    assert len(honest) >= 10, honest
    for hw in demo_class.ASSIGNMENTS:
        assert any(header(n)["hw"] == hw and "broken_first" in n for n in CASES), \
            f"no broken-first-answer case for {hw}"
    for name in CASES:
        hw = header(name)["hw"]
        nb_name = demo_class.ASSIGNMENTS[hw]
        target = tmp_path / f"{name}.ipynb"
        shutil.copy(ROOT / "assignments" / hw / f"{nb_name}.ipynb", target)
        demo_class.fill_notebook(target, ROOT / "solutions" / hw / f"{nb_name}.ipynb",
                                 str(FAIRNESS / f"{name}.py"), hw)
        for cell in nbformat.read(target, as_version=4).cells:
            if cell.cell_type == "code":
                compile(cell.source, f"{name}", "exec")


# --------------------------------------------------------------------------------------------
# The pieces, fast (no class)
# --------------------------------------------------------------------------------------------

def test_a_complex_number_with_zero_imaginary_part_crosses_as_a_real_one():
    import numpy as np

    from emcourse_grader.sandboxed import wire

    arr = np.array([[1.5, -2.0]], dtype=complex)
    back = wire.decode(wire.encode(arr))
    assert back.dtype == np.float64 and np.array_equal(back, [[1.5, -2.0]])
    assert wire.decode(wire.encode(np.complex128(3.0))) == 3.0
    assert wire.decode(wire.encode(complex(2.0, 0.0))) == 2.0
    for imaginary in (np.array([1 + 1e-300j]), 1j, np.complex64(1 + 2j)):
        assert isinstance(wire.decode(wire.encode(imaginary)), wire.NotPlainData)


def test_the_course_value_takes_the_form_of_the_students_own():
    from collections import namedtuple

    import numpy as np

    from emcourse_grader.sandboxed.likeness import conform, likeness
    from emref.params import GMMParams

    assert conform(np.array([0, 1]), likeness([1, 0])) == [0, 1]
    out = conform(np.array([0.5, 1.5]), likeness(np.zeros(2, dtype=np.float32)))
    assert out.dtype == np.float32
    Fwd = namedtuple("Fwd", "alpha loglik")
    out = conform((np.ones((2, 2)), -3.0), likeness(Fwd(np.ones((2, 2)), np.float64(1))))
    assert isinstance(out, Fwd) and isinstance(out.loglik, np.float64)
    params = GMMParams(np.array([0.5, 0.5]), np.zeros((2, 1)), np.ones((2, 1, 1)))
    triple = conform(params, likeness((np.ones(2), np.ones((2, 1)), np.ones((2, 1, 1)))))
    assert type(triple) is tuple and triple[0] is params.weights
    assert conform(params, None) is params
    assert conform(np.array([1, 2]), likeness(np.zeros(2))).dtype.kind == "i"  # no int->float


def test_a_plain_mixture_triple_is_taken_as_gmmparams_by_the_course():
    import numpy as np

    from emcourse_grader import callbacks
    from emref.params import GMMParams

    triple = (np.array([0.5, 0.5]), np.zeros((2, 3)), np.stack([np.eye(3)] * 2))
    assert isinstance(callbacks.as_params(triple), GMMParams)
    assert not isinstance(callbacks.as_params((np.zeros(2), np.zeros((3, 2)), np.zeros(1))),
                          GMMParams)  # shapes of no mixture: passed on as they are
    assert not isinstance(callbacks.as_params((np.zeros(3), np.zeros((2, 3)), 1)), GMMParams)


def test_float32_answers_pass_and_float32_bugs_still_fail_with_their_hint():
    import numpy as np

    from emcourse_grader.checks import _common, verify

    def soft32(X, C, beta, squared=True):
        X, C = np.asarray(X, np.float32), np.asarray(C, np.float32)
        d2 = ((X[:, None] - C[None]) ** 2).sum(axis=2)
        logits = -np.float32(beta) * (d2 if squared else np.sqrt(d2))
        r = np.exp(logits - logits.max(axis=1, keepdims=True))
        return r / r.sum(axis=1, keepdims=True)

    for seed in range(5):
        assert verify("kmeans.soft_assign", soft32, seed=seed).passed
        bad = verify("kmeans.soft_assign", lambda X, C, b: soft32(X, C, b, squared=False),
                     seed=seed)
        assert not bad.passed and "squared distances belong" in bad.message
    assert _common.precision() == _common.EPS64  # reset after each check
