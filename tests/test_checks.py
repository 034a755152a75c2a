"""emcourse_grader.checks: right answers pass, typical wrong ones fail with a message that helps.

The right answers are the solution notebooks' own functions (every code cell of a notebook
that is not a test cell is run, solution regions included). The wrong answers are small
variations of them, written here as a student would. Only the package's public names are used.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from solution_helpers import NOTEBOOKS, NS, notebook_cells, solution

from emcourse_grader import checks
from emcourse_grader.checks import CHECKS, Check, GradingError, Verdict, checks_in, require, verify
from emcourse_grader.sandboxed import wire
from emref import hmm
from emref.gmm import GMMParams

ROOT = Path(__file__).resolve().parent.parent




def _function_defs(hw) -> dict:
    """name -> ast.FunctionDef of every function the notebook defines."""
    defs = {}
    for cell in notebook_cells(hw):
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.FunctionDef):
                    defs[node.name] = node
    return defs




_CLASS_PREFIX = re.compile(r"^\s*[A-Z]\w*(Error|Exception|Warning)\b")


def passes(check, fn, seed=None):
    v = verify(check, fn, seed=seed)
    assert isinstance(v, Verdict)
    assert v.passed, v.message
    return v


def fails(check, fn, *fragments):
    """Fails, names the student's function, contains ``fragments``, reads cleanly."""
    v = verify(check, fn)
    assert not v.passed, f"{check} should have failed"
    msg = v.message
    assert f"`{CHECKS[check].function}`" in msg, msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    assert not _CLASS_PREFIX.match(msg) and "GradingError" not in msg, msg
    assert "\n" not in msg and "array(" not in msg and len(msg) < 700, msg
    return msg


# ---- the registry ----------------------------------------------------------------------------

def test_the_registry_holds_every_check_of_the_three_assignments():
    assert set(CHECKS) == {
        "kmeans.assign", "kmeans.update", "kmeans.fit", "kmeans.soft_assign",
        "gmm.log_gaussian", "gmm.e_step", "gmm.m_step", "gmm.fit",
        "exam.m_step_two_gaussians", "debug.em_1d",
        "hmm.forward", "hmm.backward", "hmm.posteriors", "hmm.baum_welch_step",
        "hmm.count_estimate", "hmm.viterbi"}
    for spec in CHECKS.values():
        assert isinstance(spec, Check) and callable(spec.run)
        assert spec.assignment in NOTEBOOKS
        assert all(callable(f) for f in spec.uses.values())


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_each_check_grades_a_function_its_notebook_defines(check):
    spec = CHECKS[check]
    defs = _function_defs(spec.assignment)
    assert spec.function in defs
    assert callable(NS[spec.assignment].get(spec.function))


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_uses_are_exactly_the_graded_earlier_parts_the_function_calls(check):
    spec = CHECKS[check]
    defs = _function_defs(spec.assignment)
    body = defs[spec.function]
    called = {n.func.id for n in ast.walk(body)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    for name in spec.uses:
        assert name in defs, f"{name} is not a function of the {spec.assignment} notebook"
        assert name in called, f"{spec.function} does not call {name}"
    graded = {c.function for c in CHECKS.values() if c.assignment == spec.assignment}
    assert set(spec.uses) == (called & graded) - {spec.function}


def test_the_uses_table():
    table = {name: sorted(spec.uses) for name, spec in CHECKS.items() if spec.uses}
    assert table == {"kmeans.fit": ["assign", "update"],
                     "gmm.e_step": ["log_gaussian"],
                     "gmm.fit": ["e_step", "m_step"],
                     "hmm.baum_welch_step": ["backward", "forward", "posteriors"]}


@pytest.mark.parametrize("hw", sorted(NOTEBOOKS))
def test_each_hidden_test_names_the_check_of_the_function_above_it(hw):
    cells = notebook_cells(hw)
    named = []
    for i, cell in enumerate(cells):
        if not cell.metadata.get("nbgrader", {}).get("grade") or cell.cell_type != "code":
            continue
        found = checks_in(cell.source)
        assert len(found) == 1, cell.source
        assert "from emcourse_grader.checks import require" in cell.source
        answer = next(c for c in reversed(cells[:i]) if c.cell_type == "code"
                      and c.metadata.get("nbgrader", {}).get("solution"))
        assert f"def {CHECKS[found[0]].function}(" in answer.source
        assert CHECKS[found[0]].assignment == hw
        named += found
    assert sorted(named) == sorted(c for c, s in CHECKS.items() if s.assignment == hw)


# ---- uses: the course's versions behave as the notebook's functions -------------------------

def _same(a, b):
    if isinstance(a, GMMParams) or isinstance(b, GMMParams):
        return all(_same(getattr(a, f), getattr(b, f))
                   for f in ("weights", "means", "covariances"))
    if isinstance(a, (tuple, list)) and not isinstance(a, np.ndarray):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=1e-9, atol=1e-10)


