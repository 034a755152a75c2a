"""Plots of clusterings and mixtures: the figures lectures 1-5 share.

Every helper draws on an ``Axes`` it is given (or, for the multi-panel ones, makes its own
figure), titles and labels the axes, takes its colours from :data:`emref.viz.style.PALETTE`,
and returns what it drew so that tests and notebooks can inspect it. None of them calls
``plt.show()``.

- :func:`plot_covariance_ellipse`: the ellipse {x : (x-μ)ᵀ Σ⁻¹ (x-μ) = n_std²}.
- :func:`responsibility_colors`: one colour per point, the components' colours mixed by
  the responsibilities γ(z_nk) (Bishop's figure 9.5 (c), with colour-blind-safe colours).
- :func:`plot_kmeans_state`: points by hard label, centres, optional moves and regions.
- :func:`plot_mixture`: points coloured by responsibility, with a mixture's ellipses.
- :func:`plot_loglik_trace`: a log-likelihood (or inertia) history against the iteration.
- :func:`plot_em_iterations`: a row of :func:`plot_mixture` panels, one per iterate.

Colour is never the only cue (docs/teaching.md, "Accessibility"): each component also has
its own marker (:data:`emref.viz.style.MARKERS`: the points it owns, its centre) and line
style (its ellipse).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Ellipse
from matplotlib.ticker import MaxNLocator

from .. import gmm, kmeans
from .style import MARKERS, PALETTE, component_colors, component_linestyles, component_markers

__all__ = [
    "FAITHFUL_AXIS_LABELS",
    "plot_covariance_ellipse",
    "plot_em_iterations",
    "plot_kmeans_state",
    "plot_loglik_trace",
    "plot_mixture",
    "responsibility_colors",
]

#: Axis labels for standardised Old Faithful, ``emref.datasets.old_faithful(standardized=True)``.
FAITHFUL_AXIS_LABELS = ("eruption duration (standardised)", "waiting time (standardised)")

_DEFAULT_AXIS_LABELS = ("$x_1$", "$x_2$")
_DATA_COLOR = "0.55"  # points before any assignment: neutral grey


def _label(ax, title, axis_labels):
    if title is not None:
        ax.set_title(title)
    xlabel, ylabel = axis_labels if axis_labels is not None else _DEFAULT_AXIS_LABELS
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _check_points(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2) to be drawn in the plane; found shape "
                         f"{X.shape}")
    return X


def _colors(colors, k):
    if colors is None:
        return component_colors(k)
    colors = list(colors)
    if len(colors) < k:
        raise ValueError(f"colors must give at least one colour per component ({k}); found "
                         f"{len(colors)}")
    return colors[:k]


def plot_covariance_ellipse(ax, mean, cov, color=PALETTE[0], n_std=2.0, *, fill=False,
                            alpha=None, label=None, **kwargs):
    r"""Draw the ellipse of points at Mahalanobis distance ``n_std`` from ``mean``.

    The ellipse is :math:`\{x : (x-\mu)^\top \Sigma^{-1} (x-\mu) = n_\mathrm{std}^2\}`.
    With eigenvalues :math:`\lambda_1 \ge \lambda_2` of Σ, its semi-axes have lengths
    :math:`n_\mathrm{std}\sqrt{\lambda_i}` along the matching eigenvectors (Bishop, PRML
    figure 2.7), so ``n_std=1`` is the one-standard-deviation contour of the Gaussian.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    mean : array_like of shape (2,)
        Centre μ of the ellipse.
    cov : array_like of shape (2, 2)
        Symmetric positive semi-definite covariance Σ.
    color : colour, default ``PALETTE[0]``
    n_std : float > 0, default 2.0
        How many standard deviations the ellipse lies from the centre.
    fill : bool, default False
        Fill the ellipse (with ``alpha``, default 0.15) instead of drawing its outline only.
    alpha : float, optional
    label : str, optional
        Legend label.
    **kwargs
        Passed to :class:`matplotlib.patches.Ellipse` (for example ``linestyle``, ``lw``).

    Returns
    -------
    matplotlib.patches.Ellipse
        The patch added to ``ax``; ``width`` and ``height`` are the full axis lengths
        2 n_std √λ₁ and 2 n_std √λ₂, ``angle`` the direction of the first in degrees.
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(f"mean must have shape (2,) and cov shape (2, 2); found "
                         f"{mean.shape} and {cov.shape}")
    if not n_std > 0:
        raise ValueError(f"n_std must be positive; found {n_std}")
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))  # ascending eigenvalues
    vals = np.clip(vals, 0.0, None)
    major = vecs[:, 1]
    angle = np.degrees(np.arctan2(major[1], major[0]))
    kwargs.setdefault("lw", 2.0)
    if fill and alpha is None:
        alpha = 0.15
    patch = Ellipse(mean, 2 * n_std * np.sqrt(vals[1]), 2 * n_std * np.sqrt(vals[0]),
                    angle=angle, facecolor=color if fill else "none", edgecolor=color,
                    alpha=alpha, label=label, **kwargs)
    ax.add_patch(patch)
    return patch


