"""Helpers shared by the benchmarks: best-of-n wall time, the machine's description, a known
mixture to draw data from."""

from __future__ import annotations

import platform
import time


def best_time(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` calls of ``fn()``, in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(name: str, ours: float, peer: float, peer_name: str, target: float) -> None:
    ratio = ours / peer
    verdict = "meets" if ratio <= target else "MISSES"
    print(f"{name}: emref {ours * 1e3:.1f} ms, {peer_name} {peer * 1e3:.1f} ms, "
          f"ratio {ratio:.3f} ({verdict} target <= {target})")


def random_mixture(K: int, D: int, seed: int = 0):
    """A GMM to draw benchmark data from: K random centres, random full covariances."""
    import numpy as np

    from emref import gmm

    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(K, D))
    covs = []
    for _ in range(K):
        q, _ = np.linalg.qr(rng.normal(size=(D, D)))
        covs.append((q * rng.uniform(0.3, 2.0, size=D)) @ q.T)
    return gmm.GMMParams(rng.dirichlet(np.full(K, 5.0)), means, np.stack(covs))
