# assign never returns; everything else is blank. The autograder must interrupt the cell
# after Execute.timeout and go on: 0 points, and the rest of the class is still graded.
# %% assign
def assign(X, centers):
    while True:
        pass
