"""emref.viz.mixtures: the helpers run headless and draw what they promise."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Ellipse

from emref import gmm, kmeans, viz
from emref.viz import mixtures
from emref.viz.style import PALETTE


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture
def params():
    return gmm.GMMParams([0.3, 0.7], [[-1.0, 0.5], [1.0, -0.5]],
                         [[[0.5, 0.2], [0.2, 0.3]], [[0.2, 0.0], [0.0, 0.8]]])


def test_public_helpers_are_exported_by_viz():
    for name in mixtures.__all__:
        assert getattr(viz, name) is getattr(mixtures, name)


@pytest.mark.parametrize("n_std", [1.0, 2.0, 2.5])
def test_ellipse_axes_are_n_std_times_sqrt_eigenvalues(ax, n_std):
    cov = np.array([[2.0, 0.8], [0.8, 0.6]])
    e = mixtures.plot_covariance_ellipse(ax, [1.0, -2.0], cov, n_std=n_std)
    vals, vecs = np.linalg.eigh(cov)
    assert isinstance(e, Ellipse) and e in ax.patches
    assert e.width == pytest.approx(2 * n_std * np.sqrt(vals[1]))
    assert e.height == pytest.approx(2 * n_std * np.sqrt(vals[0]))
    assert np.allclose(e.center, [1.0, -2.0])
    # the width lies along the leading eigenvector (up to sign)
    a = np.radians(e.angle)
    assert abs(np.dot([np.cos(a), np.sin(a)], vecs[:, 1])) == pytest.approx(1.0)


def test_ellipse_points_are_at_mahalanobis_distance_n_std(ax):
    cov = np.array([[0.7, -0.3], [-0.3, 0.4]])
    mean = np.array([0.2, 0.1])
    e = mixtures.plot_covariance_ellipse(ax, mean, cov, n_std=1.5)
    # the on-curve vertices of the patch (every third: the others are Bezier control points)
    pts = e.get_patch_transform().transform(e.get_path().vertices[::3])
    d = pts - mean
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    assert np.allclose(np.sqrt(maha), 1.5, atol=1e-6)


def test_ellipse_of_isotropic_covariance_is_a_circle(ax):
    e = mixtures.plot_covariance_ellipse(ax, [0, 0], 0.1 * np.eye(2), n_std=2.0)
    assert e.width == pytest.approx(e.height) == pytest.approx(4 * np.sqrt(0.1))


def test_ellipse_rejects_wrong_shapes(ax):
    with pytest.raises(ValueError, match="cov"):
        mixtures.plot_covariance_ellipse(ax, [0, 0], np.eye(3))


def test_responsibility_colors_mix_palette():
    resp = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    c = mixtures.responsibility_colors(resp)
    a, b = np.array(to_rgb(PALETTE[0])), np.array(to_rgb(PALETTE[1]))
    assert np.allclose(c, [a, b, (a + b) / 2])


def test_plot_mixture_with_params_draws_one_ellipse_per_component(ax, params):
    X, _ = gmm.sample(params, 50, seed=0)
    out = mixtures.plot_mixture(ax, X, params, n_std=1.0, title="t")
    assert len(out["ellipses"]) == 2 and len(ax.patches) == 2
    assert np.allclose(out["resp"], gmm.predict_proba(X, params))
    assert out["points"].get_offsets().shape == (50, 2)
    assert np.allclose(out["centers"].get_offsets(), params.means)
    assert np.allclose(out["points"].get_facecolors()[:, :3],
                       mixtures.responsibility_colors(out["resp"]))
    assert ax.get_title() == "t" and ax.get_xlabel() and ax.get_ylabel()


def test_plot_mixture_with_responsibilities_and_raw_data(ax):
    X = np.random.default_rng(0).normal(size=(20, 2))
    centers = np.array([[0.0, 0.0], [1.0, 1.0]])
    resp = kmeans.soft_assign(X, centers, beta=1.0)
    out = mixtures.plot_mixture(ax, X, resp, centers=centers)
    assert out["ellipses"] == [] and np.allclose(out["resp"], resp)
    assert np.allclose(out["centers"].get_offsets(), centers)
    out = mixtures.plot_mixture(ax, X)
    assert out["resp"] is None and out["centers"] is None


def test_plot_mixture_rejects_mismatched_resp(ax):
    with pytest.raises(ValueError, match="one row per point"):
        mixtures.plot_mixture(ax, np.zeros((5, 2)), np.full((4, 2), 0.5))


def test_plot_kmeans_state(ax):
    X = np.random.default_rng(1).normal(size=(30, 2))
    centers = np.array([[-1.0, 0.0], [1.0, 0.0]])
    labels = kmeans.assign(X, centers)
    out = mixtures.plot_kmeans_state(ax, X, centers, labels, regions=True,
                                     previous_centers=centers + 0.3, title="k")
    assert len(out["arrows"]) == 2 and out["regions"] is not None
    colors = out["points"].get_facecolors()[:, :3]
    assert np.allclose(colors, [to_rgb(PALETTE[j]) for j in labels])
    assert ax.get_title() == "k"
    grey = mixtures.plot_kmeans_state(ax, X, centers)
    assert len(np.unique(grey["points"].get_facecolors(), axis=0)) == 1


def test_plot_loglik_trace(ax):
    h = np.array([-10.0, -8.0, -7.5, -7.4])
    line = mixtures.plot_loglik_trace(ax, h, label="run", per_point=2)
    x, y = line.get_data()
    assert np.array_equal(x, [0, 1, 2, 3]) and np.allclose(y, h / 2)
    assert "per point" in ax.get_ylabel() and ax.get_legend() is not None
    second = mixtures.plot_loglik_trace(ax, h, start=1)
    assert second.get_xdata()[0] == 1 and second.get_color() != line.get_color()


def test_plot_em_iterations_one_panel_per_iterate(params):
    X, _ = gmm.sample(params, 40, seed=2)
    fig, axes = mixtures.plot_em_iterations(X, [params, params, params], iterations=[0, 5, 9],
                                            ncols=2)
    try:
        assert len(axes) == 3
        assert [a.get_title() for a in axes] == ["EM, iteration 0", "EM, iteration 5",
                                                 "EM, iteration 9"]
        assert all(len(a.patches) == 2 for a in axes)
        assert sum(a.get_visible() for a in fig.axes) == 3
        fig.canvas.draw()  # shared axes with equal aspect must still render
    finally:
        plt.close(fig)


def test_plot_mixture_components_only_and_bad_params(ax, params):
    X, _ = gmm.sample(params, 30, seed=3)
    out = mixtures.plot_mixture(ax, X, params, color_points=False)
    assert len(out["ellipses"]) == 2
    assert len(np.unique(out["points"].get_facecolors(), axis=0)) == 1  # all grey
    with pytest.raises(TypeError, match="GMMParams"):
        mixtures.plot_mixture(ax, X, {"means": params.means})
