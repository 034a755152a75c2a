r"""Factor analysis and probabilistic PCA fitted by EM (Bishop, PRML §12.2).

A continuous latent variable :math:`z_n` of dimension L < D explains the correlations of
D-dimensional data:

.. math::

    z_n \sim \mathcal N(0, I_L), \qquad
    x_n \mid z_n \sim \mathcal N(W z_n + \mu, \Psi),

so that :math:`x_n \sim \mathcal N(\mu, C)` with :math:`C = W W^\top + \Psi` (12.35, 12.65).
Factor analysis (FA) lets the noise covariance :math:`\Psi` be any positive diagonal matrix;
probabilistic PCA (PPCA, Tipping and Bishop 1999) ties it to :math:`\sigma^2 I`.

E-step: the posterior of each :math:`z_n` is Gaussian, with one covariance shared by all
points (12.66-12.68, with :math:`G = (I + W^\top \Psi^{-1} W)^{-1}`):

.. math::

    \mathbb E[z_n] = G W^\top \Psi^{-1} (x_n - \bar x), \qquad
    \mathbb E[z_n z_n^\top] = G + \mathbb E[z_n]\mathbb E[z_n]^\top.

M-step (12.69 and 12.70 for FA; 12.56 and 12.57 for PPCA), with :math:`\mu = \bar x`:

.. math::

    W^{new} = \Big[\sum_n (x_n - \bar x)\mathbb E[z_n]^\top\Big]
              \Big[\sum_n \mathbb E[z_n z_n^\top]\Big]^{-1}, \qquad
    \Psi^{new} = \mathrm{diag}\Big\{S - W^{new} \frac1N \sum_n \mathbb E[z_n](x_n-\bar x)^\top\Big\}.

For PPCA the log-likelihood also has a closed-form maximum (12.45, 12.46):
:func:`ppca_closed_form`. The functions are pure; :func:`fit` runs them in the shared loop
:func:`emref.em.run`. W is identifiable only up to a rotation :math:`W O` (O orthogonal),
so compare fits through :math:`C = W W^\top + \Psi` and the log-likelihood, never W itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import em
from ._validation import (
    as_float_array,
    check_data,
    check_int,
    check_option,
    check_real,
    check_seed,
    describe_shape,
)

__all__ = [
    "MODELS",
    "FactorParams",
    "FactorPosterior",
    "FactorStats",
    "e_step",
    "fit",
    "log_likelihood",
    "m_step",
    "posterior",
    "ppca_closed_form",
    "sample",
]

MODELS = ("fa", "ppca")


@dataclass(frozen=True, eq=False)
class FactorParams:
    """Parameters θ = (μ, W, Ψ) of factor analysis or probabilistic PCA.

    Parameters
    ----------
    mean : array of shape (D,)
        The mean μ.
    W : array of shape (D, L)
        The loading matrix, L < D.
    psi : array of shape (D,)
        The diagonal of the noise covariance Ψ, every entry positive. For PPCA all entries
        are equal (σ²).

    The arrays are stored read-only.
    """

    mean: np.ndarray
    W: np.ndarray
    psi: np.ndarray

    def __post_init__(self):
        mean = as_float_array(self.mean, "mean", ndim=1)
        D = mean.shape[0]
        W = as_float_array(self.W, "W", ndim=2)
        if W.shape[0] != D or not 1 <= W.shape[1] < D:
            raise ValueError(f"W must have shape (D, L) = ({D}, L) with 1 <= L < {D} for a "
                             f"mean of {describe_shape(mean)}; found {describe_shape(W)}")
        psi = as_float_array(self.psi, "psi", ndim=1)
        if psi.shape != (D,):
            raise ValueError(f"psi must have shape ({D},) (the diagonal of Ψ); found "
                             f"{describe_shape(psi)}")
        if np.any(psi <= 0):
            raise ValueError(f"psi must be positive (noise variances); found minimum "
                             f"{psi.min():.6g}")
        for name, value in (("mean", mean), ("W", W), ("psi", psi)):
            value = np.array(value, dtype=float)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_features(self) -> int:
        """D, the data's dimension."""
        return self.W.shape[0]

    @property
    def n_latent(self) -> int:
        """L, the latent dimension."""
        return self.W.shape[1]

    @property
    def covariance(self) -> np.ndarray:
        """C = W Wᵀ + Ψ, the marginal covariance of x (12.36 with Ψ for σ²I)."""
        return self.W @ self.W.T + np.diag(self.psi)


