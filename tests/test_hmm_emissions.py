"""HMM emissions as one place each: a throwaway emission written into a temporary module
(registered by defining it, no file of emref touched) fitted end to end against brute-force
enumeration and closed forms; every emission's own options reaching the learners; stepwise
EM for every built-in emission against hmmlearn; the registry's refusals."""

import importlib.util
import itertools
import logging
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import random_hmm_params
from scipy.special import logsumexp
from scipy.stats import expon
from threadpoolctl import threadpool_limits

import emref
from emref import hmm

logging.getLogger("hmmlearn").setLevel(logging.ERROR)

NAME = "throwaway_exponential"
EXPONENTIAL = '''
"""A throwaway emission: x | z = k ~ Exponential(rate λ_k), x > 0."""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from emref.hmm import Emission


@dataclass(frozen=True, eq=False)
class Exponential(Emission):
    rates: np.ndarray
    name: ClassVar[str] = "throwaway_exponential"
    obs_ndim: ClassVar[int] = 1
    sequence_kind: ClassVar[str] = "a 1-D array of positive numbers"
    options: ClassVar[dict] = {"rate_floor": 0.0}

    def __post_init__(self):
        rates = np.array(self.rates, dtype=float)
        if rates.ndim != 1 or not np.all(rates > 0):
            raise ValueError(f"rates must be a 1-D array of positive rates; found {rates!r}")
        object.__setattr__(self, "rates", rates)

    shape = property(lambda self: (len(self.rates), 1))
    n_parameters = property(lambda self: len(self.rates))

    @classmethod
    def check_sequence(cls, seq, name, size=None):
        x = np.asarray(seq, dtype=float)
        if x.ndim != 1 or len(x) == 0 or not np.all(x > 0):
            raise ValueError(f"{name} must be a non-empty 1-D array of positive numbers; "
                             f"found shape {x.shape}")
        return x

    def log_likelihood(self, X, out=None):
        logp = np.log(self.rates)[None, :] - X[:, None] * self.rates[None, :]
        if out is None:
            return logp
        out[...] = logp
        return out

    def statistics(self, X, gamma):
        return gamma.sum(axis=0), gamma.T @ X

    def expected_log_likelihood(self, stats):
        n, s = stats
        return float(n @ np.log(self.rates) - s @ self.rates)

    def m_step(self, stats, *, rate_floor=0.0):
        n, s = stats
        return Exponential(np.maximum(n / s, rate_floor))

    @classmethod
    def random_init(cls, X, n_states, rng, *, rate_floor=0.0):
        return cls(np.maximum(rng.uniform(0.5, 1.5, n_states) / X.mean(), rate_floor))

    @classmethod
    def supervised(cls, X, states, n_states, *, pseudocount=0.0, rate_floor=0.0):
        n = np.bincount(states, minlength=n_states).astype(float)
        s = np.bincount(states, weights=X, minlength=n_states)
        return cls(np.maximum(n / s, rate_floor))

    def sample_states(self, states, rng):
        return rng.exponential(1.0 / self.rates[states])

    def statistics_of(self, occupancy):
        return occupancy.copy(), occupancy / self.rates
'''


