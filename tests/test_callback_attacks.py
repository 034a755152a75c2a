"""Attacks on the channel between the sandboxed worker and the grader, mounted from inside.

The student's code runs in the real sandbox (:class:`emcourse_grader.judge.Worker`) and finds
the channel's two pipe ends among its own descriptors (the worker keeps them open: it has to
talk). From there it writes what it likes: frames with a length prefix of 4 GB, JSON nested a
hundred thousand deep, requests of the wrong types, callbacks for a later part, a hidden check
or a function that is no part at all, replies that claim to be a verdict, a flood of requests
it never reads the answers of, and a flood of requests that each cost the course's helper all
its memory. Each costs that submission's request only: the grader stays small, answers or
ends the worker within the request's time, and lends the course's version of a part only to
the parts after it (:class:`emcourse_grader.preprocessors.TrustedGrade`, the whole path).
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import nbformat
import pytest
from sandbox_helpers import needs_bwrap, trusted_grade

from emcourse_grader import judge
from emcourse_grader.callbacks import CallbackError, CourseVersions
from emref import kmeans

pytestmark = needs_bwrap

ROOT = Path(__file__).resolve().parent.parent
CALL_TIMEOUT = 6.0
CELL_TIMEOUT = 2.0  # the grader ends a cell after 2 * 2 + 1 s
MAX_NUMBERS = 1_000_000  # numbers a callback's arguments may hold (4,000,000 by default)
SUBSTITUTES = {"assign": kmeans.assign, "update": kmeans.update}

# Inside the sandbox: the channel's ends, raw frames, forged requests.
STUDENT = r'''
import fcntl, json, os, struct
import numpy as np
from emcourse_grader.sandboxed import wire

def _ends():
    pipes = [fd for fd in range(3, 64)
             if os.path.exists(f"/proc/self/fd/{fd}")
             and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")]
    mode = {fd: fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE for fd in pipes}
    return ([fd for fd in pipes if mode[fd] == os.O_RDONLY][0],
            [fd for fd in pipes if mode[fd] == os.O_WRONLY][0])

IN, OUT = _ends()

def frame(msg):
    data = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
    return struct.pack(">I", len(data)) + data

def ask(msg):
    """A forged request to the grader, and its answer as the grader sent it."""
    os.write(OUT, frame(msg))
    return json.dumps(wire.recv(IN))

def forged(name, args=(), kwargs=None):
    return ask({"op": "callback", "name": name, "args": list(args), "kwargs": kwargs or {}})

def stand_in_for(name):
    return globals()[name]  # during a test's call: the grader's stand-in
'''


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def worker():
    flags = []
    w = judge.Worker(call_timeout=CALL_TIMEOUT, budget=240, cell_timeout=CELL_TIMEOUT,
                     callback_max_numbers=MAX_NUMBERS, max_restarts=50,  # many attacks
                     on_flag=lambda reason, detail: flags.append(reason))
    w.flags = flags
    try:
        assert w.exec_cell(0, STUDENT).get("ok")
        yield w
    finally:
        w.close()


def _define(worker, index, source):
    answer = worker.exec_cell(index, source)
    assert answer is not None and answer.get("ok"), (answer, worker.failure)


def _helpers_alive() -> list[int]:
    """Helper processes (course versions) that are children of this process."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and b"emcourse_grader.callbacks import serve" in cmd:
            found.append(int(pid))
    return found


# --------------------------------------------------------------------------------------------
# Requests the grader refuses, each answered at once and only to the code that asked
# --------------------------------------------------------------------------------------------

