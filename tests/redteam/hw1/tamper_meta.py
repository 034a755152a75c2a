# Changes the metadata of test cells: points, cell type, grade id, the grade flag.
# expect: 0
# flag: changes cell metadata
# %% assign = solution
# %% update = solution
# %% fit = solution
# %% soft_assign = solution
# %% !meta test_assign points=1000
# %% !meta test_update cell_type=markdown
# %% !meta test_fit grade_id=my_own_test
# %% !meta test_soft_assign grade=false
