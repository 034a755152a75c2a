"""The grader's Dask cluster authenticates who uses it (emcourse_grader.cluster).

A Dask scheduler runs whatever a connected client sends, as the user who started it; the
grader's is the instructor in the course root. So: the local cluster that ``python -m
emcourse_grader grade`` starts, and a cluster of ``dask scheduler``/``dask worker`` processes
started with the files of ``python -m emcourse_grader certs DIR`` as docs/teaching.md shows,
must refuse a plain ``tcp://`` client, a TLS client without a certificate and one with a
certificate of its own making, on every port they listen on, while the grader's own client
runs tasks. The refusals are checked at the TLS handshake itself (raw ``ssl`` sockets that do
not check the server, so only the server's check can fail them), each beside a control that
the same probe with the right certificate gets the Dask handshake.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from emcourse_grader import cluster, parallel

pytest.importorskip("cryptography")
VENV_BIN = Path(sys.executable).parent
# The documented environment of `dask scheduler` and `dask worker`: no HTTP pages.
NO_HTTP = {"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "[]",
           "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "[]"}


def handshake(address: str, cert=None, key=None):
    """The first bytes a Dask listener sends after a TLS handshake presenting ``cert`` (or
    no certificate), or None if it refuses. The server's certificate is not checked: only
    the server's check of ours can fail here."""
    host, port = address.split("://", 1)[1].rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection((host, int(port)), timeout=5) as raw, \
                ctx.wrap_socket(raw) as s:
            return s.recv(64) or None  # a Dask server writes its handshake at once
    except OSError:  # ssl.SSLError, reset, timeout
        return None


def dask_connect(address: str, **connection_args):
    """Open and close a Dask comm (as a client, scheduler or worker does)."""
    from distributed.comm import connect

    async def go():
        comm = await connect(address, timeout=3, **connection_args)
        await comm.close()

    asyncio.run(go())