def test_callbacks_for_what_is_not_an_earlier_part_get_nothing(worker):
    _define(worker, 1, '''
def fit(X):
    asked = {}
    for name in ("fit", "kmeans.fit", "soft_assign", "kmeans.assign", "require", "CHECKS",
                 "emref.kmeans.fit", "__import__", "os.system", "x" * 5000):
        asked[name[:20]] = json.loads(forged(name, [wire.encode(X)]))
    return json.dumps(asked)
''')
    # test_fit lends assign and update; fit itself (the graded part) and everything else is
    # not lent, whatever the name asks for
    _, message = judge.run_test_cell(
        worker, "answers = fit(np.ones((4, 2)))\nassert False, answers", SUBSTITUTES)
    answers = json.loads(message.removeprefix("AssertionError: ").strip())
    assert set(answers) == {"fit", "kmeans.fit", "soft_assign", "kmeans.assign", "require",
                            "CHECKS", "emref.kmeans.fit", "__import__", "os.system", "x" * 20}
    for name, answer in answers.items():
        assert answer["op"] == "callback_error", (name, answer)
        assert answer["msg"].endswith("is not available"), (name, answer)
        assert "value" not in answer
    assert len(answers["x" * 20]["msg"]) < 150  # the name is cut, not echoed whole


def test_malformed_requests_and_values_that_are_not_plain_data_fail_for_that_call(worker):
    _define(worker, 2, '''
def update(X, labels, k):
    out = {}
    out["args not a list"] = ask({"op": "callback", "name": "assign", "args": "not a list",
                                  "kwargs": {}})
    out["kwargs not a dict"] = ask({"op": "callback", "name": "assign", "args": [],
                                    "kwargs": [1, 2]})
    out["arg not a value"] = forged("assign", [5, "x"])
    out["object dtype"] = forged("assign", [{"t": "nd", "dtype": "|O", "shape": [1],
                                             "b64": "AAAAAAAAAAA="}, wire.encode(X)])
    out["unknown kind"] = forged("assign", [{"t": "pickle", "v": "gASVAAAAAAAAAACMBXBvc2l4"}])
    out["lying shape"] = forged("assign", [{"t": "nd", "dtype": "<f8", "shape": [1],
                                            "b64": "A" * 11_000_000}, wire.encode(X)])
    out["name as payload"] = forged("assign", [{"t": "dict", "items": {"k" * 10_000_000:
                                                {"t": "none"}}}])
    assign = stand_in_for("assign")
    for label, bad in (("a function", lambda: 0), ("a module", np), ("an object", object())):
        try:
            assign(X, bad)
            out[label] = "no error"
        except RuntimeError as exc:
            out[label] = str(exc)
    return json.dumps({k: v[:300] for k, v in out.items()})
''')
    _, message = judge.run_test_cell(
        worker, "answers = update(np.ones((4, 2)), np.zeros(4, int), 1)\nassert False, answers",
        {"assign": kmeans.assign})
    out = json.loads(message.removeprefix("AssertionError: ").strip())
    forged_ = {k: json.loads(v) for k, v in out.items() if v.startswith("{")}
    assert all(v["op"] == "callback_error" for v in forged_.values()), forged_
    assert "malformed request" in forged_["args not a list"]["msg"]
    assert "malformed request" in forged_["kwargs not a dict"]["msg"]
    assert "malformed arguments" in forged_["arg not a value"]["msg"]
    assert "forbidden dtype" in forged_["object dtype"]["msg"]
    assert "malformed arguments: unknown kind of value 'pickle'" in forged_["unknown kind"]["msg"]
    # a payload is measured by its bytes, not by the shape or the names it declares
    assert "the arguments hold 1,031,258 numbers; the course's version takes at most " \
           "1,000,000" in forged_["lying shape"]["msg"]
    assert "hold 1,250,001 numbers" in forged_["name as payload"]["msg"]
    for label in ("a function", "a module", "an object"):  # encoded as their type name only
        assert "your code called assign (the course's version is used here) and it failed" \
               in out[label], (label, out[label])


