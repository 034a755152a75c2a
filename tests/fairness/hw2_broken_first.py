# hw: hw2
# The first answer cell exits the process that runs it (os._exit, left from a script):
# log_gaussian is never defined and loses its points; every other part keeps them.
# lose: test_log_gaussian | log_gaussian
# %% * = solution
# %% log_gaussian
import os

os._exit(0)
