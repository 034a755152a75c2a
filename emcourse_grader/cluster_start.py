"""The parallel command's cluster, started and stopped beside the coordinator's own work.

Starting a local Dask cluster (four processes with TLS: a scheduler in this process, two
nannies and their workers, each importing Dask) takes seconds, and so does stopping it. The
coordinator (:mod:`emcourse_grader.parallel`) has seconds of its own work before the first
task can be sent (reading the course's configuration and gradebook, which submissions need
grading, their files) and after the last result (the grade table, the summary). They do not
depend on each other, so :class:`BackgroundCluster` starts the cluster in a thread while the
coordinator prepares, and stops it in a thread while the coordinator writes its summary.
Nothing about the cluster changes (:func:`emcourse_grader.cluster.dask_client`: TLS, one
nanny per worker, the watchdog's restarts).

:func:`dask_setup` is the workers' preload (``distributed.worker.preload``, set by
:data:`emcourse_grader.cluster.DASK_SETTINGS`): a new worker imports what grading needs in a
thread of its own while it registers and waits for its first task, rather than in the
first task's time.
"""

from __future__ import annotations

import threading
import time

#: What a worker's first grading task would otherwise import itself (not the task's own
#: module, emcourse_grader.grading_worker, which the worker imports to unpickle the task).
WARM_MODULES = ("nbformat", "sqlalchemy.orm", "nbgrader.api", "nbgrader.converters",
                "nbgrader.preprocessors", "emcourse_grader.preprocessors",
                "emcourse_grader.guard",
                "emcourse_grader.judge", "emcourse_grader.sandbox",
                "emcourse_grader.untrusted", "emcourse_grader.scan",
                "emcourse_grader.callbacks", "emcourse_grader.custody")


def warm_imports(modules=WARM_MODULES) -> list:
    """Import ``modules``; returns the (name, error) pairs of those that failed (a worker
    that cannot import one fails its task with the real error, later, as it would anyway)."""
    import importlib

    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported by the task that needs it
            failed.append((name, f"{type(exc).__name__}: {exc}"))
    return failed


_WARMING: list = []  # the warm-up thread of this worker process, once started


def dask_setup(worker=None) -> None:
    """Dask's preload hook: start :func:`warm_imports` in a daemon thread and return at once
    (the worker registers with the scheduler without waiting for it).

    A local worker's ``TMPDIR`` (set by its nanny, :func:`emcourse_grader.cluster._local_cluster`)
    is read afresh: a worker forked from the forkserver inherits the server's cached choice."""
    import tempfile

    tempfile.tempdir = None
    thread = threading.Thread(target=warm_imports, name="emcourse-warm-imports", daemon=True)
    _WARMING.append(thread)
    thread.start()


def dask_teardown(worker=None) -> None:
    """Dask's preload hook when the worker closes: remove the directories the worker kept for
    its life (:mod:`emcourse_grader.process_temp`; a worker process runs no ``atexit``)."""
    from .process_temp import remove_all

    remove_all()


def wait_until_warm(timeout: float = 300.0) -> None:
    """Wait for this process's warm-up imports, if any are under way: a grading task starts
    only then, so that two threads never import the same package at once (a circular
    import between two importing threads is a deadlock error in Python's import system)."""
    for thread in _WARMING:
        thread.join(timeout)


class BackgroundCluster:
    """A Dask client whose cluster starts in a thread as soon as the ``with`` block begins
    and stops in a thread once :meth:`close_soon` is called (at the latest when the block
    ends, which waits for it).

    Parameters
    ----------
    workers, scheduler, security
        As :func:`emcourse_grader.cluster.dask_client`.
    client : distributed.Client, optional
        A client of the caller's: used as it is, neither started nor closed here.

    Examples
    --------
    >>> with BackgroundCluster(workers=2) as cluster:   # doctest: +SKIP
    ...     tasks = prepare()                          # while the cluster starts
    ...     client = cluster.client()                  # waits for it if need be
    ...     results = grade(client, tasks)
    ...     cluster.close_soon()                       # stops while the summary is written
    ...     write_summary(results)
    """

    def __init__(self, workers=None, scheduler=None, security=None, client=None):
        self._given = client
        self._args = (workers, scheduler, security)
        self._context = None
        self._client = None
        self._error = None
        self._started = threading.Event()
        self._starter = self._closer = None
        #: Seconds from the start of the ``with`` block until the client was ready.
        self.startup_seconds = 0.0

    def __enter__(self):
        if self._given is None:
            self._t0 = time.perf_counter()
            # Dask is imported here, before the thread starts: the coordinator imports
            # nbgrader meanwhile, and two threads importing packages that share modules
            # could meet in a circular import (Python raises a deadlock error then).
            import distributed  # noqa: F401
            from distributed.deploy import local  # noqa: F401

            from . import cluster  # noqa: F401
            self._starter = threading.Thread(target=self._start, name="emcourse-cluster-start",
                                             daemon=True)
            self._starter.start()
        return self

    def __exit__(self, *exc):
        self.close_soon()
        if self._closer is not None:
            self._closer.join()
        return False

    def _start(self):
        from .cluster import dask_client

        try:
            context = dask_client(*self._args)
            self._client, _ = context.__enter__()
            self._context = context
        except BaseException as exc:  # noqa: BLE001 - raised again by client()
            self._error = exc
        finally:
            self.startup_seconds = time.perf_counter() - self._t0
            self._started.set()

    def client(self):
        """The client, once its cluster is up (this waits for it).

        Raises
        ------
        Exception
            Whatever starting the cluster raised.
        """
        if self._given is not None:
            return self._given
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self._client

    def close_soon(self) -> None:
        """Stop the cluster in a thread (after its start, if that is still under way)."""
        if self._given is not None or self._starter is None or self._closer is not None:
            return
        self._closer = threading.Thread(target=self._close, name="emcourse-cluster-stop",
                                        daemon=True)
        self._closer.start()

    def _close(self):
        self._started.wait()
        if self._context is not None:
            self._context.__exit__(None, None, None)
