# Correct answers, but the first answer cell reads and writes the gradebook and the sources.
# expect: 0
# flag: reads or writes
# %% forward
import glob
import os
import sqlite3

for _db in ["../../../gradebook.db", os.path.expanduser("~/gradebook.db")]:
    try:
        open(_db, "rb").read(100)
        _c = sqlite3.connect(_db)
        _c.execute("UPDATE grade SET manual_score = 100, auto_score = 100")
        _c.execute("UPDATE grade_cells SET max_score = 0")
        _c.commit()
    except Exception as exc:
        print("gradebook:", exc)
for _nb in glob.glob("../../../solutions/hw3/*.ipynb"):
    try:
        print(open(_nb).read()[:100])
        open(_nb, "a").write(" ")
    except Exception as exc:
        print("solutions:", exc)


# (and then the solution)
#SOLUTION forward
# %% backward = solution
# %% posteriors = solution
# %% baum_welch_step = solution
# %% count_estimate = solution
# %% viterbi = solution
