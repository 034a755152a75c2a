"""The course manifest, ``course.toml`` in the course root: what the course is made of.

One file names the lectures (in teaching order) and the assignments (notebook, points, the
module that registers their hidden checks, which checks each autograded part calls). The rest
reads it: :mod:`emcourse_grader.checks` imports the checks modules it names, the site's
navigation and syllabus are generated from it (``scripts/course.py``), the demo class and the
tests take their assignment ids from it, and the table in docs/teaching.md is written from it.

:func:`load` reads and validates the file itself; :func:`check` also holds it against the
course on disk and raises :class:`ManifestError`, naming the file, for a notebook missing or
extra in ``lectures/``, ``solutions/`` or ``assignments/``, points that disagree with the
solution notebook's grade cells, a checks module that cannot be imported, or a part whose
hidden test calls checks other than the ones listed (or that nothing registers). Missing or
extra is an error: nothing is skipped silently.

Which course: :func:`find_root` (the ``EMCOURSE_COURSE`` environment variable, else the
nearest ``course.toml`` at or above the current directory, which is the course root for every
nbgrader command, else the repository this package is installed from).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .serve import policy

MANIFEST = "course.toml"
ENV = "EMCOURSE_COURSE"  # the course root, for processes started outside it (Dask workers)
LECTURES, SOURCES, RELEASES = "lectures", "solutions", "assignments"


class ManifestError(ValueError):
    """The manifest is malformed or disagrees with the course on disk; one problem a line."""


@dataclass(frozen=True)
class Lecture:
    id: str        # the notebook's name: lectures/<id>.ipynb
    title: str
    summary: str   # the syllabus' line (MyST Markdown)

    @property
    def path(self) -> str:
        """The notebook, relative to the course root."""
        return f"{LECTURES}/{self.id}.ipynb"


@dataclass(frozen=True)
class Assignment:
    id: str              # nbgrader's assignment id: solutions/<id>/, assignments/<id>/
    notebook: str        # the notebook's name, without .ipynb
    title: str
    after: str           # the id of the lecture it follows
    summary: str
    auto_points: float   # the test cells' points (an int if written as one)
    manual_points: float  # the written answers' points (graded by hand)
    checks: str          # the module that registers its checks
    parts: dict          # autograded test cell (grade_id) -> tuple of the checks it calls
    policy: object = None  # emcourse_grader.serve.policy.Policy (the defaults if not written)

    @property
    def points(self) -> float:
        return self.auto_points + self.manual_points

    @property
    def solution(self) -> str:
        """The instructor's notebook, relative to the course root."""
        return f"{SOURCES}/{self.id}/{self.notebook}.ipynb"

    @property
    def release(self) -> str:
        """The students' notebook, relative to the course root."""
        return f"{RELEASES}/{self.id}/{self.notebook}.ipynb"


@dataclass(frozen=True)
class Course:
    root: Path
    id: str
    lectures: tuple
    assignments: tuple

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def assignment(self, id: str) -> Assignment:
        for a in self.assignments:
            if a.id == id:
                return a
        raise KeyError(f"{self.manifest} has no assignment {id!r}; it has "
                       f"{', '.join(a.id for a in self.assignments)}")

    def lecture_number(self, id: str) -> int:
        """The lecture's place in the course, from 1."""
        return [lec.id for lec in self.lectures].index(id) + 1


# --------------------------------------------------------------------------------------------
# Finding and reading the manifest
# --------------------------------------------------------------------------------------------

