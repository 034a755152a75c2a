r"""Gaussian mixture models fitted by EM (Bishop, PRML §9.2).

The model, in Bishop's notation, for K components in D dimensions:

.. math::

    p(x) = \sum_{k=1}^K \pi_k \, \mathcal N(x \mid \mu_k, \Sigma_k).

E-step (responsibilities, in log space so that far-out points do not underflow):

.. math::

    \gamma(z_{nk}) = \frac{\pi_k \mathcal N(x_n|\mu_k,\Sigma_k)}
                          {\sum_j \pi_j \mathcal N(x_n|\mu_j,\Sigma_j)}

M-step, with :math:`N_k = \sum_n \gamma(z_{nk})`:

.. math::

    \pi_k = N_k / N, \quad
    \mu_k = \frac1{N_k}\sum_n \gamma(z_{nk}) x_n, \quad
    \Sigma_k = \frac1{N_k}\sum_n \gamma(z_{nk})(x_n-\mu_k)(x_n-\mu_k)^\top + \epsilon I.

The functions are pure: they take data and parameters and return new values. :func:`fit`
runs them in the shared loop :func:`emref.em.run`. From the same start, each iteration equals
scikit-learn's ``GaussianMixture`` (same ``reg_covar``, same ``10 * eps`` added to N_k), so
the two can be compared step for step.

:func:`e_step` and :func:`m_step` are the references, loops over the components as Bishop's
eqs 9.23 and 9.24-9.27 read; :func:`fit` computes the same steps faster in the private module
``emref._gmm_fast`` (the E-step from one cache-blocked product for all components, the
M-step from one product with pairwise products of the centred data), tested equal to them.
The Gaussian log-density both use lives in :mod:`emref.gaussian`.

Covariances are always stored as full (K, D, D) matrices; ``covariance_type`` only restricts
what the M-step estimates ("diag": diagonal matrices, "spherical": multiples of I, "tied":
one matrix shared by all components).

Missing values (NaN in X, missing at random) are handled by :func:`fit`, :func:`e_step`,
:func:`predict_proba`, :func:`impute` and :func:`expected_statistics`: the E-step per
missingness pattern gives the conditional mean and covariance of the missing coordinates
(Bishop 2.81-2.82) and the expected sufficient statistics S0, S1, S2 (:class:`GMMStats`),
from which :func:`m_step_statistics` re-estimates θ; the log-likelihood is the observed-data
one. The same statistics drive :func:`fit_online` (stepwise EM, Cappé & Moulines 2009) and
:func:`fit_incremental` (Neal & Hinton 1998). The readable reference is the pattern loop
behind :func:`expected_statistics`; :func:`fit` runs a faster path (``emref._gmm_missing``)
tested equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from . import _gmm_fast as fast
from . import _gmm_missing as missing_fast
from . import em
from ._stepwise import step_sizes
from ._validation import (
    SUM_TOL,
    as_float_array,
    check_covariances,
    check_data,
    check_int,
    check_n_clusters,
    check_not_collapsed,
    check_option,
    check_real,
    check_seed,
    describe_shape,
)
from .gaussian import log_density
from .params import GMMParams, precision_cholesky_from_cholesky

__all__ = [
    "COVARIANCE_TYPES",
    "GMMParams",
    "GMMResult",
    "GMMStats",
    "OnlineGMMResult",
    "aic",
    "bic",
    "e_step",
    "expected_statistics",
    "fit",
    "fit_incremental",
    "fit_online",
    "impute",
    "log_gaussian",
    "m_step",
    "m_step_statistics",
    "n_parameters",
    "predict",
    "predict_proba",
    "q_function",
    "responsibility_entropy",
    "sample",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_LOG_2PI = np.log(2.0 * np.pi)


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
# Densities
# --------------------------------------------------------------------------------------------

def log_gaussian(X, means, covariances) -> np.ndarray:
    """Log-density of every point under every Gaussian.

    Parameters
    ----------
    X : array of shape (N, D)
    means : array of shape (K, D)
    covariances : array of shape (K, D, D), symmetric positive definite

    Returns
    -------
    ndarray of shape (N, K)
        ``out[n, k] = log N(x_n | μ_k, Σ_k)``, computed through the Cholesky factor of Σ_k.
    """
    X = check_data(X)
    means = as_float_array(means, "means", ndim=2)
    if means.shape[1] != X.shape[1]:
        raise ValueError(f"means must have D = {X.shape[1]} columns to match X; found "
                         f"{describe_shape(means)}")
    _, chol = check_covariances(covariances, "covariances", means.shape[0], means.shape[1])
    return log_density(X, means, precision_cholesky_from_cholesky(chol))


def _log_weights(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(weights)


def _weighted_log_prob(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """log π_k + log N(x_n | μ_k, Σ_k), shape (N, K); -inf where π_k = 0."""
    return (log_density(X, params.means, params.precisions_cholesky)
            + _log_weights(params.weights))


def _check_params(params) -> GMMParams:
    if not isinstance(params, GMMParams):
        raise TypeError(f"params must be a GMMParams; found {type(params).__name__}")
    return params


def _check_data_for(X, params: GMMParams, allow_missing: bool = False) -> np.ndarray:
    X = check_data(X, allow_missing=allow_missing)
    if X.shape[1] != params.n_features:
        raise ValueError(f"X must have D = {params.n_features} columns to match the "
                         f"parameters; found {describe_shape(X)}")
    return X


def _e_step(X: np.ndarray, params: GMMParams):
    """The readable E-step on complete data, one component at a time (Bishop 9.23).

    ``emref._gmm_fast.e_step`` computes the same numbers (all components from one blocked
    matrix product, in a (K, N) layout) and is what :func:`fit` runs; the tests hold the two
    equal to 1e-12 and both to scikit-learn's ``predict_proba``.
    """
    N, D = X.shape
    K = params.n_components
    log_pi = _log_weights(params.weights)
    log_joint = np.empty((N, K))
    for k in range(K):
        P = params.precisions_cholesky[k]                 # Σ_k⁻¹ = P Pᵀ
        y = (X - params.means[k]) @ P                     # (x_n - μ_k)ᵀ Σ_k⁻¹ (x_n - μ_k) = ‖y_n‖²
        half_log_det = np.log(np.diag(P)).sum()           # -½ ln|Σ_k| = Σ_d ln P_dd
        log_joint[:, k] = (log_pi[k] + half_log_det - 0.5 * D * _LOG_2PI
                           - 0.5 * (y * y).sum(axis=1))   # ln π_k N(x_n | μ_k, Σ_k)      (2.43)
    log_px = logsumexp(log_joint, axis=1)                 # ln p(x_n) = ln Σ_j π_j N(..)  (9.7)
    resp = np.exp(log_joint - log_px[:, None])            # γ(z_nk) = π_k N(..) / p(x_n)   (9.23)
    return resp, float(log_px.sum())                      # ln p(X | θ) = Σ_n ln p(x_n)   (9.14)


def e_step(X, params: GMMParams):
    """E-step: responsibilities and the log-likelihood of the current parameters.

    The readable reference (a loop over components, each line naming Bishop's equation);
    :func:`fit` runs a faster E-step tested equal to it.

    Parameters
    ----------
    X : array of shape (N, D)
    params : GMMParams (θᵗ)

    Returns
    -------
    resp : ndarray of shape (N, K)
        γ(z_nk) = p(z_n = k | x_n, θᵗ); each row sums to 1.
    loglik : float
        log p(X | θᵗ) = Σ_n log Σ_k π_k N(x_n | μ_k, Σ_k), summed over points.

    X may hold NaN entries (missing at random; not a whole row of them): γ(z_nk) then
    conditions on the observed coordinates o of x_n alone, and ``loglik`` is the
    observed-data log-likelihood Σ_n log Σ_k π_k N(x_{n,o} | μ_{k,o}, Σ_{k,oo}) (the
    marginal of a Gaussian is the Gaussian of the kept coordinates, Bishop 2.98). See
    :func:`expected_statistics`.
    """
    params = _check_params(params)
    X = _check_data_for(X, params, allow_missing=True)
    if np.isnan(X).any():
        return _incomplete_e_step(X, params, want="resp")
    return _e_step(X, params)


def predict_proba(X, params: GMMParams) -> np.ndarray:
    """Responsibilities γ(z_nk) of ``params`` for the points X, shape (N, K); NaN entries
    of X are missing values (see :func:`e_step`)."""
    return e_step(X, params)[0]


def predict(X, params: GMMParams) -> np.ndarray:
    """The most probable component of each point, shape (N,)."""
    return predict_proba(X, params).argmax(axis=1)


def responsibility_entropy(resp) -> float:
    """H(γ) = -Σ_n Σ_k γ(z_nk) log γ(z_nk), with 0 log 0 = 0."""
    resp = np.asarray(resp, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    return float(-terms.sum())


# --------------------------------------------------------------------------------------------
# M-step
# --------------------------------------------------------------------------------------------

def _check_resp(resp, N: int) -> np.ndarray:
    resp = as_float_array(resp, "resp", ndim=2)
    if resp.shape[0] != N or resp.shape[1] < 1:
        raise ValueError(f"resp must have shape (N, K) = ({N}, K), one row per point of X; "
                         f"found {describe_shape(resp)}")
    if np.any(resp < -SUM_TOL) or np.any(resp > 1 + SUM_TOL):
        raise ValueError(f"resp must hold probabilities in [0, 1]; found values from "
                         f"{resp.min():.6g} to {resp.max():.6g}")
    sums = resp.sum(axis=1)
    bad = np.abs(sums - 1.0) > SUM_TOL
    if np.any(bad):
        n = int(np.flatnonzero(bad)[0])
        raise ValueError(f"each row of resp must sum to 1 (a distribution over the "
                         f"components); row {n} sums to {sums[n]:.10g}")
    return resp


def m_step(X, resp, *, covariance_type: str = "full", reg_covar: float = 1e-6) -> GMMParams:
    """M-step: the parameters that maximise Q(θ | θᵗ) for given responsibilities.

    Parameters
    ----------
    X : array of shape (N, D)
    resp : array of shape (N, K)
        γ(z_nk), rows summing to 1 (from :func:`e_step`, or one-hot labels).
    covariance_type : {"full", "diag", "spherical", "tied"}
        Which covariances to estimate; the result always stores full matrices.
    reg_covar : float >= 0
        Added to the diagonal of every covariance (as scikit-learn), which keeps a component
        that collapses onto one point from a singular covariance. With 0, such a collapse is
        a ``ValueError`` naming the component.

    Returns
    -------
    GMMParams
        π_k = N_k / N, μ_k = Σ_n γ(z_nk) x_n / N_k, Σ_k = Σ_n γ(z_nk)(x_n-μ_k)(x_n-μ_k)ᵀ / N_k
        + reg_covar·I, with N_k = Σ_n γ(z_nk) (+ 10 machine epsilons, so that an empty
        component gets a finite mean).
    """
    X = check_data(X)
    resp = _check_resp(resp, X.shape[0])
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    D = X.shape[1]
    K = resp.shape[1]
    # Sums are taken about the data mean x̄ (Σ_n γ(z_nk)(x_n - x̄) rather than Σ_n γ(z_nk) x_n),
    # which changes no result and keeps the arithmetic accurate far from the origin; an
    # empty component (N_k = 10 eps) then gets the data mean.
    center = X.mean(axis=0)
    Xc = X - center
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps  # N_k = Σ_n γ(z_nk)             (9.27)
    means_c = np.empty((K, D))
    cov = np.empty((K, D, D))
    for k in range(K):
        g = resp[:, k]
        means_c[k] = g @ Xc / nk[k]                    # μ_k = Σ_n γ(z_nk) x_n / N_k     (9.24)
        diff = Xc - means_c[k]
        cov[k] = (g[:, None] * diff).T @ diff / nk[k]  # Σ_k = Σ_n γ (x_n-μ_k)(x_n-μ_k)ᵀ / N_k
    weights = nk / nk.sum()                            # π_k = N_k / N                   (9.26)
    if covariance_type == "diag":                      # only the variances are estimated
        cov = np.diagonal(cov, axis1=1, axis2=2)[:, :, None] * np.eye(D)
    elif covariance_type == "spherical":               # one variance per component
        cov = np.trace(cov, axis1=1, axis2=2)[:, None, None] / D * np.eye(D)
    elif covariance_type == "tied":                    # one matrix: Σ = Σ_k N_k Σ_k / N
        cov = np.broadcast_to(np.tensordot(nk, cov, axes=1) / nk.sum(), (K, D, D)).copy()
    if reg_covar == 0.0:
        check_not_collapsed(cov, means_c)
    cov += reg_covar * np.eye(D)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return GMMParams(weights, means_c + center, cov)


def q_function(X, resp, params: GMMParams) -> float:
    """Q(θ | θᵗ) = E_{Z|X,θᵗ}[log p(X, Z | θ)] = Σ_n Σ_k γ(z_nk) (log π_k + log N(x_n|μ_k,Σ_k)).

    ``resp`` are the responsibilities computed at θᵗ; ``params`` is θ. Terms with
    γ(z_nk) = 0 contribute 0 even where π_k = 0.

    After an E-step at θ, log p(X | θ) = Q(θ | θ) + H(γ) (see :func:`responsibility_entropy`).
    """
    params = _check_params(params)
    X = _check_data_for(X, params)
    resp = _check_resp(resp, X.shape[0])
    if resp.shape[1] != params.n_components:
        raise ValueError(f"resp must have K = {params.n_components} columns to match params; "
                         f"found {describe_shape(resp)}")
    log_prob = _weighted_log_prob(X, params)
    with np.errstate(invalid="ignore"):
        terms = np.where(resp > 0, resp * log_prob, 0.0)
    return float(terms.sum())


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
        from . import kmeans  # local: kmeans does not need gmm, keep imports one-way
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


# --------------------------------------------------------------------------------------------
# Missing values and expected sufficient statistics (Dempster, Laird & Rubin 1977, §4.1.3;
# Ghahramani & Jordan 1994)
# --------------------------------------------------------------------------------------------
#
# A point x_n is split into its observed coordinates o and its missing ones m (NaN), missing
# at random. Under component k, Bishop's partitioned Gaussian (§2.3.1-2.3.2) gives
#
#   marginal      p(x_o | z_k = 1) = N(x_o | μ_o, Σ_oo)                               (2.98)
#   conditional   x̂_m = E[x_m | x_o, z_k = 1] = μ_m + Σ_mo Σ_oo⁻¹ (x_o - μ_o)         (2.81)
#                 C_mm = cov[x_m | x_o, z_k = 1] = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om              (2.82)
#
# (μ, Σ those of component k). With Σ_oo = L Lᵀ (Cholesky), u = L⁻¹(x_o - μ_o) and
# V = L⁻¹ Σ_om: log N(x_o|μ_o,Σ_oo) = -½‖u‖² - Σ log L_ii - ½ d_o log 2π, x̂_m = μ_m + Vᵀu and
# C_mm = Σ_mm - VᵀV; no inverse is formed. All points sharing a missingness pattern share
# L and V, so the E-step loops over patterns, not over points.
#
# The E-step returns the expected sufficient statistics of the complete data, per component,
# taken about a fixed shift c (the observed column means) for accuracy:
#
#   S0_k = Σ_n γ(z_nk),  S1_k = Σ_n γ(z_nk) (x̃_nk - c),
#   S2_k = Σ_n γ(z_nk) [(x̃_nk - c)(x̃_nk - c)ᵀ + C̃_nk]
#
# where x̃_nk is x_n with its missing entries replaced by x̂_m under component k and C̃_nk is
# C_mm in the (m, m) block, zero elsewhere: E[x xᵀ] = x̂ x̂ᵀ + cov[x]. The M-step (9.24-9.27
# written in these statistics) is then
#
#   π_k = S0_k / N,  μ_k = c + S1_k / S0_k,  Σ_k = S2_k / S0_k - (μ_k - c)(μ_k - c)ᵀ (+ εI).
#
# With nothing missing these are exactly the complete-data statistics, and each iteration is
# complete-data EM. The log-likelihood reported is the observed-data one,
# Σ_n log Σ_k π_k N(x_{n,o} | μ_{k,o}, Σ_{k,oo}), which EM never lowers.


@dataclass(frozen=True, eq=False)
class GMMStats:
    """Expected sufficient statistics of a Gaussian mixture (what stepwise EM averages).

    Attributes
    ----------
    counts : ndarray (K,), S0_k = Σ_n γ(z_nk).
    sums : ndarray (K, D), S1_k = Σ_n γ(z_nk) (E[x_n | z_nk] - shift).
    outer : ndarray (K, D, D), S2_k = Σ_n γ(z_nk) E[(x_n - shift)(x_n - shift)ᵀ | z_nk]
        (the conditional covariance of missing entries included).
    shift : ndarray (D,), the point c the moments are taken about.
    n_points : float, the number of points the statistics summarise (N, or a running weight).
    """

    counts: np.ndarray
    sums: np.ndarray
    outer: np.ndarray
    shift: np.ndarray
    n_points: float

    def scaled(self, factor: float) -> GMMStats:
        """All statistics times ``factor`` (same shift)."""
        return GMMStats(self.counts * factor, self.sums * factor, self.outer * factor,
                        self.shift, self.n_points * factor)

    def combined(self, other: GMMStats, weight_self: float = 1.0,
                 weight_other: float = 1.0) -> GMMStats:
        """weight_self · self + weight_other · other (both about the same shift)."""
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("statistics must be taken about the same shift to be combined")
        return GMMStats(weight_self * self.counts + weight_other * other.counts,
                        weight_self * self.sums + weight_other * other.sums,
                        weight_self * self.outer + weight_other * other.outer,
                        self.shift, weight_self * self.n_points + weight_other * other.n_points)


def _observed_column_means(X: np.ndarray) -> np.ndarray:
    """The mean of each column over its observed entries (0 for a column never observed)."""
    seen = ~np.isnan(X)
    counts = seen.sum(axis=0)
    return np.where(seen, X, 0.0).sum(axis=0) / np.maximum(counts, 1)


def _check_columns_observed(X: np.ndarray, name: str = "X") -> None:
    never = np.flatnonzero(np.isnan(X).all(axis=0))
    if never.size:
        raise ValueError(f"{name} has column(s) {never.tolist()} never observed (all NaN): "
                         f"their mean and variance cannot be estimated; drop them")


def _missingness_patterns(missing: np.ndarray):
    """The distinct rows of the (N, D) mask and, for each, the indices of its points."""
    patterns, inverse = missing_fast.group_by_pattern(missing)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(patterns) + 1))
    return [(patterns[p], order[bounds[p]:bounds[p + 1]]) for p in range(len(patterns))]


def _pattern_conditionals(x_obs: np.ndarray, obs: np.ndarray, mis: np.ndarray,
                          params: GMMParams):
    """For the points of one pattern (rows ``x_obs``, (n, d_o)) and every component k:

    log N(x_o | μ_ko, Σ_k,oo) (K, n); the filled points x̃ (K, n, D) with x̂_m (2.81) in the
    missing coordinates; the conditional covariance C_mm (K, d_m, d_m) (2.82).
    """
    mu, cov = params.means, params.covariances
    K, D = mu.shape
    L = np.linalg.cholesky(cov[:, obs][:, :, obs])                   # Σ_oo = L Lᵀ
    diff = x_obs.T[None] - mu[:, obs, None]                            # x_o - μ_o  (K, d_o, n)
    u = np.linalg.solve(L, diff)                                       # u = L⁻¹(x_o - μ_o)
    log_det = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)     # ½ log|Σ_oo|
    log_marg = (-0.5 * np.einsum("kdn,kdn->kn", u, u) - log_det[:, None]
                - 0.5 * obs.sum() * _LOG_2PI)                          # log N(x_o|μ_o,Σ_oo) (2.98)
    filled = np.empty((K, x_obs.shape[0], D))
    filled[:, :, obs] = x_obs
    cond_cov = np.zeros((K, int(mis.sum()), int(mis.sum())))
    if mis.any():
        V = np.linalg.solve(L, cov[:, obs][:, :, mis])                 # V = L⁻¹ Σ_om
        filled[:, :, mis] = (mu[:, mis, None]
                             + np.einsum("kom,kon->kmn", V, u)).transpose(0, 2, 1)  # x̂_m (2.81)
        cond_cov = cov[:, mis][:, :, mis] - np.einsum("kom,kol->kml", V, V)  # C_mm (2.82)
    return log_marg, filled, cond_cov


def _incomplete_e_step(X: np.ndarray, params: GMMParams, shift: np.ndarray | None = None,
                       want: str = "stats"):
    """The E-step on incomplete data, grouped by missingness pattern.

    want="resp": (resp (N, K), observed-data log-likelihood);
    want="stats": (GMMStats, resp, log-likelihood); want="impute": the imputed X.
    """
    N, D = X.shape
    K = params.n_components
    missing = np.isnan(X)
    if shift is None:
        shift = np.zeros(D)
    log_w = _log_weights(params.weights)
    resp = np.empty((N, K))
    loglik = 0.0
    counts = np.zeros(K)
    sums = np.zeros((K, D))
    outer = np.zeros((K, D, D))
    imputed = X.copy() if want == "impute" else None
    for pattern, rows in _missingness_patterns(missing):
        obs, mis = ~pattern, pattern
        log_marg, filled, cond_cov = _pattern_conditionals(X[rows][:, obs], obs, mis, params)
        log_joint = log_marg + log_w[:, None]                   # log π_k N(x_o|μ_o,Σ_oo)
        log_norm = fast.normalise_log_columns(log_joint)            # now γ(z_nk), (K, n)  (9.23)
        loglik += float(log_norm.sum())                         # Σ_n log p(x_{n,o})
        gamma = log_joint
        resp[rows] = gamma.T
        if want == "impute" and mis.any():                      # E[x_m|x_o] = Σ_k γ x̂_m,k
            imputed[np.ix_(rows, np.flatnonzero(mis))] = np.einsum(
                "kn,knm->nm", gamma, filled[:, :, mis])
        if want != "stats":
            continue
        centred = filled - shift                                # x̃_nk - c
        nk = gamma.sum(axis=1)
        counts += nk                                            # S0_k += Σ_n γ
        sums += np.einsum("kn,knd->kd", gamma, centred)         # S1_k += Σ_n γ (x̃ - c)
        outer += np.einsum("kn,knd,kne->kde", gamma, centred, centred)  # Σ γ (x̃-c)(x̃-c)ᵀ
        if mis.any():
            idx = np.flatnonzero(mis)
            outer[:, idx[:, None], idx] += nk[:, None, None] * cond_cov  # + Σ γ C_mm
    if want == "impute":
        return imputed
    if want == "resp":
        return resp, loglik
    return GMMStats(counts, sums, outer, shift, float(N)), resp, loglik


def _complete_statistics(X: np.ndarray, params: GMMParams, shift: np.ndarray):
    """The same statistics for complete data from the fast E-step: (GMMStats, resp, loglik)."""
    resp_kn, loglik = fast.e_step_kn(np.ascontiguousarray(X.T), params)
    centred = X - shift
    counts = resp_kn.sum(axis=1)                                 # S0_k = Σ_n γ(z_nk)
    sums = resp_kn @ centred                                     # S1_k = Σ_n γ (x_n - c)
    outer = np.empty((params.n_components,) + (X.shape[1],) * 2)
    for k in range(params.n_components):                         # S2_k = Σ_n γ (x-c)(x-c)ᵀ
        outer[k] = (resp_kn[k][:, None] * centred).T @ centred
    return GMMStats(counts, sums, outer, shift, float(X.shape[0])), resp_kn.T, loglik


def expected_statistics(X, params: GMMParams, *, shift=None):
    """E-step as expected sufficient statistics, for complete or incomplete (NaN) data.

    Parameters
    ----------
    X : array of shape (N, D); NaN marks a missing entry (missing at random). A row with
        every entry missing is a ValueError.
    params : GMMParams (θᵗ)
    shift : None or array (D,), the point c the moments are taken about (default: 0).

    Returns
    -------
    stats : GMMStats
        S0_k = Σ_n γ(z_nk), S1_k = Σ_n γ(z_nk)(x̃_nk - c),
        S2_k = Σ_n γ(z_nk)[(x̃_nk - c)(x̃_nk - c)ᵀ + C̃_nk], where x̃_nk fills the missing
        coordinates m of x_n with x̂_m = μ_m + Σ_mo Σ_oo⁻¹(x_o - μ_o) (Bishop 2.81) and C̃_nk
        holds C_mm = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om (2.82) in the (m, m) block.
    resp : ndarray (N, K), γ(z_nk) = p(z_n = k | x_{n,o}, θᵗ).
    loglik : float, the observed-data log-likelihood Σ_n log Σ_k π_k N(x_{n,o}|μ_{k,o},Σ_{k,oo}).
    """
    params = _check_params(params)
    X = _check_data_for(X, params, allow_missing=True)
    D = X.shape[1]
    shift = np.zeros(D) if shift is None else as_float_array(shift, "shift", ndim=1)
    if shift.shape != (D,):
        raise ValueError(f"shift must have shape ({D},); found {describe_shape(shift)}")
    if np.isnan(X).any():
        return _incomplete_e_step(X, params, shift, "stats")
    return _complete_statistics(X, params, shift)


def _covariance_full(nk, means_c, outer):
    return outer / nk[:, None, None] - means_c[:, :, None] * means_c[:, None, :]


def _covariance_diag(nk, means_c, outer):
    var = np.diagonal(outer, axis1=1, axis2=2) / nk[:, None] - means_c ** 2
    return var[:, :, None] * np.eye(means_c.shape[1])


def _covariance_spherical(nk, means_c, outer):
    D = means_c.shape[1]
    var = np.trace(outer, axis1=1, axis2=2) / nk - (means_c ** 2).sum(axis=1)
    return (var / D)[:, None, None] * np.eye(D)


def _covariance_tied(nk, means_c, outer):
    K, D = means_c.shape
    shared = (outer.sum(axis=0) - (nk * means_c.T) @ means_c) / nk.sum()  # Σ_k N_k Σ_k / N
    return np.broadcast_to(shared, (K, D, D)).copy()


# M-step covariance from the statistics, one function per covariance type.
_COVARIANCE_FROM_STATISTICS = {
    "full": _covariance_full,            # Σ_k = S2_k / N_k - (μ_k - c)(μ_k - c)ᵀ
    "diag": _covariance_diag,            # only its diagonal
    "spherical": _covariance_spherical,  # its trace / D times I
    "tied": _covariance_tied,            # Σ = Σ_k N_k Σ_k / N, shared
}


def _check_stats(stats) -> GMMStats:
    if not isinstance(stats, GMMStats):
        raise TypeError(f"stats must be a GMMStats (from expected_statistics); found "
                        f"{type(stats).__name__}")
    return stats


def _m_step_statistics(stats: GMMStats, covariance_type: str, reg_covar: float) -> GMMParams:
    D = stats.sums.shape[1]
    nk = stats.counts + 10 * np.finfo(float).eps     # N_k = S0_k                  (9.27)
    means_c = stats.sums / nk[:, None]               # μ_k - c = S1_k / N_k         (9.24)
    cov = _COVARIANCE_FROM_STATISTICS[covariance_type](nk, means_c, stats.outer)  # (9.25)
    if reg_covar == 0.0:
        check_not_collapsed(cov, means_c)
    cov += reg_covar * np.eye(D)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    return GMMParams(nk / nk.sum(), means_c + stats.shift, cov)  # π_k = N_k / N   (9.26)


def m_step_statistics(stats: GMMStats, *, covariance_type: str = "full",
                      reg_covar: float = 1e-6) -> GMMParams:
    """M-step from expected sufficient statistics (complete, incomplete or averaged).

    π_k = S0_k / Σ_j S0_j, μ_k = c + S1_k / S0_k, Σ_k = S2_k / S0_k - (μ_k - c)(μ_k - c)ᵀ
    + reg_covar·I (Bishop 9.24-9.27 with the data's moments replaced by their conditional
    expectations); "diag" keeps the diagonal, "spherical" the mean variance, "tied" the
    average Σ_k N_k Σ_k / N. S0_k gets 10 machine epsilons as in :func:`m_step`.
    """
    stats = _check_stats(stats)
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    return _m_step_statistics(stats, covariance_type, reg_covar)


def impute(X, params: GMMParams) -> np.ndarray:
    """X with every missing (NaN) entry replaced by its conditional mean under the mixture.

    E[x_m | x_o, θ] = Σ_k γ(z_nk) x̂_m,k with x̂_m,k = μ_km + Σ_k,mo Σ_k,oo⁻¹ (x_o - μ_ko)
    (Bishop 2.81) and γ(z_nk) computed from the observed coordinates alone. Observed entries
    are returned unchanged; a row with nothing missing is copied as it is.
    """
    params = _check_params(params)
    X = _check_data_for(X, params, allow_missing=True)
    if not np.isnan(X).any():
        return X.copy()
    return _incomplete_e_step(X, params, want="impute")


def _stats_and_loglik(e_step_output):
    """(stats, resp, loglik) -> ((stats, resp), loglik), the shape :func:`em.run` expects."""
    stats, resp, loglik = e_step_output
    return (stats, resp), loglik


def _fast_incomplete_statistics(data: missing_fast.PatternData, params: GMMParams):
    """(GMMStats, resp, loglik) as :func:`_incomplete_e_step` computes them, by the faster
    path of ``emref._gmm_missing`` (patterns grouped once, sums over all points at once)."""
    counts, sums, outer, resp, loglik = missing_fast.e_step(
        data, params.means, params.covariances, _log_weights(params.weights))
    return GMMStats(counts, sums, outer, data.shift, float(data.N)), resp, loglik


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


# --------------------------------------------------------------------------------------------
# Online (stepwise) EM and incremental EM
# --------------------------------------------------------------------------------------------
#
# Both work on the expected sufficient statistics s = (S0, S1, S2) of :class:`GMMStats`,
# whose M-step θ = M(s) is :func:`m_step_statistics`.
#
# Stepwise EM (Cappé & Moulines 2009; Liang & Klein 2009). Batch t = 0, 1, 2, ... of n_t
# points, met with the current θ_t, gives its average statistics s̄_t = (1/n_t) Σ_n
# E[s(x_n, z_n) | x_n, θ_t], and
#
#   ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,   η_t = (t + 2)^(-α),  0.5 < α <= 1,
#   θ_{t+1} = M(ŝ_t),
#
# a stochastic approximation of the batch EM fixed point s = E[s̄(θ(s))]. Σ_t η_t = ∞ and
# Σ_t η_t² < ∞ for α in (0.5, 1]. ŝ_{-1} = s(θ⁰), the statistics θ⁰ itself implies
# (π_k, π_k(μ_k - c), π_k(Σ_k + (μ_k - c)(μ_k - c)ᵀ)), so that M(ŝ_{-1}) = θ⁰. During the
# first ``n_warmup`` batches ŝ is updated but θ is not (Cappé & Moulines: the first M-steps
# would follow too few points). With a constant step η_t = 1 and one batch holding every
# point, θ_{t+1} = M(s̄(θ_t)) is batch EM.
#
# Incremental EM (Neal & Hinton 1998). The data are cut into fixed blocks b; S = Σ_b s_b.
# One step E-steps a single block at the current θ, S ← S - s_b(old) + s_b(new), θ ← M(S).
# It never lowers the free energy F(q, θ) = E_q[log p(X, Z | θ)] + H(q), where q is, block
# by block, the posterior at the θ where the block was last visited: F = Q(S; θ) + Σ_b H_b,
# with Q(S; θ) = Σ_k [S0_k log π_k - ½ S0_k (D log 2π + log|Σ_k|) - ½ tr(Σ_k⁻¹ M_k)],
# M_k = S2_k - d_k S1_kᵀ - S1_k d_kᵀ + S0_k d_k d_kᵀ, d_k = μ_k - c (Bishop 9.40 with the
# expected statistics), and H_b = log p(X_b | θ_b) - Q(s_b; θ_b) fixed at the visit.
# log p(X | θ) >= F, with equality after a full E-step.


@dataclass(frozen=True, eq=False)
class OnlineGMMResult(GMMResult):
    """What :func:`fit_online` and :func:`fit_incremental` return: a :class:`GMMResult`
    (see those functions for what ``resp``, ``loglik`` and ``loglik_history`` hold) and

    free_energy_history : ndarray or None
        :func:`fit_incremental`: the free energy F(q, θ) after its first full E-step and
        after every block step (never decreasing). :func:`fit_online`: None.
    n_points : int, the number of points read (over all passes).
    """

    free_energy_history: np.ndarray | None = None
    n_points: int = 0


def _statistics_of_params(params: GMMParams, shift: np.ndarray) -> GMMStats:
    """s(θ): the per-point statistics θ implies, so that M(s(θ)) = θ (without reg_covar)."""
    w = params.weights
    d = params.means - shift
    outer = params.covariances + d[:, :, None] * d[:, None, :]
    return GMMStats(w.copy(), w[:, None] * d, w[:, None, None] * outer, shift, 1.0)


def _batch_statistics(X: np.ndarray, params: GMMParams, shift: np.ndarray):
    """(GMMStats, resp, loglik) of one batch: the pattern E-step if anything is missing."""
    if np.isnan(X).any():
        return _fast_incomplete_statistics(missing_fast.PatternData(X, shift), params)
    return _complete_statistics(X, params, shift)


def _expected_complete_loglik(stats: GMMStats, params: GMMParams) -> float:
    """Q(S; θ) = Σ_k [S0_k log π_k - ½ S0_k (D log 2π + log|Σ_k|) - ½ tr(Σ_k⁻¹ M_k)]."""
    D = params.n_features
    d = params.means - stats.shift                                     # d_k = μ_k - c
    M = (stats.outer - d[:, :, None] * stats.sums[:, None, :]
         - stats.sums[:, :, None] * d[:, None, :]
         + stats.counts[:, None, None] * d[:, :, None] * d[:, None, :])  # M_k
    P = params.precisions_cholesky                                     # Σ_k⁻¹ = P_k P_kᵀ
    trace = np.einsum("kde,kdf,kfe->k", P, M, P)                       # tr(P_kᵀ M_k P_k)
    log_det = -2.0 * np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)  # log|Σ_k|
    with np.errstate(invalid="ignore"):
        log_w = np.where(stats.counts > 0, stats.counts * _log_weights(params.weights), 0.0)
    return float(log_w.sum() - 0.5 * (stats.counts * (D * _LOG_2PI + log_det)).sum()
                 - 0.5 * trace.sum())


def _passes(batches, n_passes: int, name: str = "batches"):
    """Yield (pass, index, checked batch) for ``n_passes`` passes over ``batches``."""
    if callable(batches):
        source = batches
    else:
        if isinstance(batches, (str, bytes, np.ndarray)) or batches is None:
            raise TypeError(f"{name} must be an iterable of (n_b, D) arrays (a list, a "
                            f"generator, or a function returning one); found "
                            f"{type(batches).__name__}")
        try:
            first_iter = iter(batches)
        except TypeError:
            raise TypeError(f"{name} must be an iterable of (n_b, D) arrays; found "
                            f"{type(batches).__name__}") from None
        if n_passes > 1 and first_iter is batches:
            raise ValueError(f"{name} is an iterator, which can be read only once; for "
                             f"n_passes = {n_passes} pass a list, or a function that returns "
                             f"a new iterator for every pass")
        source = lambda: batches
    D = None
    for p in range(n_passes):
        seen = 0
        for i, batch in enumerate(source()):
            label = f"{name}[{i}]"
            X = check_data(batch, label, allow_missing=True)
            if D is None:
                D = X.shape[1]
            elif X.shape[1] != D:
                raise ValueError(f"{label} must have D = {D} columns like the first batch; "
                                 f"found {describe_shape(X)}")
            seen += 1
            yield p, i, X
        if seen == 0:
            raise ValueError(f"{name} must hold at least one batch; found none"
                             + (f" on pass {p + 1}" if p else ""))


def _start_from_batch(X: np.ndarray, k: int, init, covariance_type: str, reg_covar: float,
                      rng: np.random.Generator, name: str) -> GMMParams:
    if isinstance(init, GMMParams):
        return _check_init_for(init, k, X.shape[1])
    check_n_clusters(k, X.shape[0], "k")
    if np.isnan(X).all(axis=0).any():
        raise ValueError(f"{name} (the first batch, which sets the start) has a column "
                         f"never observed; pass init=GMMParams or a fuller first batch")
    filled = np.where(np.isnan(X), _observed_column_means(X), X)
    return _initial_params(fast.SufficientData(filled), k, init, covariance_type, reg_covar,
                           rng)


def _check_online_options(k, init, covariance_type, reg_covar, n_passes):
    k = check_int(k, "k", low=1)
    covariance_type = check_option(covariance_type, "covariance_type", COVARIANCE_TYPES)
    reg_covar = check_real(reg_covar, "reg_covar", low=0.0)
    n_passes = check_int(n_passes, "n_passes", low=1)
    if not isinstance(init, (str, GMMParams)):
        raise TypeError(f"init must be 'kmeans', 'random' or a GMMParams; found "
                        f"{type(init).__name__}")
    if isinstance(init, str):
        check_option(init, "init", ("kmeans", "random"))
    return k, covariance_type, reg_covar, n_passes


def fit_online(batches, k, *, init="kmeans", covariance_type: str = "full",
               step_exponent: float = 0.6, step_size: float | None = None,
               n_warmup: int = 5, n_passes: int = 1, reg_covar: float = 1e-6,
               seed=None) -> OnlineGMMResult:
    """Stepwise (online) EM over mini-batches (Cappé & Moulines 2009).

    Batch t, met with θ_t, gives its average expected statistics s̄_t (:func:`expected_statistics`
    divided by its size: missing values are allowed); the running statistics and parameters are

        ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t,  η_t = (t + 2)^(-α),  θ_{t+1} = M(ŝ_t)

    with M the M-step :func:`m_step_statistics` (Bishop 9.24-9.27 in the statistics) and
    ŝ_{-1} the statistics implied by θ⁰. Only one batch is held in memory at a time.

    Parameters
    ----------
    batches : iterable of (n_b, D) arrays, or a function returning such an iterable
        A list, or a generator (e.g. reading a file that does not fit in memory). NaN
        entries are missing values. With ``n_passes > 1`` it must be readable again: a list
        or a function called once per pass (a generator object is a ValueError).
    k : int >= 1, the number of components K.
    init : "kmeans", "random" or GMMParams
        "kmeans"/"random" are computed on the first batch (as :func:`fit` would), which must
        then hold at least k points.
    covariance_type : {"full", "diag", "spherical", "tied"}
    step_exponent : float, 0.5 < α <= 1
        The step sizes η_t = (t + 2)^(-α); α near 0.5 forgets the start fastest, α = 1 is a
        running average.
    step_size : None or float in (0, 1]
        A constant step η_t = step_size instead (1 with one batch holding all the data is
        batch EM, step for step).
    n_warmup : int >= 0
        For the first ``n_warmup`` batches ŝ is updated but θ stays θ⁰.
    n_passes : int >= 1, passes over ``batches``.
    reg_covar : float >= 0, added to every covariance's diagonal in every M-step.
    seed : None, int or numpy Generator (for the start).

    Returns
    -------
    OnlineGMMResult (a GMMResult)
        ``params``: the last θ. ``loglik_history``: one value per batch, the log-likelihood
        of batch t under θ_t, the parameters it met (a progressive validation score), then
        the log-likelihood of the last batch under the returned θ, which is also ``loglik``;
        ``resp``: that last batch's responsibilities under the returned θ; ``n_iter``: the
        number of batches processed; ``converged``: False (stepwise EM has no stopping test;
        compare held-out log-likelihoods).
    """
    k, covariance_type, reg_covar, n_passes = _check_online_options(
        k, init, covariance_type, reg_covar, n_passes)
    step = step_sizes(step_size, step_exponent)
    n_warmup = check_int(n_warmup, "n_warmup", low=0)
    rng = check_seed(seed)
    params = running = shift = last = None
    history = []
    t = n_points = 0
    for _, _, X in _passes(batches, n_passes):
        if params is None:
            params = _start_from_batch(X, k, init, covariance_type, reg_covar, rng,
                                       "batches[0]")
            if X.shape[1] != params.n_features:
                raise ValueError(f"batches[0] must have D = {params.n_features} columns "
                                 f"to match init; found {describe_shape(X)}")
            shift = _observed_column_means(X)                   # c: fixed for the run
            running = _statistics_of_params(params, shift)      # ŝ_{-1} = s(θ⁰)
        elif X.shape[1] != params.n_features:
            raise ValueError(f"batches must all have D = {params.n_features} columns")
        stats, _, loglik = _batch_statistics(X, params, shift)  # E-step at θ_t
        history.append(loglik)
        eta = step(t)                                           # η_t
        running = running.combined(stats.scaled(1.0 / X.shape[0]), 1.0 - eta, eta)  # ŝ_t
        if t + 1 > n_warmup:
            params = _m_step_statistics(running, covariance_type, reg_covar)  # θ_{t+1}
        t += 1
        n_points += X.shape[0]
        last = X
    _, resp, loglik = _batch_statistics(last, params, shift)
    history.append(loglik)
    return OnlineGMMResult(params=params, resp=resp, loglik=float(loglik),
                           loglik_history=np.asarray(history), n_iter=t, converged=False,
                           free_energy_history=None, n_points=n_points)


def fit_incremental(blocks, k, *, init="kmeans", covariance_type: str = "full",
                    n_passes: int = 10, reg_covar: float = 1e-6, seed=None) -> OnlineGMMResult:
    """Incremental EM over fixed blocks (Neal & Hinton 1998).

    A full E-step on every block at θ⁰ gives s_b and S = Σ_b s_b, θ¹ = M(S); then, pass after
    pass, block after block: s_b ← E-step of block b at the current θ, S ← S - s_b(old) +
    s_b(new), θ ← M(S) (:func:`m_step_statistics`). Every step raises (or keeps) the free
    energy F(q, θ) = Q(S; θ) + Σ_b H_b ≤ log p(X | θ), q being each block's posterior at its
    last visit; after a pass the parameters have seen B M-steps for the price of one E-step
    over the data.

    Parameters
    ----------
    blocks : list of (n_b, D) arrays (NaN entries are missing values), kept in memory.
    k, init, covariance_type, reg_covar, seed : as :func:`fit` ("kmeans"/"random" on all
        blocks together).
    n_passes : int >= 1, passes over the blocks after the first full E-step.

    Returns
    -------
    OnlineGMMResult (a GMMResult)
        ``loglik_history[p]``: log p(X | θ) of the full data after pass p (p = 0: θ⁰),
        ``n_iter`` = n_passes; ``resp`` and ``loglik`` at the returned θ;
        ``free_energy_history``: F after the first M-step and after every block step (it
        never decreases; with reg_covar > 0 the M-step is not an exact maximiser and F may
        fall by about reg_covar's effect).
    """
    k, covariance_type, reg_covar, n_passes = _check_online_options(
        k, init, covariance_type, reg_covar, n_passes)
    if not isinstance(blocks, (list, tuple)):
        raise TypeError(f"blocks must be a list of (n_b, D) arrays; found "
                        f"{type(blocks).__name__}")
    data = [X for _, _, X in _passes(list(blocks), 1, "blocks")]
    whole = np.concatenate(data)
    _check_columns_observed(whole, "blocks")
    rng = check_seed(seed)
    params = _start_from_batch(whole, k, init, covariance_type, reg_covar, rng, "blocks")
    if whole.shape[1] != params.n_features:
        raise ValueError(f"blocks must have D = {params.n_features} columns to match init")
    shift = _observed_column_means(whole)
    del whole

    def full_e_step(theta):
        out = [_batch_statistics(X, theta, shift) for X in data]
        return out, sum(o[2] for o in out)

    visits, loglik = full_e_step(params)                     # q_b = p(Z_b | X_b, θ⁰)
    history = [loglik]
    block_stats = [v[0] for v in visits]
    entropy = [v[2] - _expected_complete_loglik(v[0], params) for v in visits]   # H_b
    total = block_stats[0]
    for s in block_stats[1:]:
        total = total.combined(s)                            # S = Σ_b s_b
    params = _m_step_statistics(total, covariance_type, reg_covar)
    free_energy = [_expected_complete_loglik(total, params) + sum(entropy)]
    for _ in range(n_passes):
        for b, X in enumerate(data):
            stats, _, ll_b = _batch_statistics(X, params, shift)   # partial E-step
            entropy[b] = ll_b - _expected_complete_loglik(stats, params)
            total = total.combined(block_stats[b], 1.0, -1.0).combined(stats)  # S update
            block_stats[b] = stats
            params = _m_step_statistics(total, covariance_type, reg_covar)    # M-step
            free_energy.append(_expected_complete_loglik(total, params) + sum(entropy))
        visits, loglik = full_e_step(params)
        history.append(loglik)
    resp = np.concatenate([v[1] for v in visits])
    return OnlineGMMResult(params=params, resp=resp, loglik=float(loglik),
                           loglik_history=np.asarray(history), n_iter=n_passes,
                           converged=False, free_energy_history=np.asarray(free_energy),
                           n_points=int(sum(len(X) for X in data)))
