"""One grading writer per course at a time.

A course has several writers of its gradebook, ``autograded/`` and ``integrity_report.csv``:
the grading service (``python -m emcourse_grader serve``), the parallel command
(``python -m emcourse_grader grade``) and nbgrader's serial ``nbgrader autograde``. Two of them at once grade the same
submissions twice, write one SQLite gradebook together (nbgrader sets no busy timeout, so a
write can fail with "database is locked") and move autograded folders under each other's
feet. So each takes this lock first, and the second one is refused at once, with the holder
named (command, pid, user, since when) and what to do:

* ``grade`` for its whole run (``emcourse_grader.__main__``, before anything starts);
* the service for its life (:class:`emcourse_grader.serve.service.Service`);
* ``nbgrader autograde`` through the course's configuration: the exporter nbgrader makes
  before it touches any submission (:class:`emcourse_grader.guard.GuardedExporter`, i.e.
  ``c.Autograde.exporter_class``) calls :func:`hold_for_autograde`, until the process ends.

Read-only commands (doctor, the Formgrader's pages, generate_feedback) take nothing, and
neither does the Formgrader's autograde button: it runs the converter inside the
instructor's Jupyter server (its parent is nbgrader's ``NbGraderAPI``, not ``AutogradeApp``),
where a hold tied to the converter's life would last until the garbage collector ran.

The lock is the operating system's: :func:`fcntl.flock` on ``<course root>/.emcourse/
writer.lock`` (a folder of mode 0700, the file 0600, the instructor's alone). The kernel
drops it when its holder ends, however it ends (SIGKILL included), so a crashed command
never blocks the next one; the record in the file (one line of JSON, written by the holder)
is only what the refusal shows, never what decides. A record left by a dead process in a
file nobody locks blocks nothing. A process that holds the lock and takes it again for the
same course (the grading command's own writer, a second autograde in one process) shares
the one lock.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import getpass
import json
import os
import stat
import threading
import weakref
from pathlib import Path
from typing import Self

DIRECTORY = ".emcourse"
FILENAME = "writer.lock"
MAX_RECORD = 4096  # bytes of the record read back (the grader's own file, still bounded)

# This process's holds: course root (real path) -> [fd, count].
_held: dict[str, list] = {}
_mutex = threading.Lock()


class CourseBusy(RuntimeError):
    """Another process holds the course's writer lock; ``holder`` is its record (a dict,
    possibly empty when unreadable)."""

    def __init__(self, message: str, holder: dict):
        super().__init__(message)
        self.holder = holder


def path(root) -> Path:
    """The lock file of the course root ``root``."""
    return Path(root) / DIRECTORY / FILENAME


def _folder_fd(root: Path) -> int:
    """An open descriptor of ``root/.emcourse`` (made 0700 if missing), refused unless it is a
    real directory of this user's."""
    folder = root / DIRECTORY
    folder.mkdir(mode=0o700, exist_ok=True)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (NotADirectoryError, OSError) as exc:
        if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:
            raise ValueError(f"root: {folder} is a link or a file; expected the course's "
                             "private folder (a directory of mode 0700): remove it") from None
        raise
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        os.close(fd)
        raise ValueError(f"root: {folder} belongs to uid {st.st_uid}; expected the grader's "
                         f"(uid {os.geteuid()}): the course's private folder must be yours")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _open(root: Path) -> int:
    folder = _folder_fd(root)
    try:
        fd = os.open(FILENAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=folder)
    finally:
        os.close(folder)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ValueError(f"root: {path(root)} is not a regular file")
    return fd


