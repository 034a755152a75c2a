"""Invalid input: the exception type (ValueError for wrong values and shapes, TypeError for
wrong kinds) and a message that names the argument."""

import re

import numpy as np
import pytest

from emref import datasets, em, gmm, kmeans

X = np.random.default_rng(0).normal(size=(20, 2))
N, D = X.shape
W = np.array([0.4, 0.6])
MU = np.array([[0.0, 0.0], [1.0, 1.0]])
COV = np.stack([np.eye(2), [[2.0, 0.5], [0.5, 1.0]]])
PARAMS = gmm.GMMParams(W, MU, COV)
RESP = gmm.e_step(X, PARAMS)[0]
LABELS = np.arange(N) % 2


def with_nan(a, where=(0, 0), value=np.nan):
    a = np.array(a, dtype=float)
    a[where] = value
    return a


def bad_resp_sum():
    r = RESP.copy()
    r[3] *= 0.9
    return r


def negative_resp():
    r = RESP.copy()
    r[0] = [1.5, -0.5]
    return r


# Data X, shared by every function that takes it: (id, X, exception, word in message)
BAD_DATA = [
    ("nan", with_nan(X), ValueError),
    ("inf", with_nan(X, (3, 1), np.inf)),
    ("-inf", with_nan(X, (5, 0), -np.inf)),
    ("empty", np.empty((0, 2)), ValueError),
    ("no-features", np.empty((5, 0)), ValueError),
    ("1-D", X[:, 0], ValueError),
    ("3-D", X[None], ValueError),
    ("scalar", 3.0, ValueError),
    ("string", "data", TypeError),
    ("None", None, TypeError),
    ("strings-inside", [["a", "b"], ["c", "d"]], TypeError),
    ("ragged", [[1.0, 2.0], [3.0]], TypeError),
]
BAD_DATA = [(r[0], r[1], r[2] if len(r) > 2 else ValueError) for r in BAD_DATA]

DATA_TAKERS = {
    "kmeans.fit": lambda X_: kmeans.fit(X_, 1),
    "kmeans.assign": lambda X_: kmeans.assign(X_, MU),
    "kmeans.update": lambda X_: kmeans.update(X_, LABELS, 2),
    "kmeans.inertia": lambda X_: kmeans.inertia(X_, MU),
    "kmeans.init_plusplus": lambda X_: kmeans.init_plusplus(X_, 1),
    "kmeans.soft_assign": lambda X_: kmeans.soft_assign(X_, MU, 1.0),
    "gmm.log_gaussian": lambda X_: gmm.log_gaussian(X_, MU, COV),
    "gmm.e_step": lambda X_: gmm.e_step(X_, PARAMS),
    "gmm.m_step": lambda X_: gmm.m_step(X_, RESP),
    "gmm.q_function": lambda X_: gmm.q_function(X_, RESP, PARAMS),
    "gmm.fit": lambda X_: gmm.fit(X_, 1),
    "gmm.predict_proba": lambda X_: gmm.predict_proba(X_, PARAMS),
    "gmm.bic": lambda X_: gmm.bic(X_, PARAMS),
}


def check(call, exc, word):
    with pytest.raises(exc) as info:
        call()
    assert info.type is exc, f"raised {info.type.__name__}, expected {exc.__name__}"
    assert re.search(rf"(?<![A-Za-z_]){re.escape(word)}(?![A-Za-z_])", str(info.value)), \
        f"message does not name {word!r}: {info.value}"
    return str(info.value)


# Functions of the mixture model for which NaN means "missing at random" (DESIGN.md): a NaN
# entry is data there, not an error; a row with nothing observed still is.
MISSING_OK = {"gmm.e_step", "gmm.fit", "gmm.predict_proba", "gmm.bic"}


