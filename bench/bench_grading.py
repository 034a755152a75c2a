"""Serial ``nbgrader autograde`` against ``python -m emcourse_grader grade`` (Dask), one class.

A synthetic class of hw1 submissions (default 60: honest, partial, naive, blank, a few
hostile ones from tests/redteam and one endless loop) is laid out in two identical course
copies as ``nbgrader collect`` leaves it (submitted/<student>/hw1/ with the notebook and
timestamp.txt; one generate_assignment, the same gradebook and nbgrader_config.py). Then, in
this one run and with the same configuration:

1. ``nbgrader autograde hw1`` in the first copy (one process, one submission after another);
2. ``python -m emcourse_grader grade hw1 --workers 2`` in the second (a LocalCluster): a first
   run, whose queue knows nothing but notebook sizes, then ``--force`` to regrade the class
   with the queue ordered by each student's time in the first run (the costliest first).

Both are timed from the command's start to its exit (interpreter start, cluster start and
stop included). The benchmark checks that every student got the same score from both, then
prints seconds per submission, the speed-up, the engine's overhead per submission (wall
time not covered by the workers' grading: (wall - busy / workers) / N, where busy is the
time spent inside the grading tasks, from grading_summary/hw1.json) and projections.

    .venv/bin/python bench/bench_grading.py [--students 60] [--workers 2] [--keep DIR]

``--baseline DIR`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base
6cc9007``) compares this tree with that one instead, side by side in one run: a third copy
of the same class gets DIR's ``nbgrader_config.py`` and ``course.toml``, and serial
``nbgrader autograde`` grades both copies in chunks of ``--chunk`` students, alternating
trees chunk by chunk (which goes first alternates too), each with ``PYTHONPATH`` at its own
tree. nbgrader's start-up, timed alone for both trees and interleaved the same way, is taken
off each chunk. It prints the seconds per submission of each tree, their ratio (this tree /
DIR; target <= 0.40), the same scores check, and each tree's parallel speed-up on
``--workers`` (target >= 1.7), each tree's parallel command grading a copy of its own.

Every command is also measured in CPU seconds: the time the machine's cores were busy while
it ran (/proc/stat: nbgrader, Dask's workers, the sandboxes, everything), which says how much
of the cores a command keeps busy. Other work on the machine counts too: measure on an idle
machine (the load before and after each command is printed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import demo_class
from _common import machine

HW = "hw1"
NB = demo_class.ASSIGNMENTS[HW]
# A few hostile submissions, written here so that the benchmark does not depend on the
# red-team corpus's layout (tests/redteam/ is the place for the attacks and their checks).
HOSTILE = {
    "patch_tests": """# %% assign
import numpy.testing
np.allclose = np.isclose = np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
import builtins
builtins.AssertionError = type('AssertionError', (Warning,), {})
""",
    "tamper_cells": """# %% assign = solution
# %% update = solution
# %% fit = solution
# %% soft_assign = solution
# %% !edit test_assign
assert True
# %% !delete test_fit
""",
    "fake_results": """# %% assign
class Anything:
    def __eq__(self, other):
        return True
    __ne__ = __lt__ = __gt__ = __le__ = __ge__ = lambda self, other: True
    def __getattr__(self, name):
        return Anything()
    def __call__(self, *a, **k):
        return Anything()


def assign(X, centers):
    return Anything()
""",
    "snoop": """# %% assign
import os, glob
print(sorted(glob.glob('/work/*')), os.listdir('/'))
for p in glob.glob('/**/gradebook.db', recursive=True)[:3]:
    print(open(p, 'rb').read(100))
