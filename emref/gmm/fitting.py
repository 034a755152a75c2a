"""Fitting a Gaussian mixture by EM (:func:`fit`, in the shared loop :func:`emref.em.run`,
the fast steps of ``emref._gmm_fast``), sampling from one, and choosing K (:func:`bic`,
:func:`aic`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _gmm_fast as fast
from .. import _gmm_missing as missing_fast
from .. import em
from .._validation import (
    check_data,
    check_int,
    check_n_clusters,
    check_option,
    check_real,
    check_seed,
)
from ..params import GMMParams
from .missing import (
    _check_columns_observed,
    _fast_incomplete_statistics,
    _m_step_statistics,
    _observed_column_means,
    _stats_and_loglik,
)
from .steps import COVARIANCE_TYPES, _check_params, e_step


@dataclass(frozen=True, eq=False)
class GMMResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params : GMMParams, the fitted θⁿ.
    resp : ndarray (N, K), responsibilities γ(z_nk) under ``params``.
    loglik : float, log p(X | θⁿ), summed over points.
    loglik_history : ndarray (n_iter + 1,), log p(X | θⁱ) for i = 0..n (θ⁰ first).
    n_iter : int, number of EM iterations (M-steps) of the returned run.
    converged : bool, whether the change per point fell below ``tol``.
    """

    params: GMMParams
    resp: np.ndarray
    loglik: float
    loglik_history: np.ndarray
    n_iter: int
    converged: bool

    @property
    def labels(self) -> np.ndarray:
        """The most responsible component of each point."""
        return self.resp.argmax(axis=1)

# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

def _check_init_for(init: GMMParams, k: int, D: int) -> GMMParams:
    """A start given as parameters must have k components of the data's dimension D."""
    if init.n_components != k or init.n_features != D:
        raise ValueError(f"init must have {k} components of dimension {D}; found "
                         f"{init.n_components} components of dimension {init.n_features}")
    return init


def _initial_params(data: fast.SufficientData, k: int, init, covariance_type: str,
                    reg_covar: float, rng: np.random.Generator) -> GMMParams:
    X = data.X
    if isinstance(init, GMMParams):
        return _check_init_for(init, k, X.shape[1])
    init = check_option(init, "init", ("kmeans", "random"))
    if init == "kmeans":
        from .. import kmeans  # local: kmeans does not need gmm, keep imports one-way
        labels = kmeans.fit(X, k, n_init=1, seed=rng).labels
        resp = np.zeros((X.shape[0], k))
        resp[np.arange(X.shape[0]), labels] = 1.0
    else:
        resp = rng.uniform(size=(X.shape[0], k))
        resp /= resp.sum(axis=1, keepdims=True)
    return fast.m_step(data, np.ascontiguousarray(resp.T), covariance_type, reg_covar)


def fit(X, k, *, init="kmeans", covariance_type: str = "full", max_iter: int = 100,
        tol: float = 1e-6, reg_covar: float = 1e-6, n_init: int = 1, seed=None) -> GMMResult:
    """Fit a K-component Gaussian mixture by EM.

    Parameters
    ----------
    X : array of shape (N, D)
    k : int, 1 <= k <= N
        Number of components K.
    init : "kmeans", "random" or GMMParams
        "kmeans": responsibilities one-hot from one k-means run (as scikit-learn);
        "random": random responsibilities normalised per point; GMMParams: start exactly
        there (then ``n_init`` is ignored: every run would be the same).
    covariance_type : {"full", "diag", "spherical", "tied"}
    max_iter : int >= 0
        Largest number of EM iterations.
    tol : float >= 0
        Stop when the log-likelihood changes by less than ``tol`` per data point between two
        iterates. ``tol=0`` runs exactly ``max_iter`` iterations.
    reg_covar : float >= 0
        Added to each covariance's diagonal in every M-step.
    n_init : int >= 1
        Number of starts; the run with the highest final log-likelihood is returned.
    seed : None, int or numpy Generator

    Returns
    -------
    GMMResult
        ``loglik_history[i]`` is log p(X | θⁱ): after n iterations it holds n + 1 values.

    Missing values: X may hold NaN entries (missing at random). The E-step then runs per
    missingness pattern (:func:`expected_statistics`: responsibilities from the observed
    coordinates' marginal, the missing ones' conditional mean x̂_m = μ_m + Σ_mo Σ_oo⁻¹
    (x_o - μ_o) and covariance Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om, Bishop 2.81-2.82), the M-step
    from the expected sufficient statistics (:func:`m_step_statistics`, with E[x xᵀ]
    including the conditional covariance), and ``loglik``/``loglik_history`` are the
    observed-data log-likelihood, which never decreases. The start ("kmeans" or "random")
    is computed on the data with missing entries replaced by their column means. A row or a
    column with nothing observed is a ValueError.
    """
    X = check_data(X, allow_missing=True)
    k = check_n_clusters(k, X.shape[0])
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=0)
    tol = check_real(tol, "tol", low=0.0)
    n_init = check_int(n_init, "n_init", low=1)
    if not isinstance(init, (str, GMMParams)):
        raise TypeError(f"init must be 'kmeans', 'random' or a GMMParams; found "
                        f"{type(init).__name__}")
    rng = check_seed(seed)
    if np.isnan(X).any():
        return _fit_incomplete(X, k, init, covariance_type, max_iter, tol, reg_covar, n_init,
                               rng)
    data = fast.SufficientData(X)
    best = None
    for _ in range(1 if isinstance(init, GMMParams) else n_init):
        params0 = _initial_params(data, k, init, covariance_type, reg_covar, rng)
        run = em.run(lambda p: fast.e_step_kn(data.XT, p),
                     lambda resp_kn, _: fast.m_step(data, resp_kn, covariance_type, reg_covar),
                     params0, n_points=X.shape[0], max_iter=max_iter, tol=tol)
        if best is None or run.loglik > best.loglik:
            best = run
    return GMMResult(params=best.params, resp=best.stats.T, loglik=best.loglik,
                     loglik_history=best.loglik_history, n_iter=best.n_iter,
                     converged=best.converged)