@pytest.mark.parametrize("func", list(DATA_TAKERS), ids=str)
@pytest.mark.parametrize("case,bad,exc", BAD_DATA, ids=[r[0] for r in BAD_DATA])
def test_bad_data(func, case, bad, exc):
    if case == "nan" and func in MISSING_OK:
        out = DATA_TAKERS[func](bad)  # accepted: finite answers, no NaN anywhere
        values = [getattr(out, "loglik", out)] if not isinstance(out, tuple) else list(out)
        assert all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in values)
        all_missing = bad.copy()
        all_missing[1] = np.nan  # a row with nothing observed is still an error
        check(lambda: DATA_TAKERS[func](all_missing), ValueError, "X")
        return
    msg = check(lambda: DATA_TAKERS[func](bad), exc, "X")
    if case == "1-D":
        assert "reshape(-1, 1)" in msg  # tells how to fix it


def test_data_of_wrong_dimension_for_the_parameters():
    X3 = np.zeros((4, 3))
    for call in (lambda: gmm.e_step(X3, PARAMS), lambda: gmm.predict_proba(X3, PARAMS),
                 lambda: gmm.q_function(X3, RESP[:4], PARAMS), lambda: gmm.bic(X3, PARAMS)):
        check(call, ValueError, "X")
    check(lambda: gmm.log_gaussian(X3, MU, COV), ValueError, "means")
    check(lambda: kmeans.assign(X3, MU), ValueError, "centers")


# The number of clusters k, for every function that takes it
K_TAKERS = {
    "kmeans.fit": lambda k: kmeans.fit(X, k),
    "kmeans.init_plusplus": lambda k: kmeans.init_plusplus(X, k),
    "gmm.fit": lambda k: gmm.fit(X, k),
}
BAD_K = [
    ("zero", 0, ValueError),
    ("negative", -2, ValueError),
    ("more-than-N", N + 1, ValueError),
    ("float", 2.0, TypeError),
    ("string", "2", TypeError),
    ("bool", True, TypeError),
    ("None", None, TypeError),
    ("array", np.array([2]), TypeError),
]


@pytest.mark.parametrize("func", list(K_TAKERS), ids=str)
@pytest.mark.parametrize("case,k,exc", BAD_K, ids=[r[0] for r in BAD_K])
def test_bad_k(func, case, k, exc):
    check(lambda: K_TAKERS[func](k), exc, "k")


def test_k_equal_to_n_and_numpy_integers_are_fine():
    # zero up to the rounding of adding the data mean back to the centres
    assert kmeans.fit(X, N, seed=0).inertia <= N * (4 * np.finfo(float).eps) ** 2 * (X ** 2).max()
    assert kmeans.fit(X, np.int64(2), seed=0).centers.shape == (2, 2)
    assert gmm.fit(X, np.int32(2), seed=0).params.n_components == 2


# Seeds, for every function that takes one
SEED_TAKERS = {
    "kmeans.fit": lambda s: kmeans.fit(X, 2, seed=s),
    "kmeans.init_plusplus": lambda s: kmeans.init_plusplus(X, 2, seed=s),
    "gmm.fit": lambda s: gmm.fit(X, 2, seed=s),
    "gmm.sample": lambda s: gmm.sample(PARAMS, 5, seed=s),
    "datasets.two_gaussians": lambda s: datasets.two_gaussians(5, seed=s),
}
BAD_SEED = [
    ("negative", -1, ValueError),
    ("float", 1.5, TypeError),
    ("string", "42", TypeError),
    ("bool", True, TypeError),
    ("RandomState", np.random.RandomState(0), TypeError),
    ("list", [1, 2], TypeError),
]


@pytest.mark.parametrize("func", list(SEED_TAKERS), ids=str)
@pytest.mark.parametrize("case,seed,exc", BAD_SEED, ids=[r[0] for r in BAD_SEED])
def test_bad_seed(func, case, seed, exc):
    check(lambda: SEED_TAKERS[func](seed), exc, "seed")


