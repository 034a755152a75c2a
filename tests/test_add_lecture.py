"""Adding a lecture is its notebook and its course.toml entry, end to end (issue 22).

In a temporary copy of the course, a throwaway lecture ``13_throwaway`` is added as
docs/teaching.md ("Publishing the lectures") says: ``lectures/13_throwaway.ipynb`` (a cell of
prose, one that prints, one that prints a memory address, one figure with its alt text, all
with their outputs stored, as the lectures are committed) and one ``[[lectures]]`` entry in
course.toml, after the other lectures. Nothing else is edited. Then the course's own tooling
picks it up:

* the manifest check passes and lists it last (``python scripts/course.py check``);
* the site's navigation (``_toc.yml``), the syllabus' numbered list and the figures' alt texts
  (scripts/course.py's ``toc``, ``syllabus``, ``figure_alt_texts``, which ``build_site`` hands
  to Jupyter Book; the book itself is not built here, tests/test_site.py builds the real one);
* README's list of lectures (``python scripts/course.py docs``);
* tests/test_lecture_length.py, run as it is on a copy, reads it (and fails it, made long);
* nbval, as `make test` runs it (``--nbval lectures --nbval-sanitize-with
  lectures/sanitize.cfg``), collects it and re-executes it, the sanitiser included: the
  stored memory address differs from the one printed now, and only sanitize.cfg makes them
  agree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import documented_counts

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import course as course_script  # scripts/course.py: `make course`

LECTURE, TITLE, ALT = "13_throwaway", "A throwaway lecture", "one black dot"
SUMMARY = "a cell of prose, a cell of code and a figure (tests/test_add_lecture.py)"
ENTRY = f'''[[lectures]]
id = "{LECTURE}"
title = "{TITLE}"
summary = \'\'\'{SUMMARY}\'\'\'

'''
DOT = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
       "RU5ErkJggg==")  # a 1 x 1 PNG
FIGURE = f'''import base64

from IPython.display import display

png = base64.b64decode("{DOT}")
display({{"image/png": png, "text/plain": "<figure: {ALT}>"}}, raw=True,
        metadata={{"image/png": {{"alt": "{ALT}"}}}})'''


def _stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def lecture(prose_words: int = 40) -> dict:
    """The throwaway lecture, its outputs stored as if it had been run (by another process:
    the memory address is not the one a new run prints)."""
    count = iter(range(1, 10))

    def code(source, *outputs):
        return {"cell_type": "code", "execution_count": next(count), "metadata": {},
                "source": source, "outputs": list(outputs)}

    meta = json.loads((ROOT / "lectures" / "01_kmeans.ipynb").read_text())["metadata"]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": [
        {"cell_type": "markdown", "metadata": {},
         "source": f"# {TITLE}\n\n" + " ".join(["word"] * prose_words)},
        code("x = 2 + 3\nprint(x)", _stream("5\n")),
        code("print(object())", _stream("<object object at 0x7f00deadbeef>\n")),
        code(FIGURE, {"output_type": "display_data", "metadata": {"image/png": {"alt": ALT}},
                      "data": {"image/png": DOT, "text/plain": f"<figure: {ALT}>"}}),
    ]}


def add_lecture(root: Path, prose_words: int = 40) -> None:
    """The two edits: the notebook, and the entry after the last lecture of course.toml."""
    nb = lecture(prose_words)
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i}"
    (root / manifest.LECTURES / f"{LECTURE}.ipynb").write_text(json.dumps(nb, indent=1))
    path = root / manifest.MANIFEST
    text = path.read_text()
    marker = "# " + "-" * 93 + "\n# Assignments"
    assert text.count(marker) == 1, "course.toml's assignments section moved"
    path.write_text(text.replace(marker, ENTRY + marker))


def _copy(dest: Path, folders=(manifest.LECTURES, manifest.SOURCES, manifest.RELEASES)) -> Path:
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / manifest.MANIFEST, dest / manifest.MANIFEST)
    for folder in folders:
        shutil.copytree(ROOT / folder, dest / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "test_lecture_length.py", dest / "tests")
    return dest


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """A copy of the course (course.toml, lectures/, solutions/, assignments/) with the
    throwaway lecture added."""
    root = _copy(tmp_path_factory.mktemp("added") / "course")
    add_lecture(root)
    return root


def _pytest(root: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--rootdir", str(root), *args], cwd=root, capture_output=True,
                          text=True, timeout=300, check=False)


def test_only_the_notebook_and_the_manifest_differ_from_the_course(copy):
    differ = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file() and (
        not (ROOT / p.relative_to(copy)).exists()
        or p.read_bytes() != (ROOT / p.relative_to(copy)).read_bytes()))
    assert differ == ["course.toml", f"lectures/{LECTURE}.ipynb"]


def test_the_docs_count_the_files_it_touched(copy):
    """Written: the two files that differ above. Generated: the docs that `python
    scripts/course.py docs` rewrites for the course with the lecture (README's list)."""
    course = manifest.check(copy)
    generated = [path.name for path, write in ((ROOT / "README.md",
                                                course_script.readme_with_lectures),
                                               (ROOT / "docs" / "teaching.md",
                                                course_script.teaching_with_table))
                 if write(path.read_text(), course) != path.read_text()]
    assert generated == ["README.md"]
    for doc in ("teaching.md", "emref_reference.md"):
        assert documented_counts(ROOT / "docs" / doc, "a lecture") == (2, len(generated))


@pytest.mark.parametrize("adding", ["an assignment", "a lecture", "an emission",
                                    "a parameter type"])
def test_both_docs_give_the_same_counts(adding):
    assert documented_counts(ROOT / "docs" / "teaching.md", adding) == \
        documented_counts(ROOT / "docs" / "emref_reference.md", adding)


def test_the_manifest_check_passes_and_lists_it_last(copy):
    course = manifest.check(copy)
    assert [lec.id for lec in course.lectures] == \
        [lec.id for lec in manifest.load(ROOT).lectures] + [LECTURE]
    assert course.lectures[-1].title == TITLE
    assert course.lecture_number(LECTURE) == len(course.lectures)


def test_the_sites_navigation_syllabus_and_alt_texts_have_it(copy):
    course = manifest.check(copy)
    chapters = course_script.toc(course)["parts"][0]["chapters"]
    assert chapters[-1] == {"file": f"lectures/{LECTURE}"}
    assert len(chapters) == len(course.lectures)
    lectures = course_script.syllabus(course)["lectures"].splitlines()
    assert lectures[-1] == f"{len(course.lectures)}. [{TITLE}](lectures/{LECTURE}.ipynb): " \
                           f"{SUMMARY}"
    assert ALT in course_script.figure_alt_texts(course).values()
    assert ALT not in course_script.figure_alt_texts(manifest.load(ROOT)).values()


def test_the_readme_list_of_lectures_has_it(copy):
    course = manifest.check(copy)
    text = course_script.readme_with_lectures((ROOT / "README.md").read_text(), course)
    assert f"{len(course.lectures)}. `{LECTURE}`, **{TITLE}**: {SUMMARY}" in text


def test_the_lecture_length_test_reads_it_and_fails_it_when_long(tmp_path):
    """tests/test_lecture_length.py, as it is, on a copy whose throwaway lecture has an hour
    of prose: its one failure is that lecture's, with the estimate."""
    long = _copy(tmp_path / "long", folders=(manifest.LECTURES,))
    add_lecture(long, prose_words=120 * 60)
    proc = _pytest(long, "-q", "tests/test_lecture_length.py")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert f"FAILED tests/test_lecture_length.py::test_lecture_reads_in_about_50_minutes" \
           f"[{LECTURE}]" in proc.stdout, proc.stdout[-3000:]
    assert f"{LECTURE}.ipynb: about 62 minutes to read (7204 words of prose, 8 lines of " \
           f"code, 1 figures)" in proc.stdout, proc.stdout[-3000:]
    assert "1 failed" in proc.stdout, proc.stdout[-3000:]


def test_nbval_collects_it_and_runs_it_with_the_sanitiser(copy):
    """`make test`'s nbval command, narrowed to the new lecture's cells with -k; then the
    same notebook without the sanitiser, where the printed address differs."""
    proc = _pytest(copy, "--nbval", "lectures", "--nbval-sanitize-with",
                   "lectures/sanitize.cfg", "-k", LECTURE, "-v")
    assert proc.returncode == 0, proc.stdout[-3000:]
    ran = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith("]")
           and " PASSED " in line]  # nbval names them lectures/13_throwaway::ipynb::Cell 0
    assert len(ran) == 3 and all(LECTURE in name for name in ran), proc.stdout[-3000:]
    assert "3 passed" in proc.stdout, proc.stdout[-3000:]
    proc = _pytest(copy, "--nbval", f"lectures/{LECTURE}.ipynb", "-q")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout[-3000:]
