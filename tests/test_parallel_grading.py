"""Parallel grading on Dask (emcourse_grader.parallel, ``python -m emcourse_grader grade``).

A real LocalCluster with two worker processes grades copies of the demo class that
tests/test_grading_roundtrip.py graded serially with ``nbgrader autograde`` (the serial run is
shared with that module): the same scores, comments, report rows and autograded notebooks; a
worker killed mid-run costs nothing; a killed run loses no finished grade and the rerun grades
only the rest; a resubmission collected through the exchange replaces the first one; a
missing or malformed notebook gets 0 and a reason. A few hw1 submissions keep it short.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from test_grading_roundtrip import class_run, demo_class

from emcourse_grader import parallel

HW = "hw1"
NB = demo_class.ASSIGNMENTS[HW]
EXPECTED = demo_class.EXPECTED[HW]

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("EMCOURSE_UNSANDBOXED") != "1",
    reason="grading needs bubblewrap (make installs it)")


@pytest.fixture(scope="module")
def serial():
    """The course graded serially by ``nbgrader autograde`` (test_grading_roundtrip)."""
    return class_run().course


@pytest.fixture(scope="module")
def client():
    with parallel.dask_client(workers=2) as (cl, _cluster):
        yield cl


def fresh_course(serial: Path, dest: Path, students, exchange=False, assignments=(HW,)) -> Path:
    """The serial course before grading: its gradebook without submissions of
    ``assignments``, the release, their submissions by ``students``, no autograded/, no
    report."""
    from nbgrader.api import Gradebook

    dest.mkdir(parents=True)
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy2(serial / name, dest)
    shutil.copy2(serial / "gradebook.db", dest)
    shutil.copytree(serial / "solutions", dest / "solutions")
    shutil.copytree(serial / "assignments", dest / "assignments")  # the release
    for s in students:
        for hw in assignments:
            shutil.copytree(serial / "submitted" / s / hw, dest / "submitted" / s / hw)
    if exchange:
        shutil.copytree(serial / "_exchange", dest / "_exchange")
    with Gradebook(f"sqlite:///{dest / 'gradebook.db'}") as gb:
        for hw in assignments:
            for sub in list(gb.find_assignment(hw).submissions):
                gb.remove_submission(hw, sub.student.id)
    return dest


def run(course, client, **kw):
    out = io.StringIO()
    result = parallel.grade(HW, root=str(course), client=client, stream=out, **kw)
    result.log = out.getvalue()
    return result


def gradebook_rows(course, student, hw=HW):
    """Everything autograde writes for a submission, comparable across gradebooks."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(hw, student)
        out = {"timestamp": sub.timestamp}
        for nb in sub.notebooks:
            out[nb.name] = {
                "penalty": nb.late_submission_penalty,
                "grades": sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                                 for g in nb.grades),
                "comments": sorted((c.name, c.auto_comment) for c in nb.comments)}
        return out


def score(course, student, hw=HW):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission(hw, student).score


def report(course, students, hw=HW):
    path = course / "integrity_report.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return sorted((r["student"], r["notebook"], r["part"], r["reason"], r["detail"])
                      for r in csv.DictReader(f)
                      if r["assignment"] == hw and r["student"] in students)


