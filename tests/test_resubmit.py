"""Resubmissions: the last submission is the one graded, with the plain commands of the docs.

Through the real nbgrader commands in a temporary copy of the course (scripts/demo_class.py):
two students submit hw1 and are graded; one submits again; ``nbgrader collect hw1``,
``nbgrader autograde hw1`` and ``nbgrader generate_feedback hw1`` (no --update, no --force)
then redo exactly that student's submission and skip the other's. And, without nbgrader
commands, the one case nbgrader's timestamps miss (emcourse_grader/resubmit.py): a collected
submission older than the graded one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

from emcourse_grader import custody

HW, NOTEBOOK = "hw1", demo_class.ASSIGNMENTS["hw1"]


def _scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(HW).submissions}


def _work(exchange, course: Path, student: str, recipe: str, fetch: bool = True) -> None:
    folder = exchange.fetch(student, HW) if fetch else exchange.home(student) / HW
    demo_class.fill_notebook(folder / f"{NOTEBOOK}.ipynb",
                             course / "solutions" / HW / f"{NOTEBOOK}.ipynb", recipe, HW)
    exchange.submit(student, HW)


def test_a_resubmission_is_collected_and_regraded_by_the_plain_commands(tmp_path):
    course = demo_class.copy_course(tmp_path / "course", assignments=[HW])
    exchange = demo_class.Exchange(tmp_path)
    log: list[str] = []

    def nbgrader(*args):
        return demo_class.nbgrader(course, *args, log=log.append)

    xroot = f"--Exchange.root={exchange.root}"
    nbgrader("generate_assignment", HW, "--force")
    nbgrader("release_assignment", HW, "--force", xroot)
    _work(exchange, course, "ada", "partial.py")
    _work(exchange, course, "bob", "solution")
    # The exchange's copies open to everyone (as a 0777 exchange leaves them): the collected
    # ones must still be the grader's alone (emcourse_grader.custody.seal).
    for path in (exchange.root / demo_class.COURSE_ID / "inbound").rglob("*"):
        path.chmod(0o777)
    nbgrader("collect", HW, xroot)
    for student in ("ada", "bob"):
        assert custody.breach(course / "submitted" / student / HW) == "", student
    nbgrader("autograde", HW)
    nbgrader("generate_feedback", HW)
    first = _scores(course)
    assert first == {"ada": demo_class.EXPECTED[HW]["partial"],
                     "bob": demo_class.EXPECTED[HW]["ada"]}, first
    bob_graded = course / "autograded" / "bob" / HW / f"{NOTEBOOK}.ipynb"
    bob_mtime = bob_graded.stat().st_mtime_ns

    # ada finishes her homework and submits again
    _work(exchange, course, "ada", "solution", fetch=False)
    collect = nbgrader("collect", HW, xroot)
    assert "Updating submission: ada hw1" in collect, collect
    assert "No newer submission to collect: bob hw1" in collect, collect
    autograde = nbgrader("autograde", HW)
    feedback = nbgrader("generate_feedback", HW)

    autograded, feedback_dir = course / "autograded", course / "feedback"
    assert f"Updating existing assignment: {autograded / 'ada' / HW}" in autograde, autograde
    assert f"Skipping existing assignment: {autograded / 'bob' / HW}" in autograde, autograde
    assert f"Updating existing assignment: {feedback_dir / 'ada' / HW}" in feedback, feedback
    assert f"Skipping existing assignment: {feedback_dir / 'bob' / HW}" in feedback, feedback
    assert bob_graded.stat().st_mtime_ns == bob_mtime, "bob's unchanged submission was regraded"
    assert _scores(course) == {"ada": demo_class.EXPECTED[HW]["ada"],
                               "bob": demo_class.EXPECTED[HW]["ada"]}, "\n".join(log)
    html = (feedback_dir / "ada" / HW / f"{NOTEBOOK}.html").read_text()
    assert f"(Score: {demo_class.EXPECTED[HW]['ada']} / 100)" in html


# --------------------------------------------------------------------------------------------
# ResubmitCollect on its own: graded copies made from a later submission than the collected one
# --------------------------------------------------------------------------------------------

@pytest.fixture
def collector(tmp_path):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from emcourse_grader.resubmit import ResubmitCollect

    c = Config()
    c.CourseDirectory.root = str(tmp_path)
    c.CourseDirectory.course_id = "emcourse"
    c.CourseDirectory.assignment_id = HW
    c.Exchange.root = str(tmp_path / "exchange")
    coursedir = CourseDirectory(config=c)
    return ResubmitCollect(coursedir=coursedir, authenticator=Authenticator(config=c), config=c)


def _stamp(path: Path, when: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "timestamp.txt").write_text(when)


@pytest.mark.parametrize(("submitted", "graded", "stale"), [
    ("2026-12-01 10:00:00.000000 UTC", "2026-12-01 11:00:00.000000 UTC", True),   # older
    ("2026-12-01 12:00:00.000000 UTC", "2026-12-01 11:00:00.000000 UTC", False),  # newer
    ("2026-12-01 11:00:00.000000 UTC", "2026-12-01 11:00:00.000000 UTC", False),  # same
])
def test_graded_copies_of_a_later_submission_are_removed(collector, tmp_path, submitted, graded,
                                                         stale):
    """An on-time submission collected after a late one was graded (a due date set later):
    nbgrader would skip it (not newer); ResubmitCollect removes the stale copies instead."""
    _stamp(tmp_path / "submitted" / "ada" / HW, submitted)
    for directory in ("autograded", "feedback"):
        _stamp(tmp_path / directory / "ada" / HW, graded)
    assert collector.invalidate_stale("ada") is stale
    for directory in ("autograded", "feedback"):
        assert (tmp_path / directory / "ada" / HW).exists() is not stale
