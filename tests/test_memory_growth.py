"""Memory that grows slowly, through the real sandbox and the real TrustedGrade.

The older attacks ask for memory all at once (tests/redteam/attacks/exhaust.py, the callback
floods of tests/test_callback_attacks.py). These grow it a little at a time, so that no
single request is large: a cell that appends 8 MB every 50 ms, the graded function growing a
module-level cache on every call of the checks, growth spread over cells, memory held outside
the Python heap (files in the sandbox's tmpfs home, /tmp and /dev/shm; anonymous mmap touched
page by page), a forked child that grows while its parent idles, and callbacks whose
arguments grow with every call (the course helper's memory).

Each notebook is graded with small limits (:class:`TrustedGrade`'s configuration) and must
end with: the attacked part at 0 points and a reason that names memory (or the process
being ended), the later honest parts judged as usual, the grader's own peak RSS under 1 GB,
no process of the sandbox left, no cgroup, no scratch mount or directory, and an honest
submission graded right after in the same process getting every point. The red-team file
``creep`` (all of it at once) is run the same way on hw1; two more tests pin the two fixes
this found: a callback request too large for a frame fails in the caller (it used to put the
worker and the grader out of step), and the tree's memory cap covers swap.
"""

from __future__ import annotations

import os
import re
import resource
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

from emcourse_grader import sandbox

pytestmark = needs_bwrap

ROOT = Path(__file__).resolve().parent.parent
MEMORY_MB = 600     # RLIMIT_AS per process and the tree's cgroup memory
DISK_MB = 96        # the scratch home, /tmp and /dev/shm: each a tmpfs this large
CONFIG = {"memory_mb": MEMORY_MB, "disk_mb": DISK_MB, "file_mb": 2 * DISK_MB, "cell_timeout": 3.0,
              "timeout": 8.0, "notebook_timeout": 90.0}
PARTS = ("test_assign", "test_update", "test_fit", "test_soft_assign")
GRADER_MB = 1024

# Growth helpers, put at the top of an answer cell: every step small, paced.
GROW = '''
import mmap as _mmap, os as _os, time as _time
_HOG = []
def _grow(step_mb=8, pause=0.05, steps=10**6):
    for _ in range(steps):
        _HOG.append(bytearray(b"x" * (step_mb * 2**20)))  # touched: resident, not just mapped
        _time.sleep(pause)
'''