@dataclass(frozen=True)
class FactorPosterior:
    """The posterior p(z_n | x_n, θ) = N(z_n | means[n], cov) of every point.

    Attributes
    ----------
    means : ndarray of shape (N, L), E[z_n].
    cov : ndarray of shape (L, L), G, the same for every point.
    """

    means: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class FactorStats:
    """The expected sufficient statistics the M-step needs.

    Attributes
    ----------
    x_z : ndarray of shape (D, L), Σ_n (x_n - x̄) E[z_n]ᵀ.
    zz : ndarray of shape (L, L), Σ_n E[z_n z_nᵀ].
    scatter : ndarray of shape (D, D), S = (1/N) Σ_n (x_n - x̄)(x_n - x̄)ᵀ.
    mean : ndarray of shape (D,), x̄.
    n_points : int, N.
    """

    x_z: np.ndarray
    zz: np.ndarray
    scatter: np.ndarray
    mean: np.ndarray
    n_points: int


def _check_params(params) -> FactorParams:
    if not isinstance(params, FactorParams):
        raise TypeError(f"params must be a FactorParams; found {type(params).__name__}")
    return params


def _check_data_for(X, params: FactorParams) -> np.ndarray:
    X = check_data(X)
    if X.shape[1] != params.n_features:
        raise ValueError(f"X must have {params.n_features} columns, as params (D = "
                         f"{params.n_features}); found {describe_shape(X)}")
    return X


def _log_likelihood(X: np.ndarray, params: FactorParams) -> float:
    C = params.covariance                                      # C = W Wᵀ + Ψ      (12.65)
    chol = linalg.cholesky(C, lower=True)
    u = linalg.solve_triangular(chol, (X - params.mean).T, lower=True)
    maha = np.sum(u ** 2)                                      # Σ_n (x_n-μ)ᵀ C⁻¹ (x_n-μ)
    N, D = X.shape
    log_det = 2.0 * np.sum(np.log(np.diag(chol)))              # ln |C|
    return float(-0.5 * (N * D * np.log(2 * np.pi) + N * log_det + maha))   # (12.44)


def log_likelihood(X, params: FactorParams) -> float:
    """ln p(X | θ) = Σ_n ln N(x_n | μ, W Wᵀ + Ψ) (Bishop 12.44 with C from 12.65).

    Parameters
    ----------
    X : array of shape (N, D)
    params : FactorParams

    Returns
    -------
    float
    """
    params = _check_params(params)
    return _log_likelihood(_check_data_for(X, params), params)


def _posterior(X: np.ndarray, params: FactorParams) -> FactorPosterior:
    W, psi = params.W, params.psi
    L = W.shape[1]
    W_psi = W / psi[:, None]                                   # Ψ⁻¹ W (Ψ is diagonal)
    G = linalg.inv(np.eye(L) + W.T @ W_psi)                    # G = (I + Wᵀ Ψ⁻¹ W)⁻¹ (12.68)
    G = 0.5 * (G + G.T)
    means = (X - params.mean) @ W_psi @ G                      # E[z_n] = G Wᵀ Ψ⁻¹ (x_n - x̄) (12.66)
    return FactorPosterior(means=means, cov=G)


def posterior(X, params: FactorParams) -> FactorPosterior:
    """The posterior of each latent z_n: Gaussian, mean G Wᵀ Ψ⁻¹ (x_n - μ), covariance G.

    Bishop 12.66 and 12.68 (12.42 for PPCA, where G = σ² M⁻¹ with M = WᵀW + σ²I).

    Parameters
    ----------
    X : array of shape (N, D)
    params : FactorParams

    Returns
    -------
    FactorPosterior
    """
    params = _check_params(params)
    return _posterior(_check_data_for(X, params), params)