def responsibility_colors(resp, colors=None) -> np.ndarray:
    """One RGB colour per point: the component colours mixed in proportion to γ(z_nk).

    A point a component owns outright gets that component's colour; a point shared half and
    half gets the average of the two colours.

    Parameters
    ----------
    resp : array_like of shape (N, K)
        Responsibilities, rows summing to 1 (one-hot rows for hard labels).
    colors : sequence of K colours, optional
        Default: the first K colours of ``PALETTE``.

    Returns
    -------
    ndarray of shape (N, 3)
        RGB values in [0, 1].
    """
    resp = np.asarray(resp, dtype=float)
    if resp.ndim != 2:
        raise ValueError(f"resp must have shape (N, K); found shape {resp.shape}")
    rgb = np.array([to_rgb(c) for c in _colors(colors, resp.shape[1])])
    return np.clip(resp @ rgb, 0.0, 1.0)


def _set_markers(collection, markers):
    """Give each point of a scatter's PathCollection its own marker (matplotlib's scatter
    takes one marker for all; its collection takes one path per point)."""
    from matplotlib.markers import MarkerStyle

    shapes = {m: MarkerStyle(m) for m in set(markers)}
    collection.set_paths([shapes[m].get_path().transformed(shapes[m].get_transform())
                          for m in markers])
    return collection


def _mark_centers(ax, centers, colors, size=180):
    """Each centre in its component's colour and marker, outlined in black."""
    out = ax.scatter(centers[:, 0], centers[:, 1], s=size, c=colors, edgecolors="black",
                     linewidths=1.5, zorder=5)
    return _set_markers(out, component_markers(centers.shape[0]))


def plot_kmeans_state(ax, X, centers, labels=None, *, previous_centers=None, regions=False,
                      title=None, axis_labels=None, colors=None, s=14):
    """One state of k-means: points coloured and shaped by cluster, centres as large markers.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    X : array_like of shape (N, 2)
    centers : array_like of shape (k, 2)
        The centres μ_k to mark.
    labels : array_like of int, shape (N,), optional
        Cluster of each point (from ``emref.kmeans.assign``); None draws the points in grey,
        the state before the first assignment step.
    previous_centers : array_like of shape (k, 2), optional
        Draw an arrow from each previous centre to its new place (the update step).
    regions : bool, default False
        Shade the plane by nearest centre (the Voronoi cells the assignment step uses).
    title : str, optional
    axis_labels : (str, str), optional
        Default ``("$x_1$", "$x_2$")``; use :data:`FAITHFUL_AXIS_LABELS` for Old Faithful.
    colors : sequence of colours, optional
    s : float
        Marker size of the points.

    Returns
    -------
    dict
        ``"points"`` and ``"centers"`` (PathCollections), ``"arrows"`` (list of
        FancyArrow patches, empty without ``previous_centers``), ``"regions"`` (the
        contour set or None).
    """
    X = _check_points(X)
    centers = np.asarray(centers, dtype=float)
    k = centers.shape[0]
    cols = _colors(colors, k)
    out = {"regions": None, "arrows": []}
    if regions:
        pad = 0.5
        both = np.vstack([X, centers])
        (x0, y0), (x1, y1) = both.min(axis=0) - pad, both.max(axis=0) + pad
        gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        near = kmeans.assign(np.column_stack([gx.ravel(), gy.ravel()]), centers)
        out["regions"] = ax.contourf(gx, gy, near.reshape(gx.shape),
                                     levels=np.arange(k + 1) - 0.5, colors=cols, alpha=0.12,
                                     zorder=0)
    if labels is None:
        point_colors = _DATA_COLOR
    else:
        labels = np.asarray(labels)
        point_colors = [cols[j] for j in labels]
    out["points"] = ax.scatter(X[:, 0], X[:, 1], s=s, c=point_colors, edgecolors="none",
                               zorder=2)
    if labels is not None:  # each cluster its marker too, not only its colour
        _set_markers(out["points"], [MARKERS[j % len(MARKERS)] for j in labels])
    if previous_centers is not None:
        previous_centers = np.asarray(previous_centers, dtype=float)
        for j in range(k):
            d = centers[j] - previous_centers[j]
            if np.hypot(*d) > 1e-12:
                out["arrows"].append(ax.arrow(*previous_centers[j], *d, color="black",
                                              width=0.012, length_includes_head=True,
                                              head_width=0.09, zorder=4))
        _set_markers(ax.scatter(previous_centers[:, 0], previous_centers[:, 1], s=90,
                                facecolors="none", edgecolors=cols, linewidths=1.2, zorder=4),
                     component_markers(k))
    out["centers"] = _mark_centers(ax, centers, cols)
    _label(ax, title, axis_labels)
    ax.set_aspect("equal", adjustable="box")
    return out


