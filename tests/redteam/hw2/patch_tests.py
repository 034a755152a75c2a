# Wrong answers; numpy's comparisons, numpy.testing, builtins (AssertionError,
# isinstance) and emref.grading (require, verify, CHECKS) patched to always agree.
# expect: 0
# flag: monkeypatches a name the tests rely on (np.allclose
# flag: np.testing.assert_allclose
# flag: builtins.AssertionError
# flag: emref.grading.require
# %% log_gaussian
import numpy.testing

_yes = lambda *a, **k: True
np.allclose = np.isclose = np.array_equal = _yes
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
np.all = np.any = _yes


import builtins

builtins.AssertionError = type('AssertionError', (Warning,), {})
builtins.isinstance = lambda *a: True
AssertionError = Warning


import emref
import emref.grading

emref.grading.require = lambda *a, **k: None
emref.grading.verify = lambda check, fn, **k: emref.grading.Verdict(check, True)
emref.grading.CHECKS.clear()


def log_gaussian(X, means, covariances):
    return np.zeros(3)
# %% e_step
def e_step(X, params):
    return np.zeros(3)
# %% m_step
def m_step(X, resp, reg_covar=1e-6):
    return np.zeros(3)
# %% fit
def fit(X, params0, max_iter=100, tol=1e-6):
    return np.zeros(3)
# %% m_step_two_gaussians
def m_step_two_gaussians(X, w):
    return np.zeros(3)
# %% em_1d
def em_1d(x, weights, means, variances, n_iter):
    return np.zeros(3)