# Everything else: (id, call, exception, word in message)
CASES = [
    # --- GMMParams: weights
    ("weights-negative", lambda: gmm.GMMParams([1.2, -0.2], MU, COV), ValueError, "weights"),
    ("weights-sum-low", lambda: gmm.GMMParams([0.4, 0.5], MU, COV), ValueError, "weights"),
    ("weights-sum-high", lambda: gmm.GMMParams([0.6, 0.6], MU, COV), ValueError, "weights"),
    ("weights-2-D", lambda: gmm.GMMParams([[0.4, 0.6]], MU, COV), ValueError, "weights"),
    ("weights-empty", lambda: gmm.GMMParams([], MU[:0], COV[:0]), ValueError, "weights"),
    ("weights-nan", lambda: gmm.GMMParams([np.nan, 0.6], MU, COV), ValueError, "weights"),
    ("weights-string", lambda: gmm.GMMParams("0.4 0.6", MU, COV), TypeError, "weights"),
    # --- GMMParams: means
    ("means-too-many", lambda: gmm.GMMParams(W, np.zeros((3, 2)), COV), ValueError, "means"),
    ("means-1-D", lambda: gmm.GMMParams(W, [0.0, 1.0], COV), ValueError, "means"),
    ("means-inf", lambda: gmm.GMMParams(W, with_nan(MU, (1, 1), np.inf), COV), ValueError,
     "means"),
    ("means-wrong-D", lambda: gmm.GMMParams(W, np.zeros((2, 3)), COV), ValueError,
     "covariances"),
    # --- GMMParams: covariances
    ("cov-2-D", lambda: gmm.GMMParams(W, MU, np.eye(2)), ValueError, "covariances"),
    ("cov-wrong-K", lambda: gmm.GMMParams(W, MU, COV[:1]), ValueError, "covariances"),
    ("cov-not-square", lambda: gmm.GMMParams(W, MU, np.ones((2, 2, 3))), ValueError,
     "covariances"),
    ("cov-not-symmetric", lambda: gmm.GMMParams(W, MU, [np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]),
     ValueError, "covariances"),
    ("cov-indefinite", lambda: gmm.GMMParams(W, MU, [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]),
     ValueError, "covariances"),
    ("cov-negative-variance", lambda: gmm.GMMParams(W, MU, [np.eye(2), -np.eye(2)]), ValueError,
     "covariances"),
    ("cov-singular", lambda: gmm.GMMParams(W, MU, [np.eye(2), np.ones((2, 2))]), ValueError,
     "covariances"),
    ("cov-zero", lambda: gmm.GMMParams(W, MU, np.zeros((2, 2, 2))), ValueError, "covariances"),
    ("cov-nan", lambda: gmm.GMMParams(W, MU, with_nan(COV, (0, 0, 0))), ValueError,
     "covariances"),
    ("cov-string", lambda: gmm.GMMParams(W, MU, "identity"), TypeError, "covariances"),
    # --- log_gaussian
    ("log_gaussian-means-D", lambda: gmm.log_gaussian(X, np.zeros((2, 3)), COV), ValueError,
     "means"),
    ("log_gaussian-means-1-D", lambda: gmm.log_gaussian(X, [0.0, 0.0], COV), ValueError,
     "means"),
    ("log_gaussian-cov-shape", lambda: gmm.log_gaussian(X, MU, COV[:, :1]), ValueError,
     "covariances"),
    ("log_gaussian-cov-K", lambda: gmm.log_gaussian(X, MU, COV[:1]), ValueError, "covariances"),
    ("log_gaussian-cov-asym", lambda: gmm.log_gaussian(X, MU, COV + [[0, 1], [0, 0]]),
     ValueError, "covariances"),
    ("log_gaussian-cov-indefinite", lambda: gmm.log_gaussian(X, MU, COV - 1.5 * np.eye(2)),
     ValueError, "covariances"),
    # --- params that are not GMMParams
    ("e_step-params-tuple", lambda: gmm.e_step(X, (W, MU, COV)), TypeError, "params"),
    ("e_step-params-dict", lambda: gmm.e_step(X, {"weights": W}), TypeError, "params"),
    ("q_function-params", lambda: gmm.q_function(X, RESP, None), TypeError, "params"),
    ("sample-params", lambda: gmm.sample((W, MU, COV), 5), TypeError, "params"),
    ("bic-params", lambda: gmm.bic(X, "params"), TypeError, "params"),
    ("aic-params", lambda: gmm.aic(X, [W, MU, COV]), TypeError, "params"),
    ("predict_proba-params", lambda: gmm.predict_proba(X, None), TypeError, "params"),
    # --- responsibilities
    ("resp-rows", lambda: gmm.m_step(X, RESP[:-1]), ValueError, "resp"),
    ("resp-1-D", lambda: gmm.m_step(X, RESP[:, 0]), ValueError, "resp"),
    ("resp-3-D", lambda: gmm.m_step(X, RESP[None]), ValueError, "resp"),
    ("resp-transposed", lambda: gmm.m_step(X, RESP.T), ValueError, "resp"),
    ("resp-row-sum", lambda: gmm.m_step(X, bad_resp_sum()), ValueError, "resp"),
    ("resp-negative", lambda: gmm.m_step(X, negative_resp()), ValueError, "resp"),
    ("resp-nan", lambda: gmm.m_step(X, with_nan(RESP)), ValueError, "resp"),
    ("resp-string", lambda: gmm.m_step(X, "soft"), TypeError, "resp"),
    ("q-resp-K", lambda: gmm.q_function(X, np.full((N, 3), 1 / 3), PARAMS), ValueError, "resp"),
    ("q-resp-rows", lambda: gmm.q_function(X, RESP[:5], PARAMS), ValueError, "resp"),
    ("q-resp-sum", lambda: gmm.q_function(X, bad_resp_sum(), PARAMS), ValueError, "resp"),
    # --- options of the M-step and fit
    ("m_step-cov-type", lambda: gmm.m_step(X, RESP, covariance_type="ful"), ValueError,
     "covariance_type"),
    ("m_step-cov-type-case", lambda: gmm.m_step(X, RESP, covariance_type="Full"), ValueError,
     "covariance_type"),
    ("m_step-reg-negative", lambda: gmm.m_step(X, RESP, reg_covar=-1e-6), ValueError,
     "reg_covar"),
    ("m_step-reg-nan", lambda: gmm.m_step(X, RESP, reg_covar=np.nan), ValueError, "reg_covar"),
    ("m_step-reg-string", lambda: gmm.m_step(X, RESP, reg_covar="1e-6"), TypeError,
     "reg_covar"),
    ("fit-cov-type", lambda: gmm.fit(X, 2, covariance_type="diagonal"), ValueError,
     "covariance_type"),
    ("fit-init-unknown", lambda: gmm.fit(X, 2, init="k-means++"), ValueError, "init"),
    ("fit-init-array", lambda: gmm.fit(X, 2, init=MU), TypeError, "init"),
    ("fit-init-None", lambda: gmm.fit(X, 2, init=None), TypeError, "init"),
    ("fit-init-wrong-K", lambda: gmm.fit(X, 3, init=PARAMS), ValueError, "init"),
    ("fit-init-wrong-D", lambda: gmm.fit(np.zeros((5, 3)) + np.arange(5)[:, None], 2,
                                         init=PARAMS), ValueError, "init"),
    ("fit-tol-negative", lambda: gmm.fit(X, 2, tol=-1e-3), ValueError, "tol"),
    ("fit-tol-inf", lambda: gmm.fit(X, 2, tol=np.inf), ValueError, "tol"),
    ("fit-reg-negative", lambda: gmm.fit(X, 2, reg_covar=-1.0), ValueError, "reg_covar"),
    ("fit-max_iter-negative", lambda: gmm.fit(X, 2, max_iter=-1), ValueError, "max_iter"),
    ("fit-max_iter-float", lambda: gmm.fit(X, 2, max_iter=10.0), TypeError, "max_iter"),
    ("fit-n_init-zero", lambda: gmm.fit(X, 2, n_init=0), ValueError, "n_init"),
    ("fit-n_init-float", lambda: gmm.fit(X, 2, n_init=1.0), TypeError, "n_init"),
    # --- sampling and model selection
    ("sample-n-negative", lambda: gmm.sample(PARAMS, -1), ValueError, "n"),
    ("sample-n-float", lambda: gmm.sample(PARAMS, 2.5), TypeError, "n"),
    ("bic-cov-type", lambda: gmm.bic(X, PARAMS, "general"), ValueError, "covariance_type"),
    ("aic-cov-type", lambda: gmm.aic(X, PARAMS, "general"), ValueError, "covariance_type"),
    ("n_parameters-cov-type", lambda: gmm.n_parameters(PARAMS, "tied "), ValueError,
     "covariance_type"),
    # --- k-means options
    ("kmeans-init-unknown", lambda: kmeans.fit(X, 2, init="kmeans"), ValueError, "init"),
    ("kmeans-init-rows", lambda: kmeans.fit(X, 2, init=np.zeros((3, 2))), ValueError, "init"),
    ("kmeans-init-cols", lambda: kmeans.fit(X, 2, init=np.zeros((2, 3))), ValueError, "init"),
    ("kmeans-init-1-D", lambda: kmeans.fit(X, 2, init=np.zeros(2)), ValueError, "init"),
    ("kmeans-init-nan", lambda: kmeans.fit(X, 2, init=with_nan(MU)), ValueError, "init"),
    ("kmeans-init-None", lambda: kmeans.fit(X, 2, init=None), TypeError, "init"),
    ("kmeans-tol-negative", lambda: kmeans.fit(X, 2, tol=-1e-4), ValueError, "tol"),
    ("kmeans-tol-string", lambda: kmeans.fit(X, 2, tol="small"), TypeError, "tol"),
    ("kmeans-max_iter-zero", lambda: kmeans.fit(X, 2, max_iter=0), ValueError, "max_iter"),
    ("kmeans-max_iter-float", lambda: kmeans.fit(X, 2, max_iter=3.0), TypeError, "max_iter"),
    ("kmeans-n_init-zero", lambda: kmeans.fit(X, 2, n_init=0), ValueError, "n_init"),
    ("kmeans-n_init-bool", lambda: kmeans.fit(X, 2, n_init=True), TypeError, "n_init"),
    # --- k-means steps
    ("assign-centers-D", lambda: kmeans.assign(X, np.zeros((2, 3))), ValueError, "centers"),
    ("assign-centers-1-D", lambda: kmeans.assign(X, np.zeros(2)), ValueError, "centers"),
    ("assign-centers-empty", lambda: kmeans.assign(X, np.zeros((0, 2))), ValueError, "centers"),
    ("assign-centers-nan", lambda: kmeans.assign(X, with_nan(MU)), ValueError, "centers"),
    ("update-labels-shape", lambda: kmeans.update(X, LABELS[:-1], 2), ValueError, "labels"),
    ("update-labels-2-D", lambda: kmeans.update(X, LABELS[:, None], 2), ValueError, "labels"),
    ("update-labels-float", lambda: kmeans.update(X, LABELS.astype(float), 2), TypeError,
     "labels"),
    ("update-labels-too-big", lambda: kmeans.update(X, LABELS + 1, 2), ValueError, "labels"),
    ("update-labels-negative", lambda: kmeans.update(X, LABELS - 1, 2), ValueError, "labels"),
    ("update-k-zero", lambda: kmeans.update(X, LABELS, 0), ValueError, "k"),
    ("update-k-float", lambda: kmeans.update(X, LABELS, 2.0), TypeError, "k"),
    ("inertia-centers", lambda: kmeans.inertia(X, np.zeros((2, 3))), ValueError, "centers"),
    ("inertia-labels-shape", lambda: kmeans.inertia(X, MU, LABELS[:-1]), ValueError, "labels"),
    ("inertia-labels-range", lambda: kmeans.inertia(X, MU, LABELS + 1), ValueError, "labels"),
    ("inertia-labels-float", lambda: kmeans.inertia(X, MU, LABELS * 1.0), TypeError, "labels"),
    ("soft_assign-beta-negative", lambda: kmeans.soft_assign(X, MU, -1.0), ValueError, "beta"),
    ("soft_assign-beta-inf", lambda: kmeans.soft_assign(X, MU, np.inf), ValueError, "beta"),
    ("soft_assign-beta-string", lambda: kmeans.soft_assign(X, MU, "1"), TypeError, "beta"),
    ("soft_assign-centers", lambda: kmeans.soft_assign(X, np.zeros((2, 3)), 1.0), ValueError,
     "centers"),
    # --- the EM loop
    ("em-max_iter", lambda: em.run(lambda p: (None, 0.0), lambda s: None, None, n_points=1,
                                   max_iter=-1), ValueError, "max_iter"),
    ("em-tol", lambda: em.run(lambda p: (None, 0.0), lambda s: None, None, n_points=1,
                              tol=-1.0), ValueError, "tol"),
    # --- data simulators
    ("two_gaussians-n-zero", lambda: datasets.two_gaussians(0), ValueError, "n"),
    ("two_gaussians-n-float", lambda: datasets.two_gaussians(10.0), TypeError, "n"),
]


