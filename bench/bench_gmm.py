"""GMM, full covariances, N = 100 000, D = 8, K = 8, 10 EM iterations: emref vs scikit-learn.

Both start from the same parameters (sklearn's weights_init / means_init / precisions_init)
and run exactly 10 iterations (tol = 0). Target: emref's time <= 0.33 x scikit-learn's.
"""

import warnings

import numpy as np
from _common import best_time, machine, report
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from emref import gmm

N, D, K, ITERS = 100_000, 8, 8, 10


def problem(seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(K, D))
    X = centers[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    start = gmm.GMMParams(np.full(K, 1.0 / K), X[rng.choice(N, K, replace=False)],
                          np.repeat(np.eye(D)[None] * 2.0, K, axis=0))
    return X, start


def main():
    X, start = problem()
    precisions = np.linalg.inv(start.covariances)

    def ours():
        return gmm.fit(X, K, init=start, max_iter=ITERS, tol=0)

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixture(K, covariance_type="full", weights_init=start.weights,
                                   means_init=start.means, precisions_init=precisions,
                                   max_iter=ITERS, tol=0).fit(X)

    a, b = ours(), peer()
    assert np.allclose(a.params.means, b.means_, rtol=1e-8, atol=1e-10), "results differ"
    print(machine())
    report(f"GMM full N={N} D={D} K={K} {ITERS} iterations", best_time(ours), best_time(peer),
           "scikit-learn", 0.33)


if __name__ == "__main__":
    main()
