"""Online (stepwise) EM and incremental EM for Gaussian mixtures, and stepwise EM for
categorical HMMs: step size 1 with one batch against batch EM (scikit-learn, hmmlearn),
convergence to the batch maximum-likelihood estimate, monotone free energy, bad input."""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from emref import gmm

TRUE = gmm.GMMParams([0.3, 0.3, 0.4], [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]],
                     np.stack([np.eye(2), [[1.0, 0.5], [0.5, 1.0]], 0.5 * np.eye(2)]))


@pytest.fixture(scope="module")
def data():
    X, _ = gmm.sample(TRUE, 12_000, seed=1)
    return X


@pytest.fixture(scope="module")
def mle(data):
    return gmm.fit(data, 3, seed=0, tol=1e-10, max_iter=1000)


def chunks(X, size):
    return [X[i:i + size] for i in range(0, len(X), size)]


# --------------------------------------------------------------------------------------------
# Step size 1, one batch: batch EM step for step
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_step_size_one_with_one_batch_is_batch_em(data, covariance_type):
    X = data[:2000]
    p0 = gmm.fit(X, 3, max_iter=0, seed=0, covariance_type=covariance_type).params
    ref = gmm.fit(X, 3, init=p0, max_iter=10, tol=0, covariance_type=covariance_type)
    on = gmm.fit_online([X], 3, init=p0, step_size=1.0, n_warmup=0, n_passes=10,
                        covariance_type=covariance_type)
    assert isinstance(on, gmm.GMMResult)
    assert on.n_iter == 10 and len(on.loglik_history) == 11
    assert np.allclose(on.loglik_history, ref.loglik_history, rtol=1e-12, atol=0)
    for name in ("weights", "means", "covariances"):
        assert np.allclose(getattr(on.params, name), getattr(ref.params, name),
                           rtol=1e-12, atol=1e-12), name
    assert np.allclose(on.resp, ref.resp, atol=1e-12)
    # the same θ¹⁰ as scikit-learn from the same start
    sk = GaussianMixture(3, covariance_type="full", weights_init=p0.weights,
                         means_init=p0.means, precisions_init=np.linalg.inv(p0.covariances),
                         max_iter=10, tol=0)
    if covariance_type == "full":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk.fit(X)
        assert np.allclose(on.params.means, sk.means_, rtol=1e-10, atol=1e-10)
        assert np.allclose(on.params.covariances, sk.covariances_, rtol=1e-10, atol=1e-10)


