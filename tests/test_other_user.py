"""Another Unix user of the grading machine against a running ``grade`` (issue 20).

A real ``python -m emcourse_grader grade hw1 --workers 2`` runs as root (as CI does) on a
small demo class whose course root was made with an ordinary umask (022) in a directory others
may enter, its temporary files in a world-writable sticky directory of their own (a private
``/tmp``: what the grader leaves behind is then exact). One submission loops until its cell
times out, so the run lasts. Meanwhile a throwaway unprivileged user (``emx-eve``) runs
tests/other_user_probe.py: it walks /tmp, /var/tmp, /dev/shm and the course root and reads
every file the grader may have made, connects to the forkserver's Unix socket and to every TCP
port the run listens on (plain and TLS without a certificate), and tries to plant files in
submitted/, autograded/ and the scratch folders. Required: none of the grader's temporary
files readable (the student library, the student-facing emref stub, excepted: sandboxes must
read it), the socket refused, no handshake, nothing planted, the scores those of a run without
the attacker, nothing left in the temporary directory, and ``grade`` warning that the course
root is open to others (docs/teaching.md tells instructors to keep it 0700; doctor calls it
unsafe).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import userdel
from test_grading_roundtrip import demo_class

HW = "hw1"
USER = "emx-eve"
STUDENTS = {"ada": {HW: "solution"}, "looper": {HW: "loop.py"}, "naive": {HW: "naive.py"},
            "blank": {HW: "blank"}}
# Names in the temporary directory a grader used to take as they were (Dask's shared scratch
# space, the sandbox's uid leases): the attacker makes them before the run.
PLANTED = ("dask-scratch-space", "emcourse-uids")
PROBE = Path(__file__).with_name("other_user_probe.py")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="makes a Unix user: run the tests as root"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="grading needs bubblewrap"),
    pytest.mark.skipif(shutil.which("runuser") is None or not os.path.exists("/usr/bin/python3"),
                       reason="needs runuser and the system python3"),
]


@pytest.fixture(scope="module")
def eve():
    userdel(USER)  # a killed earlier run may have left it
    subprocess.run(["useradd", "-M", "-r", "-s", "/usr/sbin/nologin", USER], check=True,
                   capture_output=True)
    try:
        yield pwd.getpwnam(USER)
    finally:
        userdel(USER)


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process under it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def _socket_inodes(pids) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def _listeners(pids) -> tuple[list[int], list[str]]:
    """The TCP ports the processes listen on and the paths of their Unix sockets."""
    inodes = _socket_inodes(pids)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                f = line.split()
                if f[3] == "0A" and f[9] in inodes:  # LISTEN
                    ports.add(int(f[1].rsplit(":", 1)[1], 16))
    paths = set()
    with open("/proc/net/unix") as fh:
        for line in fh.readlines()[1:]:
            f = line.split()
            if len(f) >= 8 and f[6] in inodes and f[7].startswith("/"):
                paths.add(f[7])
    return sorted(ports), sorted(paths)


def _scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission(HW, s).score for s in STUDENTS}


@pytest.fixture(scope="module")
def attack(eve, tmp_path_factory):
    """Build the class, start the grade, run the probe as ``eve`` while it runs."""
    base = Path(tempfile.mkdtemp(prefix="emx-h-"))  # in /tmp: the probe's walk reaches it
    old = os.umask(0o022)
    try:
        base.chmod(0o755)  # others may enter, as a course root in a 0755 home
        course = demo_class.copy_course(base / "course", [HW])
        demo_class.run_class(course, students=STUDENTS, grader="none", assignments=[HW],
                             log=lambda *a: None)
        tmp = base / "tmp"  # the run's /tmp
        tmp.mkdir()
        tmp.chmod(0o1777)
        for name in PLANTED:  # made first by the attacker, open to all: the grader must not use them
            subprocess.run(["runuser", "-u", USER, "--", "mkdir", "-m", "0777", str(tmp / name)],
                           check=True, capture_output=True)
        env = demo_class._env()
        env["TMPDIR"] = str(tmp)
        grade = subprocess.Popen(
            [sys.executable, "-m", "emcourse_grader", "grade", HW, "--workers", "2", "--force"],
            cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ports, paths = [], []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and grade.poll() is None:
                ports, paths = _listeners(_descendants(grade.pid))
                # a task under way: its scratch course, in the workers' temporary directory
                # (inside the run's private Dask scratch)
                grading = [*tmp.glob("emcourse-grade-*"),
                           *tmp.glob("emcourse-dask-*/tmp/emcourse-grade-*")]
                if grading and ports:
                    break
                time.sleep(0.3)
            assert grade.poll() is None, "the grade ended before the attack began"
            args = {"roots": ["/tmp", "/var/tmp", "/dev/shm"], "whole": [str(course), str(tmp)],
                    "unix": paths, "tcp": ports, "seconds": 12, "rounds": 3,
                    "write": [str(course / "submitted"), str(course / "submitted" / "ada"),
                              str(course / "submitted" / "ada" / HW),
                              str(course / "autograded"), str(course), str(course / ".emcourse"),
                              *[str(p) for p in tmp.iterdir() if p.is_dir()]]}
            probe = subprocess.run(
                ["runuser", "-u", USER, "--", "/usr/bin/python3", "-", json.dumps(args)],
                input=PROBE.read_text(), capture_output=True, text=True, timeout=100, cwd="/",
                check=False)
            assert probe.returncode == 0, probe.stderr
            still_running = grade.poll() is None
            out, err = grade.communicate(timeout=120)
        finally:
            if grade.poll() is None:
                grade.kill()
                grade.wait()
        yield {"course": course, "tmp": tmp, "report": json.loads(probe.stdout),
               "grade_rc": grade.returncode, "grade_out": out + err, "ports": ports,
               "unix": paths, "still_running": still_running}
    finally:
        os.umask(old)
        shutil.rmtree(base, ignore_errors=True)


def test_the_attack_ran_during_the_grade(attack):
    assert attack["grade_rc"] == 0, attack["grade_out"][-3000:]
    assert attack["still_running"], "the grade ended while the probe ran: make it last longer"
    assert attack["report"]["uid"] == pwd.getpwnam(USER).pw_uid != 0
    assert attack["report"]["rounds"] >= 3


def _unexpected(paths, tmp: str, sep: str) -> list:
    """``paths`` under ``tmp`` other than the student library's and the planted folders' (those
    folders' contents with ``sep`` "/", the folders themselves too with "")."""
    return [p for p in paths if p.startswith(tmp + os.sep)
            and not re.match(re.escape(tmp) + r"/emcourse-lib-[^/]+" + sep, p)
            and not any(p.startswith(f"{tmp}/{name}{sep}") for name in PLANTED)]


def test_no_temporary_file_of_the_grader_is_readable(attack):
    """Everything the probe read under the run's temporary directory: the student library alone
    (the student-facing emref stub and the sandbox's helpers, bound read-only into every
    sandbox, so a sandbox's uid must read it; it holds no test, solution or grade)."""
    other = _unexpected(attack["report"]["files_read"], str(attack["tmp"]), "/")
    assert other == [], other


def test_no_temporary_directory_of_the_grader_can_be_listed(attack):
    other = _unexpected(attack["report"]["dirs_listed"], str(attack["tmp"]), "")
    assert other == [], other


def test_the_course_secret_is_not_readable(attack):
    read = attack["report"]["files_read"]
    assert not [p for p in read if "/.emcourse/" in p], read


def test_the_forkserver_socket_refuses_another_user(attack):
    unix = attack["report"]["unix"]
    assert attack["unix"], "no Unix socket of the grade was found"
    assert any("pymp-" in p for p in unix), unix  # the forkserver's, found by name too
    assert set(unix.values()) <= {"EACCES", "ENOENT", "ECONNREFUSED"}, unix
    assert "connected" not in unix.values()


def test_no_tcp_listener_talks_to_another_user(attack):
    tcp = attack["report"]["tcp"]
    assert attack["ports"] and set(tcp) == {str(p) for p in attack["ports"]}
    for port, got in tcp.items():
        assert got["plain"] in ("read 0 bytes",) or got["plain"].startswith(("closed", "refused")), (port, got)
        assert got["tls"].startswith("refused") or got["tls"] == "handshake, then closed", (
            port, got)


def test_nothing_could_be_planted(attack):
    writes = attack["report"]["write"]
    assert writes and "written" not in writes.values(), writes
    planted = [p for p in attack["course"].rglob("planted-by-*")]
    assert planted == []


def test_the_scores_are_those_of_a_run_without_the_attacker(attack):
    assert _scores(attack["course"]) == {s: demo_class.EXPECTED[HW][s] for s in STUDENTS}


def test_no_temporary_file_is_left_behind(attack):
    assert sorted(p.name for p in attack["tmp"].iterdir() if p.name not in PLANTED) == []


def test_the_attackers_folders_were_not_used(attack):
    for name in PLANTED:
        left = [p.name for p in (attack["tmp"] / name).iterdir()]
        assert [n for n in left if not n.startswith("planted-by-")] == [], name


def test_grade_warns_about_a_course_root_open_to_others(attack):
    assert "open to every user" in attack["grade_out"], attack["grade_out"][-2000:]


def test_a_uid_lease_folder_another_user_made_is_refused(eve, tmp_path_factory):
    """Where the leases are in the temporary directory (a grader that is not root), a folder
    of that name made first by someone else is refused, not used (the system python3: the
    grader's environment may be in root's home; the function needs the standard library)."""
    tmp = Path(tempfile.mkdtemp(prefix="emx-h-leases-"))
    try:
        tmp.chmod(0o1777)
        (tmp / "emcourse-uids").mkdir()
        (tmp / "emcourse-uids").chmod(0o777)  # root's, open: another user's to rearrange
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from emcourse_grader import sandbox\n"
                "try:\n    sandbox._lease_folder()\nexcept RuntimeError as e:\n    print(e)\n")
        root = str(Path(__file__).resolve().parent.parent)
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "TMPDIR": str(tmp)}
        proc = subprocess.run(["runuser", "-u", USER, "--", "/usr/bin/python3", "-c", code, root],
                              capture_output=True, text=True, env=env, timeout=60, check=False,
                              cwd="/")
        assert proc.returncode == 0, proc.stderr
        assert "is not a private directory of this user" in proc.stdout, proc.stdout
        (tmp / "emcourse-uids").rmdir()  # and where nobody made it first, the user's own
        proc = subprocess.run(["runuser", "-u", USER, "--", "/usr/bin/python3", "-c", code, root],
                              capture_output=True, text=True, env=env, timeout=60, check=False,
                              cwd="/")
        assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
        st = (tmp / "emcourse-uids").stat()
        assert st.st_uid == eve.pw_uid and st.st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
