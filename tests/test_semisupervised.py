"""emref.semisupervised: tagged counts in every M-step, checked against independent routes."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from emref import datasets, hmm, semisupervised


@pytest.fixture(scope="module")
def data():
    pos = datasets.pos_like_params()
    K, M = len(pos["states"]), len(pos["words"])
    xs, zs = datasets.pos_like(60, seed=24)
    tagged_x, tagged_z, untagged = xs[:5], zs[:5], xs[5:]
    init = hmm.fit_supervised(tagged_x, tagged_z, K, n_symbols=M, pseudocount=0.1,
                              with_endprob=True)
    return {"K": K, "M": M, "tagged_x": tagged_x, "tagged_z": tagged_z, "untagged": untagged,
            "init": init}


def test_tagged_statistics_normalised_are_fit_supervised(data):
    stats = semisupervised.tagged_statistics(data["tagged_x"], data["tagged_z"], data["init"])
    counted = hmm.m_step(stats, data["init"])
    oracle = hmm.fit_supervised(data["tagged_x"], data["tagged_z"], data["K"], n_symbols=data["M"],
                                pseudocount=0.0, with_endprob=True)
    for a, b in [(counted.startprob, oracle.startprob), (counted.transmat, oracle.transmat),
                 (counted.endprob, oracle.endprob), (counted.emission.probs, oracle.emission.probs)]:
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert stats.n_points == sum(map(len, data["tagged_x"]))
    assert stats.trans.sum() + stats.end.sum() == stats.n_points


def test_weight_zero_is_plain_baum_welch(data):
    semi = semisupervised.fit(data["untagged"], data["tagged_x"], data["tagged_z"], data["init"],
                              weight=0.0, max_iter=8)
    plain = hmm.fit(data["untagged"], data["K"], init=data["init"], max_iter=8, tol=0)
    np.testing.assert_allclose(semi.loglik_history, plain.loglik_history, rtol=1e-10)
    np.testing.assert_allclose(semi.params.transmat, plain.params.transmat, atol=1e-10)
    np.testing.assert_allclose(semi.params.emission.probs, plain.params.emission.probs, atol=1e-10)


@pytest.mark.parametrize("weight", [0.5, 1.0, 5.0])
def test_the_objective_never_falls(data, weight):
    semi = semisupervised.fit(data["untagged"], data["tagged_x"], data["tagged_z"], data["init"],
                              weight=weight, max_iter=10)
    assert len(semi.objective_history) == 11 == len(semi.params_history)
    assert np.all(np.diff(semi.objective_history) >= -1e-8 * abs(semi.objective_history[0]))
    tagged = semisupervised.tagged_statistics(data["tagged_x"], data["tagged_z"], data["init"])
    assert semisupervised.objective(data["untagged"], tagged, semi.params_history[-1], weight) == \
        pytest.approx(semi.objective_history[-1], rel=1e-12)


def test_an_integer_weight_counts_the_tagged_data_that_many_times(data):
    tagged_once = semisupervised.tagged_statistics(data["tagged_x"], data["tagged_z"], data["init"])
    tagged_twice = semisupervised.tagged_statistics(data["tagged_x"] * 2, data["tagged_z"] * 2,
                                                    data["init"])
    stats, _ = hmm.e_step(data["untagged"], data["init"])
    a = semisupervised.m_step(stats, tagged_once, data["init"], 2)
    b = semisupervised.m_step(stats, tagged_twice, data["init"], 1)
    np.testing.assert_allclose(a.transmat, b.transmat, atol=1e-12)
    np.testing.assert_allclose(a.emission.probs, b.emission.probs, atol=1e-12)


def test_the_m_step_maximises_q_plus_w_times_the_tagged_loglik():
    # a small model, so that a generic optimiser over every parameter at once is the oracle
    w = 0.7
    truth = hmm.HMMParams([0.6, 0.4], [[0.7, 0.2], [0.3, 0.6]],
                          hmm.Categorical([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]]), endprob=[0.1, 0.1])
    draws = [hmm.sample(truth, None, seed) for seed in range(30)]
    tagged_x, tagged_z = [x for x, _ in draws[:6]], [z for _, z in draws[:6]]
    untagged = [x for x, _ in draws[6:]]
    theta_t = hmm.HMMParams([0.5, 0.5], [[0.5, 0.4], [0.4, 0.5]],
                            hmm.Categorical([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]), endprob=[0.1, 0.1])
    stats, _ = hmm.e_step(untagged, theta_t)
    tagged = semisupervised.tagged_statistics(tagged_x, tagged_z, theta_t)

    def params_of(v):
        pi = np.exp(v[:2] - logsumexp(v[:2]))
        rows = v[2:8].reshape(2, 3)
        rows = np.exp(rows - logsumexp(rows, axis=1, keepdims=True))
        em = v[8:].reshape(2, 3)
        em = np.exp(em - logsumexp(em, axis=1, keepdims=True))
        return hmm.HMMParams(pi, rows[:, :2], hmm.Categorical(em), endprob=rows[:, 2])

    def negative(v):
        theta = params_of(v)
        return -(hmm.q_function(stats, theta) + w * hmm.q_function(tagged, theta))

    best = params_of(minimize(negative, np.zeros(14), method="BFGS",
                              options={"gtol": 1e-9}).x)
    ours = semisupervised.m_step(stats, tagged, theta_t, w)
    np.testing.assert_allclose(ours.transmat, best.transmat, atol=1e-5)
    np.testing.assert_allclose(ours.endprob, best.endprob, atol=1e-5)
    np.testing.assert_allclose(ours.emission.probs, best.emission.probs, atol=1e-5)
    np.testing.assert_allclose(ours.startprob, best.startprob, atol=1e-5)


def test_bad_input_names_the_argument(data):
    tagged = semisupervised.tagged_statistics(data["tagged_x"], data["tagged_z"], data["init"])
    stats, _ = hmm.e_step(data["untagged"], data["init"])
    with pytest.raises(ValueError, match="weight"):
        semisupervised.combine(stats, tagged, -1.0)
    with pytest.raises(TypeError, match="weight"):
        semisupervised.combine(stats, tagged, "1")
    with pytest.raises(ValueError, match="state_sequences"):
        semisupervised.tagged_statistics(data["tagged_x"], data["tagged_z"][:2], data["init"])
    with pytest.raises(ValueError, match=r"state_sequences\[0\]"):
        semisupervised.tagged_statistics(data["tagged_x"][:1], [data["tagged_z"][0][:-1]],
                                         data["init"])
    gaussian = hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]],
                             hmm.Gaussian(means=[[0.0], [1.0]], covariances=[[[1.0]], [[1.0]]]))
    with pytest.raises(TypeError, match="params must have categorical emissions"):
        semisupervised.tagged_statistics([np.zeros((3, 1))], [np.zeros(3, int)], gaussian)
    with pytest.raises(ValueError, match="max_iter"):
        semisupervised.fit(data["untagged"], data["tagged_x"], data["tagged_z"], data["init"],
                           max_iter=-1)
