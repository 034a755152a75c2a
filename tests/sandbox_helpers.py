"""Running code in the real grading sandbox, for the test modules that need it
(test_sandbox, test_sandbox_boundary, test_check_secrecy). Test modules import nothing from
each other (tests/test_emref_hygiene.py checks it): what they share lives here."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from emcourse_grader import sandbox
from emcourse_grader.sandbox import Limits, Sandboxed, make_scratch

DEFAULT = Limits()
needs_bwrap = pytest.mark.skipif(bool(sandbox.availability()),
                                 reason=f"no sandbox here: {sandbox.availability()}")


def run_inside(code: str, *, limits: Limits = DEFAULT, scratch=None, timeout=60) -> dict:
    """Run ``code`` in the sandbox; it reports through ``report(**values)`` (JSON on
    stdout). Returns the values, plus "_rc" and "_stderr"."""
    prelude = textwrap.dedent("""
        import json, os, sys
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
    own = scratch is None
    scratch = make_scratch() if own else scratch
    try:
        with Sandboxed([sys.executable, "-c", prelude + textwrap.dedent(code)],
                       scratch=scratch, limits=limits, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) as box:
            try:
                out, err = box.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                box.kill()
                out, err = box.proc.communicate()
            rc = box.proc.returncode
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    values = json.loads(lines[-1]) if lines else {}
    values.update(_rc=rc, _stderr=err.decode(errors="replace")[-2000:])
    return values
