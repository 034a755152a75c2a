"""One submission can never stop or blow up the class (emcourse_grader/guard.py).

A small hw1 class, collected through the exchange, is graded by the real serial ``nbgrader
autograde hw1`` and by the real ``python -m emcourse_grader grade hw1 --workers 2``. In
nbgrader's order (by name) come: a cell whose nbgrader ``schema_version`` is 4 (nbgrader
would stop the whole run), a pasted copy of an answer cell (a duplicate id: nbgrader would
fail the notebook), an unparsable ``timestamp.txt`` (nbgrader's ``CourseDirectory`` fails on
it and the parallel coordinator died), a notebook nested 100 000 levels deep, a cell that
writes a frame nested 100 000 deep on the re-run worker's pipe to the grader, a notebook of
101 MB (never read whole); then an honest student. Every command exits 0 and grades
everyone; all but the deep and the huge notebook (0) keep their full marks, and each has its
reason in the integrity report.

Then the readers of what comes back from a sandbox or a submission: frames and notebooks over
a cap or nested too deep are refused before they are parsed, with the reason, fast, without
RecursionError, and the grader stays far under 1 GB on the attacks that took it to 1.7 GB.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from emcourse_grader import guard, judge
from emcourse_grader.preprocessors import _why_unreadable
from emcourse_grader.sandboxed import wire

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

HW = "hw1"
NB = demo_class.ASSIGNMENTS[HW]
FULL = demo_class.EXPECTED[HW]["ada"]
STUDENTS = ["a_schema", "b_pasted", "c_badtime", "d_deep", "e_forger", "f_huge", "z_honest"]
DEEP = 100_000

needs_sandbox = pytest.mark.skipif(
    shutil.which("bwrap") is None and os.environ.get("EMCOURSE_UNSANDBOXED") != "1",
    reason="grading needs bubblewrap (make installs it)")


# --------------------------------------------------------------------------------------------
# The class
# --------------------------------------------------------------------------------------------

# A cell of the student's own that, in the sandboxed worker, writes a frame nested 100 000
# deep on the pipe to the grader.
FORGER = textwrap.dedent(f"""
    import os, stat, struct, sys
    if sys.argv and sys.argv[0].endswith("worker.py"):
        frame = b"[" * {DEEP} + b"]" * {DEEP}
        for fd in range(3, 64):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, b"")  # refused on the end the worker reads from
                    os.write(fd, struct.pack(">I", len(frame)) + frame)
                    break
            except OSError:
                pass
