r"""k-means by Lloyd's algorithm, shown as the two steps it is (Bishop, PRML §9.1).

The objective (the *inertia*, Bishop's distortion measure J):

.. math::

    J = \sum_n \sum_k r_{nk} \lVert x_n - \mu_k \rVert^2 .

- Assignment step (:func:`assign`): r_nk = 1 for the nearest centre μ_k; lowers J for fixed μ.
- Update step (:func:`update`): μ_k = mean of the points assigned to k; lowers J for fixed r.

Neither step can raise J, so the inertia never increases. :func:`soft_assign` replaces the
hard r_nk by responsibilities with stiffness β (MacKay, ITILA ch. 20): the bridge to EM.

From the same initial centres, :func:`fit` reproduces scikit-learn's ``KMeans(algorithm=
"lloyd")`` centre for centre: same empty-cluster rule (an empty cluster takes the point
farthest from its centre), same stopping rule (labels unchanged, or total squared centre
shift at most ``tol`` times the mean per-feature variance of X).

:func:`assign` and :func:`update` are the reference, written as Bishop's equations read.
:func:`fit` runs the same iterations faster (Hamerly's bounds, running per-cluster sums,
scikit-learn's arithmetic) in the private module ``emref._kmeans_fast``; the tests check it
against iterating :func:`assign` and :func:`update`, and against scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kmeans_fast as fast
from ._validation import (
    as_float_array,
    check_data,
    check_int,
    check_n_clusters,
    check_real,
    check_seed,
    describe_shape,
)

__all__ = [
    "KMeansResult",
    "assign",
    "fit",
    "inertia",
    "init_plusplus",
    "soft_assign",
    "update",
]


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    centers : ndarray (k, D), the centres μ_k.
    labels : ndarray (N,), the nearest centre of each point (belongs to ``centers``).
    inertia : float, J = Σ_n ||x_n - μ_{label n}||² for these centres and labels.
    n_iter : int, number of Lloyd iterations (assignment + update) of the returned run.
    converged : bool, True if the run stopped before ``max_iter``.
    history : ndarray (n_iter,), the inertia of the centres after each iteration.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    history: np.ndarray


def _check_centers(centers, D: int, name: str = "centers") -> np.ndarray:
    centers = as_float_array(centers, name, ndim=2)
    if centers.shape[1] != D or centers.shape[0] < 1:
        raise ValueError(f"{name} must have shape (k, {D}) to match X; found "
                         f"{describe_shape(centers)}")
    return centers


def assign(X, centers) -> np.ndarray:
    """Assignment step (Bishop 9.2): the index of the nearest centre for each point, (N,).

    r_nk = 1 for k = argmin_j ||x_n - μ_j||², 0 otherwise; ties go to the lowest index.
    """
    X = check_data(X)
    centers = _check_centers(centers, X.shape[1])
    dist_sq = np.empty((X.shape[0], centers.shape[0]))
    for j, mu in enumerate(centers):
        dist_sq[:, j] = ((X - mu) ** 2).sum(axis=1)      # ||x_n - μ_j||²
    return dist_sq.argmin(axis=1)                      # r_nk = 1 for the nearest μ_k  (9.2)


def _check_labels(labels, N: int, k: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (N,):
        raise ValueError(f"labels must have shape ({N},), one per point of X; found "
                         f"{describe_shape(labels)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers; found dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}; found values from {labels.min()} "
                         f"to {labels.max()}")
    return labels


def update(X, labels, k) -> np.ndarray:
    """Update step (Bishop 9.4): each centre becomes the mean of its points, shape (k, D).

    A cluster with no points has no mean. It takes the point of X farthest from the data
    mean (which then leaves its own cluster; several empty clusters take the farthest
    points in turn), so the result is always finite.
    """
    X = check_data(X)
    k = check_int(k, "k", low=1)
    labels = _check_labels(labels, X.shape[0], k).copy()
    empty = np.setdiff1d(np.arange(k), labels)
    if empty.size:
        farthest = np.argsort(-((X - X.mean(axis=0)) ** 2).sum(axis=1), kind="stable")
        labels[farthest[:empty.size]] = empty
    centers = np.empty((k, X.shape[1]))
    for j in range(k):
        members = X[labels == j]                       # the points with r_nj = 1
        if len(members) == 0:                          # only when k > N: the data mean
            members = X
        centers[j] = members.sum(axis=0) / len(members)  # μ_j = Σ_n r_nj x_n / Σ_n r_nj (9.4)
    return centers


def inertia(X, centers, labels=None) -> float:
    """J = Σ_n ||x_n - μ_{label n}||²; with labels=None, each point's nearest centre."""
    X = check_data(X)
    centers = _check_centers(centers, X.shape[1])
    if labels is None:
        labels = assign(X, centers)
    labels = _check_labels(labels, X.shape[0], centers.shape[0])
    return float(((X - centers[labels]) ** 2).sum())