def _solution_cells():
    sol = nbformat.read(ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb", as_version=4)
    return [nbformat.v4.new_code_cell(c.source, metadata=dict(c.metadata))
            if c.cell_type == "code" else c for c in sol.cells]


def _notebook(edits: dict | None = None, extra: dict | None = None):
    """The solution with ``edits`` (grade_id -> code appended to that answer cell) and
    ``extra`` (grade_id -> a new ungraded code cell inserted after it)."""
    cells = []
    for cell in _solution_cells():
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in (edits or {}):
            cell.source += "\n\n" + edits[gid]
        cells.append(cell)
        if gid in (extra or {}):
            cells.append(nbformat.v4.new_code_cell(extra[gid]))
    return nbformat.v4.new_notebook(cells=cells)


def _verdicts(nb) -> dict:
    """grade_id -> '' (passed) or the failure's message, for the four graded parts."""
    return part_verdicts(nb, PARTS)


@pytest.fixture
def made(monkeypatch):
    """What the sandboxes started during the test had: their uids and scratch directories
    (other graders may run beside the test; theirs are not ours to count)."""
    return record_sandboxes(monkeypatch)


def _leftovers(made: dict) -> list[str]:
    return sandbox_leftovers(made)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _grade(nb, tmp_path, name):
    return trusted_grade(nb, tmp_path / f"{name}.csv", **CONFIG)


ATTACKS = {
    # (a) one answer cell appends 8 MB every 50 ms to a global list until it is stopped
    "cell_appends": {"edits": {"assign": GROW + "\n_grow()\n"}, "shown": "MemoryError"},
    # (b) the graded function grows a module-level cache by 64 MB on every call
    "function_cache": {"edits": {"assign": GROW + """
_own_assign = assign
def assign(X, centers):
    _grow(64, 0.0, 1)
    return _own_assign(X, centers)
"""}, "fails": {"test_assign": "raised MemoryError"}},
    # (c) growth spread over cells: each adds 120 MB in 8 MB steps, never much at once
    "across_cells": {"edits": {"assign": GROW},
                     "extra": {g: "_grow(8, 0.02, 15)\nprint(len(_HOG) * 8, 'MB')"
                               for g in ("assign", "test_assign", "update", "test_update",
                                         "fit", "test_fit")},
                     "shown": "MemoryError"},
    # (d) outside the Python heap: files in the tmpfs home, /tmp and /dev/shm grown 4 MB
    # at a time until the disk is full, then anonymous mmap touched page by page
    "outside_heap": {"edits": {"assign": GROW}, "extra": {"assign": """
written = 0
for d in (_os.path.expanduser("~"), "/tmp", "/dev/shm"):
    try:
        with open(_os.path.join(d, "grow.bin"), "wb") as f:
            while True:
                f.write(b"y" * 2**22); f.flush(); written += 4
    except OSError as exc:
        print(d, "full after", written, "MB:", exc)
maps = []
while True:
    m = _mmap.mmap(-1, 16 * 2**20)
    for off in range(0, len(m), 4096):
        m[off] = 1
    maps.append(m)
    _time.sleep(0.01)
"""}, "shown": "Cannot allocate memory|MemoryError|stopped the process"},
    # (e) a forked child grows slowly (and keeps what it got) while its parent looks idle
    "forked_child": {"edits": {"assign": GROW}, "extra": {"assign": """
if _os.fork() == 0:
    try:
        _grow(8, 0.01)
    except MemoryError:
        _time.sleep(3600)
    _os._exit(0)
_time.sleep(2.5)
print("parent idle")
"""}, "shown": "parent idle"},
    # (g) a thread stack larger than the memory limit, set and never used (a deep recursion
    # idiom): the worker's own per-cell timer thread, started with that size, could not start,
    # and every later cell failed "can't start new thread" (as one did, at random, when
    # another thread's exit raced the next cell with the memory at its cap: across_cells)
    "thread_stack": {"edits": {"assign": GROW}, "extra": {"assign": """
import threading
threading.stack_size(2**30)
print("stack size set")
"""}, "shown": "stack size set"},
    # (f) fit hands the course's update (lent for fit's test) arguments 800,000 numbers
    # larger on each call: the helper's limit refuses them, then they outgrow a wire frame.
    # That frame used to be sent as an error *reply*, which ended the running call while
    # the worker still waited for the callback's answer: the two ends out of step, the
    # next cell's code taken for that answer, and soft_assign then "not defined".
    "growing_callbacks": {"edits": {"fit": """
_own_fit = fit
_calls = [0]
def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, float)
    for _ in range(40):
        _calls[0] += 1
        big = np.tile(X, (_calls[0] * 400_000 // max(len(X), 1) + 1, 1))
        update(big, np.zeros(len(big), int), len(init_centers))
    return _own_fit(X, init_centers, max_iter)
"""}, "fails": {"test_fit": "too large"}},
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_slow_growth_costs_its_part_and_nothing_else(attack, tmp_path, made):
    spec = ATTACKS[attack]
    start = time.monotonic()
    nb = _grade(_notebook(spec.get("edits"), spec.get("extra")), tmp_path, attack)
    verdicts = _verdicts(nb)
    shown = "\n".join(f"{o.get('ename', '')}: {o.get('evalue', '')}{o.get('text', '')}"
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    # the growth happened (its cell's outputs say how it ended) ...
    assert re.search(spec.get("shown", ""), shown), shown
    # ... the part whose function grows earns 0, with a reason a student can act on, and
    # every other part is judged as if nothing had happened (the growth outside a graded
    # function costs no point: the function is right)
    fails = spec.get("fails", {})
    for part in PARTS:
        if part in fails:
            assert re.search(fails[part], verdicts[part]), (part, verdicts[part])
        else:
            assert verdicts[part] == "", (part, verdicts[part])
    assert time.monotonic() - start < CONFIG["notebook_timeout"]
    assert _peak_mb() < GRADER_MB, f"the grader's own peak RSS: {_peak_mb():.0f} MB"
    assert _leftovers(made) == []
    honest = _grade(_notebook(), tmp_path, "honest")
    assert _verdicts(honest) == dict.fromkeys(PARTS, "")


def test_a_request_too_large_for_a_frame_fails_in_the_caller_and_sends_nothing():
    """The fix behind growing_callbacks, at the frame: replies are replaced by an error
    frame (the peer's request is answered), requests raise and leave the pipe empty."""
    from emcourse_grader.sandboxed import wire

    rfd, wfd = os.pipe()
    try:
        huge = {"op": "callback", "args": ["x" * (wire.MAX_MESSAGE + 1)]}
        with pytest.raises(wire.WireError, match="too large to send"):
            wire.send(wfd, huge, replace_oversized=False)
        os.set_blocking(rfd, False)
        with pytest.raises(BlockingIOError):
            os.read(rfd, 1)
        wire.send(wfd, {"op": "result", "value": "x" * (wire.MAX_MESSAGE + 1)})
        assert wire.recv(rfd, time.monotonic() + 5)["ename"] == "WireError"
    finally:
        os.close(rfd)
        os.close(wfd)


def test_the_red_team_file_creep_scores_nothing_and_leaves_nothing(tmp_path, made):
    """tests/redteam/attacks/creep.py (all the growths at once, run for the whole class by
    tests/test_redteam.py) on hw1, with this module's small limits."""
    import shutil
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import demo_class
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    path = tmp_path / "hw1_kmeans.ipynb"
    shutil.copy(ROOT / "assignments" / "hw1" / "hw1_kmeans.ipynb", path)
    demo_class.fill_notebook(path, ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb",
                             str(ROOT / "tests" / "redteam" / "attacks" / "creep.py"), "hw1")
    start = time.monotonic()
    verdicts = _verdicts(_grade(nbformat.read(path, as_version=4), tmp_path, "creep"))
    assert all(verdicts[part] for part in PARTS), verdicts
    assert time.monotonic() - start < CONFIG["notebook_timeout"]
    assert _peak_mb() < GRADER_MB
    assert _leftovers(made) == []
    assert _verdicts(_grade(_notebook(), tmp_path, "honest")) == dict.fromkeys(PARTS, "")


def test_the_trees_memory_cap_covers_swap_too():
    """The memory cgroup capped RAM alone: on a host with swap, a tree that grows slowly is
    paged out and goes on growing (each process up to its address-space limit, 128 of them).
    Swap is now capped with it: nothing more in v2 (``memory.swap.max`` 0), RAM and swap
    together at the same cap in v1 (``memory.memsw.limit_in_bytes``), where the kernel
    accounts swap."""
    import subprocess

    limits = sandbox.Limits(memory_mb=300, disk_mb=16)
    scratch = sandbox.make_scratch(limits)
    try:
        with sandbox.Sandboxed(["sleep", "30"], scratch=scratch, limits=limits,
                               stdout=subprocess.DEVNULL) as box:
            if box.cgroup is None or "memory" not in box.cgroup.active:
                pytest.skip("no memory cgroup here")
            folder = next(d for d in box.cgroup.dirs
                          if os.path.exists(os.path.join(d, "memory.max"))
                          or os.path.exists(os.path.join(d, "memory.limit_in_bytes")))
            v2 = Path(folder, "memory.swap.max")
            v1 = Path(folder, "memory.memsw.limit_in_bytes")
            if v2.exists():
                assert v2.read_text().strip() == "0"
            elif v1.exists():
                assert int(v1.read_text()) == 300 * 2**20
            else:
                pytest.skip("this kernel does not account swap (no swap cap to set)")
    finally:
        sandbox.remove_scratch(scratch)