def read_record(fd: int) -> dict:
    """The holder's record in the open lock file ``fd`` (at most :data:`MAX_RECORD` bytes);
    {} when empty or unreadable."""
    try:
        data = json.loads(os.pread(fd, MAX_RECORD, 0).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(root, holder: dict) -> str:
    """The refusal: who holds the course ``root`` (``holder``, its record) and what to do."""
    command = holder.get("command") or "another grading command"
    pid = holder.get("pid")
    bits = [f"pid {pid}" if isinstance(pid, int) else "pid unknown"]
    if holder.get("user"):
        bits.append(f"user {holder['user']}")
    if holder.get("started"):
        bits.append(f"since {holder['started']}")
    text = (f"the course {root} is being graded by `{command}` ({', '.join(bits)}): one "
            "grading command at a time writes a course's gradebook and autograded/. ")
    if isinstance(pid, int) and not _alive(pid):
        text += (f"Process {pid} is gone, but a process it started still holds the lock "
                 f"(see `fuser -v {path(root)}`); stop that one, then run this again.")
    elif "serve" in str(command):
        text += ("The grading service grades new submissions itself; to grade by hand, stop "
                 f"it first (kill {pid}) and run this again.")
    else:
        text += f"Wait for it to finish and run this again (or stop it: kill {pid})."
    return text


def acquire(root, command: str) -> Holding:
    """Take the writer lock of the course ``root`` for ``command`` (what the refusal will show
    others, e.g. ``"python -m emcourse_grader grade hw1"``), at once or not at all.

    Parameters
    ----------
    root : str or Path
        The course root.
    command : str
        The command line this process runs.

    Returns
    -------
    Holding
        Release it (or let the process end) to let the next writer in.

    Raises
    ------
    CourseBusy
        Another process holds it; the message names it and says what to do.
    TypeError, ValueError
        A bad argument; ``.emcourse`` not this user's real folder.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), found "
                        f"{type(root).__name__}")
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f"command: expected the command line being run, found {command!r}")
    root = Path(os.path.realpath(root))
    if not root.is_dir():
        raise ValueError(f"root: {root} is not a directory; expected the course root")
    key = str(root)
    with _mutex:
        if key in _held:
            _held[key][1] += 1
            return Holding(key)
        fd = _open(root)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_record(fd)
            os.close(fd)
            raise CourseBusy(describe(root, holder), holder) from None
        record = {"command": command, "pid": os.getpid(), "user": _user(),
                  "started": datetime.datetime.now(datetime.UTC).strftime(
                      "%Y-%m-%d %H:%M:%S UTC")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        _held[key] = [fd, 1]
    return Holding(key)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.geteuid()}"


class Holding:
    """This process's hold on one course's writer lock (:func:`acquire`); a context manager.
    The lock goes when every hold of the process is released, or when the process ends."""

    def __init__(self, key: str):
        self.key = key
        self.released = False

    def release(self) -> None:
        """Give this hold back (twice is once)."""
        with _mutex:
            if self.released:
                return
            self.released = True
            entry = _held.get(self.key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self.key]
                os.ftruncate(entry[0], 0)  # no stale record left behind
                os.close(entry[0])  # closing drops the flock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def hold_for_autograde(exporter) -> None:
    """Called by the exporter of nbgrader's Autograde converter as it is made: when that
    converter is run by nbgrader's ``autograde`` command (``AutogradeApp``, the command line),
    take the course's lock for as long as the exporter lives
    (the process, for the command line), before any submission is touched. A refusal is
    logged and raised as nbgrader's own error, so nbgrader stops at once with exit code 1.
    Converters made by the grader itself (its Dask workers in their scratch courses, its
    gradebook writer inside ``grade`` or ``serve``, which hold the lock already) take
    nothing here."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.converters.base import NbGraderException

    converter = getattr(exporter, "parent", None)
    if not isinstance(getattr(converter, "parent", None), AutogradeApp):
        return
    assignment = getattr(converter.coursedir, "assignment_id", "") or ""
    try:
        hold = acquire(converter.coursedir.root, f"nbgrader autograde {assignment}".strip())
    except CourseBusy as exc:
        converter.log.error("%s", exc)
        raise NbGraderException(str(exc)) from None
    weakref.finalize(exporter, hold.release)