def init_plusplus(X, k, seed=None) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii, 2007), shape (k, D).

    The first centre is a uniformly random point; each next one is a point drawn with
    probability proportional to its squared distance to the nearest centre chosen so far.
    If every point already sits on a centre (duplicates), the draw is uniform.
    """
    X = check_data(X)
    k = check_n_clusters(k, X.shape[0])
    rng = check_seed(seed)
    N = X.shape[0]
    centers = np.empty((k, X.shape[1]))
    centers[0] = X[rng.integers(N)]
    closest = ((X - centers[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = closest.sum()
        p = closest / total if total > 0 else np.full(N, 1.0 / N)
        idx = rng.choice(N, p=p)
        centers[j] = X[idx]
        np.minimum(closest, ((X - centers[j]) ** 2).sum(axis=1), out=closest)
    return centers


def soft_assign(X, centers, beta) -> np.ndarray:
    """Soft k-means responsibilities with stiffness β, shape (N, k).

    r_nk = exp(-β ||x_n - μ_k||²) / Σ_j exp(-β ||x_n - μ_j||²), computed in log space.
    As β → ∞ this becomes the hard assignment of :func:`assign`; at β = 0 it is uniform.
    It equals a Gaussian mixture's responsibilities with equal weights and Σ_k = I / (2β).
    """
    X = check_data(X)
    centers = _check_centers(centers, X.shape[1])
    beta = check_real(beta, "beta", low=0.0)
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    # shift by the nearest distance before scaling: -β·d² may overflow for a stiff β
    d2 -= d2.min(axis=1, keepdims=True)
    with np.errstate(over="ignore"):
        logits = -beta * d2
    r = np.exp(logits)
    r /= r.sum(axis=1, keepdims=True)
    return r


def fit(X, k, *, init="k-means++", n_init: int = 1, max_iter: int = 300, tol: float = 1e-4,
        seed=None) -> KMeansResult:
    """k-means by Lloyd's algorithm.

    Parameters
    ----------
    X : array of shape (N, D)
    k : int, 1 <= k <= N
    init : "k-means++", "random" or array of shape (k, D)
        "random" picks k distinct points of X. With an array, ``n_init`` is ignored.
    n_init : int >= 1
        Number of starts; the run with the lowest inertia is returned.
    max_iter : int >= 1
    tol : float >= 0
        Stop when the total squared centre shift is at most ``tol`` times the mean variance
        of the features of X (scikit-learn's rule). ``tol=0`` stops early only at an exact
        fixed point (labels or centres unchanged).
    seed : None, int or numpy Generator

    Returns
    -------
    KMeansResult
    """
    X = check_data(X)
    k = check_n_clusters(k, X.shape[0])
    n_init = check_int(n_init, "n_init", low=1)
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_real(tol, "tol", low=0.0)
    rng = check_seed(seed)
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(f"init must be 'k-means++', 'random' or an array of shape "
                             f"({k}, {X.shape[1]}); found {init!r}")
        starts = n_init
    else:
        init = _check_centers(init, X.shape[1], name="init")
        if init.shape[0] != k:
            raise ValueError(f"init must have shape ({k}, {X.shape[1]}), one row per "
                             f"cluster; found {describe_shape(init)}")
        starts = 1
    # Lloyd runs on centred data (as scikit-learn does): smaller norms, tighter rounding, and
    # the same arithmetic as scikit-learn, so the two stay equal to the last bit.
    offset = X.mean(axis=0)
    Xc = X - offset
    XT = np.ascontiguousarray(Xc.T)
    x_sq = np.einsum("nd,nd->n", Xc, Xc)
    # scikit-learn's tolerance: tol times the mean variance of the features
    tol_abs = float(x_sq.sum()) / x_sq.size / X.shape[1] * tol
    final = (np.ascontiguousarray(X.T), np.einsum("nd,nd->n", X, X), offset)
    best = None
    for _ in range(starts):
        if isinstance(init, np.ndarray):
            c0 = init.copy()
        elif init == "k-means++":
            c0 = init_plusplus(X, k, seed=rng)
        else:
            c0 = X[rng.choice(X.shape[0], size=k, replace=False)].copy()
        run = fast.lloyd(Xc, XT, x_sq, c0 - offset, max_iter, tol_abs, final)
        if best is None or run[2] < best[2]:
            best = run
    centers, labels, exact, n_iter, converged, history = best
    return KMeansResult(centers=centers, labels=labels, inertia=exact, n_iter=n_iter,
                        converged=converged, history=history)
