"""The course's versions that a student's code asks for, computed in a separate, limited process.

While a part is judged, the student's function may call the course's versions of the earlier
parts (a check's ``uses``: ``assign`` and ``update`` while ``fit`` is judged). The sandboxed
worker sends the grader a ``callback`` frame with the arguments the student chose; the grader
must not compute it in its own process, where one request could hold it for minutes or take
gigabytes. :class:`CourseVersions` (one per :class:`emcourse_grader.judge.Worker`) hands each
request to a helper process of its own:

* started before the first callback (:meth:`CourseVersions.start`, while the student's cells
  run) or on it, as ``python -c ...`` with the grader's ``sys.path``
  (a course's own checks module imports there too), never forked from the grader (it may be a
  threaded Dask worker, and a daemonic one cannot have multiprocessing children);
* limited by ``RLIMIT_AS`` (``memory``, 1 GB by default), no core files, no file it could
  write (``RLIMIT_FSIZE`` 0), a handful of descriptors, an hour of CPU in all (a backstop:
  the grader kills it at each call's deadline), one BLAS thread, no course secret in its
  environment, its working directory ``/``;
* given the remaining time of the student's call: a request still running then is answered
  with :class:`OutOfTime` and the process killed; one that runs out of memory
  (``MemoryError``, or the process dying) is answered with :class:`CallbackError` and the
  process killed too. The next request starts a new one.

The arguments are measured before they are sent (:func:`measure`): at most ``max_numbers``
numbers in all and ``max_depth`` levels of nesting, else the request is refused at once with
the size found and the cap. Both directions are :mod:`.sandboxed.wire` frames (JSON with
numeric arrays): the helper decodes the student's arguments, calls the function, named by
module and qualified name, and sends back the encoded value; the grader forwards that value
to the worker without decoding it and never unpickles anything.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import select
import struct
import subprocess
import sys
import time

#: Address space of the helper process (bytes).
DEFAULT_MEMORY = 2**30
#: Numbers (array elements and scalars) the arguments of one request may hold in all.
DEFAULT_MAX_NUMBERS = 4_000_000
#: Levels of nesting (tuples, lists, dicts, records) the arguments may have.
DEFAULT_MAX_DEPTH = 8
#: CPU seconds one helper process may use in all: a backstop for a helper whose grader died
#: while it computed (the grader kills it at the call's deadline).
CPU_SECONDS = 3600
#: Seconds the helper process may take to start, at most (and never more than the call has).
STARTUP_TIMEOUT = 60.0
_MAX_TEXT = 500  # characters of an error text passed on

_BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
         "from emcourse_grader.callbacks import serve; "
         "serve(int(sys.argv[2]), json.loads(sys.argv[3]))")


class CallbackError(Exception):
    """The request was refused, or the course's version failed on these arguments."""


class OutOfTime(CallbackError):
    """The course's version was still running when the time it was given ran out."""


def reference(fn) -> tuple[str, str]:
    """``(module, qualified name)`` by which the helper finds ``fn``.

    Raises
    ------
    TypeError
        If ``fn`` is not a module-level function (or class) that its module and qualified
        name lead back to.
    """
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        try:
            if _resolve(module, qualname) is fn:
                return module, qualname
        except (ImportError, AttributeError):
            pass
    raise TypeError(f"fn must be a module-level function its module and name lead back to "
                    f"(the course's version runs in another process); found {fn!r}")


