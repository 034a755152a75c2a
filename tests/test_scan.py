"""The static scan (emcourse_grader/scan.py): a report for a human, never points.

Each reason it can give is shown on a short piece of code that has it, and the styles honest
students bring (loops, classes, scipy.stats, log space, helpers, magics, plots, process
pools, printing) on code that must give nothing: a report that cries wolf on honest work is
read by nobody. The red-team tests (tests/test_redteam.py) check it on whole submissions.
"""

from __future__ import annotations

import pytest

from emcourse_grader.scan import scan

FLAGGED = {
    "import sklearn.mixture": ("imports a library that implements the exercise",
                               "sklearn.mixture"),
    "from hmmlearn import hmm": ("imports a library that implements the exercise", "hmmlearn"),
    "from scipy.cluster.vq import kmeans2": ("imports a library that implements the exercise",
                                             "scipy.cluster.vq"),
    "from emref.gmm import fit": ("calls or imports emref's implementation", "emref.gmm"),
    "import emref\nx = emref.kmeans.fit(X, 2)": ("calls or imports emref's implementation",
                                                 "emref.kmeans.fit"),
    "np.allclose = lambda *a, **k: True": ("monkeypatches a name the tests rely on",
                                           "np.allclose"),
    "isinstance = lambda *a: True": ("monkeypatches a name the tests rely on", "isinstance"),
    "ip = get_ipython()\nip.set_custom_exc((Exception,), None)": (
        "patches the IPython shell", "ip.set_custom_exc"),
    "import subprocess\nsubprocess.run(['ls'])": (
        "reads or writes files, or controls the process", "import subprocess"),
    "text = open('/etc/passwd').read()": (
        "reads or writes files, or controls the process", "open"),
    "exec(source)": ("monkeypatching or dynamic code", "exec"),
    "exec('x = 1', globals())": ("monkeypatching or dynamic code", "exec"),
    # the code of a literal exec is scanned as code
    "exec('import ctypes')": ("monkeypatching or dynamic code", "import ctypes"),
    "import sys\nsys.exit(0)": ("stops the kernel", "sys.exit"),
    "try:\n    f()\nexcept BaseException:\n    pass": (
        "raises or catches an exception derived from BaseException", "BaseException"),
    "class A:\n    def __eq__(self, other):\n        return True": (
        "returns objects that fake results", "A.__eq__"),
    "f.__globals__['np'] = None": (
        "overrides comparisons or introspects objects (fake results, patching)",
        "f.__globals__"),
    "%%time\nimport ctypes": ("monkeypatching or dynamic code", "import ctypes"),
}


@pytest.mark.parametrize("source", list(FLAGGED), ids=range(len(FLAGGED)))
def test_each_reason_is_reported(source):
    assert FLAGGED[source] in scan(source), scan(source)


HONEST = {
    "loops": """
def assign(X, centers):
    labels = np.zeros(len(X), dtype=int)
    for n in range(len(X)):
        best, best_d = 0, float('inf')
        for k in range(len(centers)):
            d = float(np.sum((X[n] - centers[k]) ** 2))
            if d < best_d:
                best, best_d = k, d
        labels[n] = best
    return labels
""",
    "a class and helpers": """
from dataclasses import dataclass
@dataclass
class State:
    weights: np.ndarray
    def normalised(self):
        return self.weights / self.weights.sum()
def _helper(x, *, eps=1e-12):
    return np.log(np.maximum(x, eps))
""",
    "scipy.stats and logsumexp": """
from scipy.stats import multivariate_normal
from scipy.special import logsumexp
import scipy.linalg as la
def e_step(X, params):
    logp = np.column_stack([np.log(w) + multivariate_normal(m, S).logpdf(X)
                            for w, m, S in zip(*params)])
    ll = logsumexp(logp, axis=1)
    return np.exp(logp - ll[:, None]), float(ll.sum())
""",
    "magics, plots and printing": """
%matplotlib inline
%%time
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3])
plt.show()
print(f"done: {3:.2f}")
""",
    "a process pool": """
from concurrent.futures import ProcessPoolExecutor
from functools import partial
def many(X, seeds):
    with ProcessPoolExecutor(2) as pool:
        return list(pool.map(partial(np.add, 1), seeds))
""",
    "parameter classes": """
from emref.gmm import GMMParams
p = GMMParams(weights=np.ones(2) / 2, means=np.zeros((2, 1)), covariances=np.ones((2, 1, 1)))
""",
    "float32, complex and os.path": """
import os, math, itertools, warnings
X32 = np.asarray(X, dtype=np.float32)
z = np.fft.fft(X32).real
name = os.path.join('a', 'b')
warnings.filterwarnings('ignore')
""",
    "a syntax error": "def f(:\n    pass",
    "a function built by exec of a literal": """
exec('''
def assign(X, centers):
    return ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
''')
""",
    "a module written by a cell, then imported": """%%writefile answers.py
import numpy as np
def assign(X, centers):
    return ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
""",
}


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_styles_give_nothing(name):
    assert scan(HONEST[name]) == []
