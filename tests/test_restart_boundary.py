"""Attacks at the sandboxed worker's restart boundary, through the real sandbox and the real
TrustedGrade, and the honest notebooks beside them that must not pay for it.

When a cell hangs or kills its process, :class:`emcourse_grader.judge.Worker` ends it, starts
a new one and replays the cells that worked; a test's call of the student's function may ask
the grader for the course's version of an earlier part in between (a callback). These
notebooks (hw1's solution with a few lines added) aim at the moments in between: a process
killed while a callback's answer is on its way, a callback request written and the process
gone before the reply, a cell that dies only when it is replayed, the restarts used up on
purpose by an early cell, half a frame and then silence, a frame shorter than it announced,
bytes written on the channel by a thread of the student's between callbacks, and the
student's own writes to file descriptors 1 and 2 in the middle of a callback. Beside
them, honest code that the boundary must leave alone: a fit whose starts run in threads (each
calling the lent assign and update at once), a ``signal.alarm`` time limit in a decorator,
a watchdog's ``SIGALRM`` whose handler raises mid-callback, ``multiprocessing.dummy``, a real
forked ``multiprocessing.Pool`` in a cell and one whose children call the lent parts.

Each notebook must end with: the attacked part at 0 with a reason the student can act on,
every other part judged as usual, nothing of its sandboxes left (processes, cgroups, scratch
directories and mounts), and an honest notebook graded next in the same process getting
every point (the grader still in step). Three honest twins found bugs, each of which put the
channel out of step (fit at 0, and with ``threads`` and ``watchdog`` soft_assign too): the
worker's stand-ins sent and read callbacks without a lock (``threads``: two threads' frames
mixed; ``forked_pool``: so did the children's) and in the main thread, where a signal
handler's exception could stop an exchange halfway (``watchdog``: while the student's code
has a handler set, a thread of the worker's own exchanges them). All three are fixed in
:mod:`emcourse_grader.sandboxed.worker`; a twin that shows an open bug goes in
:data:`KNOWN_BUGS`.
``restarts_used_up`` pins what an early cell that stops its process five times costs the
honest parts after it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from sandbox_helpers import (
    needs_bwrap,
    part_verdicts,
    record_sandboxes,
    sandbox_leftovers,
    trusted_grade,
)

pytestmark = needs_bwrap

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"memory_mb": 600, "disk_mb": 64, "cell_timeout": 2.0, "timeout": 6.0,
          "notebook_timeout": 60.0}
PARTS = ("test_assign", "test_update", "test_fit", "test_soft_assign")
# The integrity report's rows about a run that went wrong (judge.Worker's flags)
RUN_ROWS = ("stops or kills the process", "hangs through an interrupt", "runs past its time",
            "derived from BaseException", "did not finish executing")

# The channel's ends, as the student's code finds them among its descriptors (the worker keeps
# them open: it has to talk), and a raw frame.
ENDS = r'''
import fcntl as _fcntl, os as _os, struct as _struct, threading as _th, time as _time

def _ends():
    pipes = [fd for fd in range(3, 64) if _os.path.exists(f"/proc/self/fd/{fd}")
             and _os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")]
    mode = {fd: _fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE for fd in pipes}
    return ([fd for fd in pipes if mode[fd] == _os.O_RDONLY][0],
            [fd for fd in pipes if mode[fd] == _os.O_WRONLY][0])

_IN, _OUT = _ends()

def _frame(data: bytes) -> bytes:
    return _struct.pack(">I", len(data)) + data

_own_fit = fit
'''

NEVER_ENDS = '''
    while True:
        try:
            _time.sleep(60)
        except KeyboardInterrupt:
            pass
'''

# A cell that stops its process (a restart), and one that dies only when it is replayed: the
# worker runs a replay without capturing outputs, which the cell can see.
STOPS = "import os\nos._exit(1)\n"
DIES_ON_REPLAY = '''
import os as _os, sys as _sys
_worker = [m for m in list(_sys.modules.values())
           if hasattr(m, "CAPTURE") and hasattr(m, "_Interrupt")][0]
if _worker.CAPTURE.outputs is None:  # not capturing: this is a replay
    _os.kill(_os.getpid(), 9)
print("first run")
'''

ATTACKS = {
    # fit keeps the lent update busy while a thread kills the process: the kill lands while a
    # callback is in flight (its request sent, its answer on the way or being read)
    "killed_mid_callback": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    _th.Thread(target=lambda: (_time.sleep(0.2), _os.kill(_os.getpid(), 9))).start()
    while True:
        update(X, np.zeros(len(X), int), 1)
'''}, "fails": {"test_fit": r"fit did not return: the process exited"}},
    # a callback request written, and the process gone before it reads the reply
    "exits_before_the_reply": {"edits": {"fit": ENDS + '''
import json as _json
def fit(X, init_centers, max_iter=100):
    _os.write(_OUT, _frame(_json.dumps({"op": "callback", "name": "update",
                                         "args": [], "kwargs": {}}).encode()))
    _os._exit(0)
'''}, "fails": {"test_fit": r"fit did not return: the process exited"}},
    # from another thread, while the main thread waits for a callback's answer
    "exits_from_a_thread_mid_callback": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    def _leave():
        while True:
            update(X, np.zeros(len(X), int), 1)
    _th.Thread(target=_leave, daemon=True).start()
    _time.sleep(0.1)
    _os._exit(3)
'''}, "fails": {"test_fit": r"fit did not return: the process exited"}},
    # a forked child that would keep the channel's ends open (reading nothing) when its
    # parent is killed with a callback's answer of 5 MB on its way, so that no end of file
    # told the grader and its write blocked on a full pipe: the sandbox ends the child with
    # its parent, and the grader sees the end of the file at once
    "a_child_holds_the_channel": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    if _os.fork() == 0:
        _time.sleep(3600)
        _os._exit(0)
    big = np.random.default_rng(0).normal(size=(500_000, 2))
    _th.Thread(target=lambda: (_time.sleep(0.3), _os.kill(_os.getpid(), 9))).start()
    while True:
        assign(big, np.zeros((2, 2)))
'''}, "fails": {"test_fit": r"fit did not return: the process exited"}},
    # the student's own thread writes bytes on the channel itself (not through the worker's
    # turns) while the main thread's callbacks go back and forth
    "bytes_on_the_channel_mid_callback": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    def _spray():
        for _ in range(200):
            _os.write(_OUT, b"\\xff" * 3)
            _time.sleep(0.005)
    _th.Thread(target=_spray, daemon=True).start()
    while True:
        update(X, np.zeros(len(X), int), 1)
'''}, "fails": {"test_fit": r"fit did not return: (message too large|.*not valid JSON|.*UTF-8)"}},
    # half a length prefix, then nothing (through the interrupt too)
    "half_a_frame_then_silence": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    _os.write(_OUT, b"\\x00\\x00")
''' + NEVER_ENDS}, "fails": {"test_fit": r"fit did not return: no answer within 6 s"}},
    # a frame that announces 1,000 bytes, brings 10 and closes
    "a_frame_shorter_than_announced": {"edits": {"fit": ENDS + '''
def fit(X, init_centers, max_iter=100):
    _os.write(_OUT, _struct.pack(">I", 1000) + b'{"op": "re')
    _os._exit(0)
'''}, "fails": {"test_fit": r"fit did not return: the process exited"}},
    # a cell that dies only when replayed (after update's cell stops the process once): it is
    # dropped from the replay, and every part is judged as usual
    "dies_on_replay": {"extra": {"assign": DIES_ON_REPLAY, "update": STOPS},
                       "fails": {}, "flag": "stops or kills the process"},
    # the restarts used up by an early cell (max_restarts is 4: five stops): the honest parts
    # after it cannot be run, and their message says which cells are the cause
    "restarts_used_up": {"extra": {"test_assign": STOPS},
                         "more": 4,
                         "fails": {p: "restarted too often: 5 times, the most for one "
                                      r"notebook is 4; cell (\d+), cell (?!\1)\d+, cell \d+, "
                                      r"cell \d+, cell \d+ stopped its process"
                                   for p in ("test_update", "test_fit", "test_soft_assign")},
                         "not run": ("update", "fit", "soft_assign")},
}

HONEST = {
    # the student's own writes to the process's fd 1 and 2 (not the channel: /dev/null),
    # between callbacks
    "writes_to_fd_1_mid_callback": {"edits": {"fit": '''
import os as _os
_own_fit = fit
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    for _ in range(3):
        _os.write(1, b"\\x00\\x00\\x00\\x10{\\"op\\": \\"result\\"}" * 100)
        update(X, np.zeros(len(X), int), 1)
        _os.write(2, b"\\xff" * 70000)
    return _own_fit(X, init_centers, max_iter)
'''}},
    # several starts of k-means at once, in threads: each calls the lent assign and update
    "threads": {"edits": {"fit": '''
from concurrent.futures import ThreadPoolExecutor as _Pool
_own_fit = fit
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    with _Pool(4) as pool:
        runs = list(pool.map(lambda c: _own_fit(X, c, max_iter),
                             [np.asarray(init_centers, float)] * 4))
    return min(runs, key=lambda run: run[2][-1])
'''}},
    # a time limit by SIGALRM, in a decorator, around fit and soft_assign
    "alarm_decorator": {"edits": {"assign": '''
import functools as _ft, signal as _signal

def time_limit(seconds):
    def decorate(f):
        @_ft.wraps(f)
        def limited(*args, **kwargs):
            def _too_slow(signum, frame):
                raise TimeoutError(f"{f.__name__} took over {seconds} s")
            old = _signal.signal(_signal.SIGALRM, _too_slow)
            _signal.alarm(seconds)
            try:
                return f(*args, **kwargs)
            finally:
                _signal.alarm(0)
                _signal.signal(_signal.SIGALRM, old)
        return limited
    return decorate
''', "fit": "fit = time_limit(5)(fit)\n", "soft_assign": "soft_assign = time_limit(5)(soft_assign)\n"}},
    # a watchdog: fit's first attempt is given 5 ms by SIGALRM, whose handler raises (most
    # likely while a callback's frame is on its way), and fit tries once more without it
    "watchdog": {"edits": {"fit": '''
import signal as _signal

class _TooSlow(Exception):
    pass

def _too_slow(signum, frame):
    raise _TooSlow

_own_fit = fit
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    old = _signal.signal(_signal.SIGALRM, _too_slow)
    try:
        try:
            _signal.setitimer(_signal.ITIMER_REAL, 0.005)
            return _own_fit(X, init_centers, max_iter)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    except _TooSlow:
        return _own_fit(X, init_centers, max_iter)
    finally:
        _signal.signal(_signal.SIGALRM, old)
'''}},
    # several starts of k-means in a forked multiprocessing pool: each child calls the lent
    # assign and update itself
    "forked_pool": {"edits": {"fit": '''
import multiprocessing as _mp
_own_fit = fit

def _one_start(args):
    return _own_fit(*args)

def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    with _mp.get_context("fork").Pool(3) as pool:
        runs = pool.map(_one_start, [(X, np.asarray(init_centers, float), max_iter)] * 3)
    return min(runs, key=lambda run: run[2][-1])
'''}},
    # multiprocessing.dummy (threads) in soft_assign, a real forked Pool in a cell of its own
    "pools": {"edits": {"soft_assign": '''
from multiprocessing.dummy import Pool as _ThreadPool
_own_soft = soft_assign
def soft_assign(X, centers, beta):
    X = np.asarray(X, float)
    with _ThreadPool(2) as pool:
        rows = pool.map(lambda x: _own_soft(x[None, :], centers, beta)[0], list(X))
    return np.array(rows).reshape(len(X), len(centers))
'''}, "extra": {"update": '''
import multiprocessing as _mp
with _mp.get_context("fork").Pool(2) as pool:
    print(sum(pool.map(abs, range(-10, 10))))
'''}},
}


def _solution_cells():
    sol = nbformat.read(ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb", as_version=4)
    return [nbformat.v4.new_code_cell(c.source, metadata=dict(c.metadata))
            if c.cell_type == "code" else c for c in sol.cells]


def _notebook(spec: dict | None = None):
    """hw1's solution with ``spec["edits"]`` (grade_id -> code appended to that answer cell)
    and ``spec["extra"]`` (grade_id -> a new ungraded code cell after it, ``1 + more`` times)."""
    spec = spec or {}
    cells = []
    for cell in _solution_cells():
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in spec.get("edits", {}):
            cell.source += "\n\n" + spec["edits"][gid]
        cells.append(cell)
        if gid in spec.get("extra", {}):
            cells += [nbformat.v4.new_code_cell(spec["extra"][gid])
                      for _ in range(1 + spec.get("more", 0))]
    return nbformat.v4.new_notebook(cells=cells)


def _verdicts(nb) -> dict:
    return part_verdicts(nb, PARTS)


@pytest.fixture
def made(monkeypatch):
    """The uids and scratch directories of the sandboxes started during the test."""
    return record_sandboxes(monkeypatch)


def _leftovers(made: dict) -> list[str]:
    return sandbox_leftovers(made)


def _grade(spec, tmp_path, name):
    report = tmp_path / f"{name}.csv"
    nb = trusted_grade(_notebook(spec), report, **CONFIG)
    return nb, report.read_text() if report.exists() else ""


def _assert_graded(spec, nb, report, made, tmp_path):
    verdicts = _verdicts(nb)
    fails = spec.get("fails", {})
    for part in PARTS:
        if part in fails:
            assert re.search(fails[part], verdicts[part]), (part, verdicts[part])
        else:
            assert verdicts[part] == "", (part, verdicts[part])
    for cell in nb.cells:  # an honest cell not run says why, and blames no one else
        if cell.metadata.get("nbgrader", {}).get("grade_id") in spec.get("not run", ()):
            shown = [o.get("evalue", "") for o in cell.outputs]
            assert shown and shown[0].startswith("not run: the worker was restarted too "
                                                 "often"), shown
    if spec.get("flag"):
        assert spec["flag"] in report, report
    deadline = time.monotonic() + 5  # a killed sandbox's processes take a moment to go
    while _leftovers(made) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftovers(made) == []
    honest, _ = _grade(None, tmp_path, "honest_next")  # the grader is still in step
    assert _verdicts(honest) == dict.fromkeys(PARTS, "")


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_at_the_restart_boundary_costs_its_part_only(attack, tmp_path, made):
    spec = ATTACKS[attack]
    start = time.monotonic()
    nb, report = _grade(spec, tmp_path, attack)
    assert time.monotonic() - start < CONFIG["notebook_timeout"]
    _assert_graded(spec, nb, report, made, tmp_path)


KNOWN_BUGS: dict = {}  # variant -> the bug it shows (a strict expected failure)


@pytest.mark.parametrize("variant", [
    pytest.param(v, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[v]))
    if v in KNOWN_BUGS else v for v in HONEST])
def test_honest_threads_signals_and_pools_get_every_point(variant, tmp_path, made):
    nb, report = _grade(HONEST[variant], tmp_path, variant)
    _assert_graded(HONEST[variant], nb, report, made, tmp_path)
    # no report row from the run (the static scan may name `import signal` for a reader)
    rows = [line for line in report.splitlines()[1:] if any(words in line for words in RUN_ROWS)]
    assert rows == [], rows
