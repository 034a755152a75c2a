"""Temporary folders named after the process that made them, and the sweep of dead ones.

The grader's temporary folders (a sandbox's scratch home, a submission's scratch course, the
student library, a template gradebook, a run's Dask scratch) are removed by whoever made
them, and by the run that owns their parent folder when a Dask worker is killed. A process
killed outright (SIGKILL: the kernel's OOM killer, an instructor's ``kill -9``, a machine
that ran out of memory) removes nothing, and nobody outlived a coordinator, a serial
``nbgrader autograde`` or the grading service to do it: their folders stayed in /tmp, and as
root a scratch home stayed *mounted*, a tmpfs holding what the sandbox wrote in memory until
the machine restarted.

So every such folder is made by :func:`make_folder`, whose name carries its maker's pid and
the time that process started (``emcourse-scratch-p4242s1234567-xxxxxxxx``): a later process
can tell a folder whose maker is gone from one of a process that is still running, even when
the pid has been reused since. :func:`sweep` (run once per process, before its first sandbox
or its run's scratch: :func:`sweep_once`) unmounts and removes the folders of dead makers.
It touches only folders of this exact form that belong to the user it runs as, never a link.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

MNT_DETACH = 2
_NAME = re.compile(r"emcourse-[a-z]+-p(\d{1,10})s(\d{1,20})-[A-Za-z0-9_]{1,32}")


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat's field 22),
    or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat_line = f.read(4096)
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count after its last ")"
    fields = stat_line.rpartition(b")")[2].split()
    return fields[19].decode() if len(fields) > 19 else None


def make_folder(kind: str, dir=None) -> Path:
    """A new 0700 folder (``tempfile.mkdtemp``) named ``emcourse-<kind>-p<pid>s<start>-…``.

    Parameters
    ----------
    kind : str
        Lower-case letters saying what it holds (``scratch``, ``grade``, ``lib``, ...).
    dir : str or os.PathLike, optional
        Where to make it; the temporary directory by default.
    """
    if not isinstance(kind, str) or not re.fullmatch(r"[a-z]{1,20}", kind):
        raise ValueError(f"kind: expected 1 to 20 lower-case letters, found {kind!r}")
    pid = os.getpid()
    return Path(tempfile.mkdtemp(prefix=f"emcourse-{kind}-p{pid}s{_started(pid) or 0}-",
                                 dir=dir))


def unmount_below(folder, *, itself: bool = False) -> list[str]:
    """Unmount (lazily; root only) every mount point inside ``folder``, and ``folder`` too
    when ``itself``; returns the paths unmounted, deepest first."""
    top = os.path.realpath(folder)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                             line.split()[4]) for line in f if len(line.split()) > 4]
    except OSError:
        return []
    inside = [p for p in points if p.startswith(top + os.sep) or (itself and p == top)]
    done = []
    for point in sorted(set(inside), key=len, reverse=True):
        if libc().umount2(os.fsencode(point), MNT_DETACH) == 0:
            done.append(point)
    return done


def sweep(directory=None) -> list[str]:
    """Unmount and remove the folders in ``directory`` (the temporary directory by default)
    made by :func:`make_folder` in a process that no longer runs; returns their paths.

    A folder is left alone unless its name has :func:`make_folder`'s exact form, it is a real
    folder (not a link) owned by this process's user, and its maker (pid *and* start time)
    is gone."""
    directory = Path(directory or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        found = _NAME.fullmatch(entry.name)
        if found is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        if _started(int(found.group(1))) == found.group(2):
            continue  # its maker still runs
        if os.geteuid() == 0:
            unmount_below(entry.path, itself=True)
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


@functools.cache
def sweep_once() -> list[str]:
    """:func:`sweep` of the temporary directory, the first time a process calls it."""
    try:
        return sweep()
    except Exception:  # noqa: BLE001 - a sweep that fails leaves leftovers, never a grade
        return []


@functools.cache
def libc():
    """The C library, with ``mount`` and ``umount2`` typed."""
    import ctypes

    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib
