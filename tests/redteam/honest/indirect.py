# The full solution, every function defined under another name (`my_assign`), built by
# exec of its source written as a literal string, then bound to the name the tests call
# (`assign = ...`) as, in turn: a functools.partial, a callable class instance, a
# staticmethod of a class, a functools.wraps wrapper (whose call counter is an lru_cache'd
# helper; lru_cache on the functions themselves would fail on their array arguments, in
# Jupyter too).
# %% preamble
import functools
import itertools

_forms = itertools.cycle(("partial", "instance", "static", "wraps"))


@functools.lru_cache(maxsize=None)
def _counter(name):
    return [0]


def as_public(fn):
    """fn under another guise, the next in turn."""
    form = next(_forms)
    if form == "partial":
        return functools.partial(fn)
    if form == "instance":
        class Step:
            def __call__(self, *args, **kwargs):
                return fn(*args, **kwargs)
        return Step()
    if form == "static":
        class Steps:
            run = staticmethod(fn)
        return Steps.run

    @functools.wraps(fn)
    def counted(*args, **kwargs):
        _counter(fn.__name__)[0] += 1
        return fn(*args, **kwargs)
    return counted
# %% each
exec(r'''{renamed}''')
{name} = as_public(my_{name})
