"""emref.datasets: the shipped data and the simulators."""

import numpy as np
import pytest

from emref import datasets

# Eisner's spreadsheet (2002): ice creams eaten on each of 33 days
EISNER = [2, 3, 3, 2, 3, 2, 3, 2, 2, 3, 1, 3, 3, 1, 1, 1, 2, 1, 1, 1, 3, 1, 2, 1, 1, 1, 2, 3, 3,
          2, 3, 2, 2]


def test_old_faithful():
    X = datasets.old_faithful()
    assert X.shape == (272, 2) and X.dtype == float
    np.testing.assert_allclose(X.mean(axis=0), [3.4878, 70.8971], atol=5e-5)
    np.testing.assert_allclose(X.std(axis=0, ddof=1), [1.1414, 13.5950], atol=5e-5)
    np.testing.assert_array_equal(X.min(axis=0), [1.6, 43.0])
    np.testing.assert_array_equal(X.max(axis=0), [5.1, 96.0])
    np.testing.assert_array_equal(X[0], [3.6, 79.0])
    np.testing.assert_array_equal(X[-1], [4.467, 74.0])
    assert np.all(X[:, 1] == np.round(X[:, 1]))  # waiting times are whole minutes
    # a fresh array each call: changing it does not change the next one
    X[0, 0] = -1.0
    assert datasets.old_faithful()[0, 0] == 3.6


def test_old_faithful_standardized():
    Z = datasets.old_faithful(standardized=True)
    X = datasets.old_faithful()
    assert Z.shape == (272, 2)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(Z * X.std(axis=0) + X.mean(axis=0), X, rtol=1e-12)
    # standardizing keeps the order of the points in each column
    np.testing.assert_array_equal(np.argsort(Z[:, 1], kind="stable"),
                                  np.argsort(X[:, 1], kind="stable"))


def test_standardize():
    gen = np.random.default_rng(0)
    X = gen.normal(size=(50, 3)) * [1.0, 10.0, 0.1] + [5.0, -2.0, 100.0]
    Z = datasets.standardize(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(datasets.standardize(X.tolist()), Z)


def test_ice_cream():
    obs = datasets.ice_cream()
    assert obs.shape == (33,) and np.issubdtype(obs.dtype, np.integer)
    assert set(np.unique(obs)) == {0, 1, 2}
    np.testing.assert_array_equal(obs, np.array(EISNER) - 1)
    np.testing.assert_array_equal(np.bincount(obs), [11, 11, 11])


def test_ice_cream_params():
    p = datasets.ice_cream_params()
    assert p["states"] == ("Cold", "Hot")
    np.testing.assert_allclose(p["startprob"], [0.5, 0.5])
    np.testing.assert_allclose(p["transmat"].sum(axis=1) + p["endprob"], 1.0)
    np.testing.assert_allclose(p["emission"].sum(axis=1), 1.0)
    np.testing.assert_allclose(p["emission"], [[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    np.testing.assert_allclose(p["transmat"], [[0.8, 0.1], [0.1, 0.8]])
    # each call returns fresh arrays
    p["startprob"][0] = 0.0
    assert datasets.ice_cream_params()["startprob"][0] == 0.5


def test_dishonest_casino():
    p = datasets.dishonest_casino()
    assert p["states"] == ("Fair", "Loaded")
    np.testing.assert_allclose(p["startprob"], [1.0, 0.0])
    np.testing.assert_allclose(p["transmat"], [[0.95, 0.05], [0.10, 0.90]])
    np.testing.assert_allclose(p["emission"].sum(axis=1), 1.0)
    np.testing.assert_allclose(p["emission"][0], 1 / 6)
    assert p["emission"][1, 5] == 0.5 and np.all(p["emission"][1, :5] == 0.1)


def test_two_gaussians_moments():
    n = 100_000
    X, z = datasets.two_gaussians(n, seed=0)
    assert X.shape == (n, 2) and z.shape == (n,)
    assert set(np.unique(z)) == {1, 2}
    assert np.mean(z == 1) == pytest.approx(0.4, abs=4 * np.sqrt(0.24 / n))
    for label, mu, sigma in ((1, (-1.0, 0.0), ((0.5, 0.2), (0.2, 0.3))),
                             (2, (1.5, 1.0), ((0.4, -0.1), (-0.1, 0.6)))):
        pts = X[z == label]
        np.testing.assert_allclose(pts.mean(axis=0), mu, atol=0.02)
        np.testing.assert_allclose(np.cov(pts.T), sigma, atol=0.02)


def test_two_gaussians_options():
    X, z = datasets.two_gaussians(500, tau=1.0, mu1=2.0, sigma1=0.25, mu2=-2.0, sigma2=1.0,
                                  seed=1)
    assert X.shape == (500, 1) and np.all(z == 1)
    assert X.mean() == pytest.approx(2.0, abs=0.1) and X.std() == pytest.approx(0.5, abs=0.05)
    _, z = datasets.two_gaussians(50, tau=0.0, seed=1)
    assert np.all(z == 2)
    a, _ = datasets.two_gaussians(20, seed=7)
    b, _ = datasets.two_gaussians(20, seed=7)
    c, _ = datasets.two_gaussians(20, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, datasets.two_gaussians(20, seed=8)[0])
