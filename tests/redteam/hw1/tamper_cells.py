# Edits, empties and deletes test cells; every answer is the solution.
# expect: 25
# flag: edits a test cell
# flag: empties a test cell
# flag: deletes a test cell
# %% assign = solution
# %% update = solution
# %% fit = solution
# %% soft_assign = solution
# %% !edit test_assign
assert True  # the tests were here
# %% !edit test_update

# %% !delete test_fit
