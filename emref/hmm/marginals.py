"""Posterior marginals and the marginal likelihood p(X) of whole data sets, by the batched
fast path.

:func:`forward_backward`, :func:`score`, :func:`posterior_decode` and :func:`bic` run
``emref._hmm_batched`` (many sequences and blocks of long sequences at once, from
log-densities with per-step offsets: exact for any length), which the tests hold to 1e-10
of the readable reference in :mod:`emref.hmm.inference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _hmm_batched as batched
from .inference import impossible
from .parameters import HMMParams, check_params, n_parameters
from .sequences import batch, one_sequence

__all__ = ["ForwardBackwardResult", "bic", "forward_backward", "posterior_decode", "score"]


@dataclass(frozen=True, eq=False)
class ForwardBackwardResult:
    """What :func:`forward_backward` returns.

    Attributes
    ----------
    gamma : ndarray (N, K), γ(z_nk) = p(z_n = k | X, θ) = α̂(z_nk) β̂(z_nk) (13.64); rows sum
        to 1.
    xi_sum : ndarray (K, K), Σ_{n=2}^N ξ(z_{n-1,j}, z_nk) (13.65): expected transition counts.
    loglik : float, ln p(X | θ) (including the stop when the model has ``endprob``).
    """

    gamma: np.ndarray
    xi_sum: np.ndarray
    loglik: float


def forward_backward(obs, params: HMMParams) -> ForwardBackwardResult:
    """Posterior state marginals and expected transition counts of one sequence.

    Parameters
    ----------
    obs : one sequence: 1-D int array (categorical) or (N, D) array (Gaussian, Poisson).
    params : HMMParams

    Returns
    -------
    ForwardBackwardResult
        ``gamma`` (N, K), ``xi_sum`` (K, K), ``loglik``.

    Notes
    -----
    The numbers of :func:`forward` and :func:`backward` (γ = α̂ β̂, ξ = c_n⁻¹ α̂ p(x_n|z_n) A β̂),
    computed by the batched path of ``emref._hmm_batched``, which works from log-densities
    with per-step offsets and is exact for any N. Raises ValueError if ``obs`` has
    probability zero under ``params``.
    """
    params = check_params(params)
    x = one_sequence(obs, params.emission)
    out = batched.forward_backward(batched.Batch([x], x), params)
    if out is None:
        raise impossible("obs")
    ll, gamma, xi_sum = out
    return ForwardBackwardResult(gamma=gamma, xi_sum=xi_sum, loglik=float(ll[0]))


def score(sequences, params: HMMParams) -> float:
    """ln p(sequences | θ), summed over sequences (-inf if one is impossible)."""
    params = check_params(params)
    ll = batched.loglik(batch(sequences, params), params)
    return -np.inf if ll is None else float(ll.sum())


def posterior_decode(obs, params: HMMParams) -> np.ndarray:
    """The individually most probable state of every step, argmax_k γ(z_nk), shape (N,)."""
    return forward_backward(obs, params).gamma.argmax(axis=1)


def bic(sequences, params: HMMParams) -> float:
    """Bayesian information criterion -2 ln p(X | θ) + p ln N, N the number of observations
    (lower is better)."""
    params = check_params(params)
    data = batch(sequences, params)
    ll = batched.loglik(data, params)
    ll = -np.inf if ll is None else float(ll.sum())
    return -2.0 * ll + n_parameters(params) * np.log(data.n_points)
