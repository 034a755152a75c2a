"""``python -m emcourse_grader serve`` as a plain process on a filesystem exchange, for real.

A temporary copy of the course (hw1, policy: 2 attempts, the best counts) with nbgrader's
filesystem exchange; students fetch and submit with nbgrader's own exchange classes; the
service is the real command (Dask with TLS, the sandbox, nbgrader's collect, feedback and
release). No instructor command runs after the release.
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class
from serve_helpers import fetch_feedback, serve, serve_class, submit

from emcourse_grader.serve.queue import Journal

HW, NOTEBOOK = "hw1", demo_class.ASSIGNMENTS["hw1"]
POLICY = '\n[assignments.policy]\nattempts = 2\ncounts = "best"\n'


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    return serve_class(tmp_path_factory.mktemp("serve"), {HW: POLICY})


def _submit(klass, student: str, recipe: str) -> None:
    submit(klass, student, HW, recipe)


def _serve_until_idle(klass, workers=2) -> str:
    proc = serve(klass, "--until-idle", "--workers", str(workers))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


def _journal(klass) -> Journal:
    return Journal(klass[0] / "serve" / "journal.sqlite")


def _gradebook_score(course: Path, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission(HW, student).score


def _fetch_feedback(klass, student: str) -> list[Path]:
    """What ``nbgrader fetch_feedback hw1`` gives the student."""
    return fetch_feedback(klass, student, HW)


def test_graded_and_released_to_each_student_alone_through_a_kill_and_a_restart(klass):
    """ada and bob submit; the service (one worker) grades and releases with no instructor
    command. It is killed (SIGKILL, its whole process group, Dask included) once one job is
    done and the other is being graded, then started again: nothing is lost, the finished
    job is not graded again, each feedback is released once."""
    course, _ = klass
    _submit(klass, "ada", "solution")
    _submit(klass, "bob", "partial.py")
    proc = serve(klass, "--workers", "1", start_new_session=True)
    j = _journal(klass)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            states = sorted(t.state for t in j.attempts())
            if states in (["done", "grading"], ["done", "graded"]):
                break
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.05)
        else:
            pytest.fail(f"never one done and one grading: {j.attempts()}")
        first = j.attempts(states=["done"])[0]
        graded = course / "autograded" / first.student / HW / f"{NOTEBOOK}.ipynb"
        mtime = graded.stat().st_mtime_ns
        time.sleep(0.3)  # into the other's grading (one sandboxed run takes over a second)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert j.get(first.id).state == "done"
    # The service is pipelined: when the kill came, the other job was on the worker
    # ("grading": its result is lost and it must be sent once more) or its result was
    # written ("graded", or "done" by then: it must not be graded again).
    second = next(t for t in j.attempts() if t.id != first.id)
    written = j.get(second.id).state != "grading"
    graded2 = course / "autograded" / second.student / HW / f"{NOTEBOOK}.ipynb"
    mtime2 = graded2.stat().st_mtime_ns if written else None
    _serve_until_idle(klass, workers=1)

    rows = {t.student: t for t in j.attempts()}
    assert {s: (t.state, t.score, t.number, t.counts) for s, t in rows.items()} == {
        "ada": ("done", 90, 1, True), "bob": ("done", 40, 1, True)}, rows
    assert graded.stat().st_mtime_ns == mtime, f"{first.student}'s finished job was regraded"
    if written:
        assert rows[second.student].restarts == 0, rows[second.student]
        assert graded2.stat().st_mtime_ns == mtime2, \
            f"{second.student}'s written result was graded again"
    else:
        assert rows[second.student].restarts == 1, rows[second.student]
    released = [e["attempt"] for e in j.events("released")]
    assert sorted(released) == sorted({t.id for t in rows.values()}), released
    # the failure messages of bob's parts are kept, per part
    assert any(v[2] for v in rows["bob"].parts[NOTEBOOK].values()), rows["bob"].parts
    assert _gradebook_score(course, "ada") == 90 and _gradebook_score(course, "bob") == 40
    # each student fetches their own feedback, and only theirs
    ada = _fetch_feedback(klass, "ada")
    assert len(ada) == 1 and "(Score: 90 / 100)" in ada[0].read_text()
    bob = _fetch_feedback(klass, "bob")
    assert len(bob) == 1 and "(Score: 40 / 100)" in bob[0].read_text()
    status = (course / "serve" / "status.html").read_text()
    assert "Grading service: emcourse" in status and "test_assign" in status
    assert (course / "serve").stat().st_mode & 0o777 == 0o700


def test_a_worse_attempt_is_kept_the_best_counts_and_the_limit_holds(klass):
    """bob (policy: 2 attempts, the best counts) resubmits a blank notebook: graded, kept in
    the journal, but his 40 stays in the gradebook; a third submission is not graded."""
    course, _ = klass
    _submit(klass, "bob", "blank")
    _serve_until_idle(klass, workers=1)
    j = _journal(klass)
    first, second = j.attempts(student="bob")
    assert (second.state, second.score, second.number) == ("done", 0, 2)
    assert first.counts and not second.counts
    assert _gradebook_score(course, "bob") == 40
    assert len(_fetch_feedback(klass, "bob")) == 2  # feedback on each attempt

    _submit(klass, "bob", "solution")
    _serve_until_idle(klass, workers=1)
    j = _journal(klass)
    last = j.attempts(student="bob")[-1]
    assert (last.state, last.reason, last.number) == ("refused", "all 2 attempts used", None)
    assert _gradebook_score(course, "bob") == 40
    from emcourse_grader import course as manifest
    from emcourse_grader.serve import pages

    view = pages.student_view(j, manifest.load(course), "bob")
    statuses = [a["status"] for a in view["assignments"][0]["attempts"]]
    assert statuses == ["feedback ready", "feedback ready",
                        "not graded (all 2 attempts used)"], statuses


def test_a_slow_submission_does_not_hold_back_a_fast_one_submitted_after_it(klass):
    """A pipeline, not batches (two workers): carl's endless loop (stopped by its budget)
    is on the cluster when dana submits a solution; her wait beyond her own costs (her grading
    task, the service's own collect and feedback) is a small part of carl's grading time,
    whatever the machine's load. With batches of jobs her feedback would wait for the end of
    carl's grading: that wait would be most of it."""
    _submit(klass, "carl", "loop.py")
    proc = serve(klass, "--workers", "2", start_new_session=True)
    j = _journal(klass)
    try:
        deadline = time.monotonic() + 400
        # carl's task on the cluster (which starts with it): then dana submits
        while not {e["attempt"] for e in j.events("sent")} & {
                t.id for t in j.attempts(student="carl")}:
            assert time.monotonic() < deadline, j.attempts(student="carl")
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.1)
        _submit(klass, "dana", "solution")
        while not all(t.state == "done" for t in j.attempts() if t.student in ("carl", "dana")
                      ) or len(j.attempts(student="dana")) < 1:
            assert time.monotonic() < deadline, j.attempts()
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    (carl,), (dana,) = j.attempts(student="carl"), j.attempts(student="dana")
    assert (carl.score, dana.score) == (0, 90), (carl, dana)
    # from her submission (the exchange's time), not from when the service noticed it: a
    # service busy with a batch does not look at the exchange
    submitted = datetime.datetime.fromisoformat(dana.submitted).timestamp()
    wait = (dana.finished - submitted) - (dana.worker_s + dana.service_s)
    assert wait < 0.5 * carl.worker_s, (
        f"dana waited {wait:.1f} s beyond her own {dana.worker_s:.1f} s of grading and "
        f"{dana.service_s:.1f} s of the service's work; carl's grading took "
        f"{carl.worker_s:.1f} s")
