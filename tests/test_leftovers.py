"""What a grader killed outright leaves behind is removed by the next one (leftovers.py).

A real process makes a real scratch home (a tmpfs mounted as root) and a scratch course, and
is SIGKILLed: both stay, mounted, which is what every killed coordinator, serial autograde
and grading service left before. The next process that makes a scratch home removes them,
and nothing of a process still running, of another user, or behind a link.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emcourse_grader import leftovers

ROOT = Path(__file__).resolve().parent.parent

MAKE = """
import sys, time
from emcourse_grader import leftovers, sandbox
scratch = sandbox.make_scratch()
(scratch / "written.bin").write_bytes(b"x" * 2**20)
course = leftovers.make_folder("grade")
(course / "gradebook.db").write_text("hidden tests")
print(scratch, course, flush=True)
time.sleep(600)
"""


def _mounted() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _start(tmp: Path) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-c", MAKE], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp),
                                           "PYTHONPATH": str(ROOT)})
    return proc, proc.stdout.readline().split()


@pytest.mark.skipif(os.geteuid() != 0, reason="scratch homes are mounted as root only")
def test_a_killed_graders_mounted_scratch_is_removed_by_the_next_one(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    dead, (scratch, course) = _start(tmp)
    alive, (own_scratch, own_course) = _start(tmp)
    try:
        assert scratch in _mounted() and own_scratch in _mounted()
        dead.send_signal(signal.SIGKILL)
        dead.wait(30)
        # killed outright, it removed nothing: its tmpfs is still mounted, with its file
        assert scratch in _mounted() and Path(scratch, "written.bin").exists()
        assert Path(course, "gradebook.db").exists()
        # the next grader's first scratch home sweeps it
        next_one = "from emcourse_grader import sandbox; sandbox.remove_scratch(sandbox.make_scratch())"
        subprocess.run([sys.executable, "-c", next_one], check=True,
                       cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp),
                                      "PYTHONPATH": str(ROOT)}, timeout=120)
        assert scratch not in _mounted()
        assert not Path(scratch).exists() and not Path(course).exists()
        # the running one's are untouched
        assert own_scratch in _mounted() and Path(own_scratch, "written.bin").exists()
        assert Path(own_course, "gradebook.db").exists()
    finally:
        for proc in (dead, alive):
            proc.kill()
            proc.wait(30)
        leftovers.sweep(tmp)
    assert own_scratch not in _mounted() and list(tmp.iterdir()) == []


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_sweep_removes_only_folders_of_makers_that_are_gone(tmp_path):
    dead = tmp_path / f"emcourse-scratch-p{_dead_pid()}s123-abc_9"
    reused = tmp_path / f"emcourse-grade-p{os.getpid()}s1-abc"  # a live pid, another start
    mine = leftovers.make_folder("lib", dir=tmp_path)           # this process's: running
    for folder in (dead, reused):
        folder.mkdir()
        (folder / "f").write_text("x")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("x")
    link = tmp_path / f"emcourse-dask-p{_dead_pid()}s5-link"
    link.symlink_to(target)
    plain_file = tmp_path / f"emcourse-grade-p{_dead_pid()}s5-file"
    plain_file.write_text("x")
    old_form = tmp_path / "emcourse-scratch-abcdef"              # no maker in its name
    old_form.mkdir()
    nested = tmp_path / f"emcourse-scratch-p{_dead_pid()}s5-ab" / "home"  # goes with it
    nested.parent.mkdir()
    nested.mkdir()
    removed = leftovers.sweep(tmp_path)
    assert sorted(removed) == sorted([str(dead), str(reused), str(nested.parent)])
    assert not dead.exists() and not reused.exists()
    assert mine.is_dir() and old_form.is_dir() and plain_file.is_file()
    assert link.is_symlink() and (target / "keep").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a folder of another user")
def test_the_sweep_leaves_another_users_folder(tmp_path):
    theirs = tmp_path / f"emcourse-scratch-p{_dead_pid()}s7-x"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    assert leftovers.sweep(tmp_path) == [] and theirs.is_dir()


def test_a_folder_is_named_after_its_maker_and_private(tmp_path):
    folder = leftovers.make_folder("grade", dir=tmp_path)
    assert folder.name.startswith(f"emcourse-grade-p{os.getpid()}s")
    assert (folder.stat().st_mode & 0o777) == 0o700
    for bad in ("../x", "Grade", "", 3):
        with pytest.raises(ValueError, match="kind: expected 1 to 20 lower-case letters"):
            leftovers.make_folder(bad, dir=tmp_path)
