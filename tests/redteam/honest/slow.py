# The full solution, but the first function of the notebook is slow and correct: each call
# first runs a plain Python loop for 2.5 seconds (an honest loop-based answer), so a test
# cell that calls it five times or more takes longer than one call's time limit (10 s here).
# %% preamble
import time

defined = []


def loop_for(seconds):
    end, total, i = time.perf_counter() + seconds, 0.0, 0
    while time.perf_counter() < end:
        for j in range(1000):
            total += (i * j) % 7
        i += 1
    return total
# %% each
{solution}


_{name}_fast = {name}
defined.append("{name}")


def {name}({params}):
    if defined[0] == "{name}":
        loop_for(2.5)
    return _{name}_fast({args})
