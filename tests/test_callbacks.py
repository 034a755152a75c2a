"""The course's versions a student's code calls back run in a limited helper, never in the grader.

First :class:`emcourse_grader.callbacks.CourseVersions` on its own (time, memory, argument
sizes), then through the real :class:`emcourse_grader.judge.Worker` and its sandboxed worker:
a student's ``fit`` that asks for too much gets a clear failure within about ``call_timeout``,
the grader stays small, and an honest ``fit`` still passes the hw1 check.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from emcourse_grader import judge, sandbox
from emcourse_grader.callbacks import CallbackError, CourseVersions, OutOfTime, measure
from emcourse_grader.sandboxed import wire
from emref import kmeans

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20
needs_bwrap = pytest.mark.skipif(bool(sandbox.availability()),
                                 reason=sandbox.availability() or "bwrap available")


def _peak_mb() -> float:
    """The high-water mark of this process's resident memory (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _call(helper, fn, *args, timeout=30.0, **kwargs):
    value = helper.call(fn, [wire.encode(a) for a in args],
                        {k: wire.encode(v) for k, v in kwargs.items()}, timeout)
    return wire.decode(value)


@pytest.fixture(scope="module")
def helper():
    course = CourseVersions(memory=512 * MB)
    try:
        yield course
    finally:
        course.close()


# --------------------------------------------------------------------------------------------
# The helper on its own
# --------------------------------------------------------------------------------------------

def test_the_course_version_runs_in_another_process_under_its_limits(helper, monkeypatch):
    monkeypatch.setenv("EMCOURSE_SECRET", "not for the helper")
    helper.close()  # a fresh helper, started with the variable set here
    assert _call(helper, os.getpid) != os.getpid()
    assert _call(helper, resource.getrlimit, resource.RLIMIT_AS) == (512 * MB, 512 * MB)
    assert _call(helper, resource.getrlimit, resource.RLIMIT_FSIZE) == (0, 0)
    assert _call(helper, resource.getrlimit, resource.RLIMIT_CPU) == (3600, 3600)
    assert _call(helper, os.getenv, "EMCOURSE_SECRET") is None
    X = np.random.default_rng(0).normal(size=(50, 2))
    assert np.array_equal(_call(helper, kmeans.assign, X, X[:3]), kmeans.assign(X, X[:3]))


def test_the_course_version_says_what_is_wrong_with_the_arguments(helper):
    with pytest.raises(CallbackError, match=r"centers must have shape \(k, 2\)"):
        _call(helper, kmeans.assign, np.zeros((5, 2)), np.zeros((2, 3)))
    assert _call(helper, kmeans.assign, np.zeros((5, 2)), centers=np.zeros((1, 2))).tolist() \
        == [0] * 5


def test_a_request_over_its_time_gets_an_error_within_about_it_and_the_next_one_works(helper):
    started = helper.started
    start = time.monotonic()
    with pytest.raises(OutOfTime, match="still running after 1.5 s"):
        _call(helper, time.sleep, 60.0, timeout=1.5)
    assert time.monotonic() - start < 3.5
    assert helper.proc is None  # killed
    assert _call(helper, os.getpid) != os.getpid()
    assert helper.started == started + 1


def test_a_memory_bomb_gets_an_error_and_the_grader_stays_small(helper):
    before = _peak_mb()
    for bomb in ([400_000_000], [(20_000, 20_000)]):  # 3.2 GB each, asked by size or shape
        with pytest.raises(CallbackError, match="more than 512 MB of memory"):
            _call(helper, np.ones, *bomb)
    assert _peak_mb() - before < 100
    assert _call(helper, np.ones, 3).tolist() == [1.0, 1.0, 1.0]  # a new helper


def test_a_helper_that_dies_is_an_error_and_is_started_again(helper):
    with pytest.raises(CallbackError, match=r"killed \(signal 6: more than 512 MB of memory\?\)"):
        _call(helper, os.abort)
    assert _call(helper, os.getpid) != os.getpid()


def test_oversized_arguments_are_refused_at_once_naming_the_size_and_the_cap():
    course = CourseVersions(max_numbers=1_000_000, max_depth=4)
    big = {"t": "nd", "dtype": "<f8", "shape": [20_000, 60], "b64": ""}  # never decoded
    start = time.monotonic()
    with pytest.raises(CallbackError, match="hold 1,200,010 numbers; the course's version "
                                            "takes at most 1,000,000"):
        course.call(kmeans.update, [big], {"labels": wire.encode(np.arange(10))}, 30)
    deep = wire.encode([[[[[1.0]]]]])
    with pytest.raises(CallbackError, match="nested 5 levels deep; .* at most 4"):
        course.call(kmeans.update, [deep], {}, 30)
    with pytest.raises(CallbackError, match="malformed arguments"):
        course.call(kmeans.update, [{"t": "nd", "shape": [-1]}], {}, 30)
    assert time.monotonic() - start < 0.5
    assert course.proc is None and course.started == 0  # nothing was started for them
    assert measure(wire.encode((np.zeros((3, 4)), [1, 2.0], {"a": "x" * 80}))) == (25, 2)