def write_pem(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


# --------------------------------------------------------------------------------------------
# The local cluster of `python -m emcourse_grader grade hwN --workers 2`
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local():
    with parallel.dask_client(workers=2) as (client, local_cluster):
        client.wait_for_workers(2, timeout=30)
        yield client, local_cluster


@pytest.fixture(scope="module")
def listeners(local):
    """Every address the local cluster listens on: scheduler, workers, nannies."""
    client, _ = local
    workers = client.scheduler_info()["workers"]
    return [client.scheduler.address, *workers, *(w["nanny"] for w in workers.values())]


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A client certificate of its own making (Dask's own self-signed kind)."""
    from distributed import Security

    sec = Security.temporary()
    d = tmp_path_factory.mktemp("stranger")
    return sec, write_pem(d, "c.pem", sec.tls_client_cert), write_pem(d, "c.key",
                                                                      sec.tls_client_key)


def test_local_cluster_listens_on_loopback_tls_only(local, listeners):
    assert len(listeners) == 5
    for address in listeners:
        assert address.startswith("tls://127.0.0.1:"), address
    assert local[1].security.require_encryption


def test_the_graders_client_runs_tasks(local):
    client, _ = local
    pids = {client.submit(os.getpid, pure=False, workers=[w]).result(timeout=30)
            for w in client.scheduler_info()["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_plain_tcp_client_is_refused(local, listeners):
    from distributed import Client

    client, local_cluster = local
    scheduler = client.scheduler.address
    start = time.monotonic()
    with pytest.raises((OSError, asyncio.TimeoutError)):
        Client(scheduler.replace("tls://", "tcp://"), timeout=3)
    assert time.monotonic() - start < 10
    for address in listeners:
        with pytest.raises((OSError, asyncio.TimeoutError)):
            dask_connect(address.replace("tls://", "tcp://"))
        # control: the same connection with the run's certificate goes through
        dask_connect(address, **local_cluster.security.get_connection_args("client"))


def test_a_client_without_the_runs_certificate_is_refused(local, listeners, stranger,
                                                          tmp_path):
    from distributed import Client

    client, local_cluster = local
    sec, cert, key = stranger
    with pytest.raises((OSError, asyncio.TimeoutError)):
        Client(client.scheduler.address, security=sec, timeout=3)
    own = local_cluster.security
    own_cert = write_pem(tmp_path, "own.pem", own.tls_client_cert)
    own_key = write_pem(tmp_path, "own.key", own.tls_client_key)
    for address in listeners:
        assert handshake(address) is None, f"{address} accepted a TLS client without a cert"
        assert handshake(address, cert, key) is None, f"{address} accepted a foreign cert"
        assert handshake(address, own_cert, own_key), f"{address} refused the run's cert"


def test_no_http_pages(local):
    client, local_cluster = local
    ports = [local_cluster.scheduler.http_server.port]
    ports += [w["services"]["dashboard"] for w in client.scheduler_info()["workers"].values()
              if "dashboard" in w.get("services", {})]
    for port, page in [(ports[0], "info/main/workers.html"), (ports[0], "json/identity.json"),
                       *((p, "health") for p in ports[1:])]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=5)
        assert err.value.code == 404, (port, page)


# --------------------------------------------------------------------------------------------
# Several machines: `certs DIR`, then `dask scheduler` and `dask worker` as documented
# --------------------------------------------------------------------------------------------

def run_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "emcourse_grader", *args], check=False,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls") / "certs"
    res = run_cli("certs", str(d))
    assert res.returncode == 0, res.stderr
    assert "dask scheduler" in res.stdout and "--tls-cert" in res.stdout
    return d


@pytest.fixture(scope="module")
def remote(certs, tmp_path_factory):
    """`dask scheduler` and one `dask worker` with the documented TLS options (on loopback
    and a free port instead of the default 8786)."""
    work = tmp_path_factory.mktemp("remote")
    env = {**os.environ, **NO_HTTP, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    procs = []

    def start(*cmd, log):
        with open(work / log, "wb") as out:
            procs.append(subprocess.Popen([str(VENV_BIN / "dask"), *cmd], cwd=work, env=env,
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    def tls(role):  # the options docs/teaching.md gives
        return ["--tls-ca-file", str(certs / "ca.pem"), "--tls-cert",
                str(certs / f"{role}.pem"), "--tls-key", str(certs / f"{role}.key")]
    sfile = work / "scheduler.json"
    try:
        start("scheduler", "--no-dashboard", "--host", "127.0.0.1", "--port", "0",
              "--scheduler-file", str(sfile), *tls("scheduler"), log="scheduler.log")
        deadline = time.monotonic() + 30
        while not sfile.exists() or not sfile.read_text().strip():
            assert procs[0].poll() is None, (work / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(sfile.read_text())["address"]
        start("worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit",
              "0", "--no-dashboard", *tls("worker"), log="worker.log")
        yield address, work
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, 15)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()


def client_files(certs):
    return certs / "ca.pem", certs / "client.pem", certs / "client.key"


def test_certs_writes_private_files_once(certs):
    from cryptography import x509

    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    names = sorted(p.name for p in certs.iterdir())
    assert names == sorted(["ca.pem", "scheduler.pem", "scheduler.key", "worker.pem",
                            "worker.key", "client.pem", "client.key"])
    for p in certs.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for role in ("scheduler", "worker", "client"):
        leaf = x509.load_pem_x509_certificate((certs / f"{role}.pem").read_bytes())
        leaf.verify_directly_issued_by(ca)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    before = {p.name: p.read_bytes() for p in certs.iterdir()}
    again = run_cli("certs", str(certs))
    assert again.returncode == 2 and "new directory" in again.stderr
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == before


def test_documented_cluster_runs_the_clients_tasks(remote, certs):
    address, _ = remote
    sec = cluster.client_security(*client_files(certs))
    with cluster.dask_client(scheduler=address, security=sec) as (client, none):
        assert none is None
        client.wait_for_workers(1, timeout=30)
        pid = client.submit(os.getpid, pure=False).result(timeout=30)
        assert pid != os.getpid()
    # the same files through Dask's configuration, as a user's distributed.yaml would give
    import dask
    ca, cert, key = client_files(certs)
    config = {"distributed.comm.tls.ca-file": str(ca),
              "distributed.comm.tls.client.cert": str(cert),
              "distributed.comm.tls.client.key": str(key)}
    with dask.config.set(config), cluster.dask_client(scheduler=address) as (client, _):
        assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
    # every role's files at once, as dask-jobqueue's security= takes them (docs/teaching.md)
    from distributed import Client
    with Client(address, security=cluster.directory_security(certs), timeout=10) as client:
        assert client.submit(max, [1, 2], pure=False).result(timeout=30) == 2
    with pytest.raises(ValueError, match="expected ca.pem"):
        cluster.directory_security(certs.parent)


def test_documented_cluster_refuses_other_clients(remote, certs, tmp_path):
    from distributed import Client

    address, _ = remote
    other = cluster.write_certificates(tmp_path / "other")  # another `certs` run: another CA
    with cluster.dask_client(scheduler=address,
                             security=cluster.client_security(*client_files(certs))) as (c, _):
        c.wait_for_workers(1, timeout=30)
        worker = next(iter(c.scheduler_info()["workers"]))
    with pytest.raises((OSError, asyncio.TimeoutError)):
        Client(address.replace("tls://", "tcp://"), timeout=3)
    for where in (address, worker):
        assert handshake(where) is None, f"{where} accepted a client without a certificate"
        assert handshake(where, other["client_cert"], other["client_key"]) is None, \
            f"{where} accepted a certificate of another authority"
        _, cert, key = client_files(certs)
        assert handshake(where, cert, key), f"{where} refused the client certificate"


def test_grade_refuses_a_scheduler_without_tls(tmp_path, certs):
    env = {**os.environ, "DASK_CONFIG": str(tmp_path / "no-dask-config")}
    res = run_cli("grade", "hw1", "--scheduler", "tcp://127.0.0.1:8786", cwd=tmp_path, env=env)
    assert res.returncode == 2 and "tls://" in res.stderr and "tcp://127.0.0.1:8786" in res.stderr
    res = run_cli("grade", "hw1", "--scheduler", "tls://127.0.0.1:8786", cwd=tmp_path, env=env)
    assert res.returncode == 2 and "--tls-ca-file" in res.stderr
    res = run_cli("grade", "hw1", "--tls-cert", str(certs / "client.pem"), cwd=tmp_path, env=env)
    assert res.returncode == 2 and "--scheduler" in res.stderr
    with pytest.raises(ValueError, match="tls://"), \
            cluster.dask_client(scheduler="tcp://127.0.0.1:8786"):
        pass
    with pytest.raises(ValueError, match="found 'no/such.pem'"):
        cluster.client_security("no/such.pem", certs / "client.pem", certs / "client.key")


def test_grading_refuses_a_client_of_a_plain_scheduler(tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as plain, \
            Client(plain) as client:
        assert client.scheduler.address.startswith("tcp://")
        with pytest.raises(ValueError, match="tls://"):
            parallel.grade_all(["hw1"], root=str(tmp_path), client=client)
    with pytest.raises(ValueError, match="tls://"):
        parallel.grade_all(["hw1"], root=str(tmp_path), scheduler="tcp://127.0.0.1:8786")
    assert list(tmp_path.iterdir()) == []  # refused before anything was read or written
