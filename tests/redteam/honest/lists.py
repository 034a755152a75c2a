# The full solution, but every array it returns (also inside a tuple) is a nested list.
# %% preamble
def as_lists(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if type(value) is tuple:
        return tuple(as_lists(v) for v in value)
    return value
# %% each
{solution}


_{name}_arrays = {name}


def {name}({params}):
    return as_lists(_{name}_arrays({args}))
