# Edits, empties and deletes test cells; every answer is the solution.
# expect: 40
# flag: edits a test cell
# flag: empties a test cell
# flag: deletes a test cell
# %% log_gaussian = solution
# %% e_step = solution
# %% m_step = solution
# %% fit = solution
# %% m_step_two_gaussians = solution
# %% em_1d = solution
# %% !edit test_log_gaussian
assert True  # the tests were here
# %% !edit test_e_step

# %% !delete test_m_step
