"""The parameters θ = (π, A, φ, e) of a hidden Markov model, and their count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    as_float_array,
    check_probability_vector,
    check_row_stochastic,
    describe_shape,
)
from .emissions import EMISSIONS, Emission
from .emissions.base import frozen

__all__ = ["HMMParams", "check_params", "n_parameters"]


def _emission_names() -> str:
    return " or ".join(cls.__name__ for cls in EMISSIONS.values())


@dataclass(frozen=True, eq=False)
class HMMParams:
    """Parameters θ = (π, A, φ, e) of a hidden Markov model.

    Parameters
    ----------
    startprob : array of shape (K,)
        π_k = p(z_1 = k), non-negative, summing to 1.
    transmat : array of shape (K, K)
        A_jk = p(z_n = k | z_{n-1} = j). Without ``endprob`` each row sums to 1; with it,
        each row plus its ``endprob`` entry sums to 1.
    emission : an :class:`Emission` (Categorical, Gaussian, Poisson)
    endprob : None or array of shape (K,)
        e_k = p(STOP | z_N = k): the optional STOP state. With it the likelihood of a
        sequence includes stopping after its last step.
    """

    startprob: np.ndarray
    transmat: np.ndarray
    emission: Emission
    endprob: np.ndarray | None = None

    def __post_init__(self):
        if not isinstance(self.emission, Emission):
            raise TypeError(f"emission must be an emission model ({_emission_names()}); "
                            f"found {type(self.emission).__name__}")
        K = self.emission.n_states
        startprob = as_float_array(self.startprob, "startprob", ndim=1)
        if startprob.shape != (K,):
            raise ValueError(f"startprob must have shape ({K},) to match the emission's "
                             f"K = {K} states; found {describe_shape(startprob)}")
        startprob = check_probability_vector(startprob, "startprob", K)
        endprob = None
        if self.endprob is not None:
            endprob = as_float_array(self.endprob, "endprob", ndim=1)
            if endprob.shape != (K,):
                raise ValueError(f"endprob must have shape ({K},); found "
                                 f"{describe_shape(endprob)}")
            if np.any(endprob < 0) or np.any(endprob > 1):
                raise ValueError(f"endprob must hold probabilities in [0, 1]; found values "
                                 f"from {endprob.min():.6g} to {endprob.max():.6g}")
            if not np.any(endprob > 0):
                raise ValueError("endprob must have at least one positive entry (with a STOP "
                                 "state that can never be reached no sequence has positive "
                                 "probability); found all zeros")
        transmat = check_row_stochastic(self.transmat, "transmat", (K, K), row_extra=endprob,
                                        extra_name="endprob")
        object.__setattr__(self, "startprob", frozen(startprob))
        object.__setattr__(self, "transmat", frozen(transmat))
        object.__setattr__(self, "endprob", None if endprob is None else frozen(endprob))

    @property
    def n_states(self) -> int:
        return self.startprob.shape[0]

    @property
    def has_end(self) -> bool:
        return self.endprob is not None


def check_params(params) -> HMMParams:
    if not isinstance(params, HMMParams):
        raise TypeError(f"params must be an HMMParams; found {type(params).__name__}")
    return params


def n_parameters(params: HMMParams) -> int:
    """Free parameters: K - 1 for π, K(K - 1) for A (K² with a STOP state, whose e_k takes
    one entry of each row), and the emission's own count."""
    params = check_params(params)
    K = params.n_states
    rows = K * K if params.endprob is not None else K * (K - 1)
    return (K - 1) + rows + params.emission.n_parameters
