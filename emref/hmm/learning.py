"""Learning an HMM: Baum-Welch from untagged sequences (:func:`fit`) and counting from
tagged ones (:func:`fit_supervised`).

:func:`fit` alternates the two steps of :mod:`emref.hmm.em_steps` in the shared loop
:func:`emref.em.run`; from the same start each iteration equals hmmlearn's (with its priors
switched off). Both take the emission's own options as keywords (``n_symbols`` of a
categorical emission, ``reg_covar`` of a Gaussian one, ...): they reach the emission's
random start, M-step and supervised estimate, and an option the emission does not take is a
TypeError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _hmm_batched as batched
from .. import em
from .._validation import check_int, check_option, check_real, check_seed
from .em_steps import HMMStats, e_step_batch, m_step_checked
from .emissions import Categorical, emission_class
from .emissions.base import check_symbols, normalise_rows
from .parameters import HMMParams
from .sequences import batch, many_sequences

__all__ = ["HMMResult", "fit", "fit_supervised", "random_params"]


@dataclass(frozen=True, eq=False)
class HMMResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params : HMMParams, the fitted θⁿ.
    loglik : float, ln p(sequences | θⁿ), summed over sequences.
    loglik_history : ndarray (n_iter + 1,), ln p(sequences | θⁱ) for i = 0..n (θ⁰ first).
    n_iter : int, number of Baum-Welch iterations (M-steps).
    converged : bool, whether the change per observation fell below ``tol``.
    stats : HMMStats at θⁿ (posteriors ``stats.gamma`` of every sequence).
    """

    params: HMMParams
    loglik: float
    loglik_history: np.ndarray
    n_iter: int
    converged: bool
    stats: HMMStats = field(repr=False, default=None)


def random_params(cls, X, K: int, rng: np.random.Generator, with_endprob: bool,
                  options: dict) -> HMMParams:
    """A random start: π and each row of A (with its STOP probability when ``with_endprob``)
    from a flat Dirichlet, the emission from ``cls.random_init`` on the data X."""
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K + 1 if with_endprob else K), size=K)
    endprob = None
    if with_endprob:
        transmat, endprob = transmat[:, :-1], transmat[:, -1]
    return HMMParams(startprob, transmat, cls.random_init(X, K, rng, **options), endprob)


def model_options(init, emission, n_states: int, caller: str, options: dict):
    """(emission class, its checked options) for a learner started at ``init`` ("random" or
    an HMMParams) with the emission named ``emission`` (None: init's, or categorical)."""
    cls = None if emission is None else emission_class(emission)
    if isinstance(init, HMMParams):
        if init.n_states != n_states:
            raise ValueError(f"init must have n_states = {n_states} states; found an "
                             f"HMMParams with {init.n_states}")
        if cls is not None and not isinstance(init.emission, cls):
            raise ValueError(f"emission must match init; found emission={emission!r} and an "
                             f"init with {init.emission.name} emissions")
        cls = type(init.emission)
        options = cls.check_options(options, caller)
        size = cls.sequence_size(options)
        if size is not None and size != init.emission.obs_size:
            raise ValueError(f"the {cls.name} emission's options must agree with init; found "
                             f"a size of {size} and an init of size {init.emission.obs_size}")
        return cls, options
    if isinstance(init, str):
        check_option(init, "init", ("random",))
        cls = cls or Categorical
        return cls, cls.check_options(options, caller)
    raise TypeError(f"init must be 'random' or an HMMParams; found {type(init).__name__}")