def _problems(hw, name):
    """Argument tuples, shaped as the notebook calls ``name``."""
    rng = np.random.default_rng(7)
    ns = NS[hw]
    if hw == "hw1":
        X = ns["X_faithful"]
        if name == "assign":
            return [(X, X[[0, 1, 2]]), (rng.normal(size=(9, 1)), np.array([[-1.0], [1.0]]))]
        if name == "update":
            labels = np.arange(len(X)) % 3
            return [(X, labels, 3), (X, (X[:, 0] > 0).astype(int), 2)]
    if hw == "hw2":
        X = ns["X_faithful"]
        p0 = ns["params0"]
        if name == "log_gaussian":
            return [(X, p0.means, p0.covariances), (X + 60.0, p0.means, p0.covariances)]
        if name == "e_step":
            return [(X, p0), (X + 60.0, p0)]
        if name == "m_step":
            resp = ns["e_step"](X, p0)[0]
            return [(X, resp), (X, resp, 0.5)]
    if hw == "hw3":
        x_ice, pi, A, B = ns["x_ice"], ns["startprob"], ns["transmat"], ns["emissionprob"]
        long = hmm.sample(hmm.HMMParams(pi, A, hmm.Categorical(B)), 2000, seed=3)[0]
        if name in ("forward", "backward"):
            return [(x_ice, pi, A, B), (ns["x_toy"], ns["pi_toy"], ns["A_toy"], ns["B_toy"]),
                    (long, pi, A, B)]
        if name == "posteriors":
            out = []
            for x in (x_ice, long):
                alpha = ns["forward"](x, pi, A, B)[0]
                beta = ns["backward"](x, pi, A, B)[0]
                out.append((alpha, beta, x, A, B))
            return out
    raise KeyError((hw, name))


USES = sorted((check, name) for check, spec in CHECKS.items() for name in spec.uses)


@pytest.mark.parametrize("check,name", USES)
def test_uses_give_what_the_notebook_functions_give(check, name):
    hw = CHECKS[check].assignment
    course, notebook = CHECKS[check].uses[name], NS[hw][name]
    for args in _problems(hw, name):
        assert _same(course(*args), notebook(*args)), (check, name)


@pytest.mark.parametrize("check,name", USES)
def test_uses_take_the_notebook_functions_arguments(check, name):
    hw = CHECKS[check].assignment
    ours = inspect.signature(CHECKS[check].uses[name]).parameters
    theirs = inspect.signature(NS[hw][name]).parameters
    assert list(ours) == list(theirs)
    for p in theirs.values():  # the notebook may pass any of them by position
        assert ours[p.name].kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)
        assert (ours[p.name].default is p.empty) == (p.default is p.empty)


def test_the_hmm_adapters_agree_with_emref():
    uses = CHECKS["hmm.baum_welch_step"].uses
    rng = np.random.default_rng(3)
    for T, K, M in ((1, 2, 3), (40, 3, 4), (5000, 2, 3)):
        A = rng.dirichlet(np.ones(K), size=K) + 2 * np.eye(K)
        A /= A.sum(axis=1, keepdims=True)
        params = hmm.HMMParams(rng.dirichlet(np.ones(K)), A,
                               hmm.Categorical(rng.dirichlet(np.ones(M), size=K)))
        x = hmm.sample(params, T, seed=rng)[0]
        pi, A, B = params.startprob, params.transmat, params.emission.probs
        alpha, ll = uses["forward"](x, pi, A, B)
        beta, ll_b = uses["backward"](x, pi, A, B)
        gamma, xi = uses["posteriors"](alpha, beta, x, A, B)
        ref = hmm.forward_backward(x, params)
        assert np.isclose(ll, ref.loglik, rtol=1e-10) and np.isclose(ll_b, ref.loglik, rtol=1e-10)
        assert np.allclose(gamma, ref.gamma, atol=1e-10)
        assert np.allclose(xi.sum(axis=0), ref.xi_sum, rtol=1e-8, atol=1e-10)


