"""Checks a student cannot predict, nor make the grader reveal, nor pass without the work.

- the random problems come from the course's secret (emcourse_grader.checks.secret): the same
  secret draws the same problems, another secret other ones, and a "lookup table" answer
  recorded under one secret scores nothing under another; the file is made 0600 on first use
  and a Dask task carries the seeds (pinned), not the secret;
- a student's exception is quoted as one short line, through the real sandboxed worker
  (emcourse_grader.judge), however long the message it raised with the problem in it;
- scipy.cluster (kmeans2, vq) is absent in the real sandbox, scipy.stats, scipy.special and
  scipy.spatial.distance are there, and the scan reports the import;
- the fit checks take only a history that is a real run: a one-value or made-up history
  fails with a message that says what is expected; honest variants pass;
- through parallel grading on a real Dask worker whose machine has another secret, the
  worker draws the coordinator's problems (the seeds travel in the task), the very problems
  serial ``nbgrader autograde`` draws for the same submission (both salt the seeds with the
  submission's cells alike; tests/test_salted_problems.py has the salt itself).
"""

from __future__ import annotations

import hashlib
import os
import stat

import numpy as np
import pytest
from sandbox_helpers import needs_bwrap, run_inside
from solution_helpers import NS, solution

from emcourse_grader import judge, scan
from emcourse_grader.checks import CHECKS, secret, verify
from emcourse_grader.checks._common import QUOTE_TEXT, QUOTE_TYPE
from emref import gmm, kmeans
from emref.params import GMMParams

SECRET_A = "course-A-secret-0123456789abcdef"
SECRET_B = "course-B-secret-fedcba9876543210"


# --------------------------------------------------------------------------------------------
# A student who records the problems, and one who answers from the records
# --------------------------------------------------------------------------------------------

