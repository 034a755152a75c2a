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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import (as_float_array, check_data, check_int, check_n_clusters,
                          check_real, check_seed, describe_shape)

__all__ = ["KMeansResult", "fit", "assign", "update", "init_plusplus", "soft_assign",
           "inertia"]


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


# Points per block in the assignment step: a (k, block) distance matrix stays in cache.
_BLOCK = 8192


def _nearest(XT: np.ndarray, x_sq: np.ndarray, centers: np.ndarray, second: bool = False):
    """Index of the nearest centre and the squared distance to it, for every point.

    Takes Xᵀ of shape (D, N). ||x - μ||² = ||x||² - 2 μᵀx + ||μ||²: one matrix product for all
    pairs, then a minimum over the k rows (elementwise, fast in numpy). Ties go to the lowest
    index, as in scikit-learn. With ``second=True`` also returns the squared distance to the
    second-nearest centre (inf when k = 1).
    """
    k = centers.shape[0]
    N = XT.shape[1]
    minus2c = -2.0 * centers
    c_sq = (centers * centers).sum(axis=1)[:, None]
    labels = np.empty(N, dtype=np.intp)
    closest = np.empty(N)
    runner_up = np.full(N, np.inf) if second else None
    for start in range(0, N, _BLOCK):
        stop = min(start + _BLOCK, N)
        d = minus2c @ XT[:, start:stop]
        d += c_sq
        best = d.min(axis=0)
        idx = np.full(stop - start, k - 1, dtype=np.intp)
        for j in range(k - 2, -1, -1):
            idx[d[j] == best] = j
        labels[start:stop] = idx
        closest[start:stop] = best
        if second and k > 1:
            d[idx, np.arange(stop - start)] = np.inf
            runner_up[start:stop] = d.min(axis=0)
    closest += x_sq
    np.maximum(closest, 0.0, out=closest)
    if second:
        runner_up += x_sq
        np.maximum(runner_up, 0.0, out=runner_up)
        return labels, closest, runner_up
    return labels, closest


def assign(X, centers) -> np.ndarray:
    """Assignment step: the index of the nearest centre for each point, shape (N,)."""
    X = check_data(X)
    centers = _check_centers(centers, X.shape[1])
    return _nearest(np.ascontiguousarray(X.T), (X * X).sum(axis=1), centers)[0]


def _cluster_sums(XT: np.ndarray, labels: np.ndarray, k: int):
    """Per-cluster sums of the points (k, D) and counts (k,)."""
    sums = np.stack([np.bincount(labels, weights=row, minlength=k) for row in XT], axis=1)
    return sums, np.bincount(labels, minlength=k).astype(float)


def _centers_from_sums(X, labels, sums, counts, old_centers) -> np.ndarray:
    """μ_k = (Σ_{n in k} x_n) / N_k, with scikit-learn's rule for an empty cluster: it restarts
    at the point farthest from its own centre, and that point's weight moves with it (so
    results stay comparable with scikit-learn)."""
    sums, counts = sums.copy(), counts.copy()
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        dist = ((X - old_centers[labels]) ** 2).sum(axis=1)
        far = np.argpartition(dist, -empty.size)[:-empty.size - 1:-1]
        for new_id, i in zip(empty, far):
            old_id = labels[i]
            sums[old_id] -= X[i]
            sums[new_id] = X[i]
            counts[new_id] = 1.0
            counts[old_id] -= 1.0
    centers = np.array(old_centers, dtype=float)
    nonempty = counts > 0
    # times the reciprocal, not divided: the same rounding as scikit-learn
    centers[nonempty] = sums[nonempty] * (1.0 / counts[nonempty, None])
    return centers


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
    """Update step: each centre becomes the mean of its points, shape (k, D).

    A cluster with no points has no mean. It takes the point of X farthest from the data
    mean, so the result is always finite: this is the rule :func:`fit` uses (an empty cluster
    takes the point farthest from its own centre, as in scikit-learn) with every previous
    centre at the data mean.
    """
    X = check_data(X)
    k = check_int(k, "k", low=1)
    labels = _check_labels(labels, X.shape[0], k)
    sums, counts = _cluster_sums(np.ascontiguousarray(X.T), labels, k)
    return _centers_from_sums(X, labels, sums, counts,
                              np.broadcast_to(X.mean(axis=0), (k, X.shape[1])))


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


