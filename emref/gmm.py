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

:func:`m_step` is the reference, a loop over the components as Bishop's eqs 9.24-9.27 read;
:func:`fit` computes the same M-step faster (all components' statistics from one product
with pairwise products of the centred data) in the private module ``emref._gmm_fast``,
tested equal to it.

Covariances are always stored as full (K, D, D) matrices; ``covariance_type`` only restricts
what the M-step estimates ("diag": diagonal matrices, "spherical": multiples of I, "tied":
one matrix shared by all components).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _gmm_fast as fast
from . import em
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
from .params import GMMParams, precision_cholesky_from_cholesky

__all__ = [
    "COVARIANCE_TYPES",
    "GMMParams",
    "GMMResult",
    "aic",
    "bic",
    "e_step",
    "fit",
    "log_gaussian",
    "m_step",
    "n_parameters",
    "predict",
    "predict_proba",
    "q_function",
    "responsibility_entropy",
    "sample",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_LOG_2PI = np.log(2.0 * np.pi)
# Floats of working memory one vectorised block may use; bounds the (rows, K*D) products.
_BLOCK_FLOATS = 1 << 18


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

def _log_gaussian_kn(XT: np.ndarray, means: np.ndarray, prec_chol: np.ndarray) -> np.ndarray:
    """log N(x_n | μ_k, Σ_k) for all k, n, shape (K, N), from Xᵀ of shape (D, N).

    The Mahalanobis terms ‖P_kᵀ(x_n - μ_k)‖² of every component come from one matrix product
    [P_1 ... P_K]ᵀ Xᵀ, done in column blocks that fit in cache. Components run along the
    first axis so that sums over D and over K are sums of contiguous rows (fast in numpy).
    """
    D, N = XT.shape
    K = means.shape[0]
    # Rows k*D..(k+1)*D-1 of PT are P_kᵀ; shift holds P_kᵀ μ_k in the same order.
    PT = np.ascontiguousarray(prec_chol.transpose(0, 2, 1).reshape(K * D, D))
    shift = np.einsum("kd,kde->ke", means, prec_chol).reshape(K * D, 1)
    const = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1) - 0.5 * D * _LOG_2PI
    out = np.empty((K, N))
    cols = max(1, _BLOCK_FLOATS // (K * D))
    for start in range(0, N, cols):
        y = PT @ XT[:, start:start + cols]
        y -= shift
        y *= y
        out[:, start:start + cols] = y.reshape(K, D, -1).sum(axis=1)
    out *= -0.5
    out += const[:, None]
    return out


def _estimate_log_gaussian_prob(X: np.ndarray, means: np.ndarray,
                                prec_chol: np.ndarray) -> np.ndarray:
    """log N(x_n | μ_k, Σ_k), shape (N, K) (scikit-learn's name and layout)."""
    return _log_gaussian_kn(np.ascontiguousarray(X.T), means, prec_chol).T


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
    return _estimate_log_gaussian_prob(X, means, precision_cholesky_from_cholesky(chol))


def _log_weights(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(weights)


def _normalise_log_columns(a: np.ndarray) -> np.ndarray:
    """In place: a[k, n] -> exp(a[k, n] - log Σ_j exp(a[j, n])); returns the column log-sums.

    Shifting each column by its maximum keeps exp from overflowing or underflowing to an
    all-zero column, so a point far from every component still gets responsibilities.
    """
    amax = a.max(axis=0)
    a -= amax
    np.exp(a, out=a)
    total = a.sum(axis=0)
    a /= total
    np.log(total, out=total)
    total += amax
    return total


def _weighted_log_prob(X: np.ndarray, params: GMMParams) -> np.ndarray:
    """log π_k + log N(x_n | μ_k, Σ_k), shape (N, K); -inf where π_k = 0."""
    return (_estimate_log_gaussian_prob(X, params.means, params.precisions_cholesky)
            + _log_weights(params.weights))


def _check_params(params) -> GMMParams:
    if not isinstance(params, GMMParams):
        raise TypeError(f"params must be a GMMParams; found {type(params).__name__}")
    return params


def _check_data_for(X, params: GMMParams) -> np.ndarray:
    X = check_data(X)
    if X.shape[1] != params.n_features:
        raise ValueError(f"X must have D = {params.n_features} columns to match the "
                         f"parameters; found {describe_shape(X)}")
    return X


def _e_step_transposed(XT: np.ndarray, params: GMMParams):
    """E-step on Xᵀ (D, N): responsibilities as a (K, N) array and the log-likelihood."""
    log_prob = _log_gaussian_kn(XT, params.means, params.precisions_cholesky)
    log_prob += _log_weights(params.weights)[:, None]
    log_norm = _normalise_log_columns(log_prob)
    return log_prob, float(log_norm.sum())


def _e_step(X: np.ndarray, params: GMMParams):
    resp_kn, loglik = _e_step_transposed(np.ascontiguousarray(X.T), params)
    return resp_kn.T, loglik


def e_step(X, params: GMMParams):
    """E-step: responsibilities and the log-likelihood of the current parameters.

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
    """
    params = _check_params(params)
    return _e_step(_check_data_for(X, params), params)


def predict_proba(X, params: GMMParams) -> np.ndarray:
    """Responsibilities γ(z_nk) of ``params`` for the points X, shape (N, K)."""
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

def _initial_params(data: fast.SufficientData, k: int, init, covariance_type: str,
                    reg_covar: float, rng: np.random.Generator) -> GMMParams:
    X = data.X
    if isinstance(init, GMMParams):
        if init.n_components != k or init.n_features != X.shape[1]:
            raise ValueError(f"init must have {k} components of dimension {X.shape[1]}; "
                             f"found {init.n_components} components of dimension "
                             f"{init.n_features}")
        return init
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
    """
    X = check_data(X)
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
    data = fast.SufficientData(X)
    best = None
    for _ in range(1 if isinstance(init, GMMParams) else n_init):
        params0 = _initial_params(data, k, init, covariance_type, reg_covar, rng)
        run = em.run(lambda p: _e_step_transposed(data.XT, p),
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
