"""The sandbox's tighter boundary: the seccomp filter, bounded /tmp and home, the CPU cap.

Attack code runs inside the real sandbox (:class:`sandbox.Sandboxed`, real bwrap, real
filter) and the outcome is checked from outside: kernel keyrings, nested user namespaces,
mounts, ptrace, netlink sockets and their kin are refused; /tmp and the scratch home fill up
with ENOSPC instead of filling the host; 60 sessions of one sandbox share one CPU cap. A
control run of the same attacks in bwrap *without* the filter shows that the filter is what
stops them (so these tests can fail). Ordinary student work (numpy, matplotlib, threads,
subprocess, fork, a Jupyter kernel through the real executor, the re-run worker) still runs.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import sandbox_helpers
from sandbox_helpers import needs_bwrap

from emcourse_grader import sandbox, seccomp
from emcourse_grader.sandbox import Limits, make_scratch, remove_scratch

ROOT = Path(__file__).resolve().parent.parent
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the grader runs as root here only")
NR = seccomp.NUMBERS.get(platform.machine(), {})

# The boundary's own helpers, run after sandbox_helpers' prelude: attempt() names the errno
# of an OSError ("EPERM"), and call() makes a raw system call by number.
PRELUDE = """
import ctypes, socket, subprocess
def attempt(fn, *args):
    try:
        fn(*args)
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
    except BaseException as exc:
        return type(exc).__name__ + ": " + str(exc)[:200]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    r = libc.syscall(ctypes.c_long(nr), *args)
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
"""


def run_inside(code: str, *, limits: Limits = sandbox.DEFAULT_LIMITS, timeout=90, **kw) -> dict:
    """sandbox_helpers.run_inside with this module's helpers and a longer time limit."""
    return sandbox_helpers.run_inside(code, limits=limits, timeout=timeout, prelude=PRELUDE,
                                      **kw)


# --------------------------------------------------------------------------------------------
# The filter, as a program: arch check, x32, every rule
# --------------------------------------------------------------------------------------------

AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
AUDIT_ARCH_AARCH64_BE = 0x800000B7


def test_the_compiled_filter_kills_every_unknown_architecture_and_x32():
    program = seccomp.program()
    for arch in (AUDIT_ARCH_I386, AUDIT_ARCH_ARM, AUDIT_ARCH_AARCH64_BE, 0):
        for nr in (0, 1, 59, 250):  # read, write, execve, keyctl on x86_64
            assert seccomp.evaluate(program, arch=arch, nr=nr) == seccomp.RET_KILL_PROCESS
    x86 = seccomp.AUDIT_ARCH_X86_64
    assert seccomp.evaluate(program, arch=x86, nr=seccomp.X32_SYSCALL_BIT | 0) == \
        seccomp.RET_KILL_PROCESS
    # the known ones: ordinary calls pass
    for arch in seccomp.ARCHES.values():
        assert seccomp.evaluate(program, arch=arch, nr=63) == seccomp.RET_ALLOW


