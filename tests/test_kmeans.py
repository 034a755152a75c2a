"""emref.kmeans: step for step against scikit-learn, the two steps apart, properties, edge cases."""

import warnings

import numpy as np
import pytest
from helpers import blob_data
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans

from emref import gmm, kmeans

PROPS = settings(max_examples=40, deadline=None)


def sk_kmeans(X, centers0, tol, max_iter=300):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KMeans(n_clusters=centers0.shape[0], init=centers0, n_init=1,
                      algorithm="lloyd", tol=tol, max_iter=max_iter).fit(X)


def double_empty(X, c0, max_iter):
    """True if, in some iteration, the points that restart empty clusters were all the points
    of their own cluster (one point alone, or both points of a pair). That cluster is then
    empty too: scikit-learn moves it to the biggest cluster's running sum (read before that
    one is averaged, so it is not even a centre), emref keeps its old centre, and the two
    runs part. Found by replaying emref's run."""
    c = c0
    for _ in range(max_iter):
        labels = kmeans.assign(X, c)
        counts = np.bincount(labels, minlength=len(c))
        n_empty = int(np.sum(counts == 0))
        if n_empty:
            dist = ((X - c[labels]) ** 2).sum(axis=1)
            far = np.argsort(dist)[-n_empty:]
            moved = np.bincount(labels[far], minlength=len(c))
            if np.any((moved > 0) & (moved >= counts)):  # a cluster gives away all its points
                return True
        step = kmeans.fit(X, len(c), init=c, max_iter=1, tol=0)
        if np.array_equal(step.centers, c):
            break
        c = step.centers
    return False


def assert_same_as_sklearn(X, c0, tol, max_iter=300):
    ours = kmeans.fit(X, c0.shape[0], init=c0, tol=tol, max_iter=max_iter)
    sk = sk_kmeans(X, c0, tol, max_iter)
    scale = np.abs(X).max()
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, rtol=1e-10,
                               atol=1e-12 * scale)
    np.testing.assert_allclose(ours.inertia, sk.inertia_, rtol=1e-10, atol=1e-12 * scale ** 2)
    assert ours.n_iter == sk.n_iter_
    return ours, sk


# (seed, N, D, K, separation, offset)
PROBLEMS = [
    (0, 60, 2, 3, 6.0, 0.0),     # well separated
    (1, 200, 2, 4, 0.5, 0.0),    # badly separated: many iterations
    (2, 50, 1, 2, 3.0, 0.0),     # one dimension
    (3, 120, 5, 3, 1.0, 0.0),
    (4, 300, 3, 6, 0.8, 10.0),   # offset from the origin
    (5, 40, 4, 1, 2.0, 0.0),     # a single cluster
    (6, 25, 2, 5, 0.3, -3.0),    # few points per cluster, overlapping
    (7, 500, 2, 8, 1.5, 0.0),
]


def problem_id(problem):
    return "seed{}-N{}-D{}-K{}".format(*problem[:4])


def problem_data_and_start(problem, start_seed):
    """The problem's blobs X and k starting centres: data points drawn with the seed
    ``problem seed + start_seed``, moved by a little noise. Returns (X, k, c0)."""
    seed, n, d, k, sep, offset = problem
    X, _ = blob_data(seed, n, d, k, separation=sep, offset=offset)
    gen = np.random.default_rng(seed + start_seed)
    c0 = X[gen.choice(n, size=k, replace=False)] + 0.1 * gen.normal(size=(k, d))
    return X, k, c0


@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("problem", PROBLEMS, ids=problem_id)
def test_fit_equals_sklearn_lloyd(problem, tol):
    X, _, c0 = problem_data_and_start(problem, 100)
    ours, _ = assert_same_as_sklearn(X, c0, tol)
    assert ours.converged == (ours.n_iter < 300)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 300), st.integers(0, 2 ** 32 - 1),
       st.sampled_from([0.2, 1.0, 3.0, 10.0]), st.sampled_from([0.0, 1e-4]),
       st.sampled_from([1, 2, 5, 300]))
def test_fit_equals_sklearn_on_random_problems(k, d, extra, seed, sep, tol, max_iter):
    n = k + extra
    X, _ = blob_data(seed, n, d, k, separation=sep)
    gen = np.random.default_rng(seed)
    c0 = X[gen.choice(n, size=k, replace=False)] + 0.1 * gen.normal(size=(k, d))
    assume(not double_empty(X, c0, max_iter))
    assert_same_as_sklearn(X, c0, tol, max_iter=max_iter)


