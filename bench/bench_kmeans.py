"""k-means (Lloyd), N = 100 000, D = 8, k = 8, 20 iterations: emref vs scikit-learn.

Same initial centres, tol = 0 and max_iter = 20 for both, so both do the same 20 iterations
(unless both reach the same fixed point earlier). Target: emref <= 1.0 x scikit-learn's
compiled, threaded implementation.
"""

import numpy as np
from _common import best_time, machine, report
from bench_gmm import problem
from sklearn.cluster import KMeans

from emref import kmeans

ITERS = 20


def main():
    X, start = problem()
    c0 = start.means
    k = c0.shape[0]

    def ours():
        return kmeans.fit(X, k, init=c0, max_iter=ITERS, tol=0)

    def peer():
        return KMeans(k, init=c0, n_init=1, max_iter=ITERS, tol=0, algorithm="lloyd").fit(X)

    a, b = ours(), peer()
    assert a.n_iter == b.n_iter_, (a.n_iter, b.n_iter_)
    assert np.allclose(a.centers, b.cluster_centers_), "results differ"
    print(machine())
    report(f"k-means N={X.shape[0]} D={X.shape[1]} k={k} {a.n_iter} iterations",
           best_time(ours, 5), best_time(peer, 5), "scikit-learn", 1.0)


if __name__ == "__main__":
    main()
