"""emref.viz.bound: the lower-bound picture helpers draw what they are given (Agg backend)."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from emref import gmm
from emref.viz import bound
from emref.viz.style import PALETTE


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _slice_curves():
    """A real 1-D slice: log-likelihood in μ₁ and the bound built at μ₁ = 2."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-1, 1, 60), rng.normal(1.5, 1, 60)])[:, None]

    def params(m):
        return gmm.GMMParams([0.5, 0.5], [[m], [1.5]], [[[1.0]], [[1.0]]])

    grid = np.linspace(-3, 3, 121)
    loglik = np.array([gmm.e_step(X, params(m))[1] for m in grid])
    resp, _ = gmm.e_step(X, params(2.0))
    h = gmm.responsibility_entropy(resp)
    bnd = np.array([gmm.q_function(X, resp, params(m)) + h for m in grid])
    theta_next = gmm.m_step(X, resp).means[0, 0]
    resp2, _ = gmm.e_step(X, params(theta_next))
    h2 = gmm.responsibility_entropy(resp2)
    bnd2 = np.array([gmm.q_function(X, resp2, params(m)) + h2 for m in grid])
    return grid, loglik, bnd, bnd2, theta_next


def _png_bytes(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_plot_bound_step_draws_curves_and_marks():
    grid, loglik, bnd, bnd2, theta_next = _slice_curves()
    fig, ax = plt.subplots()
    out = bound.plot_bound_step(ax, grid, loglik, bnd, 2.0, theta_next, next_bound=bnd2,
                                param_name=r"\mu_1")
    assert out is ax
    assert ax.get_title()
    assert "mu_1" in ax.get_xlabel()
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(grid)]
    assert len(lines) == 3  # log-likelihood, bound, next bound
    np.testing.assert_allclose(lines[0].get_ydata(), loglik)
    np.testing.assert_allclose(lines[1].get_ydata(), bnd)
    assert matplotlib.colors.to_hex(lines[0].get_color()) == PALETTE[0].lower()
    # the θᵗ marker sits on the log-likelihood curve
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert dots and dots[0].get_xdata()[0] == pytest.approx(2.0)
    assert dots[0].get_ydata()[0] == pytest.approx(np.interp(2.0, grid, loglik))
    assert ax.get_legend() is not None
    assert len(_png_bytes(fig)) > 1000


def test_plot_bound_step_rejects_bad_input():
    grid, loglik, bnd, _, theta_next = _slice_curves()
    _fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="bound"):
        bound.plot_bound_step(ax, grid, loglik, bnd[:-1], 2.0, theta_next)
    with pytest.raises(ValueError, match="theta_next"):
        bound.plot_bound_step(ax, grid, loglik, bnd, 2.0, 99.0)
    with pytest.raises(ValueError, match="lower bound"):
        bound.plot_bound_step(ax, grid, loglik, loglik + 1.0, 2.0, theta_next)
    with pytest.raises(ValueError, match="increasing"):
        bound.plot_bound_step(ax, grid[::-1], loglik, bnd, 2.0, theta_next)


def test_plot_bound_panels_one_panel_per_step():
    grid, loglik, bnd, bnd2, theta_next = _slice_curves()
    _fig, axes = plt.subplots(1, 2)
    out = bound.plot_bound_panels(axes, grid, loglik, [bnd, bnd2], [2.0, theta_next, 0.0],
                                  param_name=r"\mu_1")
    assert len(out) == 2
    assert all(ax.get_title().startswith("step") for ax in out)
    assert out[0].get_legend() is not None and out[1].get_legend() is None
    with pytest.raises(ValueError, match="theta_seq"):
        bound.plot_bound_panels(axes, grid, loglik, [bnd, bnd2], [2.0, theta_next])
    with pytest.raises(ValueError, match="axes"):
        bound.plot_bound_panels(axes[:1], grid, loglik, [bnd, bnd2], [2.0, theta_next, 0.0])


def test_plot_climb_path():
    a = np.linspace(-2, 2, 30)
    b = np.linspace(-1, 3, 20)
    surface = -(a[None, :] ** 2) - (b[:, None] - 1) ** 2
    path = np.array([[1.5, 2.5], [0.7, 1.6], [0.2, 1.1], [0.0, 1.0]])
    fig, ax = plt.subplots()
    out = bound.plot_climb_path(ax, a, b, surface, path)
    assert out is ax and ax.get_title()
    traj = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(path)]
    np.testing.assert_allclose(traj[0].get_xdata(), path[:, 0])
    assert len(fig.axes) == 2  # the colour bar
    with pytest.raises(ValueError, match="surface"):
        bound.plot_climb_path(ax, a, b, surface.T, path)
    with pytest.raises(ValueError, match="path"):
        bound.plot_climb_path(ax, a, b, surface, path[:, :1])
    assert len(_png_bytes(fig)) > 1000


def test_plot_convergence_log_axis_and_floor():
    _fig, ax = plt.subplots()
    bound.plot_convergence(ax, {"EM": [1.0, 0.1, 0.0], "gradient": [1.0, 0.5, 0.25]})
    assert ax.get_yscale() == "log"
    assert ax.get_title()
    em_line = ax.get_lines()[0]
    assert em_line.get_ydata()[-1] == pytest.approx(1e-12)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["EM", "gradient"]
    with pytest.raises(TypeError):
        bound.plot_convergence(ax, [1.0, 2.0])


def test_plot_em_cycle():
    fig, ax = plt.subplots()
    bound.plot_em_cycle(ax)
    assert ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert any("E-step" in t for t in texts) and any("M-step" in t for t in texts)
    with pytest.raises(ValueError):
        bound.plot_em_cycle(ax, ["only one"])
    assert len(_png_bytes(fig)) > 1000


def test_exported_from_viz():
    from emref import viz
    for name in bound.__all__:
        assert getattr(viz, name) is getattr(bound, name)