@pytest.fixture(scope="module")
def exponential(tmp_path_factory):
    """The Exponential class of a module written to a temporary directory and imported: the
    registry learns of it by its definition alone."""
    path = tmp_path_factory.mktemp("emission") / "throwaway_exponential.py"
    path.write_text(textwrap.dedent(EXPONENTIAL), encoding="utf-8")
    assert NAME not in hmm.EMISSIONS
    spec = importlib.util.spec_from_file_location("throwaway_exponential", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module.Exponential
    del hmm.EMISSIONS[NAME]
    del sys.modules[spec.name]


def exp_params(rng, K=2, end=False):
    return random_hmm_params(K, rng, end=end, emission=EXP(rng.uniform(0.3, 4.0, K)))


def brute_force(x, params):
    """γ, ξ, ln p(X) by enumerating paths, densities from scipy's expon."""
    K, T = params.n_states, len(x)
    b = np.stack([expon(scale=1 / r).pdf(x) for r in params.emission.rates], axis=1)
    paths = [np.array(z) for z in itertools.product(range(K), repeat=T)]
    logs = []
    for z in paths:
        lj = np.log(params.startprob[z[0]]) + np.log(b[np.arange(T), z]).sum()
        lj += np.log(params.transmat[z[:-1], z[1:]]).sum()
        if params.endprob is not None:
            lj += np.log(params.endprob[z[-1]])
        logs.append(lj)
    logs = np.array(logs)
    ll = logsumexp(logs)
    gamma, xi = np.zeros((T, K)), np.zeros((T - 1, K, K))
    for w, z in zip(np.exp(logs - ll), paths):
        gamma[np.arange(T), z] += w
        xi[np.arange(T - 1), z[:-1], z[1:]] += w
    return gamma, xi, ll


EXP = None


@pytest.fixture(autouse=True)
def _exp(exponential):
    global EXP
    EXP = exponential


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """hmmlearn's many small products slow down by 10-100x when a threaded BLAS competes for
    a loaded machine's cores; one thread keeps this module in seconds."""
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("end", [False, True])
def test_a_new_emission_fits_end_to_end_against_enumeration(end):
    """One Baum-Welch step of hmm.fit with the throwaway emission equals the closed-form
    M-step (13.18, 13.19, λ_k = Σ γ / Σ γ x) from posteriors computed by enumeration."""
    rng = np.random.default_rng(3 + end)
    seqs = [rng.exponential(1.0, T) for T in (4, 3, 5)]
    p0 = exp_params(rng, end=end)
    start, trans, ends = np.zeros(2), np.zeros((2, 2)), np.zeros(2)
    occ, weighted, ll = np.zeros(2), np.zeros(2), 0.0
    for x in seqs:
        gamma, xi, lx = brute_force(x, p0)
        start += gamma[0]
        trans += xi.sum(axis=0)
        ends += gamma[-1]
        occ += gamma.sum(axis=0)
        weighted += gamma.T @ x
        ll += lx
    res = hmm.fit(seqs, 2, init=p0, emission=NAME, max_iter=1, tol=0.0)
    assert res.loglik_history[0] == pytest.approx(ll, rel=1e-10)
    np.testing.assert_allclose(res.params.startprob, start / start.sum(), rtol=1e-10)
    if end:
        both = np.concatenate([trans, ends[:, None]], axis=1)
        both /= both.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(res.params.transmat, both[:, :2], rtol=1e-10)
        np.testing.assert_allclose(res.params.endprob, both[:, 2], rtol=1e-10)
    else:
        np.testing.assert_allclose(res.params.transmat, trans / trans.sum(1, keepdims=True),
                                   rtol=1e-10)
    np.testing.assert_allclose(res.params.emission.rates, occ / weighted, rtol=1e-10)
    # the readable reference and the fast path both work with it
    gamma, xi, lx = brute_force(seqs[0], p0)
    np.testing.assert_allclose(hmm.posteriors(seqs[0], p0).xi, xi, rtol=1e-9)
    np.testing.assert_allclose(hmm.forward_backward(seqs[0], p0).gamma, gamma, rtol=1e-9)


def test_a_new_emission_from_a_random_start_recovers_the_truth():
    rng = np.random.default_rng(8)
    truth = hmm.HMMParams([0.5, 0.5], [[0.95, 0.05], [0.1, 0.9]], EXP(np.array([0.5, 6.0])))
    seqs = [hmm.sample(truth, 400, seed)[0] for seed in range(5)]
    res = hmm.fit(seqs, 2, emission=NAME, seed=1, max_iter=200, tol=1e-9)
    assert np.all(np.diff(res.loglik_history) > -1e-9)
    np.testing.assert_allclose(np.sort(res.params.emission.rates), [0.5, 6.0], rtol=0.15)
    # its own option reaches fit (and through it random_init and m_step)
    floored = hmm.fit(seqs, 2, emission=NAME, seed=1, max_iter=5, rate_floor=3.0)
    assert np.all(floored.params.emission.rates >= 3.0)
    # fit_supervised: λ_k = 1 / (mean of the x tagged k), the closed form
    states = [hmm.sample(truth, 50, s)[1] for s in (10, 11)]
    xs = [rng.exponential(1.0, 50) for _ in states]
    sup = hmm.fit_supervised(xs, states, 2, emission=NAME)
    x, z = np.concatenate(xs), np.concatenate(states)
    np.testing.assert_allclose(sup.emission.rates, [1 / x[z == k].mean() for k in (0, 1)])
    # stepwise EM with step 1 on one batch is one Baum-Welch step: the closed form above
    one = hmm.fit_stepwise([seqs], 2, init=truth, step_size=1.0)
    gam = [brute_force(s[:6], truth)[0] for s in seqs]
    short = hmm.fit_stepwise([[s[:6] for s in seqs]], 2, init=truth, step_size=1.0)
    occ = sum(g.sum(axis=0) for g in gam)
    weighted = sum(g.T @ s[:6] for g, s in zip(gam, seqs))
    np.testing.assert_allclose(short.params.emission.rates, occ / weighted, rtol=1e-10)
    assert one.n_iter == 1


def test_adding_it_touched_no_file_of_emref():
    root = Path(emref.__file__).parent
    assert not [p for p in root.rglob("*.py") if NAME in p.read_text(encoding="utf-8")]
    assert hmm.EMISSIONS[NAME] is EXP
    with pytest.raises(ValueError, match="emission must be one of"):
        hmm.fit([np.ones(3)], 2, emission="no_such_emission")


def test_a_second_class_cannot_take_a_registered_name():
    with pytest.raises(ValueError, match="'gaussian' is already registered"):
        type("Impostor", (hmm.Emission,), {"name": "gaussian", "__module__": "elsewhere"})
    assert hmm.EMISSIONS["gaussian"] is hmm.Gaussian


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------

def test_options_reach_the_learners():
    rng = np.random.default_rng(4)
    seqs = [rng.integers(0, 3, 20) for _ in range(3)]
    res = hmm.fit(seqs, 2, n_symbols=7, seed=0, max_iter=2)
    assert res.params.emission.probs.shape == (2, 7)       # n_symbols reached random_init
    sup = hmm.fit_supervised(seqs, [rng.integers(0, 2, 20) for _ in range(3)], 2, n_symbols=5)
    assert sup.emission.probs.shape == (2, 5)
    step = hmm.fit_stepwise([seqs], 2, n_symbols=6, seed=0)
    assert step.params.emission.probs.shape == (2, 6)
    # reg_covar reaches every Gaussian M-step: one step from p0 with reg r is the step
    # without it plus r·I (Bishop 13.21 + r·I)
    g = [rng.normal(0, 1, (30, 2)) for _ in range(2)]
    p0 = random_hmm_params(2, rng, D=2)
    plain = hmm.fit(g, 2, init=p0, max_iter=1, tol=0, reg_covar=0.0).params.emission
    for learner in (lambda r: hmm.fit(g, 2, init=p0, max_iter=1, tol=0, reg_covar=r),
                    lambda r: hmm.fit_stepwise([g], 2, init=p0, step_size=1.0, reg_covar=r)):
        got = learner(0.25).params.emission.covariances
        np.testing.assert_allclose(got, plain.covariances + 0.25 * np.eye(2), rtol=1e-9)


@pytest.mark.parametrize("call, caller", [
    (lambda s, p: hmm.fit(s, 2, reg_covar=0.1), "fit"),
    (lambda s, p: hmm.fit(s, 2, init=p, n_components=3), "fit"),
    (lambda s, p: hmm.fit_supervised(s, [np.zeros(5, int)], 2, reg_covar=0.1), "fit_supervised"),
    (lambda s, p: hmm.m_step(hmm.e_step(s, p)[0], p, reg_covar=0.0), "m_step"),
    (lambda s, p: hmm.fit_stepwise([s], 2, init=p, bogus=1), "fit_stepwise"),
])
def test_an_option_the_emission_does_not_take_is_a_type_error(call, caller):
    rng = np.random.default_rng(1)
    p = random_hmm_params(2, rng)
    with pytest.raises(TypeError, match=rf"{caller} got the option .* categorical emission "
                                        r"does not take; its options are: n_symbols"):
        call([rng.integers(0, 4, 5)], p)


def test_bad_option_values_name_the_option():
    rng = np.random.default_rng(2)
    g = [rng.normal(size=(10, 2))]
    with pytest.raises(ValueError, match="reg_covar"):
        hmm.fit(g, 2, emission="gaussian", reg_covar=-1.0)
    with pytest.raises(ValueError, match="n_symbols"):
        hmm.fit([np.array([0, 1])], 2, n_symbols=0)
    p = random_hmm_params(2, rng, M=4)
    with pytest.raises(ValueError, match="must agree with init"):
        hmm.fit([np.array([0, 1])], 2, init=p, n_symbols=9)


# --------------------------------------------------------------------------------------------
# Stepwise EM for every built-in emission, against hmmlearn
# --------------------------------------------------------------------------------------------

def hmmlearn_gaussian(p0, n_iter):
    from hmmlearn.hmm import GaussianHMM
    ref = GaussianHMM(n_components=p0.n_states, covariance_type="full", n_iter=n_iter,
                      tol=-np.inf, init_params="", params="stmc", startprob_prior=1.0,
                      transmat_prior=1.0, means_prior=0.0, means_weight=0.0, covars_prior=0.0,
                      covars_weight=0.0)
    ref.startprob_, ref.transmat_ = p0.startprob.copy(), p0.transmat.copy()
    ref.means_, ref.covars_ = p0.emission.means.copy(), p0.emission.covariances.copy()
    return ref


def hmmlearn_poisson(p0, n_iter):
    from hmmlearn.hmm import PoissonHMM
    ref = PoissonHMM(n_components=p0.n_states, n_iter=n_iter, tol=-np.inf, init_params="",
                     params="stl", startprob_prior=1.0, transmat_prior=1.0, lambdas_prior=0.0,
                     lambdas_weight=0.0)
    ref.startprob_, ref.transmat_ = p0.startprob.copy(), p0.transmat.copy()
    ref.lambdas_ = p0.emission.rates.copy()
    return ref


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_stepwise_with_step_one_on_one_batch_is_baum_welch_as_hmmlearn(kind):
    rng = np.random.default_rng(40 + len(kind))
    lengths = (30, 7, 52, 1, 18)
    if kind == "gaussian":
        seqs = [rng.normal(0, 2, (T, 2)) + 5.0 for T in lengths]   # off the origin
        p0 = random_hmm_params(3, rng, D=2)
        ref, options, field = hmmlearn_gaussian(p0, 6), {"reg_covar": 0.0}, "means_"
    else:
        seqs = [rng.poisson(rng.uniform(1, 6, 2), (T, 2)) for T in lengths]
        p0 = random_hmm_params(3, rng, emission=hmm.Poisson(rng.uniform(0.5, 6, (3, 2))))
        ref, options, field = hmmlearn_poisson(p0, 6), {}, "lambdas_"
    X = np.concatenate(seqs)
    ref.fit(X, [len(s) for s in seqs])
    res = hmm.fit_stepwise([seqs], 3, init=p0, step_size=1.0, n_passes=6, **options)
    np.testing.assert_allclose(res.params.startprob, ref.startprob_, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.params.transmat, ref.transmat_, rtol=1e-7, atol=1e-12)
    em = res.params.emission
    np.testing.assert_allclose(em.means if kind == "gaussian" else em.rates,
                               getattr(ref, field), rtol=1e-7)
    if kind == "gaussian":
        np.testing.assert_allclose(em.covariances, ref.covars_, rtol=1e-7)
    np.testing.assert_allclose(res.loglik_history[:-1], ref.monitor_.history, rtol=1e-9)


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_stepwise_over_many_batches_nears_hmmlearns_optimum(kind):
    """Many small batches, decreasing steps: within 2e-3 per observation of the
    log-likelihood hmmlearn reaches by Baum-Welch from the same start (scored by hmmlearn)."""
    rng = np.random.default_rng(60 + len(kind))
    means = np.array([[0.0, 0.0], [4.0, 4.0]])
    truth_em = (hmm.Gaussian(means, np.stack([np.eye(2)] * 2)) if kind == "gaussian"
                else hmm.Poisson(np.array([[1.0, 2.0], [7.0, 4.0]])))
    truth = hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], truth_em)
    seqs = [hmm.sample(truth, 50, s)[0] for s in range(40)]
    p0 = random_hmm_params(2, rng, D=2) if kind == "gaussian" else \
        random_hmm_params(2, rng, emission=hmm.Poisson(rng.uniform(1, 6, (2, 2))))
    ref = (hmmlearn_gaussian if kind == "gaussian" else hmmlearn_poisson)(p0, 60)
    ref.tol = 1e-4
    X, lengths = np.concatenate(seqs), [len(s) for s in seqs]
    ref.fit(X, lengths)
    batches = [seqs[i:i + 4] for i in range(0, len(seqs), 4)]
    res = hmm.fit_stepwise(batches, 2, init=p0, step_exponent=0.6, n_passes=8)
    scorer = (hmmlearn_gaussian if kind == "gaussian" else hmmlearn_poisson)(res.params, 0)
    gap = (ref.score(X, lengths) - scorer.score(X, lengths)) / len(X)
    assert gap < 2e-3


