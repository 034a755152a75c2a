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


def record_sandboxes(monkeypatch) -> dict:
    """From now on, the uids and scratch directories of every sandbox this process starts
    (other graders may run beside a test; theirs are not the test's to count)."""
    seen = {"uids": set(), "scratch": set()}
    init, make = sandbox.Sandboxed.__init__, sandbox.make_scratch

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        seen["uids"].add(self.uid)

    def recording_make(*args, **kwargs):
        path = make(*args, **kwargs)
        seen["scratch"].add(str(path))
        return path

    monkeypatch.setattr(sandbox.Sandboxed, "__init__", recording_init)
    monkeypatch.setattr(sandbox, "make_scratch", recording_make)
    return seen


def sandbox_leftovers(made: dict) -> list:
    """What of the sandboxes :func:`record_sandboxes` saw is still there: processes of their
    uids, cgroups this process made, their scratch directories and mounts."""
    import os
    from pathlib import Path

    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(status.split("Uid:")[1].split()[0])
        if uid in made["uids"]:
            found.append(f"process {pid} of uid {uid}")
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs
                  if d.startswith(f"emcourse-{os.getpid()}-")]
        if root.count("/") > 6:
            dirs[:] = []
    mounted = {line.split()[4] for line in
               Path("/proc/self/mountinfo").read_text().splitlines()}
    found += [f"scratch {p}" for p in made["scratch"] if os.path.exists(p)]
    found += [f"mount {p}" for p in made["scratch"] & mounted]
    return found


def part_verdicts(nb, parts) -> dict:
    """grade_id -> '' (passed) or the failure's message, for the graded ``parts``."""
    out = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in parts:
            out[gid] = " ".join(str(o.get("evalue", "")) for o in cell.outputs
                                if o.get("output_type") == "error")
    return out
