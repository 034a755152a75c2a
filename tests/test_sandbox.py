"""The grading sandbox (emcourse_grader.sandbox), unit by unit: what code inside can reach.

Each test runs a small Python program inside the sandbox exactly as the grader starts the
notebook kernel and the re-run worker (:class:`Sandboxed`, :func:`command`, a scratch from
:func:`make_scratch`), and checks from outside that the boundary held: no course directory,
gradebook, solutions, other scratch directories or home; a read-only environment without the
homework's implementations; no network; no signals to the grader; nothing left running;
limits on memory, processes and file size; an unprivileged user without capabilities; and a
grader that does not follow links planted in the scratch. Fast (a few seconds per test), no
nbgrader. Skipped where bubblewrap cannot run (the last tests then check the explanation).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from sandbox_helpers import needs_bwrap, run_inside

from emcourse_grader import sandbox
from emcourse_grader.sandbox import (
    UID_SPAN,
    Limits,
    Sandboxed,
    command,
    make_scratch,
    remove_scratch,
)

ROOT = Path(__file__).resolve().parent.parent



def refused(outcome: str) -> bool:
    """An attempt that failed with an OS error (not found, permission, read-only)."""
    return outcome != "ok" and outcome.split(":")[0] in (
        "FileNotFoundError", "PermissionError", "OSError", "NotADirectoryError",
        "IsADirectoryError")


@pytest.fixture
def course(tmp_path):
    """A course directory of the grader's (outside the sandbox): a gradebook, solutions."""
    root = tmp_path / "course"
    (root / "solutions" / "hw1").mkdir(parents=True)
    (root / "gradebook.db").write_bytes(b"SQLite format 3\0 secret scores")
    (root / "solutions" / "hw1" / "hw1_kmeans.ipynb").write_text('{"secret": "solution"}')
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    return root


# --------------------------------------------------------------------------------------------
# Files: the course, the gradebook, the solutions, other scratches, home; the environment
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_the_course_gradebook_solutions_home_and_other_scratches_are_out_of_reach(course):
    other = make_scratch()
    (other / "submission.ipynb").write_text('{"other": "student"}')
    home = os.path.expanduser("~")
    targets = {
        "repo": str(ROOT), "repo config": str(ROOT / "nbgrader_config.py"),
        "repo solutions": str(ROOT / "solutions"), "repo emref": str(ROOT / "emref"),
        "course": str(course), "gradebook": str(course / "gradebook.db"),
        "solutions": str(course / "solutions" / "hw1" / "hw1_kmeans.ipynb"),
        "config": str(course / "nbgrader_config.py"),
        "other scratch": str(other), "other submission": str(other / "submission.ipynb"),
        "home": home,
    }
    try:
        got = run_inside(f"""
            targets = {targets!r}
            out = {{}}
            for label, path in targets.items():
                def read(p=path):
                    if os.path.isdir(p):
                        names = set(os.listdir(p)) - {{".venv", ".pyenv"}}
                        if names:
                            raise AssertionError(f"lists {{sorted(names)[:5]}}")
                        raise FileNotFoundError("only the environment's path is there")
                    open(p, "rb").read()
                out[label] = {{
                    "read": attempt(read),
                    "write": attempt(lambda p=path: open(
                        os.path.join(p, "planted") if os.path.isdir(p) or not
                        os.path.exists(p) else p, "a").write("x")),
                    "gradebook": attempt(lambda p=path: open(
                        os.path.join(p, "gradebook.db"), "rb").read()),
                }}
            report(out=out, home=os.path.expanduser("~"), cwd=os.getcwd(),
                   listing=sorted(os.listdir(".")))
        """)
    finally:
        shutil.rmtree(other, ignore_errors=True)
    assert got.get("out"), got
    for label, outcome in got["out"].items():
        for what, result in outcome.items():
            assert refused(result), f"{label}: {what} {targets[label]} -> {result}"
    assert got["home"] == sandbox.HOME and got["cwd"] == sandbox.HOME
    assert got["listing"] == []  # the scratch holds nothing it was not given
    assert sorted(p.name for p in course.rglob("*")) == [
        "gradebook.db", "hw1", "hw1_kmeans.ipynb", "nbgrader_config.py", "solutions"]
    assert (course / "gradebook.db").read_bytes().endswith(b"secret scores")


