"""Data sets the course uses, shipped with the package (no network, no files outside it).

- :func:`old_faithful`: 272 eruptions of the Old Faithful geyser (Bishop's figures 9.1, 9.8).
- :func:`ice_cream`: the 33 days of Jason Eisner's forward-backward spreadsheet (2002).
- :func:`dishonest_casino`: the fair/loaded die HMM of Durbin et al. (1998), as parameters.
- :func:`two_gaussians`: a simulator for the exam question's two-component model.

Sources are listed in ``emref/data/SOURCES.md``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._validation import check_int, check_seed

__all__ = ["old_faithful", "ice_cream", "ice_cream_params", "dishonest_casino",
           "two_gaussians", "standardize"]


def _data_path(name: str):
    return resources.files("emref").joinpath("data", name)


def old_faithful(standardized: bool = False) -> np.ndarray:
    """Old Faithful: array of shape (272, 2), columns (eruption minutes, waiting minutes).

    With ``standardized=True`` each column is shifted to mean 0 and scaled to unit
    (population) standard deviation, as in Bishop's figures.
    """
    with _data_path("faithful.csv").open() as f:
        X = np.loadtxt(f, delimiter=",", skiprows=1)
    return standardize(X) if standardized else X


def standardize(X) -> np.ndarray:
    """Each column shifted to mean 0 and divided by its standard deviation."""
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def ice_cream() -> np.ndarray:
    """Eisner's 33 days of ice creams eaten, as symbols 0, 1, 2 (meaning 1, 2, 3 ice creams)."""
    with _data_path("icecream.txt").open() as f:
        counts = np.array(f.read().split(), dtype=int)
    return counts - 1


def ice_cream_params():
    """The start parameters of Eisner's spreadsheet, states (Cold, Hot), as a dict.

    ``startprob`` (0.5, 0.5); ``transmat`` C→C .8, C→H .1, H→C .1, H→H .8; ``endprob`` .1 from
    each state (the STOP state); ``emission`` p(1, 2, 3 ice creams | C) = .7 .2 .1 and
    p(· | H) = .1 .2 .7. Build an HMM from them with ``emref.hmm``.
    """
    return {
        "states": ("Cold", "Hot"),
        "startprob": np.array([0.5, 0.5]),
        "transmat": np.array([[0.8, 0.1], [0.1, 0.8]]),
        "endprob": np.array([0.1, 0.1]),
        "emission": np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]),
    }


def dishonest_casino():
    """The occasionally dishonest casino (Durbin, Eddy, Krogh, Mitchison 1998, p. 54).

    States (Fair, Loaded); symbols 0..5 for faces 1..6. Fair→Fair .95, Fair→Loaded .05,
    Loaded→Fair .10, Loaded→Loaded .90; the loaded die shows a six half of the time.
    The start distribution (not given in the book) is taken as (1, 0): play starts fair.
    """
    return {
        "states": ("Fair", "Loaded"),
        "startprob": np.array([1.0, 0.0]),
        "transmat": np.array([[0.95, 0.05], [0.10, 0.90]]),
        "emission": np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]]),
    }


def two_gaussians(n: int, *, tau: float = 0.4, mu1=(-1.0, 0.0), mu2=(1.5, 1.0),
                  sigma1=((0.5, 0.2), (0.2, 0.3)), sigma2=((0.4, -0.1), (-0.1, 0.6)),
                  seed=None):
    """Simulate the exam question's model: Z = 1 with probability τ, X | Z ~ N(μ_Z, Σ_Z).

    Returns ``(X, z)`` with X of shape (n, D) and z in {1, 2} (the question's labels).
    """
    n = check_int(n, "n", low=1)
    rng = check_seed(seed)
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, float)), np.atleast_1d(np.asarray(mu2, float))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, float)), np.atleast_2d(np.asarray(sigma2, float))
    z = np.where(rng.uniform(size=n) < tau, 1, 2)
    X = np.empty((n, mu1.shape[0]))
    for label, mu, s in ((1, mu1, s1), (2, mu2, s2)):
        idx = z == label
        X[idx] = rng.multivariate_normal(mu, s, size=int(idx.sum()))
    return X, z
