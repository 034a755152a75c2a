"""Baum-Welch speed: emref.hmm against hmmlearn, side by side in one process.

Gaussian HMM, K = 8 states, D = 2, full covariances, the same start for both, 5 iterations
(hmmlearn with its priors switched off and init_params=""), on
  (a) 1000 sequences of 100 steps (hmmlearn implementation="scaling");
  (b) one sequence of 100 000 steps (hmmlearn implementation="scaling").
Prints each time and the ratio emref / hmmlearn (below 1: emref is faster), then the median
over the repeats. Targets: (a) <= 0.10, (b) <= 1.0. emref's time includes checking the
sequences and building its block layout; it also evaluates the likelihood of the last
iterate (hmmlearn does not). Usage: python bench/bench_hmm.py [--repeat R]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

# One BLAS thread for both libraries: the machine is shared, and threads only add contention
# on these small matrices. Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

from emref import hmm

K, D, N_ITER = 8, 2, 5


def model(seed=0):
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(K) / K
    means = 4.0 * np.c_[np.cos(angles), np.sin(angles)]
    covs = np.stack([np.diag(rng.uniform(0.5, 1.5, D)) for _ in range(K)])
    A = 0.8 * np.eye(K) + 0.2 * rng.dirichlet(np.ones(K), size=K)
    A /= A.sum(axis=1, keepdims=True)
    return hmm.HMMParams(np.full(K, 1 / K), A, hmm.Gaussian(means, covs))


def start(seed=1):
    rng = np.random.default_rng(seed)
    truth = model()
    means = truth.emission.means + rng.normal(0, 0.7, (K, D))
    covs = np.stack([np.eye(D) * 1.5] * K)
    A = 0.5 * np.eye(K) + 0.5 * rng.dirichlet(np.ones(K), size=K)
    A /= A.sum(axis=1, keepdims=True)
    return hmm.HMMParams(rng.dirichlet(np.ones(K)), A, hmm.Gaussian(means, covs))


def data(n_seq, T, seed=2):
    truth = model()
    rng = np.random.default_rng(seed)
    return [hmm.sample(truth, T, rng)[0] for _ in range(n_seq)]


def peer(params0):
    from hmmlearn.hmm import GaussianHMM
    m = GaussianHMM(n_components=K, covariance_type="full", n_iter=N_ITER, tol=-np.inf,
                    init_params="", params="stmc", implementation="scaling",
                    covars_prior=0.0, covars_weight=0.0, means_prior=0.0, means_weight=0.0,
                    startprob_prior=1.0, transmat_prior=1.0)
    m.startprob_ = params0.startprob.copy()
    m.transmat_ = params0.transmat.copy()
    m.means_ = params0.emission.means.copy()
    m.covars_ = params0.emission.covariances.copy()
    return m


def one(seqs, params0):
    X = np.concatenate(seqs)
    lengths = [len(s) for s in seqs]
    m = peer(params0)
    t0 = time.perf_counter()
    m.fit(X, lengths)
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = hmm.fit(seqs, K, init=params0, max_iter=N_ITER, tol=0.0, reg_covar=0.0)
    t_ours = time.perf_counter() - t0
    diff = np.abs(res.params.emission.means - m.means_).max()
    return t_ours, t_peer, diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    params0 = start()
    cases = {"(a) 1000 sequences x 100 steps": data(1000, 100),
             "(b) 1 sequence x 100 000 steps": data(1, 100_000)}
    targets = {"(a) 1000 sequences x 100 steps": 0.10, "(b) 1 sequence x 100 000 steps": 1.0}
    print(f"Gaussian HMM, K={K}, D={D}, full covariances, {N_ITER} Baum-Welch iterations, "
          f"same start; hmmlearn implementation='scaling'")
    one(data(20, 50), params0)  # warm-up: imports, caches
    for name, seqs in cases.items():
        ratios = []
        for _ in range(args.repeat):
            t_ours, t_peer, diff = one(seqs, params0)
            ratios.append(t_ours / t_peer)
            print(f"  {name}: emref {t_ours:.3f} s, hmmlearn {t_peer:.3f} s, ratio "
                  f"{t_ours / t_peer:.3f} (max |means difference| {diff:.1e})")
        med = float(np.median(ratios))
        print(f"{name}: median ratio emref/hmmlearn = {med:.3f} (target <= {targets[name]})")


if __name__ == "__main__":
    main()
