"""Feedback in a minute? ``python -m emcourse_grader serve`` under a deadline rush.

Two parts:

1. **Measure** (the real service on this machine): a temporary course with the filesystem
   exchange; ``--sample`` students (default 20: solutions, partial, naive, noisy, blank and
   an endless loop, in turn) submit hw1; ``python -m emcourse_grader serve --workers W
   --until-idle`` grades them all. From its journal: per submission, the seconds of its
   grading task on a worker (``worker_s``) and the service's own serial work on it (collect,
   feedback, release: ``service_s``), and the wall time of the whole run.
2. **Simulate** (discrete events, the service's policy): 500 students submit over the last
   30 minutes before a deadline, arrivals rising towards it (density proportional to
   exp(-(time left) / 8 min)); 30 % of them submit again (once or twice) a few minutes after
   their feedback, if before the deadline. Service times are drawn from the measured ones.
   The queue is the service's: fair (the least recently served student first, one job per
   student at a time), a resubmission replaces its queued job. Two models of the service:

   * **pipelined** (the service as built, emcourse_grader/serve/grading.py): each worker
     takes the next fair job as soon as it is free; the service's serial work is one server
     of its own, in event order: a job's collect (half of ``service_s``) before its grading,
     its feedback and release (the other half) once its own grading has ended.
   * **batches** (the service before issue 23, through ``grade_all``): a batch of up to ``c``
     jobs is collected one after another (serial), graded in parallel, and the batch ends
     with its slowest job; then each job's feedback is made and released (serial); then the
     next batch.

   For ``c`` = the workers of this machine and of N such machines: p50 and p95 of the time
   from submit to feedback; and the fewest worker cores with p95 <= 60 s.

    .venv/bin/python bench/bench_serve.py [--sample 20] [--workers 2]
    .venv/bin/python bench/bench_serve.py --simulate-only --worker-s 4.8 --service-s 1.0
"""

from __future__ import annotations

import argparse
import collections
import heapq
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

HW = "hw1"
RECIPES = ["solution", "partial.py", "naive.py", "warner.py", "solution", "blank",
           "solution", "partial.py", "naive.py", "loop.py"]


# --------------------------------------------------------------------------------------------
# 1. Measure
# --------------------------------------------------------------------------------------------

def measure(n: int, workers: int, keep: Path | None = None) -> dict:
    """Grade ``n`` real submissions with the service; per-submission costs from its journal."""
    import demo_class

    from emcourse_grader.serve.queue import Journal

    base = Path(keep or tempfile.mkdtemp(prefix="bench-serve-"))
    notebook = demo_class.ASSIGNMENTS[HW]
    course = demo_class.copy_course(base / "course", assignments=[HW])
    exchange = demo_class.Exchange(base)
    quiet = lambda _: None
    demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=quiet)
    demo_class.nbgrader(course, "release_assignment", HW, "--force",
                        f"--Exchange.root={exchange.root}", log=quiet)
    for i in range(n):
        student = f"s{i:03d}"
        folder = exchange.fetch(student, HW)
        demo_class.fill_notebook(folder / f"{notebook}.ipynb",
                                 course / "solutions" / HW / f"{notebook}.ipynb",
                                 RECIPES[i % len(RECIPES)], HW)
        exchange.submit(student, HW)
    load = os.getloadavg()[0]
    loads = []
    stop = threading.Event()

    def sample():  # the 1-minute load average while the service runs, every 5 s
        while not stop.wait(5.0):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "emcourse_grader", "serve", "--until-idle", "--workers",
             str(workers), f"--Exchange.root={exchange.root}"], cwd=course,
            env=demo_class._env(), capture_output=True, text=True, check=False)
    finally:
        stop.set()
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"serve failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    j = Journal(course / "serve" / "journal.sqlite")
    rows = j.attempts()
    j.close()
    done = [t for t in rows if t.state == "done"]
    if len(done) != n:
        raise RuntimeError(f"{len(done)} of {n} submissions done: "
                           f"{[(t.student, t.state, t.reason) for t in rows]}")
    if keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return {"n": n, "workers": workers, "wall": wall, "load": load, "loads": loads or [load],
            "worker_s": [t.worker_s for t in done], "service_s": [t.service_s for t in done],
            "turnaround": [t.finished - t.noticed for t in done]}


# --------------------------------------------------------------------------------------------
# 2. Simulate
# --------------------------------------------------------------------------------------------

def arrivals(rng: random.Random, students=500, window=1800.0, tau=480.0,
             resubmit=0.3) -> list[tuple[float, int]]:
    """First submissions: (time, student), time in s from the window's start, density
    proportional to exp(-(window - t) / tau). Resubmissions are made by the simulation."""
    out = []
    for s in range(students):
        # inverse CDF of the truncated exponential on [0, window], rising to the end
        u = rng.random()
        left = -tau * math.log(1 - u * (1 - math.exp(-window / tau)))
        out.append((window - left, s))
    return sorted(out)


