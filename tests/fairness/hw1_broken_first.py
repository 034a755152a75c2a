# hw: hw1
# The first answer cell never finishes (an endless loop left at its top level): it costs that
# answer only; every other part keeps its points.
# lose: test_assign | assign
# %% * = solution
# %% assign
def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)


while True:  # "wait for the plot" left in by mistake
    pass
