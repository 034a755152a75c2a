"""`make course`'s last step: regenerate the student releases, then grade a simulated class.

The assignments are the manifest's (course.toml); the students' work and their expected
scores below are checked against it when this module is imported.

1. ``nbgrader generate_assignment --force`` for every assignment, in the repository (the
   releases in ``assignments/`` are checked in; a throwaway gradebook is used).
2. A demo class in ``_build/demo_class/`` (a fresh copy of the course: nbgrader_config.py,
   course.toml, solutions/, assignments/; a fresh gradebook; a temporary exchange directory):
   ``release_assignment`` -> each student fetches, works (their notebook is filled
   programmatically, from the solution cells or from ``tests/submissions/<hw>/<name>.py``)
   and submits -> ``collect`` -> ``autograde`` -> ``generate_feedback`` -> ``export``.
3. Print the grade table and where the feedback is.

Instructor commands run as the nbgrader CLI from the course root (nbgrader reads
./nbgrader_config.py only from the current directory). The students' fetch and submit use
the same exchange classes as ``nbgrader fetch_assignment`` / ``nbgrader submit``, in process:
each CLI start costs seconds of imports, and a class has many students.

The round-trip test (tests/test_grading_roundtrip.py) runs :func:`run_class` in a temporary
copy and checks the scores against ``EXPECTED`` below.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"

# The course's assignments and their notebooks, from its manifest (course.toml).
COURSE = manifest.load(ROOT)
COURSE_ID = COURSE.id
ASSIGNMENTS = {a.id: a.notebook for a in COURSE.assignments}  # id -> notebook name

# What each simulated student hands in, per assignment: "solution" (every answer cell from
# the instructor's notebook), "blank" (the release untouched), a file name in
# tests/submissions/<hw>/, or None (does not submit). ada (the solution) and blank hand in
# every assignment of the manifest; the others what is listed here.
DEMO_CLASS = {
    "ada": {hw: "solution" for hw in ASSIGNMENTS},
    "blank": {hw: "blank" for hw in ASSIGNMENTS},
    "partial": {"hw1": "partial.py", "hw2": "partial.py", "hw3": "partial.py"},
    "looper": {"hw1": "loop.py", "hw2": "blank", "hw3": "blank"},
    "warner": {"hw1": "warner.py", "hw2": "warner.py", "hw3": "solution"},
    "cheater": {"hw1": "cheater.py", "hw2": "cheater.py", "hw3": "cheater.py"},
    "naive": {"hw1": "naive.py", "hw2": "naive.py", "hw3": "naive.py"},
}

# The automatic points each student must get (the written answers wait for a human): ada
# every automatic point of the manifest, blank 0, the others as listed.
# The cheater's hw2 log_gaussian is scipy.stats' density: correct work with a library the
# notebook asks students not to use, not a way around the grader (emref's algorithms are
# absent from the sandbox; scipy is not), so its 15 points stand; the other parts call emref.
_SCORES = {
    "hw1": {"partial": 40, "looper": 0, "warner": 90, "cheater": 0, "naive": 65},
    "hw2": {"partial": 45, "looper": 0, "warner": 85, "cheater": 15, "naive": 55},
    "hw3": {"partial": 45, "looper": 0, "warner": 90, "cheater": 0, "naive": 75},
}
EXPECTED = {a.id: {"ada": a.auto_points, "blank": 0, **_SCORES.get(a.id, {})}
            for a in COURSE.assignments}


def check_demo_class() -> None:
    """The plans and scores above name only assignments of the manifest, and every student who
    hands an assignment in has an expected score for it (and no one else has)."""
    problems = []
    for where, table in [("_SCORES", _SCORES)] + [(f"DEMO_CLASS[{s!r}]", plan)
                                                   for s, plan in DEMO_CLASS.items()]:
        for hw in sorted(set(table) - set(ASSIGNMENTS)):
            problems.append(f"{where} names {hw!r}, which {COURSE.manifest} does not list")
    for hw, scores in EXPECTED.items():
        handed_in = {s for s, plan in DEMO_CLASS.items() if plan.get(hw)}
        for s in sorted(handed_in - set(scores)):
            problems.append(f"{s} hands in {hw} but has no expected score in _SCORES")
        for s in sorted(set(scores) - handed_in):
            problems.append(f"{s} has an expected score for {hw} but hands nothing in")
    if problems:
        raise ValueError(f"{__file__}: the demo class disagrees with the course:\n"
                         + "\n".join(problems))


check_demo_class()


def _env() -> dict:
    """The environment for nbgrader: this interpreter's bin/ first (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def nbgrader(course: Path, *args: str, log=print) -> str:
    """Run one nbgrader command from the course root; return its output, raise on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=course, env=_env(), capture_output=True, text=True,
                          check=False)
    out = proc.stdout + proc.stderr
    log(f"   $ nbgrader {' '.join(args)}  ({time.perf_counter() - start:.1f} s)")
    # An interrupted endless loop is logged as an ERROR by autograde but is not a failure.
    if proc.returncode != 0 or "There was an error processing" in out:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course} "
                           f"(exit {proc.returncode}):\n{out[-4000:]}")
    return out


def parallel_grade(course: Path, assignments: list[str], *args: str, workers=None,
                   log=print) -> str:
    """``python -m emcourse_grader grade hw1 [hw2 ...]`` (Dask, emcourse_grader.parallel) in
    the course: the ``assignments`` in one run, one queue."""
    cmd = [sys.executable, "-m", "emcourse_grader", "grade", *assignments, *args]
    if workers:
        cmd += ["--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=course, env=_env(), capture_output=True, text=True,
                          check=False)
    log(f"   $ python -m emcourse_grader grade {' '.join(cmd[4:])}  "
        f"({time.perf_counter() - start:.1f} s)")
    if proc.returncode != 0:
        raise RuntimeError(f"grading {' '.join(assignments)} in parallel failed in {course} "
                           f"(exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# The course
# --------------------------------------------------------------------------------------------

def regenerate_releases(course: Path = ROOT, log=print) -> None:
    """``nbgrader generate_assignment --force`` for every assignment, with a throwaway gradebook.

    ``"*"`` is a glob over solutions/: one command (nbgrader starts slowly) for all of them.
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        nbgrader(course, "generate_assignment", "*", "--force",
                 f"--CourseDirectory.db_url={db}", log=log)


