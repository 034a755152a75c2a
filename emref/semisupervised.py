"""Semi-supervised EM for a categorical HMM: tagged counts in every M-step.

The seed question's pipeline counts a few tagged sentences, then re-estimates on untagged
ones. Plain Baum-Welch uses the tagged counts only to start. Semi-supervised EM (Nigam,
McCallum, Thrun and Mitchell 2000) keeps them: every M-step normalises

    expected counts of the untagged sequences  +  w · counts of the tagged sequences,

which maximises ln p(X_u | θ) + w · ln p(X_t, Z_t | θ) (the tagged part is complete data, so
its counts need no E-step). w = 0 is plain EM on the untagged data; w = 1 weighs a tagged
word like an untagged one; a large w lets the annotations overrule the likelihood.

Everything here is built on the public :mod:`emref.hmm` functions (``e_step``, ``m_step``,
``q_function``, ``score``); nothing of Baum-Welch is re-implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import hmm

__all__ = ["SemiSupervisedResult", "combine", "fit", "m_step", "objective", "tagged_statistics"]


def _check_weight(weight) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
        raise TypeError(f"weight must be a real number >= 0; found {type(weight).__name__}")
    weight = float(weight)
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"weight must be a finite number >= 0; found {weight}")
    return weight


def _check_categorical(params) -> hmm.HMMParams:
    if not isinstance(params, hmm.HMMParams):
        raise TypeError(f"params must be an hmm.HMMParams; found {type(params).__name__}")
    if not isinstance(params.emission, hmm.Categorical):
        raise TypeError(f"params must have categorical emissions (hmm.Categorical); found "
                        f"{type(params.emission).__name__}")
    return params


def _as_list(sequences, name: str) -> list:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
        return [sequences]
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise TypeError(f"{name} must be a non-empty list of 1-D integer arrays; found "
                        f"{type(sequences).__name__}")
    return [np.asarray(s) for s in sequences]


def tagged_statistics(sequences, state_sequences, params: hmm.HMMParams) -> hmm.HMMStats:
    """The counts of tagged sequences, in the form :func:`emref.hmm.e_step` returns.

    With the states known, the "posterior" of every step is a one-hot row, so the expected
    counts of ``e_step`` become plain counts: starts, transitions, stops and emissions.

    Parameters
    ----------
    sequences : list of 1-D int arrays (symbols 0..M-1), or one such array.
    state_sequences : list of 1-D int arrays (states 0..K-1), matching ``sequences``.
    params : hmm.HMMParams with categorical emissions; gives K, M and whether there is a
        STOP state (the counts themselves do not depend on its values).

    Returns
    -------
    hmm.HMMStats
        ``start``, ``trans``, ``end``, ``occupancy``, ``emission`` (a 1-tuple with the (K, M)
        emission counts) and the one-hot ``gamma`` of every sequence.
    """
    params = _check_categorical(params)
    xs = _as_list(sequences, "sequences")
    zs = _as_list(state_sequences, "state_sequences")
    if len(xs) != len(zs):
        raise ValueError(f"state_sequences must match sequences in number: found {len(zs)} "
                         f"state sequences for {len(xs)} sequences")
    K, M = params.n_states, params.emission.n_symbols
    start, trans, end = np.zeros(K), np.zeros((K, K)), np.zeros(K)
    emission, gammas = np.zeros((K, M)), []
    for i, (x, z) in enumerate(zip(xs, zs)):
        x = hmm.Categorical.check_sequence(x, f"sequences[{i}]", M)
        if z.shape != x.shape or not np.issubdtype(z.dtype, np.integer):
            raise ValueError(f"state_sequences[{i}] must be integers of the same length as "
                             f"sequences[{i}] ({len(x)}); found shape {z.shape}, dtype {z.dtype}")
        if z.min() < 0 or z.max() >= K:
            raise ValueError(f"state_sequences[{i}] must hold states 0..{K - 1}; found "
                             f"{z.min()}..{z.max()}")
        start[z[0]] += 1                                   # a start in z_1
        np.add.at(trans, (z[:-1], z[1:]), 1)               # the transitions j -> k
        end[z[-1]] += 1                                    # the stop after the last step
        np.add.at(emission, (z, x), 1)                     # k emits m
        gammas.append(np.eye(K)[z])
    occupancy = sum(g.sum(axis=0) for g in gammas)
    return hmm.HMMStats(start=start, trans=trans, end=end, occupancy=occupancy,
                        emission=(emission,), gamma=gammas, n_sequences=len(xs),
                        n_points=int(sum(len(x) for x in xs)))


def combine(untagged: hmm.HMMStats, tagged: hmm.HMMStats, weight: float) -> hmm.HMMStats:
    """``untagged + weight · tagged``, table by table (the posteriors are not combined).

    Parameters
    ----------
    untagged : hmm.HMMStats from :func:`emref.hmm.e_step` on the untagged sequences.
    tagged : hmm.HMMStats from :func:`tagged_statistics`.
    weight : float >= 0, the weight w of the tagged counts.

    Returns
    -------
    hmm.HMMStats
    """
    weight = _check_weight(weight)
    for name, stats in (("untagged", untagged), ("tagged", tagged)):
        if not isinstance(stats, hmm.HMMStats):
            raise TypeError(f"{name} must be an hmm.HMMStats; found {type(stats).__name__}")
    if untagged.trans.shape != tagged.trans.shape or (
            untagged.emission[0].shape != tagged.emission[0].shape):
        raise ValueError(f"tagged and untagged statistics must be for the same K and M; found "
                         f"{tagged.emission[0].shape} and {untagged.emission[0].shape}")
    return hmm.HMMStats(start=untagged.start + weight * tagged.start,
                        trans=untagged.trans + weight * tagged.trans,
                        end=untagged.end + weight * tagged.end,
                        occupancy=untagged.occupancy + weight * tagged.occupancy,
                        emission=(untagged.emission[0] + weight * tagged.emission[0],),
                        gamma=untagged.gamma, n_sequences=untagged.n_sequences,
                        n_points=untagged.n_points)


def m_step(untagged: hmm.HMMStats, tagged: hmm.HMMStats, params: hmm.HMMParams,
           weight: float) -> hmm.HMMParams:
    """The semi-supervised M-step: :func:`emref.hmm.m_step` on ``untagged + w · tagged``.

    Parameters
    ----------
    untagged, tagged, weight : as :func:`combine`.
    params : hmm.HMMParams (θᵗ), for the model's structure.

    Returns
    -------
    hmm.HMMParams
        The θ that maximises Q_u(θ | θᵗ) + w · ln p(X_t, Z_t | θ).
    """
    return hmm.m_step(combine(untagged, tagged, weight), _check_categorical(params))


def objective(untagged_sequences, tagged: hmm.HMMStats, params: hmm.HMMParams,
              weight: float) -> float:
    """ln p(X_u | θ) + w · ln p(X_t, Z_t | θ), the quantity semi-supervised EM never lowers.

    The tagged term is the complete-data log-likelihood, which is
    :func:`emref.hmm.q_function` of the tagged counts (a one-hot posterior makes Q exact).
    """
    weight = _check_weight(weight)
    params = _check_categorical(params)
    with np.errstate(invalid="ignore"):                    # 0 · ln 0 counts as 0 in q_function
        tagged_loglik = hmm.q_function(tagged, params)
    return hmm.score(untagged_sequences, params) + weight * tagged_loglik


@dataclass
class SemiSupervisedResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    params : hmm.HMMParams, θ after the last M-step.
    objective_history : list of float, the objective at θ⁰, θ¹, ... (never decreasing).
    loglik_history : list of float, ln p(X_u | θᵗ) of the untagged sequences alone.
    params_history : list of hmm.HMMParams, θ⁰, θ¹, ..., θ^{n_iter}.
    weight : float, the weight w of the tagged counts.
    """

    params: hmm.HMMParams
    objective_history: list = field(default_factory=list)
    loglik_history: list = field(default_factory=list)
    params_history: list = field(default_factory=list, repr=False)
    weight: float = 0.0


