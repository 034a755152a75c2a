"""One grading writer per assignment of a course at a time.

A course has several writers of its gradebook, ``autograded/`` and ``integrity_report.csv``:
the grading service (``python -m emcourse_grader serve``), the parallel command
(``python -m emcourse_grader grade``) and nbgrader's serial ``nbgrader autograde``. Two of them at once grade the same
submissions twice, write one SQLite gradebook together and move autograded folders under each other's feet.
So each takes the lock of every assignment it grades first, and a second one for the same
assignment is refused at once, with the holder named (command, pid, user, since when) and
what to do. Different assignments are graded side by side (the deployment's service gives
hw2's feedback in a minute while the instructor grades hw1 with ``grade``): their writes to
the one gradebook are short transactions, which SQLite serialises.

* ``grade`` for its whole run, each assignment it was given (``emcourse_grader.__main__``,
  before anything starts);
* the service for its life, each assignment it serves
  (:class:`emcourse_grader.serve.service.Service`);

* ``nbgrader autograde`` through the course's configuration: the exporter nbgrader makes
  before it touches any submission (:class:`emcourse_grader.guard.GuardedExporter`, i.e.
  ``c.Autograde.exporter_class``) calls :func:`hold_for_autograde`, until the process ends.

Read-only commands (doctor, the Formgrader's pages, generate_feedback) take nothing, and
neither does the Formgrader's autograde button: it runs the converter inside the
instructor's Jupyter server (its parent is nbgrader's ``NbGraderAPI``, not ``AutogradeApp``),
where a hold tied to the converter's life would last until the garbage collector ran.

The lock is the operating system's: :func:`fcntl.flock` on ``<course root>/.emcourse/
writer-<assignment>.lock`` (a folder of mode 0700, the file 0600, the instructor's alone). The kernel
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
import re
import stat
import threading
import weakref
from pathlib import Path
from typing import Self

DIRECTORY = ".emcourse"
MAX_RECORD = 4096  # bytes of the record read back (the grader's own file, still bounded)

ASSIGNMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a name safe in a file name

# This process's holds: (course root (real path), assignment) -> [fd, count].
_held: dict[str, list] = {}
_mutex = threading.Lock()


class CourseBusy(RuntimeError):
    """Another process holds the course's writer lock; ``holder`` is its record (a dict,
    possibly empty when unreadable)."""

    def __init__(self, message: str, holder: dict):
        super().__init__(message)
        self.holder = holder


def _checked(assignment) -> str:
    if not isinstance(assignment, str) or not ASSIGNMENT.fullmatch(assignment) \
            or ".." in assignment:
        raise ValueError(f"assignments: expected assignment ids (letters, digits, '_', '.', "
                         f"'-'), found {assignment!r}")
    return assignment


def path(root, assignment: str) -> Path:
    """The lock file of ``assignment`` in the course root ``root``."""
    return Path(root) / DIRECTORY / f"writer-{_checked(assignment)}.lock"


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


def _open(root: Path, assignment: str) -> int:
    folder = _folder_fd(root)
    try:
        fd = os.open(path(root, assignment).name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=folder)
    finally:
        os.close(folder)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ValueError(f"root: {path(root, assignment)} is not a regular file")
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


def describe(root, assignment: str, holder: dict) -> str:
    """The refusal: who holds ``assignment`` of the course ``root`` (``holder``, its
    record) and what to do."""
    command = holder.get("command") or "another grading command"
    pid = holder.get("pid")
    bits = [f"pid {pid}" if isinstance(pid, int) else "pid unknown"]
    if holder.get("user"):
        bits.append(f"user {holder['user']}")
    if holder.get("started"):
        bits.append(f"since {holder['started']}")
    text = (f"{assignment} of the course {root} is being graded by `{command}` "
            f"({', '.join(bits)}): one grading command at a time writes an assignment's "
            "grades and autograded/. ")
    if isinstance(pid, int) and not _alive(pid):
        text += (f"Process {pid} is gone, but a process it started still holds the lock "
                 f"(see `fuser -v {path(root, assignment)}`); stop that one, then run this again.")
    elif "serve" in str(command):
        text += (f"The grading service grades {assignment}'s new submissions itself; to "
                 f"grade them by hand, stop it first (kill {pid}), or start it with "
                 "--assignments naming the others, and run this again.")
    else:
        text += f"Wait for it to finish and run this again (or stop it: kill {pid})."
    return text


def acquire(root, command: str, assignments) -> Holding:
    """Take the writer locks of ``assignments`` in the course ``root`` for ``command`` (what
    the refusal will show others, e.g. ``"python -m emcourse_grader grade hw1"``), all at
    once or none.

    Parameters
    ----------
    root : str or Path
        The course root.
    command : str
        The command line this process runs.
    assignments : iterable of str
        The assignment ids it writes (at least one).

    Returns
    -------
    Holding
        Release it (or let the process end) to let the next writer in.

    Raises
    ------
    CourseBusy
        Another process holds one of them; the message names it and says what to do.
    TypeError, ValueError
        A bad argument; ``.emcourse`` not this user's real folder.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), found "
                        f"{type(root).__name__}")
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f"command: expected the command line being run, found {command!r}")
    if isinstance(assignments, str) or not hasattr(assignments, "__iter__"):
        raise TypeError(f"assignments: expected a list of assignment ids, found "
                        f"{type(assignments).__name__}")
    names = sorted({_checked(a) for a in assignments})
    if not names:
        raise ValueError("assignments: expected at least one assignment id, found none")
    root = Path(os.path.realpath(root))
    if not root.is_dir():
        raise ValueError(f"root: {root} is not a directory; expected the course root")
    taken = []
    try:
        for name in names:
            _take(root, name, command)
            taken.append((str(root), name))
    except BaseException:
        Holding(taken).release()
        raise
    return Holding(taken)


