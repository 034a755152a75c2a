# The full solution, but every float it returns (arrays and numbers, also inside a tuple) is
# float32, and every integer array int32.
# %% preamble
def narrow(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float32)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return value.astype(np.int32)
    if isinstance(value, float):
        return np.float32(value)
    if type(value) is tuple:
        return tuple(narrow(v) for v in value)
    return value
# %% each
{solution}


_{name}_wide = {name}


def {name}({params}):
    return narrow(_{name}_wide({args}))
