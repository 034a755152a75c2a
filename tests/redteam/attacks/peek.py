# No answer is written. Every answer cell prints what the kernel has seen so far: IPython's
# input history (`In`, `_ih`) and, through a post_run_cell hook, the source of each cell just
# run. Where the grader's kernel runs the test cells, hidden tests included, their source
# would land in this student's outputs and feedback. (Its own answer cells are left out: the
# fixture's carry the solution markers, which are no secret of the kernel's.)
# expect: 0
# %% preamble
def _peek(result):
    if "BEGIN SOLUTION" not in result.info.raw_cell:
        print("RAN:", result.info.raw_cell)


get_ipython().events.register("post_run_cell", _peek)
# %% each
print("SEEN:", *[s for s in In + _ih if "BEGIN SOLUTION" not in s])


def {name}({params}):
    raise NotImplementedError
