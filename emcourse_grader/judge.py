"""The trusted side: a worker process per notebook, and test cells evaluated in the grader.

:class:`Worker` starts ``python -m emcourse_grader.worker`` in the sandbox (limits, the
unprivileged user, the guard), sends it the student's cells in notebook order, and, when a
cell hangs or kills it, starts a new one that replays the cells that worked.

:func:`run_test_cell` executes the *instructor's* test code (visible and hidden tests, from
the gradebook) in the grader's own process. Each name the test uses is looked up in the
worker: a function becomes a :class:`Remote` (calling it sends plain data to the worker and
decodes plain data back), a module is imported here (the real numpy, the real
emref.grading), a value comes back as plain data. Whatever the student's code did to numpy,
builtins, AssertionError, emref, the IPython shell or its own results, the test's asserts
and emref.grading's checks run here, on data, untouched.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import sandbox, wire

# Modules a test cell may name; the grader imports its own copy.
TRUSTED_MODULES = {"numpy", "numpy.testing", "numpy.linalg", "scipy", "scipy.linalg",
                   "scipy.special", "scipy.stats", "itertools", "math", "emref",
                   "emref.datasets", "emref.grading", "functools", "collections"}
TRUSTED_CLASSES = {"emref.gmm.GMMParams", "emref.hmm.HMMParams", "emref.hmm.Categorical",
                   "emref.hmm.Gaussian"}


class WorkerGone(Exception):
    """The worker did not answer in time, or died."""


class Flag(Exception):
    pass


def _exception_class(ename: str):
    if ename == "NotImplementedError":
        return NotImplementedError
    if ename == "RecursionError":
        return RecursionError
    name = ename if ename.isidentifier() else "StudentError"
    return type(name, (Exception,), {"__module__": "student"})


class Worker:
    """One sandboxed worker for one notebook, restarted (and replayed) when it fails."""

    def __init__(self, policy: dict, timeout: float = 20.0, startup_timeout: float = 60.0,
                 max_restarts: int = 4, on_flag=None):
        self.policy = policy
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.max_restarts = max_restarts
        self.on_flag = on_flag or (lambda reason, detail: None)
        self.proc = None
        self.cells = []     # (index, source) that ran without killing the worker
        self.skipped = set()
        self.restarts = 0
        self.context = None  # what the current flags belong to

    # -- process ------------------------------------------------------------------------------
    def _spawn(self):
        if self.restarts > self.max_restarts:
            raise WorkerGone("the worker was restarted too often")
        r1, w1 = os.pipe()  # grader -> worker
        r2, w2 = os.pipe()  # worker -> grader
        tmp = tempfile.mkdtemp(prefix="emcourse-worker-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "NBGRADER"))}
        env.update(HOME=tmp, TMPDIR=tmp, MPLBACKEND="Agg", MPLCONFIGDIR=tmp,
                   PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1",
                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env[sandbox.ENV] = sandbox.policy_env(**self.policy)
        user = self.policy.get("user")

        def preexec():
            os.setsid()
            if user and os.geteuid() == 0:
                try:
                    import pwd
                    pw = pwd.getpwnam(user)
                    os.chown(tmp, pw.pw_uid, pw.pw_gid)
                except (KeyError, OSError):
                    pass

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emcourse_grader.worker", str(r1), str(w2)],
            pass_fds=(r1, w2), cwd=tmp, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec)  # noqa: PLW1509 - no threads
        os.close(r1)
        os.close(w2)
        self.wfd, self.rfd = w1, r2
        self.tmp = tmp
        self._recv(self.startup_timeout)  # "ready"
        for index, source in list(self.cells):
            try:
                self._request({"op": "exec", "source": source, "cell": index})
            except WorkerGone:
                self.cells = [(i, s) for i, s in self.cells if i != index]
                self.skipped.add(index)
                self._kill()
                self.restarts += 1
                return self._spawn()

    def _kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.proc = None

    def close(self):
        self._kill()

    def _memory_check(self):
        """Before killing a worker that did not answer: was it at its memory limit?"""
        limit = self.policy.get("memory_mb") or 0
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            peak_mb = int(status.get("VmPeak", "0 kB").split()[0]) / 1024
        except (OSError, ValueError, AttributeError):
            return
        if limit and peak_mb > 0.8 * limit:
            self.on_flag("exhausts memory", f"{peak_mb:.0f} MB of address space")

    def _ensure(self):
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._kill()
                self.restarts += 1
            self._spawn()

    # -- messages -----------------------------------------------------------------------------
    def _read_exact(self, n, deadline):
        chunks = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.rfd, min(n, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _recv(self, timeout):
        import json
        deadline = time.monotonic() + timeout
        try:
            (n,) = struct.unpack(">I", self._read_exact(4, deadline))
            if n > wire.MAX_MESSAGE:
                raise wire.WireError("message too large")
            msg = json.loads(self._read_exact(n, deadline))
            if not isinstance(msg, dict):
                raise wire.WireError("malformed message")
        except TimeoutError:
            self._memory_check()
            self._kill()
            self.restarts += 1
            raise WorkerGone(f"no answer within {timeout:g} s (an endless loop, or a loop "
                             f"that ignores interrupts)") from None
        except (EOFError, OSError, ValueError, wire.WireError) as exc:
            code = self.proc.poll() if self.proc else None
            self._kill()
            self.restarts += 1
            why = "the process exited" if isinstance(exc, EOFError) else str(exc)
            if code is not None and code < 0:
                why += f" (signal {-code}: memory or CPU limit?)"
            raise WorkerGone(why) from None
        for f in msg.get("flags") or []:
            if isinstance(f, dict):
                self.on_flag(str(f.get("reason", "?"))[:200], str(f.get("detail", ""))[:300])
        return msg

    def _request(self, msg):
        try:
            wire.send(self.wfd, msg)
        except OSError:
            self._kill()
            self.restarts += 1
            raise WorkerGone("the process exited") from None
        return self._recv(self.timeout)

    def request(self, msg):
        self._ensure()
        return self._request(msg)

    # -- operations ---------------------------------------------------------------------------
    def exec_cell(self, index, source):
        """Run a student (or given) cell; returns the answer, or None if the worker failed."""
        try:
            answer = self.request({"op": "exec", "source": source, "cell": index})
        except WorkerGone as exc:
            self.skipped.add(index)
            self.on_flag("the code stops or kills the process that runs it", str(exc))
            return None
        self.cells.append((index, source))
        if not answer.get("ok") and answer.get("base"):
            self.on_flag("raises an exception derived from BaseException",
                         str(answer.get("ename")))
        if not answer.get("ok") and answer.get("ename") == "MemoryError":
            self.on_flag("exhausts memory", "MemoryError")
        return answer

    def lookup(self, names):
        answer = self.request({"op": "lookup", "names": sorted(names)})
        return answer.get("names") or {}

    def call(self, name, args, kwargs):
        answer = self.request({"op": "call", "name": name,
                               "args": [encode_arg(a) for a in args],
                               "kwargs": {k: encode_arg(v) for k, v in kwargs.items()}})
        op = answer.get("op")
        if op == "result":
            return wire.decode(answer.get("value"))
        ename = str(answer.get("ename", "Exception"))[:80]
        message = str(answer.get("msg", ""))[:2000]
        if answer.get("base"):
            self.on_flag("raises an exception derived from BaseException", ename)
        if ename == "MemoryError":
            self.on_flag("exhausts memory", f"{name}: MemoryError")
        raise _exception_class(ename)(message)


def encode_arg(value):
    """Arguments the grader sends (its own data, its own GMMParams)."""
    if isinstance(value, Remote):
        raise TypeError("a function cannot be passed to the student's code")
    if hasattr(value, "weights") and hasattr(value, "means") and hasattr(value, "covariances") \
            and not isinstance(value, (np.ndarray, tuple)):
        return {"t": "params", "items": [wire.encode(value.weights), wire.encode(value.means),
                                         wire.encode(value.covariances)]}
    if isinstance(value, list):
        return {"t": "list", "items": [encode_arg(v) for v in value]}
    if isinstance(value, tuple) and not isinstance(value, wire.Params):
        return {"t": "tuple", "items": [encode_arg(v) for v in value]}
    return wire.encode(value)


class Remote:
    """A student's function, called in the worker; it can only return plain data."""

    def __init__(self, worker: Worker, name: str):
        self._worker = worker
        self.__name__ = self.__qualname__ = name
        self.__module__ = "__main__"

    def __call__(self, *args, **kwargs):
        try:
            return self._worker.call(self.__name__, args, kwargs)
        except WorkerGone as exc:
            self._worker.on_flag("the code stops or kills the process that runs it",
                                 f"{self.__name__}: {exc}")
            raise TimeoutError(f"{self.__name__} did not return: {exc}") from None

    def __repr__(self):
        return f"<function {self.__name__}>"