def test_step_size_one_with_one_incomplete_batch_is_batch_em_with_missing_values(data):
    X = data[:600].copy()
    X[np.random.default_rng(0).uniform(size=X.shape) < 0.2] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    p0 = gmm.fit(np.nan_to_num(X), 3, max_iter=0, seed=0).params
    ref = gmm.fit(X, 3, init=p0, max_iter=6, tol=0)
    on = gmm.fit_online([X], 3, init=p0, step_size=1.0, n_warmup=0, n_passes=6)
    assert np.allclose(on.loglik_history, ref.loglik_history, rtol=1e-12, atol=0)
    assert np.allclose(on.params.covariances, ref.params.covariances, rtol=1e-11, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Stepwise EM reaches the batch MLE
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_online_reaches_the_batch_mle_within_1e_3_per_point(data, mle, alpha):
    batches = chunks(data, 400)
    on = gmm.fit_online(batches, 3, seed=0, step_exponent=alpha, n_passes=3)
    assert on.n_iter == 3 * len(batches) and on.n_points == 3 * len(data)
    gap = (gmm.e_step(data, on.params)[1] - mle.loglik) / len(data)
    assert gap > -1e-3, gap
    assert gap < 1e-9  # the MLE is a maximum


def test_online_from_a_generator_function_reading_batch_by_batch(data, mle):
    calls = []

    def stream():  # a new generator per pass, as one reading a file would be
        calls.append(1)
        for i in range(0, len(data), 500):
            yield data[i:i + 500]

    on = gmm.fit_online(stream, 3, seed=0, n_passes=2)
    assert len(calls) == 2
    assert (gmm.e_step(data, on.params)[1] - mle.loglik) / len(data) > -1e-3
    one = gmm.fit_online(stream(), 3, seed=0)  # a generator object, one pass
    assert one.n_iter == len(chunks(data, 500))
    assert one.resp.shape == (500, 3) and np.isfinite(one.loglik)


def test_online_with_missing_values_reaches_the_incomplete_data_mle(data):
    X = data[:6000].copy()
    X[np.random.default_rng(2).uniform(size=X.shape) < 0.15] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    batch = gmm.fit(X, 3, seed=0, tol=1e-10, max_iter=500)
    on = gmm.fit_online(chunks(X, 300), 3, seed=0, n_passes=3)
    assert (gmm.e_step(X, on.params)[1] - batch.loglik) / len(X) > -1e-3


# --------------------------------------------------------------------------------------------
# Incremental EM
# --------------------------------------------------------------------------------------------

def test_incremental_em_free_energy_never_decreases(data, mle):
    blocks = chunks(data[:4000], 400)
    res = gmm.fit_incremental(blocks, 3, seed=0, n_passes=6, reg_covar=0.0)
    F, L = res.free_energy_history, res.loglik_history
    assert len(F) == 1 + 6 * len(blocks) and len(L) == 7
    assert np.all(np.diff(F) >= -1e-9 * np.abs(F[1:]))
    # log p(X | θ) >= F(q, θ): at the end of every pass, θ is the one F was last taken at
    ends = F[len(blocks)::len(blocks)]
    assert np.all(L[1:] >= ends - 1e-9 * np.abs(ends))
    assert np.all(np.diff(L) >= -1e-9 * np.abs(L[1:]))
    sub = gmm.fit(np.concatenate(blocks), 3, seed=0, tol=1e-10, max_iter=1000)
    assert (res.loglik - sub.loglik) / 4000 > -1e-4
    assert res.resp.shape == (4000, 3)
    assert res.loglik == pytest.approx(gmm.e_step(np.concatenate(blocks), res.params)[1])


def test_incremental_em_with_missing_values(data):
    X = data[:3000].copy()
    X[np.random.default_rng(5).uniform(size=X.shape) < 0.2] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    res = gmm.fit_incremental(chunks(X, 500), 3, seed=0, n_passes=5, reg_covar=0.0)
    F = res.free_energy_history
    assert np.all(np.diff(F) >= -1e-9 * np.abs(F[1:]))
    assert res.loglik >= F[-1] - 1e-9 * abs(F[-1])
    batch = gmm.fit(X, 3, seed=0, tol=1e-10, max_iter=1000, reg_covar=0.0)
    assert (res.loglik - batch.loglik) / len(X) > -1e-3
    assert res.loglik == pytest.approx(gmm.e_step(X, res.params)[1], rel=1e-12)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

def TRUE_2(X):
    return gmm.GMMParams([0.5, 0.5], X[:2], np.stack([np.eye(2)] * 2))


def bad(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_online_bad_input_names_the_argument(data):
    X = data[:100]
    for alpha in (0.5, 0.2, 1.01, -1.0):
        bad(lambda alpha=alpha: gmm.fit_online([X], 2, step_exponent=alpha), ValueError,
            r"step_exponent must be in \(0.5, 1\]")
    bad(lambda: gmm.fit_online([X], 2, step_exponent="0.7"), TypeError, "step_exponent")
    bad(lambda: gmm.fit_online([X], 2, step_exponent=np.nan), ValueError, "step_exponent")
    for eta in (0.0, 1.5):
        bad(lambda eta=eta: gmm.fit_online([X], 2, step_size=eta), ValueError, "step_size")
    bad(lambda: gmm.fit_online([X, X[:0]], 2), ValueError, r"batches\[1\] must hold at least")
    bad(lambda: gmm.fit_online([X, X[:, :1]], 2), ValueError,
        r"batches\[1\] must have D = 2 columns")
    bad(lambda: gmm.fit_online([], 2), ValueError, "batches must hold at least one batch")
    bad(lambda: gmm.fit_online(iter([X]), 2, n_passes=2), ValueError,
        "batches is an iterator, which can be read only once")
    bad(lambda: gmm.fit_online(X, 2), TypeError, "batches must be an iterable")
    bad(lambda: gmm.fit_online(None, 2), TypeError, "batches")
    bad(lambda: gmm.fit_online(5, 2), TypeError, "batches")
    bad(lambda: gmm.fit_online([X[:, 0]], 2), ValueError, r"batches\[0\] must be a 2-D array")
    inf = X.copy()
    inf[3, 1] = np.inf
    bad(lambda: gmm.fit_online([X, inf], 2), ValueError, r"batches\[1\] must contain only")
    empty_row = X.copy()
    empty_row[2] = np.nan
    bad(lambda: gmm.fit_online([empty_row], 2), ValueError, r"batches\[0\] has 1 row")
    bad(lambda: gmm.fit_online([X[:3]], 5), ValueError, "k must be at most")
    no_col = X.copy()
    no_col[:, 1] = np.nan
    bad(lambda: gmm.fit_online([no_col, X], 2), ValueError,
        r"batches\[0\] \(the first batch, which sets the start\) has a column never")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning on the way
        on = gmm.fit_online([no_col, X], 2, init=TRUE_2(X))
    assert np.all(np.isfinite(on.params.means))
    bad(lambda: gmm.fit_online([X], 0), ValueError, "k must be at least 1")
    bad(lambda: gmm.fit_online([X], 2, n_passes=0), ValueError, "n_passes")
    bad(lambda: gmm.fit_online([X], 2, n_warmup=-1), ValueError, "n_warmup")
    bad(lambda: gmm.fit_online([X], 2, init="spectral"), ValueError, "init")
    bad(lambda: gmm.fit_online([X], 2, init=TRUE), ValueError, "init must have 2 components")
    bad(lambda: gmm.fit_online([X], 2, covariance_type="ful"), ValueError, "covariance_type")
    bad(lambda: gmm.fit_incremental(X, 2), TypeError, "blocks must be a list")
    bad(lambda: gmm.fit_incremental([X, X[:, :1]], 2), ValueError, r"blocks\[1\] must have")
    bad(lambda: gmm.fit_incremental([], 2), ValueError, "blocks must hold at least one")


def test_online_degenerate_batches_get_finite_answers():
    X = np.repeat([[1.0, 2.0], [3.0, -1.0]], 50, axis=0)
    on = gmm.fit_online(chunks(X, 10), 3, seed=0, n_passes=2)
    for a in (on.params.weights, on.params.means, on.params.covariances, on.resp,
              on.loglik_history):
        assert np.all(np.isfinite(a))


# --------------------------------------------------------------------------------------------
# Stepwise EM for categorical HMMs (Liang & Klein 2009)
# --------------------------------------------------------------------------------------------

def _random_hmm(rng, K=3, M=5):
    from emref import hmm
    return hmm.HMMParams(rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K),
                         hmm.Categorical(rng.dirichlet(np.ones(M), size=K)))


def test_hmm_step_size_one_with_one_batch_is_baum_welch_as_hmmlearn(hmmlearn_categorical,
                                                                    assert_equals_hmmlearn):
    from emref import hmm
    rng = np.random.default_rng(21)
    seqs = [rng.integers(0, 5, n) for n in (5, 40, 17, 1, 63, 8)]
    p0 = _random_hmm(rng)
    res = hmm.fit_stepwise([seqs], 3, init=p0, step_size=1.0, n_passes=6)
    ref = hmmlearn_categorical(seqs, p0, 6)
    assert res.n_iter == 6 and len(res.loglik_history) == 7
    assert_equals_hmmlearn(res, ref)


def test_hmm_stepwise_with_a_stop_state_and_step_one_is_baum_welch():
    from emref import datasets, hmm
    sents, tags = datasets.pos_like(200, seed=3)
    start = hmm.fit_supervised(sents[:10], tags[:10], 6, n_symbols=31, pseudocount=0.1,
                               with_endprob=True)
    ref = hmm.fit(sents[10:], 6, init=start, max_iter=5, tol=0)
    res = hmm.fit_stepwise([sents[10:]], 6, init=start, step_size=1.0, n_passes=5)
    np.testing.assert_allclose(res.loglik_history, ref.loglik_history, rtol=1e-12)
    np.testing.assert_allclose(res.params.endprob, ref.params.endprob, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.params.emission.probs, ref.params.emission.probs,
                               rtol=1e-10, atol=1e-14)


def test_hmm_stepwise_tagged_then_untagged_reaches_baum_welch():
    """Start from 20 tagged sentences, stream 1500 untagged ones in batches of 50."""
    from emref import datasets, hmm
    sents, tags = datasets.pos_like(1520, seed=0)
    start = hmm.fit_supervised(sents[:20], tags[:20], 6, n_symbols=31, pseudocount=0.1,
                               with_endprob=True)
    untagged = sents[20:]
    n_obs = sum(len(s) for s in untagged)
    bw = hmm.fit(untagged, 6, init=start, max_iter=300, tol=1e-8)
    batches = [untagged[i:i + 50] for i in range(0, len(untagged), 50)]
    res = hmm.fit_stepwise(batches, 6, init=start, step_exponent=0.6, n_passes=3)
    assert res.n_iter == 3 * len(batches)
    gap = (hmm.score(untagged, res.params) - bw.loglik) / n_obs
    assert -1e-3 < gap < 1e-3, gap
    assert hmm.score(untagged, res.params) > hmm.score(untagged, start)


def test_hmm_stepwise_bad_input_names_the_argument():
    from emref import hmm
    rng = np.random.default_rng(0)
    p0 = _random_hmm(rng)
    seqs = [rng.integers(0, 5, 10) for _ in range(4)]
    for alpha in (0.5, 1.2):
        bad(lambda alpha=alpha: hmm.fit_stepwise([seqs], 3, init=p0, step_exponent=alpha),
            ValueError, "step_exponent must be in")
    bad(lambda: hmm.fit_stepwise([seqs], 3, init=p0, step_size=0.0), ValueError, "step_size")
    bad(lambda: hmm.fit_stepwise([], 3, init=p0), ValueError, "batches must hold at least")
    bad(lambda: hmm.fit_stepwise([seqs, []], 3, init=p0), ValueError, r"batches\[1\]")
    bad(lambda: hmm.fit_stepwise([seqs, [np.array([0, 9])]], 3, init=p0), ValueError,
        r"batches\[1\]")
    bad(lambda: hmm.fit_stepwise(iter([seqs]), 3, init=p0, n_passes=2), ValueError,
        "batches is an iterator")
    bad(lambda: hmm.fit_stepwise(None, 3), TypeError, "batches")
    bad(lambda: hmm.fit_stepwise([seqs], 2, init=p0), ValueError, "init must have n_states")
    gauss = hmm.HMMParams([0.5, 0.5], np.full((2, 2), 0.5),
                          hmm.Gaussian(np.zeros((2, 1)), np.ones((2, 1, 1))))
    # every emission runs stepwise; symbols are not Gaussian observations
    bad(lambda: hmm.fit_stepwise([seqs], 2, init=gauss), ValueError, r"batches\[0\]\[0\]")
    bad(lambda: hmm.fit_stepwise([seqs], 3, init="kmeans"), ValueError, "init")
    res = hmm.fit_stepwise(lambda: iter([seqs[:2], seqs[2:]]), 3, seed=0, n_passes=2,
                           n_symbols=5)
    assert res.n_iter == 4 and np.all(np.isfinite(res.loglik_history))