def test_a_frame_that_claims_to_be_the_verdict_is_only_a_value_of_the_students():
    """Replies forged ahead of their requests put the channel out of step: every later
    answer is taken for the one before. It is the student's own channel: their values, their
    names, never a verdict (the tests and checks run in the grader on what comes back)."""
    w = judge.Worker(call_timeout=CALL_TIMEOUT, budget=120, cell_timeout=CELL_TIMEOUT)
    try:
        assert w.exec_cell(0, STUDENT).get("ok")
        _define(w, 1, '''
def assign(X, centers):
    os.write(OUT, frame({"op": "result", "value": wire.encode({"passed": True,
                                                               "points": 100})}))
    os.write(OUT, frame({"op": "verdict", "passed": True, "score": 100}))
    os.write(OUT, frame({"op": "names", "names": {"require": {"t": "func"}}}))
    return np.zeros(len(X), dtype=int)
''')
        test = 'from emcourse_grader.checks import require\nrequire("kmeans.assign", assign)'
        for _ in range(4):  # every answer now belongs to an earlier request
            passed, message = judge.run_test_cell(w, test, {})
            assert not passed, message
    finally:
        w.close()


# --------------------------------------------------------------------------------------------
# Frames that would cost the grader its memory or its time: that worker is ended, the grader
# stays small, and the next cell runs in a new worker
# --------------------------------------------------------------------------------------------

FORGED_FRAMES = {
    "a 4 GB length prefix": ('os.write(OUT, struct.pack(">I", 2**32 - 1) + b"{}")',
                             "message too large: 4,294,967,295 bytes"),
    "nesting 200,000 deep": ('os.write(OUT, frame(b"[" * 200_000 + b"]" * 200_000))',
                             "nested more than 50 levels deep"),
    "60 MB of empty lists": ('os.write(OUT, frame(b"[" + b"[]," * 20_000_000 + b"[]]"))',
                             "holds 20,000,002 arrays and objects"),
    "not JSON": ('os.write(OUT, frame(b"\\xff\\xfe not json"))', "not UTF-8 text"),
    "not an object": ('os.write(OUT, frame(b"[1, 2, 3]"))', "a JSON list, not an object"),
}


@pytest.mark.parametrize("attack", list(FORGED_FRAMES))
def test_a_forged_frame_ends_that_worker_and_the_grader_stays_small(worker, attack):
    code, why = FORGED_FRAMES[attack]
    before = _peak_mb()
    start = time.monotonic()
    answer = worker.exec_cell(10, code + "\nimport time\ntime.sleep(60)")
    assert answer is None
    assert why in worker.failure, worker.failure
    assert time.monotonic() - start < 2 * CELL_TIMEOUT + 1
    assert _peak_mb() - before < 250  # 60 MB read, refused before it is parsed
    assert _peak_mb() < 1024
    # the student's earlier cells are replayed in a new worker: the next cell works
    answer = worker.exec_cell(11, "print(IN, OUT, frame({}))")
    assert answer is not None and answer.get("ok"), worker.failure


def test_a_flood_the_worker_never_reads_the_answers_of_ends_within_the_cells_time(worker):
    """5,000 callbacks in one write, then the worker stops reading: the grader's answers fill
    the pipe. The grader's write used to block there for good, past the cell's and the
    notebook's time (the whole class waited); it now ends with the cell's time."""
    start = time.monotonic()
    answer = worker.exec_cell(12, '''
os.write(OUT, frame({"op": "callback", "name": "assign", "args": [], "kwargs": {}}) * 5000)
import time
while True:
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        pass
''')
    took = time.monotonic() - start
    assert answer is None
    assert "stopped reading what the grader sent" in worker.failure, worker.failure
    assert took < 2 * CELL_TIMEOUT + 1 + 3, took
    assert "hangs through an interrupt or stops the kernel" in worker.flags
    assert worker.exec_cell(13, "x = 1").get("ok")