def _names(tree) -> set:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def run_test_cell(worker: Worker, source: str):
    """Run the instructor's test code with the student's names; return (passed, message)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return False, f"the test cell does not compile: {exc}"
    wanted = {n for n in _names(tree) if n not in ("__builtins__",)}
    try:
        described = worker.lookup(wanted)
    except WorkerGone as exc:
        worker.on_flag("the code stops or kills the process that runs it", str(exc))
        return False, f"your code could not be run: {exc}"
    ns = {"__name__": "__main__", "__builtins__": builtins}
    for name, d in described.items():
        if not isinstance(d, dict):
            continue
        kind = d.get("t")
        try:
            if kind == "func":
                ns[name] = Remote(worker, name)
            elif kind == "module":
                mod = str(d.get("name"))
                if mod in TRUSTED_MODULES:
                    ns[name] = importlib.import_module(mod)
                else:
                    ns[name] = wire.NotPlainData(f"module {mod}")
            elif kind == "class":
                qual = str(d.get("name"))
                if qual in TRUSTED_CLASSES:
                    mod, _, cls = qual.rpartition(".")
                    ns[name] = getattr(importlib.import_module(mod), cls)
                else:
                    ns[name] = wire.NotPlainData(f"class {qual}")
            else:
                ns[name] = wire.decode(d)
        except (wire.WireError, ValueError, TypeError, KeyError) as exc:
            ns[name] = wire.NotPlainData(f"undecodable value ({exc})")
    try:
        with np.errstate(all="ignore"):
            exec(compile(tree, "<test>", "exec"), ns)  # noqa: S102 - the instructor's code
    except Exception as exc:  # noqa: BLE001 - any failure of the test is a failed test
        msg = str(exc)
        name = type(exc).__name__
        return False, f"{name}: {msg}" if msg else name
    return True, ""
