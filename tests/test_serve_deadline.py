"""``python -m emcourse_grader serve`` across an assignment's deadline, for real.

A temporary copy of the course with hw1 (policy: unlimited attempts, students see their score
only before the deadline) and hw2 (policy: "none-before-deadline"), nbgrader's filesystem
exchange, students fetching and submitting with nbgrader's own exchange classes, and the
real service (Dask with TLS, the sandbox, nbgrader's collect, feedback and release).

Before the deadline (far away at first): ada's hw1 is graded and she gets her score alone;
bob's two hw2 submissions wait. Then the instructor moves both deadlines to a few seconds from
now and the service, running, crosses them: ada's released feedback is replaced by nbgrader's
whole feedback, and bob's last on-time submission is graded (the earlier one is not).
"""

from __future__ import annotations

import datetime
import os
import signal
import time

import pytest
from serve_helpers import fetch_feedback, serve, serve_class, submit

from emcourse_grader.serve.queue import Journal

FAR = "2099-01-01T00:00:00Z"
POLICIES = {"hw1": f'\n[assignments.policy]\nshow = "score"\ndeadline = {FAR}\n',
            "hw2": f'\n[assignments.policy]\nattempts = "none-before-deadline"\n'
                   f'deadline = {FAR}\n'}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    return serve_class(tmp_path_factory.mktemp("serve_deadline"), POLICIES)


def _serve(klass, *args, **popen):
    return serve(klass, "--workers", "1", *args, **popen)


def _feedback(klass, student: str, hw: str) -> list[str]:
    """The pages ``nbgrader fetch_feedback`` gives the student now."""
    return [p.read_text() for p in fetch_feedback(klass, student, hw, fresh=True)]


def test_at_the_deadline_feedback_is_whole_and_waiting_submissions_are_graded(klass):
    course, _ = klass
    submit(klass, "ada", "hw1", "solution")
    submit(klass, "bob", "hw2", "blank")
    submit(klass, "bob", "hw2", "solution")
    proc = _serve(klass, "--until-idle")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    j = Journal(course / "serve" / "journal.sqlite")

    # before the deadline: ada's score only; bob's submissions wait, neither graded
    (ada,) = j.attempts(student="ada")
    assert (ada.state, ada.score, ada.shown) == ("done", 90, "score"), ada
    (page,) = _feedback(klass, "ada", "hw1")
    assert "<strong>90 / 90</strong>" in page and "shown after the deadline" in page
    assert "(Score: 90 / 100)" not in page
    assert [t.state for t in j.attempts(student="bob")] == ["waiting", "waiting"]
    assert _feedback(klass, "bob", "hw2") == []

    # the instructor moves both deadlines to a few seconds from now; the service crosses them
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=15))
    toml = course / "course.toml"
    toml.write_text(toml.read_text().replace(
        FAR, soon.strftime("%Y-%m-%dT%H:%M:%SZ")))
    proc = _serve(klass, start_new_session=True)
    try:
        end = time.monotonic() + 500
        while not (j.get(ada.id).shown == "messages" and
                   [t.state for t in j.attempts(student="bob")] == ["superseded", "done"]):
            assert time.monotonic() < end, (j.get(ada.id), j.attempts(student="bob"))
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    # the whole feedback replaced ada's score-only page (the same submission: one page)
    (page,) = _feedback(klass, "ada", "hw1")
    assert "(Score: 90 / 100)" in page and "shown after the deadline" not in page
    reshown = [e for e in j.events("reshown") if e["attempt"] == ada.id]
    assert len(reshown) == 1, j.events("reshown")
    assert j.get(ada.id).finished == ada.finished  # not graded again
    # bob's last on-time submission was graded at the deadline, the earlier one was not
    early, last = j.attempts(student="bob")
    assert early.number is None and early.reason == "a later submission before the deadline"
    assert (last.number, last.counts) == (1, True) and last.score > 0, last
    assert j.events("released")[-1]["attempt"] == last.id
    assert last.started >= soon.timestamp() - 1
    (page,) = _feedback(klass, "bob", "hw2")
    assert f"(Score: {last.score:g} / 100)" in page