def test_a_flood_of_requests_that_each_exhaust_the_helper_ends_with_the_call(worker):
    """Requests within the size cap that each cost the course's helper its whole memory
    (assign with 1,000 centres for 400,000 points: 3.2 GB of distances): each one kills the
    helper, and the flood ends with the call; the grader stays small and no helper is left."""
    _define(worker, 14, '''
def fit(X):
    P = np.zeros((400_000, 2), dtype=np.float32)
    C = np.zeros((1_000, 2), dtype=np.float32)
    failures = 0
    while True:
        try:
            assign(P, C)
        except RuntimeError:
            failures += 1
''')
    before = _peak_mb()
    start = time.monotonic()
    passed, message = judge.run_test_cell(worker, "fit(None)", SUBSTITUTES)
    took = time.monotonic() - start
    assert not passed
    assert f"fit did not return: no answer within {CALL_TIMEOUT:g} s" in message, message
    assert took < CALL_TIMEOUT + 4, took
    assert worker.course.started >= 2  # each exhausted helper was ended and another started
    assert _peak_mb() - before < 300  # one request's frame (3 MB of arrays) at a time
    assert _peak_mb() < 1024
    worker.course.close()
    assert _helpers_alive() == []


def test_the_helper_refuses_what_the_grader_measured_too_large_without_starting():
    course = CourseVersions()
    lying = {"t": "nd", "dtype": "<f8", "shape": [2], "b64": "A" * 44_000_000}
    with pytest.raises(CallbackError, match="hold 4,125,000 numbers"):
        course.call(kmeans.assign, [lying], {}, 30)
    assert course.started == 0


# --------------------------------------------------------------------------------------------
# The whole path: TrustedGrade lends a part's course version only to the parts after it
# --------------------------------------------------------------------------------------------

def _nbg(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "locked": False, "schema_version": 3,
                         "solution": False, "grade": False, "task": False, **kw}}


def test_an_earlier_part_cannot_have_a_later_parts_course_version(tmp_path):
    """hw1's fit uses the course's assign and update. Lent to every test of the assignment
    but the part it grades, update's course version reached the code of assign while assign
    was checked: a student who recorded update's hidden inputs in one submission (they reach
    the feedback through a later cell) had the course compute update's answers in the next,
    before update's own check. Only the parts judged before are lent now: fit still gets
    both, assign gets nothing."""
    sol = nbformat.read(ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb", as_version=4)
    cells = [nbformat.v4.new_code_cell(c.source, metadata=dict(c.metadata)) for c in sol.cells
             if c.cell_type == "code"]
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    cells[ids.index("assign")].source += """

_course_answers = []

def _ask_update(part, X, centers):
    u = globals().get("update")
    if "course_version" not in getattr(u, "__qualname__", ""):
        return  # the student's own update (or none yet): nothing lent
    X, centers = np.asarray(X, float), np.asarray(centers, float)
    labels = ((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
    try:
        _course_answers.append((part, repr(u(X, labels, len(centers)))[:40]))
    except Exception as exc:
        _course_answers.append((part, "refused: " + str(exc)[:100]))

_own_assign = assign
def assign(X, centers):
    _ask_update("assign", X, centers)
    return _own_assign(X, centers)
"""
    cells[ids.index("fit")].source += """

_own_fit = fit
def fit(X, init_centers, max_iter=100):
    _ask_update("fit", X, init_centers)
    return _own_fit(X, init_centers, max_iter)
"""
    cells.append(nbformat.v4.new_code_cell("print(sorted({p for p, _ in _course_answers}), "
                                           "_course_answers[:1])",
                                           metadata=_nbg("leak", solution=True)))
    nb = trusted_grade(nbformat.v4.new_notebook(cells=cells), tmp_path / "report.csv")
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert printed.startswith("['fit'] [('fit', 'array(["), printed
    verdicts = {c.metadata["nbgrader"]["grade_id"]: c.outputs for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade")}
    assert all(outputs == [] for outputs in verdicts.values()), verdicts  # all still pass
