"""Plots for hidden Markov models: posteriors over time, decoded paths, counts, underflow.

Every helper draws on an ``Axes`` it is given, titles and labels it, takes its colours from
:data:`emref.viz.style.PALETTE` (colour-blind safe), returns what it drew, and never calls
``plt.show()``. They draw numbers the lecture computed with :mod:`emref.hmm`; none of them
fits a model.

- :func:`plot_state_posteriors`: γ(z_nk) over time as stacked bands, with the true states
  (if known) as a strip underneath.
- :func:`plot_posterior_sharpening`: p(z_n = k | X, θᵗ) for several iterations t, one line
  each: how EM's posteriors sharpen.
- :func:`plot_decodings`: state sequences (truth, Viterbi, posterior decoding, ...) as
  coloured strips, one row each.
- :func:`plot_count_table`: a table of counts (observed or expected) as an annotated grid.
- :func:`plot_underflow`: log10 of the naive forward probability against t, where it hits
  zero, and the scaled log-likelihood that does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from .style import HATCHES, PALETTE, component_colors

_HATCH_INK = "#1a1a1a"  # the hatch lines, dark on every colour of the palette

__all__ = [
    "plot_count_table",
    "plot_decodings",
    "plot_posterior_sharpening",
    "plot_state_posteriors",
    "plot_underflow",
]


def _state_names(names, K: int):
    if names is None:
        return [f"state {k}" for k in range(K)]
    names = list(names)
    if len(names) < K:
        raise ValueError(f"state_names must name all {K} states; found {len(names)} names")
    return names[:K]


def _check_gamma(gamma) -> np.ndarray:
    gamma = np.asarray(gamma, dtype=float)
    if gamma.ndim != 2 or gamma.shape[0] < 1 or gamma.shape[1] < 1:
        raise ValueError(f"gamma must have shape (T, K) with T, K >= 1; found shape "
                         f"{gamma.shape}")
    return gamma


def _check_states(states, name: str, K: int | None = None) -> np.ndarray:
    states = np.asarray(states)
    if states.ndim != 1 or states.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of states; found shape "
                         f"{states.shape}")
    if states.dtype.kind not in "iu" or states.min() < 0 or (K is not None and
                                                           states.max() >= K):
        raise ValueError(f"{name} must hold integer states 0..K-1; found values from "
                         f"{states.min()} to {states.max()}")
    return states


def plot_state_posteriors(ax, gamma, *, truth=None, state_names=None, colors=None,
                          title="Posterior state probabilities γ(z_nk)", xlabel="step n",
                          start=1):
    """γ(z_nk) against n as stacked bands (each column sums to 1).

    Parameters
    ----------
    ax : matplotlib Axes
    gamma : array (T, K), from ``hmm.forward_backward(obs, params).gamma``.
    truth : optional int array (T,), the true states: drawn as a strip under the bands.
    state_names : optional names of the K states (legend).
    colors : optional K colours (default: the palette).
    title, xlabel : str
    start : number of the first step (1 as in Bishop's n = 1..N).

    Returns
    -------
    list of the PolyCollections drawn (one per state).
    """
    gamma = _check_gamma(gamma)
    T, K = gamma.shape
    names = _state_names(state_names, K)
    cols = component_colors(K) if colors is None else list(colors)[:K]
    n = np.arange(start, start + T)
    lower = np.zeros(T)
    bands = []
    for k in range(K):
        upper = lower + gamma[:, k]
        bands.append(ax.fill_between(n, lower, upper, step="mid", facecolor=cols[k],
                                     alpha=0.85, lw=0, hatch=HATCHES[k % len(HATCHES)],
                                     edgecolor="white", label=f"γ: {names[k]}"))
        lower = upper
    if truth is not None:
        truth = _check_states(truth, "truth", K)
        if truth.shape[0] != T:
            raise ValueError(f"truth must have one state per step ({T}); found "
                             f"{truth.shape[0]}")
        strip = ListedColormap(cols)
        ax.imshow(truth[None, :], aspect="auto", cmap=strip, vmin=-0.5, vmax=K - 0.5,
                  extent=(start - 0.5, start + T - 0.5, -0.16, -0.04), interpolation="nearest")
        ax.text(start - 0.5, -0.1, "truth ", ha="right", va="center", fontsize=8)
    ax.set_xlim(start - 0.5, start + T - 0.5)
    ax.set_ylim(-0.2 if truth is not None else 0.0, 1.0)
    ax.set_yticks([0, 0.5, 1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("posterior probability")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    return bands


def plot_posterior_sharpening(ax, gammas: Sequence, iterations: Sequence[int], *, state=1,
                              state_name=None, observations=None,
                              title="How the posteriors sharpen over EM iterations",
                              xlabel="day n", start=1):
    """p(z_n = state | X, θᵗ) against n, one line per iteration t (darker = later).

    Parameters
    ----------
    ax : matplotlib Axes
    gammas : list of (T, K) arrays, γ at the iterates listed in ``iterations``.
    iterations : the iteration number t of each array.
    state : int, which state's posterior to draw.
    state_name : optional name of that state (y-label).
    observations : optional (T,) values drawn as grey bars on a second axis (for example
        the ice creams eaten each day).
    title, xlabel : str
    start : number of the first step.

    Returns
    -------
    list of Line2D, one per iteration.
    """
    gammas = [_check_gamma(g) for g in gammas]
    iterations = list(iterations)
    if len(gammas) != len(iterations) or not gammas:
        raise ValueError(f"gammas and iterations must have the same non-zero length; found "
                         f"{len(gammas)} and {len(iterations)}")
    T = gammas[0].shape[0]
    n = np.arange(start, start + T)
    lines = []
    if observations is not None:
        obs = np.asarray(observations, dtype=float).ravel()
        if obs.shape[0] != T:
            raise ValueError(f"observations must have one value per step ({T}); found "
                             f"{obs.shape[0]}")
        ax2 = ax.twinx()
        ax2.bar(n, obs, color="0.85", width=0.8, zorder=0)
        ax2.set_ylabel("observation")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    for i, (g, t) in enumerate(zip(gammas, iterations)):
        shade = 0.25 + 0.75 * (i / max(1, len(gammas) - 1))
        lines.append(ax.plot(n, g[:, state], marker="o", ms=3, lw=1.5, color=PALETTE[5],
                             alpha=shade, label=f"t = {t}")[0])
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(start - 0.5, start + T - 0.5)
    ax.set_xlabel(xlabel)
    name = state_name if state_name is not None else f"state {state}"
    ax.set_ylabel(f"p({name} | data, θᵗ)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small", ncol=2, framealpha=0.9)
    return lines


def plot_decodings(ax, paths: Mapping[str, np.ndarray], *, state_names=None, colors=None,
                   title="State sequences", xlabel="step n", start=1):
    """Several state sequences as coloured strips, one row each (first row on top); each
    state's stretches are hatched too (:data:`emref.viz.style.HATCHES`), so the strips read
    without colour.

    Parameters
    ----------
    ax : matplotlib Axes
    paths : mapping row label -> int array (T,) of states (all the same length), for
        example ``{"truth": z, "Viterbi": viterbi(x, p)[0], "posterior": posterior_decode(x, p)}``.
    state_names, colors : optional, per state (legend, colours).
    title, xlabel : str
    start : number of the first step.

    Returns
    -------
    the AxesImage drawn.
    """
    if not paths:
        raise ValueError("paths must hold at least one state sequence; found none")
    labels = list(paths)
    rows = [np.asarray(paths[name]) for name in labels]
    T = rows[0].shape[0]
    K = 1 + max(int(np.max(r)) for r in rows)
    rows = [_check_states(r, f"paths[{name!r}]") for r, name in zip(rows, labels)]
    for r, name in zip(rows, labels):
        if r.shape[0] != T:
            raise ValueError(f"paths[{name!r}] must have length {T} like the first path; "
                             f"found {r.shape[0]}")
    if state_names is not None:
        K = max(K, len(list(state_names)))
    names = _state_names(state_names, K)
    cols = component_colors(K) if colors is None else list(colors)[:K]
    image = ax.imshow(np.vstack(rows), aspect="auto", interpolation="nearest",
                      cmap=ListedColormap(cols), vmin=-0.5, vmax=K - 0.5,
                      extent=(start - 0.5, start + T - 0.5, len(rows) - 0.5, -0.5))
    # Each state's stretches hatched as well as coloured: the strips read without colour.
    hatches = [HATCHES[k % len(HATCHES)] for k in range(K)]
    for i, r in enumerate(rows):
        cuts = np.flatnonzero(np.diff(r)) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, T]):
            if hatches[int(r[a])]:
                ax.add_patch(Rectangle((start - 0.5 + a, i - 0.5), b - a, 1.0, fill=False,
                                       hatch=hatches[int(r[a])], edgecolor=_HATCH_INK,
                                       linewidth=0))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(handles=[Patch(facecolor=cols[k], hatch=hatches[k], edgecolor=_HATCH_INK,
                             label=names[k]) for k in range(K)],
              loc="upper right", bbox_to_anchor=(1.0, 1.28), ncol=K, fontsize="small",
              frameon=False)
    return image


def plot_count_table(ax, counts, *, row_labels, col_labels, title="Counts", fmt="{:.2f}",
                     xlabel=None, ylabel=None, color=PALETTE[0]):
    """A table of counts as a grid of cells shaded by size and annotated with the numbers.

    Parameters
    ----------
    ax : matplotlib Axes
    counts : array (R, C), observed counts (integers) or expected counts (reals).
    row_labels, col_labels : labels of the R rows and C columns.
    title : str
    fmt : format of the numbers, e.g. "{:.0f}" for whole counts.
    xlabel, ylabel : optional axis labels.
    color : the shade of the largest cell.

    Returns
    -------
    the AxesImage drawn.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D table; found shape {counts.shape}")
    R, C = counts.shape
    if len(row_labels) != R or len(col_labels) != C:
        raise ValueError(f"row_labels and col_labels must have {R} and {C} entries; found "
                         f"{len(row_labels)} and {len(col_labels)}")
    top = counts.max() if counts.size and counts.max() > 0 else 1.0
    cmap = ListedColormap(_ramp(color, 64))
    image = ax.imshow(counts / top, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for r in range(R):
        for c in range(C):
            dark = counts[r, c] / top > 0.6
            ax.text(c, r, fmt.format(counts[r, c]), ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    ax.set_xticks(range(C))
    ax.set_xticklabels(col_labels)
    ax.set_yticks(range(R))
    ax.set_yticklabels(row_labels)
    ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return image


def _ramp(color, n):
    from matplotlib.colors import to_rgb
    rgb = np.array(to_rgb(color))
    w = np.linspace(0, 1, n)[:, None]
    return (1 - w) * np.ones(3) + w * rgb


def plot_underflow(ax, log10_naive, loglik_scaled=None, *,
                   title="Naive forward probabilities underflow", xlabel="step n", start=1):
    """log10 Σ_k α(z_nk) of the unscaled recursion against n, and where it becomes 0.

    Parameters
    ----------
    ax : matplotlib Axes
    log10_naive : array (T,), log10 of the naive Σ_k α(z_nk) (-inf once it underflowed).
    loglik_scaled : optional array (T,), the exact ln p(x_1..x_n) from the scaled recursion
        (drawn converted to log10 for comparison).
    title, xlabel : str
    start : number of the first step.

    Returns
    -------
    the index n at which the naive value first became 0 (None if it never did).
    """
    v = np.asarray(log10_naive, dtype=float).ravel()
    n = np.arange(start, start + v.size)
    finite = np.isfinite(v)
    ax.plot(n[finite], v[finite], color=PALETTE[0], lw=2, label="naive α (float64)")
    if loglik_scaled is not None:
        s = np.asarray(loglik_scaled, dtype=float).ravel() / np.log(10)
        ax.plot(n, s, color=PALETTE[1], lw=1.5, ls="--", label="scaled: Σ log10 c_n")
    first_zero = None
    if not np.all(finite):
        first_zero = int(n[np.argmin(finite)])
        ax.axvline(first_zero, color=PALETTE[5], lw=1.2)
        ax.text(first_zero, 0.5 * np.nanmin(v[finite]), f"  underflow to 0\n  at n = {first_zero}",
                color=PALETTE[5], va="center", fontsize=9)
    ax.axhline(np.log10(np.finfo(float).tiny), color="0.5", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("log10 p(x_1, ..., x_n)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize="small")
    return first_zero
