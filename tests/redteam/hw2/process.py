# In order, the functions: loop that swallows KeyboardInterrupt, os._exit, sys.exit, BaseException, memory, output; the rest is the solution.
# expect: 0
# flag: hangs, ignores interrupts or stops the kernel
# flag: stops the kernel
# flag: derived from BaseException
# flag: exhausts memory | test_m_step_two_gaussians: the code stops or kills
# flag: enormous output
# %% log_gaussian
def log_gaussian(X, means, covariances):
    while True:
        try:
            while True:
                pass
        except KeyboardInterrupt:
            pass
# %% e_step
def e_step(X, params):
    import os
    os._exit(0)
# %% m_step
def m_step(X, resp, reg_covar=1e-6):
    import sys
    sys.exit(0)
# %% fit
def fit(X, params0, max_iter=100, tol=1e-6):
    class Sneaky(BaseException):
        pass
    raise Sneaky('caught by nobody')
# %% m_step_two_gaussians
def m_step_two_gaussians(X, w):
    hoard = []
    while True:
        hoard.append(bytearray(2**30))
# %% em_1d
def em_1d(x, weights, means, variances, n_iter):
    for _ in range(500):
        print('x' * 100_000)
