# The full solution, but where it returns a tuple, every function returns a namedtuple or a
# dataclass instance instead (in turn, call by call).
# %% preamble
from collections import namedtuple
from dataclasses import make_dataclass

_calls = [0]


def as_record(value):
    if type(value) is not tuple:
        return value
    fields = [f"part{i}" for i in range(len(value))]
    _calls[0] += 1
    if _calls[0] % 2:
        return namedtuple("Result", fields)(*value)
    return make_dataclass("Result", fields)(*value)
# %% each
{solution}


_{name}_tuple = {name}


def {name}({params}):
    return as_record(_{name}_tuple({args}))