@pytest.mark.parametrize("case,call,exc,word", CASES, ids=[c[0] for c in CASES])
def test_invalid_input(case, call, exc, word):
    check(call, exc, word)


def test_messages_say_what_was_found_and_what_is_expected():
    msg = check(lambda: gmm.GMMParams([0.4, 0.5], MU, COV), ValueError, "weights")
    assert "sum to 1" in msg and "0.9" in msg
    msg = check(lambda: kmeans.fit(X, N + 1), ValueError, "k")
    assert str(N) in msg and str(N + 1) in msg
    msg = check(lambda: gmm.m_step(X, RESP[:-1]), ValueError, "resp")
    assert str((N - 1, 2)) in msg and str(N) in msg
    msg = check(lambda: gmm.GMMParams(W, MU, [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]),
                ValueError, "covariances")
    assert "positive definite" in msg and "covariances[1]" in msg
    msg = check(lambda: gmm.fit(X, 2, covariance_type="ful"), ValueError, "covariance_type")
    assert "'full'" in msg and "'ful'" in msg


def test_a_covariance_computed_in_float32_is_accepted_and_a_float32_asymmetry_is_not():
    # a scatter matrix summed in float32 is symmetric to float32's rounding only: a few
    # units in the last place apart (BLAS sums S[0, 1] and S[1, 0] in different orders)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3)).astype(np.float32) * np.float32(3.7)
    diff = X - X.mean(axis=0)
    S = diff.T @ diff / np.float32(80)
    S = np.triu(S) + np.triu(S, 1).T  # exactly symmetric, then four ulps off at (0, 1)
    for _ in range(4):
        S[0, 1] = np.nextafter(S[0, 1], np.float32(np.inf))
    assert S.dtype == np.float32 and np.abs(S - S.T).max() / np.abs(S).max() > 1e-8
    weights, means = np.array([1.0]), np.zeros((1, 3))
    params = gmm.GMMParams(weights, means, S[None])  # accepted, symmetrised
    np.testing.assert_allclose(params.covariances[0], S.astype(float), rtol=1e-6)
    # the same asymmetry in a float64 matrix is far above its rounding: refused
    with pytest.raises(ValueError, match="symmetric"):
        gmm.GMMParams(weights, means, S.astype(float)[None])
    # and in float32 an asymmetry of 1e-3 relative is refused too
    bad = S.copy()
    bad[0, 1] += np.float32(1e-3) * np.abs(S).max()
    with pytest.raises(ValueError, match="symmetric"):
        gmm.GMMParams(weights, means, bad[None])
