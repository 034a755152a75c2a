"""Shared fixtures for the test suite."""

import logging
import os

import numpy as np
import pytest
from helpers import blob_data
from hypothesis import settings

# In CI the property tests draw the same examples every run (a red CI must be reproducible);
# on a developer's machine they explore new ones each time.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# The checks draw their random problems from the course's secret: the tests use a fixed one
# (inherited by the nbgrader and Dask processes they start), never a file made in the repo.
TEST_SECRET = "emcourse-test-secret-not-for-grading"


@pytest.fixture(scope="session", autouse=True)
def course_secret():
    before = os.environ.get("EMCOURSE_SECRET")
    os.environ["EMCOURSE_SECRET"] = TEST_SECRET
    yield TEST_SECRET
    if before is None:
        os.environ.pop("EMCOURSE_SECRET", None)
    else:
        os.environ["EMCOURSE_SECRET"] = before


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


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


def hmm_path_log_joint(b, z, params):
    """ln p(X, Z | θ) of one state path z, by the definition (Bishop 13.6):
    ln π_{z_1} + Σ_n ln p(x_n | z_n) + Σ_n ln A_{z_{n-1} z_n} (+ ln p(STOP | z_N) with an end
    state), from ``b[n, k] = p(x_n | k)`` that the caller computes independently of emref."""
    with np.errstate(divide="ignore"):
        total = np.log(params.startprob[z[0]]) + np.log(b[np.arange(len(z)), z]).sum()
        total += np.log(params.transmat[z[:-1], z[1:]]).sum()
        if params.endprob is not None:
            total += np.log(params.endprob[z[-1]])
    return total


@pytest.fixture(scope="session")
def path_log_joint():
    """``path_log_joint(b, z, params) -> ln p(X, Z | θ)`` with b[n, k] = p(x_n | k)."""
    return hmm_path_log_joint


def hmmlearn_categorical_fit(sequences, p0, n_iter):
    """hmmlearn's CategoricalHMM run for ``n_iter`` Baum-Welch steps from the HMMParams p0
    (priors off, log implementation), on integer sequences; its ``monitor_.history`` holds
    log p(X | θ⁰..θⁿ⁻¹)."""
    from hmmlearn.hmm import CategoricalHMM
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    ref = CategoricalHMM(n_components=p0.n_states, n_features=p0.emission.probs.shape[1],
                         n_iter=n_iter, tol=-np.inf, init_params="", params="ste",
                         startprob_prior=1.0, transmat_prior=1.0, emissionprob_prior=1.0,
                         implementation="log")
    ref.startprob_ = p0.startprob.copy()
    ref.transmat_ = p0.transmat.copy()
    ref.emissionprob_ = p0.emission.probs.copy()
    ref.fit(np.concatenate(sequences).reshape(-1, 1), [len(s) for s in sequences])
    return ref


def assert_equals_hmmlearn_categorical(result, ref):
    """An emref HMMResult equals a fitted CategoricalHMM: parameters to 1e-8 and the
    log-likelihood history (emref's last entry, at the returned θ, has no counterpart)."""
    np.testing.assert_allclose(result.params.startprob, ref.startprob_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(result.params.transmat, ref.transmat_, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(result.params.emission.probs, ref.emissionprob_, rtol=1e-8,
                               atol=1e-14)
    np.testing.assert_allclose(result.loglik_history[:-1], ref.monitor_.history, rtol=1e-10)


@pytest.fixture(scope="session")
def hmmlearn_categorical():
    """``hmmlearn_categorical(sequences, p0, n_iter) -> fitted CategoricalHMM`` (priors off)."""
    return hmmlearn_categorical_fit


@pytest.fixture(scope="session")
def assert_equals_hmmlearn():
    """``assert_equals_hmmlearn(result, ref)``: an HMMResult against a fitted CategoricalHMM."""
    return assert_equals_hmmlearn_categorical


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory, worker_id):
    """``shared_dir(name, build) -> Path``: a folder made once per test run by
    ``build(path)`` and shared by every pytest-xdist worker (the first to ask builds it under
    a file lock; the others wait and reuse it). For set-ups that several test files read and
    none changes, such as the built lecture site."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        base = base.parent  # the run's folder, above each worker's own
    def get(name: str, build):
        path = base / f"shared-{name}"
        with open(base / f"shared-{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (path / ".complete").exists():
                    if path.exists():
                        import shutil
                        shutil.rmtree(path)  # a build that failed half-way
                    path.mkdir()
                    build(path)
                    (path / ".complete").touch()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return path
    return get
