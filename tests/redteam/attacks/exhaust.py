# No answer is written. It exhausts what it can, each stage going on to the next when it is
# interrupted: the first answer cell fills the disk (64 MB files in the home directory and
# /tmp until a write fails, at most 1 GB), starts a fork bomb (children that live 5 s; each
# sandbox has a uid and a process limit of its own, see tests/test_sandbox.py) and a memory
# bomb, then loops forever swallowing KeyboardInterrupt; every function sleeps for an hour.
# The notebook must be stopped within its budget, score 0, and the rest of the class be
# graded; the grader ends the swallowing cell and says so.
# expect: 0
# flag: hangs through an interrupt | did not finish executing in time | could not be executed
# flag: stops or kills the process
# %% preamble
import os
import time


def fill_disk():
    block = b"\0" * (64 * 2**20 - 1)
    written = 0
    for d in (os.path.expanduser("~"), "/tmp"):
        for i in range(8):
            try:
                with open(os.path.join(d, f"fill{i}"), "wb") as f:
                    f.write(block)
                written += len(block)
            except OSError as exc:
                print("disk full after", written, exc)
                break
    print("wrote", written, "bytes")


def fork_bomb():
    children = 0
    for _ in range(100_000):  # stops at the process limit
        try:
            if os.fork() == 0:
                time.sleep(5)
                os._exit(0)
            children += 1
        except OSError as exc:
            print("fork stopped after", children, exc)
            break


def memory_bomb():
    hog = []
    try:
        while True:  # stops at the memory limit
            hog.append(bytearray(256 * 2**20))
    except MemoryError:
        print("memory stopped at", len(hog) * 256, "MB")


for stage in (fill_disk, fork_bomb, memory_bomb):
    try:
        stage()
    except KeyboardInterrupt:
        print(stage.__name__, "was interrupted; next")
while True:
    try:
        while True:
            pass
    except KeyboardInterrupt:
        pass
# %% each
def {name}({params}):
    import time
    time.sleep(3600)