""")


def _spoil(course: Path) -> None:
    """Turn the collected solutions into the malformed submissions."""
    sub = course / "submitted"

    def notebook(student):
        return sub / student / HW / f"{NB}.ipynb"

    nb = nbformat.read(notebook("a_schema"), as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.metadata["nbgrader"]["schema_version"] = 4
    nbformat.write(nb, notebook("a_schema"))

    nb = nbformat.read(notebook("b_pasted"), as_version=4)
    i, answer = next((i, c) for i, c in enumerate(nb.cells)
                     if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    copy = nbformat.from_dict(json.loads(json.dumps(answer)))
    copy["id"] = "pasted-copy"  # as Jupyter gives a pasted cell an id of its own
    nb.cells.insert(i + 1, copy)
    nbformat.write(nb, notebook("b_pasted"))

    (sub / "c_badtime" / HW / "timestamp.txt").write_text("the night before the deadline\n")

    nb = nbformat.read(notebook("e_forger"), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FORGER))
    nbformat.write(nb, notebook("e_forger"))

    with open(notebook("f_huge"), "r+b") as f:  # sparse: costs no disk
        f.truncate(guard.NOTEBOOK_CAPS.max_bytes + 2**20)

    raw = notebook("d_deep").read_text()
    nested = "[" * DEEP + "]" * DEEP
    notebook("d_deep").write_text(raw.replace('"metadata": {', f'"metadata": {{"x": {nested},',
                                              1))


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """hw1 generated, released, fetched, answered with the solution, submitted and collected
    for every student; then spoiled."""
    tmp = tmp_path_factory.mktemp("robust")
    course = demo_class.copy_course(tmp / "course", assignments=[HW])
    demo_class.run_class(course, students={s: {HW: "solution"} for s in STUDENTS},
                         assignments=[HW], grader="none", log=lambda *a: None)
    _spoil(course)
    return course


def _copy(collected: Path, dest: Path) -> Path:
    shutil.copytree(collected, dest, ignore=shutil.ignore_patterns("_exchange"))
    return dest


def _scores(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission(HW, s).score for s in STUDENTS}


def _report(course):
    with open(course / "integrity_report.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["assignment"] == HW]


@pytest.fixture(scope="module")
def graded(collected):
    """The class graded twice at once (the machine's two cores): by ``python -m
    emcourse_grader grade hw1 --workers 2`` in one copy and ``nbgrader autograde hw1`` in
    another. Each must exit 0 (demo_class raises otherwise, and on nbgrader's "There was an
    error processing")."""
    par = _copy(collected, collected.parent / "parallel")
    ser = _copy(collected, collected.parent / "serial")
    log = open(collected.parent / "parallel.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "emcourse_grader", "grade", HW,
                             "--workers", "2"], cwd=par, env=demo_class._env(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out = demo_class.nbgrader(ser, "autograde", HW, log=lambda *a: None)
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.seek(0)
        par_out = log.read()
        log.close()
    assert proc.returncode == 0, par_out[-4000:]
    return {"serial": (ser, out), "parallel": (par, par_out)}


def _check_class(course):
    scores = _scores(course)
    assert scores == {"a_schema": FULL, "b_pasted": FULL, "c_badtime": FULL, "d_deep": 0,
                      "e_forger": FULL, "f_huge": 0, "z_honest": FULL}, scores
    for s in STUDENTS:
        assert (course / "autograded" / s / HW / f"{NB}.ipynb").is_file(), s
    rows = _report(course)

    def reasons(student):
        return " | ".join(f"{r['reason']}: {r['detail']}" for r in rows if r["student"] == student)

    assert "schema_version 4 (is 3)" in reasons("a_schema")
    assert "duplicates a cell id (the first copy is graded" in reasons("b_pasted")
    assert "time is unreadable" in reasons("c_badtime") and "night before" in reasons("c_badtime")
    assert "could not be read" in reasons("d_deep")
    assert f"nested more than {guard.NOTEBOOK_CAPS.max_depth} levels" in reasons("d_deep")
    assert "stops or kills the process" in reasons("e_forger")
    assert "could not be read" in reasons("f_huge") and "is 101 MB; at most 100 MB are read" \
        in reasons("f_huge")
    assert f"nested more than {wire.FRAME_CAPS.max_depth} levels" in reasons("e_forger")
    assert "could not be graded" not in " ".join(reasons(s) for s in STUDENTS)
    assert not reasons("z_honest").replace(
        "graded WITHOUT the sandbox (EMCOURSE_UNSANDBOXED=1, the instructor's opt-out): ", "")
    with __import__("nbgrader.api", fromlist=["Gradebook"]).Gradebook(
            f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_submission(HW, "c_badtime").timestamp is None  # counted as missing
        assert gb.find_submission(HW, "z_honest").timestamp is not None


@needs_sandbox
def test_serial_autograde_grades_everyone_after_malformed_submissions(graded):
    course, out = graded["serial"]
    assert "There was an error processing" not in out
    _check_class(course)
    sub = course / "submitted"
    assert (sub / "d_deep" / HW / f"{NB}.ipynb.unreadable").is_file()  # kept for a human
    assert (sub / "c_badtime" / HW / "timestamp.txt.unreadable").is_file()
    # a rerun without --force skips them all (nothing left that nbgrader trips over)
    again = demo_class.nbgrader(course, "autograde", HW, log=lambda *a: None)
    assert again.count("Skipping existing assignment") == len(STUDENTS), again[-2000:]


@needs_sandbox
def test_parallel_grade_grades_everyone_after_malformed_submissions(graded):
    course, out = graded["parallel"]
    assert "FAILED" not in out, out[-3000:]
    _check_class(course)
    # the coordinator kept the student's timestamp.txt and read it as missing
    assert (course / "submitted" / "c_badtime" / HW / "timestamp.txt").is_file()


def test_a_failure_in_any_step_costs_the_submission_only(collected, tmp_path):
    """Any other exception of a step on one submission: sanitizing, the submission is graded
    as the unanswered release; autograding, its tests get 0; both with the reason. An error
    that is not the submission's still stops the run."""
    from nbgrader.coursedir import CourseDirectory
    from sqlalchemy.exc import OperationalError
    from traitlets.config import LoggingConfigurable

    from emcourse_grader.preprocessors import IntegrityCheck, is_test

    class Poisoned:
        """Fails on the student's notebook (marked), as an nbgrader step might."""

        def __call__(self, nb, resources):
            if nb.metadata.get("poisoned"):
                raise KeyError("grade_id")
            return nb, resources

    class Converter(LoggingConfigurable):  # what the exporter needs of nbgrader's Autograde
        coursedir = CourseDirectory(root=str(collected), release_directory="assignments")

    nb = nbformat.read(collected / "submitted" / "z_honest" / HW / f"{NB}.ipynb", as_version=4)
    nb.metadata["poisoned"] = True
    report = tmp_path / "report.csv"
    resources = {"nbgrader": {"student": "z_honest", "assignment": HW, "notebook": NB,
                              "db_url": f"sqlite:///{collected / 'gradebook.db'}"}}
    exporter = guard.GuardedExporter()
    exporter.parent = Converter()
    exporter._preprocessors = [IntegrityCheck(report_file=str(report)), Poisoned()]

    exporter.parent._sanitizing = True
    out, _ = exporter._preprocess(nb, resources)
    release = nbformat.read(collected / "assignments" / HW / f"{NB}.ipynb", as_version=4)
    assert [c.source for c in out.cells] == [c.source for c in release.cells]
    assert "graded as unanswered" in report.read_text()
    assert "Poisoned: KeyError: 'grade_id'" in report.read_text()

    exporter.parent._sanitizing = False
    out, _ = exporter._preprocess(nb, resources)
    tests = [c for c in out.cells if is_test(c)]
    assert tests and all(c.outputs[0]["ename"] == "GradingError" and "KeyError" in
                         c.outputs[0]["evalue"] for c in tests)
    assert "0 for every test" in report.read_text()

    exporter._preprocessors = [Poisoned(), lambda nb, r: (_ for _ in ()).throw(
        OperationalError("db", {}, Exception("database is locked")))]
    with pytest.raises(OperationalError):
        exporter._preprocess(nb, resources)


# --------------------------------------------------------------------------------------------
# The readers
# --------------------------------------------------------------------------------------------

def _fd_with(data: bytes) -> int:
    """A descriptor to read ``data`` from (as the grader reads the worker's pipe)."""
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        return os.dup(f.fileno())


def test_a_frame_over_the_cap_is_refused_before_it_is_read():
    fd = _fd_with(struct.pack(">I", wire.MAX_MESSAGE + 1))
    start = time.monotonic()
    with pytest.raises(wire.WireError, match="message too large"):
        wire.recv(fd)
    assert time.monotonic() - start < 1
    os.close(fd)


@pytest.mark.parametrize("frame", [b"[" * DEEP + b"]" * DEEP,
                                   b'{"op": "result", "value": ' + b"[" * DEEP + b"]" * DEEP + b"}"])
def test_a_deeply_nested_frame_is_refused_with_its_reason(frame):
    fd = _fd_with(struct.pack(">I", len(frame)) + frame)
    start = time.monotonic()
    with pytest.raises(wire.WireError, match=r"nested more than \d+ levels deep"):
        wire.recv(fd)
    assert time.monotonic() - start < 1
    os.close(fd)


def test_the_grader_side_of_the_pipe_turns_a_forged_frame_into_a_reason():
    """judge.Worker reads the sandboxed worker's frames: a forged one ends that worker with
    the reason (the test cell fails), never with RecursionError in the grader."""
    worker = judge.Worker()
    for frame, why in [(b"[" * DEEP + b"]" * DEEP, "nested more than"),
                       (b"[" + b"[]," * 3_000_000 + b"[]]", "arrays and objects"),
                       (b"[1, 2]", "not an object")]:
        worker.rfd = _fd_with(struct.pack(">I", len(frame)) + frame)
        with pytest.raises(judge.WorkerGone, match=why):
            worker._recv(5)
        os.close(worker.rfd)


def test_a_deeply_nested_notebook_is_refused_with_its_reason(tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_bytes(b'{"cells": [], "metadata": {"x": ' + b"[" * DEEP + b"]" * DEEP + b"}}")
    start = time.monotonic()
    with pytest.raises(guard.UnreadableNotebook, match="nested more than 100 levels"):
        guard.read_notebook(path)
    assert "nested more than" in _why_unreadable(str(path))
    assert time.monotonic() - start < 2


def _figure_notebook(megabytes: int, *, in_source: bool = False) -> nbformat.NotebookNode:
    blob = "iVBORw0KGgo" * (megabytes * 2**20 // 11)
    cell = nbformat.v4.new_code_cell("plot()")
    if in_source:
        cell.source = f"# {blob}"
    else:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": blob})]
    return nbformat.v4.new_notebook(cells=[cell])


def test_saved_figures_do_not_count_against_the_limit_on_sources(tmp_path):
    figures = tmp_path / "figures.ipynb"
    nbformat.write(_figure_notebook(21), figures)
    assert figures.stat().st_size > 21 * 2**20
    assert _why_unreadable(str(figures)) == ""
    assert guard.read_notebook(figures).cells[0].outputs == []
    source = tmp_path / "source.ipynb"
    nbformat.write(_figure_notebook(21, in_source=True), source)
    assert "without its outputs; at most 20 MB" in _why_unreadable(str(source))
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as f:
        f.truncate(guard.NOTEBOOK_CAPS.max_bytes + 1)
    assert "at most 100 MB are read" in _why_unreadable(str(huge))


def test_an_unparsable_timestamp_counts_as_missing(tmp_path):
    (tmp_path / "timestamp.txt").write_text("2026-13-45 25:61:00\n")
    when, why = guard.read_timestamp(tmp_path)
    assert when is None and "timestamp.txt holds no time" in why
    assert guard.repair_timestamp(tmp_path) == why
    assert not (tmp_path / "timestamp.txt").exists()
    assert (tmp_path / "timestamp.txt.unreadable").is_file()
    assert guard.read_timestamp(tmp_path) == (None, "")
    (tmp_path / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC\n")
    assert guard.read_timestamp(tmp_path)[0].year == 2026


MEMORY_PROBE = textwrap.dedent("""
    import os, resource, struct, sys, tempfile
    from emcourse_grader import guard, judge
    from emcourse_grader.sandboxed import wire

    def fd_with(data):
        f = tempfile.TemporaryFile()
        f.write(data)
        f.seek(0)
        return os.dup(f.fileno())

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    notebook = os.path.join(sys.argv[1], "wide.ipynb")          # 11 MB of [],[],...
    with open(notebook, "wb") as f:
        f.write(b'{"cells": [], "metadata": {"x": [' + b"[]," * 3_800_000 + b'[]]}}')
    try:
        guard.read_notebook(notebook)
    except guard.UnreadableNotebook as exc:
        print("notebook:", exc)
    worker = judge.Worker()
    for frame in (b"[" + b"[]," * 22_000_000 + b"[]]",           # 66 MB of [],[],...
                  b"[" + b'"x",' * 16_000_000 + b'"x"]',         # 64 MB of short strings
                  b"[" + b"{}," * 22_000_000 + b"{}]"):
        worker.rfd = fd_with(struct.pack(">I", len(frame)) + frame)
        try:
            worker._recv(30)
        except judge.WorkerGone as exc:
            print("frame:", exc)
        del frame
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("MB", (peak - base) // 1024, peak // 1024)
""")


def test_the_grader_stays_far_under_a_gigabyte_on_the_attacks(tmp_path):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "notebook: the notebook holds 3,800,005 arrays and objects" in out, out
    assert out.count("frame:") == 3, out
    peak = int(out.split("MB")[-1].split()[1])
    assert peak < 1024, out  # the whole process, frames included; the attacks took 1.7 GB


def test_a_notebook_that_is_not_utf8_or_not_json_says_so(tmp_path):
    latin = tmp_path / "latin.ipynb"
    latin.write_bytes('{"cells": [], "metadata": {"name": "Zoë"'.encode("latin-1"))
    assert "is not UTF-8 text" in _why_unreadable(str(latin))
    truncated = tmp_path / "truncated.ipynb"
    truncated.write_text('{"cells": [{"cell_type": "code", "source": "x = [1, 2"')
    assert "is not valid JSON" in _why_unreadable(str(truncated))
    plain = tmp_path / "list.ipynb"
    plain.write_text("[1, 2, 3]")
    assert "not a notebook" in _why_unreadable(str(plain))


def test_a_notebook_over_the_cap_is_not_read(tmp_path):
    """Measured before it is read; the note that stands in for it (the parallel command's)
    is itself an unreadable notebook that says why."""
    (tmp_path / "hw.ipynb").write_bytes(b"{" * 64)
    with pytest.raises(guard.UnreadableNotebook, match="it is 0 MB; at most 0 MB are read"):
        guard.read_bounded(tmp_path / "hw.ipynb", 32)
    with pytest.raises(guard.UnreadableNotebook, match="it begins 'not read by the grader"):
        guard.parse_notebook(b"not read by the grader: it is 0 MB; at most 0 MB are read\n")


def test_the_deepest_value_the_worker_may_send_still_passes():
    value = 1.5
    for i in range(wire.MAX_DEPTH):  # a dict or a list per level, as deep as encode goes
        value = {"k": value} if i % 2 else [value]
    read, write = os.pipe()
    wire.send(write, {"op": "result", "value": wire.encode(value)})
    os.close(write)
    assert wire.decode(wire.recv(read)["value"]) == value
    os.close(read)
