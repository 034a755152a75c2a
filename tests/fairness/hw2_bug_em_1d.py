# hw: hw2
# The debugging exercise handed in unfixed (norm.pdf still gets the variance as its scale):
# em_1d loses its 15 points and nothing else.
# lose: test_em_1d | `em_1d`
# %% * = solution
# %% em_1d
def em_1d(x, weights, means, variances, n_iter):
    return em_1d_given(x, weights, means, variances, n_iter)
