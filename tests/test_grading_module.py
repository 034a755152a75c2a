"""emref.grading: right answers pass, typical wrong ones fail with a message that helps.

The "student" functions below are written here with numpy, as a student would (a function
that called emref would be refused: that is tested too).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from emref import grading
from emref.gmm import GMMParams
from emref.grading import GradingError, Verdict, require, verify

SEED = 2024


def passes(check, fn):
    v = verify(check, fn, seed=SEED)
    assert isinstance(v, Verdict)
    assert v.passed, v.message
    return v


def fails(check, fn, *fragments):
    v = verify(check, fn, seed=SEED)
    assert not v.passed, f"{check} should have failed"
    for frag in fragments:
        assert frag in v.message, f"{frag!r} not in {v.message!r}"
    return v.message


# ---- correct student answers ---------------------------------------------------------------

def sqdist(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def assign(X, centers):
    return sqdist(X, centers).argmin(axis=1)


def update(X, labels, k):
    return np.array([X[labels == j].mean(axis=0) for j in range(k)])


def kmeans_fit(X, init_centers, max_iter=100):
    centers, labels, history = np.array(init_centers, float), None, []
    for _ in range(max_iter):
        new = assign(X, centers)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        centers = update(X, labels, len(centers))
        history.append(float(((X - centers[labels]) ** 2).sum()))
    return centers, assign(X, centers), history


def soft_assign(X, centers, beta):
    a = -beta * sqdist(X, centers)
    a -= a.max(axis=1, keepdims=True)
    r = np.exp(a)
    return r / r.sum(axis=1, keepdims=True)


def log_gaussian(X, means, covariances):
    N, D = X.shape
    out = np.empty((N, len(means)))
    for k, (m, S) in enumerate(zip(means, covariances)):
        L = np.linalg.cholesky(S)
        y = np.linalg.solve(L, (X - m).T)
        out[:, k] = -0.5 * (D * np.log(2 * np.pi) + 2 * np.log(np.diag(L)).sum()
                            + (y ** 2).sum(axis=0))
    return out


def e_step(X, params):
    a = np.log(params.weights) + log_gaussian(X, params.means, params.covariances)
    m = a.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(a - m).sum(axis=1, keepdims=True))
    return np.exp(a - lse), float(lse.sum())


def m_step(X, resp, reg_covar=1e-6):
    N, D = X.shape
    Nk = resp.sum(axis=0)
    means = resp.T @ X / Nk[:, None]
    cov = np.array([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) / Nk[k]
                    + reg_covar * np.eye(D) for k in range(len(Nk))])
    return GMMParams(Nk / N, means, cov)


def gmm_fit(X, params0, max_iter=100, tol=1e-6):
    params = params0
    resp, ll = e_step(X, params)
    hist = [ll]
    for _ in range(max_iter):
        params = m_step(X, resp)
        resp, new = e_step(X, params)
        hist.append(new)
        if abs(new - ll) / len(X) < tol:
            break
        ll = new
    return params, np.array(hist)


def two_gaussians(X, w):
    v = 1 - w
    mu1, mu2 = w @ X / w.sum(), v @ X / v.sum()
    S1 = (w[:, None] * (X - mu1)).T @ (X - mu1) / w.sum()
    S2 = (v[:, None] * (X - mu2)).T @ (X - mu2) / v.sum()
    return w.mean(), mu1, mu2, S1, S2


def em_1d(x, weights, means, variances, n_iter, slip=False):
    weights, means, variances = (np.array(a, float) for a in (weights, means, variances))
    hist = []
    for it in range(n_iter + 1):
        scale = variances if slip else np.sqrt(variances)
        dens = np.column_stack([weights[k] * norm.pdf(x, means[k], scale[k])
                                for k in range(len(weights))])
        total = dens.sum(axis=1)
        hist.append(np.log(total).sum())
        if it == n_iter:
            break
        resp = dens / total[:, None]
        Nk = resp.sum(axis=0)
        weights, means = Nk / len(x), resp.T @ x / Nk
        variances = (resp * (x[:, None] - means) ** 2).sum(axis=0) / Nk
    return weights, means, variances, np.array(hist)


# ---- hw3: HMMs (categorical, no STOP state) --------------------------------------------------

def forward(obs, pi, A, B):
    T = len(obs)
    alpha, ll = np.empty((T, len(pi))), 0.0
    a = pi * B[:, obs[0]]
    for n in range(T):
        if n:
            a = B[:, obs[n]] * (alpha[n - 1] @ A)
        alpha[n] = a / a.sum()
        ll += np.log(a.sum())
    return alpha, ll


def backward(obs, pi, A, B):
    T, K = len(obs), len(pi)
    beta, logs = np.empty((T, K)), np.log(K)
    beta[-1] = 1 / K
    for n in range(T - 2, -1, -1):
        b = A @ (B[:, obs[n + 1]] * beta[n + 1])
        beta[n] = b / b.sum()
        logs += np.log(b.sum())
    return beta, np.log((pi * B[:, obs[0]] * beta[0]).sum()) + logs


def posteriors(alpha, beta, obs, A, B):
    g = alpha * beta
    g /= g.sum(axis=1, keepdims=True)
    xi = alpha[:-1, :, None] * A[None] * (B[:, obs[1:]].T * beta[1:])[:, None, :]
    return g, xi / xi.sum(axis=(1, 2), keepdims=True)


def baum_welch_step(obs, pi, A, B):
    alpha, ll = forward(obs, pi, A, B)
    g, xi = posteriors(alpha, backward(obs, pi, A, B)[0], obs, A, B)
    counts = xi.sum(axis=0)
    emit = np.stack([g[obs == m].sum(axis=0) for m in range(B.shape[1])], axis=1)
    return (g[0], counts / counts.sum(axis=1, keepdims=True),
            emit / emit.sum(axis=1, keepdims=True), ll)


def count_estimate(seqs, states, K, M):
    s, t, e = np.zeros(K), np.zeros((K, K)), np.zeros((K, M))
    for x, z in zip(seqs, states):
        s[z[0]] += 1
        np.add.at(t, (z[:-1], z[1:]), 1)
        np.add.at(e, (z, x), 1)
    return s / s.sum(), t / t.sum(1, keepdims=True), e / e.sum(1, keepdims=True)


def hmm_viterbi(obs, pi, A, B, logs=True):
    T, K = len(obs), len(pi)
    f = np.log if logs else (lambda v: v)
    w, back = f(pi) + f(B[:, obs[0]]) if logs else pi * B[:, obs[0]], np.zeros((T, K), int)
    for n in range(1, T):
        s = w[:, None] + f(A) if logs else w[:, None] * A
        back[n] = s.argmax(axis=0)
        w = s.max(axis=0) + f(B[:, obs[n]]) if logs else s.max(axis=0) * B[:, obs[n]]
    z = np.empty(T, int)
    z[-1] = w.argmax()
    for n in range(T - 1, 0, -1):
        z[n - 1] = back[n, z[n]]
    return z, float(w.max() if logs else np.log(w.max()))


CORRECT = {
    "kmeans.assign": assign, "kmeans.update": update, "kmeans.fit": kmeans_fit,
    "kmeans.soft_assign": soft_assign, "gmm.log_gaussian": log_gaussian,
    "gmm.e_step": e_step, "gmm.m_step": m_step, "gmm.fit": gmm_fit,
    "exam.m_step_two_gaussians": two_gaussians, "debug.em_1d": em_1d,
    "hmm.forward": forward, "hmm.backward": backward, "hmm.posteriors": posteriors,
    "hmm.baum_welch_step": baum_welch_step, "hmm.count_estimate": count_estimate,
    "hmm.viterbi": hmm_viterbi,
}


def test_every_check_has_a_correct_answer_here():
    assert set(CORRECT) == set(grading.CHECKS)


@pytest.mark.parametrize("check", sorted(CORRECT))
def test_a_correct_function_passes(check):
    passes(check, CORRECT[check])


@pytest.mark.parametrize("check", ["kmeans.soft_assign", "gmm.e_step"])
def test_correct_functions_pass_on_fresh_random_inputs(check):
    for _ in range(3):
        assert verify(check, CORRECT[check]).passed  # seed=None: new inputs every time


def test_require_raises_a_short_grading_error():
    require("kmeans.assign", assign)
    with pytest.raises(GradingError) as info:
        require("kmeans.update", lambda X, labels, k: np.zeros((k, X.shape[1])))
    # IPython shows only the message: no hidden test code, no hidden inputs
    rendered = info.value._render_traceback_()
    assert len(rendered) == 1 and "GradingError" in rendered[0]


def test_verify_is_pure_and_reproducible():
    bad = lambda X, C, beta: np.full((len(X), len(C)), 0.9)
    a, b = verify("kmeans.soft_assign", bad, seed=1), verify("kmeans.soft_assign", bad, seed=1)
    assert a == b and not a.passed


# ---- typical mistakes ----------------------------------------------------------------------

def test_unnormalised_responsibilities_fail_with_the_row_sum():
    def e_step_unnormalised(X, params):
        a = np.log(params.weights) + log_gaussian(X, params.means, params.covariances)
        resp = np.exp(a - a.max(axis=1, keepdims=True))
        return resp, e_step(X, params)[1]
    msg = fails("gmm.e_step", e_step_unnormalised, "rows of your responsibilities sum to",
                "did you normalise over components")
    reported = float(msg.split("sum to ")[1].split(";")[0])
    assert abs(reported - 1.0) > 1e-3  # the worst row, not a typical one


def test_soft_assign_unnormalised_fails():
    fails("kmeans.soft_assign", lambda X, C, b: np.exp(-b * sqdist(X, C)),
          "sum to", "normalise")


def test_no_log_sum_exp_fails_on_far_points():
    def e_step_naive(X, params):
        dens = params.weights * np.exp(log_gaussian(X, params.means, params.covariances))
        total = dens.sum(axis=1, keepdims=True)
        return dens / total, float(np.log(total).sum())
    fails("gmm.e_step", e_step_naive, "NaN", "far from every component", "log-sum-exp")

    def soft_naive(X, C, beta):
        r = np.exp(-beta * sqdist(X, C))
        return r / r.sum(axis=1, keepdims=True)
    fails("kmeans.soft_assign", soft_naive, "NaN", "log-sum-exp")


def test_log_of_an_underflowed_density_fails():
    fails("gmm.log_gaussian", lambda X, m, S: np.log(np.exp(log_gaussian(X, m, S))),
          "infinite", "log of an exp")


def test_variance_passed_as_standard_deviation_fails():
    def buggy(x, w, m, v, n):
        return em_1d(x, w, m, v, n, slip=True)
    fails("debug.em_1d", buggy, "goes down", "what does each argument mean")


def test_loglik_averaged_instead_of_summed_fails():
    fails("gmm.e_step", lambda X, p: (e_step(X, p)[0], e_step(X, p)[1] / len(X)), "averaged")


def test_m_step_mistakes_are_named():
    def by_n(X, resp, reg_covar=1e-6):
        p = m_step(X, resp, reg_covar=0.0)
        Nk = resp.sum(axis=0)
        cov = p.covariances * (Nk / len(X))[:, None, None] + reg_covar * np.eye(X.shape[1])
        return GMMParams(p.weights, p.means, cov)
    fails("gmm.m_step", by_n, "divided by N; divide by N_k")
    fails("gmm.m_step", lambda X, r, reg_covar=1e-6: m_step(X, r, 0.0), "reg_covar")


def test_kmeans_mistakes_are_named():
    fails("kmeans.assign", lambda X, C: sqdist(X, C).argmax(axis=1), "farthest")
    fails("kmeans.update", lambda X, z, k: np.array([X[z == j].sum(0) for j in range(k)]),
          "divide by the number of points")
    fails("kmeans.soft_assign", lambda X, C, b: soft_assign(X, C, -b), "minus sign")


def test_two_gaussians_swapped_components_fail():
    def swapped(X, w):
        tau, m1, m2, S1, S2 = two_gaussians(X, w)
        return tau, m2, m1, S2, S1
    fails("exam.m_step_two_gaussians", swapped, "swapped")


def test_not_implemented_and_crashes_are_reported_plainly():
    def blank(X, C):
        raise NotImplementedError()
    fails("kmeans.assign", blank, "not implemented yet")
    fails("kmeans.assign", lambda X, C: X[:, 5], "raised IndexError")


def test_hidden_inputs_and_answers_are_not_in_messages():
    msg = fails("kmeans.update", lambda X, z, k: update(X, z, k) + 0.1)
    assert "[" not in msg and "array(" not in msg


# ---- permutations of arbitrary labels ------------------------------------------------------

def test_permuted_components_still_pass_the_gmm_loop():
    def fit_reversed(X, params0, max_iter=100, tol=1e-6):
        p, hist = gmm_fit(X, params0, max_iter, tol)
        return GMMParams(p.weights[::-1], p.means[::-1], p.covariances[::-1]), hist
    passes("gmm.fit", fit_reversed)


def test_permuted_centres_still_pass_the_kmeans_loop():
    def fit_sorted(X, init, max_iter=100):
        centers, _, hist = kmeans_fit(X, init, max_iter)
        centers = centers[np.lexsort(centers.T)]
        return centers, assign(X, centers), hist
    passes("kmeans.fit", fit_sorted)


def test_permuted_components_still_pass_the_debugging_exercise():
    def em_reversed(x, w, m, v, n):
        w, m, v, h = em_1d(x, w, m, v, n)
        return w[::-1], m[::-1], v[::-1], h
    passes("debug.em_1d", em_reversed)


# ---- answers that call emref ---------------------------------------------------------------

def test_emref_functions_are_refused():
    from emref import kmeans
    fails("kmeans.assign", kmeans.assign, "emref's own implementation")


def test_wrappers_around_emref_are_refused():
    import emref
    from emref import gmm

    def e_step_wrapper(X, params):
        return gmm.e_step(X, params)
    fails("gmm.e_step", e_step_wrapper, "uses emref.gmm")

    def via_package(X, params):
        return emref.gmm.e_step(X, params)
    fails("gmm.e_step", via_package, "uses emref")

    def local_import(X, resp, reg_covar=1e-6):
        from emref.gmm import m_step as reference
        return reference(X, resp, reg_covar=reg_covar)
    fails("gmm.m_step", local_import, "emref")


def test_emref_reached_through_a_helper_is_refused():
    from emref import kmeans

    def helper(X, C):
        return kmeans.assign(X, C)

    def assign_via_helper(X, C):
        return helper(X, C)
    fails("kmeans.assign", assign_via_helper, "through helper")


def test_the_parameter_container_and_datasets_are_allowed():
    from emref import datasets
    assert grading.emref_references(m_step) == ""

    def uses_data(X, C):
        datasets.old_faithful()
        return assign(X, C)
    assert grading.emref_references(uses_data) == ""


def test_scipy_stats_is_refused_for_the_hand_written_density():
    import scipy

    def with_stats(X, means, covariances):
        return np.column_stack([scipy.stats.multivariate_normal(m, S).logpdf(X)
                                for m, S in zip(means, covariances)])
    fails("gmm.log_gaussian", with_stats, "scipy.stats")
    from scipy.stats import multivariate_normal

    def with_import(X, means, covariances):
        return np.column_stack([multivariate_normal(m, S).logpdf(X)
                                for m, S in zip(means, covariances)])
    fails("gmm.log_gaussian", with_import, "scipy.stats")


# ---- HMM mistakes --------------------------------------------------------------------------

def test_unscaled_forward_fails_on_long_sequences():
    def unscaled(obs, pi, A, B):
        a = np.empty((len(obs), len(pi)))
        a[0] = pi * B[:, obs[0]]
        for n in range(1, len(obs)):
            a[n] = B[:, obs[n]] * (a[n - 1] @ A)
        return a / a.sum(axis=1, keepdims=True), np.log(a[-1].sum())
    fails("hmm.forward", unscaled, "3000 steps", "underflow", "Normalise")


def test_transposed_transitions_fail_with_a_hint():
    fails("hmm.forward", lambda x, p, A, B: forward(x, p, A.T, B), "rows of A")

    def xi_t(alpha, beta, obs, A, B):
        g, xi = posteriors(alpha, beta, obs, A, B)
        return g, np.swapaxes(xi, 1, 2)
    fails("hmm.posteriors", xi_t, "transposed")


def test_backward_loglik_must_match_forward():
    fails("hmm.backward", lambda x, p, A, B: (backward(x, p, A, B)[0], 0.0),
          "differs from the forward one")


def test_viterbi_with_products_fails_on_long_sequences():
    fails("hmm.viterbi", lambda x, p, A, B: hmm_viterbi(x, p, A, B, logs=False),
          "underflows", "log-probabilities")


def test_emref_hmm_is_refused():
    from emref import hmm

    def wrapped(obs, pi, A, B):
        return hmm.viterbi(obs, hmm.HMMParams(pi, A, hmm.Categorical(B)))
    fails("hmm.viterbi", wrapped, "uses emref.hmm")