# ---- right answers pass, reproducibly ----------------------------------------------------------

@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_solution_passes(check):
    v = passes(check, solution(check))
    assert v.message == f"`{CHECKS[check].function}`: all hidden checks passed"


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_solution_passes_on_other_random_problems(check):
    for seed in (1, 2):
        passes(check, solution(check), seed=seed)


def test_the_same_function_gets_the_same_verdict_twice():
    update = NS["hw1"]["update"]

    def off(X, labels, k):
        return update(X, labels, k) + 0.1
    for check, fn in (("kmeans.update", off), ("kmeans.update", update),
                      ("gmm.e_step", lambda X, p: (NS["hw2"]["e_step"](X, p)[0] * 1.5, 0.0))):
        first, second = verify(check, fn), verify(check, fn)
        assert first == second
        assert verify(check, fn, seed=None) == first
    # the seed is the check's own: another seed draws other problems, other numbers
    assert verify("kmeans.update", off, seed=5).message != verify("kmeans.update", off).message


def test_require_raises_a_grading_error_that_shows_only_the_message():
    require("kmeans.assign", NS["hw1"]["assign"])
    bad = lambda X, labels, k: np.zeros((k, X.shape[1]))
    with pytest.raises(GradingError) as info:
        require("kmeans.update", bad)
    err = info.value
    assert isinstance(err, AssertionError)
    assert str(err) == verify("kmeans.update", bad).message
    rendered = err._render_traceback_()
    assert "\n".join(rendered) == str(err)
    assert not any("GradingError" in line for line in rendered)


def test_verify_never_raises():
    v = verify("no.such_check", NS["hw1"]["assign"])
    assert not v.passed and "kmeans.assign" in v.message
    v = verify("kmeans.assign", "not a function")
    assert not v.passed and "`assign` must be a function" in v.message

    class Weird:
        def __array__(self, *a, **k):
            raise RuntimeError("no")
    v = verify("kmeans.assign", lambda X, C: Weird())
    assert not v.passed and v.message.startswith("`assign`")


def test_checks_in_reads_the_literal_check_names():
    src = ('from emcourse_grader.checks import require, verify\n'
           'import emcourse_grader.checks as checks\n'
           'require("kmeans.assign", assign)\n'
           'x = checks.verify("gmm.e_step", e_step, seed=3)\n'
           'require(name, fn)\n'
           'require("kmeans.assign", assign)\n'
           'other("hmm.forward", forward)\n')
    assert checks_in(src) == ["kmeans.assign", "gmm.e_step"]
    assert checks_in("%time require('hmm.viterbi', viterbi)\nrequire('hmm.forward', f)") \
        == ["hmm.forward"]
    assert checks_in("def broken(:\n") == []
    assert checks_in("") == []


def test_the_bytecode_detector_and_emref_grading_are_gone():
    assert not hasattr(checks, "emref_references")
    assert importlib.util.find_spec("emref.grading") is None
    assert "sandbox" in checks.__doc__


# ---- typical mistakes --------------------------------------------------------------------------

