"""One grading writer per course (emcourse_grader.course_lock), with real processes.

A real ``python -m emcourse_grader grade hw1`` holds the course while its one submission
sleeps in a cell; meanwhile a second ``grade`` and a serial ``nbgrader autograde --force`` are
refused at once, the holder named, and nothing of the course changes. A real ``serve``
refuses ``grade`` and a second ``serve``. A holder killed with SIGKILL frees the course (the
kernel drops its flock); a record left by a dead process blocks nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emcourse_grader import course as manifest
from emcourse_grader import course_lock, custody

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = "hw1"
NB = f"{demo_class.ASSIGNMENTS[HW]}.ipynb"
SLEEP = 10  # seconds ada's notebook sleeps in its first answer cell: the holder's hold

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("EMCOURSE_UNSANDBOXED") != "1",
    reason="grading needs bubblewrap (make installs it)")

# A process that takes the lock as the commands do, says so, and holds it until killed.
HOLDER = """
import sys, time
from emcourse_grader.course_lock import acquire
acquire(sys.argv[1], sys.argv[2], sys.argv[3:])
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The demo course with hw1 generated and one collected submission (ada's: the solution,
    after a cell that sleeps SLEEP seconds)."""
    base = tmp_path_factory.mktemp("course_lock")
    course = demo_class.copy_course(base / "course", [HW])
    course.chmod(0o700)
    demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=lambda *a: None)
    recipe = base / "slow.py"
    recipe.write_text(f"# %% * = solution\n\n# %% preamble\nimport time\ntime.sleep({SLEEP})\n")
    folder = course / "submitted" / "ada" / HW
    folder.mkdir(parents=True)
    shutil.copy(course / "assignments" / HW / NB, folder / NB)
    demo_class.fill_notebook(folder / NB, course / "solutions" / HW / NB, str(recipe), HW)
    (folder / "timestamp.txt").write_text("2026-12-06 10:00:00.000000 UTC")
    custody.seal(folder)
    return course


def _run(course, *argv, timeout=120):
    return subprocess.run([sys.executable, "-m", *argv], cwd=course, env=demo_class._env(),
                          capture_output=True, text=True, check=False, timeout=timeout)


def _start(course, *argv):
    return subprocess.Popen([sys.executable, *argv], cwd=course, env=demo_class._env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _record(course) -> dict:
    try:
        return json.loads(course_lock.path(course, HW).read_text() or "{}")
    except FileNotFoundError:
        return {}


def _wait_for_holder(course, pid, proc, timeout=60):
    """Until the lock's record names ``pid`` (the holder has taken it)."""
    deadline = time.monotonic() + timeout
    while _record(course).get("pid") != pid:
        if proc.poll() is not None:
            raise AssertionError(f"the holder ended first:\n{proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the holder {pid} never took the lock")
        time.sleep(0.1)


def _state(course) -> dict:
    """What a writer would change: the gradebook's bytes, the autograded/ tree, the report."""
    def digest(p):
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
    tree = sorted(str(p.relative_to(course)) for p in (course / "autograded").rglob("*")) \
        if (course / "autograded").exists() else []
    return {"gradebook": digest(course / "gradebook.db"), "autograded": tree,
            "report": digest(course / "integrity_report.csv")}


@pytest.fixture(scope="module")
def while_grade_holds(course):
    """A real ``grade hw1`` run, and while it grades ada (her notebook sleeping), a second
    ``grade`` and a serial ``nbgrader autograde --force``: their results, the course's state
    before and after them, and the holder's own result."""
    holder = _start(course, "-m", "emcourse_grader", "grade", HW, "--workers", "1",
                    "--no-summary")
    try:
        _wait_for_holder(course, holder.pid, holder)
        time.sleep(1)  # past the coordinator's start: it writes nothing until ada is graded
        before = _state(course)
        start = time.perf_counter()
        second = _run(course, "emcourse_grader", "grade", HW, "--workers", "1",
                      "--no-summary")
        second_s = time.perf_counter() - start
        serial = _run(course, "nbgrader", "autograde", HW, "--force")
        during = _state(course)
        still_running = holder.poll() is None
        out, _ = holder.communicate(timeout=300)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    return {"holder": holder, "holder_out": out, "second": second, "second_s": second_s,
            "serial": serial, "before": before, "during": during,
            "still_running": still_running}


@needs_bwrap
def test_grade_refuses_while_grade_holds_the_course(while_grade_holds):
    r = while_grade_holds
    assert r["still_running"], "the holder ended before the contenders ran: no contest"
    second = r["second"]
    err = second.stdout + second.stderr
    assert second.returncode == 1, err
    assert f"`python -m emcourse_grader grade {HW}`" in err, err
    assert f"pid {r['holder'].pid}" in err and "since 20" in err, err
    assert "Wait for it to finish" in err, err
    assert r["second_s"] < 5, f"refused after {r['second_s']:.1f} s, not at once"
    assert f"{HW}: " not in err  # it graded nothing


@needs_bwrap
def test_serial_autograde_refuses_and_changes_nothing(while_grade_holds, course):
    r = while_grade_holds
    serial = r["serial"]
    out = serial.stdout + serial.stderr
    assert serial.returncode == 1, out[-3000:]
    assert f"pid {r['holder'].pid}" in out and "emcourse_grader grade" in out, out[-3000:]
    assert "Removing existing" not in out and "Converting notebook" not in out, out[-3000:]
    assert r["during"] == r["before"]  # gradebook, autograded/, report untouched


