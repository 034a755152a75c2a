"""The verdict, computed in the grader: a sandboxed worker per notebook, test cells run here.

:class:`Worker` starts ``python -m emcourse_grader.sandboxed.worker`` in the sandbox
(:mod:`emcourse_grader.sandbox`), sends it the student's cells in notebook order and, when a
cell hangs or kills it, starts a new one that replays the cells that worked. Every request has
its own time limit (``call_timeout``), counted from when it is sent to its answer, callbacks
in between included, and all of them share the notebook's budget (``budget``): when it runs
out, what is left fails with that reason.

:func:`run_test_cell` executes the instructor's test code (visible and hidden tests, taken
from the gradebook before any student code ran) in the grader's own process. Each name the
test uses is looked up in the worker: a function becomes a :class:`Remote` (calling it sends
plain data to the worker and decodes plain data back), a module is imported here (the real
numpy, the real checks), a value comes back as plain data. ``substitutes`` maps names of the
student's earlier parts to the course's versions: while the test calls the student's function,
those names in the worker ask the grader for the course's version (a part is judged on its own
function), which a helper process limited in memory computes
(:class:`.callbacks.CourseVersions`) within the time left of that call, never the grader. The
test's own calls of those names get the course's version from the same helper
(:class:`CourseVersion`): a visible test that evaluates an earlier part judges nothing but its
own.
Whatever the student's code did inside the worker, the asserts and checks run here, on data.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
import time

import numpy as np

from . import allowlist, callbacks, sandbox
from .sandboxed import param_types, wire
from .sandboxed.likeness import as_student_values


class WorkerGone(Exception):
    """The worker did not answer in time, died, or the notebook's budget ran out."""


def _exception_class(ename: str):
    builtin = getattr(builtins, ename, None)
    if ename in ("NotImplementedError", "RecursionError", "MemoryError", "ValueError",
                 "TypeError", "IndexError", "KeyError", "ZeroDivisionError",
                 "AttributeError", "NameError", "RuntimeError", "LinAlgError") \
            and isinstance(builtin, type):
        return builtin
    name = ename if ename.isidentifier() else "StudentError"
    return type(name, (Exception,), {"__module__": "student"})