# %% update
import os
os._exit(3)
""",
}
# recipe -> share of the class (the rest is honest: the full solution)
MIX = [("partial.py", 10), ("naive.py", 8), ("warner.py", 6), ("blank", 4),
       ("cheater.py", 2), ("loop.py", 1)] + [(f"hostile:{name}", 1) for name in HOSTILE]


def recipes(n: int) -> list[str]:
    out = []
    for recipe, count in MIX:
        out += [recipe] * count
    out = out[:n]
    out += ["solution"] * (n - len(out))
    # spread them through the class as names would (not all hostile ones at the end)
    order = sorted(range(n), key=lambda i: (i * 37) % n)
    return [out[i] for i in order]


def build(base: Path, n: int) -> tuple[Path, Path, dict]:
    """Two identical collected courses of ``n`` submissions."""
    course = demo_class.copy_course(base / "serial", assignments=[HW])
    demo_class.nbgrader(course, "generate_assignment", HW, "--force", log=lambda *a: None)
    release = course / "assignments" / HW / f"{NB}.ipynb"
    solution = course / "solutions" / HW / f"{NB}.ipynb"
    hostile = base / "hostile"
    hostile.mkdir(exist_ok=True)
    for name, text in HOSTILE.items():
        (hostile / f"{name}.py").write_text(text)
    plan = {}
    stamp = datetime.datetime(2026, 11, 30, 12, 0, 0)
    for i, recipe in enumerate(recipes(n)):
        student = f"s{i:03d}"
        plan[student] = recipe
        folder = course / "submitted" / student / HW
        folder.mkdir(parents=True)
        shutil.copy2(release, folder / f"{NB}.ipynb")
        if recipe.startswith("hostile:"):  # an absolute path: SUBMISSIONS / hw / it
            recipe = str(hostile / f"{recipe.split(':', 1)[1]}.py")
        demo_class.fill_notebook(folder / f"{NB}.ipynb", solution, recipe, HW)
        ts = stamp + datetime.timedelta(seconds=i)
        (folder / "timestamp.txt").write_text(ts.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    other = base / "parallel"
    shutil.copytree(course, other)
    return course, other, plan


CPU = {"last": 0.0}  # CPU seconds the whole machine was busy during the last timed command


def machine_cpu() -> float:
    """CPU seconds (user, nice, system, interrupts) the machine has been busy since boot,
    from /proc/stat. A command's own children are not enough: the sandboxes end as orphans of
    their killed bubblewrap and the Dask workers are children of the forkserver, so neither
    reaches the command's ``RUSAGE_CHILDREN``; the machine's count sees them all, and other
    work on the machine too (measure on an idle one: the load is printed)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def timed(cmd, cwd, tree: Path = ROOT) -> float:
    """Wall seconds of ``cmd``; the CPU seconds the machine was busy meanwhile (nbgrader, the
    Dask processes, the sandboxes: :func:`machine_cpu`) in ``CPU["last"]``."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               PYTHONPATH=str(tree))
    start, cpu0 = time.perf_counter(), machine_cpu()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    CPU["last"] = machine_cpu() - cpu0
    with open(Path(cwd) / "bench.log", "a") as log:  # every command's output, in order
        log.write(f"$ {' '.join(map(str, cmd))}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(HW).submissions}


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def parallel_run(course: Path, workers: int, n: int, t_serial: float, label: str, *extra,
                 tree: Path = ROOT):
    """Grade with the Dask command; print its figures; (wall s, coordinator s, startup s)."""
    before = load()
    t_par = timed([sys.executable, "-m", "emcourse_grader", "grade", HW,
                   "--workers", str(workers), *extra], course, tree)
    cpu = CPU["last"]
    stats = json.loads((course / "grading_summary" / f"{HW}.json").read_text())
    busy = sum(o["seconds"] for o in stats["outcomes"])
    commit = stats["commit_seconds"]
    overhead = (t_par - busy / workers) / n
    print(f"parallel, {label} ({workers} workers): {t_par:.1f} s, {t_par / n:.2f} s per "
          f"submission (load before {before}, after {load()}); CPU {cpu:.1f} s, "
          f"{cpu / n:.2f} s per submission, {cpu / t_par:.2f} cores busy on average")
    print(f"  speed-up {t_serial / t_par:.2f} (target >= 1.7); engine overhead {overhead:.2f} s "
          f"per submission (target < 0.5); inside the tasks {busy / n:.2f} s per submission; "
          f"coordinator writes {commit / n * 1000:.0f} ms per submission; slowest task "
          f"{max(o['seconds'] for o in stats['outcomes']):.1f} s")
    return t_par, commit, stats.get("startup_seconds", 0.0)


def autograde(course: Path, tree: Path, students: list, everyone: list) -> float:
    """Seconds of one serial ``nbgrader autograde`` of these students (the others excluded;
    none: nbgrader's start-up alone) with ``tree`` first on the path."""
    others = ",".join(s for s in everyone if s not in set(students))
    return timed([sys.executable, "-m", "nbgrader", "autograde", HW,
                  f"--CourseDirectory.student_id_exclude={others}"], course, tree)


def side_by_side(args, base: Path, n: int) -> int:
    """This tree against ``args.baseline``: serial chunks interleaved, then this tree's
    parallel run; returns the exit code."""
    other = Path(args.baseline).resolve()
    for name in ("nbgrader_config.py", "course.toml", "emcourse_grader"):
        if not (other / name).exists():
            raise SystemExit(f"--baseline: {other} has no {name}; expected a checkout of "
                             "this repository")
    new, par, plan = build(base, n)
    old = base / "baseline"
    shutil.copytree(new, old)
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy2(other / name, old / name)
    students = sorted(plan)
    chunks = [students[i:i + args.chunk] for i in range(0, n, args.chunk)]
    trees = {"this": (ROOT, new), "baseline": (other, old)}
    startup = {k: [] for k in trees}
    spent = {k: 0.0 for k in trees}
    cpu = {k: 0.0 for k in trees}
    kinds = {}
    for r in plan.values():
        kinds[r] = kinds.get(r, 0) + 1
    print(f"class: {n} submissions of {HW} (" + ", ".join(
        f"{v} {k.split('/')[-1]}" for k, v in sorted(kinds.items())) + f"), in {len(chunks)} "
        f"chunks of up to {args.chunk}; this tree {ROOT}, baseline {other}")
    for i in range(2):  # start-up alone, interleaved
        for key in (("this", "baseline") if i % 2 == 0 else ("baseline", "this")):
            tree, course = trees[key]
            startup[key].append(autograde(course, tree, [], students))
    for i, chunk in enumerate(chunks):
        order = ("this", "baseline") if i % 2 == 0 else ("baseline", "this")
        line = []
        for key in order:
            tree, course = trees[key]
            t = autograde(course, tree, chunk, students)
            spent[key] += t
            cpu[key] += CPU["last"]
            line.append(f"{key} {t:.1f} s")
        print(f"  chunk {i + 1}/{len(chunks)} ({len(chunk)} students, load {load()}): "
              + ", ".join(line))
    per = {}
    for key in trees:
        s0 = min(startup[key])
        per[key] = (spent[key] - len(chunks) * s0) / n
        print(f"{key}: {spent[key]:.1f} s in all, start-up {s0:.1f} s per command "
              f"(runs: {', '.join(f'{x:.1f}' for x in startup[key])}), "
              f"{per[key]:.2f} s per submission without it, "
              f"{spent[key] / n:.2f} s with it; CPU {cpu[key] / n:.2f} s per submission "
              f"with start-up, {cpu[key] / spent[key]:.2f} cores busy on average")
    ratio = per["this"] / per["baseline"]
    print(f"serial time per submission, this tree / baseline: {ratio:.2f} (target <= 0.40); "
          f"with start-up: {spent['this'] / spent['baseline']:.2f}")
    a, b = scores(new), scores(old)
    same_trees = a == b and len(a) == n
    diff = {s: (a.get(s), b.get(s)) for s in set(a) | set(b) if a.get(s) != b.get(s)}
    print(f"same scores from both trees for all {n}: {same_trees}"
          + (f" (differences: {diff})" if diff else ""))
    # Each tree's whole class serially: the chunks less the start-ups of all but one.
    serial_t = {k: spent[k] - (len(chunks) - 1) * min(startup[k]) for k in trees}
    # Each tree's parallel command on a copy of its own, this tree first, then the baseline.
    par_old = base / "parallel-baseline"
    shutil.copytree(par, par_old)
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy2(other / name, par_old / name)
    ok = same_trees
    for key, course in (("this", par), ("baseline", par_old)):
        parallel_run(course, args.workers, n, serial_t[key], f"first run, {key} tree",
                     tree=trees[key][0])
        same_par = scores(course) == (a if key == "this" else b)
        print(f"same scores serial and parallel ({key} tree): {same_par}")
        ok = ok and same_par
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", default=None, help="build the courses here and keep them")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="a checkout of an earlier commit to compare this tree with")
    ap.add_argument("--chunk", type=int, default=5,
                    help="with --baseline: students per serial command")
    args = ap.parse_args(argv)
    base = Path(args.keep or tempfile.mkdtemp(prefix="emcourse-bench-grading-"))
    if base.exists() and args.keep:
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    n = args.students
    print(f"machine: {machine()}; load before: {load()}")
    if args.baseline:
        try:
            return side_by_side(args, base, n)
        finally:
            print(f"courses in {base}" if args.keep else "")
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
    serial, par, plan = build(base, n)
    kinds = {}
    for r in plan.values():
        kinds[r] = kinds.get(r, 0) + 1
    print(f"class: {n} submissions of {HW}: " +
          ", ".join(f"{v} {k.split('/')[-1]}" for k, v in sorted(kinds.items())))

    load_serial = load()
    t_serial = timed([sys.executable, "-m", "nbgrader", "autograde", HW], serial)
    print(f"serial nbgrader autograde: {t_serial:.1f} s, {t_serial / n:.2f} s per submission "
          f"(load before {load_serial}, after {load()}); CPU {CPU['last']:.1f} s, "
          f"{CPU['last'] / n:.2f} s per submission, {CPU['last'] / t_serial:.2f} cores busy "
          f"on average")
    # The first run has no history, so its queue is ordered by notebook size only; the
    # --force regrade orders it by each student's time in the first run (the costliest
    # first), which is what a course sees from its second run of an assignment on.
    runs = [parallel_run(par, args.workers, n, t_serial, "first run"),
            parallel_run(par, args.workers, n, t_serial, "regrade --force", "--force")]
    t_par, commit, startup = runs[0]

    a, b = scores(serial), scores(par)
    same = a == b and len(a) == n
    diff = {s: (a.get(s), b.get(s)) for s in set(a) | set(b) if a.get(s) != b.get(s)}
    print(f"same scores for all {n} submissions: {same}" + (f" (differences: {diff})"
                                                           if diff else ""))
    per = t_par / n
    for m in (1, 4, 16):
        total = max(1500 * per / m, 1500 * commit / n) + startup
        print(f"projected 500 students x 3 homeworks on {m:2d} machine(s) of this size: "
              f"{total / 60:.0f} min (serial on one: {1500 * t_serial / n / 60:.0f} min)")
    print(f"courses in {base}" if args.keep else "")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