def simulate(worker_s, service_s, cores: int, *, pipelined: bool, seed=0, students=500,
             window=1800.0, resubmit=0.3) -> list[float]:
    """Submit-to-feedback times (s) of every graded submission, by the service's policy."""
    rng = random.Random(seed)
    again = {s: rng.choice([1, 1, 2]) if rng.random() < resubmit else 0
             for s in range(students)}
    events = [(t, 0, "submit", s) for t, s in arrivals(rng, students, window)]
    half = {}                          # student -> the second half of its job's serial work
    heapq.heapify(events)
    queued = {}                       # student -> submit time (a resubmission replaces it)
    served = collections.defaultdict(lambda: -1.0)
    out, free, coord_free, seq = [], cores, 0.0, 1
    batch_busy = False

    def pick(now, k):
        order = sorted(queued, key=lambda s: (served[s], queued[s]))[:k]
        for i, s in enumerate(order):
            served[s] = now + i * 1e-6
        return [(s, queued.pop(s)) for s in order]

    while events:
        now, _, kind, data = heapq.heappop(events)
        if kind == "submit":
            queued[data] = now
        elif kind == "done":
            s, submitted = data
            out.append(now - submitted)
            if again[s] > 0:
                again[s] -= 1
                t = now + rng.uniform(60, 480)   # reads the feedback, fixes, submits again
                if t < window:
                    heapq.heappush(events, (t, seq, "submit", s))
                    seq += 1
        elif kind == "graded":          # its worker is free; its feedback is made next
            free += 1
            coord_free = max(coord_free, now) + half.pop(data[0])
            heapq.heappush(events, (coord_free, seq, "done", data))
            seq += 1
        elif kind == "batch":
            batch_busy = False
        if pipelined:
            for s, submitted in pick(now, free):
                free -= 1
                # the service's serial work on its own server: collect, then (at "graded")
                # the feedback and its release
                cost = rng.choice(service_s)
                half[s] = cost * 0.5
                coord_free = max(coord_free, now) + cost * 0.5
                heapq.heappush(events, (coord_free + rng.choice(worker_s), seq, "graded",
                                        (s, submitted)))
                seq += 1
        elif not batch_busy and queued:
            batch = pick(now, cores)
            costs = [rng.choice(service_s) for _ in batch]
            collect = sum(c * 0.5 for c in costs)
            graded = now + collect + max(rng.choice(worker_s) for _ in batch)
            t = graded
            for (s, submitted), c in zip(batch, costs):
                t += c * 0.5
                heapq.heappush(events, (t, seq, "done", (s, submitted)))
                seq += 1
            heapq.heappush(events, (t, seq, "batch", None))
            seq += 1
            batch_busy = True
    return out


def pct(values, q) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def cores_needed(worker_s, service_s, pipelined: bool, target=60.0, most=128) -> int | None:
    """The fewest worker cores with p95 <= target (None if none up to ``most``). A scan, not
    a bisection: p95 need not fall with more cores (more workers mean more collects queued
    on the service's serial work, ahead of the feedback of jobs already graded)."""
    for cores in range(1, most + 1):
        if pct(simulate(worker_s, service_s, cores, pipelined=pipelined), 0.95) <= target:
            return cores
    return None


def report(worker_s, service_s, per_machine: int) -> None:
    print(f"service times: worker median {statistics.median(worker_s):.1f} s, p95 "
          f"{pct(worker_s, 0.95):.1f} s; the service's own work median "
          f"{statistics.median(service_s):.2f} s per submission")
    n_sub = len(simulate(worker_s, service_s, 10 ** 4, pipelined=True))
    print(f"500 students, last 30 minutes: {n_sub} graded submissions (resubmissions "
          f"included)")
    print("| machines | worker cores | batches (before): p50 / p95 | pipelined (as built): "
          "p50 / p95 |")
    print("| --- | --- | --- | --- |")
    for machines in (1, 2, 4, 8, 16, 32):
        c = machines * per_machine
        a = simulate(worker_s, service_s, c, pipelined=False)
        p = simulate(worker_s, service_s, c, pipelined=True)
        print(f"| {machines} | {c} | {pct(a, .5):.0f} s / {pct(a, .95):.0f} s | "
              f"{pct(p, .5):.0f} s / {pct(p, .95):.0f} s |")
    for pipelined, name in ((False, "batches (before)"), (True, "pipelined (as built)")):
        need = cores_needed(worker_s, service_s, pipelined)
        print(f"worker cores for p95 <= 60 s, {name}: "
              f"{need if need else 'none up to 128: the serial work is too slow'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=20, help="real submissions to grade")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", type=Path, default=None, help="keep the course here")
    ap.add_argument("--simulate-only", action="store_true",
                    help="no measurement: constant costs from --worker-s and --service-s")
    ap.add_argument("--worker-s", type=float, default=4.8)
    ap.add_argument("--service-s", type=float, default=1.0)
    ap.add_argument("--journal", type=Path, default=None,
                    help="no measurement: the costs recorded in this journal (a --keep run's "
                    "course/serve/journal.sqlite), divided by --scale")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="divide the journal's costs by this (e.g. the slowdown of a loaded "
                    "machine against an idle one)")
    args = ap.parse_args(argv)
    from _common import machine

    print(f"machine: {machine()}")
    if args.simulate_only:
        report([args.worker_s], [args.service_s], args.workers)
        return 0
    if args.journal is not None:
        from emcourse_grader.serve.queue import Journal

        j = Journal(args.journal)
        done = [t for t in j.attempts() if t.state == "done"]
        j.close()
        print(f"costs of {len(done)} submissions from {args.journal}, divided by "
              f"{args.scale:g}")
        report([t.worker_s / args.scale for t in done],
               [t.service_s / args.scale for t in done], args.workers)
        return 0
    m = measure(args.sample, args.workers, args.keep)
    print(f"measured: {m['n']} submissions, {m['workers']} workers, {m['wall']:.0f} s wall "
          f"(cluster start included), load {m['load']:.1f} before, "
          f"{min(m['loads']):.1f} to {max(m['loads']):.1f} while measuring (median "
          f"{statistics.median(m['loads']):.1f}); submit to feedback in "
          f"the sample (all at once): median {statistics.median(m['turnaround']):.0f} s, max "
          f"{max(m['turnaround']):.0f} s")
    report(m["worker_s"], m["service_s"], args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