class Worker:
    """One sandboxed worker for one notebook, restarted (and replayed) when it fails."""

    def __init__(self, *, call_timeout=30.0, budget=600.0, startup_timeout=60.0,
                 max_restarts=4, limits=sandbox.DEFAULT_LIMITS, sandboxed=True, on_flag=None,
                 callback_memory=callbacks.DEFAULT_MEMORY,
                 callback_max_numbers=callbacks.DEFAULT_MAX_NUMBERS, cell_timeout=20.0,
                 max_output_bytes=200_000, max_outputs=200):
        self.call_timeout = call_timeout
        self.cell_timeout = cell_timeout
        self.max_output_bytes = max_output_bytes
        self.max_outputs = max_outputs
        self.deadline = time.monotonic() + budget
        self.budget = budget
        self.startup_timeout = startup_timeout
        self.max_restarts = max_restarts
        self.limits = limits
        self.sandboxed = sandboxed
        self.on_flag = on_flag or (lambda reason, detail: None)
        self.box = None
        self.scratch = None
        self.cells = []      # (index, source) that ran without killing the worker, in time
        self.failure = ""    # why the last cell did not answer
        self.restarts = 0
        self.causes = []     # what was running at each restart ("cell 4", "fit, called...")
        self._doing = ""     # what runs now, for the causes
        self.substitutes = {}
        self.callback_memory = callback_memory
        self.callback_max_numbers = callback_max_numbers
        self.course = None   # callbacks.CourseVersions, started on the first callback

    # -- process ------------------------------------------------------------------------------
    def _spawn(self):
        if self.restarts > self.max_restarts:
            raise WorkerGone(self._too_often())
        import subprocess
        self.scratch = sandbox.make_scratch(self.limits)
        self.box = sandbox.Sandboxed(
            [sys.executable, "-m", "emcourse_grader.sandboxed.worker"], scratch=self.scratch,
            limits=self.limits, sandboxed=self.sandboxed, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_seed_font_cache(self.scratch, sandbox.HOME if self.sandboxed else None))
        self.wfd, self.rfd = self.box.proc.stdin.fileno(), self.box.proc.stdout.fileno()
        self._recv(self.startup_timeout)  # "ready"
        doing = self._doing
        for index, source in list(self.cells):  # replayed: their outputs are had already
            self._doing = f"cell {index} (run again)"
            try:
                self._request(self._exec_msg(index, source, capture=False),
                              self._cell_limit())
            except WorkerGone:
                self.cells = [(i, s) for i, s in self.cells if i != index]
                self._restart()
                self._doing = doing
                return self._spawn()
        self._doing = doing

    def _restart(self):
        """End the process after a failure; the next request starts a new one (counted)."""
        self._kill()
        self.restarts += 1
        self.causes.append(self._doing or "a request of the grader's")

    def _too_often(self) -> str:
        """Why no more of the notebook runs once its restarts are used up: what ended the
        process each time (the cells to fix), so that a part judged as 0 for it says where
        the cause is."""
        causes = list(dict.fromkeys(self.causes))
        named = ", ".join(causes[:8]) + (", ..." if len(causes) > 8 else "")
        return (f"the worker was restarted too often: {self.restarts} times, the most for one "
                f"notebook is {self.max_restarts}; {named} stopped its process or ran on "
                f"through an interrupt, and no more of this notebook's code is run (fix "
                f"those, and this part is judged as usual)")

    def _kill(self):
        if self.box is None:
            return
        self.box.close()
        for f in (self.box.proc.stdin, self.box.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        sandbox.remove_scratch(self.scratch)
        self.box = None

    def prepare_callbacks(self, functions):
        """Start the helper that computes the course's versions (:mod:`.callbacks`) now,
        importing the modules of ``functions``, so that it is ready when a test's call
        first asks for one (started on that request otherwise)."""
        modules = sorted({getattr(fn, "__module__", None) for fn in functions} - {None})
        if not modules:
            return
        if self.course is None:
            self.course = callbacks.CourseVersions(memory=self.callback_memory,
                                                   max_numbers=self.callback_max_numbers)
        self.course.start([str(m) for m in modules])

    def close(self):
        self._kill()
        if self.course is not None:
            self.course.close()

    def _ensure(self):
        if self.box is None or self.box.poll() is not None:
            if self.box is not None:
                self._restart()
            self._spawn()

    # -- messages -----------------------------------------------------------------------------
    def _recv(self, timeout, *, until=None):
        """The next message within ``timeout`` seconds (or by the monotonic time ``until``,
        the end of the call it belongs to) and the notebook's budget."""
        now = time.monotonic()
        budget_left = self.deadline - now
        call_left = timeout if until is None else until - now
        limit = min(call_left, budget_left)
        deadline = now + max(limit, 0)
        try:
            if limit <= 0:
                raise TimeoutError
            msg = wire.recv(self.rfd, deadline)
        except TimeoutError:
            self._restart()
            if budget_left <= call_left:
                raise WorkerGone(f"the grading time of this notebook ({self.budget:g} s) "
                                 f"ran out") from None
            raise WorkerGone(f"no answer within {timeout:g} s (an endless loop?)") from None
        except (EOFError, OSError, ValueError, wire.WireError) as exc:
            code = self.box.poll() if self.box else None
            self._restart()
            why = "the process exited" if isinstance(exc, EOFError) else str(exc)
            if code is not None and code < 0:
                why += f" (signal {-code}: memory or CPU limit?)"
            raise WorkerGone(why) from None
        return msg

    def _send(self, msg, timeout, until):
        """Send ``msg`` by the end of its call (``until``) and the notebook's budget: a worker
        that stops reading its requests (its pipe full, e.g. after it flooded the grader
        with callbacks whose answers it never read) is ended like one that stops answering."""
        try:
            wire.send(self.wfd, msg, min(until, self.deadline))
        except TimeoutError:
            raise self._ended(until, f"the grading time of this notebook ({self.budget:g} s) "
                              f"ran out", f"no answer within {timeout:g} s (the process "
                              f"stopped reading what the grader sent)") from None
        except OSError:
            self._restart()
            raise WorkerGone("the process exited") from None

    def _ended(self, until, ran_out: str, otherwise: str) -> WorkerGone:
        """The process is ended (:meth:`_restart`); the error to raise says ``ran_out``
        when the notebook's budget ended first, else ``otherwise``."""
        self._restart()
        return WorkerGone(ran_out if self.deadline <= until else otherwise)

    def _request(self, msg, timeout=None):
        """Send ``msg`` and return the answer; the call has ``timeout`` (default
        ``call_timeout``) seconds from now, every callback it makes included (a stream of them
        cannot extend it)."""
        timeout = self.call_timeout if timeout is None else timeout
        until = time.monotonic() + timeout
        self._send(msg, timeout, until)
        while True:
            answer = self._recv(timeout, until=until)
            if answer.get("op") != "callback":
                return answer
            self._send(self._callback(answer, until), timeout, until)

    def _callback(self, msg, until):
        """The student's function called an earlier part: the course's version, computed by
        the helper process in the time left of the call (:mod:`.callbacks`)."""
        name = str(msg.get("name"))[:100]
        fn = self.substitutes.get(name)
        if fn is None:
            return {"op": "callback_error", "msg": f"{name} is not available"}
        if self.course is None:
            self.course = callbacks.CourseVersions(memory=self.callback_memory,
                                                   max_numbers=self.callback_max_numbers)
        end = min(until, self.deadline)
        try:
            value = self.course.call(fn, msg.get("args", []), msg.get("kwargs", {}),
                                     timeout=end - time.monotonic())
        except callbacks.OutOfTime:
            raise self._ended(until, f"the grading time of this notebook ({self.budget:g} s) "
                              f"ran out while the course's {name} ran for your code",
                              f"no answer within {self.call_timeout:g} s: the course's "
                              f"{name}, which your code called, was still running then"
                              ) from None
        except (callbacks.CallbackError, TypeError) as exc:  # TypeError: fn is not by name
            return {"op": "callback_error",
                    "msg": f"your code called {name} (the course's version is used here) "
                           f"and it failed: {exc}"}
        return {"op": "callback_result", "value": value}

    def request(self, msg, timeout=None):
        self._ensure()
        return self._request(msg, timeout)

    def _cell_limit(self) -> float:
        """How long the grader waits for a cell: its time, then as long again after the
        worker's own interrupt (a cell that catches it is ended by the grader)."""
        return 2 * self.cell_timeout + 1.0

    def _exec_msg(self, index, source, *, capture=True) -> dict:
        return {"op": "exec", "source": source, "cell": index, "capture": capture,
                "timeout": self.cell_timeout, "max_output_bytes": self.max_output_bytes,
                "max_outputs": self.max_outputs}

    def out_of_time(self) -> bool:
        """Has the notebook's budget run out?"""
        return time.monotonic() >= self.deadline

    def course_call(self, name, fn, args, kwargs):
        """The course's ``fn`` on the test's arguments, for a test cell that calls an earlier
        part by ``name``: computed by the same limited helper process as the callbacks, within
        one call's time; returned as a test receives a student's value."""
        if self.course is None:
            self.course = callbacks.CourseVersions(memory=self.callback_memory,
                                                   max_numbers=self.callback_max_numbers)
        timeout = min(self.call_timeout, self.deadline - time.monotonic())
        try:
            value = self.course.call(fn, [encode_arg(a) for a in args],
                                     {k: encode_arg(v) for k, v in kwargs.items()},
                                     timeout=timeout)
        except callbacks.OutOfTime:
            raise TimeoutError(f"the course's {name} (used by this test in place of yours) "
                               f"did not finish within {timeout:.3g} s") from None
        except (callbacks.CallbackError, TypeError, wire.WireError) as exc:
            raise RuntimeError(f"this test calls the course's {name} (in place of yours) on "
                               f"what your code returned, and it failed: {exc}") from None
        return lists_as_arrays(as_student_values(
            wire.decode(value),
            param_types.rebuild))

    # -- operations ---------------------------------------------------------------------------
    def exec_cell(self, index, source):
        """Run a student cell; returns the answer (``ok``, ``outputs`` as the worker sent
        them, untrusted; ``interrupted``), or None if the worker failed (why: ``failure``).

        A cell is interrupted after ``cell_timeout`` s; one that goes on through the
        interrupt, or that ends its process, is ended here (the worker is restarted and the
        earlier cells replayed for the next one) and reported."""
        self.failure = ""
        if self.out_of_time():
            self.failure = f"not run: the grading time of this notebook ({self.budget:g} s) " \
                           f"ran out before it"
            self.on_flag("the notebook did not finish executing in time",
                         f"{self.budget:g} s for the whole notebook")
            return None
        if self.restarts > self.max_restarts and self.box is None:  # not this cell's doing
            self.failure = f"not run: {self._too_often()}"
            return None
        self._doing = f"cell {index}"
        try:
            answer = self.request(self._exec_msg(index, source), self._cell_limit())
        except WorkerGone as exc:
            self.failure = str(exc)
            if self.out_of_time():
                self.on_flag("the notebook did not finish executing in time",
                             f"{self.budget:g} s for the whole notebook")
            else:  # the two rows a kernel's run and a re-run each gave before
                self.on_flag("hangs through an interrupt or stops the kernel", str(exc))
                self.on_flag("the code stops or kills the process that runs it", str(exc))
            return None
        if answer.get("op") not in ("done", "error"):
            answer = {"op": "done", "ok": False, "ename": "WireError",
                      "msg": "the worker answered out of turn"}
        if answer.get("interrupted"):
            self.on_flag("runs past its time and is interrupted",
                         f"{self.cell_timeout:g} s per cell")
        else:  # an interrupted cell is not run again when the worker is restarted
            self.cells.append((index, source))
        if not answer.get("ok") and answer.get("base") and not answer.get("interrupted"):
            self.on_flag("raises an exception derived from BaseException",
                         str(answer.get("ename")))
        return answer

    def lookup(self, names):
        self._doing = "a test's look-up of your names"
        answer = self.request({"op": "lookup", "names": sorted(names)})
        return answer.get("names") or {}

    def call(self, name, args, kwargs):
        self._doing = f"{str(name)[:100]}, called by a test"
        answer = self.request({"op": "call", "name": name, "args": [encode_arg(a) for a in args],
                               "kwargs": {k: encode_arg(v) for k, v in kwargs.items()},
                               "substitute": sorted(self.substitutes)})
        if answer.get("op") == "result":
            return lists_as_arrays(wire.decode(answer.get("value")))
        ename = str(answer.get("ename", "Exception"))[:80]
        message = str(answer.get("msg", ""))[:2000]
        if answer.get("base"):
            self.on_flag("raises an exception derived from BaseException", ename)
        raise _exception_class(ename)(message)


def _font_cache():
    """The grader's own matplotlib font list (``fontlist-*.json``), or None: found where
    matplotlib keeps it, without importing matplotlib here."""
    import glob
    import os

    dirs = [os.environ.get("MPLCONFIGDIR", ""),
            os.path.join(os.environ.get("XDG_CACHE_HOME") or
                         os.path.expanduser("~/.cache"), "matplotlib"),
            os.path.expanduser("~/.matplotlib")]
    for d in filter(None, dirs):
        found = sorted(glob.glob(os.path.join(d, "fontlist-v*.json")))
        if found and os.path.isfile(found[-1]) and not os.path.islink(found[-1]):
            return found[-1]
    return None


def _seed_font_cache(scratch, home) -> dict:
    """Give a fresh sandbox the grader's matplotlib font list (a list of the machine's font
    files, nothing secret), so that the first plot of every notebook does not spend seconds
    rebuilding it; the environment that points matplotlib there. ``home``: the scratch's
    path inside the sandbox (None: unsandboxed, the scratch itself)."""
    import os
    import shutil

    font_list = _font_cache()
    if font_list is None or os.path.getsize(font_list) > 2**22:
        return {}
    target = os.path.join(scratch, ".matplotlib")
    try:
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(font_list, os.path.join(target, os.path.basename(font_list)))
    except OSError:
        return {}
    return {"MPLCONFIGDIR": os.path.join(home or str(scratch), ".matplotlib")}


def lists_as_arrays(value):
    """A student's nested lists of numbers as numpy arrays (inside tuples, namedtuples and
    dicts too): returning ``r.tolist()`` instead of ``r`` is a matter of taste, and the tests
    may use array methods on what they get. Ragged or non-numeric lists stay lists."""
    if isinstance(value, list):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            arr = None
        if arr is not None and arr.dtype.kind in "biuf" and arr.size:
            return arr
        return [lists_as_arrays(v) for v in value]
    if isinstance(value, tuple):
        items = [lists_as_arrays(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: lists_as_arrays(v) for k, v in value.items()}
    return value


def encode_arg(value):
    """Arguments the grader sends (its own data, its own parameter classes)."""
    if isinstance(value, Remote):
        raise TypeError("a function cannot be passed to the student's code")
    return wire.encode(value)


class CourseVersion:
    """An earlier part, called by a test cell: the course's version, not the student's
    (:meth:`Worker.course_call`), so that a bug there costs that part only."""

    def __init__(self, worker: Worker, name: str, fn):
        self._worker = worker
        self._fn = fn
        self.__name__ = self.__qualname__ = name
        self.__module__ = "__main__"

    def __call__(self, *args, **kwargs):
        return self._worker.course_call(self.__name__, self._fn, args, kwargs)

    def __repr__(self):
        return f"<function {self.__name__} (the course's)>"


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


def run_test_cell(worker: Worker, source: str, substitutes=None):
    """Run the instructor's test code with the student's names; return (passed, message).

    ``substitutes``: name -> the course's version, used wherever the student's functions call
    that name during this cell, and wherever the test itself calls it (:class:`CourseVersion`),
    but for the functions the cell's own checks grade. When the test fails on a visible
    assert, the first failing hidden check's message leads (:func:`_hidden_hint`)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return False, f"the test cell does not compile: {exc}"
    try:
        described = worker.lookup(_names(tree) - {"__builtins__"})
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
                ns[name] = (importlib.import_module(mod) if mod in allowlist.TEST_MODULES
                            else wire.NotPlainData(f"module {mod}"))
            elif kind == "class":
                qual = str(d.get("name"))
                if qual in {f"{mod}.{cls}" for cls, mod in allowlist.parameter_classes().items()}:
                    mod, _, cls = qual.rpartition(".")
                    ns[name] = getattr(importlib.import_module(mod), cls)
                else:
                    ns[name] = wire.NotPlainData(f"class {qual}")
            else:
                ns[name] = wire.decode(d)
        except (wire.WireError, ValueError, TypeError, KeyError) as exc:
            ns[name] = wire.NotPlainData(f"undecodable value ({exc})")
    graded = _graded_functions(source)
    worker.substitutes = {k: v for k, v in (substitutes or {}).items() if k not in graded}
    for name, fn in worker.substitutes.items():  # the test's own calls of earlier parts
        ns[name] = CourseVersion(worker, name, fn)
    try:
        with np.errstate(all="ignore"):
            exec(compile(tree, "<test>", "exec"), ns)  # noqa: S102 - the instructor's code
    except Exception as exc:  # noqa: BLE001 - any failure of the test is a failed test
        message = _message(exc)
        hint = _hidden_hint(source, ns, exc)
        if hint and hint not in message:
            message = f"{hint}\n(The visible test said: {message})"
        return False, message
    finally:
        worker.substitutes = {}
    return True, ""


def _graded_functions(source: str) -> set:
    """The names of the student's functions that the checks in a test cell grade."""
    from .checks import CHECKS, checks_in

    return {CHECKS[c].function for c in checks_in(source) if c in CHECKS}


def _hidden_hint(source: str, ns: dict, exc: Exception) -> str:
    """When a visible assert fails first, the message of the first hidden check of the cell
    that fails too: it names what to look at, where the visible assert shows only numbers.
    Nothing for a function that did not return (it would only time out again) or is not
    written yet (NotImplementedError says all there is)."""
    from .checks import CHECKS, GradingError, checks_in, verify

    if isinstance(exc, (GradingError, TimeoutError, NotImplementedError)):
        return ""
    for check in checks_in(source):
        spec = CHECKS.get(check)
        fn = ns.get(spec.function) if spec is not None else None
        if not isinstance(fn, Remote):
            continue
        try:
            verdict = verify(check, fn)
        except Exception:  # noqa: BLE001 - the grader's own problem (a secret): no hint
            return ""
        if not verdict.passed:
            return verdict.message
    return ""


def _message(exc) -> str:
    """The student-facing text of a failed test: the message, prefixed by the exception's
    name only where the message alone would not say what happened."""
    text = str(exc).strip()
    name = type(exc).__name__
    if not text:
        return name
    if name in ("AssertionError", "GradingError") or text.startswith(name):
        return text
    return f"{name}: {text}"
