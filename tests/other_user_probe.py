"""What another Unix user of the grading machine can reach while a grade runs.

Run by tests/test_other_user.py as a throwaway unprivileged user (``runuser``), with the
system's ``python3`` and the standard library alone, its source on standard input. One JSON
argument: ``{"roots": [...], "whole": [PATH, ...], "unix": [PATH, ...], "tcp": [PORT, ...],
"write": [DIR, ...], "seconds": S, "rounds": R}``. It walks ``roots`` (into what matches
:data:`PATTERNS`, and all of each ``whole`` directory: the course root, the run's /tmp) for
``seconds`` and at least ``rounds`` times (again and again: the grader's temporary files come
and go), tries to read every file the grader may have made and to list every directory,
connects to the Unix sockets and TCP ports, tries to create a file in each of ``write``, and
prints one JSON object of what it managed.
"""

import errno
import fnmatch
import json
import os
import socket
import ssl
import sys
import time

PATTERNS = ("emcourse-*", "pymp-*", "dask-*", "*.db", "secret", ".emcourse")


def _interesting(path, top, whole):
    """Below ``top``: might the grader have made it?  Everything under a ``whole`` one."""
    if top in whole or any(path == w or path.startswith(w + os.sep) for w in whole):
        return True
    parts = os.path.relpath(path, top).split(os.sep)
    return any(fnmatch.fnmatch(part, pat) for part in parts for pat in PATTERNS)


def walk(top, whole, found):
    """Read one byte of each interesting file, list each interesting directory."""
    for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: None):
        if dirpath != top and _interesting(dirpath, top, whole):
            try:
                os.listdir(dirpath)  # os.walk got here: listed, but say so plainly
                found["dirs_listed"].add(dirpath)
            except OSError:
                pass
        # only into what the grader may have made (and on the way to a whole one)
        dirnames[:] = [d for d in dirnames
                       if _interesting(os.path.join(dirpath, d), top, whole)
                       or any(w.startswith(os.path.join(dirpath, d) + os.sep) for w in whole)]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not _interesting(path, top, whole):
                continue
            try:
                with open(path, "rb") as fh:
                    fh.read(1)
            except OSError:
                continue
            found["files_read"].add(path)


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(path)
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
    finally:
        s.close()
    return "connected"


def tcp_plain(port):
    """Connect and send a few bytes; what comes back (a TLS listener sends nothing)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError as exc:
        return f"refused: {exc}"
    try:
        s.sendall(b"\x00" * 16 + b"hello dask\n")
        data = s.recv(64)
        return f"read {len(data)} bytes"
    except OSError as exc:
        return f"closed: {type(exc).__name__}"
    finally:
        s.close()


def tcp_tls(port):
    """A TLS handshake without a client certificate: must not complete with a usable channel."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=3)
    except OSError as exc:
        return f"refused: {exc}"
    try:
        with ctx.wrap_socket(raw) as s:
            # TLS 1.3: the server checks the (missing) certificate after the client's Finished;
            # a refusal shows as an alert on the first read.
            s.sendall(b"\x00" * 8)
            data = s.recv(64)
            return "handshake" if data else "handshake, then closed"
    except (OSError, ssl.SSLError) as exc:
        return f"refused: {type(exc).__name__}"


def try_write(folder):
    path = os.path.join(folder, f"planted-by-{os.getuid()}.txt")
    try:
        with open(path, "x") as fh:
            fh.write("planted")
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
    return "written"


def forkserver_sockets(tops):
    """The forkserver's socket, found by name where multiprocessing makes it: a
    ``listener-*`` in a ``pymp-*`` folder of a temporary directory (each of ``tops``), or
    in ``tops`` themselves. Only there: a walk of all of /tmp (a checkout and its virtual
    environment may lie in it) takes long enough under load to outlast the grade."""
    found = []
    for top in tops:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("listener-"):
                found.append(entry.path)
            elif entry.name.startswith("pymp-"):
                try:
                    found += [os.path.join(entry.path, n) for n in os.listdir(entry.path)]
                except OSError:
                    pass
    return found


def main():
    args = json.loads(sys.argv[1])
    found = {"files_read": set(), "dirs_listed": set()}
    sockets, writes, tcp = {}, {}, {}
    for port in args["tcp"]:  # first, while the grade surely still runs
        tcp[str(port)] = {"plain": tcp_plain(port), "tls": tcp_tls(port)}
    deadline = time.monotonic() + args["seconds"]
    rounds = 0
    while True:
        for top in args["roots"]:
            walk(top, args["whole"], found)
        for path in args["unix"]:
            sockets[path] = unix_connect(path)
        for path in forkserver_sockets([*args["roots"], *args["whole"]]):
            sockets[path] = unix_connect(path)
        for folder in args["write"]:
            if os.path.isdir(folder):
                writes[folder] = try_write(folder)
        rounds += 1
        if time.monotonic() > deadline and rounds >= args.get("rounds", 1):
            break
        time.sleep(0.5)
    print(json.dumps({"uid": os.getuid(), "rounds": rounds,
                      "files_read": sorted(found["files_read"]),
                      "dirs_listed": sorted(found["dirs_listed"]),
                      "unix": sockets, "tcp": tcp, "write": writes}))


if __name__ == "__main__":
    main()
