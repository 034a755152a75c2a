"""Accessibility of what the course draws, without a browser (docs/teaching.md, "Accessibility").

- Every figure stored in a lecture of course.toml has alt text that says what it shows
  (``emref.viz.show`` writes it into the output's metadata, where MyST-NB finds it): not
  missing, not a file name, not two words. A lecture whose figures are not yet shown through
  ``emref.viz.show`` fails ``test_every_lecture_figure_has_alt_text``, naming it.
- ``emref.viz.show`` itself, in a real kernel (nbclient): the PNG, its alt text in the
  metadata, the description in a ``<details>`` element; and its errors.
- The palette (``emref.viz.style``): every colour at least 3:1 against white (WCAG 2.1
  SC 1.4.11) and every pair apart under simulated deuteranopia; the helpers give each series
  a marker or line style of its own as well.

The browser side (axe-core on the site and the feedback pages) is
tests/test_accessibility_browser.py.
"""

from __future__ import annotations

import base64
import itertools
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")

from emcourse_grader import course as manifest
from emref import viz
from emref.viz import mixtures, style

ROOT = Path(__file__).resolve().parent.parent
LECTURES = manifest.load(ROOT).lectures

# An alt text that is a file's name or path (what Sphinx writes when there is none).
PATH_LIKE = re.compile(r"(^|[/\\])[\w.-]+\.(png|jpe?g|svg|gif|webp)\b|_images/|^\.\.?/",
                       re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Every lecture figure is described
# --------------------------------------------------------------------------------------------

def _figures(path: Path):
    """(cell number, output's metadata) of every image output stored in a notebook."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mime in out.get("data", {}):
                if mime.startswith("image/"):
                    yield i, mime, out.get("metadata", {}).get(mime, {})


def _alt_problem(alt) -> str | None:
    if not isinstance(alt, str) or not alt.strip():
        return "no alt text"
    if PATH_LIKE.search(alt):
        return f"alt text is a path: {alt!r}"
    if len(alt.split()) < viz.MIN_ALT_WORDS:
        return f"alt text too short to say what the figure shows: {alt!r}"
    return None


@pytest.mark.parametrize("lecture", [lec.id for lec in LECTURES])
def test_every_lecture_figure_has_alt_text(lecture):
    path = ROOT / next(lec.path for lec in LECTURES if lec.id == lecture)
    figures = list(_figures(path))
    assert figures, f"{path.name}: no stored figure (was it committed executed?)"
    bad = [f"cell {i} ({mime}): {problem}" for i, mime, meta in figures
           if (problem := _alt_problem(meta.get("alt")))]
    assert not bad, (f"{path.name}: {len(bad)} of {len(figures)} figures are not described "
                     f"(show them with emref.viz.show(fig, alt=...)):\n  " + "\n  ".join(bad[:8]))


def test_the_alt_text_check_tells_a_description_from_a_path():
    assert _alt_problem("Old Faithful's eruptions in two clusters, the k-means centres marked")\
        is None
    for alt in (None, "", "../_images/3f2a9c0d1e.png", "figure_1.png", "a scatter plot"):
        assert _alt_problem(alt) is not None, alt


# --------------------------------------------------------------------------------------------
# emref.viz.show, in a real kernel
# --------------------------------------------------------------------------------------------

ALT = "Two clusters of points, each with its centre marked by a large cross"
DESCRIPTION = "The left cluster is wider than the right one; the centres sit at their means."


@pytest.fixture(scope="module")
def shown():
    """The outputs of two figures shown with emref.viz.show in a fresh kernel."""
    from nbclient import NotebookClient

    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from emref import viz\n"
        "fig, ax = plt.subplots(); ax.plot([0, 1], [1, 0])\n"
        f"viz.show(fig, alt={ALT!r})\n"
        "fig, ax = plt.subplots(); ax.plot([0, 1], [0, 1])\n"
        f"viz.show(fig, alt={ALT!r}, description={DESCRIPTION!r})\n"
        "print(len(plt.get_fignums()))\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb.cells[0].outputs


def test_show_puts_the_alt_text_in_the_png_outputs_metadata(shown):
    images = [o for o in shown if "image/png" in o.get("data", {})]
    assert len(images) == 2
    for out in images:
        assert out["metadata"]["image/png"]["alt"] == ALT
        png = base64.b64decode(out["data"]["image/png"])
        assert png.startswith(b"\x89PNG"), "not a PNG"
        assert ALT in out["data"]["text/plain"]


def test_show_adds_the_description_in_a_details_element_and_closes_the_figure(shown):
    details = [o["data"]["text/html"] for o in shown if "text/html" in o.get("data", {})]
    assert len(details) == 1, "one description, for the second figure only"
    assert details[0].startswith("<details><summary>Figure description</summary>")
    assert DESCRIPTION in details[0]
    streams = "".join(o.get("text", "") for o in shown if o["output_type"] == "stream")
    assert streams.strip() == "0", "show must close the figures it displayed"


def test_show_refuses_a_missing_or_short_alt_and_a_non_figure():
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        with pytest.raises(TypeError, match="alt must be a str, found NoneType"):
            viz.show(fig, alt=None)
        with pytest.raises(ValueError, match="alt must say what the figure shows"):
            viz.show(fig, alt="a plot")
        with pytest.raises(ValueError, match="description must say"):
            viz.show(fig, alt=ALT, description="see above")
        with pytest.raises(TypeError, match="fig must be a matplotlib Figure, found Axes"):
            viz.show(fig.add_subplot(), alt=ALT)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# Figures readable without colour
# --------------------------------------------------------------------------------------------

# Machado, Oliveira and Fernandes (2009), deuteranopia at severity 1.0, on linear RGB.
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968],
                         [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
# Two colours a reader must tell apart at a glance on thin lines and small markers: a
# CIEDE2000 difference of 12 (about 2.3 "just noticeable differences" is ΔE00 ~ 2.3; 10 is
# where adjacent patches read as different colours; thin lines need more). Okabe and Ito's
# set has 11.6 for its closest pair under deuteranopia (orange and yellow).
MIN_DELTA_E = 12.0
MIN_CONTRAST = 3.0  # WCAG 2.1 SC 1.4.11, graphical objects, against the white background


def _linear(hex_colour: str) -> np.ndarray:
    srgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def contrast_with_white(hex_colour: str) -> float:
    """WCAG 2.1's contrast ratio (L1 + 0.05) / (L2 + 0.05) of a colour against white."""
    luminance = float(np.dot([0.2126, 0.7152, 0.0722], _linear(hex_colour)))
    return 1.05 / (luminance + 0.05)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear sRGB colour."""
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375],
                    [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ np.clip(linear_rgb, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e_2000(lab1, lab2) -> float:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005)."""
    (L1, a1, b1), (L2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    d_L, d_C = L2 - L1, c2p - c1p
    d_H = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_mean, cp_mean = (L1 + L2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_mean = (h1p + h2p) / 2
    else:
        h_mean = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    T = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (L_mean - 50) ** 2 / np.sqrt(20 + (L_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_mean, 1 + 0.015 * cp_mean * T
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(np.sqrt((d_L / s_l) ** 2 + (d_C / s_c) ** 2 + (d_H / s_h) ** 2
                         + r_t * (d_C / s_c) * (d_H / s_h)))


def test_the_colour_science_matches_published_values():
    # WCAG: black on white is 21:1, #767676 the lightest grey with 4.5:1.
    assert contrast_with_white("#000000") == pytest.approx(21.0)
    assert contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)
    # Sharma, Wu and Dalal (2005), table 1, pairs 1 and 17.
    assert delta_e_2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425,
                                                                                    abs=1e-4)
    assert delta_e_2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)
    # Okabe and Ito's orange, sky blue and yellow are what the palette had to replace.
    assert all(contrast_with_white(c) < MIN_CONTRAST for c in ("#E69F00", "#56B4E9", "#F0E442"))


@pytest.mark.parametrize("colour", style.PALETTE)
def test_every_palette_colour_has_3_to_1_against_white(colour):
    assert contrast_with_white(colour) >= MIN_CONTRAST, (
        f"{colour}: {contrast_with_white(colour):.2f}:1 against white")


@pytest.mark.parametrize("vision", ["normal", "deuteranopia"])
def test_every_pair_of_palette_colours_stays_apart(vision):
    simulate = (lambda rgb: rgb) if vision == "normal" else (lambda rgb: DEUTERANOPIA @ rgb)
    lab = {c: _lab(simulate(_linear(c))) for c in style.PALETTE}
    close = [(round(delta_e_2000(lab[a], lab[b]), 1), a, b)
             for a, b in itertools.combinations(style.PALETTE, 2)
             if delta_e_2000(lab[a], lab[b]) < MIN_DELTA_E]
    assert not close, f"{vision}: pairs closer than ΔE00 {MIN_DELTA_E}: {close}"


def _paths(collection) -> list:
    return [tuple(map(tuple, np.round(p.vertices, 6))) for p in collection.get_paths()]


def test_clusters_and_components_differ_by_marker_and_line_style_too():
    import matplotlib.pyplot as plt

    from emref import gmm

    X = np.random.default_rng(0).normal(size=(60, 2)) + np.repeat([[0, 0], [5, 0], [0, 5]], 20,
                                                                  axis=0)
    centers = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    labels = np.repeat([0, 1, 2], 20)
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    try:
        out = mixtures.plot_kmeans_state(a1, X, centers, labels)
        shapes = _paths(out["points"])
        assert len(shapes) == 60 and len({shapes[i] for i in (0, 20, 40)}) == 3
        assert all(shapes[i] == shapes[0] for i in range(20)), "one marker per cluster"
        assert len(set(_paths(out["centers"]))) == 3, "each centre its own marker"

        params = gmm.GMMParams(np.full(3, 1 / 3), centers, np.stack([np.eye(2)] * 3))
        out = mixtures.plot_mixture(a2, X, params)
        assert len({str(e.get_linestyle()) for e in out["ellipses"]}) == 3
        assert len(set(_paths(out["points"]))) == 3

        for _ in range(3):
            mixtures.plot_loglik_trace(a3, [1.0, 2.0, 2.5])
        assert len({line.get_marker() for line in a3.get_lines()}) == 3
    finally:
        plt.close(fig)


def test_style_cycles_and_checks_its_argument():
    assert style.component_markers(10)[8] == style.MARKERS[0]
    assert len(style.component_linestyles(3)) == 3
    with pytest.raises(TypeError, match="k must be an int, found float"):
        style.component_colors(2.0)
    with pytest.raises(ValueError, match="must be >= 0, found -1"):
        style.component_markers(-1)
