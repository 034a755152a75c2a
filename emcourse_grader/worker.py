"""The trusted grader's worker: runs one student's notebook code in a fresh sandboxed process.

Started by :mod:`emcourse_grader.judge` as ``python -m emcourse_grader.worker RFD WFD``. It
reads requests on RFD and answers on WFD (emcourse_grader.wire framing); the student's own
stdin, stdout and stderr are /dev/null. Requests:

* ``exec``: run a cell's code in the notebook namespace;
* ``lookup``: describe names of that namespace (a function, a module, a class, or a value
  sent as plain data);
* ``call``: call a function of the namespace on plain-data arguments; the result goes back as
  plain data (emcourse_grader.wire.encode); anything else is reported, never sent.

Before the student's code runs, emref's implementations (emref.kmeans, gmm, hmm, em and the
helpers of emref.grading) are replaced by tripwires: calling one reports it and raises.
Every answer carries the violations seen since the last one (tripwires, refused files,
forbidden imports, results that are not plain data). Nothing here is trusted by the grader:
this process runs the student's code, which may change anything in it.
"""

from __future__ import annotations

import builtins
import os
import sys
import types

FORBIDDEN_IMPORTS = ("sklearn", "hmmlearn", "emref.kmeans", "emref.gmm", "emref.hmm",
                     "emref.em", "ctypes")
OUTPUT_LIMIT = 1_000_000  # characters printed by one cell or one call
_KEEP = {"GMMParams", "HMMParams", "Categorical", "Gaussian"}
_IMPL_MODULES = ("emref.kmeans", "emref.gmm", "emref.hmm", "emref.em", "emref.grading")


class _Stub:
    """get_ipython() in the worker: accepts anything, does nothing."""

    def __getattr__(self, name):
        return _Stub()

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __setattr__(self, name, value):
        pass


def _tripwire(qualname, original, report, inside):
    getframe = sys._getframe

    def tripwire(*args, **kwargs):
        caller = getframe(1).f_code.co_filename
        if caller.startswith(inside):  # emref calling itself (GMMParams' validation)
            return original(*args, **kwargs)
        report("calls emref's implementation", qualname)
        raise PermissionError(f"{qualname} is emref's own implementation: it cannot be part "
                              f"of your answer (write it yourself with numpy)")
    tripwire.__name__ = qualname.rsplit(".", 1)[-1]
    tripwire.__qualname__ = tripwire.__name__
    return tripwire


def _disarm_emref(report):
    import emref
    inside = os.path.dirname(os.path.realpath(emref.__file__)) + os.sep
    for modname in _IMPL_MODULES:
        mod = sys.modules.get(modname)
        if mod is None:
            continue
        for name, obj in list(vars(mod).items()):
            if name in _KEEP:
                continue
            if getattr(obj, "__module__", "") != modname:
                continue  # imported helpers (emref._validation, numpy) stay
            if isinstance(obj, types.FunctionType):  # classes stay: isinstance needs them
                setattr(mod, name, _tripwire(f"{modname}.{name}", obj, report, inside))


def main() -> None:
    rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
    flags = []

    def report(reason, detail):
        if len(flags) < 50:
            flags.append({"reason": reason, "detail": str(detail)[:300]})

    # What the notebooks import, loaded before the guard is armed.
    import itertools  # noqa: F401
    import math  # noqa: F401
    import warnings

    import numpy as np
    import numpy.testing
    import scipy.linalg
    import scipy.special
    import scipy.stats  # noqa: F401

    import emref.datasets  # noqa: F401
    from emref.gmm import GMMParams

    from . import sandbox, wire

    try:
        from IPython.core.inputtransformer2 import TransformerManager
        transform = TransformerManager().transform_cell
    except Exception:  # noqa: BLE001
        def transform(src):
            return src

    policy = sandbox.enter(on_violation=report, arm_on="\0never")
    _disarm_emref(report)

    def import_guard(event, args):
        if event == "import" and args and isinstance(args[0], str):
            name = args[0]
            for bad in FORBIDDEN_IMPORTS:
                if name == bad or name.startswith(bad + "."):
                    report("imports a module it may not use", name)
                    raise ImportError(f"grading: {name} may not be used in an answer")
    sys.addaudithook(import_guard)

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    class Sink:
        """sys.stdout and sys.stderr: discard, but count (per request)."""

        written = 0

        def write(self, text):
            n = len(text) if isinstance(text, (str, bytes)) else 0
            Sink.written += n
            if Sink.written > OUTPUT_LIMIT and Sink.written - n <= OUTPUT_LIMIT:
                report("enormous output", f"more than {OUTPUT_LIMIT} characters")
            return n

        def flush(self):
            pass

        def isatty(self):
            return False

    sys.stdout = sys.stderr = Sink()
    warnings.simplefilter("ignore")
    ns = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": lambda: _Stub(),
          "display": lambda *a, **k: None}
    recv, send = wire.recv, wire.send

    def answer(msg):
        Sink.written = 0
        msg["flags"] = flags[:]
        flags.clear()
        send(wfd, msg)

    def to_args(tree):
        value = wire.decode(tree)
        return _params(value)

    def _params(value):
        if isinstance(value, wire.Params):
            try:
                return GMMParams(*value)
            except Exception:  # noqa: BLE001
                return value
        if isinstance(value, list):
            return [_params(v) for v in value]
        if isinstance(value, tuple):
            return tuple(_params(v) for v in value)
        return value

    policy["arm"]()
    answer({"op": "ready", "dropped": bool(policy.get("dropped"))})
    while True:
        try:
            msg = recv(rfd)
        except EOFError:
            os._exit(0)
        op = msg.get("op")
        try:
            if op == "exec":
                try:
                    code = compile(transform(msg["source"]), f"<cell {msg.get('cell')}>",
                                   "exec")
                    exec(code, ns)  # noqa: S102 - the point of this process
                    answer({"op": "done", "ok": True})
                except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
                    answer({"op": "done", "ok": False, "ename": type(exc).__name__,
                            "msg": str(exc)[:2000], "base": not isinstance(exc, Exception)})
            elif op == "lookup":
                out = {}
                for name in msg["names"]:
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
                fn = ns.get(msg["name"])
                args = [to_args(a) for a in msg["args"]]
                kwargs = {k: to_args(v) for k, v in msg["kwargs"].items()}
                failure = None
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001
                    failure = {"op": "raised", "ename": type(exc).__name__,
                               "msg": str(exc)[:2000], "base": not isinstance(exc, Exception)}
                if failure is not None:  # answered here: the traceback (and a memory hoard
                    answer(failure)      # in its frames) is gone
                    continue
                odd = []
                tree = wire.encode(result, oddities=odd)
                if odd:
                    report("returns an object that is not plain data", ", ".join(odd[:3]))
                answer({"op": "result", "value": tree})
            else:
                answer({"op": "error", "ename": "WireError", "msg": f"unknown op {op!r}"})
        except BaseException as exc:  # noqa: BLE001
            try:
                answer({"op": "error", "ename": type(exc).__name__, "msg": str(exc)[:2000],
                        "base": not isinstance(exc, Exception)})
            except BaseException:  # noqa: BLE001
                os._exit(3)


if __name__ == "__main__":
    main()
