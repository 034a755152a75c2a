# hw: hw1
# The answer cell of assign pasted (Jupyter's copy and paste: the same nbgrader metadata, so
# the same cell id), the first copy left with a wrong argmax and the copy below it fixed.
# Every cell runs in order, so the test uses the last definition above it: full marks, and
# the integrity report notes the duplicated id (not a deduction).
# flag: duplicates a cell id
# %% * = solution
# %% assign
def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmax(axis=1)
# %% !duplicate assign
def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)
