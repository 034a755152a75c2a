r"""Hidden Markov models fitted by EM: forward-backward, Viterbi and Baum-Welch (Bishop §13.2).

The model, in Bishop's notation, for K hidden states z_1..z_N and observations x_1..x_N:

.. math::

    p(X, Z \mid \theta) = p(z_1 \mid \pi) \prod_{n=2}^N p(z_n \mid z_{n-1}, A)
                          \prod_{n=1}^N p(x_n \mid z_n, \phi) \; [\, e_{z_N} \,]

with π_k = p(z_1 = k), A_jk = p(z_n = k | z_{n-1} = j), an emission model φ and, optionally,
e_k = p(STOP | z_N = k): the STOP state of Eisner's ice-cream spreadsheet. With a STOP state
each row of A plus its e_k sums to one and the likelihood includes the probability of
stopping after the last step.

Each idea has its own module; every public name is importable from ``emref.hmm`` itself:

=================================  ==========================================================
:mod:`emref.hmm.emissions`         one module per emission model (:class:`Categorical`,
                                   :class:`Gaussian`, :class:`Poisson`), the base class
                                   :class:`Emission` and the registry :data:`EMISSIONS`
:mod:`emref.hmm.parameters`        :class:`HMMParams`, :func:`n_parameters`
:mod:`emref.hmm.sequences`         how sequences are passed (one array, or a list), checked
:mod:`emref.hmm.inference`         the readable reference, one sequence, each line naming
                                   Bishop's equation: :func:`forward` (13.59),
                                   :func:`backward` (13.62), :func:`posteriors` (γ 13.64,
                                   ξ 13.43/13.65), :func:`viterbi` (13.68-13.71)
:mod:`emref.hmm.marginals`         the same numbers for whole data sets by the batched fast
                                   path (``emref._hmm_batched``, tested equal):
                                   :func:`forward_backward`, :func:`score`,
                                   :func:`posterior_decode`, :func:`bic`
:mod:`emref.hmm.em_steps`          :func:`e_step`, :func:`m_step`, :func:`q_function`
:mod:`emref.hmm.learning`          :func:`fit` (Baum-Welch), :func:`fit_supervised`
:mod:`emref.hmm.stepwise`          :func:`fit_stepwise` (stepwise EM, every emission)
:mod:`emref.hmm.sampling`          :func:`sample`
=================================  ==========================================================

Emission models own their model. A subclass of :class:`Emission` with a ``name`` registers
itself in :data:`EMISSIONS` (name -> class), which :func:`fit`, :func:`fit_supervised` and
:func:`fit_stepwise` read; it checks its observations, gives their log-likelihood under each
state, collects expected sufficient statistics from γ, re-estimates itself from them
(M-step), draws a random start, estimates itself from tagged data, samples, counts its free
parameters, and declares its own options (which those functions take as keywords).
Everything else is shared.
"""

from .em_steps import HMMStats, e_step, m_step, q_function
from .emissions import EMISSIONS, Categorical, Emission, Gaussian, Poisson
from .inference import (
    BackwardResult,
    ForwardResult,
    Posteriors,
    ViterbiResult,
    backward,
    forward,
    posteriors,
    viterbi,
)
from .learning import HMMResult, fit, fit_supervised
from .marginals import ForwardBackwardResult, bic, forward_backward, posterior_decode, score
from .parameters import HMMParams, n_parameters
from .sampling import sample
from .stepwise import fit_stepwise

__all__ = [
    "EMISSIONS",
    "BackwardResult",
    "Categorical",
    "Emission",
    "ForwardBackwardResult",
    "ForwardResult",
    "Gaussian",
    "HMMParams",
    "HMMResult",
    "HMMStats",
    "Poisson",
    "Posteriors",
    "ViterbiResult",
    "backward",
    "bic",
    "e_step",
    "fit",
    "fit_stepwise",
    "fit_supervised",
    "forward",
    "forward_backward",
    "m_step",
    "n_parameters",
    "posterior_decode",
    "posteriors",
    "q_function",
    "sample",
    "score",
    "viterbi",
]