# --------------------------------------------------------------------------------------------
# Sampling and model selection
# --------------------------------------------------------------------------------------------

def sample(params: GMMParams, n: int, seed=None):
    """Draw ``n`` points from the mixture.

    Returns
    -------
    X : ndarray of shape (n, D)
    z : ndarray of shape (n,), the component each point came from.
    """
    params = _check_params(params)
    n = check_int(n, "n", low=0)
    rng = check_seed(seed)
    # weights are accepted when they sum to 1 within 1e-6; numpy's choice is stricter
    z = rng.choice(params.n_components, size=n, p=params.weights / params.weights.sum())
    chol = np.linalg.cholesky(params.covariances)
    eps = rng.standard_normal((n, params.n_features))
    X = params.means[z] + np.einsum("nij,nj->ni", chol[z], eps)
    return X, z


def n_parameters(params: GMMParams, covariance_type: str = "full") -> int:
    """Free parameters of a K-component, D-dimensional mixture of the given covariance type."""
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    K, D = params.n_components, params.n_features
    cov = {"full": K * D * (D + 1) // 2, "diag": K * D, "spherical": K,
           "tied": D * (D + 1) // 2}[covariance_type]
    return cov + K * D + K - 1


def bic(X, params: GMMParams, covariance_type: str = "full") -> float:
    """Bayesian information criterion -2 log p(X|θ) + p log N (lower is better)."""
    _, loglik = e_step(X, params)
    return -2.0 * loglik + n_parameters(params, covariance_type) * np.log(np.shape(X)[0])


def aic(X, params: GMMParams, covariance_type: str = "full") -> float:
    """Akaike information criterion -2 log p(X|θ) + 2p (lower is better)."""
    _, loglik = e_step(X, params)
    return -2.0 * loglik + 2.0 * n_parameters(params, covariance_type)

def _fit_incomplete(X, k, init, covariance_type, max_iter, tol, reg_covar, n_init, rng):
    """EM on data with missing entries: the E-step of :func:`expected_statistics` grouped by
    pattern, the M-step of :func:`m_step_statistics`, in the shared loop."""
    _check_columns_observed(X)
    shift = _observed_column_means(X)                   # c: the observed column means
    filled = np.where(np.isnan(X), shift, X)            # mean-imputed, for the start only
    start_data = fast.SufficientData(filled)
    pattern_data = missing_fast.PatternData(X, shift)
    best = None
    for _ in range(1 if isinstance(init, GMMParams) else n_init):
        params0 = _initial_params(start_data, k, init, covariance_type, reg_covar, rng)
        run = em.run(lambda p: _stats_and_loglik(_fast_incomplete_statistics(pattern_data, p)),
                     lambda s, _: _m_step_statistics(s[0], covariance_type, reg_covar),
                     params0, n_points=X.shape[0], max_iter=max_iter, tol=tol)
        if best is None or run.loglik > best.loglik:
            best = run
    return GMMResult(params=best.params, resp=best.stats[1], loglik=best.loglik,
                     loglik_history=best.loglik_history, n_iter=best.n_iter,
                     converged=best.converged)