def test_a_function_the_helper_cannot_find_by_name_is_refused():
    with pytest.raises(TypeError, match="module-level function"):
        CourseVersions().call(lambda x: x, [], {}, 30)
    with pytest.raises(ValueError, match="memory must be a positive int; found 0"):
        CourseVersions(memory=0)


# --------------------------------------------------------------------------------------------
# Through the real Worker and its sandboxed worker
# --------------------------------------------------------------------------------------------

STUDENT = '''
import numpy as np

def fit_endless(X):
    while True:
        assign(X, X[:2])

def fit_huge_update(X):
    n = 800_000                # 4,800,001 numbers in 16 MB
    return update(np.zeros((n, 5), dtype=np.float32), np.zeros(n, dtype=np.int8), 3)

def fit_many_centres(X):
    Y = np.random.default_rng(0).normal(size=(20_000, 40))
    return assign(Y, Y)        # 20,000 x 20,000 distances: 3.2 GB

def fit_small(X):
    return assign(X, X[:1])    # one honest callback
'''
SUBSTITUTES = {"assign": kmeans.assign, "update": kmeans.update}
CALL_TIMEOUT = 6.0


@pytest.fixture(scope="module")
def worker():
    w = judge.Worker(call_timeout=CALL_TIMEOUT, budget=120)
    try:
        assert w.exec_cell(0, STUDENT).get("ok")
        yield w
    finally:
        w.close()


@needs_bwrap
def test_an_endless_loop_of_callbacks_ends_with_the_call(worker):
    """Every answer used to re-arm the call's timer: cheap callbacks in a loop held the grader
    until the notebook's budget (120 s here) ran out."""
    start = time.monotonic()
    passed, message = judge.run_test_cell(worker, "fit_endless(np.ones((10, 2)))",
                                          SUBSTITUTES)
    took = time.monotonic() - start
    assert not passed
    assert f"fit_endless did not return: no answer within {CALL_TIMEOUT:g} s" in message
    assert took < CALL_TIMEOUT + 4, took


@needs_bwrap
def test_oversized_and_memory_hungry_callbacks_fail_clearly_and_the_grader_stays_small(worker):
    before = _peak_mb()
    passed, message = judge.run_test_cell(worker, "fit_huge_update(None)", SUBSTITUTES)
    assert not passed
    assert "your code called update (the course's version is used here)" in message
    assert "hold 4,800,001 numbers; the course's version takes at most 4,000,000" in message
    start = time.monotonic()
    passed, message = judge.run_test_cell(worker, "fit_many_centres(None)", SUBSTITUTES)
    assert not passed
    assert "assign" in message and "more than 1,024 MB of memory" in message, message
    assert time.monotonic() - start < CALL_TIMEOUT + 4
    assert _peak_mb() - before < 300  # the frames themselves (8 MB of arrays each way)
    # the helper that ran out of memory is gone; the next callback gets a fresh one
    started = worker.course.started
    assert worker.course.proc is None
    passed, message = judge.run_test_cell(
        worker, "assert list(fit_small(np.ones((3, 2)))) == [0, 0, 0]", SUBSTITUTES)
    assert passed, message
    assert worker.course.started == started + 1


def _hw1_solution():
    nb = nbformat.read(ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb", as_version=4)
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    graded = [(i, c) for i, c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    fit = [c.source for _, c in graded if '"kmeans.fit"' in c.source]
    return [(i, c.source) for i, c in cells if (i, c) not in graded], fit[0]


@needs_bwrap
def test_an_honest_fit_that_calls_the_course_versions_still_passes():
    from emcourse_grader.preprocessors import _substitutes

    cells, fit_test = _hw1_solution()
    assert _substitutes(fit_test) == SUBSTITUTES
    w = judge.Worker(call_timeout=30, budget=120)
    try:
        for index, source in cells:
            assert w.exec_cell(index, source).get("ok"), source[:200]
        passed, message = judge.run_test_cell(w, fit_test, _substitutes(fit_test))
        assert passed, message
        assert w.course is not None and w.course.started == 1  # they ran in the helper
    finally:
        w.close()
    assert w.course.proc is None


def test_a_single_precision_number_crosses_the_wire_as_one_and_nothing_else_is_made():
    # a float32 result keeps its precision (the checks compare it at float32's), whatever
    # the value; a float64 one arrives as a Python float; a forged precision is refused
    for v in (np.float32(-2255.06), np.float16(0.5), np.float32("nan"), np.float32("-inf")):
        back = wire.decode(wire.encode(v))
        assert type(back) is type(v)
        assert back == v or (np.isnan(back) and np.isnan(v))
    assert type(wire.decode(wire.encode(np.float64(1.25)))) is float
    for forged in ("|O", "<f8", "<c8", 4, None, "<U10"):
        with pytest.raises(wire.WireError, match="precision"):
            wire.decode({"t": "float", "v": 1.0, "p": forged})