def _key(args, kwargs) -> str:
    """A fingerprint of the arguments a check passed (arrays by their bytes)."""
    h = hashlib.sha256()

    def feed(v):
        if isinstance(v, np.ndarray):
            h.update(f"nd{v.shape}{v.dtype}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif hasattr(v, "weights") and hasattr(v, "covariances"):
            feed((v.weights, v.means, v.covariances))
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                feed(x)
            h.update(b"]")
        else:
            h.update(repr(v).encode())
    feed(tuple(args))
    feed(tuple(sorted(kwargs.items())))
    return h.hexdigest()


def recorder(fn, table):
    """The honest function, recording each problem and the answer (the work done at home)."""
    def record(*args, **kwargs):
        out = fn(*args, **kwargs)
        table[_key(args, kwargs)] = out
        return out
    return record


def lookup(table):
    """The handed-in "answer": the recorded answer of a problem it has seen, else nothing."""
    def answer(*args, **kwargs):
        return table.get(_key(args, kwargs))
    return answer


def problems(check, monkeypatch, value) -> set:
    monkeypatch.setenv(secret.ENV, value)
    table: dict = {}
    assert verify(check, recorder(solution(check), table)).passed
    return set(table)


def test_the_same_secret_draws_the_same_problems_another_secret_others(monkeypatch):
    for check in ("kmeans.assign", "gmm.e_step", "hmm.forward"):
        first = problems(check, monkeypatch, SECRET_A)
        assert first and first == problems(check, monkeypatch, SECRET_A)
        assert not first & problems(check, monkeypatch, SECRET_B), check
    seeds_a = secret.seeds(CHECKS, SECRET_A.encode())
    seeds_b = secret.seeds(CHECKS, SECRET_B.encode())
    assert len(set(seeds_a.values())) == len(CHECKS)  # every check its own seed
    assert not set(seeds_a.values()) & set(seeds_b.values())
    assert seeds_a == secret.seeds(CHECKS, SECRET_A.encode())


def test_a_lookup_table_recorded_under_one_secret_scores_nothing_under_another(monkeypatch):
    monkeypatch.setenv(secret.ENV, SECRET_A)
    tables = {check: {} for check in CHECKS}
    for check, table in tables.items():
        assert verify(check, recorder(solution(check), table)).passed, check
        assert verify(check, lookup(table)).passed, check  # the same course: full marks
    monkeypatch.setenv(secret.ENV, SECRET_B)
    for check, table in tables.items():
        v = verify(check, lookup(table))
        assert not v.passed, check
        assert v.message.startswith(f"`{CHECKS[check].function}`") or \
            f"`{CHECKS[check].function}`" in v.message, v.message


def test_a_grading_task_draws_from_its_pinned_seeds_not_the_local_secret(monkeypatch):
    """What a Dask worker does (parallel._grade): the coordinator's seeds, whatever secret
    the worker's machine has or lacks."""
    monkeypatch.setenv(secret.ENV, SECRET_A)
    check = "kmeans.update"
    under_a = problems(check, monkeypatch, SECRET_A)
    pinned = secret.seeds(CHECKS)
    monkeypatch.setenv(secret.ENV, SECRET_B)
    table: dict = {}
    with secret.pinned(pinned):
        assert verify(check, recorder(solution(check), table)).passed
    assert set(table) == under_a
    with pytest.raises(KeyError, match="no seed was pinned"), secret.pinned({}):
        verify(check, solution(check))


def test_the_secret_file_is_made_private_on_first_use_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv(secret.ENV)
    first = secret.load(tmp_path)
    file = secret.path(tmp_path)
    assert file == tmp_path / ".emcourse" / "secret"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert len(first) >= 32 and secret.load(tmp_path) == first
    other = tmp_path / "other"
    assert secret.load(other) != first  # two courses, two secrets
    os.chmod(file, 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        secret.load(tmp_path)
    monkeypatch.setenv(secret.ENV, "short")
    with pytest.raises(ValueError, match="EMCOURSE_SECRET"):
        secret.load(tmp_path)


def test_the_repository_ignores_the_secret():
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["git", "check-ignore", "-q", ".emcourse/secret"], cwd=root, check=True)


# --------------------------------------------------------------------------------------------
# A student's exception: one short line, through the real sandboxed worker
# --------------------------------------------------------------------------------------------

LEAKY = '''
import numpy as np

class Leak_0123456789_abcdefghij_0123456789_abcdefghij_0123456789_abcdef(Exception):
    pass

def dump(*args):
    text = "\\n".join(repr(np.asarray(a).tolist()) for a in args)
    return (text * (1 + 5000 // len(text)))[:5000]

def assign(X, centers):
    raise ValueError(dump(X, centers))

def update(X, labels, k):
    raise Leak_0123456789_abcdefghij_0123456789_abcdefghij_0123456789_abcdef(dump(X, labels))
'''


@pytest.fixture(scope="module")
def leaky_worker():
    worker = judge.Worker(call_timeout=30, budget=120)
    try:
        assert worker.exec_cell(0, LEAKY).get("ok")
        yield worker
    finally:
        worker.close()


def _quoted(message: str, name: str) -> str:
    head = f"`{name}` raised "
    assert message.startswith(head), message
    return message[len(head):message.index(" when called with")]


@needs_bwrap
@pytest.mark.parametrize("check", ["kmeans.assign", "kmeans.update"])
def test_an_exception_carrying_the_problem_is_quoted_as_one_short_line(leaky_worker, check):
    passed, message = judge.run_test_cell(
        leaky_worker, f'from emcourse_grader.checks import require\nrequire("{check}", '
                      f'{CHECKS[check].function})')
    assert not passed
    assert "\n" not in message
    quoted = _quoted(message, CHECKS[check].function)
    kind, _, text = quoted.partition(": ")
    assert len(kind) <= QUOTE_TYPE and 0 < len(text) <= QUOTE_TEXT, quoted
    assert text.startswith("[[") and text.endswith("…")  # the start of the 5,000 characters
    assert len(message) < 300, message


def test_quote_error_bounds_any_exception():
    from emcourse_grader.checks._common import quote_error
    long_type = type("T" * 500, (Exception,), {})
    text = quote_error(long_type("x\n" * 5000))
    assert "\n" not in text and len(text) <= QUOTE_TYPE + 2 + QUOTE_TEXT
    assert quote_error(ValueError("")) == "ValueError"

    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no")
    assert quote_error(Broken()) == "Broken"


# --------------------------------------------------------------------------------------------
# scipy.cluster: a ready-made k-means, masked like scikit-learn
# --------------------------------------------------------------------------------------------

@needs_bwrap
def test_scipy_cluster_is_absent_in_the_sandbox_and_the_rest_of_scipy_is_there():
    got = run_inside("""
        import importlib
        out = {}
        for mod in ("scipy.cluster.vq", "scipy.cluster.hierarchy", "scipy.stats",
                    "scipy.special", "scipy.spatial.distance", "scipy.linalg",
                    "scipy.optimize"):
            out[mod] = attempt(importlib.import_module, mod)
        def kmeans2():
            from scipy.cluster.vq import kmeans2
        out["from scipy.cluster.vq import kmeans2"] = attempt(kmeans2)
        from scipy.spatial.distance import cdist
        from scipy.stats import norm
        report(out=out, cdist=cdist([[0.0, 0.0]], [[3.0, 4.0]]).tolist(),
               pdf=float(norm.pdf(0.0)), secret=os.environ.get("EMCOURSE_SECRET", "unset"))
    """)
    out = got.get("out")
    assert out, got
    for mod in ("scipy.cluster.vq", "scipy.cluster.hierarchy",
                "from scipy.cluster.vq import kmeans2"):
        assert out[mod].startswith(("ModuleNotFoundError", "ImportError")), (mod, out[mod])
    for mod in ("scipy.stats", "scipy.special", "scipy.spatial.distance", "scipy.linalg",
                "scipy.optimize"):
        assert out[mod] == "ok", (mod, out[mod])
    assert got["cdist"] == [[5.0]] and abs(got["pdf"] - 0.3989422804) < 1e-9
    assert got["secret"] == "unset"  # the grader's secret never enters


def test_the_scan_reports_scipy_cluster_but_not_the_rest_of_scipy():
    reason = "imports a library that implements the exercise"
    assert scan.scan("from scipy.cluster.vq import kmeans2") == [(reason, "scipy.cluster.vq")]
    assert scan.scan("from scipy import cluster, stats") == [(reason, "scipy.cluster")]
    assert scan.scan("import scipy.cluster.vq as vq") == [(reason, "scipy.cluster.vq")]
    assert scan.scan("import scipy.stats\nfrom scipy.spatial import distance") == []


# --------------------------------------------------------------------------------------------
# Fit checks: a history that is a real run
# --------------------------------------------------------------------------------------------

def _kmeans_fit():
    return NS["hw1"]["fit"]


def test_a_one_value_history_fails_the_kmeans_fit_check():
    fit = _kmeans_fit()

    def last_only(X, init, max_iter=100):
        centers, labels, history = fit(X, init, max_iter)
        return centers, labels, [history[-1]]
    v = verify("kmeans.fit", last_only)
    assert not v.passed
    assert "has 1 value(s)" in v.message and "append J after every update" in v.message, \
        v.message


def test_a_history_of_another_run_fails_the_kmeans_fit_check():
    fit = _kmeans_fit()

    def other_run(X, init, max_iter=100):
        centers, labels, _ = fit(X, init, max_iter)
        _, _, history = fit(X, X[-len(init):], max_iter)  # a run from other centres
        return centers, labels, history
    v = verify("kmeans.fit", other_run)
    assert not v.passed and "inertia" in v.message, v.message

    def made_up(X, init, max_iter=100):
        centers, labels, history = fit(X, init, max_iter)
        J = history[-1]
        return centers, labels, list(np.linspace(2 * J, J, len(history)))
    v = verify("kmeans.fit", made_up)
    assert not v.passed
    assert "is not that of Lloyd's run" in v.message and "history[0]" in v.message, v.message

    def padded(X, init, max_iter=100):
        centers, labels, history = fit(X, init, max_iter)
        return centers, labels, [history[0]] * 3 + list(history)
    v = verify("kmeans.fit", padded)
    assert not v.passed and "expected" in v.message, v.message


def test_scipy_kmeans2_with_a_made_up_history_fails_the_kmeans_fit_check():
    from scipy.cluster.vq import kmeans2

    def ready_made(X, init, max_iter=100):
        centers, labels = kmeans2(X, np.asarray(init, dtype=float), iter=max_iter,
                                  minit="matrix")
        J = float(((X - centers[labels]) ** 2).sum())
        return centers, labels, [J]
    assert not verify("kmeans.fit", ready_made).passed


def lloyd_with_loops(X, init, max_iter=100):
    """An honest k-means written otherwise: plain loops, stops when the centres stop moving
    (so one update more than the solution, recording the same J once more)."""
    X = np.asarray(X, dtype=float)
    centers = [list(map(float, c)) for c in init]
    history = []
    labels = []
    for _ in range(max_iter):
        labels = []
        for x in X:
            d = [sum((xi - ci) ** 2 for xi, ci in zip(x, c)) for c in centers]
            labels.append(d.index(min(d)))
        new = []
        for k in range(len(centers)):
            members = [x for x, lab in zip(X, labels) if lab == k]
            new.append([sum(col) / len(members) for col in zip(*members)])
        J = sum(sum((xi - ci) ** 2 for xi, ci in zip(x, new[lab])) for x, lab in zip(X, labels))
        history.append(J)
        moved = new != centers
        centers = new
        if not moved:
            break
    return np.array(centers), np.array(labels), history


def test_honest_kmeans_fits_pass():
    def emref_fit(X, init, max_iter=100):
        r = kmeans.fit(X, len(init), init=init, tol=0, max_iter=max_iter)
        return r.centers, r.labels, r.history
    for fit in (_kmeans_fit(), emref_fit, lloyd_with_loops):
        v = verify("kmeans.fit", fit)
        assert v.passed, (fit.__name__, v.message)


def test_a_gmm_fit_whose_history_does_not_end_on_its_parameters_fails():
    fit = NS["hw2"]["fit"]

    def wrong_covariances(X, params0, max_iter=100, tol=1e-6):
        params, history = fit(X, params0, max_iter, tol)
        return GMMParams(params.weights, params.means, params.covariances * 2.0), history
    v = verify("gmm.fit", wrong_covariances)
    assert not v.passed
    assert "but the parameters it returns have log p(X|θ)" in v.message, v.message

    def one_value(X, params0, max_iter=100, tol=1e-6):
        params, history = fit(X, params0, max_iter, tol)
        return params, history[-1:]
    v = verify("gmm.fit", one_value)
    assert not v.passed and "a history of 1 values" in v.message, v.message


def test_honest_gmm_fits_pass():
    def emref_fit(X, params0, max_iter=100, tol=1e-6):
        r = gmm.fit(X, len(params0.weights), init=params0, max_iter=max_iter, tol=tol)
        return r.params, list(r.loglik_history)
    for fit in (NS["hw2"]["fit"], emref_fit):
        v = verify("gmm.fit", fit)
        assert v.passed, v.message


# --------------------------------------------------------------------------------------------
# Parallel grading: a Dask worker draws from the coordinator's seeds
# --------------------------------------------------------------------------------------------

RECORD_ASSIGN = '''

import hashlib
import json

_seen = []
_honest_assign = assign


def assign(X, centers):
    _seen.append(hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=float).tobytes()
                                         for a in (X, centers))).hexdigest())
    return _honest_assign(X, centers)
'''


def _problems_seen(course) -> set:
    """The inputs (by hash) the graded assign was called with, as the autograded notebook's
    last cell printed them (a student's feedback)."""
    import json

    import nbformat

    nb = nbformat.read(course / "autograded/mallory/hw1/hw1_kmeans.ipynb", 4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return set(json.loads(printed.split("SEEN", 1)[1]))


@needs_bwrap
def test_dask_workers_grade_with_the_coordinators_seeds(tmp_path, monkeypatch):
    """``python -m emcourse_grader grade``'s path with a worker whose machine has another
    secret draws the problems serial ``nbgrader autograde`` draws under the coordinator's
    secret (the seeds travel in the task, salted alike with the submission's cells on both
    paths), and others once the coordinator's secret changes. The submission's assign
    records the inputs it is called with and a later cell prints them (its feedback)."""
    import io

    import nbformat
    from nbgrader.api import Gradebook
    from test_grading_roundtrip import demo_class

    from emcourse_grader import parallel

    solution_nb = nbformat.read(demo_class.ROOT / "solutions/hw1/hw1_kmeans.ipynb", 4)
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
               for c in solution_nb.cells}
    course = demo_class.copy_course(tmp_path / "course", assignments=["hw1"])
    quiet = lambda *a: None
    demo_class.nbgrader(course, "generate_assignment", "hw1", "--force", log=quiet)
    demo_class.nbgrader(course, "db", "student", "add", "mallory", log=quiet)
    nb = nbformat.read(course / "assignments/hw1/hw1_kmeans.ipynb", 4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "assign":
            cell.source = answers["assign"] + RECORD_ASSIGN
    nb.cells.append(nbformat.v4.new_code_cell('print("SEEN" + json.dumps(sorted(set(_seen))))'))
    handed_in = course / "submitted/mallory/hw1"
    handed_in.mkdir(parents=True)
    nbformat.write(nb, handed_in / "hw1_kmeans.ipynb")

    def assign_points():
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            return gb.find_grade("test_assign", "hw1_kmeans", "hw1", "mallory").score

    monkeypatch.setenv(secret.ENV, SECRET_A)
    demo_class.nbgrader(course, "autograde", "hw1", log=quiet)  # serial, the course's secret
    serial = _problems_seen(course)
    assert assign_points() == 20 and len(serial) >= 5  # two visible calls, three hidden
    monkeypatch.setenv(secret.ENV, SECRET_B)  # the worker's machine: another secret
    with parallel.dask_client(workers=1) as (client, _):
        monkeypatch.setenv(secret.ENV, SECRET_A)  # the coordinator's
        parallel.grade("hw1", root=str(course), client=client, stream=io.StringIO(),
                       summary=False, force=True)
        assert assign_points() == 20
        assert _problems_seen(course) == serial  # serial and parallel: the same problems
        monkeypatch.setenv(secret.ENV, SECRET_B)
        monkeypatch.delenv("EMCOURSE_COURSE", raising=False)
        parallel.grade("hw1", root=str(course), client=client, stream=io.StringIO(),
                       summary=False, force=True)
        assert assign_points() == 20
        other = _problems_seen(course)  # the visible test's inputs, and other hidden ones
        assert len(other) == len(serial) and len(serial - other) == 3
        # the course root was this run's only: a later nbgrader elsewhere must not inherit it
        assert "EMCOURSE_COURSE" not in os.environ
