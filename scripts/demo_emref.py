"""Fit k-means and a two-component GMM to Old Faithful and print what they found."""

import numpy as np

import emref
from emref import gmm, kmeans


def main():
    X = emref.datasets.old_faithful(standardized=True)
    np.set_printoptions(precision=3, suppress=True)
    km = kmeans.fit(X, 2, n_init=5, seed=0)
    print(f"k-means, k=2, on standardised Old Faithful (N={len(X)}):")
    print(f"  centres:\n{km.centers}\n  inertia {km.inertia:.3f} after {km.n_iter} iterations")
    fit = gmm.fit(X, 2, n_init=3, seed=0)
    p = fit.params
    print("GMM, K=2, full covariances:")
    print(f"  weights π = {p.weights}\n  means μ =\n{p.means}\n  covariances Σ =\n{p.covariances}")
    print(f"  log-likelihood {fit.loglik:.3f} after {fit.n_iter} iterations "
          f"(converged: {fit.converged}); BIC {gmm.bic(X, p):.2f}")


if __name__ == "__main__":
    main()