@needs_bwrap
def test_the_holder_grades_undisturbed_and_lets_go(while_grade_holds, course):
    r = while_grade_holds
    assert r["holder"].returncode == 0, r["holder_out"][-3000:]
    assert "ada: 90/100" in r["holder_out"], r["holder_out"][-3000:]
    assert (course / "autograded" / "ada" / HW / NB).is_file()
    assert _record(course) == {}  # released: the record is cleared
    with course_lock.acquire(course, "the test", [HW]):  # and the course is free
        pass


def test_grade_and_a_second_service_refuse_while_serve_runs(course, tmp_path):
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    serve = _start(course, "-m", "emcourse_grader", "serve", "--poll", "0.5", "--workers",
                   "1", f"--Exchange.root={exchange}")
    try:
        _wait_for_holder(course, serve.pid, serve)
        assert _record(course)["command"] == "python -m emcourse_grader serve"
        grade = _run(course, "emcourse_grader", "grade", HW, "--no-summary")
        err = grade.stdout + grade.stderr
        assert grade.returncode == 1, err
        assert "`python -m emcourse_grader serve`" in err and f"pid {serve.pid}" in err, err
        assert "stop it first" in err, err
        again = _run(course, "emcourse_grader", "serve", f"--Exchange.root={exchange}")
        assert again.returncode == 1, again.stderr
        assert "serve: " in again.stderr and f"pid {serve.pid}" in again.stderr, again.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    assert serve.returncode == 0
    with course_lock.acquire(course, "the test", [HW]):
        pass


def test_sigkill_frees_the_course_and_a_dead_record_blocks_nothing(course):
    holder = _start(course, "-c", HOLDER, str(course), "a test holder", HW)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(course_lock.CourseBusy) as busy:
            course_lock.acquire(course, "the test", [HW])
        assert busy.value.holder["pid"] == holder.pid
        assert "`a test holder`" in str(busy.value)
    finally:
        holder.kill()  # SIGKILL: no handler, no cleanup, the record stays
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert _record(course)["pid"] == holder.pid  # the dead holder's record is still there
    # The kernel dropped its flock: the real command takes the course.
    proc = _run(course, "nbgrader", "autograde", HW)  # ada's graded already: skipped
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    with course_lock.acquire(course, "the test", [HW]) as hold:
        assert _record(course)["command"] == "the test"
        assert _record(course)["pid"] == os.getpid()
        again = course_lock.acquire(course, "the same process", [HW])  # shares the one lock
        again.release()
        assert _record(course)["command"] == "the test"
    assert hold.released and _record(course) == {}


def test_the_lock_lives_in_the_private_folder(tmp_path):
    with course_lock.acquire(tmp_path, "the test", ["hw1"]):
        folder = tmp_path / ".emcourse"
        assert (folder.stat().st_mode & 0o777) == 0o700
        assert (course_lock.path(tmp_path, "hw1").stat().st_mode & 0o777) == 0o600


def test_the_record_is_read_within_bounds(tmp_path):
    file = tmp_path / "writer.lock"
    file.write_text(json.dumps({"command": "x" * 10_000, "pid": 1}))
    fd = os.open(file, os.O_RDONLY)
    try:
        assert course_lock.read_record(fd) == {}  # cut at MAX_RECORD: not JSON
    finally:
        os.close(fd)
    text = course_lock.describe(tmp_path, "hw1", {})
    assert "another grading command" in text and "pid unknown" in text


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="root: expected a path"):
        course_lock.acquire(3, "grade", ["hw1"])
    with pytest.raises(ValueError, match="command: expected"):
        course_lock.acquire(tmp_path, " ", ["hw1"])
    with pytest.raises(ValueError, match="is not a directory"):
        course_lock.acquire(tmp_path / "missing", "grade", ["hw1"])
    with pytest.raises(TypeError, match="assignments: expected a list"):
        course_lock.acquire(tmp_path, "grade", "hw1")
    with pytest.raises(ValueError, match="assignments: expected at least one"):
        course_lock.acquire(tmp_path, "grade", [])
    for bad in ("../hw1", "hw/1", "", ".hidden", "a" * 101):
        with pytest.raises(ValueError, match="assignments: expected assignment ids"):
            course_lock.acquire(tmp_path, "grade", [bad])
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / ".emcourse").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="is a link or a file"):  # not followed
        course_lock.acquire(tmp_path / "course", "grade", ["hw1"])


def test_other_assignments_are_graded_side_by_side(tmp_path):
    """The deployment's service serves hw2 while the instructor grades hw1 with ``grade``:
    each assignment has its own lock; taking several is all or nothing."""
    holder = _start(tmp_path, "-c", HOLDER, str(tmp_path), "python -m emcourse_grader serve",
                    "hw2")
    try:
        assert holder.stdout.readline().strip() == "held"
        with course_lock.acquire(tmp_path, "grade hw1", ["hw1"]):
            pass  # hw1 is free
        with pytest.raises(course_lock.CourseBusy, match="hw2 of the course") as busy:
            course_lock.acquire(tmp_path, "grade hw1 hw2", ["hw1", "hw2"])
        assert busy.value.holder["pid"] == holder.pid and "--assignments" in str(busy.value)
        with course_lock.acquire(tmp_path, "grade hw1", ["hw1"]):  # not kept by the refusal
            pass
    finally:
        holder.kill()
        holder.wait()


def test_autograde_patterns_name_the_manifests_assignments(course):
    ids = [a.id for a in manifest.load(course).assignments]
    assert course_lock.autograde_assignments(course, "*") == ids
    assert course_lock.autograde_assignments(course, "hw1") == ["hw1"]
    assert course_lock.autograde_assignments(course, "hw[1]") == ["hw1"]
    assert course_lock.autograde_assignments(course, "nothing*") == []
