"""Tests of emref.viz.hmm: the helpers draw what they are given, titled, and reject bad input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from emref.viz.hmm import (
    plot_count_table,
    plot_decodings,
    plot_posterior_sharpening,
    plot_state_posteriors,
    plot_underflow,
)
from emref.viz.style import PALETTE


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_state_posteriors_bands_stack_to_one(ax):
    gamma = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    bands = plot_state_posteriors(ax, gamma, truth=[1, 0, 0], state_names=["Fair", "Loaded"])
    assert len(bands) == 2
    top = bands[1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(1.0)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["γ: Fair", "γ: Loaded"]


def test_posterior_sharpening_one_line_per_iteration(ax):
    gammas = [np.full((5, 2), 0.5), np.tile([0.1, 0.9], (5, 1))]
    lines = plot_posterior_sharpening(ax, gammas, [0, 3], state=1, state_name="Hot",
                                      observations=[1, 2, 3, 2, 1])
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), 0.9)
    assert "Hot" in ax.get_ylabel()
    with pytest.raises(ValueError, match="same non-zero length"):
        plot_posterior_sharpening(ax, gammas, [0])


def test_decodings_rows_and_colours(ax):
    image = plot_decodings(ax, {"truth": np.array([0, 1, 1]), "Viterbi": np.array([0, 0, 1])},
                           state_names=["Fair", "Loaded"])
    np.testing.assert_array_equal(image.get_array(), [[0, 1, 1], [0, 0, 1]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["truth", "Viterbi"]
    assert image.get_cmap().colors[:2] == list(PALETTE[:2])
    # without colour: the second state's stretches are hatched (one per run), the first plain
    from matplotlib.patches import Rectangle

    from emref.viz.style import HATCHES
    hatched = [(p.get_x(), p.get_y(), p.get_width(), p.get_hatch()) for p in ax.patches
               if isinstance(p, Rectangle) and p.get_hatch()]
    assert hatched == [(1.5, -0.5, 2.0, HATCHES[1]), (2.5, 0.5, 1.0, HATCHES[1])]
    legend = ax.get_legend().get_patches()
    assert [h.get_hatch() or "" for h in legend] == [HATCHES[0], HATCHES[1]]
    with pytest.raises(ValueError, match="length 3"):
        plot_decodings(ax, {"a": np.array([0, 1, 1]), "b": np.array([0, 1])})
    with pytest.raises(ValueError, match="integer states"):
        plot_decodings(ax, {"a": np.array([0.5, 1.0])})


def test_count_table_annotates_every_cell(ax):
    counts = np.array([[1.0, 2.0, 0.0], [4.0, 28.0, 4.0]])
    plot_count_table(ax, counts, row_labels=["C", "H"], col_labels=["C", "H", "STOP"],
                     fmt="{:.0f}", title="transitions")
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["1", "2", "0", "4", "28", "4"])
    assert ax.get_title() == "transitions"
    with pytest.raises(ValueError, match="row_labels"):
        plot_count_table(ax, counts, row_labels=["C"], col_labels=["a", "b", "c"])


def test_underflow_reports_first_zero(ax):
    v = np.array([-1.0, -100.0, -300.0, -np.inf, -np.inf])
    assert plot_underflow(ax, v, np.linspace(-2, -10, 5)) == 4
    assert plot_underflow(ax, v[:3]) is None
