"""The parallel command's cluster started and stopped beside the coordinator's own work
(emcourse_grader.cluster_start): a real TLS LocalCluster each time."""

from __future__ import annotations

import os
import sys
import time

import pytest

from emcourse_grader.cluster_start import BackgroundCluster, wait_until_warm, warm_imports


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pids, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def _warm_state():
    wait_until_warm()
    return sorted(m for m in ("emcourse_grader.judge", "nbgrader.converters") if m in sys.modules)


def test_the_cluster_starts_behind_the_block_warms_its_workers_and_stops_after_it():
    t0 = time.perf_counter()
    with BackgroundCluster(workers=1) as cluster:
        entered = time.perf_counter() - t0
        client = cluster.client()
        ready = time.perf_counter() - t0
        assert client.scheduler.address.startswith("tls://")
        # the worker imported what grading needs on its own, before any task
        assert list(client.run(_warm_state).values()) == [["emcourse_grader.judge",
                                                           "nbgrader.converters"]]
        pids = list(client.run(os.getpid).values())
        cluster.close_soon()
    assert entered < ready  # the block went on while the cluster started
    assert cluster.startup_seconds > 0
    assert client.status == "closed"
    assert _gone(pids), "the worker processes outlived the block"


def test_an_error_in_the_block_still_stops_the_cluster():
    pids = []
    with pytest.raises(RuntimeError, match="preparation failed"), \
            BackgroundCluster(workers=1) as cluster:
        pids += cluster.client().run(os.getpid).values()
        raise RuntimeError("preparation failed")
    assert pids and _gone(pids)


def test_a_cluster_that_cannot_start_raises_its_error_from_client():
    with BackgroundCluster(workers=0) as cluster, \
            pytest.raises(ValueError, match="workers: expected at least 1, found 0"):
        cluster.client()


def test_a_callers_client_is_used_as_it_is_and_left_open():
    given = object()
    with BackgroundCluster(client=given) as cluster:
        assert cluster.client() is given
        cluster.close_soon()
    assert cluster.startup_seconds == 0.0


def test_warm_imports_reports_what_it_could_not_import():
    assert warm_imports(("json", "emcourse_grader_no_such_module")) == [
        ("emcourse_grader_no_such_module",
         "ModuleNotFoundError: No module named 'emcourse_grader_no_such_module'")]


def _origin():
    """In a worker: its parent, whether it holds what only the forkserver imports, its course."""
    from emcourse_grader import course

    return (os.getppid(), "emcourse_grader.grading_worker" in sys.modules,
            "scipy.special" in sys.modules, os.environ.get(course.ENV))


def test_local_workers_are_forked_from_one_preloaded_server_with_this_runs_course(
        monkeypatch, tmp_path):
    """The workers come from the forkserver (not a new interpreter each), which imported
    grading's modules once; two clusters of one process share it, and each one's workers see
    the course root of their own run, not the one the forkserver was started with."""
    from emcourse_grader import course

    seen = []
    for name in ("first", "second"):
        monkeypatch.setenv(course.ENV, str(tmp_path / name))
        with BackgroundCluster(workers=1) as cluster:
            seen += [(name, *o) for o in cluster.client().run(_origin).values()]
    (_, ppid1, *rest1), (_, ppid2, *rest2) = seen
    assert ppid1 == ppid2 != os.getpid(), "workers not forked from one server process"
    assert rest1 == [True, True, str(tmp_path / "first")]
    assert rest2 == [True, True, str(tmp_path / "second")]


EARLY = """
import json, os, sys
from emcourse_grader import cluster, course
os.environ[course.ENV] = "/nowhere/at/start"
cluster.start_forkserver()  # as the grade command does, before anything else
from multiprocessing import forkserver
server = forkserver._forkserver._forkserver_pid
os.environ[course.ENV] = sys.argv[1]
from emcourse_grader.cluster_start import BackgroundCluster

def origin():
    return (os.getppid(), "emcourse_grader.grading_worker" in sys.modules,
            os.environ.get(course.ENV))

with BackgroundCluster(workers=1) as c:
    print(json.dumps([server, *c.client().run(origin).values()]))
"""