@pytest.mark.parametrize("arch", sorted(seccomp.ARCHES))
def test_every_rule_of_the_table_is_compiled_for_each_architecture(arch):
    program, audit = seccomp.program(), seccomp.ARCHES[arch]
    numbers = seccomp.NUMBERS[arch]
    eperm = seccomp.RET_ERRNO | errno.EPERM

    def run(name, *args):
        return seccomp.evaluate(program, arch=audit, nr=numbers[name],
                                args=tuple(args) + (0,) * (6 - len(args)))

    for name, action, why in seccomp.RULES:
        assert why and len(why) < 100, name
        if name not in numbers:
            assert arch == "aarch64" and name in {"iopl", "ioperm", "uselib", "_sysctl"}, name
            continue
        if isinstance(action, seccomp.Deny):
            assert run(name, 0) == seccomp.RET_ERRNO | action.errno, name
    for flag in (seccomp.CLONE_NEWUSER, seccomp.CLONE_NEWNS, seccomp.CLONE_NEWNET,
                 seccomp.CLONE_NEWPID, seccomp.CLONE_NEWIPC, seccomp.CLONE_NEWUTS,
                 seccomp.CLONE_NEWCGROUP):
        assert run("unshare", flag) == eperm and run("clone", flag | 17) == eperm
    assert run("unshare", seccomp.CLONE_NEWTIME) == eperm
    assert run("clone", 17) == run("unshare", 0x400) == seccomp.RET_ALLOW  # fork; CLONE_FILES
    assert run("clone", 0x3D0F00) == seccomp.RET_ALLOW                      # a thread
    assert run("clone3") == seccomp.RET_ERRNO | errno.ENOSYS
    for family in (1, 2, 10):
        assert run("socket", family) == seccomp.RET_ALLOW
    for family in (16, 17, 40, 38, 31):  # netlink, packet, vsock, alg, bluetooth
        assert run("socket", family) == seccomp.RET_ERRNO | errno.EOPNOTSUPP
    assert run("personality", 0) == run("personality", 0xFFFFFFFF) == seccomp.RET_ALLOW
    assert run("personality", 0x0040000) == eperm  # ADDR_NO_RANDOMIZE


