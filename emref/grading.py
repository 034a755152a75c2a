r"""Checks that the homework test cells call: a student's function against emref.

Every check is a pure function of the student's function (and a seed): it builds fresh random
inputs, calls the student's function on copies of them, compares the answer with emref's
(up to a permutation of the labels wherever labels are arbitrary) and returns a
:class:`Verdict`. Nothing is printed and no global state is touched, so a check can later run
in a fresh subprocess. The failure message says what to look at ("rows of your
responsibilities sum to 1.7; did you normalise over the components?") without showing the
hidden inputs or the expected answer.

In a notebook test cell::

    from emref.grading import require
    require("gmm.e_step", e_step)        # raises GradingError with the message if it fails

:func:`verify` returns the verdict instead of raising. A student function must not pass by
calling emref's own implementation: before anything runs, the function (and every function of
the notebook it calls) is scanned for references to emref; only ``emref.datasets``,
``emref.grading`` and the parameter containers (``GMMParams``, ``HMMParams``, ``Categorical``)
may be used.
"""

from __future__ import annotations

import inspect
import itertools
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CHECKS", "GradingError", "Verdict", "emref_references", "require", "verify"]


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: whether it passed and what a student should look at."""

    check: str
    passed: bool
    message: str = ""

    def __bool__(self) -> bool:
        return self.passed


class GradingError(AssertionError):
    """A failed check. Its traceback in a notebook is just the message (no hidden code)."""

    def _render_traceback_(self):  # IPython shows this instead of the full traceback
        return [f"\x1b[0;31mGradingError\x1b[0m: {self}"]


class _Fail(Exception):
    """Raised inside a check: the student-facing message."""


def verify(check: str, fn: Callable, *, seed=None) -> Verdict:
    """Run the check named ``check`` on the student's function ``fn``; never raises.

    ``seed`` (None, an int) fixes the random inputs; None draws fresh ones.
    """
    if check not in CHECKS:
        raise KeyError(f"unknown check {check!r}; known checks: {', '.join(sorted(CHECKS))}")
    name = check.rsplit(".", 1)[-1]
    if not callable(fn):
        return Verdict(check, False, f"{name} must be a function; found "
                                     f"{type(fn).__name__}")
    spec = CHECKS[check]
    problem = emref_references(fn, forbid=spec.forbid)
    if problem:
        return Verdict(check, False, problem)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                spec.run(fn, rng)
            except _Fail as exc:
                return Verdict(check, False, str(exc))
    return Verdict(check, True, f"{name}: all hidden checks passed")


def require(check: str, fn: Callable, *, seed=None) -> None:
    """Like :func:`verify`, but raise :class:`GradingError` with the message on failure."""
    verdict = verify(check, fn, seed=seed)
    if not verdict.passed:
        raise GradingError(verdict.message)


# --------------------------------------------------------------------------------------------
# "Did you just call emref?"
# --------------------------------------------------------------------------------------------

_ALLOWED_MODULES = ("emref.datasets", "emref.grading")
_ALLOWED_OBJECTS = {"GMMParams", "HMMParams", "Categorical", "Gaussian"}


def _is_emref_module(name: str) -> bool:
    return (name == "emref" or name.startswith("emref.")) and not name.startswith(
        _ALLOWED_MODULES)


def _matches(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _code_names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def emref_references(fn: Callable, forbid=()) -> str:
    """Why ``fn`` may not be graded ('' if it may).

    Looks at the function, its closure, the globals its code names and, recursively, every
    other function of the same notebook it calls. ``forbid`` adds module prefixes that this
    exercise does not allow (for instance ``scipy.stats`` for a hand-written density).
    """
    fname = getattr(fn, "__name__", "your function")
    seen = set()
    stack = [fn]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        f = inspect.unwrap(f) if callable(f) else f
        module = getattr(f, "__module__", "") or ""
        if f is not fn and not isinstance(f, types.FunctionType):
            continue
        if _is_emref_module(module):
            return (f"{fname} is emref's own implementation ({module}.{f.__name__}); write "
                    f"it yourself: the reference library cannot be graded as your answer")
        if not isinstance(f, types.FunctionType):
            continue
        code = f.__code__
        values = []
        for cell in f.__closure__ or ():
            try:
                values.append(("a variable it closes over", cell.cell_contents))
            except ValueError:
                pass
        names = set(_code_names(code))
        for n in names:
            if _is_emref_module(n) or _matches(n, forbid):
                return _cheat_message(fname, f.__name__, n, forbid)
            if n in f.__globals__:
                values.append((n, f.__globals__[n]))
        for n, value in values:
            if isinstance(value, types.ModuleType):
                mname = value.__name__
                if _is_emref_module(mname) or _matches(mname, forbid):
                    return _cheat_message(fname, f.__name__, mname, forbid)
                for p in forbid:  # scipy.stats reached as the attribute of `scipy`
                    if p.startswith(mname + ".") and p[len(mname) + 1:].split(".")[0] in names:
                        return _cheat_message(fname, f.__name__, p, forbid)
                continue
            vmod = getattr(value, "__module__", None) or ""
            if not isinstance(vmod, str):
                continue
            if _is_emref_module(vmod) and getattr(value, "__name__", n) not in _ALLOWED_OBJECTS:
                return _cheat_message(fname, f.__name__, f"{vmod}.{getattr(value, '__name__', n)}",
                                      forbid)
            if _matches(vmod, forbid):
                return _cheat_message(fname, f.__name__, f"{vmod}", forbid)
            if isinstance(value, types.FunctionType) and vmod == module:
                stack.append(value)  # another function of the notebook: look inside it too
    return ""


def _cheat_message(fname, where, what, forbid):
    inside = "" if where == fname else f" (through {where})"
    if _matches(what, forbid):
        return (f"{fname} uses {what}{inside}, which this exercise asks you not to use: "
                f"write the computation with numpy yourself")
    return (f"{fname} uses {what}{inside}: emref is the reference the grader compares "
            f"with, so it cannot be part of your answer. Write it with numpy (only "
            f"emref.datasets and the parameter containers such as GMMParams are allowed)")


# --------------------------------------------------------------------------------------------
# Calling the student's function safely, and describing what came back
# --------------------------------------------------------------------------------------------

def _copy(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, list):
        return [_copy(x) for x in a]
    return a


def _call(fn, *args, **kwargs):
    name = getattr(fn, "__name__", "your function")
    try:
        return fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
    except NotImplementedError:
        raise _Fail(f"{name} is not implemented yet (it raises NotImplementedError)") from None
    except RecursionError:
        raise _Fail(f"{name} recursed without end (RecursionError)") from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a message
        shapes = ", ".join(_describe(a) for a in args)
        raise _Fail(f"{name} raised {type(exc).__name__}: {exc} (called with {shapes}); "
                    f"run it on the visible examples to see where") from None


def _describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"an array of shape {a.shape}"
    if isinstance(a, (list, tuple)):
        return f"a {type(a).__name__} of {len(a)}"
    if isinstance(a, (int, float, np.number)):
        return "a number"
    return type(a).__name__


def _array(value, what: str, shape=None, ndim=None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise _Fail(f"{what} must be a numpy array of numbers; found "
                    f"{type(value).__name__}") from None
    if shape is not None and arr.shape != tuple(shape):
        hint = ""
        if arr.ndim == len(shape) == 2 and arr.shape == tuple(shape)[::-1]:
            hint = " (it looks transposed)"
        raise _Fail(f"{what} has shape {arr.shape}; expected {tuple(shape)}{hint}")
    if ndim is not None and arr.ndim != ndim:
        raise _Fail(f"{what} must be {ndim}-D; found shape {arr.shape}")
    return arr


def _finite(arr: np.ndarray, what: str, hint: str):
    if not np.all(np.isfinite(arr)):
        nan = int(np.isnan(arr).sum())
        inf = int(np.isinf(arr).sum())
        kinds = " and ".join(k for k, c in (("NaN", nan), ("infinite values", inf)) if c)
        raise _Fail(f"there are {kinds} in {what}{hint}")


def _close(a, b, rtol=1e-6, atol=1e-8) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _best_perm(est_means: np.ndarray, ref_means: np.ndarray):
    """The permutation p (est index for each ref index) that best matches the means."""
    K = ref_means.shape[0]
    best, best_cost = None, np.inf
    perms = itertools.permutations(range(K)) if K <= 7 else [tuple(range(K))]
    for p in perms:
        cost = float(((est_means[list(p)] - ref_means) ** 2).sum())
        if cost < best_cost:
            best, best_cost = p, cost
    return list(best)


# --------------------------------------------------------------------------------------------
# Random inputs
# --------------------------------------------------------------------------------------------

def _blobs(rng, N, D, K, spread=6.0):
    """N points around K well separated centres; returns X, the true centres and labels."""
    centers = rng.normal(scale=spread, size=(K, D))
    while K > 1 and min(np.linalg.norm(centers[i] - centers[j])
                        for i in range(K) for j in range(i)) < spread / 2:
        centers = rng.normal(scale=spread, size=(K, D))
    z = np.concatenate([np.arange(K), rng.integers(K, size=N - K)])
    X = centers[z] + rng.normal(size=(N, D))
    return X, centers, z


def _spd(rng, K, D, scale=1.0):
    A = rng.normal(size=(K, D, D))
    return scale * (A @ np.swapaxes(A, 1, 2) / D + 0.5 * np.eye(D))


def _random_params(rng, K, D):
    from .gmm import GMMParams
    w = rng.dirichlet(np.full(K, 3.0))
    return GMMParams(w, rng.normal(scale=3.0, size=(K, D)), _spd(rng, K, D))


def _random_resp(rng, N, K):
    r = rng.uniform(0.05, 1.0, size=(N, K))
    return r / r.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------
# hw1: k-means
# --------------------------------------------------------------------------------------------

def _sqdist(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def _check_kmeans_assign(fn, rng):
    from . import kmeans
    for N, D, K in ((7, 1, 2), (60, 2, 3), (300, 5, 6)):
        X, _, _ = _blobs(rng, N, D, K)
        C = rng.normal(scale=6.0, size=(K, D))
        ref = kmeans.assign(X, C)
        out = _array(_call(fn, X, C), "the labels assign returns", shape=(N,))
        if not np.all(out == np.round(out)):
            raise _Fail("assign must return integer labels (indices of centres)")
        if np.array_equal(out, ref):
            continue
        d = _sqdist(X, C)
        if np.array_equal(out, d.argmax(axis=1)):
            raise _Fail("assign gives each point its farthest centre: take the argmin of the "
                        "distances, not the argmax")
        if out.min() >= 1 and out.max() <= K:
            raise _Fail(f"assign returns labels from 1 to {K}; Python indices start at 0: "
                        f"labels must be 0..k-1")
        wrong = int((out != ref).sum())
        raise _Fail(f"for {N} points in {D}-D and {K} centres, {wrong} point(s) do not get "
                    f"their nearest centre: compute the squared distance from every point to "
                    f"every centre, then take the argmin over the centres (axis=1)")


def _check_kmeans_update(fn, rng):
    from . import kmeans
    for N, D, K in ((6, 1, 2), (60, 2, 3), (300, 4, 5)):
        X, _, z = _blobs(rng, N, D, K)
        ref = kmeans.update(X, z, K)
        out = _array(_call(fn, X, z, K), "the centres update returns", shape=(K, D))
        if _close(out, ref):
            continue
        counts = np.bincount(z, minlength=K)
        sums = ref * counts[:, None]
        if _close(out, sums):
            raise _Fail("update returns the sum of each cluster's points: divide by the "
                        "number of points N_k in the cluster")
        if _close(out, np.broadcast_to(X.mean(axis=0), out.shape)):
            raise _Fail("every centre equals the mean of all the data: average only the "
                        "points whose label is k")
        bad = int(np.flatnonzero(~np.all(np.isclose(out, ref), axis=1))[0])
        raise _Fail(f"centre {bad} is not the mean of the points labelled {bad} (with {K} "
                    f"clusters in {D}-D); μ_k = (1/N_k) Σ_n r_nk x_n")


def _check_kmeans_fit(fn, rng):
    from . import kmeans
    for N, D, K in ((40, 2, 2), (300, 3, 4)):
        X, _, _ = _blobs(rng, N, D, K, spread=6.0)
        init = X[:K].copy()  # one point of each blob: no cluster ever empties
        ref = kmeans.fit(X, K, init=init, tol=0, max_iter=300)
        out = _call(fn, X, init, max_iter=300)
        if not isinstance(out, tuple) or len(out) != 3:
            raise _Fail("fit must return a tuple (centers, labels, history)")
        centers = _array(out[0], "the centres fit returns", shape=(K, D))
        labels = _array(out[1], "the labels fit returns", shape=(N,)).astype(int)
        history = _array(out[2], "the inertia history fit returns", ndim=1)
        if history.size == 0:
            raise _Fail("the inertia history is empty: append J after every iteration")
        _finite(centers, "the centres", "; is a cluster empty?")
        rises = np.flatnonzero(np.diff(history) > 1e-9 * (1 + abs(history[0])))
        if rises.size:
            raise _Fail(f"your inertia history goes up at iteration {rises[0] + 1}; neither "
                        f"step of k-means can raise J: check the order assign -> update and "
                        f"that you record J for the current centres and labels")
        centers = centers[_best_perm(centers, ref.centers)] if K > 1 else centers
        if not _close(centers, ref.centers, rtol=1e-6, atol=1e-6):
            raise _Fail(f"from the same initial centres ({N} points, {K} clusters) your loop "
                        f"stops at different centres than Lloyd's algorithm: iterate assign "
                        f"then update until the labels stop changing (or max_iter)")
        centers = _array(out[0], "the centres fit returns", shape=(K, D))  # their order
        if not np.array_equal(labels, kmeans.assign(X, centers)):
            raise _Fail("the labels fit returns are not the nearest centres of the centres it "
                        "returns: assign once more after the last update")
        J = float(((X - centers[labels]) ** 2).sum())
        if not np.isclose(history[-1], J, rtol=1e-6):
            ratio = history[-1] / J
            hint = " (it looks like a sum of distances, not of squared distances)" \
                if ratio < 1 else ""
            raise _Fail(f"the last inertia in your history is {ratio:.3g} times the inertia "
                        f"of the returned centres{hint}: J = Σ_n ||x_n - μ_(label n)||²")


def _check_kmeans_soft_assign(fn, rng):
    from . import kmeans
    cases = [(8, 1, 2, 1.0), (80, 2, 3, 0.5), (200, 3, 4, 3.0), (50, 2, 3, 200.0)]
    for N, D, K, beta in cases:
        X, _, _ = _blobs(rng, N, D, K)
        C = rng.normal(scale=6.0, size=(K, D))
        if beta > 100:  # stiff: exp(-β d²) underflows to 0 for every centre
            X = X * 3.0
        ref = kmeans.soft_assign(X, C, beta)
        out = _array(_call(fn, X, C, beta), "the responsibilities soft_assign returns",
                     shape=(N, K))
        _finite(out, f"your responsibilities (β = {beta:g})",
                ": for a large β, exp(-β d²) underflows to 0 for every centre and 0/0 is NaN. "
                "Subtract the largest -β d² of each row before exp (the log-sum-exp trick)")
        sums = out.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _Fail(f"rows of your responsibilities sum to {worst:.3g}; did you normalise "
                        f"over the centres (axis=1)?")
        if _close(out, ref, rtol=1e-6, atol=1e-9):
            continue
        d2 = _sqdist(X, C)
        flipped = kmeans.soft_assign(X, C, 0.0)  # uniform
        logits = beta * d2
        far = np.exp(logits - logits.max(axis=1, keepdims=True))
        far /= far.sum(axis=1, keepdims=True)
        if _close(out, far, atol=1e-9):
            raise _Fail("your responsibilities favour the farthest centre: the exponent is "
                        "-β ||x_n - μ_k||² (mind the minus sign)")
        if _close(out, flipped):
            raise _Fail("your responsibilities are uniform: is β multiplied in?")
        lg = -beta * np.sqrt(d2)
        nosq = np.exp(lg - lg.max(axis=1, keepdims=True))
        nosq /= nosq.sum(axis=1, keepdims=True)
        if _close(out, nosq, atol=1e-9):
            raise _Fail("use squared distances ||x_n - μ_k||² in the exponent, not distances")
        raise _Fail(f"your responsibilities differ from r_nk = exp(-β d_nk²) / Σ_j exp(-β "
                    f"d_nj²) (largest difference {np.abs(out - ref).max():.2g} at β = {beta:g})")


# --------------------------------------------------------------------------------------------
# hw2: Gaussian mixtures
# --------------------------------------------------------------------------------------------

def _check_log_gaussian(fn, rng):
    from . import gmm
    for N, D, K, far in ((5, 1, 1, False), (50, 2, 3, False), (200, 4, 2, False),
                         (20, 2, 2, True)):
        means = rng.normal(scale=2.0, size=(K, D))
        cov = _spd(rng, K, D)
        X = rng.normal(scale=2.0, size=(N, D))
        if far:
            X = X + 60.0  # densities underflow to 0: log(0) = -inf outside log space
        ref = gmm.log_gaussian(X, means, cov)
        out = _array(_call(fn, X, means, cov), "the array log_gaussian returns", shape=(N, K))
        _finite(out, "your log-densities" + (" for points far from the means" if far else ""),
                ": compute log N directly (-½ D log 2π - ½ log|Σ| - ½ Mahalanobis²); "
                "never take the log of an exp that has underflowed")
        if _close(out, ref, rtol=1e-7, atol=1e-7):
            continue
        diff = out - ref
        const = float(np.median(diff))
        if np.allclose(diff, const, atol=1e-6):
            if np.isclose(const, 0.5 * D * np.log(2 * np.pi)) or np.isclose(
                    const, -0.5 * D * np.log(2 * np.pi)) or np.isclose(
                    abs(const), D * np.log(2 * np.pi)):
                raise _Fail("your log-densities are off by a constant: check the -½ D log 2π "
                            "term")
            raise _Fail(f"your log-densities are off by the constant {const:.3g}: check the "
                        f"normalising terms (-½ D log 2π - ½ log|Σ_k|)")
        colconst = diff - diff[:1]
        if np.allclose(colconst, 0, atol=1e-6):
            raise _Fail("your log-densities are off by a different constant for each "
                        "component: check the log-determinant, log|Σ_k| = 2 Σ_i log L_ii "
                        "with Σ_k = L Lᵀ (Cholesky)")
        raise _Fail(f"your log-densities differ from log N(x_n | μ_k, Σ_k) for D = {D}, "
                    f"K = {K} (largest difference {np.abs(diff).max():.3g}): check the "
                    f"Mahalanobis term (x-μ)ᵀ Σ⁻¹ (x-μ) = ||L⁻¹(x-μ)||²")


def _check_resp(resp, ref, what_far):
    _finite(resp, "your responsibilities" + what_far,
            ": where every π_k N(x_n|μ_k,Σ_k) underflows to 0, 0/0 is NaN. Work with "
            "log π_k + log N and normalise each row with log-sum-exp")
    sums = resp.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        raise _Fail(f"rows of your responsibilities sum to {worst:.3g}; did you normalise "
                    f"over components (axis=1)?")
    if np.any(resp < -1e-12):
        raise _Fail("your responsibilities contain negative numbers")


def _check_e_step(fn, rng):
    from . import gmm
    for N, D, K, far in ((6, 1, 2, False), (100, 2, 3, False), (300, 3, 4, False),
                         (30, 2, 3, True)):
        params = _random_params(rng, K, D)
        X = gmm.sample(params, N, seed=rng)[0]
        if far:
            X[: N // 2] += 80.0
        ref_resp, ref_ll = gmm.e_step(X, params)
        out = _call(fn, X, params)
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Fail("e_step must return a tuple (resp, loglik)")
        resp = _array(out[0], "the responsibilities e_step returns", shape=(N, K))
        far_txt = " for points far from every component" if far else ""
        _check_resp(resp, ref_resp, far_txt)
        try:
            ll = float(out[1])
        except (TypeError, ValueError):
            raise _Fail("the log-likelihood e_step returns must be one number "
                        "(summed over points)") from None
        if not _close(resp, ref_resp, rtol=1e-6, atol=1e-8):
            no_w = np.exp(gmm.log_gaussian(X, params.means, params.covariances))
            with np.errstate(all="ignore"):
                no_w = no_w / no_w.sum(axis=1, keepdims=True)
            if np.all(np.isfinite(no_w)) and _close(resp, no_w, atol=1e-8):
                raise _Fail("your responsibilities ignore the mixing weights: γ(z_nk) ∝ π_k "
                            "N(x_n | μ_k, Σ_k)")
            raise _Fail(f"your responsibilities differ from γ(z_nk) = π_k N(x_n|μ_k,Σ_k) / "
                        f"Σ_j π_j N(x_n|μ_j,Σ_j) (largest difference "
                        f"{np.abs(resp - ref_resp).max():.2g}){far_txt}")
        if not np.isfinite(ll):
            raise _Fail(f"your log-likelihood is {ll}{far_txt}: sum the row-wise "
                        f"log-sum-exp of log π_k + log N(x_n|μ_k,Σ_k)")
        if not np.isclose(ll, ref_ll, rtol=1e-7, atol=1e-6):
            if np.isclose(ll, ref_ll / N, rtol=1e-7):
                raise _Fail("your log-likelihood is averaged over points; the course sums it "
                            "over points")
            raise _Fail(f"your log-likelihood differs from log p(X|θ) = Σ_n log Σ_k π_k "
                        f"N(x_n|μ_k,Σ_k) by {ll - ref_ll:.3g}")


def _params_tuple(out, what):
    if hasattr(out, "weights") and hasattr(out, "means") and hasattr(out, "covariances"):
        return out.weights, out.means, out.covariances
    if isinstance(out, tuple) and len(out) == 3:
        return out
    raise _Fail(f"{what} must return GMMParams(weights, means, covariances); found "
                f"{type(out).__name__}")


def _check_m_step(fn, rng):
    from . import gmm
    for N, D, K in ((5, 1, 2), (80, 2, 3), (300, 3, 4)):
        X = rng.normal(scale=3.0, size=(N, D))
        resp = _random_resp(rng, N, K)
        reg = 1e-6 if N > 5 else 1e-3
        ref = gmm.m_step(X, resp, reg_covar=reg)
        w, m, c = _params_tuple(_call(fn, X, resp, reg_covar=reg), "m_step")
        w = _array(w, "the weights m_step returns", shape=(K,))
        m = _array(m, "the means m_step returns", shape=(K, D))
        c = _array(c, "the covariances m_step returns", shape=(K, D, D))
        Nk = resp.sum(axis=0)
        if not _close(w, ref.weights):
            if _close(w, Nk):
                raise _Fail("your weights are N_k; divide by N so that they sum to 1")
            raise _Fail(f"your weights sum to {w.sum():.3g} and differ from π_k = N_k / N")
        if not _close(m, ref.means):
            if _close(m, resp.T @ X):
                raise _Fail("your means are Σ_n γ(z_nk) x_n; divide by N_k")
            if _close(m, resp.T @ X / N):
                raise _Fail("your means are divided by N; divide by N_k = Σ_n γ(z_nk)")
            raise _Fail("your means differ from μ_k = (1/N_k) Σ_n γ(z_nk) x_n")
        if _close(c, ref.covariances):
            continue
        if not np.allclose(c, np.swapaxes(c, 1, 2), atol=1e-10):
            raise _Fail("your covariances are not symmetric: Σ_k = (1/N_k) Σ_n γ(z_nk) "
                        "(x_n - μ_k)(x_n - μ_k)ᵀ")
        eye = np.eye(D)
        if _close(c + reg * eye, ref.covariances):
            raise _Fail("add reg_covar to the diagonal of every covariance")
        scale = (N / Nk)[:, None, None]
        if _close((c - reg * eye) * scale + reg * eye, ref.covariances) \
                or _close(c * scale + reg * eye, ref.covariances):
            raise _Fail("your covariances are divided by N; divide by N_k")
        raise _Fail("your covariances differ from Σ_k = (1/N_k) Σ_n γ(z_nk) (x_n - μ_k)"
                    "(x_n - μ_k)ᵀ + reg_covar·I (use the new μ_k)")


def _check_gmm_fit(fn, rng):
    from . import gmm
    for N, D, K, iters in ((60, 1, 2, 8), (200, 2, 3, 15)):
        true = _random_params(rng, K, D)
        X = gmm.sample(true, N, seed=rng)[0]
        p0 = gmm.m_step(X, _random_resp(rng, N, K))
        ref = gmm.fit(X, K, init=p0, max_iter=iters, tol=0.0)
        out = _call(fn, X, p0, max_iter=iters, tol=0.0)
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Fail("fit must return a tuple (params, loglik_history)")
        _, m, _ = _params_tuple(out[0], "fit")
        hist = _array(out[1], "the loglik_history fit returns", ndim=1)
        _finite(hist, "your log-likelihood history", "")
        drops = np.flatnonzero(np.diff(hist) < -1e-8 * (1 + np.abs(hist[:-1])))
        if drops.size:
            raise _Fail(f"your log-likelihood goes down at iteration {drops[0] + 1}; exact EM "
                        f"never does that: check your M-step")
        if hist.shape[0] != iters + 1:
            raise _Fail(f"with max_iter={iters} and tol=0 your history has {hist.shape[0]} "
                        f"values; expected {iters + 1}: loglik_history[i] is the "
                        f"log-likelihood of θⁱ, θ⁰ first")
        if not np.allclose(hist, ref.loglik_history, rtol=1e-6, atol=1e-6):
            if np.allclose(hist[1:], ref.loglik_history[:-1], rtol=1e-6):
                raise _Fail("your history is shifted by one iteration: record log p(X|θ⁰) "
                            "first and the returned θ's log-likelihood last")
            raise _Fail("your log-likelihood history differs from EM's from the same start: "
                        "loop e_step -> m_step and append the E-step's log-likelihood")
        m = _array(m, "the means fit returns", shape=(K, D))
        p = _best_perm(m, ref.params.means)
        if not _close(m[p], ref.params.means, rtol=1e-5, atol=1e-6):
            raise _Fail("the returned parameters are not those whose log-likelihood is last "
                        "in your history")


def _check_two_gaussians(fn, rng):
    for N, D in ((6, 1), (100, 2), (300, 3)):
        X = rng.normal(scale=2.0, size=(N, D))
        p1 = rng.uniform(0.05, 0.95, size=N)
        out = _call(fn, X, p1)
        if not isinstance(out, tuple) or len(out) != 5:
            raise _Fail("m_step_two_gaussians must return (tau, mu1, mu2, Sigma1, Sigma2)")
        tau = float(np.asarray(out[0], dtype=float).reshape(-1)[0]) \
            if np.size(out[0]) == 1 else None
        if tau is None:
            raise _Fail("tau must be one number, P(Z = 1)")
        mu1 = _array(out[1], "mu1", shape=(D,))
        mu2 = _array(out[2], "mu2", shape=(D,))
        S1 = _array(out[3], "Sigma1", shape=(D, D))
        S2 = _array(out[4], "Sigma2", shape=(D, D))
        p2 = 1.0 - p1
        n1, n2 = p1.sum(), p2.sum()
        r_mu1, r_mu2 = p1 @ X / n1, p2 @ X / n2
        r_S1 = (p1[:, None] * (X - r_mu1)).T @ (X - r_mu1) / n1
        r_S2 = (p2[:, None] * (X - r_mu2)).T @ (X - r_mu2) / n2
        if not np.isclose(tau, n1 / N):
            if np.isclose(tau, n2 / N):
                raise _Fail("your τ is the share of component 2; τ = P(Z=1) = (1/N) Σ_i "
                            "P(Z_i=1 | x_i, θᵗ)")
            raise _Fail("your τ differs from (1/N) Σ_i P(Z_i=1 | x_i, θᵗ)")
        if _close(mu1, r_mu2) and _close(mu2, r_mu1):
            raise _Fail("μ1 and μ2 are swapped: μ1 is weighted by P(Z_i=1|x_i,θᵗ)")
        if not _close(mu1, r_mu1):
            raise _Fail("μ1 differs from Σ_i w_i x_i / Σ_i w_i with w_i = P(Z_i=1 | x_i, θᵗ)")
        if not _close(mu2, r_mu2):
            raise _Fail("μ2 differs from Σ_i (1 - w_i) x_i / Σ_i (1 - w_i): component 2 is "
                        "weighted by 1 - w_i")
        if not _close(S1, r_S1):
            raise _Fail("Σ1 differs from Σ_i w_i (x_i - μ1)(x_i - μ1)ᵀ / Σ_i w_i (use the "
                        "new μ1)")
        if not _close(S2, r_S2):
            raise _Fail("Σ2 differs from Σ_i (1 - w_i)(x_i - μ2)(x_i - μ2)ᵀ / Σ_i (1 - w_i)")


def _check_em_1d(fn, rng):
    from . import gmm
    for N, K, iters in ((80, 2, 10), (300, 3, 25)):
        means = np.sort(rng.normal(scale=4.0, size=K))
        z = rng.integers(K, size=N)
        x = means[z] + rng.normal(scale=rng.uniform(0.3, 1.5, size=K)[z])
        w0 = np.full(K, 1.0 / K)
        m0 = np.quantile(x, (np.arange(K) + 0.5) / K)
        v0 = np.full(K, np.var(x) * 2.0)
        init = gmm.GMMParams(w0, m0[:, None], v0[:, None, None])
        ref = gmm.fit(x[:, None], K, init=init, max_iter=iters, tol=0.0, reg_covar=0.0)
        out = _call(fn, x, w0, m0, v0, iters)
        if not isinstance(out, tuple) or len(out) != 4:
            raise _Fail("em_1d must return (weights, means, variances, loglik_history)")
        hist = _array(out[3], "the loglik_history em_1d returns", ndim=1)
        _finite(hist, "your log-likelihood history", "")
        drops = np.flatnonzero(np.diff(hist) < -1e-8 * (1 + np.abs(hist[:-1])))
        if drops.size:
            raise _Fail(f"your log-likelihood still goes down (at iteration {drops[0] + 1}); "
                        f"exact EM never does that. Check every place a Gaussian density is "
                        f"evaluated: what does each argument mean?")
        if hist.shape[0] == iters + 1 and np.allclose(hist, ref.loglik_history, rtol=1e-6):
            var = _array(out[2], "the variances em_1d returns", shape=(K,))
            mu = _array(out[1], "the means em_1d returns", shape=(K,))
            var = var[_best_perm(mu[:, None], ref.params.means)]
            if _close(var, ref.params.covariances[:, 0, 0], rtol=1e-5):
                continue
            if _close(np.sqrt(np.abs(var)), ref.params.covariances[:, 0, 0], rtol=1e-5):
                raise _Fail("the log-likelihood is right but you now return standard "
                            "deviations; the M-step should still return variances")
        raise _Fail("your EM no longer goes down, but it differs from exact EM from the same "
                    "start: fix only the bug, keep the E-step and M-step formulas")


# --------------------------------------------------------------------------------------------
# hw3: hidden Markov models (categorical emissions, no STOP state)
# --------------------------------------------------------------------------------------------

def _random_hmm(rng, K, M, sticky=True):
    """Strictly positive (startprob, transmat, emissionprob)."""
    pi = rng.dirichlet(np.full(K, 2.0))
    A = rng.dirichlet(np.full(K, 1.0), size=K) + (3.0 * np.eye(K) if sticky else 0.0)
    A = 0.02 + A
    A /= A.sum(axis=1, keepdims=True)
    B = 0.02 + rng.dirichlet(np.full(M, 0.7), size=K)
    B /= B.sum(axis=1, keepdims=True)
    return pi, A, B


def _sample_hmm(rng, pi, A, B, T):
    z = np.empty(T, dtype=int)
    x = np.empty(T, dtype=int)
    z[0] = rng.choice(len(pi), p=pi)
    for t in range(T):
        if t:
            z[t] = rng.choice(len(pi), p=A[z[t - 1]])
        x[t] = rng.choice(B.shape[1], p=B[z[t]])
    return x, z


def _lse(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(a - m).sum(axis=axis))


def _hmm_reference(x, pi, A, B):
    """Row-normalised α̂ and β̂ (log space), log p(x), γ and ξ (T-1, K, K)."""
    T, K = len(x), len(pi)
    logA, logB = np.log(A), np.log(B[:, x].T)  # (T, K)
    la = np.empty((T, K))
    lb = np.zeros((T, K))
    la[0] = np.log(pi) + logB[0]
    for t in range(1, T):
        la[t] = _lse(la[t - 1][:, None] + logA, axis=0) + logB[t]
    for t in range(T - 2, -1, -1):
        lb[t] = _lse(logA + (logB[t + 1] + lb[t + 1])[None, :], axis=1)
    loglik = float(_lse(la[-1], axis=0))

    def rows(l):
        e = np.exp(l - l.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    lg = la + lb
    lx = la[:-1, :, None] + logA[None] + (logB[1:] + lb[1:])[:, None, :]
    xi = np.exp(lx - lx.max(axis=(1, 2), keepdims=True))
    xi /= xi.sum(axis=(1, 2), keepdims=True)
    return rows(la), rows(lb), loglik, rows(lg), xi


def _hmm_params(pi, A, B):
    from .hmm import Categorical, HMMParams
    return HMMParams(pi, A, Categorical(B))


_HMM_CASES = ((1, 2, 3), (6, 2, 3), (60, 3, 4), (400, 4, 5), (3000, 2, 3))


def _pair(out, name, what):
    if not isinstance(out, tuple) or len(out) != 2:
        raise _Fail(f"{name} must return a tuple {what}")
    return out


def _check_hmm_forward(fn, rng):
    for T, K, M in _HMM_CASES:
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        alpha_ref, _, ll_ref, _, _ = _hmm_reference(x, pi, A, B)
        alpha, ll = _pair(_call(fn, x, pi, A, B), "forward", "(alpha, loglik)")
        alpha = _array(alpha, "the alpha forward returns", shape=(T, K))
        long = f" for a sequence of {T} steps" if T >= 1000 else ""
        _finite(alpha, "your alpha" + long,
                ": unscaled forward probabilities underflow to 0 after a few hundred steps. "
                "Normalise α(z_n) at every step and keep the logs of the normalisers c_n")
        try:
            ll = float(ll)
        except (TypeError, ValueError):
            raise _Fail("the loglik forward returns must be one number") from None
        sums = alpha.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _Fail(f"rows of your alpha sum to {worst:.3g}; return the scaled α̂(z_n), "
                        f"each row normalised to sum to 1")
        if not _close(alpha, alpha_ref, rtol=1e-6, atol=1e-9):
            if T > 1 and _close(alpha[0], alpha_ref[0], atol=1e-9):
                raise _Fail("your first step is right but later ones are not: α(z_n) = "
                            "p(x_n|z_n) Σ_j α(z_{n-1,j}) A_jk (A_jk = p(z_n = k | z_{n-1} = "
                            "j): sum over the previous state, the rows of A)")
            raise _Fail("your alpha differs from the scaled forward variables α̂(z_n) = "
                        "p(z_n | x_1..x_n): α(z_1) = π_k p(x_1|z_1 = k), then normalise")
        if not np.isfinite(ll) or not np.isclose(ll, ll_ref, rtol=1e-8, atol=1e-8):
            raise _Fail(f"your loglik{long} differs from log p(x_1..x_T) = Σ_n log c_n, the "
                        f"sum of the logs of the normalisers (off by {ll - ll_ref:.3g})")


def _check_hmm_backward(fn, rng):
    for T, K, M in _HMM_CASES:
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        _, beta_ref, ll_ref, _, _ = _hmm_reference(x, pi, A, B)
        beta, ll = _pair(_call(fn, x, pi, A, B), "backward", "(beta, loglik)")
        beta = _array(beta, "the beta backward returns", shape=(T, K))
        long = f" for a sequence of {T} steps" if T >= 1000 else ""
        _finite(beta, "your beta" + long,
                ": unscaled backward probabilities underflow; normalise β(z_n) at every "
                "step and keep the logs of the normalisers")
        sums = beta.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _Fail(f"rows of your beta sum to {worst:.3g}; normalise each β(z_n) to sum "
                        f"to 1 (β(z_T) = 1 for every state becomes 1/K)")
        if not _close(beta, beta_ref, rtol=1e-6, atol=1e-9):
            raise _Fail("your beta is not proportional to β(z_n) = p(x_{n+1}..x_T | z_n): "
                        "β(z_{n,j}) = Σ_k A_jk p(x_{n+1}|z_{n+1} = k) β(z_{n+1,k}) (sum over "
                        "the next state, the columns of A)")
        try:
            ll = float(ll)
        except (TypeError, ValueError):
            raise _Fail("the loglik backward returns must be one number") from None
        if not np.isfinite(ll) or not np.isclose(ll, ll_ref, rtol=1e-8, atol=1e-8):
            raise _Fail(f"your backward loglik{long} differs from the forward one (off by "
                        f"{ll - ll_ref:.3g}): log p(X) = log Σ_k π_k p(x_1|k) β(z_1k) plus "
                        f"the logs of your normalisers")


def _check_hmm_posteriors(fn, rng):
    for T, K, M in _HMM_CASES[1:]:
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        alpha, beta, _, g_ref, xi_ref = _hmm_reference(x, pi, A, B)
        gamma, xi = _pair(_call(fn, alpha, beta, x, A, B), "posteriors", "(gamma, xi)")
        gamma = _array(gamma, "the gamma posteriors returns", shape=(T, K))
        xi = _array(xi, "the xi posteriors returns", shape=(T - 1, K, K))
        _finite(gamma, "your gamma", "")
        _finite(xi, "your xi", "")
        sums = gamma.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _Fail(f"rows of your gamma sum to {worst:.3g}; normalise γ(z_n) ∝ α̂(z_n) "
                        f"β̂(z_n) over the states")
        if not _close(gamma, g_ref, rtol=1e-6, atol=1e-9):
            raise _Fail("your gamma differs from γ(z_n) ∝ α̂(z_n) β̂(z_n) (element-wise "
                        "product, then normalise each row)")
        tot = xi.sum(axis=(1, 2))
        if not np.allclose(tot, 1.0, atol=1e-6):
            worst = float(tot[np.argmax(np.abs(tot - 1))])
            raise _Fail(f"each xi[n] should be a joint distribution over (z_n, z_n+1) and "
                        f"sum to 1; one sums to {worst:.3g}")
        if not _close(xi, xi_ref, rtol=1e-6, atol=1e-9):
            if _close(np.swapaxes(xi, 1, 2), xi_ref, rtol=1e-6, atol=1e-9):
                raise _Fail("your xi is transposed: xi[n, j, k] = p(z_n = j, z_n+1 = k | X)")
            raise _Fail("your xi differs from ξ(z_{n-1,j}, z_nk) ∝ α̂(z_{n-1,j}) A_jk "
                        "p(x_n | z_n = k) β̂(z_nk); its row sums should be γ(z_{n-1})")


def _three(out, what):
    if not isinstance(out, tuple) or len(out) < 3:
        raise _Fail(f"{what} must return (startprob, transmat, emissionprob"
                    + (", loglik)" if what == "baum_welch_step" else ")"))
    return out


def _compare_hmm(pi, A, B, ref, K, M, what):
    pi = _array(pi, f"the startprob {what} returns", shape=(K,))
    A = _array(A, f"the transmat {what} returns", shape=(K, K))
    B = _array(B, f"the emissionprob {what} returns", shape=(K, M))
    for name, val in (("startprob", pi), ("transmat", A), ("emissionprob", B)):
        _finite(val, f"your {name}", "; is a count divided by zero?")
    rows = A.sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-6):
        raise _Fail(f"rows of your transmat sum to {rows[np.argmax(np.abs(rows - 1))]:.3g}; "
                    f"normalise each row (over the next state)")
    rows = B.sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-6):
        raise _Fail(f"rows of your emissionprob sum to {rows[np.argmax(np.abs(rows - 1))]:.3g};"
                    f" normalise each state's row over the symbols")
    if not _close(pi, ref.startprob, atol=1e-8):
        raise _Fail("your startprob differs: π_k is the (expected) share of sequences that "
                    "start in state k")
    if not _close(A, ref.transmat, atol=1e-8):
        if _close(A.T, ref.transmat, atol=1e-8):
            raise _Fail("your transmat is transposed: A[j, k] = p(z_n = k | z_n-1 = j)")
        raise _Fail("your transmat differs from A_jk = (expected) count of j -> k transitions "
                    "/ count of transitions out of j")
    if not _close(B, ref.emission.probs, atol=1e-8):
        raise _Fail("your emissionprob differs from B_km = (expected) count of state k "
                    "emitting symbol m / (expected) time spent in k")


def _check_hmm_baum_welch(fn, rng):
    from . import hmm
    for T, K, M in ((2, 2, 2), (50, 2, 3), (500, 3, 4), (3000, 2, 3)):
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        params = _hmm_params(pi, A, B)
        stats, ll_ref = hmm.e_step(x, params)
        ref = hmm.m_step(stats, params)
        out = _three(_call(fn, x, pi, A, B), "baum_welch_step")
        if len(out) != 4:
            raise _Fail("baum_welch_step must return (startprob, transmat, emissionprob, "
                        "loglik)")
        _compare_hmm(out[0], out[1], out[2], ref, K, M, "baum_welch_step")
        try:
            ll = float(out[3])
        except (TypeError, ValueError):
            raise _Fail("the loglik baum_welch_step returns must be one number") from None
        if not np.isclose(ll, ll_ref, rtol=1e-8, atol=1e-8):
            raise _Fail("the loglik baum_welch_step returns should be log p(X) under the "
                        "parameters it was given (before the update)")


def _check_hmm_count(fn, rng):
    from . import hmm
    for n_seq, K, M in ((1, 2, 2), (5, 3, 4), (40, 4, 6)):
        pi, A, B = _random_hmm(rng, K, M, sticky=False)
        while True:
            seqs, states = [], []
            for _ in range(n_seq):
                x, z = _sample_hmm(rng, pi, A, B, int(rng.integers(20, 80)))
                seqs.append(x)
                states.append(z)
            allz = np.concatenate(states)
            allx = np.concatenate(seqs)
            outgoing = np.concatenate([z[:-1] for z in states])
            if (np.bincount(outgoing, minlength=K) > 0).all() and len(np.unique(allx)) == M \
                    and (np.bincount(allz, minlength=K) > 0).all():
                break
        ref = hmm.fit_supervised(seqs, states, K, n_symbols=M)
        out = _three(_call(fn, seqs, states, K, M), "count_estimate")
        _compare_hmm(out[0], out[1], out[2], ref, K, M, "count_estimate")


def _check_hmm_viterbi(fn, rng):
    from . import hmm
    for T, K, M in _HMM_CASES:
        pi, A, B = _random_hmm(rng, K, M)
        x, _ = _sample_hmm(rng, pi, A, B, T)
        _, ref_lp = hmm.viterbi(x, _hmm_params(pi, A, B))
        path, lp = _pair(_call(fn, x, pi, A, B), "viterbi", "(states, log_prob)")
        path = _array(path, "the states viterbi returns", shape=(T,))
        if not np.all(path == np.round(path)) or path.min() < 0 or path.max() >= K:
            raise _Fail(f"the states viterbi returns must be integers 0..{K - 1}")
        path = path.astype(int)
        try:
            lp = float(lp)
        except (TypeError, ValueError):
            raise _Fail("the log_prob viterbi returns must be one number") from None
        own = float(np.log(pi[path[0]]) + np.log(A[path[:-1], path[1:]]).sum()
                    + np.log(B[path, x]).sum())
        long = f" on a sequence of {T} steps" if T >= 1000 else ""
        if not np.isfinite(lp):
            raise _Fail(f"your log_prob is {lp}{long}: a product of {T} probabilities "
                        f"underflows; run Viterbi on log-probabilities (sums, not products)")
        if not np.isclose(lp, own, rtol=1e-8, atol=1e-8):
            raise _Fail(f"your log_prob{long} is not the joint log-probability log p(x, z) of "
                        f"the path you return")
        if not np.isclose(own, ref_lp, rtol=1e-9, atol=1e-9):
            raise _Fail(f"there is a more probable path than yours{long}: keep, for every "
                        f"state, the best log-probability of a path ending there and its "
                        f"best predecessor, then trace back from the best last state")


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    run: Callable
    forbid: tuple = ()


CHECKS = {
    "kmeans.assign": _Spec(_check_kmeans_assign),
    "kmeans.update": _Spec(_check_kmeans_update),
    "kmeans.fit": _Spec(_check_kmeans_fit),
    "kmeans.soft_assign": _Spec(_check_kmeans_soft_assign),
    "gmm.log_gaussian": _Spec(_check_log_gaussian, forbid=("scipy.stats",)),
    "gmm.e_step": _Spec(_check_e_step),
    "gmm.m_step": _Spec(_check_m_step),
    "gmm.fit": _Spec(_check_gmm_fit),
    "exam.m_step_two_gaussians": _Spec(_check_two_gaussians),
    "debug.em_1d": _Spec(_check_em_1d),
    "hmm.forward": _Spec(_check_hmm_forward),
    "hmm.backward": _Spec(_check_hmm_backward),
    "hmm.posteriors": _Spec(_check_hmm_posteriors),
    "hmm.baum_welch_step": _Spec(_check_hmm_baum_welch),
    "hmm.count_estimate": _Spec(_check_hmm_count),
    "hmm.viterbi": _Spec(_check_hmm_viterbi),
}
