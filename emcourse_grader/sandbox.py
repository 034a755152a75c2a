"""What every process that runs student code does first: limits, a user, a guard.

:func:`enter` is called at the start of the grading kernel (emcourse_grader.kernel) and of
the trusted grader's worker (emcourse_grader.worker), before any student code:

* resource limits: address space (memory), CPU seconds, size of files written, no core dumps;
* when started as root: switch to an unprivileged user (``nobody``) so the gradebook, the
  source notebooks and the other submissions cannot be written (and, with the permissions
  the grader sets, not read);
* an audit hook (it cannot be removed from Python) that refuses to open protected paths
  (the gradebook, the source, submitted, autograded and feedback directories, the nbgrader
  config) or any file under the course root for writing, to connect to SQLite, to start
  processes or to load native code with ctypes; each refusal calls ``on_violation``.

The audit hook stops Python code. Native code (a compiled extension the student brings)
is not stopped by it: that is what the unprivileged user and, in production, a container
are for (docs/integrity.md).
"""

from __future__ import annotations

import json
import os
import sys

ENV = "EMCOURSE_SANDBOX"  # JSON policy passed from the grader to the sandboxed process

DEFAULTS = {
    "memory_mb": 3072,      # RLIMIT_AS
    "cpu_seconds": 600,     # RLIMIT_CPU (the whole process)
    "file_mb": 64,          # RLIMIT_FSIZE
    "user": "nobody",       # switch to this user when started as root ("" = never)
    "protected": [],        # paths never opened (read or write)
    "readonly": [],         # nothing under these paths may be written (course, venv)
    "readable": [],         # exceptions to `protected` (read only)
}

_BLOCKED_EVENTS = {
    "sqlite3.connect": "opens a database (sqlite3)",
    "subprocess.Popen": "starts a process",
    "os.system": "starts a process",
    "os.exec": "replaces the process",
    "os.posix_spawn": "starts a process",
    "os.spawn": "starts a process",
    "os.fork": "forks the process",
    "os.forkpty": "forks the process",
    "pty.spawn": "starts a process",
    "ctypes.dlopen": "loads native code (ctypes)",
    "ctypes.dlsym": "loads native code (ctypes)",
    "ctypes.cdata": "reads raw memory (ctypes)",
    "ctypes.call_function": "calls native code (ctypes)",
    "socket.connect": "opens a network connection",
    "socket.bind": "opens a network port",
    "os.kill": "sends a signal",
    "os.killpg": "sends a signal",
    "signal.pthread_kill": "sends a signal",
    "sys.addaudithook": "adds an audit hook",
    "os.chmod": "changes file permissions",
    "os.chown": "changes file ownership",
    "os.remove": "deletes a file",
    "os.rename": "renames a file",
    "os.rmdir": "deletes a directory",
    "shutil.rmtree": "deletes a directory",
    "os.truncate": "truncates a file",
    "os.link": "links a file",
    "os.symlink": "links a file",
}


def policy_env(**overrides) -> str:
    p = dict(DEFAULTS)
    p.update(overrides)
    return json.dumps(p)


def _limits(p):
    import resource

    def cap(which, value):
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    if p.get("memory_mb"):
        cap(resource.RLIMIT_AS, int(p["memory_mb"]) * 2**20)
    if p.get("cpu_seconds"):
        cap(resource.RLIMIT_CPU, int(p["cpu_seconds"]))
    if p.get("file_mb"):
        cap(resource.RLIMIT_FSIZE, int(p["file_mb"]) * 2**20)
    cap(resource.RLIMIT_CORE, 0)


def _world_readable(path: str) -> bool:
    """Can any user reach and read ``path`` (every parent searchable, the path readable)?"""
    import stat
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(1, len(parts) + 1):
        p = os.sep.join(parts[:i]) or os.sep
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or (p == path and not mode & stat.S_IROTH):
            return False
    return True


def can_drop() -> bool:
    """Root, and the interpreter's files are readable by an unprivileged user."""
    import sysconfig
    return os.geteuid() == 0 and all(_world_readable(sysconfig.get_paths()[k])
                                     for k in ("stdlib", "purelib", "platlib"))


