# Edits, empties and deletes test cells; every answer is the solution.
# expect: 40
# flag: edits a test cell
# flag: empties a test cell
# flag: deletes a test cell
# %% forward = solution
# %% backward = solution
# %% posteriors = solution
# %% baum_welch_step = solution
# %% count_estimate = solution
# %% viterbi = solution
# %% !edit test_forward
assert True  # the tests were here
# %% !edit test_backward

# %% !delete test_posteriors