def find_root(start: Path | None = None) -> Path:
    """The course root: ``$EMCOURSE_COURSE``, else the nearest directory at or above ``start``
    (the current directory) holding course.toml, else the repository of this package."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MANIFEST).is_file():
            return folder
    repo = Path(__file__).resolve().parent.parent
    if (repo / MANIFEST).is_file():
        return repo
    raise ManifestError(f"no {MANIFEST} in {here} or above it, nor in {repo}: run from the "
                        f"course root or set {ENV} to it")


# key -> (type, required) of each table; anything else is a typo, and an error
_COURSE_KEYS = {"id": (str, True), "lectures": (list, True), "assignments": (list, True)}
_LECTURE_KEYS = {"id": (str, True), "title": (str, True), "summary": (str, True)}
_ASSIGNMENT_KEYS = {"id": (str, True), "notebook": (str, True), "title": (str, True),
                    "after": (str, True), "summary": (str, True), "points": (dict, True),
                    "checks": (str, True), "parts": (dict, True), "policy": (dict, False)}


def _table(data, keys: dict, where: str, problems: list) -> bool:
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a table, found {type(data).__name__}")
        return False
    for key in sorted(set(data) - set(keys)):
        problems.append(f"{where}: unknown key {key!r} (the keys are {', '.join(keys)})")
    ok = True
    for key, (kind, required) in keys.items():
        if key not in data:
            if required:
                problems.append(f"{where}: {key!r} is missing")
                ok = False
        elif not isinstance(data[key], kind) or (kind is str and not data[key].strip()):
            problems.append(f"{where}: {key!r} must be a non-empty {kind.__name__}, found "
                            f"{data[key]!r}")
            ok = False
    return ok


def _points(value, where: str, problems: list):
    if set(value) != {"auto", "manual"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for v in value.values()):
        problems.append(f"{where}: 'points' must be {{ auto = <points>, manual = <points> }}, "
                        f"found {value!r}")
        return None
    return value["auto"], value["manual"]  # as written: 90 stays an int


def _parts(value, where: str, problems: list):
    parts = {}
    for cell, checks in value.items():
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            problems.append(f"{where}: part {cell!r} must list check names, e.g. "
                            f"[\"kmeans.assign\"]; found {checks!r}")
            continue
        parts[cell] = tuple(checks)
    return parts


def load(root: Path | str | None = None) -> Course:
    """The manifest of the course at ``root`` (:func:`find_root` if None), validated as a
    file: required keys and types, no unknown key, unique ids, ``after`` naming a lecture."""
    root = Path(root).resolve() if root is not None else find_root()
    path = root / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: the course manifest is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})") from None
    problems: list[str] = []
    if not _table(data, _COURSE_KEYS, str(path), problems):
        raise ManifestError("\n".join(problems))
    lectures = []
    for i, raw in enumerate(data["lectures"]):
        if _table(raw, _LECTURE_KEYS, f"{path}: lecture {i + 1}", problems):
            lectures.append(Lecture(raw["id"], raw["title"], raw["summary"]))
    assignments = []
    for i, raw in enumerate(data["assignments"]):
        where = f"{path}: assignment {raw.get('id', i + 1) if isinstance(raw, dict) else i + 1}"
        if not _table(raw, _ASSIGNMENT_KEYS, where, problems):
            continue
        points = _points(raw["points"], where, problems)
        parts = _parts(raw["parts"], where, problems)
        rules, wrong = policy.parse(raw.get("policy"), where)
        problems.extend(wrong)
        if points is not None and rules is not None:
            assignments.append(Assignment(
                id=raw["id"], notebook=raw["notebook"], title=raw["title"], after=raw["after"],
                summary=raw["summary"], auto_points=points[0], manual_points=points[1],
                checks=raw["checks"], parts=parts, policy=rules))
    for kind, items in (("lecture", lectures), ("assignment", assignments)):
        ids = [item.id for item in items]
        for dup in sorted({x for x in ids if ids.count(x) > 1}):
            problems.append(f"{path}: two {kind}s have the id {dup!r}")
    lecture_ids = {lec.id for lec in lectures}
    for a in assignments:
        if a.after not in lecture_ids:
            problems.append(f"{path}: assignment {a.id}: after = {a.after!r} is not a lecture")
    if problems:
        raise ManifestError("\n".join(problems))
    return Course(root=root, id=data["id"], lectures=tuple(lectures),
                  assignments=tuple(assignments))


# --------------------------------------------------------------------------------------------
# The checks modules
# --------------------------------------------------------------------------------------------

def _import(course: Course, a: Assignment) -> None:
    try:
        importlib.import_module(a.checks)
    except Exception as exc:  # missing, or failing when imported: say which module
        raise ManifestError(f"{course.manifest}: assignment {a.id}: its checks module "
                            f"{a.checks!r} cannot be imported ({type(exc).__name__}: {exc})"
                            ) from exc


def _on_path(course: Course) -> None:
    """The course root on sys.path, after the installed packages: a course may keep its checks
    in a module of its own (``checks = "course_checks.hw4_poisson"`` for
    ``<root>/course_checks/hw4_poisson.py``) as well as in this package."""
    if str(course.root) not in sys.path:
        sys.path.append(str(course.root))


def import_checks(course: Course) -> None:
    """Import the checks module of every assignment (they register their checks)."""
    _on_path(course)
    for a in course.assignments:
        _import(course, a)


@contextlib.contextmanager
def _checks_of(course: Course, problems: list):
    """The checks that the course's checks modules register, for a look only.

    The modules are imported afresh into an empty registry (so a check counts only if this
    course registers it, not another course this process grades), then the registry,
    sys.modules and sys.path are put back: checking a temporary copy of a course leaves this
    process's grader as it was. A module that cannot be imported is a problem."""
    from .checks import _common

    registry, modules, path = dict(_common.REGISTRY), dict(sys.modules), list(sys.path)
    names = {a.checks for a in course.assignments}
    try:
        _common.REGISTRY.clear()
        for name in names:
            sys.modules.pop(name, None)
        _on_path(course)
        for a in course.assignments:
            try:
                _import(course, a)
            except ManifestError as exc:
                problems.append(str(exc))
        yield dict(_common.REGISTRY)
    finally:
        _common.REGISTRY.clear()
        _common.REGISTRY.update(registry)
        for name in set(sys.modules) - set(modules):
            del sys.modules[name]
        for name in names & set(modules):  # the grader's own modules, as they were
            sys.modules[name] = modules[name]
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, modules[name])
        sys.path[:] = path


