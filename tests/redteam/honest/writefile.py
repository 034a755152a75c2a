# The full solution, but each answer is a module of the student's own: a cell of theirs right
# above each answer cell writes the instructor's code into answer_<cell>.py with %%writefile
# (after `from __main__ import *`, the notebook's names: numpy, the data, the earlier
# answers), and the answer cell itself only imports it. Code the notebook writes and runs is
# the notebook's own work (unlike a .py handed in beside it: attacks/beside.py).
# %% above
%%writefile answer_{grade_id}.py
from __main__ import *


{solution}
# %% answer
from answer_{grade_id} import *
