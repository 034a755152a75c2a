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
