"""Online (stepwise) EM on a stream of 10 million points, D = 8, K = 8 full covariances.

The stream is a generator drawing batches of 10 000 points from a known mixture (never
materialised: 10 million x 8 floats would be 640 MB). emref.gmm.fit_online reads it once
(α = 0.6, 5 warm-up batches, k-means start on the first batch) in a subprocess that imports
numpy, scipy and emref only, and reports its peak resident memory from
resource.getrusage (ru_maxrss) and its time. The peer is scikit-learn's GaussianMixture on a
1-million-point subsample (batch EM, its own k-means start, and again from fit_online's
start), in another subprocess, with its own peak memory. Both are scored by the log-likelihood per point of 100 000 held-out points.
Target: peak resident memory of the stream fit under 300 MB.
Usage: python bench/bench_online.py [--points N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

D, K, BATCH, N_TEST, N_SUB = 8, 8, 10_000, 100_000, 1_000_000


def truth():
    """The mixture the stream comes from (the one bench_gmm_missing.py uses)."""
    from _common import random_mixture  # bench/ is on sys.path when run as a script
    return random_mixture(K, D, 0)


def draw(params, n, rng):
    """n points of the mixture (as emref.gmm.sample, from a running generator)."""
    z = rng.choice(K, size=n, p=params.weights)
    chol = np.linalg.cholesky(params.covariances)
    eps = rng.standard_normal((n, D))
    return params.means[z] + np.einsum("nij,nj->ni", chol[z], eps)


def stream(params, n_points, seed):
    rng = np.random.default_rng(seed)
    for start in range(0, n_points, BATCH):
        yield draw(params, min(BATCH, n_points - start), rng)


def held_out(params):
    return draw(params, N_TEST, np.random.default_rng(99))


def child_stream(n_points):
    import resource

    from emref import gmm
    params = truth()
    t = time.perf_counter()
    res = gmm.fit_online(stream(params, n_points, seed=1), K, seed=0, step_exponent=0.6)
    elapsed = time.perf_counter() - t
    test = held_out(params)
    return {"seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            / 1024, "heldout": gmm.e_step(test, res.params)[1] / N_TEST,
            "truth": gmm.e_step(test, params)[1] / N_TEST, "batches": res.n_iter,
            "points": res.n_points, "sklearn_loaded": "sklearn" in sys.modules}


def child_sklearn(n_points):
    import resource
    import warnings

    from sklearn.mixture import GaussianMixture

    from emref import gmm
    params = truth()
    X = np.concatenate(list(stream(params, n_points, seed=2)))
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = GaussianMixture(K, covariance_type="full", random_state=0, max_iter=200).fit(X)
    elapsed = time.perf_counter() - t
    out = {"seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
           / 1024, "heldout": float(sk.score(held_out(params))), "iterations": int(sk.n_iter_)}
    # batch EM from fit_online's own start (k-means on the stream's first batch, seed 0)
    p0 = gmm.fit(next(stream(params, BATCH, seed=1)), K, max_iter=0, seed=0).params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = GaussianMixture(K, covariance_type="full", max_iter=200, weights_init=p0.weights,
                               means_init=p0.means,
                               precisions_init=np.linalg.inv(p0.covariances)).fit(X)
    out["same_start_heldout"] = float(same.score(held_out(params)))
    out["same_start_iterations"] = int(same.n_iter_)
    return out


def run_child(kind, n_points):
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind,
                          "--points", str(n_points)], capture_output=True, text=True,
                         check=True, cwd=here)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--child", choices=["stream", "sklearn"])
    args = parser.parse_args()
    if args.child == "stream":
        print(json.dumps(child_stream(args.points)))
        return
    if args.child == "sklearn":
        print(json.dumps(child_sklearn(args.points)))
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import machine
    print(machine())
    on = run_child("stream", args.points)
    print(f"fit_online, {on['points']:,} points in {on['batches']} batches of {BATCH}: "
          f"{on['seconds']:.1f} s ({on['points'] / on['seconds'] / 1e6:.2f} M points/s), "
          f"peak resident memory {on['peak_mb']:.0f} MB "
          f"({'meets' if on['peak_mb'] < 300 else 'MISSES'} target < 300 MB; scikit-learn "
          f"imported: {on['sklearn_loaded']})")
    sub = min(N_SUB, args.points)
    sk = run_child("sklearn", sub)
    print(f"scikit-learn GaussianMixture on {sub:,} points: {sk['iterations']} iterations "
          f"in {sk['seconds']:.1f} s, peak resident memory {sk['peak_mb']:.0f} MB")
    print(f"held-out log-likelihood per point ({N_TEST:,} points): fit_online "
          f"{on['heldout']:.4f}, scikit-learn on the subsample {sk['heldout']:.4f}, "
          f"true mixture {on['truth']:.4f}")
    print(f"scikit-learn on the subsample from fit_online's own start (k-means on the first "
          f"batch): {sk['same_start_iterations']} iterations, held-out "
          f"{sk['same_start_heldout']:.4f}")


if __name__ == "__main__":
    main()
