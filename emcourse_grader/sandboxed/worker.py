"""The trusted re-run's worker: the student's cells in an IPython shell, inside the sandbox.

Started by :class:`emcourse_grader.judge.Worker` as ``python -m
emcourse_grader.sandboxed.worker``; requests arrive on stdin and answers leave on stdout
(:mod:`.wire` framing), after which the student's own stdin, stdout and stderr are /dev/null
and ``sys.stdout``/``sys.stderr`` a counting sink. Requests:

* ``exec``: run a cell in the shell (magics, ``display``, ``%%time`` work as in a kernel);
* ``lookup``: describe names of the namespace (function, module, class, or a plain value);
* ``call``: call a function on plain-data arguments and send the result back as plain data.
  With ``substitute`` (names of the student's earlier parts), those names are, for the length
  of the call, stand-ins that ask the grader to compute the course's version (``callback``):
  a part is judged on its own function, not on the parts it builds on. The course's values
  take the form of what the student's own version returned when last called (a list for a
  list: :mod:`.likeness`); a call that raises with them so shaped is made once more, on
  fresh arguments, with the values as the course returns them.

Nothing here is trusted: the verdict is computed by the grader from the plain data it gets.
"""

from __future__ import annotations

import os
import sys
import types

from . import wire
from .likeness import as_student_values, conform, likeness


class _Sink:
    """sys.stdout and sys.stderr: printing costs nothing and goes nowhere."""

    encoding = "utf-8"

    def write(self, text):
        return len(text) if isinstance(text, (str, bytes)) else 0

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


class _Retried(Exception):
    """Carries the value of a call that succeeded on its second attempt."""

    def __init__(self, value):
        super().__init__("retried")
        self.value = value


def _shell():
    """A plain IPython shell (no kernel): cell magics, line magics and display work.

    A terminal-less shell has no GUI event loop: ``%matplotlib inline`` (or ``qt``) asks for
    one through ``enable_gui``, which here does nothing (figures go to the Agg backend and
    nowhere else), as in a kernel whose output nobody looks at."""
    from IPython.core.interactiveshell import InteractiveShell

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):
            return None

    shell = Shell.instance(colors="NoColor", xmode="Plain")
    shell.history_manager.enabled = False
    return shell


def main() -> None:
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = _Sink()

    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    shell = _shell()
    ns = shell.user_ns

    def answer(msg):
        wire.send(wfd, msg)

    returned = {}  # name -> what the student's own version returned when last called
    # While a call runs: give the course's values the form of the student's own ("conform"),
    # and whether that changed any ("changed"); see the "call" op.
    forms = {"conform": True, "changed": False}

    def callback(name):
        def course_version(*args, **kwargs):
            answer({"op": "callback", "name": name,
                    "args": [wire.encode(a) for a in args],
                    "kwargs": {k: wire.encode(v) for k, v in kwargs.items()}})
            reply = wire.recv(rfd)
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
        """The grader's mixture parameters arrive as wire.Params: hand them over as the
        course's GMMParams (the student-facing emref has it)."""
        if isinstance(value, wire.Params):
            try:
                from emref.params import GMMParams
                return GMMParams(*value)
            except Exception:  # noqa: BLE001 - invalid on purpose: pass the raw arrays
                return value
        return value

    def failure(exc, op):
        return {"op": op, "ename": type(exc).__name__, "msg": str(exc)[:2000],
                "base": not isinstance(exc, Exception)}

    answer({"op": "ready"})
    while True:
        try:
            msg = wire.recv(rfd)
        except (EOFError, wire.WireError):
            os._exit(0)
        op = msg.get("op")
        try:
            if op == "exec":
                result = shell.run_cell(str(msg.get("source", "")), store_history=False,
                                        silent=False)
                exc = result.error_before_exec or result.error_in_exec
                if exc is None:
                    answer({"op": "done", "ok": True})
                else:
                    answer({**failure(exc, "done"), "ok": False})
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
                saved = {n: ns[n] for n in msg.get("substitute", []) if n in ns}
                ns.update({n: callback(n) for n in msg.get("substitute", [])})
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
                        except Exception:  # noqa: BLE001 - the first failure is reported
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
                returned[str(msg.get("name"))] = likeness(value)
                answer({"op": "result", "value": wire.encode(value)})
            else:
                answer({"op": "error", "ename": "WireError", "msg": f"unknown op {op!r}"})
        except BaseException as exc:  # noqa: BLE001
            try:
                answer(failure(exc, "error"))
            except BaseException:  # noqa: BLE001
                os._exit(3)


if __name__ == "__main__":
    main()