def _e_step(X: np.ndarray, params: FactorParams):
    post = _posterior(X, params)
    N = X.shape[0]
    Xc = X - params.mean
    x_z = Xc.T @ post.means                                    # Σ_n (x_n - x̄) E[z_n]ᵀ
    zz = N * post.cov + post.means.T @ post.means              # Σ_n E[z_n z_nᵀ] = Σ_n G + E[z_n]E[z_n]ᵀ (12.67)
    scatter = Xc.T @ Xc / N                                    # S                  (12.3)
    stats = FactorStats(x_z=x_z, zz=zz, scatter=scatter, mean=params.mean, n_points=N)
    return stats, _log_likelihood(X, params)


def e_step(X, params: FactorParams):
    """The expected sufficient statistics under p(Z | X, θ), and ln p(X | θ).

    Parameters
    ----------
    X : array of shape (N, D)
    params : FactorParams
        Its ``mean`` is used as it is; EM keeps it at x̄ (the maximum-likelihood μ).

    Returns
    -------
    stats : FactorStats
    loglik : float
    """
    params = _check_params(params)
    return _e_step(_check_data_for(X, params), params)


def _m_step(stats: FactorStats, model: str, min_noise: float) -> FactorParams:
    W = linalg.solve(stats.zz, stats.x_z.T, assume_a="pos").T  # W = [Σ (x_n-x̄)E[z_n]ᵀ][Σ E[z_n z_nᵀ]]⁻¹ (12.56, 12.69)
    N, D = stats.n_points, stats.x_z.shape[0]
    if model == "fa":
        psi = np.diag(stats.scatter) - np.sum(W * stats.x_z, axis=1) / N   # Ψ = diag{S - W (1/N) Σ E[z_n](x_n-x̄)ᵀ} (12.70)
    else:
        # σ² = (1/ND) Σ_n {‖x_n-x̄‖² - 2 E[z_n]ᵀWᵀ(x_n-x̄) + Tr(E[z_n z_nᵀ] WᵀW)}          (12.57)
        sigma2 = (N * np.trace(stats.scatter) - 2.0 * np.sum(W * stats.x_z)
                  + np.trace(stats.zz @ W.T @ W)) / (N * D)
        psi = np.full(D, sigma2)
    psi = np.maximum(psi, min_noise)                           # a Heywood case: ψ_i -> 0
    return FactorParams(mean=stats.mean, W=W, psi=psi)


def m_step(stats: FactorStats, *, model: str = "fa", min_noise: float = 1e-12) -> FactorParams:
    """θ^{t+1} = argmax_θ Q(θ | θ^t): W from 12.56/12.69, Ψ from 12.70 (FA) or σ² from 12.57 (PPCA).

    Parameters
    ----------
    stats : FactorStats
        From :func:`e_step`.
    model : {"fa", "ppca"}
        Factor analysis (diagonal Ψ) or probabilistic PCA (Ψ = σ²I).
    min_noise : float > 0
        A floor for each noise variance: in a Heywood case one ψ_i goes to zero (a feature
        explained entirely by the factors) and Ψ would stop being invertible.

    Returns
    -------
    FactorParams
    """
    if not isinstance(stats, FactorStats):
        raise TypeError(f"stats must be the FactorStats returned by e_step; found "
                        f"{type(stats).__name__}")
    model = check_option(model, "model", MODELS)
    min_noise = check_real(min_noise, "min_noise", low=0.0, low_open=True)
    return _m_step(stats, model, min_noise)


def ppca_closed_form(X, n_latent) -> FactorParams:
    """The maximum-likelihood PPCA parameters in closed form (Tipping and Bishop 1999).

    With the eigenvalues ν_1 ≥ ... ≥ ν_D of the sample covariance S (divided by N) and
    their eigenvectors U: σ² = (1/(D-L)) Σ_{i>L} ν_i, the mean of the discarded eigenvalues
    (12.46), and W = U_L (diag(ν_1..ν_L) - σ²I)^{1/2} (12.45, with Bishop's arbitrary
    rotation taken as I).

    Parameters
    ----------
    X : array of shape (N, D)
    n_latent : int, 1 <= n_latent < D
        L.

    Returns
    -------
    FactorParams
        With every entry of ``psi`` equal to σ².
    """
    X = check_data(X)
    N, D = X.shape
    L = check_int(n_latent, "n_latent", low=1, high=D - 1)
    mean = X.mean(axis=0)                                      # μ = x̄              (12.1)
    S = (X - mean).T @ (X - mean) / N                          # S                  (12.3)
    nu, U = linalg.eigh(S)
    nu, U = nu[::-1], U[:, ::-1]                               # ν_1 ≥ ... ≥ ν_D
    sigma2 = nu[L:].mean()                                     # σ² = mean of discarded ν_i (12.46)
    if sigma2 <= 0:
        raise ValueError(f"X lies in a subspace of dimension at most {L}: the discarded "
                         f"eigenvalues of its covariance are all zero, so σ² = 0; use a "
                         f"smaller n_latent or data with noise")
    W = U[:, :L] * np.sqrt(np.maximum(nu[:L] - sigma2, 0.0))   # W = U_L (Λ_L - σ²I)^{1/2} (12.45)
    return FactorParams(mean=mean, W=W, psi=np.full(D, sigma2))


