"""Plain helpers that several test modules share: random problems, an independent oracle, the
lecture site's build and Unix accounts' removal.

Hypothesis strategies and module-level helpers cannot take fixtures, so these are functions
that test modules import (``from helpers import ...``); conftest.py hands ``blob_data`` to
tests as the ``blobs`` fixture too. Test modules import nothing from conftest.py or from
each other (tests/test_emref_hygiene.py checks it).
"""

import numpy as np
from scipy.stats import multivariate_normal, poisson

from emref import hmm


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


def random_hmm_params(K, rng, *, M=4, D=None, end=False, zeros=False, emission=None):
    """A random HMMParams with K states, a STOP state when ``end``, and ``emission`` if given,
    else :func:`random_emission` ``(K, rng, M=M, D=D, zeros=zeros)``."""
    pi = rng.dirichlet(np.ones(K))
    A = rng.dirichlet(np.ones(K + 1 if end else K), size=K)
    e = None
    if end:
        A, e = A[:, :-1], A[:, -1]
    if emission is None:
        emission = random_emission(K, rng, M=M, D=D, zeros=zeros)
    return hmm.HMMParams(pi, A, emission, e)


def random_emission(K, rng, *, M=4, D=None, zeros=False):
    """Categorical emissions over M symbols (with ``zeros``, state 0 can never emit symbol 0),
    or Gaussian ones in D dimensions when D is given."""
    if D is None:
        B = rng.dirichlet(np.ones(M), size=K)
        if zeros:
            B[0, 0] = 0.0
            B[0] /= B[0].sum()
        return hmm.Categorical(B)
    means = rng.normal(0, 2, (K, D))
    L = rng.normal(0, 0.4, (K, D, D)) + np.eye(D)
    covs = L @ np.swapaxes(L, 1, 2) + 0.1 * np.eye(D)
    return hmm.Gaussian(means, covs)


def emission_matrix(x, params):
    """p(x_n | k), shape (T, K), computed independently of emref: by indexing for categorical
    emissions, from scipy's densities for Gaussian and Poisson ones."""
    em = params.emission
    if isinstance(em, hmm.Categorical):
        return em.probs[:, x].T
    if isinstance(em, hmm.Poisson):
        return np.stack([poisson.pmf(x, rate).prod(axis=1) for rate in em.rates], axis=1)
    return np.stack([multivariate_normal(em.means[k], em.covariances[k]).pdf(x).reshape(-1)
                     for k in range(em.n_states)], axis=1)


def build_lecture_site(folder):
    """The lecture site as `make course` builds it (``scripts/course.py``'s ``build_site``),
    into ``folder``/site. test_site and the accessibility audit share one build per run
    (conftest's ``shared_dir``)."""
    import sys
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parent.parent / "scripts")
    sys.path.insert(0, scripts)
    try:
        import course
    finally:
        sys.path.remove(scripts)
    course.build_site(Path(folder) / "site", work=Path(folder) / "jupyterbook")


def documented_counts(doc, adding):
    """The files that adding ``adding`` ("a lecture") touches, as ``doc`` (a path to
    docs/teaching.md or docs/emref_reference.md) counts them in its table "What adding each
    thing touches": ``(written, generated)``, the first bold number of each column."""
    import re
    from pathlib import Path

    rows = [line for line in Path(doc).read_text(encoding="utf-8").splitlines()
            if line.startswith(f"| {adding} |")]
    if len(rows) != 1:
        raise ValueError(f"{doc}: expected one row for {adding!r}; found {len(rows)}")
    cells = rows[0].split(" | ")
    return tuple(int(re.search(r"\*\*(\d+)\*\*", cell).group(1)) for cell in cells[1:3])


def userdel(name):
    """Remove the Unix account ``name`` (as root), its processes first: a process the account
    still runs (a service a hub started outlives the hub's stop) makes userdel refuse."""
    import subprocess
    import time

    subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
    for _ in range(50):
        if subprocess.run(["pgrep", "-u", name], check=False,
                          capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    subprocess.run(["userdel", "-r", name], check=False, capture_output=True)