def fit(sequences, n_states, *, init="random", emission=None, max_iter: int = 100,
        tol: float = 1e-6, seed=None, with_endprob: bool = False,
        **emission_options) -> HMMResult:
    """Baum-Welch: fit an HMM by EM (run by :func:`emref.em.run`).

    Parameters
    ----------
    sequences : one sequence (an array) or a list of sequences of any lengths (see
        :mod:`emref.hmm.sequences`).
    n_states : int >= 1, the number of hidden states K.
    init : "random" or HMMParams
        "random": π and the rows of A drawn from a flat Dirichlet, the emission from its
        ``random_init`` (categorical: flat Dirichlet rows; Gaussian: K data points as means,
        the data covariance; Poisson: the data means times uniform factors in [0.5, 1.5]).
        HMMParams: start exactly there (its emission type and STOP state decide the model).
    emission : None or a name in :data:`EMISSIONS` ("categorical", "gaussian", "poisson", or
        any registered emission). With ``init="random"``, the emission model (None means
        "categorical"). With an HMMParams start it must be None or agree with it.
    max_iter : int >= 0
    tol : float >= 0
        Stop when the log-likelihood changes by less than ``tol`` per observation.
        ``tol=0`` runs exactly ``max_iter`` iterations.
    seed : None, int or numpy Generator (for ``init="random"``).
    with_endprob : bool, give a random start a STOP state (re-estimated like the rest).
    **emission_options
        The emission's own options (its class lists them in ``options``): ``n_symbols``
        (categorical: the alphabet size M of a random start, default largest symbol + 1),
        ``reg_covar`` (Gaussian: added to every covariance's diagonal in every M-step,
        default 1e-6; hmmlearn has no such term, so ``reg_covar=0`` equals hmmlearn with
        priors off). An option the emission does not take is a TypeError.

    Returns
    -------
    HMMResult
    """
    K = check_int(n_states, "n_states", low=1)
    max_iter = check_int(max_iter, "max_iter", low=0)
    tol = check_real(tol, "tol", low=0.0)
    cls, options = model_options(init, emission, K, "fit", emission_options)
    if isinstance(init, HMMParams):
        params0 = init
        data = batch(sequences, params0)
    else:
        rng = check_seed(seed)
        data = batched.Batch(*many_sequences(sequences, cls, cls.sequence_size(options)))
        params0 = random_params(cls, data.X, K, rng, with_endprob, options)

    def e(params):
        return e_step_batch(data, params)

    def m(stats, params):
        return m_step_checked(stats, params, options)

    run = em.run(e, m, params0, n_points=data.n_points, max_iter=max_iter, tol=tol)
    return HMMResult(params=run.params, loglik=run.loglik, loglik_history=run.loglik_history,
                     n_iter=run.n_iter, converged=run.converged, stats=run.stats)


def _tagged(sequences, state_sequences, K: int, cls, options: dict):
    """Checked (observation sequences, their concatenation, state sequences): one array
    each, or two lists of the same number of sequences of matching lengths."""
    if isinstance(state_sequences, np.ndarray) and state_sequences.dtype != object:
        if state_sequences.ndim != 1:
            raise ValueError(f"state_sequences must be one state sequence (a 1-D array of "
                             f"integer states) or a list of them; found a "
                             f"{state_sequences.ndim}-D array of shape "
                             f"{state_sequences.shape}: pass list(state_sequences) for "
                             f"several")
        states = [check_symbols(state_sequences, "state_sequences", K, what="states",
                                letter="K")]
        state_names, obs_names = ["state_sequences"], ["sequences"]
        one = sequences
        if isinstance(sequences, (list, tuple)):
            try:
                one = np.asarray(sequences)
            except ValueError:
                raise ValueError("sequences must be one sequence to match state_sequences, "
                                 "which is one array; found a list of sequences (pass "
                                 "state_sequences as a list too)") from None
        seqs, X = many_sequences(one, cls, cls.sequence_size(options))
    else:
        if not isinstance(state_sequences, (list, tuple)):
            raise TypeError(f"state_sequences must be one state sequence (a numpy array) or a "
                            f"list of them; found {type(state_sequences).__name__}")
        if not isinstance(sequences, (list, tuple)):
            raise TypeError(f"sequences must be a list of sequences to match the list "
                            f"state_sequences; found {type(sequences).__name__}")
        if len(sequences) != len(state_sequences):
            raise ValueError(f"sequences must hold one sequence per state sequence; found "
                             f"{len(sequences)} sequences and {len(state_sequences)} state "
                             f"sequences")
        state_names = [f"state_sequences[{i}]" for i in range(len(state_sequences))]
        states = [check_symbols(z, n, K, what="states", letter="K")
                  for z, n in zip(state_sequences, state_names)]
        obs_names = [f"sequences[{i}]" for i in range(len(sequences))]
        seqs, X = many_sequences(list(sequences), cls, cls.sequence_size(options))
    for x, z, n, zn in zip(seqs, states, obs_names, state_names):
        if len(x) != len(z):
            raise ValueError(f"{zn} must have the same length as {n}; found {len(z)} states "
                             f"for {len(x)} observations")
    return X, states


