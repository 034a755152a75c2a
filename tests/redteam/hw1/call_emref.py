# Calls emref's implementation through importlib, __import__, getattr and sys.modules.
# Dynamic imports zero every later part (they could patch anything), so: 0.
# expect: 0
# flag: calls emref's implementation
# flag: dynamic code
# %% assign
import importlib

_m = importlib.import_module('emref.' + 'kmea' + 'ns')


def assign(X, centers):
    return _m.assign(X, centers)
# %% update
def update(X, labels, k):
    return __import__('emref').kmeans.update(X, labels, k)
# %% fit
import emref


def fit(X, init_centers, max_iter=100):
    km = getattr(emref, 'km' + 'eans')
    res = km.fit(X, len(init_centers), init=init_centers, max_iter=max_iter, tol=0)
    return res.centers, res.labels, list(res.history)
# %% soft_assign
import sys


def soft_assign(X, centers, beta):
    return sys.modules['emref.kmeans'].soft_assign(X, centers, beta)
