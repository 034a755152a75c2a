"""emref: the reference library of the emcourse EM course.

k-means (:mod:`emref.kmeans`), Gaussian mixtures (:mod:`emref.gmm`), hidden Markov models
(:mod:`emref.hmm`) and factor analysis / probabilistic PCA (:mod:`emref.factor`) fitted by EM
through one shared loop (:mod:`emref.em`), with the data sets of the course
(:mod:`emref.datasets`); :mod:`emref.gaussian` holds the Gaussian log-density that the
mixtures and the HMM's Gaussian emission share. Run-time dependencies: numpy and scipy
(matplotlib for :mod:`emref.viz` only).

``import emref`` does no work: each submodule is imported the first time it is used
(``emref.gmm``, ``from emref import hmm``), so a program that needs k-means alone does not pay
for scipy's linear algebra and statistics (PEP 562).
"""

import importlib

__all__ = ["LikelihoodDecreaseWarning", "datasets", "em", "factor", "gmm", "hmm", "kmeans"]
__version__ = "0.1.0"

_SUBMODULES = frozenset(__all__) - {"LikelihoodDecreaseWarning"}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "LikelihoodDecreaseWarning":
        return importlib.import_module(f"{__name__}.em").LikelihoodDecreaseWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
