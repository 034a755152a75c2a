"""emref.em.run: the loop's contract, and the warning for an M-step that lowers the likelihood."""

import warnings

import numpy as np
import pytest

import emref
from emref import em, gmm


def scripted(logliks):
    """An e_step/m_step pair whose log-likelihoods follow a script; params count iterations."""
    calls = {"e": 0, "m": 0}

    def e_step(t):
        calls["e"] += 1
        return ("stats", t), logliks[min(t, len(logliks) - 1)]

    def m_step(stats, params):
        calls["m"] += 1
        return stats[1] + 1

    return e_step, m_step, calls


@pytest.fixture(scope="module")
def waiting():
    """Old Faithful waiting times (minutes), 1-D."""
    return emref.datasets.old_faithful()[:, 1:]


@pytest.fixture(scope="module")
def waiting_fit(waiting):
    return gmm.fit(waiting, 2, seed=0)


def gmm_steps(X, m_step=None):
    m_step = m_step or (lambda resp, params: gmm.m_step(X, resp))
    return (lambda p: gmm.e_step(X, p)), m_step


@pytest.mark.parametrize("max_iter", [0, 1, 2, 10])
def test_tol_zero_runs_exactly_max_iter(max_iter):
    e_step, m_step, calls = scripted([-10.0] * 20)  # flat: every change is 0
    run = em.run(e_step, m_step, 0, n_points=5, max_iter=max_iter, tol=0)
    assert run.n_iter == max_iter and not run.converged
    assert len(run.loglik_history) == max_iter + 1
    assert calls == {"e": max_iter + 1, "m": max_iter}
    assert run.params == max_iter and run.stats == ("stats", max_iter)


def test_history_holds_loglik_of_every_iterate():
    script = [-10.0, -5.0, -3.0, -2.5, -2.4]
    e_step, m_step, _ = scripted(script)
    run = em.run(e_step, m_step, 0, n_points=1, max_iter=4, tol=0)
    np.testing.assert_array_equal(run.loglik_history, script)
    assert run.loglik == -2.4 and isinstance(run.loglik, float)
    assert run.loglik_history.dtype == float


def test_tol_is_per_data_point():
    # changes 5, 2, 0.5, 0.2, 0.01 over 10 points: 0.5, 0.2, 0.05, 0.02, 0.001 per point
    script = [-20.0, -15.0, -13.0, -12.5, -12.3, -12.29]
    e_step, m_step, _ = scripted(script)
    run = em.run(e_step, m_step, 0, n_points=10, max_iter=100, tol=0.1)
    assert run.converged and run.n_iter == 3
    np.testing.assert_array_equal(run.loglik_history, script[:4])
    run = em.run(e_step, m_step, 0, n_points=1, max_iter=100, tol=0.1)
    assert run.converged and run.n_iter == 5  # 0.01 < 0.1 only at the fifth step
    run = em.run(e_step, m_step, 0, n_points=10, max_iter=2, tol=0.1)
    assert not run.converged and run.n_iter == 2