def sqdist(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def test_unnormalised_responsibilities_fail_with_the_row_sum():
    log_gaussian, e_step = NS["hw2"]["log_gaussian"], NS["hw2"]["e_step"]

    def e_step_unnormalised(X, params):
        a = np.log(params.weights) + log_gaussian(X, params.means, params.covariances)
        return np.exp(a - a.max(axis=1, keepdims=True)), e_step(X, params)[1]
    msg = fails("gmm.e_step", e_step_unnormalised, "responsibilities whose rows sum to",
                "expected every row to sum to 1", "normalise over the components")
    reported = float(msg.split("sum to ")[1].split(" ")[0])
    assert abs(reported - 1.0) > 1e-3  # the worst row, not a typical one

    fails("kmeans.soft_assign", lambda X, C, b: np.exp(-b * sqdist(X, C)),
          "rows sum to", "expected every row to sum to 1")


def test_normalising_over_the_wrong_axis_is_named():
    def soft_axis0(X, C, beta):
        r = np.exp(-beta * sqdist(X, C))
        return r / r.sum(axis=0, keepdims=True)
    fails("kmeans.soft_assign", soft_axis0, "columns sum to 1", "axis=1")


def test_nan_from_underflow_gets_the_log_sum_exp_hint():
    log_gaussian = NS["hw2"]["log_gaussian"]

    def e_step_naive(X, params):
        dens = params.weights * np.exp(log_gaussian(X, params.means, params.covariances))
        total = dens.sum(axis=1, keepdims=True)
        return dens / total, float(np.log(total).sum())
    fails("gmm.e_step", e_step_naive, "NaN", "far from every component", "underflows",
          "log-sum-exp", "expected finite numbers")

    def soft_naive(X, C, beta):
        r = np.exp(-beta * sqdist(X, C))
        return r / r.sum(axis=1, keepdims=True)
    fails("kmeans.soft_assign", soft_naive, "NaN", "underflows to 0", "log-sum-exp")

    fails("gmm.log_gaussian", lambda X, m, S: np.log(np.exp(log_gaussian(X, m, S))),
          "infinite", "far from the means", "log of an exp")


def test_hints_only_where_they_fit():
    # a NaN that has nothing to do with underflow gets no log-sum-exp story
    soft = NS["hw1"]["soft_assign"]

    def nan_first_row(X, C, beta):
        r = soft(X, C, beta)
        r[0] = np.nan
        return r
    msg = fails("kmeans.soft_assign", nan_first_row, "NaN", "β = 0.02")
    assert "underflow" not in msg and "log-sum-exp" not in msg


def test_variance_passed_as_standard_deviation_fails():
    from scipy.stats import norm

    def em_slip(x, weights, means, variances, n_iter):  # the given bug, kept
        weights, means, variances = (np.array(a, float) for a in (weights, means, variances))
        hist = []
        for it in range(n_iter + 1):
            dens = np.column_stack([weights[k] * norm.pdf(x, means[k], variances[k])
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
    fails("debug.em_1d", em_slip, "still goes down", "from", "em_1d_given",
          "what does each argument mean")

    em_1d = NS["hw2"]["em_1d"]

    def returns_std(*args):
        w, m, v, h = em_1d(*args)
        return w, m, np.sqrt(v), h
    fails("debug.em_1d", returns_std, "standard deviations", "expected")

    m_step = NS["hw2"]["m_step"]

    def m_step_std(X, resp, reg_covar=1e-6):
        p = m_step(X, resp, reg_covar=0.0)
        return GMMParams(p.weights, p.means, np.sqrt(p.covariances))
    fails("gmm.m_step", m_step_std, "standard deviations", "expected")


def test_off_by_one_mistakes_are_named():
    assign = NS["hw1"]["assign"]
    fails("kmeans.assign", lambda X, C: assign(X, C) + 1, "labels 1..2", "expected 0..1",
          "Python indices start at 0")
    fit = NS["hw2"]["fit"]

    def fit_without_theta0(X, params0, max_iter=100, tol=1e-6):
        params, history = fit(X, params0, max_iter, tol)
        return params, history[1:]
    fails("gmm.fit", fit_without_theta0, "a history of 8 values; expected 9", "θ⁰ first")


def test_wrong_shapes_are_named():
    assign = NS["hw1"]["assign"]
    fails("kmeans.assign", lambda X, C: assign(X, C)[:, None], "shape (7, 1)",
          "expected shape (7,)")
    e_step = NS["hw2"]["e_step"]
    fails("gmm.e_step", lambda X, p: (e_step(X, p)[0].T, e_step(X, p)[1]),
          "shape (2, 6)", "expected shape (6, 2)", "transposed")
    fails("gmm.e_step", lambda X, p: e_step(X, p)[0], "expected a tuple (resp, loglik)")


def test_comparisons_show_expected_beside_got():
    update = NS["hw1"]["update"]
    msg = fails("kmeans.update", lambda X, z, k: update(X, z, k) + 0.1, "centre", "; expected")
    got, expected = re.search(r"is (\[.*?\]); expected (\[.*?\])", msg).groups()
    assert got != expected

    e_step = NS["hw2"]["e_step"]
    fails("gmm.e_step", lambda X, p: (e_step(X, p)[0], e_step(X, p)[1] / len(X)),
          "averaged over", "expected the sum")
    fails("gmm.e_step", lambda X, p: (e_step(X, p)[0], e_step(X, p)[1] + 1.0),
          "returned the log-likelihood", "; expected")


def test_m_step_mistakes_are_named():
    m_step = NS["hw2"]["m_step"]

    def by_n(X, resp, reg_covar=1e-6):
        p = m_step(X, resp, reg_covar=0.0)
        Nk = resp.sum(axis=0)
        cov = p.covariances * (Nk / len(X))[:, None, None] + reg_covar * np.eye(X.shape[1])
        return GMMParams(p.weights, p.means, cov)
    fails("gmm.m_step", by_n, "divides the covariances by N", "expected", "divide by N_k")
    msg = fails("gmm.m_step", lambda X, r, reg_covar=1e-6: m_step(X, r, 0.0), "reg_covar",
                "expected")
    got, expected = re.search(r"is (\S+); expected ([^ )]+)", msg).groups()
    assert got != expected  # as many digits as it takes to see the difference

    def weights_nk(X, resp, reg_covar=1e-6):
        p = m_step(X, resp, reg_covar)
        return p.weights * len(X), p.means, p.covariances
    fails("gmm.m_step", weights_nk, "these are N_k", "; expected [")


def test_kmeans_mistakes_are_named():
    fails("kmeans.assign", lambda X, C: sqdist(X, C).argmax(axis=1), "farthest", "expected")
    fails("kmeans.update", lambda X, z, k: np.array([X[z == j].sum(0) for j in range(k)]),
          "sum of each cluster's points", "; expected", "divide by the number of points")
    soft = NS["hw1"]["soft_assign"]
    fails("kmeans.soft_assign", lambda X, C, b: soft(X, C, -b), "minus sign", "; expected")


def test_two_gaussians_swapped_components_fail():
    two = NS["hw2"]["m_step_two_gaussians"]

    def swapped(X, w):
        tau, m1, m2, S1, S2 = two(X, w)
        return tau, m2, m1, S2, S1
    fails("exam.m_step_two_gaussians", swapped, "swaps μ1 and μ2", "expected")


def test_not_implemented_and_crashes_are_reported_plainly():
    def blank(X, C):
        raise NotImplementedError()
    fails("kmeans.assign", blank, "is not implemented yet")
    msg = fails("kmeans.assign", lambda X, C: X[:, 5], "raised IndexError")
    assert msg.startswith("`assign` raised IndexError")


# ---- permutations of arbitrary labels still pass -----------------------------------------------

def test_permuted_components_still_pass_the_gmm_loop():
    fit = NS["hw2"]["fit"]

    def fit_reversed(X, params0, max_iter=100, tol=1e-6):
        p, hist = fit(X, params0, max_iter, tol)
        return GMMParams(p.weights[::-1], p.means[::-1], p.covariances[::-1]), hist
    passes("gmm.fit", fit_reversed)


def test_permuted_centres_still_pass_the_kmeans_loop():
    fit, assign = NS["hw1"]["fit"], NS["hw1"]["assign"]

    def fit_sorted(X, init, max_iter=100):
        centers, _, hist = fit(X, init, max_iter)
        centers = centers[np.lexsort(centers.T)][::-1]
        return centers, assign(X, centers), hist
    passes("kmeans.fit", fit_sorted)


def test_permuted_components_still_pass_the_debugging_exercise():
    em_1d = NS["hw2"]["em_1d"]

    def em_reversed(x, w, m, v, n):
        w, m, v, h = em_1d(x, w, m, v, n)
        return w[::-1], m[::-1], v[::-1], h
    passes("debug.em_1d", em_reversed)


# ---- HMM mistakes ------------------------------------------------------------------------------

def test_unscaled_forward_fails_on_long_sequences():
    def unscaled(obs, pi, A, B):
        a = np.empty((len(obs), len(pi)))
        a[0] = pi * B[:, obs[0]]
        for n in range(1, len(obs)):
            a[n] = B[:, obs[n]] * (a[n - 1] @ A)
        return a / a.sum(axis=1, keepdims=True), np.log(a[-1].sum())
    fails("hmm.forward", unscaled, "3000 steps", "underflow", "Normalise")

    def unnormalised_rows(obs, pi, A, B):
        alpha, ll = NS["hw3"]["forward"](obs, pi, A, B)
        return alpha * 2.0, ll
    fails("hmm.forward", unnormalised_rows, "rows sum to 2", "expected every row to sum to 1")


def test_transposed_transitions_fail_with_a_hint():
    forward, posteriors = NS["hw3"]["forward"], NS["hw3"]["posteriors"]
    fails("hmm.forward", lambda x, p, A, B: forward(x, p, A.T, B), "transposed", "; expected")

    def xi_t(alpha, beta, obs, A, B):
        g, xi = posteriors(alpha, beta, obs, A, B)
        return g, np.swapaxes(xi, 1, 2)
    fails("hmm.posteriors", xi_t, "transposed", "; expected")


def test_backward_loglik_must_match_forward():
    backward = NS["hw3"]["backward"]
    fails("hmm.backward", lambda x, p, A, B: (backward(x, p, A, B)[0], 0.0),
          "the same as the forward one", "; expected")


def test_baum_welch_loglik_of_the_new_parameters_is_named():
    step = NS["hw3"]["baum_welch_step"]
    forward = NS["hw3"]["forward"]

    def late(obs, pi, A, B):
        new = step(obs, pi, A, B)[:3]
        return (*new, forward(obs, *new)[1])
    fails("hmm.baum_welch_step", late, "of the new parameters", "expected")


def test_viterbi_with_products_fails_on_long_sequences():
    def products(obs, pi, A, B):
        T, K = len(obs), len(pi)
        w, back = pi * B[:, obs[0]], np.zeros((T, K), int)
        for n in range(1, T):
            s = w[:, None] * A
            back[n] = s.argmax(axis=0)
            w = s.max(axis=0) * B[:, obs[n]]
        z = np.empty(T, int)
        z[-1] = w.argmax()
        for n in range(T - 1, 0, -1):
            z[n - 1] = back[n, z[n]]
        return z, float(np.log(w.max()))
    fails("hmm.viterbi", products, "underflows", "log-probabilities", "expected")


def test_single_precision_answers_keep_their_points():
    # an M-step computed in float32 (GMMParams stores float64: the check cannot see it) and a
    # Viterbi whose messages and score are float32 (the score crosses as float32)
    def m_step32(X, resp, reg_covar=1e-6):
        X, resp = np.asarray(X, np.float32), np.asarray(resp, np.float32)
        Nk = resp.sum(axis=0)
        means = resp.T @ X / Nk[:, None]
        cov = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) / Nk[k]
                        + np.float32(reg_covar) * np.eye(X.shape[1], dtype=np.float32)
                        for k in range(len(Nk))])
        return GMMParams(Nk / np.float32(len(X)), means, cov)

    def viterbi32(obs, startprob, transmat, emissionprob):
        lp, lA, lB = (np.log(np.asarray(a, np.float32)) for a in
                      (startprob, transmat, emissionprob))
        omega, back = lp + lB[:, obs[0]], np.zeros((len(obs), len(lp)), np.int32)
        for n in range(1, len(obs)):
            scores = omega[:, None] + lA
            back[n], omega = scores.argmax(axis=0), scores.max(axis=0) + lB[:, obs[n]]
        states = np.empty(len(obs), np.int32)
        states[-1] = omega.argmax()
        for n in range(len(obs) - 1, 0, -1):
            states[n - 1] = back[n, states[n]]
        return states, wire.decode(wire.encode(omega.max()))  # as it arrives from the sandbox

    for seed in range(3):
        passes("gmm.m_step", m_step32, seed=seed)
        passes("hmm.viterbi", viterbi32, seed=seed)