@needs_bwrap
def test_the_environment_is_read_only_and_no_pth_can_be_planted():
    sites = sorted({os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")})
    before = {s: sorted(os.listdir(s)) for s in sites}
    got = run_inside(f"""
        import site, sysconfig
        sites = {sites!r} + site.getsitepackages()
        out = {{}}
        for s in sites:
            for name in ("rt-planted.pth", "sitecustomize.py", "usercustomize.py"):
                out[s + "/" + name] = attempt(lambda p=os.path.join(s, name): open(p, "x"))
            out[s + "/numpy/__init__.py"] = attempt(
                lambda p=os.path.join(s, "numpy", "__init__.py"): open(p, "a"))
        out[sys.prefix + "/bin/rt"] = attempt(lambda: open(sys.prefix + "/bin/rt", "x"))
        out["/usr/lib/rt"] = attempt(lambda: open("/usr/lib/rt", "x"))
        out["/etc/rt"] = attempt(lambda: open("/etc/rt", "x"))
        out["/opt/emcourse/lib/emref/kmeans.py"] = attempt(
            lambda: open("/opt/emcourse/lib/emref/kmeans.py", "x"))
        report(out=out)
    """)
    assert got.get("out"), got
    for path, result in got["out"].items():
        assert result.split(":")[0] in ("OSError", "PermissionError"), (path, result)
        assert "Read-only file system" in result or "Permission denied" in result, (path, result)
    assert {s: sorted(os.listdir(s)) for s in sites} == before


@needs_bwrap
def test_the_homework_implementations_are_absent_but_the_data_and_parameters_are_there():
    got = run_inside("""
        import importlib
        out = {}
        for mod in ("sklearn", "hmmlearn"):  # at most an empty directory is left of them
            def contents(m=mod):
                found = importlib.import_module(m)
                names = [n for p in found.__path__ for n in os.listdir(p)]
                if getattr(found, "__file__", None) or names:
                    raise AssertionError(f"{m} is there: {names[:5]}")
                raise ImportError(f"{m} is an empty directory")
            out[mod] = attempt(contents)
        for mod in ("sklearn.cluster", "sklearn.mixture", "hmmlearn.hmm", "emref.kmeans",
                    "emref.hmm", "emref.em", "emref._kmeans_fast", "emref._gmm_fast",
                    "emref._hmm_batched", "emcourse_grader.checks.hw1_kmeans",
                    "emcourse_grader.judge"):
            out[mod] = attempt(importlib.import_module, mod)
        import emref.gmm
        out["emref.gmm.e_step"] = attempt(lambda: emref.gmm.e_step)
        from emref import datasets
        from emref.gmm import GMMParams
        from emcourse_grader.checks import require
        X = datasets.old_faithful()
        p = GMMParams([0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[1.0]]])
        report(out=out, shape=list(X.shape), k=len(p.weights), stub=require("x", len),
               emref=sorted(n for n in os.listdir(os.path.dirname(emref.__file__))
                            if n.endswith(".py")))
    """)
    assert got.get("out"), got
    for mod, result in got["out"].items():
        assert result.startswith(("ModuleNotFoundError", "ImportError", "AttributeError")), \
            (mod, result)
    assert got["shape"][1] == 2 and got["k"] == 2 and got["stub"] is None
    assert not {"kmeans.py", "hmm.py", "em.py"} & set(got["emref"]), got["emref"]


# --------------------------------------------------------------------------------------------
# Network, signals, processes
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_no_network_not_even_the_graders_loopback():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        got = run_inside(f"""
            import socket
            def connect(addr):
                s = socket.create_connection(addr, timeout=3)
                s.sendall(b"escaped")
            report(loopback=attempt(connect, ("127.0.0.1", {port})),
                   outside=attempt(connect, ("1.1.1.1", 53)),
                   dns=attempt(socket.getaddrinfo, "pypi.org", 443),
                   # /proc/net/dev: if_nameindex() needs a netlink socket, which the filter refuses
                   interfaces=sorted(line.split(":")[0].strip()
                                     for line in open("/proc/net/dev").readlines()[2:]))
        """)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert got.get("loopback", "ok") != "ok" and got["outside"] != "ok" and got["dns"] != "ok", got
    assert got["interfaces"] == ["lo"], got


@needs_bwrap
def test_code_inside_cannot_signal_the_grader_or_other_processes_of_its_user():
    me = os.getpid()
    # a process of the sandbox's own uid outside the sandbox (another student's, say)
    neighbour = subprocess.Popen(["sleep", "60"], user=Limits().uid if os.geteuid() == 0
                                 else None)
    try:
        got = run_inside(f"""
            import signal
            out = {{}}
            for pid in ({me}, {neighbour.pid}, os.getppid(), 1):
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    out[f"{{pid}}/{{sig}}"] = attempt(os.kill, pid, sig)
            report(out=out, pid=os.getpid())
            os.kill(-1, signal.SIGKILL)
            report(survived_kill_minus_one=True)
            os.killpg(0, signal.SIGKILL)
        """)
        time.sleep(0.5)
        assert neighbour.poll() is None, "kill(-1) inside killed a process outside"
    finally:
        neighbour.kill()
        neighbour.wait()
    assert got.get("out"), got
    assert got["out"][f"{me}/{int(signal.SIGKILL)}"] != "ok" or got["pid"] < 10, got
    # this process is alive (the test runs); the sandbox's pids are its own
    assert got["pid"] < 100, "the sandbox has no PID namespace of its own"


@needs_bwrap
def test_no_process_started_inside_outlives_the_sandbox():
    name = f"rt-orphan-{os.getpid() % 10000}"
    got = run_inside(f"""
        import ctypes, subprocess, time
        def name_me():
            ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                name_me()
                time.sleep(300)
                os._exit(0)
            os._exit(0)
        os.wait()
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)  # {name}"],
                         start_new_session=True)
        os.system("setsid nohup sleep 300 >/dev/null 2>&1 &")
        time.sleep(0.5)
        report(started=True)
    """)
    assert got.get("started"), got
    time.sleep(1)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if comm == name or name in cmd:
            left.append((pid, cmd))
    assert not left, left


# --------------------------------------------------------------------------------------------
# Limits, privileges
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_memory_processes_and_file_size_are_limited():
    limits = Limits(memory_mb=512, processes=24, file_mb=4)
    got = run_inside("""
        import time
        def memory():
            hog = bytearray(1024 * 2**20)
        children = []
        def fork_bomb():
            for _ in range(500):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        def big_file():
            with open("big", "wb") as f:
                f.write(b"x" * (16 * 2**20))
        out = {"memory": attempt(memory), "fork": attempt(fork_bomb)}
        out["children"] = len(children)
        for pid in children:
            os.kill(pid, 9)
        out["file"] = attempt(big_file)
        out["size"] = os.path.getsize("big")
        report(**out)
    """, limits=limits)
    assert got.get("memory", "").startswith("MemoryError"), got
    assert got["fork"].startswith(("BlockingIOError", "OSError")), got
    assert got["children"] < limits.processes, got
    assert "File too large" in got["file"] and got["size"] <= limits.file_mb * 2**20, got


@needs_bwrap
def test_code_inside_runs_unprivileged_without_capabilities():
    got = run_inside("""
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        report(uid=os.getuid(), euid=os.geteuid(), gid=os.getgid(), groups=os.getgroups(),
               cap_eff=status["CapEff"].strip(), cap_prm=status["CapPrm"].strip(),
               cap_bnd=status["CapBnd"].strip(), nnp=status["NoNewPrivs"].strip(),
               setuid=attempt(os.setuid, 0), chroot=attempt(os.chroot, "/tmp"),
               mount=attempt(lambda: __import__("ctypes").CDLL(None).mount(
                   b"none", b"/tmp", b"tmpfs", 0, None) == 0 or (_ for _ in ()).throw(
                   PermissionError("mount refused"))))
    """)
    assert got.get("uid") is not None, got
    if os.geteuid() == 0:
        base = Limits().uid  # a uid of its own, leased from the sandbox range
        assert base <= got["uid"] < base + UID_SPAN and got["uid"] == got["euid"] == got["gid"], got
        assert got["groups"] == [] and int(got["cap_bnd"], 16) == 0, got
    else:
        assert got["uid"] == os.getuid(), got
    assert int(got["cap_eff"], 16) == 0 and int(got["cap_prm"], 16) == 0, got
    assert got["nnp"] == "1", got
    assert got["setuid"] != "ok" and got["chroot"] != "ok" and got["mount"] != "ok", got


# --------------------------------------------------------------------------------------------
# Links and descriptors in the scratch: nothing leads out, and the grader reads nothing back
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_links_and_descriptors_in_the_scratch_cannot_make_the_grader_read_a_host_file(course):
    """No directory descriptor leads out of the sandbox; links planted in the scratch point
    nowhere the grader goes: it reads nothing back from the scratch (outputs come over the
    worker's pipe, as bounded frames) and removes it without following them."""
    secret = course / "secret.ipynb"  # a host file that *is* a readable notebook
    secret.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "SECRET"}],
                                  "metadata": {}}))
    os.chmod(secret, 0o644)
    os.chmod(course, 0o755)
    scratch = make_scratch()
    try:
        got = run_inside(f"""
            import stat
            fds = {{}}
            for fd in range(3, 1024):
                try:
                    st = os.fstat(fd)
                except OSError:
                    continue
                fds[fd] = stat.filemode(st.st_mode)
            home = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
            for _ in range(8):
                home = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=home)
            top = os.listdir(home)
            report(fds=fds, top=sorted(top),
                   symlink=attempt(os.symlink, {str(secret)!r}, "executed.ipynb"),
                   hardlink=attempt(os.link, "/etc/passwd", "hard.ipynb"),
                   fifo=attempt(os.mkfifo, "fifo.ipynb"),
                   dirlink=attempt(os.symlink, "/", "root.ipynb"))
        """, scratch=scratch)
        assert got.get("fds") is not None, got
        assert all(not mode.startswith("d") for mode in got["fds"].values()), got["fds"]
        assert not {"course", "gradebook.db", "solutions", "submitted"} & set(got["top"]), got
        assert got["symlink"] == "ok" and got["hardlink"] != "ok", got
        assert os.path.islink(scratch / "executed.ipynb")
        assert os.path.islink(scratch / "root.ipynb")
    finally:
        start = time.monotonic()
        remove_scratch(scratch)  # as the grader does: links and the FIFO are not followed
        assert time.monotonic() - start < 5
    assert not scratch.exists()
    assert secret.exists() and course.exists() and secret.read_text().count("SECRET") == 1