def graded_notebook(course, student):
    """The autograded notebook: every cell's type, source and metadata, and each test cell's
    verdict (what it failed with). The other outputs come from the kernel run and may differ
    between any two runs of a loaded machine (a cell interrupted at its time limit)."""
    nb = json.loads((course / "autograded" / student / HW / f"{NB}.ipynb").read_text())
    out = []
    for c in nb["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        verdict = None
        if c["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            verdict = [(o.get("ename"), o.get("evalue")) for o in c.get("outputs", [])
                       if o.get("output_type") == "error"]
        out.append((c["cell_type"], c["source"], c["metadata"], verdict))
    return out


# --------------------------------------------------------------------------------------------

def kill_a_worker_mid_run(client, killed):
    """Wait until a worker is grading, then SIGKILL its process (its nanny starts another)."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for addr, keys in client.processing().items():
            if any(str(k).startswith("grade-") for k in keys) and addr in pids:
                time.sleep(1.0)  # mid-run: the sandboxes are up
                os.kill(pids[addr], signal.SIGKILL)
                killed.append(addr)
                return
        time.sleep(0.1)


def test_same_as_serial_autograde_even_with_a_worker_killed_mid_run(serial, client, tmp_path):
    students = ["ada", "blank", "partial", "naive"]
    course = fresh_course(serial, tmp_path / "course", students)
    killed = []
    killer = threading.Thread(target=kill_a_worker_mid_run, args=(client, killed))
    killer.start()
    result = run(course, client)
    killer.join()
    assert killed, "a worker was killed while grading"
    assert sorted(o.student for o in result.graded) == sorted(students)
    assert not result.failed
    assert max(o.tries for o in result.graded) == 2  # the killed one, graded again
    for s in students:
        assert score(course, s) == EXPECTED[s], s
        assert gradebook_rows(course, s) == gradebook_rows(serial, s), s
        assert graded_notebook(course, s) == graded_notebook(serial, s), s
        assert sorted(os.listdir(course / "autograded" / s / HW)) == \
            sorted(os.listdir(serial / "autograded" / s / HW))
    assert report(course, students) == report(serial, students)
    # what an instructor reads at the end
    assert "Integrity report" in result.log and "Grades" in result.log
    assert result.summary_figure.exists() and result.summary_html.exists()
    assert result.summary_html.parent == course / "grading_summary"
    page = result.summary_html.read_text()
    assert "<svg" in page and f"{len(students)} submissions" in page
    # nothing to do on a rerun
    client.wait_for_workers(2, timeout=120)
    again = run(course, client, summary=False)
    assert again.graded == [] and sorted(again.skipped) == sorted(students)


def test_a_killed_run_keeps_its_grades_and_the_rerun_grades_the_rest(serial, client, tmp_path):
    students = ["ada", "blank", "partial"]
    course = fresh_course(serial, tmp_path / "course", students)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.Popen([sys.executable, "-m", "emcourse_grader", "grade", HW,
                             "--workers", "1", "--no-summary"], cwd=course, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if list((course / "autograded").glob(f"*/{HW}")):
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the coordinator, its cluster and sandboxes
        proc.wait()
    done = sorted(p.parent.name for p in (course / "autograded").glob(f"*/{HW}"))
    assert len(done) == 1, "killed after the first submission"
    # killed outright, it removed nothing of its own: the next grading process does (its
    # Dask scratch, a submission's scratch course, a sandbox's home still mounted in it)
    code = "from emcourse_grader import leftovers; print(*leftovers.sweep_once(), sep='\\n')"
    sweep = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=env, timeout=120)
    mine = f"-p{proc.pid}s"
    assert any(mine in line for line in sweep.stdout.splitlines()), sweep.stdout
    tmp = Path(tempfile.gettempdir())
    assert not [p for p in tmp.iterdir() if mine in p.name]
    assert not [m for m in Path("/proc/self/mounts").read_text().split() if mine in m]
    assert score(course, done[0]) == EXPECTED[done[0]]  # a finished grade is kept
    result = run(course, client, summary=False)
    assert sorted(o.student for o in result.graded) == sorted(set(students) - set(done))
    assert result.skipped == done
    for s in students:
        assert score(course, s) == EXPECTED[s]


def test_a_resubmission_replaces_the_first_and_only_it_is_regraded(serial, client, tmp_path):
    course = fresh_course(serial, tmp_path / "course", ["partial", "blank"], exchange=True)
    first = run(course, client, summary=False)
    assert {o.student for o in first.graded} == {"partial", "blank"}
    assert score(course, "partial") == EXPECTED["partial"]
    # partial submits again, with the full solution; the instructor collects (update)
    exchange = demo_class.Exchange(course / "_exchange")
    folder = exchange.home("partial") / HW
    demo_class.fill_notebook(folder / f"{NB}.ipynb", course / "solutions" / HW / f"{NB}.ipynb",
                             "solution", HW)
    time.sleep(1.1)  # a later timestamp
    exchange.submit("partial", HW)
    demo_class.nbgrader(course, "collect", HW, f"--Exchange.root={exchange.root}",
                        "--student=partial", "--CollectApp.check_owner=False",
                        log=lambda *a: None)
    second = run(course, client, summary=False)
    assert [o.student for o in second.graded] == ["partial"]
    assert second.skipped == ["blank"]
    assert score(course, "partial") == EXPECTED["ada"]  # the newer submission counts
    assert score(course, "blank") == 0


def test_several_assignments_in_one_run_grade_as_serial_autograde(serial, client, tmp_path):
    # one queue for hw2 and hw3: each assignment's gradebook rows, report and summary as
    # nbgrader autograde wrote them, though their submissions were graded interleaved
    students, hws = ["ada", "partial"], ["hw2", "hw3"]
    course = fresh_course(serial, tmp_path / "course", students, assignments=hws)
    out = io.StringIO()
    runs = parallel.grade_all(hws, root=str(course), client=client, stream=out)
    assert [r.assignment for r in runs] == hws
    for r in runs:
        assert sorted(o.student for o in r.graded) == students and not r.failed
        for s in students:
            assert score(course, s, r.assignment) == demo_class.EXPECTED[r.assignment][s]
            assert gradebook_rows(course, s, r.assignment) == \
                gradebook_rows(serial, s, r.assignment), (r.assignment, s)
        assert report(course, students, r.assignment) == report(serial, students, r.assignment)
        assert (course / "grading_summary" / f"{r.assignment}.json").exists()
        assert r.summary_html.exists()
    assert "ada (hw2)" in out.getvalue() and "ada (hw3)" in out.getvalue()


def test_missing_and_malformed_notebooks_get_zero_and_a_reason(serial, client, tmp_path):
    course = fresh_course(serial, tmp_path / "course", ["ada"])
    for s in ("ghost", "broken"):
        shutil.copytree(course / "submitted" / "ada" / HW, course / "submitted" / s / HW)
    os.remove(course / "submitted" / "ghost" / HW / f"{NB}.ipynb")
    (course / "submitted" / "broken" / HW / f"{NB}.ipynb").write_text('{"cells": [oops')
    result = run(course, client, students=["ghost", "broken"], summary=False)
    status = {o.student: o.status for o in result.graded}
    assert status["ghost"] == "no notebook"
    assert score(course, "ghost") == 0 and score(course, "broken") == 0
    reasons = {(r[0], r[3]) for r in report(course, ["ghost", "broken"])}
    assert ("ghost", "no notebook handed in; graded as 0") in reasons
    assert ("broken", "the submitted notebook could not be read; graded as unanswered") in reasons
    # as nbgrader autograde does: set aside, and the unanswered release graded in its place
    # (the worker's scratch course gets the released notebook with the task)
    assert status["broken"] == "graded"
    kept = course / "autograded" / "broken" / HW / f"{NB}.ipynb.unreadable"
    assert kept.read_text() == '{"cells": [oops'
    graded = json.loads((course / "autograded" / "broken" / HW / f"{NB}.ipynb").read_text())
    assert any(c.get("metadata", {}).get("nbgrader", {}).get("grade") for c in graded["cells"])
    # the submission itself is left as the student handed it in
    assert (course / "submitted" / "broken" / HW / f"{NB}.ipynb").read_text() == \
        '{"cells": [oops'
    # the one not asked for is not graded
    assert not (course / "autograded" / "ada").exists()
    rerun = run(course, client, students=["ghost"], summary=False)
    assert rerun.graded == []  # graded, and unchanged


def test_a_submission_that_hangs_costs_only_itself(serial, client, tmp_path):
    course = fresh_course(serial, tmp_path / "course", ["ada"])
    # No submission is graded in 0.2 s (a warm worker grades ada in about a second now that
    # her code runs once: 1 s, the limit this test had, was no longer a hang).
    result = run(course, client, timeout=0.2)
    [o] = result.failed
    assert o.tries == 2 and "did not finish within 0.2 s" in o.reason
    assert score(course, "ada") == 0
    assert not (course / "autograded" / "ada" / HW).exists()  # tried again next time
    assert any("could not be graded" in r[3] for r in report(course, ["ada"]))
    client.wait_for_workers(2, timeout=120)
    # the next run tries it again (graded normally above, in the other tests)
    assert parallel.needs_grading(parallel.load_course(HW, str(course)).coursedir, HW, "ada",
                                  force=False)


def _watchdog(seconds):
    dog = parallel.Watchdog({"student": "ada", "assignment": HW}, seconds)
    dog.exits = []
    dog.exit = dog.exits.append  # record instead of ending the test's process
    return dog


def test_a_result_that_arrives_after_the_deadline_is_thrown_away():
    # The deadline fires while grading is still running; the grading then finishes during
    # the second the watchdog waits before it ends the process. That late result must not
    # count, or a submission would be both graded and "did not finish".
    dog = _watchdog(0.05)
    with dog, pytest.raises(TimeoutError, match="did not finish within 0.05 s"):
        time.sleep(0.3)
        dog.finish({"ok": True})
    assert dog.exits == [70]


def test_a_result_inside_the_deadline_stands_and_the_process_lives():
    dog = _watchdog(0.3)
    with dog:
        assert dog.finish({"ok": True}) == {"ok": True}
    time.sleep(0.5)
    assert dog.exits == []


def test_the_command_line_refuses_unknown_arguments():
    from emcourse_grader.__main__ import main

    with pytest.raises(SystemExit):
        main(["grade", HW, "--bogus"])




# --------------------------------------------------------------------------------------------
# The queue: the costliest submissions first (no cluster needed)
# --------------------------------------------------------------------------------------------

def _notebook_files(size: int) -> dict:
    return {f"{NB}.ipynb": b"x" * size, "timestamp.txt": b"2026-01-01 00:00:00"}


def test_the_queue_starts_with_the_submissions_that_took_longest_last_time():
    files = {s: _notebook_files(100) for s in ("a", "b", "c", "d")}
    files["d"] = _notebook_files(5000)  # new this time: expected to take the median (4 s)
    history = {"a": 2.0, "b": 90.0, "c": 4.0, "gone": 1.0}
    assert parallel.queue_order(list(files), files, history) == ["b", "d", "c", "a"]


def test_without_history_the_larger_notebook_goes_first():
    files = {"small": _notebook_files(10), "big": _notebook_files(10_000),
             "mid": _notebook_files(1_000)}
    assert parallel.queue_order(list(files), files, {}) == ["big", "mid", "small"]


def _notebook_with(source: str, padding: int = 0) -> dict:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("While the E-step runs, nothing else does."),
                nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell("#" * padding)]
    return {f"{NB}.ipynb": nbformat.writes(nb).encode(), "timestamp.txt": b"2026-01-01"}


def test_without_history_a_notebook_that_may_run_long_goes_first():
    """A first run cannot know which notebook will run into its budget; a ``while`` loop (a
    convergence test that never passes) and a walk of the file system are the usual ones, so
    they start first, bigger notebooks after them; history, when there is some, wins."""
    loop = "def fit(X):\n    while not done(X):\n        X = step(X)\n    return X\n"
    bounded = "def fit(X):\n    for _ in range(100):  # while it improves: stop early\n" \
              "        X = step(X)\n    return X\n"
    files = {"big": _notebook_with(bounded, 20_000), "loops": _notebook_with(loop),
             "small": _notebook_with(bounded), "one_line": _notebook_with("while(x<3): x += 1"),
             "walks": _notebook_with("import glob\nfound = glob.glob('/**/*.db', recursive=True)"),
             "globals": _notebook_with("globals()['x'] = 1  # glob, walk, sleep: words only")}
    assert parallel.queue_order(list(files), files, {}) == ["loops", "walks", "one_line", "big",
                                                            "small", "globals"]
    history = {"big": 5.0, "loops": 1.0, "small": 2.0, "one_line": 1.5, "walks": 0.5,
               "globals": 0.1}
    assert parallel.queue_order(list(files), files, history) == ["big", "small", "one_line",
                                                                 "loops", "walks", "globals"]


def test_each_students_grading_time_is_kept_across_partial_runs(tmp_path):
    from types import SimpleNamespace

    app = SimpleNamespace(coursedir=SimpleNamespace(db_url=f"sqlite:///{tmp_path}/gradebook.db",
                                                    root=str(tmp_path)))
    first = parallel.RunResult(HW, [parallel.Outcome("a", "graded", seconds=3.0),
                                    parallel.Outcome("b", "graded", seconds=40.0)], [], 45.0, 2)
    parallel.write_run(app, first)
    second = parallel.RunResult(HW, [parallel.Outcome("a", "graded", seconds=5.0),
                                     parallel.Outcome("c", "failed", reason="hung")],
                                ["b"], 6.0, 2)
    parallel.write_run(app, second)
    # b was up to date (kept from the first run); a was regraded; a failure teaches nothing.
    assert parallel.previous_seconds(app, HW) == {"a": 5.0, "b": 40.0}


def test_a_first_run_orders_its_queue_by_the_grading_services_times(tmp_path):
    """The service's journal (serve/journal.sqlite, written by the real Journal) gives the
    first run its history: the student whose feedback took long goes first, a later grading
    of the same student counts, another assignment's times do not, and a grade run's own
    times win over the service's."""
    from types import SimpleNamespace

    from emcourse_grader.grading_queue import known_seconds, service_seconds
    from emcourse_grader.serve.queue import Journal

    app = SimpleNamespace(coursedir=SimpleNamespace(db_url=f"sqlite:///{tmp_path}/gradebook.db",
                                                    root=str(tmp_path)))
    assert service_seconds(app, HW) == {}  # no journal: no history
    (tmp_path / "serve").mkdir(mode=0o700)
    j = Journal(tmp_path / "serve" / "journal.sqlite")
    for student, hw, submitted, secs in (("slow", HW, "2026-12-01T10:00:00Z", 1.0),
                                         ("slow", HW, "2026-12-01T11:00:00Z", 31.0),
                                         ("quick", HW, "2026-12-01T10:05:00Z", 0.8),
                                         ("quick", "hw2", "2026-12-01T10:06:00Z", 99.0)):
        attempt = j.add(hw, student, submitted)
        j.claim(attempt)
        j.graded(attempt, parts={"nb": {"c": [1.0, 1.0]}}, number=1, worker_s=secs)
    j.close()
    assert service_seconds(app, HW) == {"slow": 31.0, "quick": 0.8}
    files = {"quick": _notebook_files(9_000), "slow": _notebook_files(10)}
    assert parallel.queue_order(list(files), files, service_seconds(app, HW)) == ["slow",
                                                                                  "quick"]
    parallel.write_run(app, parallel.RunResult(HW, [parallel.Outcome("quick", "graded",
                                                                     seconds=50.0)], [], 50, 2))
    assert known_seconds(app, HW) == {"slow": 31.0, "quick": 50.0}
