"""hw2 (Gaussian mixtures by EM): ``log_gaussian``, ``e_step``, ``m_step``, ``fit``, the exam's
``m_step_two_gaussians`` and the debugging exercise ``em_1d``.

``e_step`` calls ``log_gaussian`` and ``fit`` calls ``e_step`` and ``m_step``. emref's
``log_gaussian`` and ``e_step`` have the notebook's signatures; emref's ``m_step`` takes
``reg_covar`` by keyword only, so :func:`m_step` here adapts it to the notebook's
``m_step(X, resp, reg_covar=1e-6)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from emref import gmm
from emref.params import GMMParams

from ._common import (
    Fail,
    as_array,
    as_number,
    as_tuple,
    best_perm,
    call,
    close,
    finite,
    got_expected,
    num,
    q,
    quote_error,
    random_resp,
    register,
    rows_sum_to_one,
    same_value,
    show,
    spd,
    worst_entry,
    worst_row,
)

__all__ = ["m_step"]


def m_step(X, resp, reg_covar=1e-6):
    """The course's M-step with the notebook's signature (emref's takes reg_covar by keyword)."""
    return gmm.m_step(X, resp, reg_covar=reg_covar)


def _random_params(rng, K, D):
    w = rng.dirichlet(np.full(K, 3.0))
    return GMMParams(w, rng.normal(scale=3.0, size=(K, D)), spd(rng, K, D))


def _params_tuple(out, name):
    if all(hasattr(out, a) for a in ("weights", "means", "covariances")):
        return out.weights, out.means, out.covariances
    if isinstance(out, (tuple, list)) and len(out) == 3:
        return tuple(out)
    raise Fail(f"{q(name)} returned {type(out).__name__}; expected GMMParams(weights, means, "
               f"covariances)")


@register("gmm.log_gaussian", function="log_gaussian", assignment="hw2")
def check_log_gaussian(fn, rng):
    name = "log_gaussian"
    for N, D, K, far in ((5, 1, 1, False), (50, 2, 3, False), (200, 4, 2, False),
                         (20, 2, 2, True)):
        means = rng.normal(scale=2.0, size=(K, D))
        cov = spd(rng, K, D)
        X = rng.normal(scale=2.0, size=(N, D))
        if far:
            X = X + 60.0  # densities underflow to 0: log(0) = -inf outside log space
        ref = gmm.log_gaussian(X, means, cov)
        where = " for points far from the means" if far else ""
        out = as_array(call(name, fn, X, means, cov), name, "log-densities" + where,
                       shape=(N, K))
        if not np.all(np.isfinite(out)):
            underflow = far and np.any(np.exp(ref) == 0)
            hint = (": there N(x|μ,Σ) underflows to 0, and log 0 = -inf. Compute log N "
                    "directly (-½ D log 2π - ½ log|Σ| - ½ Mahalanobis²); never take the log "
                    "of an exp that has underflowed") if underflow else ""
            finite(out, name, "log-densities" + where, hint)
        if close(out, ref, rtol=1e-7, atol=1e-7):
            continue
        got = worst_entry(out, ref, "log N")
        diff = out - ref
        const = float(np.median(diff))
        if np.allclose(diff, const, atol=1e-6):
            half = 0.5 * D * np.log(2 * np.pi)
            if any(np.isclose(const, c) for c in (half, -half, 2 * half, -2 * half)):
                raise Fail(f"{q(name)} is off by the constant {num(const)} everywhere ({got}) "
                           f"for D = {D}: check the -½ D log 2π term")
            raise Fail(f"{q(name)} is off by the constant {num(const)} everywhere ({got}): "
                       f"check the normalising terms -½ D log 2π - ½ log|Σ_k|")
        if np.allclose(diff - diff[:1], 0, atol=1e-6):
            raise Fail(f"{q(name)} is off by a different constant for each component "
                       f"({show(diff[0])} for the {K} components; {got}): check the "
                       f"log-determinant, log|Σ_k| = 2 Σ_i log L_ii with Σ_k = L Lᵀ")
        raise Fail(f"{q(name)} differs from log N(x_n | μ_k, Σ_k) for D = {D}, K = {K}: "
                   f"{got}. Check the Mahalanobis term (x-μ)ᵀ Σ⁻¹ (x-μ) = ||L⁻¹(x-μ)||²")


@register("gmm.e_step", function="e_step", assignment="hw2",
          uses={"log_gaussian": gmm.log_gaussian})
def check_e_step(fn, rng):
    name = "e_step"
    for N, D, K, far in ((6, 1, 2, False), (100, 2, 3, False), (300, 3, 4, False),
                         (30, 2, 3, True)):
        params = _random_params(rng, K, D)
        X = gmm.sample(params, N, seed=rng)[0]
        if far:
            X[: N // 2] += 80.0
        ref_resp, ref_ll = gmm.e_step(X, params)
        resp, ll = as_tuple(call(name, fn, X, params), name, ("resp", "loglik"))
        where = " for points far from every component" if far else ""
        resp = as_array(resp, name, "responsibilities" + where, shape=(N, K))
        ll = as_number(ll, name, "the log-likelihood (summed over points)")
        log_joint = np.log(params.weights) + gmm.log_gaussian(X, params.means,
                                                              params.covariances)
        underflow = bool(np.any(np.all(np.exp(log_joint) == 0, axis=1)))
        lse_hint = (": there every π_k N(x_n|μ_k,Σ_k) underflows to 0, so 0/0 is NaN and "
                    "log 0 = -inf. Work with a_nk = log π_k + log N(x_n|μ_k,Σ_k) and "
                    "normalise each row with log-sum-exp") if underflow else ""
        finite(resp, name, "responsibilities" + where, lse_hint)
        rows_sum_to_one(resp, name, "responsibilities" + where, "the components (axis=1)")
        if np.any(resp < -1e-12):
            i = np.unravel_index(int(np.argmin(resp)), resp.shape)
            raise Fail(f"{q(name)} returned a negative responsibility, resp[{i[0]}, {i[1]}] "
                       f"= {num(resp[i])}; expected probabilities")
        if not close(resp, ref_resp, rtol=1e-6, atol=1e-8):
            got = worst_row(resp, ref_resp, "resp")
            no_w = log_joint - np.log(params.weights)
            no_w = np.exp(no_w - logsumexp(no_w, axis=1, keepdims=True))
            if close(resp, no_w, atol=1e-8):
                raise Fail(f"{q(name)} ignores the mixing weights ({got}): γ(z_nk) ∝ π_k "
                           f"N(x_n | μ_k, Σ_k)")
            raise Fail(f"{q(name)} differs from γ(z_nk) = π_k N(x_n|μ_k,Σ_k) / Σ_j π_j "
                       f"N(x_n|μ_j,Σ_j){where}: {got}")
        if not np.isfinite(ll):
            raise Fail(f"{q(name)} returned the log-likelihood {num(ll)}{where}; expected "
                       f"{num(ref_ll)}" + (lse_hint or ": sum log Σ_k π_k N(x_n|μ_k,Σ_k) "
                                                      "over the points"))
        averaged = f"the log-likelihood {{got}}, averaged over the {N} points; expected the " \
                   "sum, {expected}"
        same_value(ll, ref_ll, name, "the log-likelihood {got}; expected {expected} = Σ_n log "
                   "Σ_k π_k N(x_n|μ_k,Σ_k)" + where, slips=[(ref_ll / N, averaged)], rtol=1e-7,
                   atol=1e-6)


@register("gmm.m_step", function="m_step", assignment="hw2")
def check_m_step(fn, rng):
    name = "m_step"
    for N, D, K in ((5, 1, 2), (80, 2, 3), (300, 3, 4)):
        X = rng.normal(scale=3.0, size=(N, D))
        resp = random_resp(rng, N, K)
        reg = 1e-6 if N > 5 else 1e-3
        ref = gmm.m_step(X, resp, reg_covar=reg)
        w, m, c = _params_tuple(call(name, fn, X, resp, reg_covar=reg), name)
        w = as_array(w, name, "weights", shape=(K,))
        m = as_array(m, name, "means", shape=(K, D))
        c = as_array(c, name, "covariances", shape=(K, D, D))
        for what, val in (("weights", w), ("means", m), ("covariances", c)):
            finite(val, name, what)
        Nk = resp.sum(axis=0)
        # GMMParams holds float64 whatever the student computed in; a single-precision
        # M-step rounds to about 1e-7 of the data's size, not of each entry (a mean near 0 of
        # data spread over ±9): the absolute tolerances follow the data's scale
        size = float(np.abs(X).max())
        atol_mean, atol_cov = 1e-6 * size, 1e-6 * size ** 2
        if not close(w, ref.weights):
            g, e = got_expected(w, ref.weights)
            got = f"weights {g} (summing to {num(w.sum())}); expected {e}"
            if close(w, Nk):
                raise Fail(f"{q(name)} returned the {got}: these are N_k; divide by N so that "
                           f"they sum to 1")
            raise Fail(f"{q(name)} returned the {got}, π_k = N_k / N")
        if not close(m, ref.means, atol=atol_mean):
            got = worst_row(m, ref.means, "means")
            if close(m, resp.T @ X):
                raise Fail(f"{q(name)} returned Σ_n γ(z_nk) x_n as the means ({got}): divide "
                           f"by N_k")
            if close(m, resp.T @ X / N):
                raise Fail(f"{q(name)} divides the means by N ({got}): divide by N_k = Σ_n "
                           f"γ(z_nk)")
            raise Fail(f"{q(name)} returned other means ({got}): μ_k = (1/N_k) Σ_n γ(z_nk) x_n")
        if close(c, ref.covariances, atol=atol_cov):
            continue
        got = worst_entry(c, ref.covariances, "covariances")
        if not np.allclose(c, np.swapaxes(c, 1, 2), atol=1e-10):
            raise Fail(f"{q(name)} returned covariances that are not symmetric ({got}): "
                       f"Σ_k = (1/N_k) Σ_n γ(z_nk) (x_n - μ_k)(x_n - μ_k)ᵀ")
        eye = np.eye(D)
        if close(c + reg * eye, ref.covariances):
            raise Fail(f"{q(name)} leaves reg_covar out ({got} with reg_covar = {num(reg)}): "
                       f"add reg_covar to the diagonal of every covariance")
        scale = (N / Nk)[:, None, None]
        if close((c - reg * eye) * scale + reg * eye, ref.covariances) \
                or close(c * scale + reg * eye, ref.covariances):
            raise Fail(f"{q(name)} divides the covariances by N ({got}): divide by N_k")
        if D == 1 and close(c ** 2 + reg * eye, ref.covariances, rtol=1e-5):
            raise Fail(f"{q(name)} returns standard deviations where variances belong "
                       f"({got}): Σ_k is a variance, not its square root")
        raise Fail(f"{q(name)} returned other covariances ({got}): Σ_k = (1/N_k) Σ_n γ(z_nk) (x_n - μ_k)"
                   f"(x_n - μ_k)ᵀ + reg_covar·I, with the new μ_k")


@register("gmm.fit", function="fit", assignment="hw2",
          uses={"e_step": gmm.e_step, "m_step": m_step})
def check_fit(fn, rng):
    name = "fit"
    for N, D, K, iters in ((60, 1, 2, 8), (200, 2, 3, 15)):
        true = _random_params(rng, K, D)
        X = gmm.sample(true, N, seed=rng)[0]
        p0 = gmm.m_step(X, random_resp(rng, N, K))
        ref = gmm.fit(X, K, init=p0, max_iter=iters, tol=0.0)
        expected = ref.loglik_history
        params, hist = as_tuple(call(name, fn, X, p0, max_iter=iters, tol=0.0), name,
                                ("params", "loglik_history"))
        w, m, c = _params_tuple(params, name)
        hist = as_array(hist, name, "the log-likelihood history", ndim=1)
        finite(hist, name, "the log-likelihood history")
        drops = np.flatnonzero(np.diff(hist) < -1e-8 * (1 + np.abs(hist[:-1])))
        if drops.size:
            i = int(drops[0])
            raise Fail(f"the log-likelihood history of {q(name)} goes down at iteration "
                       f"{i + 1} (from {num(hist[i])} to {num(hist[i + 1])}); exact EM never "
                       f"does that: check what goes from one iteration to the next")
        if hist.shape[0] != iters + 1:
            raise Fail(f"with max_iter={iters} and tol=0, {q(name)} returned a history of "
                       f"{hist.shape[0]} values; expected {iters + 1}: loglik_history[i] is "
                       f"the log-likelihood of θⁱ, θ⁰ first and the returned θ last")
        if not np.allclose(hist, expected, rtol=1e-6, atol=1e-6):
            got = worst_entry(hist, expected, "loglik_history")
            if np.allclose(hist[1:], expected[:-1], rtol=1e-6):
                raise Fail(f"the history of {q(name)} is shifted by one iteration ({got}): "
                           f"record log p(X|θ⁰) first and the returned θ's log-likelihood "
                           f"last")
            raise Fail(f"the history of {q(name)} differs from EM's from the same start: "
                       f"{got}. Loop e_step -> m_step and append the E-step's "
                       f"log-likelihood")
        m = as_array(m, name, "means", shape=(K, D))
        matched = m[best_perm(m, ref.params.means)]
        if not close(matched, ref.params.means, rtol=1e-5, atol=1e-6):
            got = worst_row(matched, ref.params.means, "means")
            raise Fail(f"{q(name)} returned parameters that are not those whose "
                       f"log-likelihood ends its history: {got} (matched up to relabelling)")
        _ends_on_its_params(X, hist, w, m, c, K, D)


def _ends_on_its_params(X, hist, w, m, c, K, D):
    """A message unless the history ends on the log-likelihood of the returned parameters,
    recomputed here (the means alone may match while the weights or covariances do not)."""
    name = "fit"
    w = as_array(w, name, "weights", shape=(K,))
    c = as_array(c, name, "covariances", shape=(K, D, D))
    finite(w, name, "weights")
    finite(c, name, "covariances")
    try:
        returned = GMMParams(w, m, c)
    except (TypeError, ValueError) as exc:
        raise Fail(f"{q(name)} returned parameters that are not a Gaussian mixture "
                   f"({quote_error(exc)})") from None
    _, ll = gmm.e_step(X, returned)
    same_value(hist[-1], ll, name, "a history that ends on {got}, but the parameters it "
               "returns have log p(X|θ) = {expected}: return the θ whose log-likelihood is the "
               "last value of the history", rtol=1e-6, atol=1e-6)


@register("exam.m_step_two_gaussians", function="m_step_two_gaussians", assignment="hw2")
def check_two_gaussians(fn, rng):
    name = "m_step_two_gaussians"
    for N, D in ((6, 1), (100, 2), (300, 3)):
        X = rng.normal(scale=2.0, size=(N, D))
        p1 = rng.uniform(0.05, 0.95, size=N)
        out = as_tuple(call(name, fn, X, p1), name, ("tau", "mu1", "mu2", "Sigma1", "Sigma2"))
        tau = as_number(out[0], name, "tau, P(Z = 1),")
        mu1 = as_array(out[1], name, "mu1", shape=(D,))
        mu2 = as_array(out[2], name, "mu2", shape=(D,))
        S1 = as_array(out[3], name, "Sigma1", shape=(D, D))
        S2 = as_array(out[4], name, "Sigma2", shape=(D, D))
        p2 = 1.0 - p1
        n1, n2 = p1.sum(), p2.sum()
        r_mu1, r_mu2 = p1 @ X / n1, p2 @ X / n2
        r_S1 = (p1[:, None] * (X - r_mu1)).T @ (X - r_mu1) / n1
        r_S2 = (p2[:, None] * (X - r_mu2)).T @ (X - r_mu2) / n2
        if not np.isclose(tau, n1 / N):
            g, e = got_expected(tau, n1 / N)
            got = f"tau = {g}; expected {e}"
            if np.isclose(tau, n2 / N):
                raise Fail(f"{q(name)} returned the share of component 2 ({got}): τ = P(Z=1) "
                           f"= (1/N) Σ_i P(Z_i=1 | x_i, θᵗ)")
            raise Fail(f"{q(name)} returned {got} = (1/N) Σ_i P(Z_i=1 | x_i, θᵗ)")
        if close(mu1, r_mu2) and close(mu2, r_mu1) and not close(mu1, r_mu1):
            raise Fail(f"{q(name)} swaps μ1 and μ2 (mu1 = {show(mu1)}; expected "
                       f"{show(r_mu1)}): μ1 is weighted by w_i = P(Z_i=1|x_i,θᵗ)")
        if not close(mu1, r_mu1):
            g, e = got_expected(mu1, r_mu1)
            raise Fail(f"{q(name)} returned mu1 = {g}; expected {e} = Σ_i w_i "
                       f"x_i / Σ_i w_i with w_i = P(Z_i=1 | x_i, θᵗ)")
        if not close(mu2, r_mu2):
            g, e = got_expected(mu2, r_mu2)
            raise Fail(f"{q(name)} returned mu2 = {g}; expected {e} = Σ_i "
                       f"(1 - w_i) x_i / Σ_i (1 - w_i): component 2 is weighted by 1 - w_i")
        if not close(S1, r_S1):
            hint = (" (these are standard deviations; Σ1 is a variance)"
                    if close(S1 ** 2, r_S1) else "")
            raise Fail(f"{q(name)} returned another Sigma1 ({worst_entry(S1, r_S1, 'Sigma1')}){hint}: Σ1 = Σ_i "
                       f"w_i (x_i - μ1)(x_i - μ1)ᵀ / Σ_i w_i, with the new μ1")
        if not close(S2, r_S2):
            hint = (" (these are standard deviations; Σ2 is a variance)"
                    if close(S2 ** 2, r_S2) else "")
            raise Fail(f"{q(name)} returned another Sigma2 ({worst_entry(S2, r_S2, 'Sigma2')}){hint}: Σ2 = Σ_i "
                       f"(1 - w_i)(x_i - μ2)(x_i - μ2)ᵀ / Σ_i (1 - w_i)")


def _em_1d_given(x, weights, means, variances, n_iter):
    """The notebook's given function, bug included: its log-likelihood history."""
    from scipy.stats import norm  # here: importing scipy.stats takes half a second

    weights, means, variances = (np.array(a, dtype=float) for a in (weights, means, variances))
    history = []
    for it in range(n_iter + 1):
        dens = np.column_stack([weights[k] * norm.pdf(x, means[k], variances[k])
                                for k in range(len(weights))])
        total = dens.sum(axis=1)
        history.append(np.log(total).sum())
        if it == n_iter:
            break
        resp = dens / total[:, None]
        Nk = resp.sum(axis=0)
        weights = Nk / len(x)
        means = resp.T @ x / Nk
        variances = (resp * (x[:, None] - means) ** 2).sum(axis=0) / Nk
    return np.array(history)


@register("debug.em_1d", function="em_1d", assignment="hw2")
def check_em_1d(fn, rng):
    name = "em_1d"
    for N, K, iters in ((80, 2, 10), (300, 3, 25)):
        means = np.sort(rng.normal(scale=4.0, size=K))
        z = rng.integers(K, size=N)
        x = means[z] + rng.normal(scale=rng.uniform(0.3, 1.5, size=K)[z])
        w0 = np.full(K, 1.0 / K)
        m0 = np.quantile(x, (np.arange(K) + 0.5) / K)
        v0 = np.full(K, np.var(x) * 2.0)
        init = GMMParams(w0, m0[:, None], v0[:, None, None])
        ref = gmm.fit(x[:, None], K, init=init, max_iter=iters, tol=0.0, reg_covar=0.0)
        expected = ref.loglik_history
        out = as_tuple(call(name, fn, x, w0, m0, v0, iters), name,
                       ("weights", "means", "variances", "loglik_history"))
        hist = as_array(out[3], name, "the log-likelihood history", ndim=1)
        finite(hist, name, "the log-likelihood history")
        buggy = _em_1d_given(x, w0, m0, v0, iters)
        drops = np.flatnonzero(np.diff(hist) < -1e-8 * (1 + np.abs(hist[:-1])))
        if drops.size:
            i = int(drops[0])
            fall = (f"goes down at iteration {i + 1} (from {num(hist[i])} to "
                    f"{num(hist[i + 1])})")
            if hist.shape == buggy.shape and np.allclose(hist, buggy, rtol=1e-9):
                raise Fail(f"the log-likelihood of {q(name)} still {fall}, exactly as "
                           f"em_1d_given's: the bug is still there. Check every place a "
                           f"Gaussian density is evaluated: what does each argument mean?")
            raise Fail(f"the log-likelihood of {q(name)} {fall}; exact EM never does that. "
                       f"Fix only the bug, keep em_1d_given's E-step and M-step formulas")
        if hist.shape[0] != iters + 1:
            raise Fail(f"with n_iter={iters}, {q(name)} returned a history of {hist.shape[0]} "
                       f"values; expected {iters + 1}, as em_1d_given does")
        if not np.allclose(hist, expected, rtol=1e-6):
            raise Fail(f"the log-likelihood of {q(name)} no longer goes down, but it differs "
                       f"from exact EM from the same start: "
                       f"{worst_entry(hist, expected, 'loglik_history')}. Fix only the bug, "
                       f"keep the E-step and M-step formulas")
        w = as_array(out[0], name, "the weights", shape=(K,))
        mu = as_array(out[1], name, "the means", shape=(K,))
        var = as_array(out[2], name, "the variances", shape=(K,))
        p = best_perm(mu[:, None], ref.params.means)
        w, mu, var = w[p], mu[p], var[p]
        r_w, r_mu = ref.params.weights, ref.params.means[:, 0]
        r_var = ref.params.covariances[:, 0, 0]
        if not close(mu, r_mu, rtol=1e-5):
            raise Fail(f"the log-likelihood of {q(name)} is right but it returns the means "
                       "{}; expected {} (matched up to relabelling)".format(*got_expected(mu, r_mu)))
        if not close(w, r_w, rtol=1e-5):
            raise Fail(f"the log-likelihood of {q(name)} is right but it returns the weights "
                       "{}; expected {}".format(*got_expected(w, r_w)))
        if not close(var, r_var, rtol=1e-5):
            hint = (": these are standard deviations; return the variances, as em_1d_given "
                    "does" if close(var, np.sqrt(r_var), rtol=1e-5) else "")
            raise Fail(f"the log-likelihood of {q(name)} is right but it returns the variances "
                       "{}; expected {}".format(*got_expected(var, r_var)) + hint)
