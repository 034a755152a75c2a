"""The grader's Dask cluster and who may use it: TLS with mutual authentication, always.

A Dask scheduler runs whatever a connected client sends it (``Client.run``, ``submit``), on
itself and on every worker, with the rights of the user who started them. For the grader
that is the instructor, in the course root, with the gradebook writable, so a scheduler
reachable without authentication hands the course to anyone who can open a socket to it
(every user of a shared JupyterHub machine for a cluster on 127.0.0.1; the network for one on
a public interface). Hence:

* **The local cluster** (``python -m emcourse_grader grade hwN [--workers N]``, and
  :func:`dask_client` without a scheduler) is a :class:`distributed.LocalCluster` on
  127.0.0.1 whose scheduler, workers and nannies listen on ``tls://`` only, with a
  certificate made for this run (:meth:`distributed.Security.temporary`: a fresh key and
  self-signed certificate, kept in memory, handed to the worker processes through their
  start-up pipe, and written by Dask only for an instant into a private 0700 temporary
  directory to load it). Every listener requires the peer's certificate signed by that one
  (``ssl.CERT_REQUIRED``) and ``require_encryption`` refuses plain ``tcp://``: a client
  without the run's key cannot complete a handshake, let alone send a task.
* **An existing scheduler** (``--scheduler tls://HOST:PORT``) must be a ``tls://`` address;
  the client presents a certificate given by ``--tls-ca-file``, ``--tls-cert`` and
  ``--tls-key`` (the names ``dask scheduler`` and ``dask worker`` use) or, when they are not
  given, by Dask's configuration (``distributed.comm.tls.ca-file``,
  ``distributed.comm.tls.client.cert`` and ``.key``). A ``tcp://`` scheduler is refused.
* :func:`write_certificates` (``python -m emcourse_grader certs DIR``) makes what such a
  cluster needs: a certificate authority and a certificate and key for the scheduler, the
  workers and the client, all signed by it. The authority's private key is not kept: nobody
  can sign another certificate for this cluster; make a new directory to replace them all.

Dask authenticates a peer by the authority that signed its certificate, not by its name
(it turns host-name checking off), so every holder of any of the three keys can use the
cluster: the files are written readable by their owner alone (0600, in a 0700 directory).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from pathlib import Path

#: The files :func:`write_certificates` writes into its directory, by role.
CERT_FILES = {"ca": ("ca.pem", None),
              "scheduler": ("scheduler.pem", "scheduler.key"),
              "worker": ("worker.pem", "worker.key"),
              "client": ("client.pem", "client.key")}

# A worker that dies fails its task at once (the coordinator retries it once itself), and a
# worker holds one submission at a time: a dying worker takes only that one along.
DASK_SETTINGS = {"distributed.scheduler.allowed-failures": 0,
                 "distributed.scheduler.worker-saturation": 1.0,
                 "distributed.worker.daemon": False,
                 "distributed.worker.profile.enabled": False,  # no stack sampling of grading
                 "distributed.admin.tick.limit": "1h",
                 # Dask's HTTP pages (task keys name the students, worker logs, call stacks)
                 # authenticate nobody: the local cluster serves none of them.
                 "distributed.scheduler.http.routes": [],
                 "distributed.worker.http.routes": [],
                 # A new worker imports what grading needs while it waits for its first
                 # task (emcourse_grader.cluster_start.dask_setup).
                 "distributed.worker.preload": ["emcourse_grader.cluster_start"]}

#: A local cluster's worker processes are forked from one server process that imported these
#: once (Dask's ``forkserver`` method; :func:`_forkserver_preload`), instead of each worker,
#: and each worker a nanny restarts, starting a new interpreter and importing them itself.
FORKSERVER_PRELOAD = ("distributed", "distributed.nanny", "distributed.worker", "numpy",
                      "scipy.optimize",
                      "scipy.special", "emcourse_grader.cluster_start",
                      "emcourse_grader.grading_worker")


def check_scheduler_address(address) -> str:
    """The address of an existing scheduler, if it is a ``tls://`` one.

    Parameters
    ----------
    address : str
        E.g. ``"tls://10.0.0.5:8786"``.

    Returns
    -------
    str
        ``address`` unchanged.

    Raises
    ------
    TypeError
        If ``address`` is not a string.
    ValueError
        If it does not start with ``tls://`` (a ``tcp://`` scheduler lets anyone who can
        reach its port run code as the instructor).
    """
    if not isinstance(address, str):
        raise TypeError(f"scheduler: expected an address string such as "
                        f"'tls://10.0.0.5:8786', found {type(address).__name__}")
    if not address.startswith("tls://") or len(address) <= len("tls://"):
        raise ValueError(
            f"scheduler: expected a tls:// address such as 'tls://10.0.0.5:8786', found "
            f"{address!r}. A scheduler without TLS client certificates runs code for anyone "
            "who can reach its port, as the instructor: start it with --tls-ca-file, "
            "--tls-cert and --tls-key (python -m emcourse_grader certs DIR writes them; "
            "docs/teaching.md, 'Several machines').")
    return address


def client_security(ca_file=None, cert=None, key=None):
    """The client's side of TLS for an existing scheduler.

    Parameters
    ----------
    ca_file, cert, key : str or os.PathLike, optional
        The certificate authority that signed the cluster's certificates, the client's
        certificate and its private key (PEM files; ``key`` may be omitted when ``cert``
        holds the key too). Each one not given is taken from Dask's configuration
        (``distributed.comm.tls.ca-file``, ``distributed.comm.tls.client.cert``,
        ``distributed.comm.tls.client.key``).

    Returns
    -------
    distributed.Security
        With ``require_encryption=True``.

    Raises
    ------
    ValueError
        If the authority or the certificate is given neither way, or a file does not exist.
    """
    import dask
    from distributed import Security

    given = {"ca_file": (ca_file, "distributed.comm.tls.ca-file", "--tls-ca-file"),
             "cert": (cert, "distributed.comm.tls.client.cert", "--tls-cert"),
             "key": (key, "distributed.comm.tls.client.key", "--tls-key")}
    found = {}
    for name, (value, config, option) in given.items():
        if value is None:
            value = dask.config.get(config, None)
        if value is None:
            if name == "key":
                continue
            raise ValueError(
                f"{name}: a TLS scheduler needs the client's {option} (or Dask's "
                f"configuration {config}); found neither. python -m emcourse_grader certs DIR "
                "writes ca.pem, client.pem and client.key.")
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name}: expected a path, found {type(value).__name__}")
        if not os.path.isfile(value):
            raise ValueError(f"{name}: expected an existing PEM file ({option}), found "
                             f"{os.fspath(value)!r}, which is not a file")
        found[name] = os.fspath(value)
    return Security(require_encryption=True, tls_ca_file=found["ca_file"],
                    tls_client_cert=found["cert"], tls_client_key=found.get("key"))


def directory_security(directory):
    """Every role's TLS files from a directory :func:`write_certificates` wrote, for a
    cluster started from Python (dask-jobqueue's ``security=``, ``Client(security=)``).

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    distributed.Security
        Scheduler, worker and client certificates and keys, ``require_encryption=True``.

    Raises
    ------
    ValueError
        If one of the files is missing.
    """
    from distributed import Security

    directory = Path(directory)
    paths = {}
    for role, names in CERT_FILES.items():
        for name in names:
            if name is None:
                continue
            if not (directory / name).is_file():
                raise ValueError(f"directory: expected {name} in {str(directory)!r} (written "
                                 "by python -m emcourse_grader certs), found no such file")
            paths[name] = str(directory / name)
    kwargs = {"tls_ca_file": paths["ca.pem"]}
    for role in ("scheduler", "worker", "client"):
        kwargs[f"tls_{role}_cert"] = paths[f"{role}.pem"]
        kwargs[f"tls_{role}_key"] = paths[f"{role}.key"]
    return Security(require_encryption=True, **kwargs)


def check_client(client) -> None:
    """Refuse a client whose scheduler does not speak TLS.

    Parameters
    ----------
    client : distributed.Client

    Raises
    ------
    ValueError
        If the client's scheduler address is not ``tls://``.
    """
    address = getattr(getattr(client, "scheduler", None), "address", None)
    check_scheduler_address(address if isinstance(address, str) else repr(address))


@contextlib.contextmanager
def dask_client(workers=None, scheduler=None, security=None):
    """A Dask client on a cluster that requires TLS client certificates.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a local cluster (one thread each; default: one per core).
    scheduler : str, optional
        A ``tls://`` address of an existing scheduler instead of a local cluster.
    security : distributed.Security, optional
        The client's certificates for ``scheduler`` (default: :func:`client_security` from
        Dask's configuration). Not used for a local cluster, which always makes its own.

    Yields
    ------
    (distributed.Client, distributed.LocalCluster or None)

    Raises
    ------
    ValueError
        If ``scheduler`` is not a ``tls://`` address, ``workers`` is not positive, or the
        certificates are missing.
    """
    import dask
    from distributed import Client, Security

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise TypeError(f"workers: expected an int, found {type(workers).__name__}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: expected at least 1, found {workers}")
    with dask.config.set(DASK_SETTINGS):
        if scheduler is not None:
            check_scheduler_address(scheduler)
            if security is None:
                security = client_security()
            elif not isinstance(security, Security):
                raise TypeError(f"security: expected a distributed.Security, found "
                                f"{type(security).__name__}")
            if not security.require_encryption:
                raise ValueError("security: expected require_encryption=True, found False")
            client = Client(scheduler, security=security)
            try:
                yield client, None
            finally:
                client.close()
            return
        n = workers or os.cpu_count() or 1
        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}), \
                _local_cluster(n) as (client, cluster):
            yield client, cluster


def start_forkserver() -> None:
    """Start this process's forkserver now, preloaded with :func:`_forkserver_preload`'s
    list, for a local cluster later in this process.

    Its imports (Dask, nbgrader, the grader, numpy and scipy's parts: 2 to 3 s of one core)
    are the longest step before the first submission can start. Started by the ``grade``
    command before the coordinator imports its own modules and reads the course, they run
    on the other core meanwhile instead of after. Nothing of a course is in it: the course
    root and the workers' temporary directory reach each worker through its nanny's ``env``
    (:func:`_local_cluster`), as they do when the server was started by an earlier run."""
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(_preload_list())
    forkserver.ensure_running()


def _preload_list() -> list:
    """:data:`FORKSERVER_PRELOAD`, then the workers' warm-up modules, each once."""
    from .cluster_start import WARM_MODULES

    return list(dict.fromkeys([*FORKSERVER_PRELOAD, *WARM_MODULES]))


def _forkserver_preload() -> None:
    """What the forkserver imports before it forks the first worker: Dask's own list, then
    grading's (:data:`FORKSERVER_PRELOAD` and the warm-up modules of
    :mod:`emcourse_grader.cluster_start`). Without effect once this process's forkserver runs
    (it keeps what it imported), and it only ever imports: no course, no secret, no student.

    Dask sets its own list when it first makes its multiprocessing context
    (:func:`distributed.utils.get_mp_context`); the standard library's
    :meth:`multiprocessing.context.ForkServerContext.set_forkserver_preload` replaces it."""
    from distributed.utils import get_mp_context

    ctx = get_mp_context()  # Dask's list is set now, and only once per process
    ctx.set_forkserver_preload(_preload_list())


@contextlib.contextmanager
def _local_cluster(n: int):
    """A LocalCluster of ``n`` TLS workers forked from a preloaded server process, and its
    client. The course root (:data:`emcourse_grader.course.ENV`) reaches the workers through
    their nanny's ``env``: a forked worker has the environment of the forkserver, which
    was started by the first cluster of this process, maybe for another course."""
    from distributed import Client, LocalCluster, Security

    from . import course

    _forkserver_preload()
    env = {course.ENV: os.environ.get(course.ENV, "")}  # "" is unset (course.root)
    with _private_scratch() as scratch:
        # The workers' temporary directory is inside the run's scratch, which is removed
        # after the run: a worker killed outright (SIGKILL, by the memory watchdog or the
        # kernel's OOM killer) removes nothing of its own, but leaves nothing behind either.
        env["TMPDIR"] = os.path.join(scratch, "tmp")
        os.mkdir(env["TMPDIR"], 0o700)
        # Every listener on 127.0.0.1 and tls://; no dashboard (the scheduler's HTTP server
        # still listens, on a free port, serving none of the routes: DASK_SETTINGS).
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               host="127.0.0.1", protocol="tls://",
                               security=Security.temporary(), memory_limit=0,
                               silence_logs=logging.CRITICAL, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               worker_class="distributed.Nanny", env=env,
                               local_directory=scratch)
        try:
            client = Client(cluster)
        except BaseException:
            cluster.close()
            raise
        try:
            yield client, cluster
        finally:
            client.close()
            cluster.close()


@contextlib.contextmanager
def _private_scratch():
    """A 0700 directory of this run for Dask's scratch space (its lock files, every worker's
    folder), removed afterwards.

    Dask's default is ``dask-scratch-space`` in the system's temporary directory, shared by
    every run and every user: made with the umask (readable by all), left behind, and a folder
    another user created there first would be used, theirs (docs/integrity.md, "Other users of
    the grading machine"). The local workers keep their temporary files in it too; before it
    is removed, whatever is still mounted in it (the scratch tmpfs of a sandbox whose worker
    was killed outright) is unmounted."""
    import shutil

    import dask

    from .leftovers import make_folder, sweep_once
    from .sandbox import unmount_below

    sweep_once()  # the folders of runs killed outright, which nobody removed
    path = str(make_folder("dask"))  # mode 0700, ours, a new name
    try:
        with dask.config.set({"temporary-directory": path}):
            yield path
    finally:
        try:  # the scratch tmpfs of a sandbox whose worker was killed outright
            unmount_below(path)
        except Exception:  # noqa: BLE001, S110 - the folder is removed as far as it can be
            pass
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Certificates for a cluster of several machines
# --------------------------------------------------------------------------------------------

def _name(common_name):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "emcourse grading"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner alone; never follow or replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)  # whatever the umask


