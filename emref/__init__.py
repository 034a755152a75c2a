"""emref: the reference library of the emcourse EM course.

k-means (:mod:`emref.kmeans`), Gaussian mixtures (:mod:`emref.gmm`), hidden Markov models
(:mod:`emref.hmm`) and factor analysis / probabilistic PCA (:mod:`emref.factor`) fitted by EM
through one shared loop (:mod:`emref.em`), with the data sets of the course
(:mod:`emref.datasets`); :mod:`emref.gaussian` holds the Gaussian log-density that the
mixtures and the HMM's Gaussian emission share. Run-time dependencies: numpy and scipy
(matplotlib for :mod:`emref.viz` only).
"""

from . import datasets, em, factor, gmm, hmm, kmeans
from .em import LikelihoodDecreaseWarning

__all__ = ["LikelihoodDecreaseWarning", "datasets", "em", "factor", "gmm", "hmm", "kmeans"]
__version__ = "0.1.0"
