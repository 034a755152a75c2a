"""Data sets the course uses, shipped with the package (no network, no files outside it).

- :func:`old_faithful`: 272 eruptions of the Old Faithful geyser (Bishop's figures 9.1, 9.8).
- :func:`ice_cream`: the 33 days of Jason Eisner's forward-backward spreadsheet (2002).
- :func:`dishonest_casino`: the fair/loaded die HMM of Durbin et al. (1998), as parameters.
- :func:`two_gaussians`: a simulator for the exam question's two-component model.
- :func:`pos_like`, :func:`pos_like_params`: a part-of-speech-like HMM and tagged sentences.

Sources are listed in ``emref/data/SOURCES.md``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._validation import check_int, check_seed

__all__ = [
    "dishonest_casino",
    "ice_cream",
    "ice_cream_params",
    "old_faithful",
    "pos_like",
    "pos_like_params",
    "standardize",
    "two_gaussians",
]


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


# --------------------------------------------------------------------------------------------
# A part-of-speech-like HMM (for tagged-then-untagged EM)
# --------------------------------------------------------------------------------------------

_POS_TAGS = ("DET", "ADJ", "NOUN", "VERB", "PREP", "PRON")
# Each tag's words, most frequent first. Some words belong to two tags ("light", "run",
# "watch", "fast", "that"): the ambiguity that makes tagging a problem of inference.
_POS_LEXICON = {
    "DET": ("the", "a", "this", "that", "every"),
    "ADJ": ("old", "small", "light", "fast", "green", "quiet"),
    "NOUN": ("dog", "cat", "light", "run", "watch", "river", "idea", "house"),
    "VERB": ("saw", "likes", "run", "watch", "sleeps", "light", "ate"),
    "PREP": ("in", "on", "near", "with", "by"),
    "PRON": ("she", "he", "it", "they", "that"),
}


def pos_like_params():
    """Parameters of a small part-of-speech-like HMM with a STOP state, as a dict.

    Six tags (``states``: DET, ADJ, NOUN, VERB, PREP, PRON) emit words of a 31-word
    vocabulary (``words``); within a tag, word probabilities fall off as 1/rank (Zipf), and
    five words are shared by two or three tags. Sentences start with DET or PRON, and stop
    mostly after a NOUN. Keys: ``states``, ``words``, ``startprob``, ``transmat``,
    ``endprob``, ``emission`` (K, M); build an HMM with ``emref.hmm``.
    """
    words = []
    for tag in _POS_TAGS:
        for w in _POS_LEXICON[tag]:
            if w not in words:
                words.append(w)
    K, M = len(_POS_TAGS), len(words)
    emission = np.zeros((K, M))
    for k, tag in enumerate(_POS_TAGS):
        for rank, w in enumerate(_POS_LEXICON[tag]):
            emission[k, words.index(w)] = 1.0 / (rank + 1)
    emission /= emission.sum(axis=1, keepdims=True)
    #                  DET   ADJ   NOUN  VERB  PREP  PRON   (rows: from; last column: STOP)
    table = np.array([[0.00, 0.35, 0.65, 0.00, 0.00, 0.00, 0.00],   # DET
                      [0.00, 0.15, 0.85, 0.00, 0.00, 0.00, 0.00],   # ADJ
                      [0.00, 0.00, 0.05, 0.45, 0.20, 0.00, 0.30],   # NOUN
                      [0.45, 0.10, 0.00, 0.00, 0.20, 0.15, 0.10],   # VERB
                      [0.80, 0.00, 0.00, 0.00, 0.00, 0.20, 0.00],   # PREP
                      [0.00, 0.00, 0.00, 0.85, 0.10, 0.00, 0.05]])  # PRON
    startprob = np.array([0.6, 0.0, 0.0, 0.0, 0.0, 0.4])
    return {"states": _POS_TAGS, "words": tuple(words), "startprob": startprob,
            "transmat": table[:, :K].copy(), "endprob": table[:, K].copy(),
            "emission": emission}


def pos_like(n_sentences: int, *, seed=None, max_length: int = 50):
    """Simulate tagged sentences from :func:`pos_like_params`.

    Parameters
    ----------
    n_sentences : int >= 1
    seed : None, int or numpy Generator
    max_length : int >= 1, longest sentence: a longer draw is discarded and drawn again, so
        every sentence ends through the STOP state (and has positive probability).

    Returns
    -------
    sentences : list of 1-D int arrays (word indices into ``pos_like_params()["words"]``)
    tags : list of 1-D int arrays (tag indices into ``pos_like_params()["states"]``)
    """
    from . import hmm  # local: hmm does not need datasets
    n_sentences = check_int(n_sentences, "n_sentences", low=1)
    max_length = check_int(max_length, "max_length", low=1)
    rng = check_seed(seed)
    p = pos_like_params()
    params = hmm.HMMParams(p["startprob"], p["transmat"], hmm.Categorical(p["emission"]),
                           p["endprob"])
    sentences, tags = [], []
    while len(sentences) < n_sentences:
        x, z = hmm.sample(params, max_length + 1, rng)
        if len(z) <= max_length:
            sentences.append(x)
            tags.append(z)
    return sentences, tags