def drop_privileges(user: str, chown=()) -> bool:
    """Become ``user`` if running as root; ``chown`` paths first (to that user). True if done.

    Not done when the interpreter's own files (say, a Python under /root) are not readable
    by that user: the process could not import the standard library.
    """
    if not user or not can_drop():
        return False
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return False
    for path in chown:
        try:
            os.chown(path, pw.pw_uid, pw.pw_gid)
        except OSError:
            pass
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ["HOME"] = os.environ.get("HOME") if os.access(
        os.environ.get("HOME", "/"), os.W_OK) else os.environ.get("TMPDIR", "/tmp")
    os.environ["USER"] = os.environ["LOGNAME"] = user
    return True


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def install_guard(p, on_violation=None, arm_on=None):
    """The audit hook. ``on_violation(reason, detail)`` is called before each refusal.

    With ``arm_on`` (a substring of a code object's file name) the guard only starts when
    such code is first executed (the first notebook cell), so that the kernel's own start
    (font caches, dataclasses, ...) is not disturbed. Returns ``arm()``, which starts it now.
    """
    realpath = os.path.realpath
    protected = [realpath(x) for x in p.get("protected", []) if x]
    readable = [realpath(x) for x in p.get("readable", []) if x]
    readonly = [realpath(x) for x in p.get("readonly", []) if x]
    blocked = dict(_BLOCKED_EVENTS)
    getcwd = os.getcwd
    state = {"busy": False, "armed": arm_on is None}

    def refuse(reason, detail):
        if on_violation is not None and not state["busy"]:
            state["busy"] = True
            try:
                on_violation(reason, detail)
            except Exception:  # noqa: BLE001, S110 - reporting must never let the event through
                pass
            finally:
                state["busy"] = False
        raise PermissionError(f"grading sandbox: {reason} ({detail}) is not allowed")

    def hook(event, args):
        if not state["armed"]:
            if event == "exec" and arm_on and args:
                name = getattr(args[0], "co_filename", "") or ""
                if arm_on in name:
                    state["armed"] = True
            if not state["armed"]:
                return
        if event == "open":
            path = args[0]
            if isinstance(path, int) or path is None:
                return
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            path = str(path)
            try:
                full = realpath(path if os.path.isabs(path) else os.path.join(getcwd(), path))
            except Exception:  # noqa: BLE001
                full = path
            mode = args[1] if len(args) > 1 else "r"
            flags = args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT
                                                    | os.O_TRUNC | os.O_APPEND))
            if writing and _under(full, readonly):
                refuse("writes a file in the course directory or the environment", full)
            if _under(full, protected) and not (not writing and _under(full, readable)):
                refuse("opens a protected file", full)
            return
        for prefix, reason in blocked.items():
            if event == prefix or (prefix in ("os.exec", "os.spawn") and event.startswith(prefix)):
                if event.startswith(("os.chmod", "os.chown", "os.remove", "os.rename",
                                     "os.rmdir", "shutil.rmtree", "os.truncate", "os.link",
                                     "os.symlink")):
                    target = args[0] if args else ""
                    if isinstance(target, int):
                        return
                    try:
                        target = realpath(os.fsdecode(target))
                    except Exception:  # noqa: BLE001
                        target = str(target)
                    if not _under(target, readonly) and not _under(target, protected):
                        return
                    refuse(reason, target)
                refuse(reason, event)

    sys.addaudithook(hook)

    def arm():
        state["armed"] = True
    return arm


def enter(on_violation=None, chown=(), arm_on=None) -> dict:
    """Apply the policy in $EMCOURSE_SANDBOX (limits, user, guard); returns the policy."""
    p = dict(DEFAULTS)
    try:
        p.update(json.loads(os.environ.get(ENV, "{}")))
    except ValueError:
        pass
    _limits(p)
    p["dropped"] = drop_privileges(p.get("user", ""), chown=chown)
    p["arm"] = install_guard(p, on_violation, arm_on=arm_on)
    return p
