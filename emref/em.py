"""The EM loop that every model in emref shares.

A model supplies two pure functions:

- ``e_step(params) -> (stats, loglik)``: the expected sufficient statistics under
  p(Z | X, θᵗ) and the log-likelihood log p(X | θᵗ) of the current parameters;
- ``m_step(stats, params) -> params``: θᵗ⁺¹ = argmax_θ Q(θ | θᵗ), from those statistics
  (θᵗ is passed too: it carries the model's structure, e.g. an HMM's emission type).

:func:`run` alternates them, records the log-likelihood of every iterate, and stops on
``tol`` or ``max_iter``. Exact EM never lowers the log-likelihood (Dempster, Laird and Rubin,
1977); if it falls by more than rounding, :class:`LikelihoodDecreaseWarning` is raised as a
warning, because that means a bug (the classic one: a variance passed where a standard
deviation is expected).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_int, check_real

__all__ = ["EMRun", "LikelihoodDecreaseWarning", "decrease_slack", "run"]


class LikelihoodDecreaseWarning(RuntimeWarning):
    """The log-likelihood fell between two EM iterations by more than rounding error."""


@dataclass(frozen=True)
class EMRun:
    """What :func:`run` returns.

    Attributes
    ----------
    params : the last parameters θⁿ.
    stats : the E-step output at θⁿ (responsibilities, expected counts, ...).
    loglik : float, log p(X | θⁿ).
    loglik_history : ndarray of shape (n_iter + 1,), log p(X | θⁱ) for i = 0..n.
    n_iter : int, the number of M-steps taken.
    converged : bool, True if the change per data point fell below ``tol``.
    """

    params: Any
    stats: Any
    loglik: float
    loglik_history: np.ndarray
    n_iter: int
    converged: bool


def decrease_slack(loglik: float, n_points: int) -> float:
    """How far a log-likelihood may fall through rounding alone.

    Sums of N terms carry an error of a few ulps of the total per term; 1e-9 relative plus
    1e-9 per point is far above that and far below any real bug.
    """
    return 1e-9 * (abs(loglik) + n_points)


def run(e_step: Callable, m_step: Callable, params0, *, n_points: int, max_iter: int = 100,
        tol: float = 1e-6) -> EMRun:
    """Run EM from ``params0``.

    Parameters
    ----------
    e_step : callable, params -> (stats, loglik)
    m_step : callable, (stats, params) -> new params; ``params`` is θᵗ, at which ``stats``
        were computed.
    params0 : the starting parameters θ⁰.
    n_points : int, the number of data points (or time steps), to make ``tol`` per point.
    max_iter : int >= 0, the largest number of M-steps.
    tol : float >= 0. Stop when |log p(X|θᵗ⁺¹) - log p(X|θᵗ)| / n_points < tol.
        ``tol=0`` runs exactly ``max_iter`` iterations.

    Returns
    -------
    EMRun
    """
    max_iter = check_int(max_iter, "max_iter", low=0)
    tol = check_real(tol, "tol", low=0.0)
    params = params0
    stats, loglik = e_step(params)
    history = [loglik]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        params = m_step(stats, params)
        stats, new_loglik = e_step(params)
        history.append(new_loglik)
        if new_loglik < loglik - decrease_slack(loglik, n_points):
            warnings.warn(
                f"log-likelihood decreased at iteration {n_iter}: {loglik:.10g} -> "
                f"{new_loglik:.10g}. Exact EM never does this: check the M-step (is a "
                f"variance used where a standard deviation is expected?). A regulariser "
                f"(reg_covar) that is large for the data's scale also makes the M-step "
                f"inexact and can cause it.",
                LikelihoodDecreaseWarning, stacklevel=2)
        change = abs(new_loglik - loglik) / n_points
        loglik = new_loglik
        if change < tol:
            converged = True
            break
    return EMRun(params=params, stats=stats, loglik=float(loglik),
                 loglik_history=np.asarray(history, dtype=float), n_iter=n_iter,
                 converged=converged)
