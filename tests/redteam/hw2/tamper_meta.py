# Changes the metadata of test cells: points, cell type, grade id, the grade flag.
# expect: 30
# flag: changes cell metadata
# %% log_gaussian = solution
# %% e_step = solution
# %% m_step = solution
# %% fit = solution
# %% m_step_two_gaussians = solution
# %% em_1d = solution
# %% !meta test_log_gaussian points=1000
# %% !meta test_e_step cell_type=markdown
# %% !meta test_m_step grade_id=my_own_test
# %% !meta test_fit grade=false