# --------------------------------------------------------------------------------------------
# Without bubblewrap
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_bwrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there, bwrap included
    monkeypatch.delenv(sandbox.OPT_OUT, raising=False)
    sandbox.availability.cache_clear()
    yield
    sandbox.availability.cache_clear()


def test_without_bubblewrap_availability_says_what_to_install(no_bwrap):
    why = sandbox.availability()
    assert "bubblewrap" in why and "install" in why and sandbox.OPT_OUT in why, why


def test_without_bubblewrap_grading_refuses_unless_the_instructor_opts_out(no_bwrap,
                                                                           monkeypatch):
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap"):
        sandbox.require_sandbox()
    monkeypatch.setenv(sandbox.OPT_OUT, "1")
    assert sandbox.require_sandbox() is False
    monkeypatch.setenv(sandbox.OPT_OUT, "yes")  # only "1" opts out
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.require_sandbox()


def test_the_command_is_bubblewrap_with_every_namespace():
    cmd = command(["python", "-c", "pass"], scratch=Path(tempfile.gettempdir()))
    assert cmd[0] == "bwrap"
    for flag in ("--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                 "--unshare-ipc", "--unshare-uts", "--clearenv"):
        assert flag in cmd, flag
    binds = {cmd[i + 2] for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")}
    writable = {cmd[i + 2] for i, a in enumerate(cmd) if a == "--bind"}
    assert writable == {sandbox.HOME}, writable
    assert str(ROOT) not in binds and not any(
        b == str(ROOT) or (b.startswith(str(ROOT) + "/") and not b.startswith(
            os.path.realpath(sys.prefix))) for b in binds), binds


def test_installed_copies_of_the_course_packages_are_masked_like_sklearn(tmp_path, monkeypatch):
    # a non-editable install puts emref (with its algorithms) and emcourse_grader (with the
    # checks) into site-packages, which the sandbox binds read-only: they must be hidden there
    site = tmp_path / "site-packages"
    for pkg in ("emref", "emcourse_grader", "sklearn", "numpy"):
        (site / pkg).mkdir(parents=True)
    real = sysconfig.get_paths
    monkeypatch.setattr(sysconfig, "get_paths",
                        lambda *a, **k: {**real(*a, **k), "purelib": str(site),
                                         "platlib": str(site)})
    cmd = command(["python", "-c", "pass"], scratch=None)
    masked = {cmd[i + 1] for i, a in enumerate(cmd) if a == "--tmpfs"}
    assert {str(site / p) for p in ("emref", "emcourse_grader", "sklearn")} <= masked
    assert str(site / "numpy") not in masked


def test_a_course_venv_under_tmp_is_bound_over_the_private_tmp(monkeypatch):
    # a course checked out under /tmp: its venv must be mounted after (on top of) the
    # sandbox's private /tmp, or every student process would find no Python
    monkeypatch.setattr(sandbox, "_python_roots", lambda: ["/tmp/course/.venv"])
    cmd = command(["python", "-c", "pass"], scratch=None)
    tmp = next(i for i, a in enumerate(cmd) if a == "--tmpfs" and cmd[i + 1] == "/tmp")
    venv = next(i for i, a in enumerate(cmd) if a == "--ro-bind" and cmd[i + 1] == "/tmp/course/.venv")
    assert tmp < venv


@needs_bwrap
def test_a_fork_bomb_in_one_sandbox_does_not_starve_another():
    scratch = make_scratch()
    bomb = Sandboxed([sys.executable, "-c", textwrap.dedent("""
        import os, time
        for _ in range(1000):
            try:
                if os.fork() == 0:
                    time.sleep(20)
                    os._exit(0)
            except OSError:
                break
        print("full", flush=True)
        time.sleep(20)
    """)], scratch=scratch, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert bomb.proc.stdout.readline().strip() == b"full"
        got = run_inside("""
            import threading
            def work():
                t = threading.Thread(target=lambda: None)
                t.start()
                t.join()
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            report(neighbour=attempt(work))
        """, timeout=30)
    finally:
        bomb.close()
        shutil.rmtree(scratch, ignore_errors=True)
    assert got.get("neighbour") == "ok", got
