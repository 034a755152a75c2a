# Every function returns an object that equals everything and pretends to be an array.
# expect: 0
# flag: returns objects that fake results
# flag: returns an object that is not plain data
# %% log_gaussian
class Anything:
    """Equals everything, absorbs every operation, pretends to be an array."""

    shape = property(lambda self: Anything())

    def __eq__(self, other):
        return True

    __ne__ = __lt__ = __gt__ = __le__ = __ge__ = lambda self, other: True

    def __getattr__(self, name):
        return Anything()

    def __call__(self, *a, **k):
        return Anything()

    def __getitem__(self, key):
        return Anything()

    def __iter__(self):
        return iter([Anything()] * 6)

    def __len__(self):
        return 6

    def __bool__(self):
        return True

    def __float__(self):
        return 0.0

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)

    def __array_ufunc__(self, *a, **k):
        return Anything()

    def __array_function__(self, *a, **k):
        return Anything()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __pow__ = __neg__ = __abs__ = __matmul__ = __rmatmul__ = __call__


def log_gaussian(*args, **kwargs):
    return Anything()
# %% e_step
def e_step(*args, **kwargs):
    return Anything()
# %% m_step
def m_step(*args, **kwargs):
    return Anything()
# %% fit
def fit(*args, **kwargs):
    return Anything()
# %% m_step_two_gaussians
def m_step_two_gaussians(*args, **kwargs):
    return Anything()
# %% em_1d
def em_1d(*args, **kwargs):
    return Anything()
