"""emref.hmm.posteriors, the readable γ and ξ (Bishop 13.43, 13.64-13.65): against the
definition by enumerating every state path of a tiny HMM, and the batched fast path
(forward_backward) against it."""

import itertools

import numpy as np
import pytest
from helpers import emission_matrix, random_hmm_params
from scipy.special import logsumexp

from emref import hmm


def brute_force(x, params, log_joint):
    """γ (T, K), ξ (T - 1, K, K) and ln p(X) from p(Z | X) over all K^T paths."""
    K, T = params.n_states, len(x)
    b = emission_matrix(x, params)
    paths = [np.array(z) for z in itertools.product(range(K), repeat=T)]
    logs = np.array([log_joint(b, z, params) for z in paths])
    loglik = logsumexp(logs)
    post = np.exp(logs - loglik)
    gamma = np.zeros((T, K))
    xi = np.zeros((max(T - 1, 0), K, K))
    for w, z in zip(post, paths):
        gamma[np.arange(T), z] += w
        xi[np.arange(T - 1), z[:-1], z[1:]] += w
    return gamma, xi, loglik


def observations(kind, rng, T):
    if kind == "categorical":
        return rng.integers(0, 4, T)
    if kind == "gaussian":
        return rng.normal(0, 2, (T, 2))
    return rng.poisson(3.0, (T, 2))


def params_for(kind, rng, end):
    if kind == "poisson":
        return random_hmm_params(3, rng, end=end,
                                 emission=hmm.Poisson(rng.uniform(0.5, 6.0, (3, 2))))
    return random_hmm_params(3, rng, end=end, D=2 if kind == "gaussian" else None,
                             zeros=kind == "categorical")


@pytest.mark.parametrize("kind", ["categorical", "gaussian", "poisson"])
@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize("T", [1, 2, 5])
def test_posteriors_equal_enumeration_of_paths(kind, end, T, path_log_joint):
    rng = np.random.default_rng(100 * T + 10 * end + len(kind))
    params = params_for(kind, rng, end)
    x = observations(kind, rng, T)
    gamma, xi, loglik = brute_force(x, params, path_log_joint)
    got = hmm.posteriors(x, params)
    assert got.xi.shape == (T - 1, 3, 3)
    np.testing.assert_allclose(got.gamma, gamma, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.xi, xi, rtol=1e-9, atol=1e-12)
    assert got.loglik == pytest.approx(loglik, rel=1e-10)
    # ξ's margins are γ (13.43 summed over one state gives 13.33)
    np.testing.assert_allclose(got.xi.sum(axis=2), got.gamma[:-1], atol=1e-12)
    np.testing.assert_allclose(got.xi.sum(axis=1), got.gamma[1:], atol=1e-12)


@pytest.mark.parametrize("kind", ["categorical", "gaussian", "poisson"])
@pytest.mark.parametrize("end", [False, True])
def test_fast_path_equals_the_readable_posteriors(kind, end):
    """forward_backward (batched, blocks of long sequences) against posteriors, T = 1..300."""
    rng = np.random.default_rng(5 + end + 2 * len(kind))
    params = params_for(kind, rng, end)
    for T in (1, 2, 7, 300):
        x = observations(kind, rng, T)
        ref = hmm.posteriors(x, params)
        fast = hmm.forward_backward(x, params)
        np.testing.assert_allclose(fast.gamma, ref.gamma, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fast.xi_sum, ref.xi.sum(axis=0), rtol=1e-10, atol=1e-12)
        assert fast.loglik == pytest.approx(ref.loglik, rel=1e-10)


def test_posteriors_of_an_impossible_sequence_and_bad_input():
    params = hmm.HMMParams([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]],
                           hmm.Categorical([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="obs has probability zero"):
        hmm.posteriors(np.array([0, 1]), params)
    with pytest.raises(ValueError, match="obs must be one sequence"):
        hmm.posteriors([np.array([0, 1]), np.array([0])], params)
    with pytest.raises(TypeError, match="params must be an HMMParams"):
        hmm.posteriors(np.array([0, 1]), None)
