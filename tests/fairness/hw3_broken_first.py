# hw: hw3
# The first answer cell asks for far more memory than the sandbox allows (a table meant to be
# 10**5 entries, typed 10**15): forward is never defined and loses its points; every other
# part keeps them.
# lose: test_forward | forward
# %% * = solution
# %% forward
cache = np.zeros(10**15)