def _own_distance_sq(XT: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """||x_n - μ_{label n}||², computed directly (no expansion, so no cancellation).

    One feature at a time: a 1-D ``take`` per feature is several times faster than gathering
    whole rows of centres."""
    out = np.zeros(XT.shape[1])
    for d in range(XT.shape[0]):
        diff = XT[d] - np.take(centers[:, d], labels)
        diff *= diff
        out += diff
    return out


def _nearest_two(XT: np.ndarray, x_sq: np.ndarray, centers: np.ndarray):
    """Nearest centre, an upper bound on the distance to it and a lower bound on the
    distance to every other centre."""
    labels, closest, runner_up = _nearest(XT, x_sq, centers, second=True)
    # The expanded distances can be off by a few ulps of ||x||² + ||μ||²: widen both bounds
    # by that much so that they stay bounds.
    err = 8 * np.finfo(float).eps * (x_sq + (centers * centers).sum(axis=1).max())
    upper = np.sqrt(closest + err)
    lower = np.sqrt(np.maximum(runner_up - err, 0.0))
    return labels, upper, lower


class _Clusters:
    """Per-cluster statistics of the current labels, kept up to date as points change
    cluster (only the movers are touched): ``stats[k] = (Σx, Σ||x||², N_k)``.

    Around an empty-cluster restart the statistics are recomputed from scratch, in the
    iteration of the restart and in the next. Running sums differ from fresh ones in the last
    bit, and there a zero centre shift (which stops a run with ``tol=0``) depends on that
    bit: fresh sums on both sides make the decision scikit-learn's."""

    def __init__(self, XT, x_sq, labels, k):
        self.refresh(XT, x_sq, labels, k)

    def refresh(self, XT, x_sq, labels, k):
        sums, counts = _cluster_sums(XT, labels, k)
        sq = np.bincount(labels, weights=x_sq, minlength=k)
        self.stats = np.column_stack([sums, sq, counts])
        self.restarted = False

    def move(self, XT, x_sq, movers, old, new):
        """Points ``movers`` leave clusters ``old`` for clusters ``new``."""
        k = self.stats.shape[0]
        columns = [XT[d, movers] for d in range(XT.shape[0])] + [x_sq[movers], None]
        for c, col in enumerate(columns):
            self.stats[:, c] += (np.bincount(new, weights=col, minlength=k)
                                 - np.bincount(old, weights=col, minlength=k))

    def inertia(self, centers) -> float:
        """J = Σ_k (Σ_{n in k} ||x_n||² - 2 μ_kᵀ Σ_{n in k} x_n + N_k ||μ_k||²)."""
        sums, sq, counts = self.stats[:, :-2], self.stats[:, -2], self.stats[:, -1]
        return float(max(0.0, (sq - 2.0 * (centers * sums).sum(axis=1)
                               + counts * (centers * centers).sum(axis=1)).sum()))

    def centers(self, X, XT, x_sq, labels, old_centers):
        if np.any(self.stats[:, -1] == 0):
            self.refresh(XT, x_sq, labels, self.stats.shape[0])
            self.restarted = True
        return _centers_from_sums(X, labels, self.stats[:, :-2], self.stats[:, -1],
                                  old_centers)


def _lloyd(X, XT, x_sq, centers, max_iter, tol_abs, final):
    """Lloyd's iterations, accelerated with Hamerly's (2010) distance bounds.

    The iterates are exactly Lloyd's: the bounds only skip the distance computations of
    points whose nearest centre provably cannot have changed. For each point, ``upper`` is
    at least its distance to its centre and ``lower`` at most its distance to any other;
    after the centres move, upper grows by its own centre's move and lower shrinks by the
    largest move. A point is looked at again only if upper exceeds both lower and half the
    distance from its centre to the nearest other centre.
    """
    k = centers.shape[0]
    labels, upper, lower = _nearest_two(XT, x_sq, centers)
    clusters = _Clusters(XT, x_sq, labels, k)
    # Rounding slack on every bound, so that a tie or near-tie is never skipped.
    slack = 1e-9 * np.sqrt(x_sq.max()) + 1e-300
    relabelled = True  # did the last assignment step change any label?
    converged = False
    seen = []  # inertia of the centres entering each iteration
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if clusters.restarted:
            clusters.refresh(XT, x_sq, labels, k)
        seen.append(clusters.inertia(centers))
        new_centers = clusters.centers(X, XT, x_sq, labels, centers)
        moves = np.sqrt(((new_centers - centers) ** 2).sum(axis=1))
        shift = float((moves ** 2).sum())
        centers = new_centers
        # tol=0: shift <= 0 means the centres did not move, an exact fixed point (sklearn)
        if (not relabelled and n_iter > 1) or shift <= tol_abs:
            converged = True
            break
        relabelled = False
        if k == 1:
            continue
        upper += np.take(moves, labels)
        lower -= moves.max() + slack
        between = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
        np.fill_diagonal(between, np.inf)
        half_gap = 0.5 * between.min(axis=1) - slack
        bound = np.maximum(np.take(half_gap, labels), lower)
        idx = np.flatnonzero(upper > bound)
        if idx.size == 0:
            continue
        if idx.size < upper.size // 4:
            # Few candidates: tightening the upper bound first often clears them. With many,
            # recomputing all their distances at once is cheaper than the extra pass.
            upper[idx] = np.sqrt(_own_distance_sq(XT[:, idx], centers, labels[idx]))
            idx = idx[upper[idx] > bound[idx]]
            if idx.size == 0:
                continue
        new_labels, upper[idx], lower[idx] = _nearest_two(XT[:, idx], x_sq[idx], centers)
        changed = new_labels != labels[idx]
        if np.any(changed):
            movers = idx[changed]
            clusters.move(XT, x_sq, movers, labels[movers], new_labels[changed])
            labels[movers] = new_labels[changed]
            relabelled = True
    # Labels and inertia of the returned centres, in the caller's coordinates (``final`` =
    # (Xᵀ, ||x||², offset) of the uncentred data), so that they belong to those centres.
    XT0, x_sq0, offset = final
    centers = centers + offset
    labels, closest = _nearest(XT0, x_sq0, centers)
    history = np.array(seen[1:] + [closest.sum()])
    exact = float(_own_distance_sq(XT0, centers, labels).sum())
    return centers, labels, exact, n_iter, converged, history


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
        run = _lloyd(Xc, XT, x_sq, c0 - offset, max_iter, tol_abs, final)
        if best is None or run[2] < best[2]:
            best = run
    centers, labels, exact, n_iter, converged, history = best
    return KMeansResult(centers=centers, labels=labels, inertia=exact, n_iter=n_iter,
                        converged=converged, history=history)