def copy_course(dest: Path, assignments=None) -> Path:
    """A fresh course directory to grade in: the config, the manifest, the sources of
    ``assignments`` (every assignment of the manifest if None) and the checks modules the
    course keeps outside this package (``checks = "course_checks.hw4"``), nothing else.

    The releases are generated again there by :func:`run_class` (so they can be compared with
    the ones checked in), and the gradebook starts empty.
    """
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "solutions").mkdir(parents=True)
    for name in ("nbgrader_config.py", manifest.MANIFEST):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for top in {a.checks.split(".")[0] for a in COURSE.assignments} - {"emcourse_grader"}:
        if (ROOT / top).is_dir():  # a package of the course root's own
            shutil.copytree(ROOT / top, dest / top, ignore=ignore)
        else:
            shutil.copy2(ROOT / f"{top}.py", dest / f"{top}.py")
    for hw in assignments or ASSIGNMENTS:
        shutil.copytree(ROOT / "solutions" / hw, dest / "solutions" / hw, ignore=ignore)
    return dest


# --------------------------------------------------------------------------------------------
# Students
# --------------------------------------------------------------------------------------------

def read_answers(path: Path) -> dict:
    """Section head -> body, from a tests/submissions or tests/redteam file.

    A head is a grade_id (the body is that cell's new source), ``<grade_id> = solution``
    (the value is the string "solution"), or one of the directives that
    :func:`fill_notebook` documents (``* = solution``, ``preamble``, ``each``,
    ``file <path>``, ``!edit ...``); the text before the first section is the header.
    """
    text = path.read_text()
    parts = re.split(r"^# %% (.+)$", text, flags=re.MULTILINE)
    answers = {}
    for head, body in zip(parts[1::2], parts[2::2]):
        head = head.strip()
        if head.endswith("= solution"):
            answers[head[: -len("= solution")].strip()] = "solution"
        else:
            answers[head] = body.strip("\n")
    return answers


