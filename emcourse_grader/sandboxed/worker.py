"""The grading worker: the student's cells in an IPython shell, inside the sandbox.

Started by :class:`emcourse_grader.judge.Worker` as ``python -m
emcourse_grader.sandboxed.worker``; requests arrive on stdin and answers leave on stdout
(:mod:`.wire` framing), after which the student's own stdin, stdout and stderr are /dev/null.
This one run of the student's code gives both what the feedback shows and what the tests
call. Requests:

* ``exec``: run a cell in the shell (magics, ``display``, ``%%time``, ``%matplotlib inline``
  work as in a kernel) and answer with its outputs (:class:`Capture`): the streams, display
  data (figures included), the value of the last expression and the error with a plain
  traceback, at most ``max_output_bytes`` and ``max_outputs`` per cell. After ``timeout``
  seconds the cell is interrupted (``KeyboardInterrupt``, as a kernel's interrupt); one that
  goes on after that is the grader's to end.
* ``lookup``: describe names of the namespace (function, module, class, or a plain value);
* ``call``: call a function on plain-data arguments and send the result back as plain data.
  With ``substitute`` (names of the student's earlier parts), those names are, for the length
  of the call, stand-ins that ask the grader to compute the course's version (``callback``):
  a part is judged on its own function, not on the parts it builds on. The course's values
  take the form of what the student's own version returned when last called (a list for a
  list: :mod:`.likeness`); a call that raises with them so shaped is made once more, on
  fresh arguments, with the values as the course returns them. A module the notebook wrote
  and imported that holds the same earlier parts gets the stand-ins too
  (:func:`_modules_sharing`). What a call prints is dropped: it could carry the check's
  inputs into the feedback.

Nothing here is trusted: the verdict is computed by the grader from the plain data it gets,
and the grader bounds and sanitises the outputs again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
from time import monotonic as _monotonic  # bound at import: a cell may mock time.monotonic

from . import param_types, wire
from .likeness import as_student_values, conform, likeness

CUT = "\n[output cut by the grader: this cell printed more than {:,} bytes]\n"
MAX_TRACEBACK = 20_000  # characters of one traceback


class Capture:
    """The outputs of the cell running now, in nbformat's shape, within a byte budget.

    Between cells (and during a test's calls) it is closed: what is written is dropped.
    """

    def __init__(self):
        self.outputs = None  # None: not capturing
        self.used = 0
        self.max_bytes = 0
        self.max_outputs = 0
        self.cut = False

    def open(self, max_bytes: int, max_outputs: int):
        self.outputs, self.used, self.cut = [], 0, False
        self.max_bytes, self.max_outputs = max_bytes, max_outputs

    def close(self) -> list:
        outputs, self.outputs = self.outputs or [], None
        return outputs

    def _cut(self):
        """Stop this cell's output here, with a note (once)."""
        if not self.cut:
            self.cut = True
            self.outputs.append({"output_type": "stream", "name": "stdout",
                                 "text": CUT.format(self.max_bytes)})

    def stream(self, name: str, text: str):
        if self.outputs is None or self.cut or not text:
            return
        part = text[:max(self.max_bytes - self.used, 0)]
        last = self.outputs[-1] if self.outputs else None
        if part and last is not None and last["output_type"] == "stream" and \
                last["name"] == name:
            last["text"] += part
        elif part and len(self.outputs) < self.max_outputs:
            self.outputs.append({"output_type": "stream", "name": name, "text": part})
        else:
            part = ""
        self.used += len(part)
        if len(part) < len(text):
            self._cut()

    def display(self, kind: str, data, metadata=None):
        if self.outputs is None or self.cut or not isinstance(data, dict):
            return
        bundle, size = {}, 0
        for mime, value in data.items():  # what JSON cannot carry is left out
            if isinstance(mime, str):
                text = _json(value)
                if text is not None:
                    bundle[mime] = value
                    size += len(value) if isinstance(value, str) else len(text)
        if not bundle:
            return
        if self.used + size > self.max_bytes or len(self.outputs) >= self.max_outputs:
            self._cut()
            return
        self.used += size
        meta = metadata if isinstance(metadata, dict) and _json(metadata) is not None else {}
        out = {"output_type": kind, "data": bundle, "metadata": meta}
        if kind == "execute_result":
            out["execution_count"] = None
        self.outputs.append(out)

    def clear(self):
        if self.outputs is not None:
            del self.outputs[:]

    def error(self, ename: str, evalue: str, traceback: list):
        if self.outputs is None:
            return
        lines, total = [], 0
        for line in traceback[:40]:
            line = str(line)[:2000]
            total += len(line)
            if total > MAX_TRACEBACK:
                lines.append("... (cut)")
                break
            lines.append(line)
        self.outputs.append({"output_type": "error", "ename": str(ename)[:200],
                             "evalue": str(evalue)[:5000], "traceback": lines})


CAPTURE = Capture()


def _json(value):
    """``value`` as JSON text, or None if it is not plain JSON."""
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None


class _Stream:
    """sys.stdout and sys.stderr: into the running cell's outputs, else nowhere."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name):
        self.name = name

    def write(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        CAPTURE.stream(self.name, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def fileno(self):
        raise OSError("no file descriptor")


class _Retried(Exception):
    """Carries the value of a call that succeeded on its second attempt."""

    def __init__(self, value):
        super().__init__("retried")
        self.value = value


def _no_input(prompt=""):
    from IPython.core.error import StdinNotImplementedError

    raise StdinNotImplementedError("input was called, but grading has no one to type the "
                                   "answer: a cell may not ask for input")


def _shell():
    """A plain IPython shell (no kernel) whose display and errors land in :data:`CAPTURE`.

    A terminal-less shell has no GUI event loop: ``%matplotlib inline`` (or ``qt``) asks for
    one through ``enable_gui``, which here does nothing; figures reach the outputs through
    matplotlib-inline (the default backend here, as in a Jupyter kernel)."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            if not update:  # an update of an earlier display is not a new output
                CAPTURE.display("display_data", data, metadata)

        def clear_output(self, wait=False):
            CAPTURE.clear()

    class Hook(DisplayHook):
        def start_displayhook(self):
            pass

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            CAPTURE.display("execute_result", format_dict, md_dict)

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        display_pub_class = Type(Publisher)
        displayhook_class = Type(Hook)

        def enable_gui(self, gui=None):
            return None

        def _showtraceback(self, etype, evalue, stb):
            CAPTURE.error(getattr(etype, "__name__", "Error"), evalue, list(stb or []))

    shell = Shell.instance(colors="NoColor", xmode="Plain")
    shell.history_manager.enabled = False
    return shell


class _Interrupt:
    """A cell's time limit: SIGINT after ``timeout`` s, raising KeyboardInterrupt in the cell
    (a cell may catch it; the grader then ends the process).

    One thread, started before any student code, keeps the time for every cell: a thread
    started per cell needs a new stack at the cell's start, which fails when the notebook
    holds its memory at the limit or has set ``threading.stack_size`` beyond it, and the
    cell (the student's next part) would fail for the worker's sake."""

    def __init__(self):
        self.armed = False
        self.fired = False
        self._deadline = None  # monotonic time of the SIGINT, None between cells
        self._clock = threading.Condition()
        signal.signal(signal.SIGINT, self._handler)
        threading.Thread(target=self._keep_time, name="cell-timer", daemon=True).start()

    def _handler(self, signum, frame):
        if self.armed:
            self.fired = True
            raise KeyboardInterrupt

    def _keep_time(self):
        with self._clock:
            while True:
                if self._deadline is None:
                    self._clock.wait()
                    continue
                left = self._deadline - _monotonic()
                if left > 0:
                    self._clock.wait(left)
                    continue
                self._deadline = None
                os.kill(os.getpid(), signal.SIGINT)

    def start(self, timeout):
        self.armed, self.fired = True, False
        if timeout and timeout > 0:
            with self._clock:
                self._deadline = _monotonic() + timeout
                self._clock.notify()

    def stop(self):
        self.armed = False  # a SIGINT sent just before is ignored by the handler
        with self._clock:
            self._deadline = None
            self._clock.notify()


class _Channel:
    """The worker's end of the channel to the grader: the answers, and the callbacks' requests
    and replies, each request and its reply exchanged whole before anything else is sent.

    A call's threads may each ask for a course version at once (several starts of k-means in
    a thread pool), and so may the children the student's code forked (a ``multiprocessing``
    pool of starts): unlocked, their frames mixed and one took another's reply, the two ends
    out of step for the rest of the notebook (tests/test_restart_boundary.py: ``threads``,
    ``forked_pool``). The worker's threads take turns by a lock, its forked children by a
    record lock, which the kernel releases when its holder dies.

    A signal handler of the student's runs in the main thread, between any two steps of an
    exchange there, and may raise (a watchdog's ``SIGALRM``): half a frame sent or read, the
    ends out of step (``watchdog``). While one is set, the main thread's exchanges are made by
    a thread of the worker's own (started then: its memory arena costs the sandbox address
    space), the handler's exception ends only the wait for the reply."""

    def __init__(self, rfd: int, wfd: int, own_handlers=()):
        self.rfd, self.wfd = rfd, wfd
        self.pid = os.getpid()
        self.lock = threading.Lock()  # the worker's threads; `shared`: its forked children
        self.shared = os.memfd_create("emcourse-channel", os.MFD_CLOEXEC)
        self.own_handlers = list(own_handlers) + [signal.default_int_handler]
        self.requests = None  # to the exchanging thread, once started

    @contextlib.contextmanager
    def _turn(self):
        """The channel to this thread alone, among the worker's threads (in the worker) and
        the processes forked from it."""
        import fcntl

        inside = os.getpid() == self.pid
        if inside:
            self.lock.acquire()
        try:
            fcntl.lockf(self.shared, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(self.shared, fcntl.LOCK_UN)
        finally:
            if inside:
                self.lock.release()

    def ask(self, request: dict) -> dict:
        """Send a callback's ``request`` and return the grader's reply. Too large a request
        fails here, in the caller: sent as an error frame, it would answer the call that is
        running, and the recv take the grader's next request for the callback's reply."""
        if threading.current_thread() is threading.main_thread() and \
                os.getpid() == self.pid and self._handlers_set() and self._exchanger():
            return self._ask_through_thread(request)
        return self._exchange(request)

    def _exchange(self, request: dict) -> dict:
        with self._turn():
            wire.send(self.wfd, request, replace_oversized=False)
            return wire.recv(self.rfd)

    def _handlers_set(self) -> bool:
        """Has the student's code set a signal handler of its own (a Python function)?"""
        for signum in signal.valid_signals():
            try:
                handler = signal.getsignal(signum)
            except (ValueError, OSError):
                continue
            if callable(handler) and handler not in self.own_handlers:
                return True
        return False

    def _exchanger(self) -> bool:
        """The exchanging thread, started on first need; False if it cannot start (the
        notebook's memory or thread stack size): the main thread exchanges itself then."""
        if self.requests is None:
            import queue

            requests = queue.SimpleQueue()
            try:
                threading.Thread(target=self._serve, args=(requests,), name="callbacks",
                                 daemon=True).start()
            except RuntimeError:
                return False
            self.requests = requests
        return True

    def _serve(self, requests):
        while True:
            request, slot = requests.get()
            try:
                slot["reply"] = self._exchange(request)
            except BaseException as exc:  # noqa: BLE001 - the caller's to raise
                slot["error"] = exc
            slot["done"].set()
            del request, slot  # not held while the next is made (they may be large)

    def _ask_through_thread(self, request: dict) -> dict:
        slot = {"done": threading.Event()}
        self.requests.put((request, slot))
        del request
        slot["done"].wait()
        error = slot.pop("error", None)
        if error is None:
            return slot.pop("reply")
        try:
            raise error
        finally:  # no cycle through this frame: what the error holds is freed with it
            del error, slot

    def answer(self, msg: dict):
        """Send the answer to the grader's request (never inside a callback's exchange)."""
        with self._turn():
            wire.send(self.wfd, msg)


def _modules_sharing(ns: dict, names) -> list:
    """``(module namespace, name, the student's function)`` for every imported module whose
    global ``name`` is the very function the notebook's ``name`` is: a module the notebook
    wrote and imported (``%%writefile``, then ``from answers import *``) looks its earlier
    parts up there, so they are stood in for there too, for the length of a call."""
    found = []
    for name in names:
        own = ns.get(name)
        if own is None:
            continue
        for module in list(sys.modules.values()):
            try:
                space = vars(module)
            except TypeError:
                continue
            if space is not ns and isinstance(space, dict) and space.get(name) is own:
                found.append((space, name, own))
    return found


def _bounded(value, default, top):
    return value if isinstance(value, int) and 0 <= value <= top else default


def main() -> None:
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
    sys.stdin = open(os.devnull)  # noqa: SIM115 - for the process's life
    # Figures reach the outputs as a kernel's do (matplotlib-inline flushes them after each
    # cell); set before the student's code can import matplotlib.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

    import builtins

    import numpy as np

    builtins.input = _no_input
    shell = _shell()
    ns = shell.user_ns
    interrupt = _Interrupt()
    channel = _Channel(rfd, wfd, own_handlers=[interrupt._handler])
    answer = channel.answer

    returned = {}  # name -> what the student's own version returned when last called
    # While a call runs: give the course's values the form of the student's own ("conform"),
    # and whether that changed any ("changed"); see the "call" op.
    forms = {"conform": True, "changed": False}

    def callback(name):
        def course_version(*args, **kwargs):
            reply = channel.ask({"op": "callback", "name": name,
                                 "args": [wire.encode(a) for a in args],
                                 "kwargs": {k: wire.encode(v) for k, v in kwargs.items()}})
            if reply.get("op") == "callback_result":
                value = as_student_values(wire.decode(reply.get("value")), as_params)
                if not forms["conform"]:
                    return value
                shaped = conform(value, returned.get(name))
                forms["changed"] |= shaped is not value
                return shaped
            raise RuntimeError(str(reply.get("msg", "the course's version failed"))[:2000])
        course_version.__name__ = name
        return course_version

    def as_params(value):
        """The grader's parameters arrive as wire records: hand them over as the course's
        classes (:mod:`.param_types`; the student-facing emref has their modules)."""
        try:
            return param_types.rebuild(value)
        except Exception:  # noqa: BLE001 - invalid on purpose: pass the raw arrays
            return value

    def failure(exc, op):
        return {"op": op, "ename": type(exc).__name__, "msg": str(exc)[:2000],
                "base": not isinstance(exc, Exception)}

    def run_cell(msg):
        capture = bool(msg.get("capture", True))
        if capture:
            CAPTURE.open(_bounded(msg.get("max_output_bytes"), 200_000, 2**26),
                         _bounded(msg.get("max_outputs"), 200, 10_000))
        timeout = msg.get("timeout")
        interrupt.start(float(timeout) if isinstance(timeout, (int, float)) else None)
        try:
            result = shell.run_cell(str(msg.get("source", "")), store_history=False,
                                    silent=False)
        finally:
            interrupt.stop()
        outputs = CAPTURE.close()
        exc = result.error_before_exec or result.error_in_exec
        reply = {"op": "done", "ok": exc is None, "outputs": outputs,
                 "interrupted": interrupt.fired}
        if exc is not None:
            reply.update(failure(exc, "done"), ok=False)
        return reply

    answer({"op": "ready"})
    while True:
        try:
            msg = wire.recv(rfd)
        except (EOFError, wire.WireError):
            os._exit(0)
        op = msg.get("op")
        try:
            if op == "exec":
                answer(run_cell(msg))
            elif op == "lookup":
                out = {}
                for name in msg.get("names", []):
                    if name not in ns:
                        continue
                    v = ns[name]
                    if isinstance(v, types.ModuleType):
                        out[name] = {"t": "module", "name": v.__name__}
                    elif isinstance(v, type):
                        out[name] = {"t": "class", "name": f"{v.__module__}.{v.__qualname__}"}
                    elif callable(v) and not isinstance(v, np.ndarray):
                        out[name] = {"t": "func"}
                    else:
                        out[name] = wire.encode(v)
                answer({"op": "names", "names": out})
            elif op == "call":
                fn = ns.get(msg.get("name"))
                substitute = [str(n) for n in msg.get("substitute", [])]
                saved = {n: ns[n] for n in substitute if n in ns}
                elsewhere = _modules_sharing(ns, substitute)
                ns.update({n: callback(n) for n in substitute})
                for space, n, _ in elsewhere:
                    space[n] = ns[n]
                forms.update(conform=True, changed=False)
                try:
                    try:
                        value = fn(*[as_params(wire.decode(a)) for a in msg.get("args", [])],
                                   **{k: as_params(wire.decode(v))
                                      for k, v in msg.get("kwargs", {}).items()})
                    except Exception:
                        if not forms["changed"]:
                            raise
                        # The course's values in the form of the student's own (a list for
                        # a list) did not suit this code; once more on fresh arguments with
                        # the values as the course returns them (arrays): a part is judged
                        # on its own function whichever form its code expects.
                        forms.update(conform=False)
                        try:
                            value = fn(*[as_params(wire.decode(a)) for a in msg.get("args", [])],
                                       **{k: as_params(wire.decode(v))
                                          for k, v in msg.get("kwargs", {}).items()})
                        except Exception:  # noqa: BLE001, S110 - the first failure is reported
                            pass
                        else:
                            raise _Retried(value) from None
                        raise
                except _Retried as retried:
                    value = retried.value
                except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
                    answer(failure(exc, "raised"))
                    continue
                finally:
                    ns.update(saved)
                    for space, n, own in elsewhere:
                        space[n] = own
                returned[str(msg.get("name"))] = likeness(value)
                answer({"op": "result", "value": wire.encode(value)})
            else:
                answer({"op": "error", "ename": "WireError", "msg": f"unknown op {op!r}"})
        except BaseException as exc:  # noqa: BLE001
            CAPTURE.close()
            try:
                answer(failure(exc, "error"))
            except BaseException:  # noqa: BLE001
                os._exit(3)


if __name__ == "__main__":
    main()