def _initial_params(X: np.ndarray, L: int, model: str, rng) -> FactorParams:
    mean = X.mean(axis=0)
    var = X.var(axis=0)
    scale = np.sqrt(var.mean())
    W = rng.standard_normal((X.shape[1], L)) * scale / np.sqrt(L)
    psi = var if model == "fa" else np.full(X.shape[1], var.mean())
    return FactorParams(mean=mean, W=W, psi=np.maximum(psi, 1e-6 * max(var.max(), 1e-300)))


def fit(X, n_latent, *, model: str = "fa", init=None, max_iter: int = 1000,
        tol: float = 1e-8, min_noise: float = 1e-12, seed=0) -> em.EMRun:
    """Fit factor analysis or probabilistic PCA by EM.

    Parameters
    ----------
    X : array of shape (N, D)
    n_latent : int, 1 <= n_latent < D
        L, the latent dimension.
    model : {"fa", "ppca"}
    init : FactorParams, optional
        θ⁰; its mean is replaced by x̄. Default: random W (seeded), Ψ from the variances.
    max_iter, tol
        As :func:`emref.em.run` (``tol`` per data point).
    min_noise : float > 0
        The floor on each noise variance (see :func:`m_step`).
    seed : None, int or numpy Generator
        For the random start.

    Returns
    -------
    emref.em.EMRun
        ``params`` is a FactorParams, ``stats`` the FactorStats at it.
    """
    X = check_data(X)
    N, D = X.shape
    if D < 2:
        raise ValueError(f"X must have at least 2 columns (a latent space of dimension "
                         f"L < D); found {describe_shape(X)}")
    L = check_int(n_latent, "n_latent", low=1, high=D - 1)
    model = check_option(model, "model", MODELS)
    min_noise = check_real(min_noise, "min_noise", low=0.0, low_open=True)
    rng = check_seed(seed)
    if init is None:
        params0 = _initial_params(X, L, model, rng)
    else:
        if not isinstance(init, FactorParams):
            raise TypeError(f"init must be a FactorParams or None; found {type(init).__name__}")
        if init.W.shape != (D, L):
            raise ValueError(f"init.W must have shape ({D}, {L}) for X of "
                             f"{describe_shape(X)} and n_latent={L}; found "
                             f"{describe_shape(init.W)}")
        params0 = FactorParams(mean=X.mean(axis=0), W=init.W, psi=init.psi)
    return em.run(lambda p: _e_step(X, p), lambda s, p: _m_step(s, model, min_noise),
                  params0, n_points=N, max_iter=max_iter, tol=tol)


def sample(params: FactorParams, n, seed=None):
    """Draw n points from the model: z_n ~ N(0, I), x_n = W z_n + μ + ε_n, ε_n ~ N(0, Ψ).

    Parameters
    ----------
    params : FactorParams
    n : int >= 1
    seed : None, int or numpy Generator

    Returns
    -------
    X : ndarray of shape (n, D)
    Z : ndarray of shape (n, L)
    """
    params = _check_params(params)
    n = check_int(n, "n", low=1)
    rng = check_seed(seed)
    Z = rng.standard_normal((n, params.n_latent))                      # z_n ~ N(0, I)   (12.31)
    noise = rng.standard_normal((n, params.n_features)) * np.sqrt(params.psi)
    return Z @ params.W.T + params.mean + noise, Z                     # x = Wz + μ + ε  (12.33)
