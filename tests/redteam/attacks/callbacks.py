# No answer is written. Every function talks to the grader over the worker's own pipes (found
# among its descriptors): it asks for the course's version of itself and of every part of
# every assignment by name, and returns the first value it gets (a part that was lent to it
# where it should not be would score); it floods the grader with 300 more requests, and hands
# the parts that are lent (earlier ones) a function, a module and an object in place of data.
# The first part of each assignment also sends 3,000 requests in one write and then stops
# reading (the grader's answers fill the pipe): the grader used to block there for good. The
# notebook must score 0, be stopped within its budget, and the rest of the class be graded.
# expect: 0
# flag: stops or kills the process
# %% preamble
import fcntl as _fcntl
import json as _json
import os as _os
import struct as _struct
import time as _time

from emcourse_grader.sandboxed import wire as _wire

_PARTS = ("assign", "update", "fit", "soft_assign", "log_gaussian", "e_step", "m_step",
          "m_step_two_gaussians", "em_1d", "forward", "backward", "posteriors",
          "baum_welch_step", "count_estimate", "viterbi", "require", "CHECKS", "__import__")
_FIRST = ("assign", "log_gaussian", "forward")  # the first part of each assignment


def _ends():
    pipes = [fd for fd in range(3, 64) if _os.path.exists(f"/proc/self/fd/{fd}")
             and _os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")]
    mode = {fd: _fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE for fd in pipes}
    return ([fd for fd in pipes if mode[fd] == _os.O_RDONLY][0],
            [fd for fd in pipes if mode[fd] == _os.O_WRONLY][0])


def _frame(name, args, kwargs):
    data = _json.dumps({"op": "callback", "name": name, "args": args,
                        "kwargs": kwargs}).encode()
    return _struct.pack(">I", len(data)) + data


def _pack(*args, **kwargs):
    return ([_wire.encode(a) for a in args],
            {k: _wire.encode(v) for k, v in kwargs.items()})


def _attack(name, args, kwargs):
    """What the pipes give a part that asks for what it should not have."""
    inp, out = _ends()
    if name in _FIRST:  # once per notebook: a flood whose answers are never read
        _os.write(out, _frame(name, [], {}) * 3000)
        while True:
            try:
                _time.sleep(60)
            except KeyboardInterrupt:
                pass
    for part in (name,) + _PARTS:
        _os.write(out, _frame(part, args, kwargs))
        reply = _wire.recv(inp)
        if reply.get("op") == "callback_result":
            return _wire.decode(reply.get("value"))  # a leak: the value would score
    for _ in range(300):
        _os.write(out, _frame(name, args, kwargs))
        _wire.recv(inp)
    for part in _PARTS[:15]:
        lent = globals().get(part)
        if "course_version" in getattr(lent, "__qualname__", ""):
            for bad in (lambda: 0, _os, object()):
                try:
                    lent(bad, bad)
                except Exception:  # noqa: BLE001 - refused, as it should be
                    pass
    return None
# %% each
def {name}({params}):
    args, kwargs = _pack({args})
    return _attack("{name}", args, kwargs)
