# The work is in a module handed in beside the notebook (answers_beside.py), which every
# answer cell imports. Only the notebook is graded (its introduction says so; files beside it
# never enter the sandbox, docs/integrity.md): 0, but said clearly in the report and in the
# answer cell's feedback, never a silent 0.
# expect: 0
# flag: handed in beside the notebook
# %% file answers_beside.py
import numpy as np
# %% answer
from answers_beside import *
