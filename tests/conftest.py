"""Shared fixtures for the test suite."""

import os

import numpy as np
import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run (a red CI must be reproducible);
# on a developer's machine they explore new ones each time.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def blob_data(seed, n, d, k, separation=4.0, scale=1.0, offset=0.0):
    """n points from k Gaussian blobs in d dimensions, means ``separation`` apart on average.

    Each blob has its own random full covariance (eigenvalues between 0.1 and 1, times
    ``scale``²). Returns (X, z) with z the blob of each point; every blob gets at least one
    point when n >= k.
    """
    gen = np.random.default_rng(seed)
    means = gen.normal(size=(k, d)) * separation + offset
    z = np.concatenate([np.arange(min(k, n)), gen.integers(0, k, size=max(n - k, 0))])
    gen.shuffle(z)
    X = np.empty((n, d))
    for j in range(k):
        q, _ = np.linalg.qr(gen.normal(size=(d, d)))
        cov = (q * gen.uniform(0.1, 1.0, size=d)) @ q.T * scale ** 2
        idx = z == j
        X[idx] = gen.multivariate_normal(means[j], cov, size=int(idx.sum()))
    return X, z


@pytest.fixture(scope="session")
def blobs():
    """Factory: ``blobs(seed, n, d, k, separation=4.0, scale=1.0, offset=0.0) -> (X, z)``."""
    return blob_data


@pytest.fixture(scope="session")
def faithful():
    from emref import datasets
    return datasets.old_faithful()


@pytest.fixture(scope="session")
def faithful_std():
    from emref import datasets
    return datasets.old_faithful(standardized=True)