def test_relocated_point_leaving_its_cluster_empty():
    """k = N: the empty cluster 0 takes the point farthest from its centre, which was alone
    in cluster 1; cluster 1 keeps its old centre (scikit-learn differs here, see
    double_empty) and everything stays finite and consistent."""
    X = np.array([[-0.398], [-0.368], [0.319], [0.647]])
    c0 = np.array([[-0.498], [0.409], [-0.353], [0.593]])
    np.testing.assert_array_equal(kmeans.assign(X, c0), [2, 2, 1, 3])  # cluster 0 empty
    assert double_empty(X, c0, 1)
    res = kmeans.fit(X, 4, init=c0, max_iter=1, tol=0)
    np.testing.assert_allclose(res.centers, [[0.319], [0.409], [-0.383], [0.647]])
    res = kmeans.fit(X, 4, init=c0, tol=0)
    assert np.all(np.isfinite(res.centers))
    np.testing.assert_array_equal(res.labels, kmeans.assign(X, res.centers))
    assert res.inertia == pytest.approx(kmeans.inertia(X, res.centers), abs=1e-15)


@pytest.mark.parametrize("max_iter", [1, 2, 5, 10])
def test_fit_equals_sklearn_after_n_iterations(blobs, max_iter):
    X, _ = blobs(11, 300, 2, 5, separation=0.7)
    c0 = X[:5].copy()
    ours, _ = assert_same_as_sklearn(X, c0, 0.0, max_iter=max_iter)
    assert ours.n_iter == max_iter and not ours.converged


@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("n_far", [1, 2])
def test_empty_cluster_equals_sklearn(blobs, tol, n_far):
    """A centre far from all data gets no points in the first step: it takes the point
    farthest from its centre, as in scikit-learn."""
    X, _ = blobs(21, 80, 2, 3, separation=3.0)
    c0 = X[:4].copy()
    c0[:n_far] = 1e3 + np.arange(n_far)[:, None]
    ours, _ = assert_same_as_sklearn(X, c0, tol)
    assert np.all(np.isfinite(ours.centers))
    assert np.bincount(ours.labels, minlength=4).min() >= 1


@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_duplicate_initial_centres_equal_sklearn(blobs, tol):
    """Two equal centres: ties go to the lower index, the other cluster is empty at once."""
    X, _ = blobs(3, 100, 2, 3)
    c0 = np.r_[X[:2], X[:1]]
    ours, _ = assert_same_as_sklearn(X, c0, tol)
    assert len({tuple(c) for c in ours.centers}) == 3


def test_integer_data_equal_sklearn(blobs):
    X, _ = blobs(4, 100, 2, 3)
    Xi = np.round(3 * X).astype(int)
    assert_same_as_sklearn(Xi.astype(float), Xi[:3] + 0.5, 0.0)
    res = kmeans.fit(Xi, 3, init=Xi[:3] + 0.5)
    np.testing.assert_array_equal(res.labels, kmeans.fit(Xi.astype(float), 3,
                                                         init=Xi[:3] + 0.5).labels)


def test_empty_cluster_first_step_moves_farthest_point():
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    c0 = np.array([[1.0], [500.0]])
    res = kmeans.fit(X, 2, init=c0, max_iter=1, tol=0)
    # step 1: all points to centre 0 (mean 3.25); centre 1 is empty and takes the point
    # farthest from centre 0's old position (x = 10), which leaves centre 0's sum.
    np.testing.assert_allclose(res.centers, [[1.0], [10.0]])


@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_start_at_fixed_point_stops_after_one_iteration(tol):
    """Exact arithmetic: the centres do not move, which is convergence even with tol=0
    (scikit-learn's rule: total squared shift <= tol)."""
    X = np.array([[-3.0], [-1.0], [1.0], [3.0]])
    c0 = np.array([[-2.0], [2.0]])
    ours, _ = assert_same_as_sklearn(X, c0, tol)
    assert ours.n_iter == 1 and ours.converged
    np.testing.assert_array_equal(ours.centers, c0)