def fit(untagged_sequences, tagged_sequences, tag_sequences, init: hmm.HMMParams, *,
        weight: float = 1.0, max_iter: int = 30) -> SemiSupervisedResult:
    """Semi-supervised Baum-Welch: E-step on the untagged data, tagged counts in every M-step.

    Parameters
    ----------
    untagged_sequences : list of 1-D int arrays.
    tagged_sequences, tag_sequences : the tagged data, as :func:`tagged_statistics`.
    init : hmm.HMMParams, θ⁰ (for the question's pipeline, ``hmm.fit_supervised`` of the
        tagged data).
    weight : float >= 0, w; 0 is plain Baum-Welch on the untagged data.
    max_iter : int >= 0, the number of E- and M-steps.

    Returns
    -------
    SemiSupervisedResult
    """
    weight = _check_weight(weight)
    params = _check_categorical(init)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0; found {max_iter!r}")
    tagged = tagged_statistics(tagged_sequences, tag_sequences, params)
    result = SemiSupervisedResult(params=params, weight=weight)
    for t in range(max_iter + 1):
        stats, loglik = hmm.e_step(untagged_sequences, params)      # E-step: untagged only
        result.loglik_history.append(loglik)
        with np.errstate(invalid="ignore"):                # 0 · ln 0 counts as 0 in q_function
            result.objective_history.append(loglik + weight * hmm.q_function(tagged, params))
        result.params_history.append(params)
        if t < max_iter:
            params = m_step(stats, tagged, params, weight)           # M-step: both counts
    result.params = params
    return result
