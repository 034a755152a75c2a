# Calls emref's implementation through importlib, __import__, getattr and sys.modules.
# Dynamic imports zero every later part (they could patch anything), so: 0.
# expect: 0
# flag: calls emref's implementation
# flag: dynamic code
# %% log_gaussian
import importlib

_m = importlib.import_module('emref.' + 'g' + 'mm')


def log_gaussian(X, means, covariances):
    return _m.log_gaussian(X, means, covariances)
# %% e_step
def e_step(X, params):
    return __import__('emref').gmm.e_step(X, params)
# %% m_step
import emref


def m_step(X, resp, reg_covar=1e-6):
    return getattr(emref, 'g' + 'mm').m_step(X, resp, reg_covar=reg_covar)
# %% fit
import sys


def fit(X, params0, max_iter=100, tol=1e-6):
    res = sys.modules['emref.gmm'].fit(X, len(params0.weights), init=params0, max_iter=max_iter, tol=tol)
    return res.params, res.loglik_history
# %% m_step_two_gaussians = solution
# %% em_1d = solution
