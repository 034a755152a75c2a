"""Custody of collected submissions: once collected, a submission is the grader's alone.

nbgrader's collect copies each submission into ``submitted/<student>/<assignment>/`` keeping
the modes of the exchange's copy (0777 folders where the exchange made them so). A student who
can write there can swap a classmate's notebook for another before the next grading run, or
their own for a better one after the deadline. So:

* :func:`seal` runs right after collect (``ResubmitCollect``): every collected file and folder
  is owned by the grader's user and writable by nobody else (files 0644, folders 0755 inside a
  course root that is itself 0700).
* :func:`breach` runs before grading, in both commands: a submission folder that anyone but
  the grader could have changed is refused with a reason that says what to do, and is not
  graded (no score is written to the gradebook for it; the command exits 1). ``nbgrader
  autograde``: :func:`record`, in the pre-convert hook, notes the breach before anything
  touches the folder, and ``IntegrityCheck`` raises :class:`CustodyError` (nbgrader then
  skips that submission and names it at the end). ``python -m emcourse_grader grade``: the
  coordinator checks each folder before it makes a task.

The checks look at the files themselves (owner, mode, type), never at what a student says.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o644
DIR_MODE = 0o755


class CustodyError(RuntimeError):
    """A collected submission that someone other than the grader could have changed."""


def _entries(folder: Path):
    """The folder and everything below it, links not followed."""
    yield folder
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def breach(folder, *, uid: int | None = None) -> str:
    """Why ``folder`` (a collected submission) cannot be trusted, or '' if it can.

    Parameters
    ----------
    folder : str or Path
        ``submitted/<student>/<assignment>``.
    uid : int, optional
        The grader's user (default: the effective uid of this process).

    Returns
    -------
    str
        '' when the folder and all it holds are owned by ``uid`` and writable by nobody
        else; else the first problem found and the fix. (Links and special files are not
        custody's business: :mod:`emcourse_grader.untrusted` never follows them and removes
        them before grading; a link someone else made is owned by them, and so refused.)
    """
    uid = os.geteuid() if uid is None else uid
    folder = Path(folder)
    for path in _entries(folder):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        rel = path.relative_to(folder).as_posix() if path != folder else "."
        if st.st_uid != uid:
            return (f"{rel} in {folder} belongs to uid {st.st_uid}, not to the grader "
                    f"(uid {uid}): it may have been changed after collection. Collect it "
                    "again with this course's configuration")
        if stat.S_IMODE(st.st_mode) & 0o022 and not stat.S_ISLNK(st.st_mode):
            return (f"{rel} in {folder} is writable by others than the grader (mode "
                    f"{stat.S_IMODE(st.st_mode):04o}): it may have been changed after "
                    "collection. Collect it again with this course's configuration, or "
                    f"chmod -R go-w {folder} if you know it was not")
    return ""


def seal(folder, *, uid: int | None = None) -> None:
    """Make a freshly collected submission the grader's alone: owner ``uid`` (default: this
    process's), files 0644 and folders 0755; links and special files are removed (collect
    must not have followed them, and grading never reads them)."""
    uid = os.geteuid() if uid is None else uid
    folder = Path(folder)
    for path in sorted(_entries(folder), key=lambda p: len(p.parts), reverse=True):
        st = path.lstat()
        kind = stat.S_IFMT(st.st_mode)
        if kind not in (stat.S_IFREG, stat.S_IFDIR):
            path.unlink()
            continue
        if st.st_uid != uid and os.geteuid() == 0:
            os.chown(path, uid, -1, follow_symlinks=False)
        path.chmod(DIR_MODE if kind == stat.S_IFDIR else FILE_MODE)


# Breaches found by the pre-convert hook, submitted folder (real path) -> reason, for
# IntegrityCheck to refuse (nbgrader ignores what a hook raises).
BREACHED: dict[str, str] = {}


def record(notebooks) -> None:
    """Note the breach, if any, of the folders holding ``notebooks`` (the pre-convert hook's
    argument: one submission's notebooks)."""
    for folder in {os.path.dirname(os.path.abspath(p)) for p in notebooks}:
        why = breach(folder)
        key = os.path.realpath(folder)
        if why:
            BREACHED[key] = why
        else:
            BREACHED.pop(key, None)


def before_grading(assignment=None, student=None, notebooks=(), *, release_directory="release",
                   **_):
    """nbgrader's pre-convert hook for Autograde (``nbgrader_config.py``): :func:`record`
    first, before anything touches the folder, then the untrusted-file screen
    (:func:`emcourse_grader.untrusted.screen_submission`)."""
    from .untrusted import screen_submission

    record(notebooks)
    screen_submission(assignment, student, notebooks, release_directory=release_directory)


def require(folder) -> None:
    """Raise :class:`CustodyError` with the reason when :func:`breach` finds one."""
    why = breach(folder)
    if why:
        raise CustodyError(why)
