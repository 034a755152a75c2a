# hw: hw1
# The full solution saved with 21 MB of figures in its outputs: more than the 20 MB limit on a
# notebook, which applies to what is graded (the outputs are dropped first), so full marks.
# %% * = solution
# %% !figures assign 21