def plot_mixture(ax, X, params_or_resp=None, *, centers=None, n_std=2.0, ellipses=True,
                 color_points=True, title=None, axis_labels=None, colors=None, s=14):
    """Points coloured by responsibility and, for a Gaussian mixture, its components.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    X : array_like of shape (N, 2)
    params_or_resp : GMMParams, array of shape (N, K), or None
        - GMMParams: responsibilities γ(z_nk) are computed from it
          (``emref.gmm.predict_proba``), and each component gets its mean and its
          ``n_std`` covariance ellipse, the outline's width growing with π_k.
        - array: responsibilities (for instance from ``emref.kmeans.soft_assign``); points
          only, plus ``centers`` if given.
        - None: the raw data, in grey.
    centers : array_like of shape (K, 2), optional
        Centres to mark (used with responsibilities; a GMM's means are marked anyway).
    n_std : float, default 2.0
        Size of the ellipses, in standard deviations (see :func:`plot_covariance_ellipse`).
    ellipses : bool, default True
        Draw the ellipses of a GMMParams.
    color_points : bool, default True
        Colour the points by responsibility; False draws them grey (the components alone).
    title : str, optional
    axis_labels : (str, str), optional
        Default ``("$x_1$", "$x_2$")``; use :data:`FAITHFUL_AXIS_LABELS` for Old Faithful.
    colors : sequence of colours, optional
        One per component; default the first K colours of ``PALETTE``.
    s : float
        Marker size of the points.

    Returns
    -------
    dict
        ``"points"`` (PathCollection), ``"resp"`` (the (N, K) responsibilities used, or
        None), ``"ellipses"`` (list of Ellipse patches), ``"centers"`` (PathCollection or
        None).
    """
    X = _check_points(X)
    out = {"resp": None, "ellipses": [], "centers": None}
    params = None
    if isinstance(params_or_resp, (np.ndarray, list, tuple)):
        resp = np.asarray(params_or_resp, dtype=float)
        if resp.shape[0] != X.shape[0]:
            raise ValueError(f"responsibilities must have one row per point, shape "
                             f"({X.shape[0]}, K); found shape {resp.shape}")
        out["resp"] = resp
    elif params_or_resp is not None:
        params = params_or_resp
        out["resp"] = gmm.predict_proba(X, params)  # checks that params is a GMMParams
        centers = params.means if centers is None else centers
    if out["resp"] is not None and color_points:
        point_colors = responsibility_colors(out["resp"], colors)
    else:
        point_colors = _DATA_COLOR
    out["points"] = ax.scatter(X[:, 0], X[:, 1], s=s, c=point_colors, edgecolors="none",
                               zorder=2)
    if out["resp"] is not None and color_points:  # the marker of the most responsible one
        owner = np.argmax(out["resp"], axis=1)
        _set_markers(out["points"], [MARKERS[j % len(MARKERS)] for j in owner])
    k = out["resp"].shape[1] if out["resp"] is not None else (
        0 if centers is None else np.shape(centers)[0])
    cols = _colors(colors, k)
    if params is not None and ellipses:
        styles = component_linestyles(k)
        for j in range(k):
            out["ellipses"].append(plot_covariance_ellipse(
                ax, params.means[j], params.covariances[j], color=cols[j], n_std=n_std,
                lw=1.0 + 3.0 * float(params.weights[j]), linestyle=styles[j], zorder=3))
    if centers is not None:
        out["centers"] = _mark_centers(ax, np.asarray(centers, dtype=float), cols)
    _label(ax, title, axis_labels)
    ax.set_aspect("equal", adjustable="box")
    return out


