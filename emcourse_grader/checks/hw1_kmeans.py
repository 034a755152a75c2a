"""hw1 (k-means, hard and soft): the checks of ``assign``, ``update``, ``fit``, ``soft_assign``.

The notebook's ``assign(X, centers)`` and ``update(X, labels, k)`` have emref's signatures, so
``kmeans.fit`` uses emref's own functions as the course's versions of the earlier parts.
Its history must be the run's own: the inertia after each update of Lloyd's algorithm from the
check's initial centres, recomputed here (a ready-made k-means with a made-up history fails).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from emref import kmeans

from ._common import (
    Fail,
    as_array,
    as_tuple,
    best_perm,
    blobs,
    call,
    close,
    finite,
    got_expected,
    num,
    precision,
    q,
    register,
    rows_sum_to_one,
    sqdist,
    tolerances,
    worst_row,
)

__all__: list = []


def _labels(out, name, what, N, K):
    labels = as_array(out, name, what, shape=(N,))
    finite(labels, name, what)
    if not np.all(labels == np.round(labels)):
        i = int(np.flatnonzero(labels != np.round(labels))[0])
        raise Fail(f"{q(name)} returned {what} with label[{i}] = {num(labels[i])}; expected "
                   f"integer indices 0..{K - 1} of the centres")
    labels = labels.astype(int)
    if labels.min() < 0 or labels.max() >= K:
        bad = labels[(labels < 0) | (labels >= K)][0]
        hint = (": Python indices start at 0" if labels.min() >= 1 and labels.max() == K
                else "")
        raise Fail(f"{q(name)} returned {what} with the label {bad}; expected labels "
                   f"0..{K - 1} (one per centre){hint}")
    return labels


@register("kmeans.assign", function="assign", assignment="hw1")
def check_assign(fn, rng):
    for N, D, K in ((7, 1, 2), (60, 2, 3), (300, 5, 6)):
        X, _, _ = blobs(rng, N, D, K)
        C = rng.normal(scale=6.0, size=(K, D))
        ref = kmeans.assign(X, C)
        raw = as_array(call("assign", fn, X, C), "assign", "the labels", shape=(N,))
        if np.all(raw == np.round(raw)) and np.array_equal(raw.astype(int), ref + 1):
            raise Fail(f"{q('assign')} returned labels 1..{K} (point 0: label "
                       f"{int(raw[0])}; expected {ref[0]}); expected 0..{K - 1}: Python "
                       f"indices start at 0")
        out = _labels(raw, "assign", "the labels", N, K)
        if np.array_equal(out, ref):
            continue
        d = sqdist(X, C)
        wrong = np.flatnonzero(out != ref)
        i = int(wrong[0])
        got = (f"point {i} got label {out[i]} (squared distance {num(d[i, out[i]])}); "
               f"expected {ref[i]}, its nearest centre (squared distance {num(d[i, ref[i]])})")
        if np.array_equal(out, d.argmax(axis=1)):
            raise Fail(f"{q('assign')} gives each point its farthest centre: {got}. Take the "
                       f"argmin of the distances, not the argmax")
        raise Fail(f"for {N} points in {D}-D and {K} centres, {q('assign')} gives "
                   f"{len(wrong)} point(s) a centre that is not the nearest: {got}. Compute "
                   f"the squared distance from every point to every centre, then take the "
                   f"argmin over the centres (axis=1)")


@register("kmeans.update", function="update", assignment="hw1")
def check_update(fn, rng):
    for N, D, K in ((6, 1, 2), (60, 2, 3), (300, 4, 5)):
        X, _, z = blobs(rng, N, D, K)
        ref = kmeans.update(X, z, K)
        out = as_array(call("update", fn, X, z, K), "update", "the centres", shape=(K, D))
        finite(out, "update", "the centres")
        if close(out, ref):
            continue
        counts = np.bincount(z, minlength=K)
        bad = int(np.argmax(np.abs(out - ref).max(axis=1)))
        g, e = got_expected(out[bad], ref[bad])
        got = f"centre {bad} is {g}; expected {e}"
        if close(out, ref * counts[:, None]):
            raise Fail(f"{q('update')} returns the sum of each cluster's points ({got}, the "
                       f"mean of its {counts[bad]} points): divide by the number of points "
                       f"N_k of the cluster")
        if close(out, np.broadcast_to(X.mean(axis=0), out.shape)):
            raise Fail(f"{q('update')} returns the mean of all the data for every centre "
                       f"({got}): average only the points whose label is k")
        raise Fail(f"with {K} clusters in {D}-D, {q('update')} returned a centre that is not "
                   f"the mean of its points: {got}, the mean of the {counts[bad]} points "
                   f"labelled {bad}; μ_k = (1/N_k) Σ_(n in k) x_n")


def _inertia(X, centers, labels) -> float:
    return float(((X - centers[labels]) ** 2).sum())


def _lloyd_histories(X, init, K, max_iter=300):
    """The inertia history of Lloyd's algorithm from ``init`` as the notebook words it (J of
    the centres after each update and of the labels they were computed from), and the same
    with the labels of the new centres, a reading that ends on the same value; both hold one
    value per update, and an empty cluster ends them (None)."""
    centers, labels = np.asarray(init, dtype=float), None
    of_update, of_new_labels = [], []
    for _ in range(max_iter):
        new = kmeans.assign(X, centers)
        if labels is not None and np.array_equal(new, labels):
            break
        if np.any(np.bincount(new, minlength=K) == 0):
            return None
        labels = new
        centers = kmeans.update(X, labels, K)
        of_update.append(_inertia(X, centers, labels))
        of_new_labels.append(_inertia(X, centers, kmeans.assign(X, centers)))
    return np.array(of_update), np.array(of_new_labels)


def _lloyd_problem(rng, N, D, K):
    """Data and initial centres (K data points) from which Lloyd's algorithm takes at least
    3 iterations and never empties a cluster (the notebook need not handle empty clusters)."""
    for _ in range(100):
        X, _, _ = blobs(rng, N, D, K, spread=3.0)
        init = X[rng.choice(N, size=K, replace=False)]
        runs = _lloyd_histories(X, init, K, max_iter=301)
        if runs is not None and 3 <= len(runs[0]) <= 300:
            return X, init, runs
    raise AssertionError("no k-means problem found")  # (not reached for the sizes below)


def _check_history(history, runs, N, K):
    """A message unless ``history`` is the inertia history of Lloyd's run from the check's
    initial centres: one value per update (one more, equal to the last, if the loop noticed
    the fixed point only after another update), each the J of that iteration."""
    name = q("fit")
    n = len(runs[0])
    where = f"from these initial centres ({N} points, {K} clusters)"
    if history.size < n:
        raise Fail(f"the inertia history of {name} has {history.size} value(s); {where} "
                   f"Lloyd's algorithm updates the centres {n} times before the labels stop "
                   f"changing, so expected {n} values: append J after every update")
    extra = history.size - n
    if extra > 1 or (extra == 1 and not close(history[-1], history[-2], rtol=1e-9, atol=0)):
        raise Fail(f"the inertia history of {name} has {history.size} values; {where} "
                   f"Lloyd's algorithm updates the centres {n} times before the labels stop "
                   f"changing, so expected {n} values: stop as soon as assign gives the labels "
                   f"of the previous iteration, and append J once per iteration")
    own = history[:n]
    if any(close(own, run, rtol=1e-6, atol=1e-9) for run in runs):
        return
    rtol, atol = tolerances(1e-6, 1e-9)
    off = ~np.isclose(own, runs[0], rtol=rtol, atol=atol) & \
        ~np.isclose(own, runs[1], rtol=rtol, atol=atol)
    i = int(np.flatnonzero(off)[0]) if off.any() else 0
    g, e = got_expected(own[i], runs[0][i])
    raise Fail(f"the inertia history of {name} is not that of Lloyd's run {where}: history[{i}] "
               f"is {g}; expected {e}, the inertia J of the centres after update {i + 1} and "
               f"the labels they were computed from. Append J of the current centres and "
               f"labels after every update")


@register("kmeans.fit", function="fit", assignment="hw1",
          uses={"assign": kmeans.assign, "update": kmeans.update})
def check_fit(fn, rng):
    for N, D, K in ((40, 2, 2), (300, 3, 4)):
        X, init, runs = _lloyd_problem(rng, N, D, K)
        ref = kmeans.fit(X, K, init=init, tol=0, max_iter=300)
        out = as_tuple(call("fit", fn, X, init, max_iter=300), "fit",
                       ("centers", "labels", "history"))
        centers = as_array(out[0], "fit", "the centres", shape=(K, D))
        history = as_array(out[2], "fit", "the inertia history", ndim=1)
        finite(centers, "fit", "the centres", "; a NaN centre is the mean of an empty cluster")
        labels = _labels(out[1], "fit", "the labels", N, K)
        if history.size == 0:
            raise Fail(f"{q('fit')} returned an empty history; expected one inertia per "
                       f"iteration: append J after every update")
        finite(history, "fit", "the inertia history")
        rises = np.flatnonzero(np.diff(history) > 1e-9 * (1 + abs(history[0])))
        if rises.size:
            i = int(rises[0])
            raise Fail(f"the inertia history of {q('fit')} goes up at iteration {i + 1} "
                       f"(from {num(history[i])} to {num(history[i + 1])}); neither step of "
                       f"k-means can raise J: check the order assign -> update and that you "
                       f"record J for the current centres and labels")
        matched = centers[best_perm(centers, ref.centers)]
        if not close(matched, ref.centers, rtol=1e-6, atol=1e-6):
            got = worst_row(matched, ref.centers, "centre")
            raise Fail(f"from the same initial centres ({N} points, {K} clusters) {q('fit')} "
                       f"stops at other centres than Lloyd's algorithm: {got} (matched up to "
                       f"relabelling). Iterate assign then update until the labels stop "
                       f"changing (or max_iter)")
        nearest = kmeans.assign(X, centers)
        if not np.array_equal(labels, nearest):
            i = int(np.flatnonzero(labels != nearest)[0])
            raise Fail(f"{q('fit')} returned labels that are not the nearest centres of the "
                       f"centres it returns: point {i} has label {labels[i]}; expected "
                       f"{nearest[i]}. Assign once more after the last update")
        J = float(((X - centers[labels]) ** 2).sum())
        if not close(history[-1], J, rtol=1e-6, atol=0):
            hint = ""
            if close(history[-1], np.sqrt(((X - centers[labels]) ** 2).sum(axis=1)).sum(),
                     rtol=1e-6, atol=0):
                hint = " (yours is a sum of distances, not of squared distances)"
            g, e = got_expected(history[-1], J)
            raise Fail(f"the last inertia in the history of {q('fit')} is {g}; "
                       f"expected {e}, the inertia J = Σ_n ||x_n - μ_(label n)||² of the "
                       f"centres and labels it returns{hint}")
        _check_history(history, runs, N, K)


def _softmax_rows(logits):
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


@register("kmeans.soft_assign", function="soft_assign", assignment="hw1")
def check_soft_assign(fn, rng):
    name = "soft_assign"
    # soft (most rows spread over several centres) to nearly hard, then so stiff that
    # exp(-β d²) underflows to 0 for every centre
    for N, D, K, beta in ((8, 1, 2, 0.02), (80, 2, 3, 0.05), (200, 3, 4, 0.2), (60, 2, 3, 1.0),
                          (50, 2, 3, 200.0)):
        X, _, _ = blobs(rng, N, D, K)
        C = rng.normal(scale=6.0, size=(K, D))
        if beta > 100:  # stiff: exp(-β d²) underflows to 0 for every centre of some rows
            X = X * 3.0
        ref = kmeans.soft_assign(X, C, beta)
        out = as_array(call(name, fn, X, C, beta), name, f"responsibilities (β = {num(beta)})",
                       shape=(N, K))
        d2 = sqdist(X, C)
        if not np.all(np.isfinite(out)):
            underflow = np.any(np.all(np.exp(-beta * d2) == 0, axis=1))
            hint = (f": at β = {num(beta)}, exp(-β d²) underflows to 0 for every centre of "
                    f"some points and 0/0 is NaN. Subtract the largest -β d² of each row "
                    f"before exp (the log-sum-exp trick)") if underflow else ""
            finite(out, name, f"responsibilities (β = {num(beta)})", hint)
        if K != N and close(out.sum(axis=0), np.ones(K), atol=1e-6) \
                and not close(out.sum(axis=1), np.ones(N), atol=1e-6):
            raise Fail(f"{q(name)} returned responsibilities whose columns sum to 1 and rows "
                       f"do not (row 0 sums to {num(out[0].sum())}); expected every row to "
                       f"sum to 1: normalise over the centres (axis=1), not the points")
        rows_sum_to_one(out, name, f"responsibilities (β = {num(beta)})", "the centres (axis=1)")
        # A computation in single precision rounds each d² by about eps·(|x|² + |μ|²), which
        # β multiplies in the exponent: the tolerance follows (negligible in float64).
        scale = float((X ** 2).sum(axis=1).max() + (C ** 2).sum(axis=1).max())
        if close(out, ref, rtol=1e-6, atol=max(1e-9, 8 * precision() * beta * scale)):
            continue
        got = worst_row(out, ref, "r")
        if close(out, _softmax_rows(beta * d2), atol=1e-9):
            raise Fail(f"{q(name)} favours the farthest centre ({got}): the exponent is "
                       f"-β ||x_n - μ_k||² (mind the minus sign)")
        if beta > 0 and close(out, np.full_like(out, 1.0 / K)):
            raise Fail(f"{q(name)} returned uniform responsibilities at β = {num(beta)} "
                       f"({got}): is β multiplied in?")
        if close(out, _softmax_rows(-beta * np.sqrt(d2)), atol=1e-9):
            raise Fail(f"{q(name)} uses distances where squared distances belong ({got}): the "
                       f"exponent is -β ||x_n - μ_k||²")
        raise Fail(f"{q(name)} differs from r_nk = exp(-β d_nk²) / Σ_j exp(-β d_nj²) at "
                   f"β = {num(beta)}: {got}")