def test_tol_zero_runs_longer_than_default_tol(blobs):
    X, _ = blobs(3, 400, 2, 6, separation=0.5)
    c0 = X[:6].copy()
    loose, _ = assert_same_as_sklearn(X, c0, 1e-2)
    exact, _ = assert_same_as_sklearn(X, c0, 0.0)
    assert exact.n_iter > loose.n_iter
    # tol=0 stops only at an exact fixed point
    assert exact.converged
    np.testing.assert_array_equal(kmeans.assign(X, exact.centers), exact.labels)
    np.testing.assert_allclose(kmeans.update(X, exact.labels, 6), exact.centers, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Result invariants and properties
# --------------------------------------------------------------------------------------------

@st.composite
def kmeans_problems(draw):
    k = draw(st.integers(1, 5))
    n = draw(st.integers(k, 60))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    sep = draw(st.sampled_from([0.0, 0.5, 2.0, 10.0]))
    X, _ = blob_data(seed, n, d, k, separation=sep)
    if draw(st.booleans()):  # coarse values: many duplicate points and ties
        X = np.round(X)
    return X, k, seed


def _assert_nearest(X, centers, labels):
    """Every label names a nearest centre: the reference ``assign``'s, or one whose squared
    distance equals the nearest within rounding (the fast path's ||x||² - 2μᵀx + ||μ||² and
    the reference's ||x - μ||² may break a tie differently)."""
    reference = kmeans.assign(X, centers)
    dist_sq = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    rows = np.arange(X.shape[0])
    own, best = dist_sq[rows, labels], dist_sq[rows, reference]
    scale = 1e-12 * (1.0 + (X * X).sum(axis=1) + (centers[labels] ** 2).sum(axis=1))
    differ = labels != reference
    assert np.all(own[differ] - best[differ] <= scale[differ]), (
        f"labels {labels[differ]} are not nearest (reference {reference[differ]}): "
        f"{own[differ]} against {best[differ]}")


def test_a_label_at_a_rounding_tie_may_name_either_centre():
    """The check above fails a label that is not a nearest centre, and passes a tie."""
    X = np.array([[-1.0], [0.0], [3.0]])
    centers = np.array([[-1.0 + 2.0 ** -52], [0.0], [-1.0]])
    _assert_nearest(X, centers, np.array([0, 1, 1]))
    _assert_nearest(X, centers, np.array([2, 1, 1]))
    with pytest.raises(AssertionError, match="not nearest"):
        _assert_nearest(X, centers, np.array([1, 1, 1]))


@PROPS
@given(kmeans_problems(), st.sampled_from(["k-means++", "random"]), st.sampled_from([0.0, 1e-4]))
def test_fit_invariants_and_inertia_never_increases(problem, init, tol):
    X, k, seed = problem
    res = kmeans.fit(X, k, init=init, tol=tol, seed=seed)
    assert res.centers.shape == (k, X.shape[1]) and res.labels.shape == (X.shape[0],)
    assert np.all(np.isfinite(res.centers))
    assert len(res.history) == res.n_iter >= 1
    # labels and inertia belong to the returned centres: each label is the reference
    # assignment's, or (two centres equidistant from the point up to rounding, e.g. two
    # centres 1 ulp apart on duplicated data) a centre at the same squared distance
    _assert_nearest(X, res.centers, res.labels)
    exact = kmeans.inertia(X, res.centers, res.labels)
    assert res.inertia == pytest.approx(exact, rel=1e-12, abs=1e-12)
    assert res.history[-1] == pytest.approx(exact, rel=1e-9, abs=1e-9 * (1 + np.sum(X * X)))
    slack = 1e-10 * (1 + np.sum(X * X))
    assert np.all(np.diff(res.history) <= slack)


@PROPS
@given(kmeans_problems())
def test_each_step_lowers_inertia(problem):
    """J(r, μ) never increases under assign (fixed μ) nor under update (fixed r)."""
    X, k, seed = problem
    c = kmeans.init_plusplus(X, k, seed=seed)
    slack = 1e-10 * (1 + np.sum(X * X))
    J = np.inf
    labels = np.zeros(X.shape[0], dtype=int)
    for _ in range(5):
        labels = kmeans.assign(X, c)
        J_assign = kmeans.inertia(X, c, labels)
        assert J_assign <= J + slack
        if np.bincount(labels, minlength=k).min() == 0:
            break  # an empty cluster has no mean: update's rule moves a point instead
        c = kmeans.update(X, labels, k)
        J = kmeans.inertia(X, c, labels)
        assert J <= J_assign + slack


@PROPS
@given(kmeans_problems())
def test_update_equals_per_cluster_means(problem):
    X, k, seed = problem
    labels = np.random.default_rng(seed).integers(0, k, size=X.shape[0])
    labels[:k] = np.arange(k)  # no cluster empty
    expected = np.array([X[labels == j].mean(axis=0) for j in range(k)])
    np.testing.assert_allclose(kmeans.update(X, labels, k), expected, rtol=1e-12, atol=1e-12)


@PROPS
@given(kmeans_problems())
def test_assign_is_nearest_centre(problem):
    X, k, seed = problem
    c = np.random.default_rng(seed).normal(size=(k, X.shape[1])) * 3
    d2 = ((X[:, None, :] - c[None]) ** 2).sum(axis=2)
    labels = kmeans.assign(X, c)
    np.testing.assert_allclose(d2[np.arange(len(X)), labels], d2.min(axis=1),
                               rtol=1e-9, atol=1e-9)


def test_update_empty_cluster_takes_point_farthest_from_data_mean():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [7.0, 7.0]])
    centers = kmeans.update(X, np.array([0, 0, 0, 0]), 2)
    assert np.all(np.isfinite(centers))
    np.testing.assert_allclose(centers, [[1 / 3, 1 / 3], [7.0, 7.0]])