def _functions(source: str) -> list:
    """(first line, last line, name, parameter list, forwarding arguments, source) of each
    top-level function of a cell (lines counted from 0, decorators included)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        forward = [p.arg for p in a.posonlyargs + a.args]
        forward += [f"*{a.vararg.arg}"] if a.vararg else []
        forward += [f"{p.arg}={p.arg}" for p in a.kwonlyargs]
        forward += [f"**{a.kwarg.arg}"] if a.kwarg else []
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        out.append((first, node.end_lineno - 1, node.name, ast.unparse(a), ", ".join(forward),
                    "\n".join(lines[first:node.end_lineno])))
    return out


def apply_each(template: str, source: str) -> str:
    """``source`` with every top-level function replaced by ``template``, whose
    placeholders are ``{name}``, ``{params}`` (the parameter list, defaults included),
    ``{args}`` (the same parameters, as the arguments of a call that passes them on),
    ``{solution}`` (the function's own source) and ``{renamed}`` (the same, defining
    ``my_<name>`` instead). Other statements of the cell are kept."""
    lines = source.splitlines()
    for first, last, name, params, args, own in reversed(_functions(source)):
        renamed = re.sub(rf"^(\s*(?:async\s+)?def\s+){name}\(", rf"\g<1>my_{name}(", own,
                         count=1, flags=re.MULTILINE)
        text = (template.replace("{name}", name).replace("{params}", params)
                .replace("{args}", args).replace("{solution}", own)
                .replace("{renamed}", renamed))
        lines[first:last + 1] = text.splitlines()
    return "\n".join(lines)


def _targets(nb, spec: str, recipe) -> list:
    """The cells a directive names: a grade_id, a glob of grade_ids (``test_*``: all of
    them), or ``<glob>#<n>``: the n-th cell that matches (none if there are fewer)."""
    from fnmatch import fnmatchcase

    pattern, _, n = spec.partition("#")
    cells = [c for c in nb.cells
             if fnmatchcase(str(c.metadata.get("nbgrader", {}).get("grade_id")), pattern)]
    if n:
        return cells[int(n) - 1:int(n)]
    if not cells:
        raise ValueError(f"{recipe}: no cell {spec}")
    return cells


