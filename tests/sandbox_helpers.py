"""Running code in the real grading sandbox, for the test modules that need it
(test_sandbox, test_sandbox_boundary, test_check_secrecy). Test modules import nothing from
each other (tests/test_emref_hygiene.py checks it): what they share lives here."""

import json
import subprocess
import sys
import textwrap

import pytest

from emcourse_grader import sandbox
from emcourse_grader.sandbox import Limits, Sandboxed, make_scratch, remove_scratch

DEFAULT = Limits()
needs_bwrap = pytest.mark.skipif(bool(sandbox.availability()),
                                 reason=f"no sandbox here: {sandbox.availability()}")

PRELUDE = textwrap.dedent("""
    import errno, json, os, sys
    _out = {}
    def report(**kw):
        _out.update(kw)
        sys.stdout.write(json.dumps(_out) + "\\n")
        sys.stdout.flush()
    def attempt(fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
            return "ok"
        except BaseException as exc:
            return type(exc).__name__ + ": " + str(exc)[:200]
""")


def run_inside(code: str, *, limits: Limits = DEFAULT, scratch=None, timeout=60,
               prelude: str = "", stdin=None, before=None) -> dict:
    """Run ``code`` in the sandbox; it reports through ``report(**values)`` (JSON lines on
    stdout) and may use ``attempt(fn, *args)``. ``prelude``: more code run first (helpers of
    the caller's); ``before(box)`` runs once the sandbox started, and ``stdin`` bytes are sent
    then. Returns the last report, plus "_rc" and "_stderr"."""
    own = scratch is None
    scratch = make_scratch(limits) if own else scratch
    try:
        with Sandboxed([sys.executable, "-c", PRELUDE + prelude + textwrap.dedent(code)],
                       scratch=scratch, limits=limits, stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) as box:
            if before is not None:
                before(box)
            try:
                out, err = box.proc.communicate(stdin or b"", timeout=timeout)
            except subprocess.TimeoutExpired:
                box.kill()
                out, err = box.proc.communicate()
            rc = box.proc.returncode
    finally:
        if own:
            remove_scratch(scratch)
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    values = json.loads(lines[-1]) if lines else {}
    values.update(_rc=rc, _stderr=err.decode(errors="replace")[-2000:])
    return values


def trusted_grade(nb, report, *, assignment="hw1", notebook="hw1_kmeans", cell_timeout=60.0,
                  timeout=30.0, notebook_timeout=240.0, **config):
    """``nb`` graded by TrustedGrade alone (the real sandbox), as autograde's last step would,
    its test cells' sources taken from the notebook itself; returns the graded notebook.
    ``config``: more of TrustedGrade's settings (its limits: ``memory_mb``, ``disk_mb``...)."""
    from emcourse_grader import preprocessors

    sources = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
               if "nbgrader" in c.metadata}
    resources = {"nbgrader": {"student": "s", "assignment": assignment, "notebook": notebook,
                              "db_url": "sqlite://"},
                 preprocessors.META: {"flags": [], "sources": sources}}
    grade = preprocessors.TrustedGrade(cell_timeout=cell_timeout, timeout=timeout,
                                       notebook_timeout=notebook_timeout,
                                       report_file=str(report), **config)
    return grade.preprocess(nb, resources)[0]