@pytest.mark.parametrize("arch,header", [
    ("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    ("aarch64", "/usr/include/asm-generic/unistd.h")])
def test_the_syscall_numbers_are_the_kernel_headers(arch, header):
    if not os.path.exists(header):
        pytest.skip(f"{header} is not installed (Debian: linux-libc-dev)")
    text = Path(header).read_text()
    defined = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)\b", text)}
    for name, number in seccomp.NUMBERS[arch].items():
        assert defined.get(name) == number, (name, number, defined.get(name))


def test_decode_refuses_what_is_not_a_program():
    with pytest.raises(ValueError, match="data: expected bytes, a multiple of 8"):
        seccomp.decode(b"123")
    with pytest.raises(ValueError, match="Limits.disk_mb"):
        Limits(disk_mb=0)
    with pytest.raises(ValueError, match="Limits.cpus"):
        Limits(cpus=-1)
    with pytest.raises(TypeError, match="limits: expected a sandbox.Limits"):
        make_scratch({"disk_mb": 8})


# --------------------------------------------------------------------------------------------
# Attacks inside the real sandbox, and a control run without the filter
# --------------------------------------------------------------------------------------------

ATTACKS = """
NR = {nr}
buf = ctypes.create_string_buffer(256)
child = os.fork()
if child == 0:
    import time
    time.sleep(30)
    os._exit(0)
def unshare_cmd(*flags):
    r = subprocess.run(["unshare", *flags, "true"], capture_output=True, text=True)
    return "ok" if r.returncode == 0 else r.stderr.strip()[-80:]
def netlink():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()
out = dict(
    keyring=call(NR["keyctl"], 0, -4, 0),            # KEYCTL_GET_KEYRING_ID, @u
    add_key=call(NR["add_key"], b"user", b"k", b"v", 1, -4),
    request_key=call(NR["request_key"], b"user", b"k", None, 0),
    userns=call(NR["unshare"], 0x10000000),
    mountns=call(NR["unshare"], 0x00020000),
    netns=call(NR["unshare"], 0x40000000),
    unshare_U=unshare_cmd("-U"),
    unshare_Urm=unshare_cmd("-Urm"),
    setns=call(NR["setns"], 0, 0),
    mount=call(NR["mount"], b"none", b"/tmp", b"tmpfs", 0, None),
    umount=call(NR["umount2"], b"/tmp", 2),
    traceme=call(NR["ptrace"], 0, 0, 0, 0),           # PTRACE_TRACEME
    attach=call(NR["ptrace"], 16, child, 0, 0),       # PTRACE_ATTACH to our own child
    vm_read=call(NR["process_vm_readv"], child, None, 0, None, 0, 0),
    netlink=attempt(netlink),
    packet=attempt(lambda: socket.socket(17, socket.SOCK_RAW, 0).close()),
    io_uring=call(NR["io_uring_setup"], 1, buf),
    clone3=call(NR["clone3"], None, 0),
    no_aslr=call(NR["personality"], 0x0040000),
    bpf=call(NR["bpf"], 0, buf, 128),
    userfaultfd=call(NR["userfaultfd"], 0),
    # what stays allowed
    persona=call(NR["personality"], 0xFFFFFFFF),
    unshare_files=call(NR["unshare"], 0x400),
)
def tcp():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    client.sendall(b"hi")
    assert conn.recv(2) == b"hi"
def unix():
    a, b = socket.socketpair()
    a.sendall(b"hi")
    assert b.recv(2) == b"hi"
out.update(tcp=attempt(tcp), tcp6=attempt(lambda: socket.socket(socket.AF_INET6).close()),
           unix=attempt(unix),
           seccomp=open("/proc/self/status").read().split("Seccomp:")[1].split()[0])
os.kill(child, 9)
report(**out)
"""

DENIED = {"keyring": "EPERM", "add_key": "EPERM", "request_key": "EPERM", "userns": "EPERM",
          "mountns": "EPERM", "netns": "EPERM", "setns": "EPERM", "mount": "EPERM",
          "umount": "EPERM", "traceme": "EPERM", "attach": "EPERM", "vm_read": "EPERM",
          "netlink": errno.errorcode[errno.EOPNOTSUPP],
          "packet": errno.errorcode[errno.EOPNOTSUPP], "io_uring": "ENOSYS",
          "clone3": "ENOSYS", "no_aslr": "EPERM", "bpf": "EPERM", "userfaultfd": "EPERM"}


@pytest.fixture(scope="module")
def attacked():
    if sandbox.availability() or not NR:
        pytest.skip(f"no sandbox here: {sandbox.availability() or platform.machine()}")
    return run_inside(ATTACKS.format(nr=NR))


@needs_bwrap
def test_the_filter_refuses_keyrings_namespaces_mounts_ptrace_and_netlink(attacked):
    got = attacked
    assert got.get("seccomp") == "2", got  # SECCOMP_MODE_FILTER, on the student's process
    for key, expected in DENIED.items():
        assert got[key] == expected, (key, got)
    for key in ("unshare_U", "unshare_Urm"):
        assert "Operation not permitted" in got[key], (key, got)


@needs_bwrap
def test_what_students_need_of_the_same_calls_stays_allowed(attacked):
    got = attacked
    for key in ("persona", "unshare_files", "tcp", "tcp6", "unix"):
        assert got[key] == "ok", (key, got)


@needs_bwrap
@as_root
def test_without_the_filter_the_same_attacks_succeed_so_the_filter_is_what_stops_them():
    # the control: the same bwrap command, as the same kind of leased uid, without --seccomp
    lease = sandbox._UidLease(Limits().uid)
    scratch = make_scratch()
    try:
        limits = Limits(uid=lease.uid)
        sandbox._chown_tree(scratch, lease.uid)
        program = sandbox_helpers.PRELUDE + PRELUDE + textwrap.dedent(ATTACKS.format(nr=NR))
        cmd = sandbox.command([sys.executable, "-c", program], scratch=scratch, limits=limits)
        assert "--seccomp" not in cmd
        proc = subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    finally:
        _as_uid(lease.uid, "clear")  # add_key worked there: leave nothing to the next sandbox
        remove_scratch(scratch)
        lease.release()
    lines = [ln for ln in proc.stdout.decode().splitlines() if ln.startswith("{")]
    got = json.loads(lines[-1]) if lines else {"stderr": proc.stderr.decode()[-2000:]}
    assert got.get("seccomp") == "0", got
    # keys reach the uid's keyring and come back; ptrace-class reads, netlink, no ASLR work
    for key in ("keyring", "add_key", "request_key", "vm_read", "netlink", "no_aslr"):
        assert got[key] == "ok", (key, got)
    assert got["clone3"] == "EINVAL", got  # the kernel looked at it: not refused by number
    if int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0:
        # the attacker's chain: a user namespace, in it every capability: new mount and
        # network namespaces, mounts
        for key in ("userns", "mountns", "netns", "mount"):
            assert got[key] == "ok", (key, got)


# --------------------------------------------------------------------------------------------
# The leased uid's keyring: what one student leaves there the next cannot read
# --------------------------------------------------------------------------------------------

def _as_uid(uid: int, op: str) -> str:
    """In a forked child with ``uid``'s credentials: add a key to its user keyring ("add"),
    search it ("find") or clear it ("clear"). Returns "ok" or the errno's name."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            nr = seccomp.NUMBERS[platform.machine()]
            L = ctypes.c_long
            if op == "add":
                r = libc.syscall(L(nr["add_key"]), b"user", b"emcourse-probe", b"secret",
                                 L(6), L(-4))
            elif op == "find":  # KEYCTL_SEARCH in @u
                r = libc.syscall(L(nr["keyctl"]), L(10), L(-4), b"user", b"emcourse-probe",
                                 L(0))
            else:               # KEYCTL_CLEAR @u
                r = libc.syscall(L(nr["keyctl"]), L(7), L(-4))
            e = ctypes.get_errno()
            os.write(write, b"ok" if r >= 0 else errno.errorcode.get(e, str(e)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        return f.read().decode()


@needs_bwrap
@as_root
def test_a_key_left_in_the_leased_uids_keyring_cannot_be_read_inside():
    state = {}

    def plant(box):  # the previous student on this uid left a key
        state["uid"] = box.uid
        state["added"] = _as_uid(box.uid, "add")
        state["visible_outside"] = _as_uid(box.uid, "find")

    try:
        got = run_inside(f"""
            sys.stdin.readline()
            report(uid=os.getuid(),
                   search=call({NR['keyctl']}, 10, -4, b"user", b"emcourse-probe", 0),
                   keyring=call({NR['keyctl']}, 0, -4, 0),
                   session=call({NR['keyctl']}, 0, -3, 0),
                   add=call({NR['add_key']}, b"user", b"mine", b"x", 1, -4))
        """, stdin=b"go\n", before=plant)
    finally:
        if "uid" in state:
            _as_uid(state["uid"], "clear")
    assert state["added"] == "ok" and state["visible_outside"] == "ok", state
    assert got.get("uid") == state["uid"], (got, state)
    for key in ("search", "keyring", "session", "add"):
        assert got[key] == "EPERM", (key, got)


# --------------------------------------------------------------------------------------------
# Disk: /tmp and the home are bounded tmpfs; the grader still reads the home
# --------------------------------------------------------------------------------------------

FILL = """
def fill(folder):
    written, n = 0, 0
    try:
        while True:
            with open(os.path.join(folder, f"fill{n}"), "wb") as f:
                for _ in range(16):
                    f.write(b"x" * 2**20)
                    f.flush()
                    written += 2**20
            n += 1
    except OSError as exc:
        return errno.errorcode.get(exc.errno), written
def many(folder):
    os.mkdir(os.path.join(folder, "many"))
    n = 0
    try:
        while n < 100_000:
            open(os.path.join(folder, "many", str(n)), "w").close()
            n += 1
    except OSError as exc:
        return errno.errorcode.get(exc.errno), n
    return "ok", n
open("result.txt", "w").write("graded output")
mounts = {line.split()[4]: line for line in open("/proc/self/mountinfo")}
report(tmp=fill("/tmp"), tmp_mount=mounts.get("/tmp", ""),
       home_mount=mounts.get("/home/student", ""))
if FILL_HOME:
    report(home=fill("/home/student"), files=many("/home/student"))
"""


@needs_bwrap
def test_filling_tmp_and_the_home_stops_at_their_size_with_enospc():
    limits = Limits(disk_mb=8, files=200)
    scratch = make_scratch(limits)
    root = os.geteuid() == 0
    try:
        if root:  # checked first: never fill the host's disk if the mount were missing
            assert sandbox.scratch_is_bounded(scratch)
            # the home is a file system of its own, not the host's: the host disk is untouched
            own, host = os.statvfs(scratch), os.statvfs(scratch.parent)
            assert os.stat(scratch).st_dev != os.stat(scratch.parent).st_dev
            assert own.f_blocks * own.f_frsize == 8 * 2**20 != host.f_blocks * host.f_frsize
        got = run_inside(f"FILL_HOME = {root}\n" + FILL, limits=limits, scratch=scratch)
        assert "tmpfs" in got.get("tmp_mount", "") and "size=8192k" in got["tmp_mount"], got
        assert got["tmp"][0] == "ENOSPC" and got["tmp"][1] <= 8 * 2**20, got
        if not root:
            pytest.skip("as an ordinary user the scratch home is a plain directory")
        assert got["home"][0] == "ENOSPC" and got["home"][1] <= 8 * 2**20, got
        assert got["files"][0] == "ENOSPC" and got["files"][1] <= 200, got
        assert "nr_inodes=200" in got["home_mount"], got
        # and the grader reads back what the sandbox wrote, as before
        assert (scratch / "result.txt").read_text() == "graded output"
    finally:
        remove_scratch(scratch)
    mounted = Path("/proc/self/mounts").read_text()
    assert str(scratch) not in mounted and not scratch.exists()


# --------------------------------------------------------------------------------------------
# CPU: the whole tree, sessions included, shares one cap
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_sixty_sessions_of_one_sandbox_share_its_cpu_cap():
    limits = Limits(cpus=0.25)
    state = {}

    def peek(box):
        state["active"] = box.cgroup.active if box.cgroup else set()
        state["dirs"] = list(box.cgroup.dirs) if box.cgroup else []

    code = """
        import time, resource
        start = time.monotonic()
        kids = []
        for _ in range(60):
            pid = os.fork()
            if pid == 0:
                os.setsid()  # a scheduling group of its own without the cgroup
                end = time.monotonic() + 2.0
                while time.monotonic() < end:
                    pass
                os._exit(0)
            kids.append(pid)
        for pid in kids:
            os.waitpid(pid, 0)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        report(cpu=used.ru_utime + used.ru_stime, wall=time.monotonic() - start,
               status=sys.stdin.readline())
    """

    def peek_and_wait(box):
        peek(box)
        time.sleep(1.0)
        if "cpu" in state["active"]:
            stats = [Path(d, "cpu.stat").read_text() for d in state["dirs"]
                     if Path(d, "cpu.stat").exists()]
            stat = next(text for text in stats if "nr_throttled" in text)
            state["throttled"] = int(re.search(r"nr_throttled (\d+)", stat)[1])

    got = run_inside(code, limits=limits, before=peek_and_wait, stdin=b"\n")
    if "cpu" not in state.get("active", set()):
        pytest.skip("no cpu cgroup can be made here: the cap is not in force (see integrity.md)")
    assert state["throttled"] > 0, state
    # 60 spinners: uncapped they would use both of a small machine's cores (2 CPU-seconds
    # per second); capped, the whole tree gets a quarter of one
    assert got.get("cpu") is not None and got["cpu"] / got["wall"] < 0.4, got


# --------------------------------------------------------------------------------------------
# Honest work still runs under the filter
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_ordinary_student_work_runs_under_the_filter():
    got = run_inside("""
        import multiprocessing, threading
        import numpy as np
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        x = np.random.default_rng(0).normal(size=(200, 2))
        fig, ax = plt.subplots()
        ax.scatter(x[:, 0], x[:, 1])
        fig.savefig("plot.png")
        results = []
        threads = [threading.Thread(target=lambda: results.append(np.linalg.svd(x)[1][0]))
                   for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            squares = pool.map(abs, [-1, -2, -3])
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            spawned = pool.map(abs, [-4])
        echo = subprocess.run(["sh", "-c", "echo hi"], capture_output=True, text=True).stdout
        report(png=os.path.getsize("plot.png"), threads=len(results), squares=squares,
               spawned=spawned, echo=echo, hostname=socket.gethostname(),
               addr=socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET)[0][4][0])
    """)
    assert got.get("png", 0) > 1000, got
    assert got["threads"] == 4 and got["squares"] == [1, 2, 3] and got["spawned"] == [4], got
    assert got["echo"] == "hi\n" and got["addr"] == "127.0.0.1", got


@needs_bwrap
def test_the_worker_runs_cells_with_their_outputs_and_answers_calls_under_the_filter():
    """The one run of a submission (no Jupyter kernel: an IPython shell in the worker): its
    prints, figures and threads work under the filter, and so do the test's calls."""
    from emcourse_grader.judge import Worker

    cells = ["import numpy as np\nprint(np.arange(3).sum())\ndef double(x):\n    return 2 * x",
             "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()",
             ("import threading; t = threading.Thread(target=print, args=('thread',)); "
             "t.start(); t.join()")]
    worker = Worker(call_timeout=30, budget=120, cell_timeout=30)
    try:
        answers = [worker.exec_cell(i, source) for i, source in enumerate(cells)]
        assert all(a and a.get("ok") for a in answers), answers
        assert list(worker.call("double", [np.arange(3)], {})) == [0, 2, 4]
    finally:
        worker.close()
    outputs = [a["outputs"] for a in answers]
    assert outputs[0][0]["text"] == "3\n", outputs
    assert any("image/png" in o.get("data", {}) for o in outputs[1]), outputs
    assert outputs[2][0]["text"] == "thread\n", outputs


# --------------------------------------------------------------------------------------------
# Not root: bwrap makes a user namespace of its own, --disable-userns, the same filter
# --------------------------------------------------------------------------------------------

NOBODY = 65534
NONROOT = r"""
set -e
# the Python installation may live under /root (0700): show it to nobody in this mount
# namespace only (nothing on the host changes)
python=$(readlink -f "$1"); shift
case "$python" in /root/*)
    top=$(echo "$python" | cut -d/ -f1-3)
    keep="$KEEP"
    mount --bind "$top" "$keep"
    mount -t tmpfs -o mode=755 tmpfs /root
    mkdir -p "$top"
    mount --bind "$keep" "$top";;
esac
exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp TMPDIR=/tmp \
    PYTHONPATH="$PYTHONPATH" "$@"
"""


@needs_bwrap
@as_root
def test_as_an_ordinary_user_the_same_filter_and_no_nested_user_namespace(tmp_path):
    if int(Path("/proc/sys/user/max_user_namespaces").read_text()) == 0:
        pytest.skip("no unprivileged user namespaces here: bwrap cannot run unprivileged")
    program = textwrap.dedent(f"""
        import json, subprocess, sys
        from emcourse_grader import sandbox
        assert sandbox.availability() == "", sandbox.availability()
        scratch = sandbox.make_scratch()
        program = {sandbox_helpers.PRELUDE + PRELUDE + ATTACKS.format(nr=NR)!r}
        with sandbox.Sandboxed([sys.executable, "-c", program],
                               scratch=scratch, stdout=subprocess.PIPE) as box:
            out = box.proc.communicate(timeout=90)[0].decode()
        print(json.dumps(dict(bounded=sandbox.scratch_is_bounded(scratch),
                              cmd=sandbox.command(["true"], scratch=None))))
        sandbox.remove_scratch(scratch)
        print(out.splitlines()[-1])
    """)
    script = tmp_path / "nonroot.sh"
    script.write_text(NONROOT)
    (tmp_path / "keep").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KEEP": str(tmp_path / "keep")}
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", str(script),
                           sys.executable, sys.executable, "-c", program],
                          capture_output=True, text=True, timeout=120, env=env, cwd="/",
                          check=False)
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"cannot make a private mount namespace here: {proc.stderr[-300:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 2, proc.stderr[-3000:]
    meta, got = json.loads(lines[0]), json.loads(lines[1])
    assert "--unshare-user" in meta["cmd"] and "--disable-userns" in meta["cmd"], meta
    assert meta["bounded"] is False  # no mount for an ordinary user: the documented fallback
    assert got["seccomp"] == "2", got  # bwrap itself checks that --disable-userns held
    for key, expected in DENIED.items():
        assert got[key] == expected, (key, got)
    assert got["tcp"] == "ok" and got["unix"] == "ok", got