def _take(root: Path, assignment: str, command: str) -> None:
    key = (str(root), assignment)
    with _mutex:
        if key in _held:
            _held[key][1] += 1
            return
        fd = _open(root, assignment)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_record(fd)
            os.close(fd)
            raise CourseBusy(describe(root, assignment, holder), holder) from None
        record = {"command": command, "pid": os.getpid(), "user": _user(),
                  "started": datetime.datetime.now(datetime.UTC).strftime(
                      "%Y-%m-%d %H:%M:%S UTC")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        _held[key] = [fd, 1]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.geteuid()}"


class Holding:
    """This process's hold on writer locks of a course (:func:`acquire`); a context manager.
    A lock goes when every hold of the process on it is released, or when the process
    ends."""

    def __init__(self, keys: list):
        self.keys = list(keys)
        self.released = False

    def release(self) -> None:
        """Give this hold back (twice is once)."""
        with _mutex:
            if self.released:
                return
            self.released = True
            for key in self.keys:
                entry = _held.get(key)
                if entry is None:
                    continue
                entry[1] -= 1
                if entry[1] == 0:
                    del _held[key]
                    os.ftruncate(entry[0], 0)  # no stale record left behind
                    os.close(entry[0])  # closing drops the flock

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def autograde_assignments(root, assignment_id: str) -> list:
    """The assignments ``nbgrader autograde <assignment_id>`` grades: the id itself, or for a
    pattern (``"*"``, ``"hw[12]"``) the ids of the course's manifest that match it."""
    import fnmatch

    if not any(ch in assignment_id for ch in "*?["):
        return [assignment_id] if assignment_id else []
    from . import course

    try:
        ids = [a.id for a in course.load(root).assignments]
    except Exception:  # noqa: BLE001 - no manifest: nbgrader will say what is missing
        return []
    return [i for i in ids if fnmatch.fnmatchcase(i, assignment_id)]


def hold_for_autograde(exporter) -> None:
    """Called by the exporter of nbgrader's Autograde converter as it is made: when that
    converter is run by nbgrader's ``autograde`` command (``AutogradeApp``, the command line),
    take the locks of the assignments it grades for as long as the exporter lives (the
    process), before any submission is touched. A refusal is logged and raised as nbgrader's
    own error, so nbgrader stops at once with exit code 1. Converters made by the grader
    itself (its Dask workers in their scratch courses, its gradebook writer inside ``grade``
    or ``serve``, which hold the locks already) take nothing here."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.converters.base import NbGraderException

    converter = getattr(exporter, "parent", None)
    if not isinstance(getattr(converter, "parent", None), AutogradeApp):
        return
    assignment = getattr(converter.coursedir, "assignment_id", "") or ""
    names = autograde_assignments(converter.coursedir.root, assignment)
    if not names:
        return
    try:
        hold = acquire(converter.coursedir.root, f"nbgrader autograde {assignment}".strip(),
                       names)
    except (CourseBusy, ValueError) as exc:
        converter.log.error("%s", exc)
        raise NbGraderException(str(exc)) from None
    weakref.finalize(exporter, hold.release)
