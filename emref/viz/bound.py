r"""The lower-bound picture of EM, and the figures that go with it.

For any distribution q over the hidden variables,

.. math::

    \log p(X \mid \theta) = \mathcal L(q, \theta) + \mathrm{KL}\big(q \,\|\, p(Z \mid X, \theta)\big),
    \qquad
    \mathcal L(q, \theta) = Q(\theta \mid \theta^t) + H(q) \text{ when } q = p(Z \mid X, \theta^t).

The E-step makes the bound touch the log-likelihood at θᵗ (same value, same slope); the
M-step moves to the bound's maximiser θᵗ⁺¹, where the log-likelihood is at least as high.
These helpers draw that, given curves the lecture computed with :mod:`emref.gmm`
(``e_step`` for the log-likelihood, ``q_function + responsibility_entropy`` for the bound).
They never compute a model themselves.

- :func:`plot_bound_step`: one EM step on a 1-D slice of θ.
- :func:`plot_bound_panels`: several consecutive steps, one panel each.
- :func:`plot_climb_path`: EM's trajectory on a log-likelihood surface over two parameters.
- :func:`plot_convergence`: distance to the optimum against iteration, several methods.
- :func:`plot_em_cycle`: the E-step / M-step cycle as a diagram.

Every helper takes the axes to draw on, titles them, uses :data:`emref.viz.style.PALETTE`,
and returns the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .style import PALETTE

__all__ = [
    "plot_bound_panels",
    "plot_bound_step",
    "plot_climb_path",
    "plot_convergence",
    "plot_em_cycle",
]

# Roles of the colours, fixed across all the lower-bound figures.
_LOGLIK_COLOR = PALETTE[0]   # blue: ln p(X | θ)
_BOUND_COLOR = PALETTE[1]    # orange: the bound built at θᵗ
_NEXT_COLOR = PALETTE[2]     # green: the bound built at θᵗ⁺¹
_POINT_COLOR = PALETTE[7]    # black: θᵗ
_GAIN_COLOR = PALETTE[5]     # dark red: θᵗ⁺¹ and the gain
# The curves differ by line style too (solid, dash-dot, dashed), not by colour alone.


def _curve(values, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array with one value per theta ({n}); "
                         f"found shape {arr.shape}")
    return arr


def _grid(thetas) -> np.ndarray:
    thetas = np.asarray(thetas, dtype=float)
    if thetas.ndim != 1 or thetas.shape[0] < 2:
        raise ValueError(f"thetas must be a 1-D grid of at least 2 values; found shape "
                         f"{thetas.shape}")
    if not np.all(np.diff(thetas) > 0):
        raise ValueError("thetas must be strictly increasing")
    if not np.all(np.isfinite(thetas)):
        raise ValueError("thetas must be finite")
    return thetas


def _inside(value, thetas: np.ndarray, name: str) -> float:
    value = float(value)
    if not thetas[0] <= value <= thetas[-1]:
        raise ValueError(f"{name} must lie on the grid [{thetas[0]:.4g}, {thetas[-1]:.4g}]; "
                         f"found {value:.4g}")
    return value


def plot_bound_step(ax, thetas, loglik, bound, theta_t, theta_next, *, next_bound=None,
                    param_name: str = r"\theta", title: str | None = None,
                    legend: bool = True, legend_loc: str = "lower left", ylim=None):
    r"""Draw one EM step on a 1-D slice of the parameters.

    Parameters
    ----------
    ax : matplotlib Axes
    thetas : array (G,), strictly increasing grid of the free parameter.
    loglik : array (G,), ln p(X | θ) on the grid.
    bound : array (G,), the lower bound L(q_t, θ) = Q(θ | θᵗ) + H(q_t) built at θᵗ.
    theta_t : float, where the bound was built (it touches ``loglik`` there).
    theta_next : float, the bound's maximiser θᵗ⁺¹ (the M-step).
    next_bound : array (G,), optional; the bound built at θᵗ⁺¹, drawn dashed.
    param_name : str, TeX name of the free parameter for the axis label (``r"\mu_1"``).
    title : str, optional; default names the step.
    legend : bool, draw a legend.
    legend_loc : matplotlib legend location (default "lower left", usually clear of the
        curves: the log-likelihood is framed from above by ``ylim``).
    ylim : (low, high), optional; default frames the log-likelihood curve (the bound falls
        far below it away from θᵗ, which would squash the picture).

    Returns
    -------
    ax
    """
    thetas = _grid(thetas)
    n = thetas.shape[0]
    loglik = _curve(loglik, "loglik", n)
    bound = _curve(bound, "bound", n)
    theta_t = _inside(theta_t, thetas, "theta_t")
    theta_next = _inside(theta_next, thetas, "theta_next")
    if np.any(bound > loglik + 1e-6 * (1.0 + np.abs(loglik))):
        raise ValueError("bound must lie below loglik everywhere (it is a lower bound); "
                         f"it exceeds it by up to {np.max(bound - loglik):.3g}")

    ax.plot(thetas, loglik, color=_LOGLIK_COLOR, lw=2.2, label=r"$\ln p(X\mid\theta)$")
    ax.plot(thetas, bound, color=_BOUND_COLOR, lw=1.8, ls="-.",
            label=r"bound at $\theta^t$: $Q(\theta\mid\theta^t)+H(q_t)$")
    if next_bound is not None:
        next_bound = _curve(next_bound, "next_bound", n)
        ax.plot(thetas, next_bound, color=_NEXT_COLOR, lw=1.5, ls="--",
                label=r"bound at $\theta^{t+1}$")

    ll_t = np.interp(theta_t, thetas, loglik)
    b_next = np.interp(theta_next, thetas, bound)
    ll_next = np.interp(theta_next, thetas, loglik)
    ax.axvline(theta_t, color=_POINT_COLOR, lw=0.8, ls=":")
    ax.axvline(theta_next, color=_GAIN_COLOR, lw=0.8, ls=":")
    ax.plot([theta_t], [ll_t], "o", color=_POINT_COLOR, ms=7, zorder=5,
            label=r"$\theta^t$ (bound touches)")
    ax.plot([theta_next], [b_next], "s", color=_BOUND_COLOR, mec=_POINT_COLOR, ms=7,
            zorder=5, label=r"$\theta^{t+1}$ = argmax of the bound")
    ax.plot([theta_next], [ll_next], "D", color=_GAIN_COLOR, ms=7, zorder=5,
            label=r"$\ln p(X\mid\theta^{t+1})$")
    if ll_next - b_next > 0:
        ax.annotate("", xy=(theta_next, ll_next), xytext=(theta_next, b_next),
                    arrowprops={"arrowstyle": "->", "color": _GAIN_COLOR, "lw": 1.5})

    if ylim is None:
        span = float(loglik.max() - loglik.min()) or 1.0
        ylim = (float(loglik.min()) - 0.25 * span, float(loglik.max()) + 0.1 * span)
    ax.set_ylim(*ylim)
    ax.set_xlim(thetas[0], thetas[-1])
    ax.set_xlabel(f"${param_name}$ (other parameters fixed)")
    ax.set_ylabel(r"$\ln p(X\mid\theta)$ and its bound")
    if title is None:
        title = (rf"EM step: ${param_name}^t$ = {theta_t:.3g} $\to$ "
                 rf"${param_name}^{{t+1}}$ = {theta_next:.3g}")
    ax.set_title(title)
    if legend:
        ax.legend(loc=legend_loc, fontsize="small", framealpha=0.9)
    return ax


def plot_bound_panels(axes, thetas, loglik, bounds: Sequence, theta_seq, *,
                      param_name: str = r"\theta", ylim=None, legend_first_only: bool = True):
    r"""Consecutive EM steps, one panel each: panel i is :func:`plot_bound_step` for step i.

    Parameters
    ----------
    axes : sequence of m Axes
    thetas, loglik : as in :func:`plot_bound_step`.
    bounds : sequence of m arrays (G,), the bound built at θ⁰, θ¹, ..., θᵐ⁻¹.
    theta_seq : sequence of m + 1 floats, θ⁰, ..., θᵐ.
        Panel i also shows, dashed, the bound of step i + 1 when there is one.
    ylim : shared y-limits (default: framed on ``loglik``).

    Returns
    -------
    axes, as a list
    """
    axes = list(np.ravel(axes))
    bounds = list(bounds)
    theta_seq = [float(t) for t in theta_seq]
    m = len(bounds)
    if len(axes) != m:
        raise ValueError(f"axes must hold one Axes per bound ({m}); found {len(axes)}")
    if len(theta_seq) != m + 1:
        raise ValueError(f"theta_seq must hold one more value than bounds ({m + 1}); "
                         f"found {len(theta_seq)}")
    for i, ax in enumerate(axes):
        plot_bound_step(ax, thetas, loglik, bounds[i], theta_seq[i], theta_seq[i + 1],
                        next_bound=bounds[i + 1] if i + 1 < m else None,
                        param_name=param_name, ylim=ylim,
                        title=rf"step {i + 1}: ${param_name}^{{{i}}}$ = {theta_seq[i]:.3g}"
                              rf" $\to$ ${param_name}^{{{i + 1}}}$ = {theta_seq[i + 1]:.3g}",
                        legend=(i == 0) or not legend_first_only)
    return axes


def plot_climb_path(ax, a_grid, b_grid, surface, path, *, labels=(r"\mu_1", r"\mu_2"),
                    title: str = r"EM climbing the surface $\ln p(X\mid\theta)$", levels: int = 25,
                    colorbar: bool = True, cmap: str = "cividis"):
    """EM's trajectory drawn on filled contours of a log-likelihood over two parameters.

    Parameters
    ----------
    ax : matplotlib Axes
    a_grid : array (A,), values of the first parameter (x axis).
    b_grid : array (B,), values of the second parameter (y axis).
    surface : array (B, A), ``surface[j, i]`` = log-likelihood at (a_grid[i], b_grid[j]).
    path : array (n, 2), the iterates θ⁰, θ¹, ... projected on the two parameters.
    labels : TeX names of the two parameters.
    levels : number of contour levels.
    colorbar : add a colour bar labelled "ln p(X | θ)".
    cmap : colour map (cividis is readable under colour blindness and in grey).

    Returns
    -------
    ax
    """
    a_grid = _grid(a_grid)
    b_grid = _grid(b_grid)
    surface = np.asarray(surface, dtype=float)
    if surface.shape != (b_grid.shape[0], a_grid.shape[0]):
        raise ValueError(f"surface must have shape (len(b_grid), len(a_grid)) = "
                         f"({b_grid.shape[0]}, {a_grid.shape[0]}); found {surface.shape}")
    path = np.asarray(path, dtype=float)
    if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] < 1:
        raise ValueError(f"path must have shape (n, 2) with n >= 1; found {path.shape}")
    cs = ax.contourf(a_grid, b_grid, surface, levels=levels, cmap=cmap)
    ax.contour(a_grid, b_grid, surface, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label=r"$\ln p(X\mid\theta)$")
    ax.plot(path[:, 0], path[:, 1], "-", color=PALETTE[5], lw=1.8, zorder=3)
    ax.plot(path[:, 0], path[:, 1], "o", color=PALETTE[5], mec="white", ms=5, zorder=4,
            label="EM iterates")
    ax.plot(path[0, 0], path[0, 1], "s", color=PALETTE[6], mec="k", ms=9, zorder=5,
            label=r"start $\theta^0$")
    ax.plot(path[-1, 0], path[-1, 1], "*", color="white", mec="k", ms=15, zorder=5,
            label="last iterate")
    ax.set_xlabel(f"${labels[0]}$")
    ax.set_ylabel(f"${labels[1]}$")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    return ax


def plot_convergence(ax, curves: Mapping[str, Sequence[float]], *,
                     ylabel: str = r"$\ln p(X\mid\hat\theta) - \ln p(X\mid\theta^t)$",
                     title: str = "Distance to the optimum", logy: bool = True,
                     floor: float = 1e-12):
    """Several methods' distance to the optimum against the iteration number.

    Parameters
    ----------
    ax : matplotlib Axes
    curves : mapping label -> 1-D sequence, the gap at iterations 0, 1, 2, ...
        (for instance the best log-likelihood minus each iterate's).
    logy : log scale on y (linear convergence then shows as a straight line).
    floor : values below it are drawn at it, so that a gap of exactly 0 stays on a log axis.

    Returns
    -------
    ax
    """
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("curves must be a non-empty mapping label -> sequence of gaps")
    markers = "osD^v<>p"
    for i, (label, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"curve {label!r} must be 1-D; found shape {values.shape}")
        y = np.maximum(values, floor) if logy else values
        ax.plot(np.arange(values.shape[0]), y, marker=markers[i % len(markers)], ms=3,
                color=PALETTE[i % len(PALETTE)], label=str(label))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


_CYCLE_LABELS = (
    "Pretend θᵗ is right",
    "E-step: fill in Z\nγ(z_nk) = p(z_n = k | x_n, θᵗ)",
    "M-step: re-estimate\nθᵗ⁺¹ = argmax Q(θ | θᵗ)",
    "Admit the cheat:\nθ moved, so γ is stale",
)


def plot_em_cycle(ax, labels: Sequence[str] = _CYCLE_LABELS, *,
                  title: str = "EM as a cycle of pretending and correcting"):
    """The EM loop as boxes on a circle joined by arrows (clockwise, starting at the top).

    Parameters
    ----------
    ax : matplotlib Axes
    labels : the text of each stage (at least 2), in order.

    Returns
    -------
    ax
    """
    labels = list(labels)
    if len(labels) < 2:
        raise ValueError(f"labels must name at least 2 stages; found {len(labels)}")
    n = len(labels)
    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    # An ellipse wider than tall, so that boxes on the sides clear the centre text.
    xy = np.column_stack([1.45 * np.cos(angles), np.sin(angles)])
    for i, (x, y) in enumerate(xy):
        ax.text(x, y, labels[i], ha="center", va="center", fontsize=10, zorder=3,
                bbox={"boxstyle": "round,pad=0.5", "fc": "white", "ec": PALETTE[i % len(PALETTE)],
                          "lw": 2})
    for i in range(n):
        start, end = xy[i], xy[(i + 1) % n]
        # Shrink the arrow towards the midpoint so it runs between the boxes.
        s = start + 0.3 * (end - start)
        e = start + 0.7 * (end - start)
        ax.annotate("", xy=e, xytext=s,
                    arrowprops={"arrowstyle": "-|>", "color": PALETTE[7], "lw": 1.5,
                                    "connectionstyle": "arc3,rad=-0.25"})
    ax.text(0, 0, "repeat until\nnothing changes", ha="center", va="center",
            fontsize=9, style="italic")
    ax.set_xlim(-2.4, 2.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title)
    return ax
