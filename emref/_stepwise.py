"""What stepwise EM shares between :func:`emref.gmm.fit_online` and
:func:`emref.hmm.fit_stepwise`: the step sizes η_t that mix batch t's statistics into the
running ones, ŝ_t = (1 - η_t) ŝ_{t-1} + η_t s̄_t (Cappé & Moulines 2009; Liang & Klein 2009).
"""

from __future__ import annotations

from collections.abc import Callable

from ._validation import check_real


def step_sizes(step_size, step_exponent) -> Callable[[int], float]:
    """η as a function of the batch index t = 0, 1, ...

    The constant ``step_size`` in (0, 1] when one is given; otherwise η_t = (t + 2)^(-α)
    with α = ``step_exponent`` in (0.5, 1], so that Σ η_t = ∞ and Σ η_t² < ∞ (the
    Robbins-Monro conditions under which stepwise EM converges).
    """
    if step_size is None:
        alpha = check_real(step_exponent, "step_exponent")
        if not 0.5 < alpha <= 1.0:
            raise ValueError(f"step_exponent must be in (0.5, 1] (so that Σ η_t = ∞ and "
                             f"Σ η_t² < ∞); found {alpha}")
        return lambda t: (t + 2.0) ** (-alpha)
    step_size = check_real(step_size, "step_size")
    if not 0.0 < step_size <= 1.0:
        raise ValueError(f"step_size must be in (0, 1]; found {step_size}")
    return lambda t: step_size
