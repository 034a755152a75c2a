"""The checks' problems are drawn per submission (emcourse_grader.checks.secret, "salted").

A check's seed is the course's (from the secret, or pinned for a Dask worker) salted with the
digest of the submitted notebook's cell sources, as :class:`TrustedGrade` sees them. So:

- the digest depends on the cells' types and sources in order, not on outputs, execution
  counts or metadata; the salt changes every check's seed, the same digest gives the same
  seeds, and a pinned base seed salts as the derived one does (the parallel path);
- through the real sandboxed grading (TrustedGrade on hw1's first part): the same
  submission graded twice is given the same problems; one comment more, other ones;
- the attack this closes: submission A records the hidden inputs of ``assign`` and prints
  them, with the answers, into its feedback; submission B hands in that table. Before the
  salt, B drew A's problems and scored full marks; now it scores 0 for ``assign``.

Serial ``nbgrader autograde`` and parallel grading draw the same salted problems:
tests/test_check_secrecy.py (the Dask worker test).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from sandbox_helpers import needs_bwrap, trusted_grade
from solution_helpers import solution

from emcourse_grader.checks import CHECKS, secret, verify

ROOT = Path(__file__).resolve().parent.parent
SECRET = "course-salt-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv(secret.ENV, SECRET)


def _cells(*sources):
    return [nbformat.v4.new_code_cell(s) if i % 2 == 0 else nbformat.v4.new_markdown_cell(s)
            for i, s in enumerate(sources)]


# --------------------------------------------------------------------------------------------
# The digest and the salt
# --------------------------------------------------------------------------------------------

def test_the_digest_is_the_cells_sources_not_their_outputs_or_metadata():
    cells = _cells("x = 1\nprint(x)", "# Notes", "y = 2")
    first = secret.digest(cells)
    rerun = _cells("x = 1\nprint(x)", "# Notes", "y = 2")
    rerun[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    rerun[0].execution_count, rerun[2].execution_count = 7, 8
    rerun[1].metadata["collapsed"] = True
    assert secret.digest(rerun) == first  # the same work, run again
    as_lines = [{"cell_type": "code", "source": ["x = 1\n", "print(x)"]},
                {"cell_type": "markdown", "source": "# Notes"},
                {"cell_type": "code", "source": "y = 2"}]
    assert secret.digest(as_lines) == first  # a source saved as a list of lines
    for other in (_cells("x = 1\nprint(x)", "# Notes", "y = 2  # a comment"),
                  _cells("x = 1\nprint(x)", "# Notes!", "y = 2"),
                  _cells("y = 2", "# Notes", "x = 1\nprint(x)"),
                  _cells("x = 1\nprint(x)# Notes", "", "y = 2"),
                  [nbformat.v4.new_markdown_cell(c.source) for c in cells]):
        assert secret.digest(other) != first
    with pytest.raises(TypeError, match="cells must be"):
        secret.digest("x = 1")
    with pytest.raises(TypeError, match=r"cells\[1\] must be a cell"):
        secret.digest([cells[0], 42])
    with pytest.raises(TypeError, match=r"cells\[0\] must have a string cell_type"):
        secret.digest([{"cell_type": "code", "source": 3}])


def test_a_salt_changes_every_seed_and_the_same_salt_gives_the_same():
    base = secret.seeds(CHECKS)
    a, b = secret.digest(_cells("x = 1")), secret.digest(_cells("x = 1  # mine"))

    def seeds_under(salt):
        with secret.salted(salt):
            return {name: secret.seed_of(name, spec.assignment) for name, spec in CHECKS.items()}
    assert seeds_under(None) == base  # no salt: the seeds as before
    under_a = seeds_under(a)
    assert under_a == seeds_under(a)
    assert all(under_a[n] != base[n] for n in base)
    assert all(under_a[n] != v for n, v in seeds_under(b).items())
    assert {secret.seed_of(n, s.assignment) for n, s in CHECKS.items()} == set(base.values())
    with secret.pinned(base):  # a Dask worker: the pinned seeds salt as the derived ones
        assert seeds_under(a) == under_a
    with pytest.raises(TypeError, match="salt_digest must be non-empty bytes"), \
            secret.salted("abc"):
        pass
    with pytest.raises(TypeError, match="seed must be an int"):
        secret.salt("1", a)


def test_a_lookup_table_recorded_under_one_salt_scores_nothing_under_another():
    """The checks on their own: what a check hands a recorder under submission A's salt is
    no help to submission B."""
    a, b = secret.digest(_cells("A")), secret.digest(_cells("B"))
    for check in ("kmeans.assign", "gmm.e_step", "hmm.forward"):
        table: dict = {}
        honest = solution(check)

        def record(*args, _fn=honest, _table=table):
            out = _fn(*args)
            _table[repr([getattr(x, "tobytes", lambda x=x: repr(x))() for x in args])] = out
            return out

        def answer(*args, _table=table):
            return _table.get(repr([getattr(x, "tobytes", lambda x=x: repr(x))()
                                    for x in args]))
        with secret.salted(a):
            assert verify(check, record).passed
            assert verify(check, answer).passed, check  # the same submission: same problems
        with secret.salted(b):
            assert not verify(check, answer).passed, check


# --------------------------------------------------------------------------------------------
# Through the real sandboxed grading
# --------------------------------------------------------------------------------------------

RECORD = '''

import hashlib
import json

_seen = {}


def _key(*arrays):
    return hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=float).tobytes()
                                   for a in arrays)).hexdigest()


_honest_assign = assign


def assign(X, centers):
    out = _honest_assign(X, centers)
    _seen[_key(X, centers)] = [int(v) for v in out]
    return out
'''

LEAK = 'print("TABLE" + json.dumps(_seen))'

LOOKUP = '''import hashlib

import numpy as np

TABLE = {table!r}


def assign(X, centers):
    key = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=float).tobytes()
                                  for a in (X, centers))).hexdigest()
    return np.array(TABLE.get(key, []), dtype=int)
'''


def _hw1_start() -> list:
    """hw1's cells up to the test of ``assign``, as the solution has them."""
    sol = nbformat.read(ROOT / "solutions" / "hw1" / "hw1_kmeans.ipynb", as_version=4)
    cells = []
    for c in sol.cells:
        new = (nbformat.v4.new_code_cell if c.cell_type == "code"
               else nbformat.v4.new_markdown_cell)
        cells.append(new(c.source, metadata=dict(c.metadata)))
        if c.metadata.get("nbgrader", {}).get("grade_id") == "test_assign":
            return cells
    raise AssertionError("hw1 has no test_assign")


