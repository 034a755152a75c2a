"""The OS boundary around student code: every student process runs inside bubblewrap.

bubblewrap (``bwrap``, Debian package ``bubblewrap``, the sandbox Flatpak uses) builds a new
mount, PID, IPC, UTS and network namespace for one process tree. :func:`command` turns an argv
into the ``bwrap`` command that runs it with this view of the machine:

* the system (``/usr`` and its ``/bin``, ``/lib`` links), the Python installation and the
  course's virtual environment, **read-only**; the packages of ``allowlist.MASKED_PACKAGES``
  (scikit-learn, hmmlearn: implementations of the homework) hidden behind empty directories,
  and so is a copy of the course's own packages in site-packages (a non-editable install);
* the **student library** (:func:`student_library`): a student-facing ``emref`` with the data
  sets and the parameter containers only (no k-means, GMM, HMM or EM code), a stub of the
  hidden checks, and the programs that run inside (:mod:`emcourse_grader.sandboxed`);
* one private writable **scratch** directory (the copy of one notebook; as root a tmpfs of
  its own, :func:`make_scratch`), a private ``/tmp`` and ``/dev/shm`` (tmpfs), each
  ``Limits.disk_mb`` large, ``/proc`` of the new PID namespace and a minimal ``/dev``;
* nothing else: no course directory, gradebook, source notebooks, other submissions, home
  directory, network (only a loopback of its own) or other processes.

Inside, the process tree runs as an unprivileged user with no capabilities (as root:
``setpriv`` drops to :attr:`Limits.uid` after bwrap has built the namespaces; as an ordinary
user: a user namespace), ``no_new_privs`` set, in a new session (no terminal injection), and
dies with its parent. A **seccomp filter** (:mod:`emcourse_grader.seccomp`, installed by
bwrap after its set-up, inherited by everything inside) refuses the calls that reach beyond
the namespaces: kernel keyrings (which outlive a leased uid's sandbox), new namespaces (a
nested user namespace would hand out every capability), mounts, ptrace, modules, the clock,
BPF, io_uring, netlink sockets; as an ordinary user bwrap's ``--disable-userns`` adds its own
lock on nested user namespaces. Resource limits (memory, processes, CPU seconds, file size,
no core dumps) are set before ``exec``; a cgroup caps the whole tree's memory, process count
and CPU (``Limits.cpus``, one scheduling weight for the whole tree however many sessions it
starts) where one can be created. The wall clock is the caller's: :class:`Sandboxed` kills
the whole tree (the PID namespace ends with its first process).

Where bubblewrap is missing or cannot create namespaces, :func:`availability` says why and
what to install, and the grader refuses to run student code unless the instructor opted out
explicitly (``EMCOURSE_UNSANDBOXED=1``), which every integrity report then records.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import allowlist, leftovers

OPT_OUT = "EMCOURSE_UNSANDBOXED"  # "1": run student code without the sandbox (reported)
LIB = "/opt/emcourse/lib"          # the student library, inside the sandbox
HOME = "/home/student"             # the scratch directory, inside the sandbox
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "localtime", "passwd", "group",
        "nsswitch.conf", "mime.types", "alternatives")


class SandboxUnavailable(RuntimeError):
    """Student code cannot be isolated here; the message says why and what to install."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process tree may use."""

    memory_mb: int = 3072     # address space per process, and the tree's memory (cgroup)
    processes: int = 128      # tasks (threads included) of the sandbox user
    cpu_seconds: int = 900    # CPU time per process
    file_mb: int = 64         # largest file written
    disk_mb: int = 512        # the scratch home, and /tmp: each a tmpfs of this size
    files: int = 50_000       # files and directories in the scratch home (as root)
    cpus: float = 1.0         # CPU time per wall second of the whole tree (cgroup)
    # As root, each sandbox runs as its own unprivileged uid, leased from UID_SPAN ids
    # starting here (far above login users and the usual subordinate-id ranges), so that
    # RLIMIT_NPROC, which counts a uid's processes machine-wide, caps one sandbox alone.
    uid: int = 2_100_000_000

    def __post_init__(self):
        for name in ("disk_mb", "files"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name}: expected a positive integer, found {value!r}")
        if not isinstance(self.cpus, (int, float)) or isinstance(self.cpus, bool) \
                or not 0 < self.cpus <= 1024:
            raise ValueError(f"Limits.cpus: expected a number of CPUs in (0, 1024], found "
                             f"{self.cpus!r}")

    def setrlimits(self):
        """Apply the per-process limits to the calling process (inherited by its children)."""
        import resource

        def cap(which, value):
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))

        cap(resource.RLIMIT_AS, self.memory_mb * 2**20)
        cap(resource.RLIMIT_CPU, self.cpu_seconds)
        cap(resource.RLIMIT_FSIZE, self.file_mb * 2**20)
        cap(resource.RLIMIT_CORE, 0)
        cap(resource.RLIMIT_NPROC, self.processes)


