"""The summary's picture: one histogram of the points per part, drawn as SVG.

The geometry (bins, bars, ticks, panel positions) is computed here as plain numbers and the
markup is the template ``templates/score_histograms.svg.j2``: no plotting library, so the
end of a parallel run neither imports nor renders one (matplotlib took about a second of the
run's last, serial, seconds), and the picture is text a screen reader can read: each panel
names its part, each bar says how many students scored what, and the page gives the same
numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TEMPLATES = Path(__file__).resolve().parent / "templates"
PANEL_W, PANEL_H = 260, 190           # one panel, in SVG user units (px)
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 30, 40  # the plotting area's margins inside a panel
BAR = "#3b5b92"                        # 7.0:1 against white
TOTAL = "#a3343a"                      # 6.5:1 against white


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    low: float
    high: float


@dataclass
class Panel:
    part: str
    top: float                   # the part's maximum points
    mean: float
    x: float                     # the panel's origin in the figure
    y: float
    color: str
    bars: list = field(default_factory=list)
    xticks: list = field(default_factory=list)   # (x, label)
    yticks: list = field(default_factory=list)   # (y, label)


def bins_for(top: float) -> np.ndarray:
    """Edges of at most 10 bins over [0, top]: one per point for small parts."""
    if top >= 1:
        return np.linspace(0, top, min(11, int(top) + 1))
    return np.linspace(0, max(top, 1e-9), 2)


def _nice_step(most: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if most / step <= 5:
            return step
    return int(np.ceil(most / 5))


def panels(columns: list, top: dict, table: dict, ncol: int = 4) -> tuple[list, int, int]:
    """(panels, width, height) of the figure: one :class:`Panel` per part of ``columns``
    (the last, ``total``, in its own colour), ``ncol`` to a row.

    Parameters
    ----------
    columns : list of str
        The parts, in notebook order, then ``"total"``.
    top : dict
        part -> its maximum points.
    table : dict
        student -> {part: points or None}.
    """
    ncol = max(1, min(ncol, len(columns)))
    nrow = -(-len(columns) // ncol)
    inner_w, inner_h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
    out = []
    for i, part in enumerate(columns):
        values = np.array([table[s].get(part) or 0 for s in table], dtype=float)
        hi = float(top.get(part, 1) or 1)
        edges = bins_for(hi)
        counts, _ = np.histogram(np.clip(values, 0, edges[-1]), bins=edges)
        most = max(int(counts.max(initial=0)), 1)
        step = _nice_step(most)
        ymax = step * -(-most // step)
        p = Panel(part=part, top=hi, mean=float(values.mean()) if values.size else 0.0,
                  x=(i % ncol) * PANEL_W, y=(i // ncol) * PANEL_H,
                  color=TOTAL if part == "total" else BAR)
        scale_x = inner_w / (edges[-1] - edges[0])
        for count, low, high in zip(counts, edges[:-1], edges[1:]):
            h = inner_h * count / ymax
            p.bars.append(Bar(x=LEFT + (low - edges[0]) * scale_x + 0.5,
                              y=TOP + inner_h - h, width=max((high - low) * scale_x - 1, 1),
                              height=h, count=int(count), low=float(low), high=float(high)))
        shown = edges if len(edges) <= 6 else edges[::2] if edges[-1] in edges[::2] \
            else np.append(edges[::2], edges[-1])
        p.xticks = [(LEFT + (e - edges[0]) * scale_x, f"{e:g}") for e in shown]
        p.yticks = [(TOP + inner_h - inner_h * v / ymax, str(v))
                    for v in range(0, ymax + 1, step)]
        out.append(p)
    return out, ncol * PANEL_W, nrow * PANEL_H


def render_svg(assignment: str, columns: list, top: dict, table: dict) -> str:
    """The figure as an SVG document (``grading_summary/<hw>.svg``, inlined in the page)."""
    from .rendering import render

    figure, width, height = panels(columns, top, table)
    return render(TEMPLATES, "score_histograms.svg.j2", assignment=assignment, panels=figure,
                  width=width, height=height, students=len(table), left=LEFT, top=TOP,
                  inner_w=PANEL_W - LEFT - RIGHT, inner_h=PANEL_H - TOP - BOTTOM)
