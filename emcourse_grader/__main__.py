"""``python -m emcourse_grader grade hwN [hwM ...] [--workers N | --scheduler tls://ADDRESS
[--tls-ca-file CA --tls-cert CERT --tls-key KEY]] [--student ID ...] [--force]``: grade a class
in parallel on Dask (emcourse_grader.parallel), in the course root; several assignments share
one cluster and one queue. The cluster requires TLS client certificates (emcourse_grader.cluster).

``python -m emcourse_grader certs DIR``: a certificate authority and the scheduler's, workers'
and client's certificates and keys for a cluster of several machines.

``python -m emcourse_grader serve [--workers N | --scheduler tls://ADDRESS ...]``: grade
submissions as they arrive and release each student's feedback to them
(emcourse_grader.serve; docs/teaching.md, "Feedback in a minute").

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
    _cluster_options(g)
    g.add_argument("--student", nargs="+", default=None, metavar="ID",
                   help="grade only these students")
    g.add_argument("--force", action="store_true",
                   help="grade again even the submissions graded already and unchanged")
    g.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time one submission may take on a worker before it counts as hung "
                   "(default: TrustedGrade's notebook budget + 300 s)")
    g.add_argument("--root", default=".", help="the course directory (default: here)")
    g.add_argument("--no-summary", action="store_true",
                   help="no grade table, report or picture at the end")
    sv = sub.add_parser(
        "serve", help="grade submissions as they arrive; release each student's feedback",
        description="A long-running grader: notices each new submission in the exchange, "
        "collects and grades it on Dask (TLS) like `grade`, writes the gradebook and releases "
        "the feedback to that student alone, by each assignment's policy in course.toml.")
    _cluster_options(sv)
    sv.add_argument("--root", default=".", help="the course directory (default: here)")
    sv.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the "
                    "exchange when idle (default: 2)")
    sv.add_argument("--assignments", nargs="+", default=None, metavar="ID",
                    help="serve only these assignments (default: all of course.toml)")
    sv.add_argument("--instructors", default="", metavar="NAME[,NAME]",
                    help="hub users who may see the live page (run as a hub service)")
    sv.add_argument("--until-idle", action="store_true",
                    help="stop once nothing is left to grade (for scripts and tests)")
    d = sub.add_parser(
        "doctor", help="audit this deployment and name each problem with its fix",
        description="Check the course root, collected submissions, the exchange, home "
        "folders, the students' environment, the sandbox, the grading cluster's TLS, the "
        "gradebook and the Formgrader. Changes nothing; exits 1 when anything is unsafe or "
        "broken.")
    d.add_argument("--root", default=".", help="the course directory (default: here)")
    d.add_argument("--student-python", action="append", metavar="PYTHON",
                   help="the interpreter the students' kernels use (repeatable)")
    d.add_argument("--server-url", metavar="URL", help="the instructor's Jupyter server, "
                   "whose Formgrader page is checked (default: this terminal's server, from "
                   "the hub's variables; with $JUPYTERHUB_API_TOKEN as the token)")
    d.add_argument("--verbose", action="store_true", help="list what passed too")
    d.add_argument("--json", action="store_true", help="the findings as JSON")
    c = sub.add_parser(
        "certs", help="write TLS certificates for a Dask cluster of several machines",
        description="Write into DIR a certificate authority (ca.pem; its private key is not "
        "kept) and a certificate and key signed by it for the scheduler (scheduler.pem, "
        "scheduler.key), the workers (worker.pem, worker.key) and the grading client "
        "(client.pem, client.key), every file readable by its owner alone. Whoever holds "
        "one of the keys can run code on the cluster: copy worker.* and ca.pem to the "
        "worker machines only. docs/teaching.md shows the commands.")
    c.add_argument("directory", metavar="DIR", help="created if missing; must not hold "
                   "these files yet")
    c.add_argument("--days", type=int, default=365, help="validity (default: 365 days)")
    args, extra = ap.parse_known_args(argv)
    if args.command == "doctor":
        if extra:
            ap.error(f"unrecognized arguments: {' '.join(extra)}")
        from . import doctor

        return doctor.main(args)
    if args.command == "certs":
        if extra:
            ap.error(f"unrecognized arguments: {' '.join(extra)}")
        return _certs(args.directory, args.days)
    bad = [a for a in extra if not (a.startswith("--") and "." in a.split("=")[0])]
    if bad:
        ap.error(f"unrecognized arguments: {' '.join(bad)}")
    hold = _hold_course(args) if args.command == "grade" else None
    if args.command == "grade" and hold is None:
        return 1
    from . import cluster, course

    if args.command == "grade" and args.scheduler is None:
        cluster.start_forkserver()  # its imports beside the coordinator's (a local cluster)
    security = None
    tls_files = (args.tls_ca_file, args.tls_cert, args.tls_key)
    if args.scheduler is None:
        if any(f is not None for f in tls_files):
            ap.error("--tls-ca-file, --tls-cert and --tls-key are for --scheduler: the local "
                     "cluster makes its own certificate for each run")
    else:
        try:
            cluster.check_scheduler_address(args.scheduler)
            security = cluster.client_security(*tls_files)
        except ValueError as e:
            ap.error(str(e))

    if args.command == "serve":
        from .serve import service

        args.security, args.extra = security, extra
        return service.main(args)
    from .doctor import warn_open_root
    from .parallel import grade_all

    warn_open_root(args.root)  # doctor's "unsafe" for a course root other users can read

    # The local Dask workers grade in scratch directories outside the course: they find its
    # manifest (course.toml), and so its checks modules, through this variable.
    os.environ[course.ENV] = os.path.abspath(args.root)
    try:
        runs = grade_all(args.assignment, root=args.root, workers=args.workers,
                         scheduler=args.scheduler, security=security,
                         students=args.student, force=args.force, timeout=args.timeout,
                         summary=not args.no_summary, extra_args=extra)
    except KeyboardInterrupt:
        return 130
    finally:
        hold.release()
    return 1 if any(run.failed for run in runs) else 0


def _hold_course(args):
    """The writer locks of its assignments for this whole ``grade`` run
    (emcourse_grader.course_lock),
    taken before anything starts: its Holding, or None (the refusal printed) when another
    grading command holds it."""
    from .course_lock import CourseBusy, acquire

    command = "python -m emcourse_grader grade " + " ".join(args.assignment)
    if args.student:
        command += " --student " + " ".join(args.student)
    try:
        return acquire(args.root, command, args.assignment)
    except (CourseBusy, ValueError) as e:
        print(f"grade: {e}", file=sys.stderr)
        return None


def _cluster_options(parser) -> None:
    """--workers | --scheduler ADDRESS with its TLS files (grade and serve)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local cluster (default: one per core)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of an existing Dask scheduler with TLS, e.g. "
                       "tls://10.0.0.5:8786 (tcp:// is refused; every worker needs bubblewrap "
                       "and the course's environment)")
    tls = parser.add_argument_group(
        "TLS for --scheduler", "the client's certificate, as `dask worker` takes its own "
        "(files from `python -m emcourse_grader certs DIR`); each one not given comes from "
        "Dask's configuration: distributed.comm.tls.ca-file, .client.cert, .client.key")
    tls.add_argument("--tls-ca-file", default=None, metavar="CA",
                     help="the certificate authority of the cluster, e.g. DIR/ca.pem")
    tls.add_argument("--tls-cert", default=None, metavar="CERT",
                     help="the client's certificate, e.g. DIR/client.pem")
    tls.add_argument("--tls-key", default=None, metavar="KEY",
                     help="the client's private key, e.g. DIR/client.key")


def _certs(directory: str, days: int) -> int:
    """``certs DIR``: write the files and say how to use them."""
    from .cluster import write_certificates

    try:
        paths = write_certificates(directory, days=days)
    except (FileExistsError, ValueError) as e:
        print(f"certs: {e}", file=sys.stderr)
        return 2
    d = os.path.abspath(directory)
    for p in paths.values():
        print(p)
    print(f"""
On the instructor's machine (the scheduler; copy {d}/ca.pem, worker.pem and worker.key
to each worker machine, e.g. into the same directory):
  dask scheduler --no-dashboard --tls-ca-file {d}/ca.pem \\
      --tls-cert {d}/scheduler.pem --tls-key {d}/scheduler.key
On each worker machine:
  dask worker tls://SCHEDULER-HOST:8786 --nworkers auto --nthreads 1 --memory-limit 0 \\
      --no-dashboard --tls-ca-file {d}/ca.pem --tls-cert {d}/worker.pem --tls-key {d}/worker.key
In the course root:
  python -m emcourse_grader grade hw1 --scheduler tls://SCHEDULER-HOST:8786 \\
      --tls-ca-file {d}/ca.pem --tls-cert {d}/client.pem --tls-key {d}/client.key""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
