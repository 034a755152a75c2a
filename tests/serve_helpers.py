"""What the grading service's tests share (tests/test_serve.py, tests/test_serve_deadline.py):
a demo course with a policy per assignment, released through a real exchange; a student's
submission through that exchange; the service started as an instructor starts it; and the
feedback a student fetches."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import demo_class


def serve_class(base: Path, policies: dict) -> tuple[Path, object]:
    """A copy of the demo course with ``policies`` (assignment -> the TOML text of its
    ``[assignments.policy]`` table) added to course.toml, each assignment generated and
    released into a fresh exchange under ``base``: (course root, demo_class.Exchange)."""
    course = demo_class.copy_course(base / "course", assignments=list(policies))
    toml = course / "course.toml"
    text = toml.read_text()
    for hw, policy in policies.items():
        marker = f'checks = "emcourse_grader.checks.{demo_class.ASSIGNMENTS[hw]}"\n'
        text = text.replace(marker, marker + policy, 1)
    toml.write_text(text)
    exchange = demo_class.Exchange(base)
    for hw in policies:
        demo_class.nbgrader(course, "generate_assignment", hw, "--force", log=lambda _: None)
        demo_class.nbgrader(course, "release_assignment", hw, "--force",
                            f"--Exchange.root={exchange.root}", log=lambda _: None)
    return course, exchange


def submit(klass, student: str, hw: str, recipe: str) -> None:
    """``student`` fetches ``hw`` (once), fills the released notebook afresh with ``recipe``
    (scripts/demo_class.py) and submits it through the exchange."""
    course, exchange = klass
    notebook = demo_class.ASSIGNMENTS[hw]
    folder = exchange.home(student) / hw
    if not folder.exists():
        exchange.fetch(student, hw)
    shutil.copy(course / "assignments" / hw / f"{notebook}.ipynb", folder)
    demo_class.fill_notebook(folder / f"{notebook}.ipynb",
                             course / "solutions" / hw / f"{notebook}.ipynb", recipe, hw)
    time.sleep(0.01)  # distinct timestamps
    exchange.submit(student, hw)


def serve(klass, *args, **popen) -> subprocess.Popen:
    """``python -m emcourse_grader serve --poll 0.5 ARGS`` in the course root, on the
    exchange, its output captured (text)."""
    course, exchange = klass
    cmd = [sys.executable, "-m", "emcourse_grader", "serve", "--poll", "0.5",
           f"--Exchange.root={exchange.root}", *args]
    return subprocess.Popen(cmd, cwd=course, env=demo_class._env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def fetch_feedback(klass, student: str, hw: str, *, fresh: bool = False) -> list[Path]:
    """The feedback pages of ``hw`` in ``student``'s folder after ``nbgrader
    fetch_feedback``; ``fresh``: only those fetched now (earlier ones removed first)."""
    from nbgrader.exchange.default import ExchangeFetchFeedback

    _, exchange = klass
    folder = exchange.home(student) / hw / "feedback"
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    exchange._run(ExchangeFetchFeedback, student, hw)
    return sorted(folder.rglob("*.html"))