def test_an_emission_without_stepwise_statistics_says_so():
    """fit works for an emission that leaves out statistics_of; fit_stepwise says why it
    cannot start (the documented exception)."""
    no_step = type("NoStep", (EXP,), {"name": "throwaway_no_step", "__module__": __name__,
                                      "statistics_of": hmm.Emission.statistics_of})
    try:
        rng = np.random.default_rng(5)
        p0 = hmm.HMMParams([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], no_step(np.array([1.0, 3.0])))
        seqs = [rng.exponential(1.0, 20) for _ in range(3)]
        assert hmm.fit(seqs, 2, init=p0, max_iter=3).n_iter == 3
        with pytest.raises(NotImplementedError, match="throwaway_no_step emission does not "
                                                      "provide statistics_of"):
            hmm.fit_stepwise([seqs], 2, init=p0)
    finally:
        del hmm.EMISSIONS["throwaway_no_step"]


DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_a_shipped_emission_touches_the_files_the_docs_count():
    """docs/teaching.md and docs/emref_reference.md ("What adding each thing touches"): an
    emission of one's own is its one module (the throwaway above: nothing of emref is
    edited); one shipped with emref is its module plus each ``__init__.py`` of emref that
    imports its class by name (to register it, and to export it as ``hmm.<Class>``; modules
    that merely use a class, as learning.py its default Categorical, are not places to
    touch)."""
    import ast
    import re

    from helpers import documented_counts

    emref_root = Path(emref.__file__).resolve().parent
    importers = {}  # class name -> files of emref importing it by name
    for path in emref_root.rglob("__init__.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    importers.setdefault(alias.name, set()).add(path)
    shipped = [cls for cls in hmm.EMISSIONS.values()
               if cls.__module__.startswith("emref.hmm.emissions.")]
    assert {cls.__name__ for cls in shipped} >= {"Categorical", "Gaussian", "Poisson"}
    counts = {cls.__name__: len({Path(sys.modules[cls.__module__].__file__).resolve()}
                                | importers.get(cls.__name__, set())) for cls in shipped}
    for doc in ("teaching.md", "emref_reference.md"):
        assert documented_counts(DOCS / doc, "an emission") == (1, 0)
        row = next(line for line in (DOCS / doc).read_text().splitlines()
                   if line.startswith("| an emission |"))
        in_emref = int(re.search(r"shipped with emref: \*\*(\d+)\*\*", row).group(1))
        assert counts == dict.fromkeys(counts, in_emref), (doc, counts)
