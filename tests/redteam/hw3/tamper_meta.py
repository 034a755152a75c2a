# Changes the metadata of test cells: points, cell type, grade id, the grade flag.
# expect: 25
# flag: changes cell metadata
# %% forward = solution
# %% backward = solution
# %% posteriors = solution
# %% baum_welch_step = solution
# %% count_estimate = solution
# %% viterbi = solution
# %% !meta test_forward points=1000
# %% !meta test_backward cell_type=markdown
# %% !meta test_posteriors grade_id=my_own_test
# %% !meta test_baum_welch_step grade=false
