"""Drawing sequences from an HMM: the chain of states (until STOP, with one), then one
observation per state from the emission (ancestral sampling, Bishop §13.2 and §8.1.2)."""

from __future__ import annotations

import bisect

import numpy as np

from .._validation import check_int, check_seed
from .parameters import HMMParams, check_params

__all__ = ["sample"]


def _sample_chain(startprob, transmat, endprob, T, rng):
    """State path: T steps, or (with endprob) until STOP, at most T steps if T is given."""
    K = len(startprob)
    if endprob is not None:
        full = np.concatenate([transmat, endprob[:, None]], axis=1)
    else:
        full = transmat
    cdf = np.cumsum(full, axis=1)
    cdf[:, -1] = 1.0
    start_cdf = np.cumsum(startprob)
    start_cdf[-1] = 1.0
    limit = T if T is not None else np.inf
    chunk = 4096 if T is None else min(int(T), 1 << 16)
    out = []
    z = int(np.searchsorted(start_cdf, rng.uniform(), side="right"))
    out.append(z)
    cdf_list = cdf.tolist()
    while len(out) < limit:
        us = rng.uniform(size=chunk).tolist()
        stop = False
        for u in us:
            nxt = bisect.bisect_right(cdf_list[z], u)
            if nxt >= K:  # STOP
                stop = True
                break
            z = nxt
            out.append(z)
            if len(out) >= limit:
                break
        if stop:
            break
    return np.array(out, dtype=np.intp)


def sample(params: HMMParams, T=None, seed=None):
    """Draw one sequence from the HMM.

    Parameters
    ----------
    params : HMMParams
    T : int >= 1, or None
        Number of steps. With a STOP state (``endprob``) the chain runs until it stops and
        ``T``, if given, caps its length; without one ``T`` is required.
    seed : None, int or numpy Generator

    Returns
    -------
    obs : ndarray (T,) of symbols or (T, D) of vectors.
    states : ndarray (T,) of ints.
    """
    params = check_params(params)
    if T is None:
        if params.endprob is None:
            raise ValueError("T must be given (an int >= 1) for a model without endprob; "
                             "found None")
    else:
        T = check_int(T, "T", low=1)
    rng = check_seed(seed)
    states = _sample_chain(params.startprob, params.transmat, params.endprob, T, rng)
    return params.emission.sample_states(states, rng), states
