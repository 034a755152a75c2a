"""Figures that say what they show: every lecture figure is displayed through :func:`show`.

A screen reader reads a figure's ``alt`` text; the lecture site (MyST-NB) takes it from the
output's metadata (``{"image/png": {"alt": ...}}``), so the description is written in the cell
that draws the figure and survives every re-execution. Where a figure carries the argument,
``description`` adds a longer text under it, in a ``<details>`` element a reader can open.
"""

from __future__ import annotations

import html
import io

__all__ = ["MIN_ALT_WORDS", "show"]

#: An alt text shorter than this says too little ("figure", "plot of data").
MIN_ALT_WORDS = 5


def _check_text(value, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, found {type(value).__name__}")
    text = " ".join(value.split())
    if len(text.split()) < MIN_ALT_WORDS:
        raise ValueError(f"{name} must say what the figure shows in at least {MIN_ALT_WORDS} "
                         f"words, found {text!r}")
    return text


def show(fig, alt: str, *, description: str | None = None, dpi: int = 100):
    """Display a matplotlib figure as a PNG with alt text, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed afterwards, so ``%matplotlib inline`` does not show it twice.
    alt : str
        What the figure shows, in a sentence or two (at least :data:`MIN_ALT_WORDS` words):
        what is plotted and what the reader should see in it.
    description : str, optional
        A longer description (Markdown-free plain text) for a figure that carries the
        argument; shown under the figure in a collapsed "Figure description" element.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    None
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, found {type(fig).__name__}")
    alt = _check_text(alt, "alt", required=True)
    description = _check_text(description, "description", required=False)

    import matplotlib.pyplot as plt
    from IPython.display import display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    png = buffer.getvalue()
    display({"image/png": png, "text/plain": f"<figure: {alt}>"}, raw=True,
            metadata={"image/png": {"alt": alt}})
    if description:
        body = html.escape(description)
        display({"text/html": f"<details><summary>Figure description</summary><p>{body}</p>"
                              f"</details>",
                 "text/plain": f"Figure description: {description}"}, raw=True)
