# hw: hw1
# A bug in assign only (the farthest centre): assign loses its 20 points; fit, which calls
# assign, and soft_assign, whose visible test calls assign, keep theirs.
# lose: test_assign | `assign` | argmin
# %% * = solution
# %% assign
def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmax(axis=1)
