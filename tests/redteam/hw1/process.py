# In order, the functions: loop that swallows KeyboardInterrupt, os._exit, sys.exit, BaseException; the rest is the solution.
# expect: 0
# flag: hangs, ignores interrupts or stops the kernel
# flag: stops the kernel
# flag: derived from BaseException
# %% assign
def assign(X, centers):
    while True:
        try:
            while True:
                pass
        except KeyboardInterrupt:
            pass
# %% update
def update(X, labels, k):
    import os
    os._exit(0)
# %% fit
def fit(X, init_centers, max_iter=100):
    import sys
    sys.exit(0)
# %% soft_assign
def soft_assign(X, centers, beta):
    class Sneaky(BaseException):
        pass
    raise Sneaky('caught by nobody')