def fit_supervised(sequences, state_sequences, n_states, *, pseudocount: float = 0.0,
                   with_endprob: bool = False, emission=None,
                   **emission_options) -> HMMParams:
    """Maximum-likelihood HMM from tagged sequences, by counting.

    Parameters
    ----------
    sequences : one sequence (an array) or a list of sequences (see
        :mod:`emref.hmm.sequences`).
    state_sequences : the hidden state of every step, integers 0..n_states-1: one array when
        ``sequences`` is one sequence, a list of the same number of arrays (of matching
        lengths) when it is a list.
    n_states : int >= 1
    pseudocount : float >= 0, added to every start, transition, (stop) and emission count
        (add-λ smoothing; Gaussian and Poisson emissions: not used for their parameters).
    with_endprob : bool, estimate a STOP state from where the sequences end.
    emission : None or a name in :data:`EMISSIONS`; None: "categorical" for 1-D sequences,
        "gaussian" for (T, D) ones.
    **emission_options : the emission's own options, as for :func:`fit` (``n_symbols``:
        alphabet size M, default largest symbol + 1; ``reg_covar``: added to the Gaussian
        covariances' diagonal).

    Returns
    -------
    HMMParams
        π ∝ starts + λ, A_jk ∝ #(j→k) + λ, (e_j ∝ #(j ends) + λ), the emission from its
        ``supervised`` estimate (categorical: B_km ∝ #(k emits m) + λ); a state never seen
        (and λ = 0) gets uniform rows.
    """
    K = check_int(n_states, "n_states", low=1)
    pseudocount = check_real(pseudocount, "pseudocount", low=0.0)
    if emission is None:  # the default follows the shape of the first observation sequence
        first = sequences[0] if isinstance(sequences, (list, tuple)) and sequences else sequences
        emission = "gaussian" if np.ndim(first) == 2 else "categorical"
    cls = emission_class(emission)
    options = cls.check_options(emission_options, "fit_supervised")
    X, states = _tagged(sequences, state_sequences, K, cls, options)
    Z = np.concatenate(states)
    offsets = np.concatenate([[0], np.cumsum([len(z) for z in states])])
    start = np.bincount(Z[offsets[:-1]], minlength=K).astype(float) + pseudocount
    ends = np.bincount(Z[offsets[1:] - 1], minlength=K).astype(float)
    has_prev = np.ones(len(Z), dtype=bool)           # steps with a predecessor in their sequence
    has_prev[offsets[:-1]] = False
    n = np.flatnonzero(has_prev)
    trans = np.zeros((K, K))
    np.add.at(trans, (Z[n - 1], Z[n]), 1.0)
    trans += pseudocount
    if start.sum() <= 0:
        start = np.ones(K)
    startprob = start / start.sum()
    if with_endprob:
        both = normalise_rows(np.concatenate([trans, (ends + pseudocount)[:, None]], axis=1))
        transmat, endprob = both[:, :-1], both[:, -1]
    else:
        transmat, endprob = normalise_rows(trans), None
    em_model = cls.supervised(X, Z, K, pseudocount=pseudocount, **options)
    return HMMParams(startprob, transmat, em_model, endprob)
