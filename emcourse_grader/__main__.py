"""``python -m emcourse_grader grade hwN [hwM ...] [--workers N | --scheduler ADDRESS]
[--student ID ...] [--force]``: grade a class in parallel on Dask (emcourse_grader.parallel),
in the course root; several assignments share one cluster and one queue.

``python -m emcourse_grader doctor [--root DIR] [--student-python PYTHON]``: audit the
deployment (emcourse_grader.doctor).

Arguments of the form ``--Class.trait=value`` are handed to nbgrader's configuration as they
would be on ``nbgrader autograde``'s command line (e.g. ``--CourseDirectory.db_url=...``).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emcourse_grader",
                                 description="Instructor commands of emcourse_grader.")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser(
        "grade", help="autograde every collected submission of an assignment in parallel",
        description="Grade every collected submission of an assignment, in the course root, "
        "with the same result as `nbgrader autograde ASSIGNMENT` (scores, autograded "
        "notebooks, integrity report), in parallel on Dask. Only missing or changed "
        "submissions are graded unless --force is given. Several assignments are graded "
        "in one run: one cluster, one queue (the costliest submissions first).")
    g.add_argument("assignment", nargs="+", help="the assignment id(s), e.g. hw1 hw2")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local cluster (default: one per core)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                       "(every worker needs bubblewrap and the course's environment)")
    g.add_argument("--student", nargs="+", default=None, metavar="ID",
                   help="grade only these students")
    g.add_argument("--force", action="store_true",
                   help="grade again even the submissions graded already and unchanged")
    g.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time one submission may take on a worker before it counts as hung "
                   "(default: the notebook budgets of SafeExecute and TrustedGrade + 300 s)")
    g.add_argument("--root", default=".", help="the course directory (default: here)")
    g.add_argument("--no-summary", action="store_true",
                   help="no grade table, report or picture at the end")
    d = sub.add_parser(
        "doctor", help="audit this deployment and name each problem with its fix",
        description="Check the course root, collected submissions, the exchange, home "
        "folders, the students' environment, the sandbox, the grading cluster's TLS and the "
        "gradebook. Changes nothing; exits 1 when anything is unsafe or broken.")
    d.add_argument("--root", default=".", help="the course directory (default: here)")
    d.add_argument("--student-python", action="append", metavar="PYTHON",
                   help="the interpreter the students' kernels use (repeatable)")
    d.add_argument("--verbose", action="store_true", help="list what passed too")
    d.add_argument("--json", action="store_true", help="the findings as JSON")
    args, extra = ap.parse_known_args(argv)
    if args.command == "doctor":
        if extra:
            ap.error(f"unrecognized arguments: {' '.join(extra)}")
        from . import doctor

        return doctor.main(args)
    bad = [a for a in extra if not (a.startswith("--") and "." in a.split("=")[0])]
    if bad:
        ap.error(f"unrecognized arguments: {' '.join(bad)}")
    from . import course
    from .parallel import grade_all

    # The local Dask workers grade in scratch directories outside the course: they find its
    # manifest (course.toml), and so its checks modules, through this variable.
    os.environ[course.ENV] = os.path.abspath(args.root)
    try:
        runs = grade_all(args.assignment, root=args.root, workers=args.workers,
                         scheduler=args.scheduler, students=args.student, force=args.force,
                         timeout=args.timeout, summary=not args.no_summary, extra_args=extra)
    except KeyboardInterrupt:
        return 130
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
