"""The two wheels: the course's (instructor and grader) holds every package of the tree; the
students' holds emref and emcourse_student and nothing of the grader.

The oracle is the source tree itself (every folder with an ``__init__.py``) and the list of
what must never reach a student (the grader, its checks, solutions, tests, notebooks).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _packages(*tops: str) -> set[str]:
    """Every importable package below ``tops`` in the source tree."""
    out = set()
    for top in tops:
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                out.add(init.parent.relative_to(ROOT).as_posix())
    return out


def _wheel_packages(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n.rsplit("/", 1)[0] for n in z.namelist() if n.endswith("/__init__.py")}


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    built = [subprocess.run([sys.executable, str(ROOT / "scripts" / script), str(out)],
                            check=True, capture_output=True, text=True).stdout
             for script in ("course_wheel.py", "student_wheel.py")]
    return tuple(Path(text.strip().splitlines()[-1]) for text in built)


def test_course_wheel_holds_every_package_and_the_data(wheels):
    course, _ = wheels
    expected = _packages("emref", "emcourse_grader", "emcourse_student", "emcourse_exchange")
    assert {"emcourse_grader/checks", "emcourse_grader/sandboxed"} <= expected
    assert _wheel_packages(course) == expected
    names = _wheel_names(course)
    for data in (ROOT / "emref" / "data").iterdir():
        assert f"emref/data/{data.name}" in names
    templates = ROOT / "emcourse_grader" / "templates"
    assert sorted(templates.iterdir()), "no feedback templates"
    for template in templates.iterdir():  # the feedback page's HTML, CSS and JavaScript
        assert f"emcourse_grader/templates/{template.name}" in names
    assert not [n for n in names if n.startswith(("solutions/", "tests/")) or
                n.endswith(".ipynb")]


def test_student_wheel_holds_emref_and_nothing_of_the_grader(wheels):
    _, student = wheels
    assert _wheel_packages(student) == _packages("emref", "emcourse_student", "emcourse_exchange")
    names = _wheel_names(student)
    leaked = [n for n in names if n.startswith(("emcourse_grader", "solutions", "tests"))
              or "checks" in n or n.endswith((".ipynb", ".db", ".secret"))]
    assert leaked == []


def test_installed_wheels_import_from_site_packages(wheels, tmp_path):
    """Installed without -e (pip's own layout, not the tree): the grader's subpackages and the
    data sets load from the install, and the student install has no grader to import."""
    course, student = wheels
    for wheel, target in ((course, tmp_path / "course"), (student, tmp_path / "student")):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(target), str(wheel)], check=True)
    # The grader reads its course's manifest: this course, from outside its tree.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "course"), "EMCOURSE_COURSE": str(ROOT)}
    probe = ("import emref, emcourse_grader.checks, emcourse_grader.sandboxed.worker;"
             "from emref import datasets; assert datasets.old_faithful().shape[1] == 2;"
             "print(emref.__file__); print(emcourse_grader.checks.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.split()
    assert all(p.startswith(str(tmp_path / "course")) for p in out), out
    env["PYTHONPATH"] = str(tmp_path / "student")
    probe = ("import emref, emcourse_student, emcourse_exchange.submit, importlib.util as u;"
             "print(emref.__file__);"
             "from emref import datasets, gmm; datasets.ice_cream();"
             "print(u.find_spec('emcourse_grader') is None or "
             f"not u.find_spec('emcourse_grader').origin.startswith({str(tmp_path)!r}))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(tmp_path / "student")) and out[1] == "True", out