def _grade(cells, tmp_path):
    """Grade the notebook ``cells`` with TrustedGrade (the real sandbox); return the table
    its last cell printed (or None) and the verdict of ``test_assign`` ([] if it passed)."""
    nb = trusted_grade(nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells]),
                       tmp_path / "report.csv")
    printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    table = json.loads(printed.split("TABLE", 1)[1]) if "TABLE" in printed else None
    verdict = next(c.outputs for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "test_assign")
    return table, verdict


def _recording(extra="") -> list:
    cells = _hw1_start()
    for c in cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "assign":
            c.source += RECORD + extra
    return cells + [nbformat.v4.new_code_cell(LEAK)]


@pytest.fixture(scope="module")
def submission_a(tmp_path_factory):
    """Submission A, graded once: it passes, and its feedback holds every input its assign
    was called with (visible and hidden) and the answers."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse fixture
        mp.setenv(secret.ENV, SECRET)
        cells = _recording()
        table, verdict = _grade(cells, tmp_path_factory.mktemp("a"))
    assert verdict == [] and table, (verdict, table)
    return cells, table


@needs_bwrap
def test_the_same_submission_gets_the_same_problems_one_comment_more_others(submission_a,
                                                                             tmp_path):
    cells, table = submission_a
    again, verdict = _grade(cells, tmp_path)
    assert verdict == [] and again == table  # a regrade: the same problems
    other, verdict = _grade(_recording("\n# one comment more\n"), tmp_path)
    assert verdict == []
    shared = set(other) & set(table)  # the visible test's fixed inputs
    assert shared and len(table) - len(shared) == 3  # the three hidden problems differ
    assert len(other) == len(table)


@needs_bwrap
def test_a_table_of_the_problems_an_earlier_submission_leaked_scores_zero(submission_a,
                                                                          tmp_path):
    """Submission B = A with its assign replaced by the table A's feedback showed. Without
    the salt, B drew A's problems and got assign's points; now its problems are its own."""
    cells, table = submission_a
    b = [nbformat.from_dict(dict(c)) for c in cells]
    for c in b:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "assign":
            c.source = LOOKUP.format(table=table)
    _, verdict = _grade(b, tmp_path)
    assert verdict and verdict[0]["output_type"] == "error", verdict  # 0 for assign
    assert "assign" in verdict[0]["evalue"]