def write_certificates(directory, days: int = 365) -> dict:
    """Write a certificate authority and the scheduler's, workers' and client's certificates
    and keys for a Dask cluster with TLS (``python -m emcourse_grader certs DIR``).

    Parameters
    ----------
    directory : str or os.PathLike
        Created (mode 0700) if missing; none of the files may exist in it yet.
    days : int
        How long the certificates are valid, from now.

    Returns
    -------
    dict
        Path of every file written, keyed ``"ca"``, ``"scheduler_cert"``,
        ``"scheduler_key"``, ``"worker_cert"``, ...: see :data:`CERT_FILES`. Every file is
        mode 0600. The authority's private key is not written.

    Raises
    ------
    TypeError
        If ``days`` is not an int.
    ValueError
        If ``days`` is not positive.
    FileExistsError
        If one of the files exists already (nothing is written then).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days: expected an int, found {type(days).__name__}")
    if days < 1:
        raise ValueError(f"days: expected at least 1, found {days}")
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    targets = [directory / n for names in CERT_FILES.values() for n in names if n]
    existing = [str(p) for p in targets if os.path.lexists(p)]
    if existing:
        raise FileExistsError(f"directory: expected none of the certificate files yet, found "
                              f"{', '.join(existing)}; use a new directory")

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("emcourse grading CA")
    ca_cert = (x509.CertificateBuilder()
               .subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(until)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    out = {"ca": (directory / CERT_FILES["ca"][0], ca_cert.public_bytes(pem))}
    for role in ("scheduler", "worker", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(_name(f"emcourse grading {role}")).issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                # Every role both listens and connects (the scheduler dials workers too).
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_name, key_name = CERT_FILES[role]
        out[f"{role}_cert"] = (directory / cert_name, cert.public_bytes(pem))
        out[f"{role}_key"] = (directory / key_name, key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    written = []
    try:
        for path, data in out.values():
            _write_private(path, data)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return {k: path for k, (path, _) in out.items()}