@PROPS
@given(kmeans_problems(), st.floats(0.0, 50.0))
def test_soft_assign_is_a_distribution(problem, beta):
    X, k, seed = problem
    c = kmeans.init_plusplus(X, k, seed=seed)
    r = kmeans.soft_assign(X, c, beta)
    assert r.shape == (X.shape[0], k)
    assert np.all((r >= 0) & (r <= 1))
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_soft_assign_tends_to_hard_assign(blobs):
    X, _ = blobs(8, 100, 2, 3, separation=3.0)
    c = X[:3] + 0.01
    hard = kmeans.assign(X, c)
    onehot = np.eye(3)[hard]
    nearest = []
    for beta in [0.0, 0.1, 1.0, 10.0, 100.0]:
        r = kmeans.soft_assign(X, c, beta)
        nearest.append(r[np.arange(len(X)), hard])
    # the nearest centre's share grows with β, from uniform at β = 0 ...
    np.testing.assert_allclose(nearest[0], 1 / 3)
    assert np.all(np.diff(np.array(nearest), axis=0) >= -1e-15)
    # ... to the hard assignment; also for stiffnesses whose logits overflow a float
    for beta in [1e6, 1e300, 1e308]:
        r = kmeans.soft_assign(X, c, beta)
        np.testing.assert_array_equal(r, onehot)


def test_soft_assign_equals_gmm_responsibilities(blobs):
    """Soft k-means is a GMM with equal weights and Σ_k = I / (2β)."""
    X, _ = blobs(9, 50, 3, 4, separation=1.0)
    c = X[:4] + 0.1
    beta = 0.7
    params = gmm.GMMParams(np.full(4, 0.25), c, np.broadcast_to(np.eye(3) / (2 * beta), (4, 3, 3)))
    np.testing.assert_allclose(kmeans.soft_assign(X, c, beta), gmm.predict_proba(X, params),
                               rtol=1e-9, atol=1e-12)


def test_init_plusplus_picks_distinct_data_points(blobs):
    X, _ = blobs(4, 100, 3, 5)
    c = kmeans.init_plusplus(X, 5, seed=0)
    idx = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in c]
    assert len(set(idx)) == 5
    np.testing.assert_array_equal(c, kmeans.init_plusplus(X, 5, seed=0))
    np.testing.assert_array_equal(c, kmeans.init_plusplus(X, 5, seed=np.random.default_rng(0)))


def test_init_plusplus_prefers_far_points():
    """With a lone far point the second centre is almost surely that point."""
    X = np.r_[np.zeros((50, 1)) + np.linspace(0, 0.01, 50)[:, None], [[1000.0]]]
    hits = sum(1000.0 in kmeans.init_plusplus(X, 2, seed=s) for s in range(20))
    assert hits == 20