# --------------------------------------------------------------------------------------------
# The manifest against the course on disk
# --------------------------------------------------------------------------------------------

def _listed_against_disk(course: Course, problems: list) -> None:
    """Every notebook named is there, and every notebook there is named."""
    root, manifest = course.root, course.manifest
    expected = {lec.path for lec in course.lectures}
    for a in course.assignments:
        expected |= {a.solution, a.release}
    found = {p.relative_to(root).as_posix()
             for folder in (LECTURES, SOURCES, RELEASES)
             for p in (root / folder).rglob("*.ipynb")
             if ".ipynb_checkpoints" not in p.parts}
    for rel in sorted(expected - found):
        hint = (f" (run `nbgrader generate_assignment {rel.split('/')[1]}` from the course "
                f"root)" if rel.startswith(RELEASES + "/") else "")
        problems.append(f"{root / rel}: missing; {manifest} names it{hint}")
    for rel in sorted(found - expected):
        problems.append(f"{root / rel}: not in {manifest}; add it there, or remove the file")
    for folder in (SOURCES, RELEASES):
        if not (root / folder).is_dir():
            continue
        for sub in sorted(p for p in (root / folder).iterdir() if p.is_dir()):
            if sub.name not in {a.id for a in course.assignments} and not any(
                    sub.rglob("*.ipynb")) and sub.name != ".ipynb_checkpoints":
                problems.append(f"{sub}: a folder of no assignment in {manifest}")


def _grade_cells(path: Path):
    """(autograded points, manual points, {test cell: source}) of a solution notebook, as
    nbgrader counts them: a grade cell that is not an answer is a test (autograded); a graded
    answer and a task are graded by hand."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    auto = manual = 0.0
    tests = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        points = float(meta.get("points", 0) or 0)
        if meta.get("task") or (meta.get("grade") and meta.get("solution")):
            manual += points
        elif meta.get("grade"):
            auto += points
            source = cell.get("source", "")
            tests[meta.get("grade_id")] = "".join(source) if isinstance(source, list) \
                else source
    return auto, manual, tests


def _points_and_parts(course: Course, registry: dict, problems: list) -> None:
    from .checks import checks_in

    manifest = course.manifest
    for a in course.assignments:
        path = course.root / a.solution
        if not path.is_file():
            continue  # reported as missing
        try:
            auto, manual, tests = _grade_cells(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: cannot be read as a notebook ({exc})")
            continue
        if (auto, manual) != (a.auto_points, a.manual_points):
            problems.append(
                f"{manifest}: assignment {a.id}: points = {{ auto = {a.auto_points:g}, manual"
                f" = {a.manual_points:g} }}, but the grade cells of {path} give auto = "
                f"{auto:g}, manual = {manual:g}")
        for cell in sorted(set(tests) - set(a.parts)):
            problems.append(f"{manifest}: assignment {a.id}: the test cell {cell!r} of {path} "
                            f"is not among its parts")
        for cell in sorted(set(a.parts) - set(tests)):
            problems.append(f"{manifest}: assignment {a.id}: part {cell!r} is not a test cell "
                            f"of {path}")
        for cell in sorted(set(a.parts) & set(tests)):
            called = checks_in(tests[cell])
            if sorted(called) != sorted(a.parts[cell]):
                problems.append(
                    f"{manifest}: assignment {a.id}: part {cell!r} lists the checks "
                    f"{list(a.parts[cell])}, but its test cell in {path} calls {called}")
            for name in a.parts[cell]:
                if name not in registry:
                    problems.append(
                        f"{manifest}: assignment {a.id}: part {cell!r} uses the check "
                        f"{name!r}, which no checks module of the course registers (expected "
                        f"in {a.checks})")


def check(root: Path | str | None = None) -> Course:
    """:func:`load`, then the manifest against the course on disk; raise
    :class:`ManifestError` listing every problem, or return the course."""
    course = load(root)
    problems: list[str] = []
    _listed_against_disk(course, problems)
    with _checks_of(course, problems) as registry:
        _points_and_parts(course, registry, problems)
    if problems:
        raise ManifestError("\n".join(problems))
    return course