def plot_loglik_trace(ax, history, *, label=None, color=None, per_point=None, start=0,
                      title=r"$\ln p(X\mid\theta^t)$ over EM iterations", ylabel=r"$\ln p(X\mid\theta^t)$",
                      xlabel="iteration", marker=None):
    """A history (log-likelihood, or k-means inertia) against the iteration number.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    history : array_like of shape (T,)
        For EM, ``loglik_history``: ``history[i]`` belongs to θⁱ, θ⁰ first.
    label : str, optional
        Legend label (a legend is drawn when given).
    color : colour, optional
        Default: the next colour of ``PALETTE`` after the lines already on ``ax``.
    per_point : int, optional
        Divide by this number of data points (the y-label says so).
    start : int, default 0
        Iteration number of ``history[0]`` (0 for ``loglik_history``; 1 for k-means
        ``history``, which starts after the first iteration).
    title, ylabel, xlabel : str
    marker : str, optional
        Default: the marker of :data:`~emref.viz.style.MARKERS` that goes with the default
        colour (the next after the lines already on ``ax``), so traces differ by shape too.

    Returns
    -------
    matplotlib.lines.Line2D
    """
    history = np.asarray(history, dtype=float).ravel()
    if per_point is not None:
        history = history / per_point
        ylabel = f"{ylabel} per point"
    n_lines = len(ax.get_lines())
    if color is None:
        color = PALETTE[n_lines % len(PALETTE)]
    if marker is None:
        marker = MARKERS[n_lines % len(MARKERS)]
    (line,) = ax.plot(np.arange(start, start + history.size), history, marker=marker,
                      ms=4, color=color, label=label)
    if label is not None:
        ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return line


def plot_em_iterations(X, params_list, *, iterations=None, color_points=True, n_std=2.0,
                       axes=None, ncols=None, panel_size=3.2, axis_labels=None, colors=None,
                       title_prefix="EM, iteration", suptitle=None):
    """A row (or grid) of :func:`plot_mixture` panels, one per EM iterate θⁱ.

    Parameters
    ----------
    X : array_like of shape (N, 2)
    params_list : sequence of GMMParams
        The iterates to draw, in order.
    iterations : sequence of int, optional
        The iteration number of each entry, for the panel titles; default 0, 1, 2, ...
    color_points : bool, default True
        Colour the points by their responsibilities under each θⁱ; False draws them grey.
    n_std : float, default 2.0
    axes : array of Axes, optional
        Draw into these (at least ``len(params_list)``), for instance one row of a larger
        figure; otherwise a new figure is made.
    ncols : int, optional
        Panels per row of a new figure; default all in one row.
    panel_size : float
        Width and height of each panel of a new figure, in inches.
    axis_labels : (str, str), optional
    colors : sequence of colours, optional
    title_prefix : str
        Each panel is titled ``f"{title_prefix} {i}"``.
    suptitle : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of Axes, flat, one per panel
    """
    import matplotlib.pyplot as plt

    X = _check_points(X)
    params_list = list(params_list)
    n = len(params_list)
    if n == 0:
        raise ValueError("params_list must hold at least one set of parameters")
    iterations = list(range(n)) if iterations is None else list(iterations)
    if len(iterations) != n:
        raise ValueError(f"iterations must give one number per entry of params_list ({n}); "
                         f"found {len(iterations)}")
    made_figure = axes is None
    if made_figure:
        ncols = n if ncols is None else ncols
        nrows = -(-n // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows),
                                 sharex=True, sharey=True, squeeze=False)
        axes = axes.ravel()
        for ax in axes[n:]:
            ax.set_visible(False)
    else:
        axes = np.asarray(axes).ravel()
        fig = axes[0].figure
    for ax, params, it in zip(axes, params_list, iterations):
        plot_mixture(ax, X, params, n_std=n_std, color_points=color_points,
                     title=f"{title_prefix} {it}", axis_labels=axis_labels, colors=colors)
    if made_figure:
        for ax in axes[:n]:
            ax.label_outer()  # shared axes: labels on the outer panels only
    if suptitle is not None:
        fig.suptitle(suptitle)
    return fig, axes[:n]