def fill_notebook(release_nb: Path, solution_nb: Path, recipe: str, hw: str) -> None:
    """Write a student's answers into their copy of the released notebook, in place.

    ``recipe``: "blank", "solution", or a file (a name in tests/submissions/<hw>/, or a
    path) of sections ``# %% <head>`` (tests/submissions/README.md, tests/redteam/README.md):

    * ``<grade_id>``: the answer cell's new source; ``<grade_id> = solution``: the
      instructor's; a line ``#SOLUTION <grade_id>`` in an answer is replaced by that cell's
      solution. Answer cells not named stay as released, unless
    * ``* = solution``: every answer cell not named is the instructor's;
    * ``each``: every code answer cell not named is the instructor's with each of its
      functions replaced by this template (:func:`apply_each`);
    * ``preamble``: code put at the top of the first code answer cell;
    * ``answer``: every code answer cell not named is this template instead, and ``above``:
      a code cell of the student's own (no nbgrader metadata) is put right above each of
      them; placeholders ``{grade_id}`` and ``{solution}`` (that cell's instructor source);
    * ``file <relative path>``: a file handed in beside the notebook;
    * ``!figures <cells> <MB>``: the cell's saved outputs are a figure of that size;
    * ``!duplicate <cells>``: a pasted copy of the cell right below it (its source this
      section's body, if any; the copy's nbgrader metadata, grade_id included, is the same);
    * locked cells: ``!edit <cells>`` (new source), ``!delete <cells>``,
      ``!meta <cells> key=value`` (nbgrader metadata, or ``cell_type``), where ``<cells>``
      is a grade_id, a glob (``test_*``) or the n-th cell a glob matches (``test_*#2``);
    * ``!notebook [encoding]``: the whole notebook file is this text instead, written in
      ``encoding`` (utf-8 if omitted): a malformed submission.
    """
    import nbformat

    if recipe == "blank":
        return
    nb = nbformat.read(release_nb, as_version=4)
    sol = {c.metadata["nbgrader"]["grade_id"]: c.source
           for c in nbformat.read(solution_nb, as_version=4).cells
           if c.metadata.get("nbgrader", {}).get("solution")}
    if recipe == "solution":
        answers = {gid: "solution" for gid in sol}
    else:
        answers = read_answers(SUBMISSIONS / hw / recipe)
    directives = {k: v for k, v in answers.items() if k.startswith("!")}
    preamble, each = answers.pop("preamble", None), answers.pop("each", None)
    whole, above = answers.pop("answer", None), answers.pop("above", None)
    files = {k.split(None, 1)[1].strip(): answers.pop(k) for k in list(answers)
             if k.startswith("file ")}
    if answers.pop("*", None) == "solution":
        answers = {**{gid: "solution" for gid in sol}, **answers}
    answers = {k: v for k, v in answers.items() if not k.startswith("!")}
    unknown = set(answers) - set(sol)
    if unknown:
        raise ValueError(f"{recipe} answers cells that {solution_nb.name} does not have: "
                         f"{sorted(unknown)}")
    first_answer = True
    for cell in list(nb.cells):  # a copy: "above" inserts cells
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = sol[gid] if answers[gid] == "solution" else re.sub(
                r"^#SOLUTION (\S+)$", lambda m: sol[m.group(1)], answers[gid],
                flags=re.MULTILINE)
        elif each is not None and gid in sol and cell.cell_type == "code":
            cell.source = apply_each(each, sol[gid])
        elif gid in sol and cell.cell_type == "code" and (whole, above) != (None, None):
            own = sol[gid]
            if whole is not None:
                cell.source = whole.replace("{grade_id}", gid).replace("{solution}", own)
            if above is not None:
                nb.cells.insert(nb.cells.index(cell), nbformat.v4.new_code_cell(
                    above.replace("{grade_id}", gid).replace("{solution}", own)))
        if preamble is not None and first_answer and gid in sol and cell.cell_type == "code":
            cell.source = preamble + "\n\n" + cell.source
            first_answer = False
    for rel, body in files.items():
        if os.path.isabs(rel) or ".." in Path(rel).parts:
            raise ValueError(f"{recipe}: a handed-in file must be inside the folder: {rel}")
        dest = release_nb.parent / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(body + "\n")
    raw, plan = None, []
    for head, body in directives.items():  # the cells first: !delete must not shift "#n"
        op, *rest = head[1:].split()
        if op == "notebook":
            raw = (body + "\n").encode(rest[0] if rest else "utf-8")
            continue
        plan += [(head, op, rest[1:], body, cell) for cell in _targets(nb, rest[0], recipe)]
    for head, op, rest, body, cell in plan:
        if op == "edit":
            cell.source = body
        elif op == "delete":
            if cell in nb.cells:
                nb.cells.remove(cell)
        elif op == "figures":  # saved outputs: <MB> of PNG-like data on the cell
            import base64
            size = int(float(rest[0]) * 2**20) if rest else 2**20
            blob = base64.b64encode(os.urandom(size * 3 // 4)).decode()
            cell.outputs = [nbformat.v4.new_output("display_data",
                                                   data={"image/png": blob})]
        elif op == "duplicate":  # a pasted copy below the cell (with an id of its own)
            import copy
            twin = copy.deepcopy(cell)
            twin["id"] = f"{cell.get('id', 'cell')}-copy"[:64]
            if body.strip():
                twin.source = body
            nb.cells.insert(nb.cells.index(cell) + 1, twin)
        elif op == "meta":
            key, _, value = rest[0].partition("=")
            value = {"true": True, "false": False}.get(value, value)
            if key == "cell_type":
                cell.cell_type = value
                if value == "markdown":
                    cell.pop("outputs", None)
                    cell.pop("execution_count", None)
            else:
                if key == "points":
                    value = float(value)
                cell.metadata["nbgrader"][key] = value
        else:
            raise ValueError(f"{recipe}: unknown directive {head}")
    if raw is not None:
        release_nb.write_bytes(raw)
    else:
        nbformat.write(nb, release_nb)


@dataclass
class Exchange:
    """A temporary nbgrader exchange and the students' home directories around it."""

    base: Path
    root: Path = field(init=False)

    def __post_init__(self):
        self.root = self.base / "exchange"
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o777)

    def home(self, student: str) -> Path:
        return self.base / "students" / student

    def _config(self, student: str, hw: str):
        from traitlets.config import Config

        c = Config()
        c.CourseDirectory.course_id = COURSE_ID
        c.CourseDirectory.assignment_id = hw
        c.CourseDirectory.student_id = student
        c.Exchange.root = str(self.root)
        c.Exchange.cache = str(self.home(student) / ".nbgrader_cache")
        c.Exchange.assignment_dir = str(self.home(student))
        return c

    def _run(self, cls, student: str, hw: str):
        from nbgrader.auth import Authenticator
        from nbgrader.coursedir import CourseDirectory

        config = self._config(student, hw)
        coursedir = CourseDirectory(config=config)
        app = cls(coursedir=coursedir, authenticator=Authenticator(config=config),
                  config=config)
        app.start()

    def fetch(self, student: str, hw: str) -> Path:
        """What ``nbgrader fetch_assignment hw`` does in the student's home."""
        from nbgrader.exchange.default import ExchangeFetchAssignment

        self.home(student).mkdir(parents=True, exist_ok=True)
        self._run(ExchangeFetchAssignment, student, hw)
        return self.home(student) / hw

    def submit(self, student: str, hw: str) -> None:
        """What ``nbgrader submit hw`` does in the student's home."""
        from nbgrader.exchange.default import ExchangeSubmit

        self._run(ExchangeSubmit, student, hw)


# --------------------------------------------------------------------------------------------
# The class
# --------------------------------------------------------------------------------------------

@dataclass
class ClassResult:
    course: Path
    grades: list  # rows of grades.csv (dicts)
    feedback: Path
    seconds: float

    def score(self, hw: str, student: str) -> float:
        for row in self.grades:
            if row["assignment"] == hw and row["student_id"] == student:
                return float(row["raw_score"])
        raise KeyError((hw, student))


def run_class(course: Path, students=None, log=print, autograde_args=(),
              grader: str = "nbgrader", workers: int | None = None,
              assignments=None) -> ClassResult:
    """Generate, release, fetch, work, submit, collect, autograde, give feedback, export.

    ``course`` comes from :func:`copy_course`: every assignment of its manifest is generated,
    and ``assignments`` (ids; all of the manifest's if None) handed out and graded.
    Commands that take a glob ("*") run once for all assignments. ``grader``: "nbgrader"
    (``nbgrader autograde "*"``), "parallel" (``python -m emcourse_grader grade hw1 hw2 ...``,
    every assignment in one run on ``workers`` local Dask workers) or "none" (stop after collect).
    """
    start = time.perf_counter()
    students = DEMO_CLASS if students is None else students
    notebooks = {a.id: a.notebook for a in manifest.load(course).assignments}
    assignments = list(notebooks) if assignments is None else list(assignments)
    unknown = sorted(set(assignments) - set(notebooks))
    if unknown:
        raise ValueError(f"{course / manifest.MANIFEST} has no assignment {', '.join(unknown)}")
    exchange = Exchange(course / "_exchange")
    xroot = f"--Exchange.root={exchange.root}"
    log(f"-- {', '.join(assignments)}: generate (fresh gradebook)")
    nbgrader(course, "generate_assignment", "*", "--force", log=log)
    for hw in assignments:
        log(f"-- {hw}: release, then the students fetch, work and submit")
        nbgrader(course, "release_assignment", hw, "--force", xroot, log=log)
        handed_in = []
        for student, plan in students.items():
            recipe = plan.get(hw)
            if recipe is None:
                continue
            folder = exchange.fetch(student, hw)
            fill_notebook(folder / f"{notebooks[hw]}.ipynb",
                          course / "solutions" / hw / f"{notebooks[hw]}.ipynb", recipe, hw)
            exchange.submit(student, hw)
            handed_in.append(f"{student} ({recipe})")
        log(f"   fetched, filled and submitted: {', '.join(handed_in)}")
        nbgrader(course, "collect", hw, xroot, "--CollectApp.check_owner=False", log=log)
    if grader == "none":
        return ClassResult(course=course, grades=[], feedback=course / "feedback",
                           seconds=time.perf_counter() - start)
    log("-- grading")
    if grader == "parallel":  # every assignment in one run: one cluster, one queue
        parallel_grade(course, assignments, "--force", *autograde_args, workers=workers,
                       log=log)
    else:
        nbgrader(course, "autograde", "*", "--force", *autograde_args, log=log)
    nbgrader(course, "generate_feedback", "*", "--force", log=log)
    nbgrader(course, "export", "--to=grades.csv", log=log)
    with open(course / "grades.csv", newline="") as f:
        grades = list(csv.DictReader(f))
    return ClassResult(course=course, grades=grades, feedback=course / "feedback",
                       seconds=time.perf_counter() - start)


def grade_table(result: ClassResult, students, assignments) -> str:
    lines = ["student   " + "".join(f"{hw:>14}" for hw in assignments)]
    for student in students:
        cells = []
        for hw in assignments:
            try:
                row = next(r for r in result.grades
                           if r["assignment"] == hw and r["student_id"] == student)
                cells.append(f"{float(row['raw_score']):g}/{float(row['max_score']):g}")
            except StopIteration:
                cells.append("-")
        lines.append(f"{student:<10}" + "".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    print("-- regenerating the releases in assignments/ from solutions/")
    regenerate_releases(ROOT)
    course = copy_course(ROOT / "_build" / "demo_class")  # every assignment
    print(f"-- demo class in {course}")
    # graded in parallel (python -m emcourse_grader grade, one Dask worker per core); the
    # round-trip test grades the same class with nbgrader autograde
    result = run_class(course, grader="parallel")
    assignments = list(ASSIGNMENTS)
    print("\nGrades (automatic points so far; written answers wait for manual grading):")
    print(grade_table(result, DEMO_CLASS, assignments))
    bad = [f"{s} {hw}: {result.score(hw, s):g} (expected {pts})"
           for hw, exp in EXPECTED.items()
           for s, pts in exp.items() if abs(result.score(hw, s) - pts) > 1e-9]
    report = course / "integrity_report.csv"
    if report.exists():
        print(f"\nIntegrity report ({report}):")
        with open(report, newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            print(f"  {r['student']:<10} {r['assignment']:<5} {r['part']:<22} {r['reason']}"
                  + (f" ({r['detail']})" if r["detail"] else ""))
        if not rows:
            print("  (nothing flagged)")
    print(f"\nFeedback (HTML per student): {result.feedback}/<student>/<assignment>/")
    print(f"Grade table: {course / 'grades.csv'}")
    print(f"The class took {result.seconds:.0f} s.")
    if bad:
        raise RuntimeError("unexpected scores: " + "; ".join(bad))


if __name__ == "__main__":
    main()
