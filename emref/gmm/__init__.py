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

Each idea has its own module; every public name is importable from ``emref.gmm`` itself:
:mod:`emref.gmm.steps` (the readable :func:`e_step`, :func:`m_step`, :func:`q_function`,
:func:`log_gaussian`, :func:`predict_proba`), :mod:`emref.gmm.fitting` (:func:`fit`,
:func:`sample`, :func:`bic`, :func:`aic`), :mod:`emref.gmm.missing` (missing values and the
expected sufficient statistics: :func:`expected_statistics`, :func:`m_step_statistics`,
:func:`impute`) and :mod:`emref.gmm.online` (:func:`fit_online`, :func:`fit_incremental`).

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

from ..params import GMMParams
from .fitting import GMMResult, aic, bic, fit, n_parameters, sample
from .missing import GMMStats, expected_statistics, impute, m_step_statistics
from .online import OnlineGMMResult, fit_incremental, fit_online
from .steps import (
    COVARIANCE_TYPES,
    e_step,
    log_gaussian,
    m_step,
    predict,
    predict_proba,
    q_function,
    responsibility_entropy,
)

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