DEFAULT_LIMITS = Limits()
UID_SPAN = 4096  # sandboxes that may run at once on one machine (as root)


def _lease_folder() -> Path:
    """The folder of the uid leases, shared by every grader of this user on this machine and
    writable by this user alone.

    As root it is ``/run/emcourse-uids`` (no other user can make a name in /run); elsewhere
    ``emcourse-uids`` in the temporary directory. A folder that is not a directory of ours,
    closed to others (another user made it first, in a world-writable /tmp, to unlock or
    swap the lock files and give two sandboxes one uid) is refused."""
    run = Path("/run")
    if os.geteuid() == 0 and run.is_dir() and not run.stat().st_mode & 0o022:
        folder = run / "emcourse-uids"
    else:
        folder = Path(tempfile.gettempdir()) / "emcourse-uids"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise RuntimeError(
            f"the sandbox's uid leases: {folder} is not a private directory of this user "
            f"(uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}): another user may have "
            f"made it to share a uid between two sandboxes; remove it (rm -r {folder}) and "
            "grade again")
    return folder


class _UidLease:
    """An unprivileged uid of its own for one sandbox: a lock file per uid in the grader's
    temporary directory, held (flock) for as long as the sandbox runs."""

    def __init__(self, base: int):
        import fcntl

        folder = _lease_folder()
        start = (os.getpid() * 7919) % UID_SPAN  # spread concurrent graders over the range
        for i in range(UID_SPAN):
            uid = base + (start + i) % UID_SPAN
            fd = os.open(folder / str(uid), os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            f = os.fdopen(fd, "a")  # held until release()
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            self.uid, self._file = uid, f
            return
        raise RuntimeError(f"all {UID_SPAN} sandbox uids from {base} are in use")

    def release(self):
        self._file.close()


def unsandboxed() -> bool:
    """Did the instructor opt out of the sandbox (``EMCOURSE_UNSANDBOXED=1``)?"""
    return os.environ.get(OPT_OUT, "") == "1"


@functools.cache
def availability() -> str:
    """'' if bubblewrap can isolate a process here, else why not and what to install."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return ("bubblewrap is not installed: install the Debian package `bubblewrap` "
                "(`make` does, through scripts/system_setup.sh), or set EMCOURSE_UNSANDBOXED=1 "
                "to grade without isolation (reported for every submission)")
    from . import seccomp

    try:
        fd = seccomp.pipe_fd()
    except RuntimeError as exc:
        return f"{exc}: the sandbox's system call filter cannot be built here"
    try:
        probe = subprocess.run(command(["/bin/true"], scratch=None, seccomp_fd=fd),
                               capture_output=True, text=True, timeout=60, check=False,
                               pass_fds=(fd,))
    finally:
        os.close(fd)
    if probe.returncode != 0:
        return (f"bubblewrap cannot create its namespaces here ({probe.stderr.strip()[:300]}); "
                "it must be bubblewrap >= 0.8 (--size, --disable-userns) on a kernel with "
                "seccomp filters; enable unprivileged user namespaces (sysctl "
                "kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0), grade as "
                "root, or set EMCOURSE_UNSANDBOXED=1 to grade without isolation")
    return ""


def require_sandbox() -> bool:
    """True if student code will run sandboxed; raise SandboxUnavailable if it cannot and the
    instructor did not opt out; False when running without it by explicit opt-out."""
    if unsandboxed():
        return False
    why = availability()
    if why:
        raise SandboxUnavailable(why)
    return True


# --------------------------------------------------------------------------------------------
# The student library: what of the course student code may import
# --------------------------------------------------------------------------------------------

_STUB_CHECKS = '''"""Stand-in for emcourse_grader.checks inside the grading sandbox.

The hidden checks run in the grader, outside this sandbox, on the values your functions
return; here they do nothing.
"""


def require(check, fn, *, seed=None):
    return None


def verify(check, fn, *, seed=None):
    return None
'''

_STUB_EMREF = '''"""emref as student code sees it while it is graded: the data sets and the parameter
containers. The algorithms (k-means, mixtures, HMMs, EM) are not part of it."""

from . import datasets

__all__ = ["datasets"]
'''


@functools.cache
def student_library() -> Path:
    """Build (once per process) the directory bound read-only at :data:`LIB` inside."""
    import emref

    from . import sandboxed

    root = leftovers.make_folder("lib")
    src = Path(emref.__file__).resolve().parent
    dst = root / "emref"
    dst.mkdir()
    for name in allowlist.student_emref_files():
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif (src / name).exists():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
    (dst / "__init__.py").write_text(_STUB_EMREF)
    for module, source in allowlist.parameter_stubs().items():  # emref.gmm: GMMParams alone
        stub = dst / (module.split(".", 1)[1].replace(".", "/") + ".py")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(source)
    grader = root / "emcourse_grader"
    grader.mkdir()
    (grader / "__init__.py").write_text('"""What of the grader runs inside the sandbox."""\n')
    (grader / "checks.py").write_text(_STUB_CHECKS)
    shutil.copytree(Path(sandboxed.__file__).resolve().parent, grader / "sandboxed",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    from .process_temp import keep_until_exit

    keep_until_exit(root)
    return root


# --------------------------------------------------------------------------------------------
# The bwrap command
# --------------------------------------------------------------------------------------------

def _python_roots() -> list[str]:
    """The Python installation and the virtual environment (read-only inside)."""
    roots = []
    for p in (sys.base_prefix, sys.prefix, sysconfig.get_paths()["purelib"],
              sysconfig.get_paths()["platlib"]):
        p = os.path.realpath(p)
        if not p.startswith("/usr/") and p != "/usr" and not any(
                p == r or p.startswith(r + os.sep) for r in roots):
            roots = [r for r in roots if not r.startswith(p + os.sep)] + [p]
    return roots


def _parents(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def sandbox_env(extra=None) -> dict:
    """The environment inside: nothing of the grader's (no tokens, no course paths)."""
    venv_bin = os.path.join(sys.prefix, "bin")
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": HOME, "USER": "student",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": LIB, "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime", "JUPYTER_CONFIG_DIR": "/tmp/jupyter",
        "JUPYTER_DATA_DIR": "/tmp/jupyter-data", "JUPYTER_PLATFORM_DIRS": "1",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine quirks, not secrets
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


def command(argv, *, scratch, limits: Limits = DEFAULT_LIMITS, env=None,
            seccomp_fd: int | None = None) -> list[str]:
    """The bwrap command that runs ``argv`` in the sandbox, with ``scratch`` (a host directory,
    or None) as its writable home and working directory.

    ``seccomp_fd`` is an inheritable descriptor holding the filter
    (:func:`emcourse_grader.seccomp.pipe_fd`), which bwrap installs last, just before it
    executes the first program; :class:`Sandboxed` always passes one. None leaves the filter
    out: only for reading the command.
    """
    cmd = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
           "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
           "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + top
        if os.path.islink(host):
            cmd += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            cmd += ["--ro-bind", host, host]
    for name in _ETC:
        if os.path.exists("/etc/" + name):
            cmd += ["--ro-bind", "/etc/" + name, "/etc/" + name]
    # The private /tmp first: a Python installation or course venv under /tmp (a course
    # checked out there) is bound on top of it, not hidden by it.
    cmd += ["--perms", "1777", "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/tmp"]
    made = set()
    for root in _python_roots():
        for parent in _parents(root):  # e.g. /root, 0700 on the host: searchable inside
            if parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", parent]
        cmd += ["--ro-bind", root, root]
    for site in {os.path.realpath(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}:
        for pkg in allowlist.MASKED_PACKAGES + allowlist.MASKED_SUBPACKAGES + \
                allowlist.COURSE_PACKAGES:
            path = os.path.join(site, *pkg.split("."))
            if os.path.isdir(path):
                cmd += ["--tmpfs", path, "--remount-ro", path]
    for parent in _parents(LIB) + _parents(HOME):
        if parent not in made:
            made.add(parent)
            cmd += ["--perms", "0755", "--dir", parent]
    cmd += ["--ro-bind", str(student_library()), LIB,
            "--proc", "/proc", "--dev", "/dev",
            # POSIX semaphores and shared memory (multiprocessing's locks and queues)
            "--perms", "1777", "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/dev/shm"]
    if scratch is not None:
        cmd += ["--bind", str(scratch), HOME]
    else:
        cmd += ["--dir", HOME]
    cmd += ["--chdir", HOME, "--clearenv"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(int(seccomp_fd))]
    for key, value in sandbox_env(env).items():
        cmd += ["--setenv", key, value]
    if os.geteuid() == 0:
        # bwrap builds the namespaces with root's rights; setpriv then becomes an
        # unprivileged user with no capabilities left (bounding set cleared).
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add",
                "CAP_SETPCAP", "--", "setpriv", f"--reuid={limits.uid}",
                f"--regid={limits.uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        # the sandbox's user namespace may not make another one (bwrap >= 0.8; the filter
        # refuses it too, and is all there is as root, where no user namespace is made)
        cmd[1:1] = ["--unshare-user", "--disable-userns"]
        cmd += ["--"]
    return cmd + [str(a) for a in argv]


# --------------------------------------------------------------------------------------------
# Running a sandboxed process tree
# --------------------------------------------------------------------------------------------

class _Cgroup:
    """A cgroup for one sandbox's whole process tree, where this machine lets us make one
    (v2, or the v1 memory, pids and cpu hierarchies): its memory, its number of tasks, and its
    CPU (``limits.cpus`` CPUs at most, and one scheduling weight however many sessions and
    processes it starts). Best effort, controller by controller: :attr:`active` names those in
    force; rlimits still apply without any."""

    PERIOD_US = 100_000

    def __init__(self, limits: Limits):
        self.dirs = []
        self.active = set()
        name = f"emcourse-{os.getpid()}-{time.monotonic_ns()}"
        own = self._own_paths()
        quota = max(1000, int(limits.cpus * self.PERIOD_US))
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # unified (v2)
            parent = "/sys/fs/cgroup" + own.get("", "/")
            d = os.path.join(parent, name)
            try:
                os.mkdir(d)
            except OSError:
                return
            self.dirs.append(d)
            # swap too: memory.max caps RAM alone, and a tree that grows slowly would go on
            # into swap (as far as its processes' address spaces reach) on a host that has it
            wanted = {"memory": [("memory.max", limits.memory_mb * 2**20),
                                 ("memory.swap.max", 0)],
                      "pids": [("pids.max", limits.processes)],
                      "cpu": [("cpu.max", f"{quota} {self.PERIOD_US}"), ("cpu.weight", 100)]}
            for ctl, settings in wanted.items():
                if not os.path.exists(os.path.join(d, settings[0][0])):
                    try:  # not delegated to our children yet
                        self._write(parent, "cgroup.subtree_control", f"+{ctl}")
                    except OSError:
                        continue
                try:
                    self._settle(d, settings)
                    self.active.add(ctl)
                except OSError:
                    pass
        else:
            wanted = {"memory": [("memory.limit_in_bytes", limits.memory_mb * 2**20),
                                 ("memory.memsw.limit_in_bytes", limits.memory_mb * 2**20)],
                      "pids": [("pids.max", limits.processes)],
                      "cpu": [("cpu.cfs_period_us", self.PERIOD_US),
                              ("cpu.cfs_quota_us", quota), ("cpu.shares", 1024)]}
            for ctl, settings in wanted.items():
                base = f"/sys/fs/cgroup/{ctl}"
                if not os.path.isdir(base):
                    continue
                d = os.path.join(base + own.get(ctl, "/"), name)
                try:
                    os.mkdir(d)
                except OSError:
                    continue
                self.dirs.append(d)
                try:
                    self._settle(d, settings)
                    self.active.add(ctl)
                except OSError:
                    pass
        if not self.active:
            self.close()
            self.dirs = []

    @staticmethod
    def _own_paths() -> dict:
        out = {}
        try:
            with open("/proc/self/cgroup") as f:
                for line in f:
                    _, ctls, path = line.rstrip("\n").split(":", 2)
                    for ctl in ctls.split(",") if ctls else [""]:
                        out[ctl] = path
        except OSError:
            pass
        return out

    @classmethod
    def _settle(cls, d, settings):
        """Write ``settings`` in order; the swap caps (``memory.swap.max``,
        ``memory.memsw.limit_in_bytes``) only where the kernel accounts swap (their file
        exists: without swap accounting the cap cannot be set, and the rest still is)."""
        for key, value in settings:
            if "swap" in key or "memsw" in key:
                try:
                    cls._write(d, key, value)
                except FileNotFoundError:
                    pass
                continue
            cls._write(d, key, value)

    @staticmethod
    def _write(d, key, value):
        with open(os.path.join(d, key), "w") as f:
            f.write(str(value))

    def enter(self):
        """Put the calling process (the child, before exec) into the cgroup."""
        for d in self.dirs:
            try:
                self._write(d, "cgroup.procs", os.getpid())
            except OSError:
                pass

    def close(self):
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


class Sandboxed:
    """One sandboxed process tree (``subprocess.Popen`` arguments for its pipes).

    ``sandboxed=False`` (the explicit opt-out) runs the same argv with the same limits but
    without bubblewrap. :meth:`kill` ends the whole tree; :meth:`close` also removes the cgroup.
    """

    def __init__(self, argv, *, scratch, limits: Limits = DEFAULT_LIMITS, env=None, sandboxed=True,
                 **popen):
        self.cgroup = _Cgroup(limits) if os.geteuid() == 0 else None
        self.lease = None
        if os.geteuid() == 0:
            self.lease = _UidLease(limits.uid)
            limits = dataclasses.replace(limits, uid=self.lease.uid)
            if scratch is not None:
                _chown_tree(scratch, limits.uid)
        self.uid = limits.uid if self.lease else os.getuid()
        fd = None
        if sandboxed:
            from . import seccomp

            fd = seccomp.pipe_fd()
            popen["pass_fds"] = (*popen.get("pass_fds", ()), fd)
            cmd = command(argv, scratch=scratch, limits=limits, env=env, seccomp_fd=fd)
            cwd = "/"
        else:
            cmd = list(argv)
            cwd = scratch
            popen["env"] = {**sandbox_env(env), "PYTHONPATH": str(student_library()),
                            "HOME": str(scratch)}
        cgroup = self.cgroup

        def preexec():  # in the child, before exec: nothing here may allocate much
            if cgroup is not None:
                cgroup.enter()
            limits.setrlimits()

        try:
            self.proc = subprocess.Popen(cmd, cwd=cwd, start_new_session=True,
                                         preexec_fn=preexec, **popen)  # noqa: PLW1509
        except BaseException:
            self.close()
            raise
        finally:
            if fd is not None:
                os.close(fd)  # bwrap holds its own copy

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout=None):
        """Wait up to ``timeout`` s; on time-out kill the tree. Returns the exit code, or None
        if it had to be killed."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            self.kill()
        if self.cgroup is not None:
            self.cgroup.close()
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_MOUNTED: set[str] = set()  # scratch directories with a tmpfs of their own (as root)
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, leftovers.MNT_DETACH


def make_scratch(limits: Limits = DEFAULT_LIMITS) -> Path:
    """A private directory outside the course for one sandbox (:class:`Sandboxed` gives it to
    the sandbox's user when it starts); remove it with :func:`remove_scratch`.

    As root it is a tmpfs of its own, ``limits.disk_mb`` large with at most ``limits.files``
    inodes, so that what the sandbox writes into its home (bound at :data:`HOME`) cannot fill
    the host's disk; it stays a host directory, which the grader fills before and reads after
    the sandbox ran. As an ordinary user (no mount allowed) it is a plain directory, where only
    ``RLIMIT_FSIZE`` (``limits.file_mb`` per file) applies: see :func:`scratch_is_bounded`.
    """
    if not isinstance(limits, Limits):
        raise TypeError(f"limits: expected a sandbox.Limits, found {type(limits).__name__}")
    leftovers.sweep_once()  # the scratch homes of graders killed outright, still mounted
    path = leftovers.make_folder("scratch")
    if os.geteuid() == 0:
        options = f"size={limits.disk_mb}m,nr_inodes={limits.files},mode=0700"
        if leftovers.libc().mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV,
                         options.encode()) == 0:
            if not _MOUNTED:
                import atexit
                atexit.register(_unmount_all)  # scratches a caller removed with rmtree
            _MOUNTED.add(str(path))
    return path


def scratch_is_bounded(path) -> bool:
    """Is this scratch directory a size-limited tmpfs of its own?"""
    return str(Path(path)) in _MOUNTED


def remove_scratch(path):
    """Unmount (as root) and delete a directory from :func:`make_scratch`."""
    path = Path(path)
    if str(path) in _MOUNTED:
        libc = leftovers.libc()
        if libc.umount2(os.fsencode(path), 0) != 0:
            libc.umount2(os.fsencode(path), MNT_DETACH)  # something still holds it open
        _MOUNTED.discard(str(path))
    shutil.rmtree(path, ignore_errors=True)


def _unmount_all():
    for path in list(_MOUNTED):
        remove_scratch(path)


def unmount_below(folder) -> list:
    """Unmount every mount point inside ``folder`` (lazily, as root); returns their paths.

    A process killed outright (SIGKILL: the memory watchdog, the kernel's OOM killer) cannot
    unmount its scratch tmpfs, which would then hold what the sandbox wrote in memory until
    the machine restarts. Whoever removes the folder such a process used for its temporary
    files calls this first (:func:`emcourse_grader.cluster._private_scratch`); a process
    that outlived nobody's run is swept later (:mod:`emcourse_grader.leftovers`)."""
    done = leftovers.unmount_below(folder)
    _MOUNTED.difference_update(done)
    return done


def _chown_tree(root, uid: int):
    """Give ``root`` and what it holds (the grader's copies, no links) to ``uid``."""
    for path in [Path(root), *Path(root).rglob("*")]:
        if not path.is_symlink():
            os.chown(path, uid, uid)
