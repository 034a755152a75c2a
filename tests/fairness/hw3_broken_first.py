# hw: hw3
# The first answer cell asks for more memory than the sandbox allows (a pairwise table meant
# for 10**3 days, typed for 10**6: 8 TB): forward is never defined and loses its points; every
# other part keeps them.
# lose: test_forward | forward
# %% * = solution
# %% forward
n_days = 10**6
table = np.zeros((n_days, n_days))
