# hw: hw1
# The first answer cell never finishes (an endless loop left at its top level, above the
# function, which is then never defined): it costs that answer only; every other part keeps
# its points. (Below the function, the grader's interrupt would leave a correct `assign`
# defined, and it would earn its points: a part is judged on its own function.)
# lose: test_assign | assign
# %% * = solution
# %% assign
while True:  # "wait for the plot" left in by mistake, above the answer: it never runs
    pass


def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)