def test_seed_reproducible_and_n_init_keeps_best(blobs):
    X, _ = blobs(5, 200, 2, 5, separation=1.0)
    a = kmeans.fit(X, 5, seed=7)
    b = kmeans.fit(X, 5, seed=7)
    np.testing.assert_array_equal(a.centers, b.centers)
    best = kmeans.fit(X, 5, n_init=10, seed=7)  # its first start is the run of `a`
    assert best.inertia <= a.inertia
    runs = [kmeans.fit(X, 5, init="random", seed=s).inertia for s in range(5)]
    assert len(set(np.round(runs, 8))) > 1  # different starts really differ


# --------------------------------------------------------------------------------------------
# Degenerate but valid data
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_all_points_equal(init, k):
    X = np.full((5, 2), 3.5)
    res = kmeans.fit(X, k, init=init, seed=0)
    np.testing.assert_array_equal(res.centers, np.full((k, 2), 3.5))
    assert res.inertia == 0.0
    assert np.all(np.isfinite(res.history))


def test_duplicate_points():
    X = np.array([[0.0, 0.0]] * 6 + [[5.0, 5.0]] * 4)
    res = kmeans.fit(X, 3, seed=1)
    assert np.all(np.isfinite(res.centers)) and res.inertia == pytest.approx(0.0, abs=1e-12)
    assert set(map(tuple, res.centers)) == {(0.0, 0.0), (5.0, 5.0)}
    # k-means++ on all-duplicate data falls back to a uniform draw
    c = kmeans.init_plusplus(X[:6], 3, seed=0)
    np.testing.assert_array_equal(c, np.zeros((3, 2)))


def test_k_equals_n(blobs):
    X, _ = blobs(6, 12, 2, 3)
    res = kmeans.fit(X, 12, seed=0)
    # zero up to the rounding of adding the data mean back to the centres (see below)
    assert res.inertia <= 12 * (4 * np.finfo(float).eps) ** 2 * (X ** 2).max()
    assert sorted(res.labels) == list(range(12))
    # Each centre is its point. Lloyd runs on centred data (as scikit-learn does, which keeps
    # the two equal to the last bit), so adding the mean back may differ in the last bit.
    np.testing.assert_allclose(res.centers[res.labels], X, rtol=0, atol=4 * np.finfo(float).eps
                               * np.abs(X).max())


# --------------------------------------------------------------------------------------------
# The fast loop of fit against the readable steps
# --------------------------------------------------------------------------------------------

def plain_lloyd(X, c0, max_iter):
    """Lloyd's algorithm from the public steps assign (9.2) and update (9.4), stopping as fit
    does with tol=0: when an update leaves the labels or the centres unchanged. Returns
    (centres, labels, n_iter), or None if a cluster empties on the way (fit then follows
    scikit-learn's relocation rule, update its own)."""
    k = c0.shape[0]
    c = c0
    labels = kmeans.assign(X, c)
    relabelled = True
    for it in range(1, max_iter + 1):
        if np.bincount(labels, minlength=k).min() == 0:
            return None
        new = kmeans.update(X, labels, k)
        shift = ((new - c) ** 2).sum()
        c = new
        if (not relabelled and it > 1) or shift <= 0:
            break
        new_labels = kmeans.assign(X, c)
        relabelled = bool(np.any(new_labels != labels))
        labels = new_labels
    return c, kmeans.assign(X, c), it


@pytest.mark.parametrize("max_iter", [1, 2, 5, 300])
@pytest.mark.parametrize("problem", PROBLEMS, ids=problem_id)
def test_fast_fit_equals_plain_steps(problem, max_iter):
    X, k, c0 = problem_data_and_start(problem, 7)
    plain = plain_lloyd(X, c0, max_iter)
    if plain is None:
        pytest.skip("a cluster empties: the two relocation rules differ by design")
    centers, labels, n_iter = plain
    fast = kmeans.fit(X, k, init=c0, max_iter=max_iter, tol=0)
    np.testing.assert_allclose(fast.centers, centers, rtol=1e-10, atol=1e-10 * np.abs(X).max())
    np.testing.assert_array_equal(fast.labels, labels)
    assert fast.n_iter == n_iter
    assert fast.inertia == pytest.approx(kmeans.inertia(X, centers, labels), rel=1e-10)
