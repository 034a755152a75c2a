"""The fast Lloyd loop of :func:`emref.kmeans.fit`: Hamerly's bounds, running statistics.

This module is private. The readable reference is :func:`emref.kmeans.assign` and
:func:`emref.kmeans.update` (Bishop eqs 9.2 and 9.4); :func:`lloyd` computes exactly Lloyd's
iterates (the tests compare it with iterating those two steps, and with scikit-learn's
``KMeans(algorithm="lloyd")`` label for label), only faster: Hamerly's (2010) bounds skip
the points whose nearest centre provably has not changed, the per-cluster sums are updated
only for the points that changed cluster, and the arithmetic (centred data, expanded
distances, reciprocal averaging) is scikit-learn's, so that the two stay equal to the last
bit, empty-cluster rule and stopping rule included.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lloyd", "nearest"]


# Points per block in the assignment step: a (k, block) distance matrix stays in cache.
_BLOCK = 8192


def nearest(XT: np.ndarray, x_sq: np.ndarray, centers: np.ndarray, second: bool = False):
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
    labels, closest, runner_up = nearest(XT, x_sq, centers, second=True)
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


def lloyd(X, XT, x_sq, centers, max_iter, tol_abs, final):
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
    labels, closest = nearest(XT0, x_sq0, centers)
    history = np.array(seen[1:] + [closest.sum()])
    exact = float(_own_distance_sq(XT0, centers, labels).sum())
    return centers, labels, exact, n_iter, converged, history