def test_rounding_sized_decrease_does_not_warn():
    ll = -1234.5678
    e_step, m_step, _ = scripted([ll, ll - 1e-12 * abs(ll), ll - 2e-12 * abs(ll)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.run(e_step, m_step, 0, n_points=100, max_iter=2, tol=0)


def test_real_decrease_warns_with_iteration_and_values():
    e_step, m_step, _ = scripted([-100.0, -90.0, -95.0, -80.0])
    with pytest.warns(emref.LikelihoodDecreaseWarning, match="iteration 2") as rec:
        run = em.run(e_step, m_step, 0, n_points=10, max_iter=3, tol=0)
    assert len([w for w in rec if w.category is emref.LikelihoodDecreaseWarning]) == 1
    assert "-90" in str(rec[0].message) and "-95" in str(rec[0].message)
    assert run.n_iter == 3  # a warning, not a stop


def test_warning_class_is_exported_and_a_runtime_warning():
    assert emref.LikelihoodDecreaseWarning is em.LikelihoodDecreaseWarning
    assert issubclass(emref.LikelihoodDecreaseWarning, RuntimeWarning)


def test_decrease_slack_grows_with_size():
    assert 0 < em.decrease_slack(-10.0, 10) < em.decrease_slack(-1e6, 10)
    assert em.decrease_slack(-10.0, 10) < em.decrease_slack(-10.0, 10_000)
    assert em.decrease_slack(-1e6, 1000) < 1e-2  # far below any real bug


def test_gmm_em_on_old_faithful_never_warns(waiting):
    X = waiting
    params0 = gmm.GMMParams([0.5, 0.5], [[50.0], [80.0]], [[[100.0]], [[100.0]]])
    e_step, m_step = gmm_steps(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", emref.LikelihoodDecreaseWarning)
        run = em.run(e_step, m_step, params0, n_points=len(X), max_iter=50, tol=0)
    assert np.all(np.diff(run.loglik_history) >= -1e-9)
    # the shared loop is what gmm.fit runs
    res = gmm.fit(X, 2, init=params0, max_iter=50, tol=0)
    np.testing.assert_allclose(run.loglik_history, res.loglik_history, rtol=1e-12)


def test_standard_deviation_for_variance_slip_warns(waiting, waiting_fit):
    """The classic slip: the M-step returns the standard deviation where the variance belongs.
    On the waiting times (variances of about 35 min²) the components shrink by a factor of
    about 6 in variance and the log-likelihood falls; the loop must say so."""
    X = waiting

    def buggy_m_step(resp, params):
        p = gmm.m_step(X, resp)
        return gmm.GMMParams(p.weights, p.means, np.sqrt(p.covariances))

    e_step, _ = gmm_steps(X)
    with pytest.warns(emref.LikelihoodDecreaseWarning, match="decreased"):
        run = em.run(e_step, buggy_m_step, waiting_fit.params, n_points=len(X), max_iter=3,
                     tol=0)
    assert run.loglik_history[1] < run.loglik_history[0] - 10  # it really does fall


def test_fit_passes_the_warning_through(waiting, monkeypatch):
    """gmm.fit runs em.run: a broken M-step inside fit is reported too."""
    original = em.run

    def run_with_buggy_m_step(e_step, m_step, params0, **kwargs):
        def buggy(stats, params):
            p = m_step(stats, params)
            return gmm.GMMParams(p.weights, p.means, np.sqrt(p.covariances))
        return original(e_step, buggy, params0, **kwargs)

    monkeypatch.setattr(em, "run", run_with_buggy_m_step)
    start = gmm.GMMParams([0.35, 0.65], [[54.6], [80.1]], [[[34.4]], [[34.4]]])
    with pytest.warns(emref.LikelihoodDecreaseWarning):
        gmm.fit(waiting, 2, init=start, max_iter=5, tol=0)


def test_m_step_receives_the_parameters_the_statistics_belong_to():
    """em.run hands the M-step θᵗ with the statistics computed at θᵗ."""
    seen = []

    def e_step(t):
        return ("stats at", t), -1.0 / (t + 1)

    def m_step(stats, params):
        seen.append((stats, params))
        return params + 1

    em.run(e_step, m_step, 0, n_points=1, max_iter=3, tol=0)
    assert seen == [(("stats at", t), t) for t in range(3)]


@pytest.mark.parametrize("kwargs,exc,word", [
    ({"max_iter": -1}, ValueError, "max_iter"),
    ({"max_iter": 2.5}, TypeError, "max_iter"),
    ({"max_iter": True}, TypeError, "max_iter"),
    ({"tol": -1e-3}, ValueError, "tol"),
    ({"tol": np.nan}, ValueError, "tol"),
    ({"tol": "0.1"}, TypeError, "tol"),
])
def test_invalid_loop_options(kwargs, exc, word):
    e_step, m_step, _ = scripted([0.0])
    with pytest.raises(exc, match=word):
        em.run(e_step, m_step, 0, n_points=1, **kwargs)
