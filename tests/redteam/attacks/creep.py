# No answer is written. Memory that grows slowly, never much at once: the first answer cell
# forks a child that adds 8 MB every 50 ms and keeps what it got (sleeping) while its parent
# goes on as if idle, and grows files 4 MB at a time in the home, /tmp and /dev/shm (tmpfs:
# their pages count against the sandbox's memory) and a global list 8 MB at a time; every
# function adds 8 MB to that module-level cache on each call before it answers nothing. The notebook must score 0 within its budget, the grader stay
# small, nothing of it be left running, and the rest of the class be graded as usual
# (tests/test_memory_growth.py runs each kind of growth alone, with small limits).
# expect: 0
# %% preamble
import os as _os
import time as _time

_CREEP = globals().setdefault("_CREEP", [])


def _creep(steps, step_mb=8, pause=0.05):
    for _ in range(steps):
        _CREEP.append(bytearray(b"c" * (step_mb * 2**20)))
        _time.sleep(pause)


if not globals().get("_CREEP_CHILD"):
    _CREEP_CHILD = _os.fork()
    if _CREEP_CHILD == 0:
        try:
            _creep(10**6)
        except MemoryError:
            pass
        _time.sleep(3600)
        _os._exit(0)
    for _d in (_os.path.expanduser("~"), "/tmp", "/dev/shm"):
        try:
            with open(_os.path.join(_d, "creep.bin"), "ab") as _f:
                for _ in range(15):
                    _f.write(b"c" * 2**22)
                    _f.flush()
                    _time.sleep(0.01)
        except OSError as _exc:
            print(_d, "stopped:", _exc)
try:
    _creep(2)
except MemoryError:
    print("memory stopped at", len(_CREEP) * 8, "MB")
# %% each
def {name}({params}):
    _creep(1, pause=0.0)
    return None