def test_a_forkserver_started_first_serves_the_cluster_with_this_runs_course(tmp_path):
    """The grade command starts the forkserver before its own imports (its preload runs on
    the other core meanwhile): the cluster's workers are forked from that server, preloaded,
    and see the run's course root, not the environment the server started with."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", EARLY, str(tmp_path)], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    server, (ppid, preloaded, root) = json.loads(out.splitlines()[-1])
    assert server and ppid == server, "the worker was not forked from the early server"
    assert preloaded and root == str(tmp_path)


def test_the_forkserver_listens_in_a_directory_of_the_graders_alone():
    """The forkserver forks any process its socket is asked for: only the grader's user may
    reach the socket (a 0700 directory of its own, the standard library's)."""
    import multiprocessing.forkserver as fs
    import stat

    with BackgroundCluster(workers=1) as cluster:
        cluster.client()
        address = fs._forkserver._forkserver_address  # private: nothing public gives it
    assert address and not address.startswith("\0"), "an abstract socket has no permissions"
    st = os.stat(os.path.dirname(address))
    assert st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0, oct(st.st_mode)


def _keep_a_temporary_directory():
    """In a worker: a directory kept for the worker's life, as the sandbox's library is."""
    import tempfile

    from emcourse_grader.process_temp import keep_until_exit

    path = tempfile.mkdtemp(prefix="emcourse-test-")
    keep_until_exit(path)
    return path, os.getpid()


def test_a_worker_killed_outright_leaves_no_temporary_directory():
    """A worker ended by SIGKILL (the memory watchdog, the kernel's OOM killer) runs none of
    its clean-up; its temporary directories are inside the run's private scratch, which the
    run removes. Both the killed worker's and its replacement's are gone afterwards."""
    with BackgroundCluster(workers=1) as cluster:
        client = cluster.client()
        (first, pid), = client.run(_keep_a_temporary_directory).values()
        assert os.path.isdir(first)
        import signal

        os.kill(pid, signal.SIGKILL)
        assert _gone([pid]), "the worker was not killed"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the nanny starts a new worker
            try:
                (second, pid2), = client.run(_keep_a_temporary_directory).values()
                if pid2 != pid:
                    break
            except Exception:  # noqa: BLE001, S110 - no worker at this moment
                pass
            time.sleep(0.5)
        assert os.path.isdir(first), "a killed worker removed its directory: not a real kill"
    assert not os.path.exists(first), f"left behind: {first}"
    assert not os.path.exists(second), f"left behind: {second}"


def _mount_a_scratch():
    """In a worker: a sandbox's scratch, a tmpfs of its own as root, with a file in it."""
    from emcourse_grader import sandbox

    path = sandbox.make_scratch()
    (path / "written-by-the-sandbox").write_bytes(b"x" * 2**20)
    return str(path), sandbox.scratch_is_bounded(path), os.getpid()


def _mount_points() -> set:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root mounts a sandbox's scratch tmpfs")
def test_a_killed_workers_scratch_tmpfs_is_unmounted_after_the_run():
    """A worker killed while a sandbox's scratch tmpfs is mounted cannot unmount it; left
    mounted, it would hold what the sandbox wrote in memory until the machine restarts (a
    submission could write its disk quota, then get its worker killed, again and again).
    The run unmounts whatever is mounted in its scratch folder before removing it."""
    import signal

    with BackgroundCluster(workers=1) as cluster:
        (path, bounded, pid), = cluster.client().run(_mount_a_scratch).values()
        assert bounded and path in _mount_points()
        os.kill(pid, signal.SIGKILL)
        assert _gone([pid]), "the worker was not killed"
        assert path in _mount_points(), "the killed worker unmounted it: not a real kill"
    assert path not in _mount_points(), f"still mounted: {path}"
    assert not os.path.exists(path)
