"""Temporary directories that live as long as their process, removed however it ends well.

A grading worker keeps a few directories for its whole life (the student library bound into
every sandbox, one template gradebook per assignment). ``atexit`` removes them in a process
that exits normally, but a Dask worker is a :mod:`multiprocessing` child, which leaves with
``os._exit`` and runs no ``atexit`` handler: each one was left in /tmp after every run. So
they are also removed by :func:`remove_all`, which the workers' preload calls when Dask closes
the worker (:func:`emcourse_grader.cluster_start.dask_teardown`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading

_PATHS: list[tuple[int, str]] = []  # (the process that made it, the directory)
_LOCK = threading.Lock()


def keep_until_exit(path) -> None:
    """Remove the directory ``path`` at :func:`remove_all` or when the process exits.

    Parameters
    ----------
    path : str or os.PathLike
        A directory this process made (``tempfile.mkdtemp``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path, found {type(path).__name__}")
    with _LOCK:
        if not _PATHS:
            atexit.register(remove_all)
        _PATHS.append((os.getpid(), os.fspath(path)))


def remove_all() -> None:
    """Remove every directory this process gave to :func:`keep_until_exit` so far (not those
    of a parent it was forked from: they are the parent's)."""
    with _LOCK:
        paths, _PATHS[:] = list(_PATHS), []
    for pid, path in paths:
        if pid == os.getpid():
            shutil.rmtree(path, ignore_errors=True)
