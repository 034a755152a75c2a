"""The E-step, M-step and Q of a Gaussian mixture (Bishop 9.23-9.27) as readable references,
loops over the components with each line naming its equation; the log-density from
:mod:`emref.gaussian`."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._validation import (
    SUM_TOL,
    as_float_array,
    check_covariances,
    check_data,
    check_not_collapsed,
    check_option,
    check_real,
    describe_shape,
)
from ..gaussian import log_density
from ..params import GMMParams, precision_cholesky_from_cholesky

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_LOG_2PI = np.log(2.0 * np.pi)

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
        from .missing import _incomplete_e_step  # local: missing builds on this module
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