def _resolve(module: str, qualname: str):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def measure(tree, *, depth=0) -> tuple[int, int]:
    """``(numbers, depth)`` of an encoded value (:func:`.sandboxed.wire.encode`), without
    decoding it: array elements, scalars, and a string as one number per 8 characters. An
    array counts no fewer numbers than one per 8 bytes of its data, a dict's keys and an
    opaque value's type name as strings: a forged frame cannot declare a small shape (or
    hide its bulk in a name) to pass a large payload on to the helper.

    Raises
    ------
    TypeError
        If ``tree`` (or a part of it) is not a dict.
    ValueError
        If it is not an encoded value.
    """
    if not isinstance(tree, dict):
        raise TypeError(f"an encoded value must be a dict; found {type(tree).__name__}")
    kind = tree.get("t")
    if kind == "nd":
        shape = tree.get("shape")
        if not isinstance(shape, list) or len(shape) > 32 or \
                not all(type(s) is int and s >= 0 for s in shape):
            raise ValueError(f"an array's shape must be a list of sizes; found {shape!r:.80}")
        data = tree.get("b64")
        return max(math.prod(shape), len(data) * 3 // 32 if isinstance(data, str) else 0), \
            depth
    if kind == "str":
        return 1 + len(str(tree.get("v", ""))) // 8, depth
    if kind == "opaque":
        return 1 + len(str(tree.get("type", ""))) // 8, depth
    if kind in ("none", "bool", "int", "float"):
        return 1, depth
    if kind in ("tuple", "list", "ntuple", "params", "dict"):
        items = tree.get("items")
        names = tree.get("fields") if isinstance(tree.get("fields"), list) else []
        if isinstance(items, dict):
            names, items = list(items), list(items.values())
        if not isinstance(items, list):
            raise ValueError(f"a {kind} must hold a list of items")
        total, deepest = sum(len(str(k)) // 8 for k in names), depth + 1
        for item in items:
            n, d = measure(item, depth=depth + 1)
            total, deepest = total + n, max(deepest, d)
        return total, deepest
    raise ValueError(f"unknown kind of value {kind!r:.40}")


class CourseVersions:
    """A helper process that computes the course's versions for one worker.

    Parameters
    ----------
    memory : int
        Address-space limit of the helper (bytes), ``RLIMIT_AS``.
    max_numbers : int
        Numbers the arguments of one request may hold in all.
    max_depth : int
        Levels of nesting the arguments may have.
    startup_timeout : float
        Seconds the helper may take to start (within the time of the call).
    """

    def __init__(self, *, memory=DEFAULT_MEMORY, max_numbers=DEFAULT_MAX_NUMBERS,
                 max_depth=DEFAULT_MAX_DEPTH, startup_timeout=STARTUP_TIMEOUT):
        for name, value in (("memory", memory), ("max_numbers", max_numbers),
                            ("max_depth", max_depth)):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int; found {value!r}")
        self.memory = memory
        self.max_numbers = max_numbers
        self.max_depth = max_depth
        self.startup_timeout = float(startup_timeout)
        self.proc = None
        self.started = 0  # helper processes started so far

    # -- process ------------------------------------------------------------------------------
    def start(self, modules=()):
        """Start the helper now, before the first request (which would start it otherwise),
        importing the course's ``modules`` while the caller does other work: the student's
        cells run meanwhile, so the helper's start-up is not added to the notebook's time.

        Raises
        ------
        TypeError
            If ``modules`` is not a list or tuple of module names.
        """
        if not isinstance(modules, (list, tuple)) or \
                not all(isinstance(m, str) for m in modules):
            raise TypeError(f"modules must be a list of module names; found {modules!r:.80}")
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self._start(modules)

    def _start(self, modules=()):
        paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path
                 if isinstance(p, str)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMCOURSE_SECRET")}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(paths), str(self.memory),
             json.dumps(list(modules))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd="/", env=env, start_new_session=True)
        self.started += 1

    def kill(self):
        """End the helper process (the next request starts a new one)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.kill()
        except OSError:
            pass
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    close = kill

    # -- requests -----------------------------------------------------------------------------
    def call(self, fn, args, kwargs, timeout: float):
        """The encoded value of ``fn(*args, **kwargs)``, computed in the helper process.

        Parameters
        ----------
        fn : callable
            A module-level function of the course (see :func:`reference`).
        args : list
            Encoded arguments (:func:`.sandboxed.wire.encode`), as the worker sent them.
        kwargs : dict
            Encoded keyword arguments.
        timeout : float
            Seconds the request may take, the helper's start included.

        Returns
        -------
        dict, the encoded value.

        Raises
        ------
        CallbackError
            The arguments are too large or malformed, or the course's version failed on them
            (its message), or ran out of memory.
        OutOfTime
            It was still running after ``timeout`` seconds (the helper is killed).
        TypeError
            ``fn`` cannot be run in another process.
        """
        module, qualname = reference(fn)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise CallbackError("malformed request: the arguments must be a list and the "
                                "keyword arguments a dict")
        try:
            numbers, depth = measure({"t": "list", "items": list(args) + list(kwargs.values())})
        except (TypeError, ValueError) as exc:
            raise CallbackError(f"malformed arguments: {exc}") from None
        if numbers > self.max_numbers:
            raise CallbackError(f"the arguments hold {numbers:,} numbers; the course's "
                                f"version takes at most {self.max_numbers:,}")
        if depth - 1 > self.max_depth:
            raise CallbackError(f"the arguments are nested {depth - 1} levels deep; the "
                                f"course's version takes at most {self.max_depth}")
        deadline = time.monotonic() + max(float(timeout), 0.0)
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self._start()
            deadline_read = min(deadline, time.monotonic() + self.startup_timeout)
        else:
            deadline_read = deadline
        data = json.dumps({"module": module, "qualname": qualname, "args": args,
                           "kwargs": {str(k): v for k, v in kwargs.items()}}).encode()
        try:
            self._write(struct.pack(">I", len(data)) + data, deadline_read)
            reply = self._read(deadline_read)
        except TimeoutError:
            self.kill()
            raise OutOfTime(f"it was still running after {max(timeout, 0):.3g} s") from None
        except (EOFError, OSError, ValueError) as exc:
            try:  # it has closed its end: it is exiting, or has
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self.kill()
            if code is not None and code < 0:
                raise CallbackError(f"its process was killed (signal {-code}: more than "
                                    f"{self.memory / 2**20:,.0f} MB of memory?)") from None
            why = "its process ended" if isinstance(exc, EOFError) else str(exc)[:_MAX_TEXT]
            raise CallbackError(why) from None
        if reply.get("ok"):
            return reply.get("value")
        if reply.get("memory"):
            self.kill()
            raise CallbackError(f"it needed more than {self.memory / 2**20:,.0f} MB of memory "
                                f"on these arguments")
        raise CallbackError(str(reply.get("msg", "it failed"))[:_MAX_TEXT])

    def _write(self, data: bytes, deadline: float):
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [fd], [], left)
            if ready:
                try:
                    view = view[os.write(fd, view[:1 << 20]):]
                except BlockingIOError:
                    pass

    def _read(self, deadline: float) -> dict:
        from .sandboxed import wire

        try:
            return wire.recv(self.proc.stdout.fileno(), deadline)
        except wire.WireError as exc:
            raise ValueError(f"its answer is malformed: {exc}") from None


# --------------------------------------------------------------------------------------------
# The helper process
# --------------------------------------------------------------------------------------------

def _limit(memory: int):
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails instead of killing
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_NOFILE, 32),
                         (resource.RLIMIT_CPU, CPU_SECONDS)):
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def as_params(value):
    """Parameters from the worker as the course's class, which validates them: a wire
    record of a declared type, or a plain tuple or list its type recognises
    (:mod:`.sandboxed.param_types`; for mixtures ``(weights, means, covariances)`` of arrays
    shaped ``(K,)``, ``(K, D)``, ``(K, D, D)``, which the notebook accepts from a student's
    ``m_step``). What the class refuses is passed on as it is (the course's version then says
    what is wrong)."""
    from .sandboxed import param_types

    return param_types.rebuild(value, plain=True)


def serve(memory: int, modules=()) -> None:
    """The helper's loop: a request in, the value or a short error out, until stdin ends.
    ``modules``: the course's modules to import before the first request comes."""
    _limit(memory)
    for name in modules:
        try:
            importlib.import_module(str(name))
        except Exception:  # noqa: BLE001, S112 - the request that needs it will say why
            continue
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    import warnings

    import numpy as np

    from .sandboxed import wire

    warnings.simplefilter("ignore")
    while True:
        try:
            msg = wire.recv(rfd)
        except (EOFError, OSError, wire.WireError):
            os._exit(0)
        try:
            fn = _resolve(str(msg["module"]), str(msg["qualname"]))
            args = [as_params(wire.decode(a)) for a in msg["args"]]
            kwargs = {str(k): as_params(wire.decode(v)) for k, v in msg["kwargs"].items()}
            with np.errstate(all="ignore"):
                value = fn(*args, **kwargs)
            reply = {"ok": True, "value": wire.encode(value)}
            del value, args, kwargs
        except MemoryError:
            reply = {"ok": False, "memory": True}
        except Exception as exc:  # noqa: BLE001 - the student's arguments were wrong
            reply = {"ok": False, "msg": str(exc)[:_MAX_TEXT] or type(exc).__name__}
        try:
            wire.send(wfd, reply)
        except MemoryError:
            os._exit(3)
