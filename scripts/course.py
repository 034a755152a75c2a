"""`make course`: build and run the whole course, step by step.

Each step is a module in scripts/ with a ``main()``, or a function of this file; a step that
fails stops the build with its error, and a step that does not exist is an error. Steps, in
order:

1. check       - the manifest (course.toml) against the course on disk: every lecture and
                 assignment notebook it names is there, none is extra, the points and the
                 checks of each part agree with the solution notebooks
                 (emcourse_grader.course.check).
2. demo_emref  - fit k-means and a GMM to Old Faithful and print them (a smoke test a
                 teacher can read).
3. docs        - write the table of assignments in docs/teaching.md and the list of
                 lectures in README.md from the manifest.
4. site        - render the lectures, from their committed outputs, to an offline static
                 site in _build/site with Jupyter Book (configuration: docs/site/; navigation
                 and the syllabus' lists of lectures and assignments: from the manifest).
5. demo_class  - regenerate the student releases and grade a simulated class end to end.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import importlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["check", "demo_emref", "docs", "site", "demo_class"]

BOOK = ROOT / "docs" / "site"  # _config.yml and the syllabus (index.md)
SITE = ROOT / "_build" / "site"
TEACHING = ROOT / "docs" / "teaching.md"


def check_course() -> manifest.Course:
    course = manifest.check(ROOT)
    print(f"   {course.manifest}: {len(course.lectures)} lectures, "
          f"{len(course.assignments)} assignments, as on disk")
    return course


# --------------------------------------------------------------------------------------------
# What the manifest writes: the site's navigation and syllabus lists, the docs' table
# --------------------------------------------------------------------------------------------

def _line(text: str) -> str:
    """A summary of the manifest on one line (a list item, a table cell)."""
    return " ".join(text.split())


# Pages of docs/site/ that are not lectures, listed after them (file names without ".md").
REFERENCE_PAGES = ["notation"]


def toc(course: manifest.Course) -> dict:
    """Jupyter Book's _toc.yml: the syllabus, the lectures in teaching order, then the
    reference pages (the course's notation)."""
    return {"format": "jb-book", "root": "index",
            "parts": [{"caption": "Lectures",
                       "chapters": [{"file": f"lectures/{lec.id}"} for lec in course.lectures]},
                      {"caption": "Reference",
                       "chapters": [{"file": page} for page in REFERENCE_PAGES]}]}


def syllabus(course: manifest.Course) -> dict:
    """The syllabus' generated blocks (MyST substitutions of docs/site/index.md): the numbered
    lectures, each linked, and the table of assignments, each student notebook a download."""
    lectures = "\n".join(f"{i}. [{lec.title}]({lec.path}): {_line(lec.summary)}"
                          for i, lec in enumerate(course.lectures, 1))
    rows = ["| assignment | after lecture | points | notebook |", "| --- | --- | --- | --- |"]
    for a in course.assignments:
        name = f"{a.notebook}.ipynb"
        rows.append(f"| {a.title} | {course.lecture_number(a.after)} | {_points(a)} | "
                    f"{{download}}`{name} <{a.release}>` |")
    return {"lectures": lectures, "assignments": "\n".join(rows)}


def _points(a: manifest.Assignment) -> str:
    return f"{a.points:g} ({a.manual_points:g} by hand)" if a.manual_points else f"{a.points:g}"


TABLE_START = ("<!-- the assignments of course.toml, written by `python scripts/course.py docs`: "
               "edit course.toml, not this table -->")
TABLE_END = "<!-- end of the assignments of course.toml -->"


def assignment_table(course: manifest.Course) -> str:
    """docs/teaching.md's table of assignments, between its markers."""
    rows = ["| assignment | notebook | points | what |", "| --- | --- | --- | --- |"]
    rows += [f"| `{a.id}` | `{a.notebook}.ipynb` | {_points(a)} | {_line(a.summary)} |"
             for a in course.assignments]
    return "\n".join([TABLE_START, *rows, TABLE_END])


LECTURES_START = ("<!-- the lectures of course.toml, written by `python scripts/course.py docs`: "
                  "edit course.toml, not this list -->")
LECTURES_END = "<!-- end of the lectures of course.toml -->"
README = ROOT / "README.md"


def lecture_list(course: manifest.Course) -> str:
    """README's numbered list of lectures (id, title and summary), between its markers."""
    items = [f"{i}. `{lec.id}`, **{lec.title}**: {_line(lec.summary)}"
             for i, lec in enumerate(course.lectures, 1)]
    return "\n".join([LECTURES_START, "", *items, "", LECTURES_END])


def _with_block(text: str, start: str, end: str, body: str, where: Path) -> str:
    """``text`` with the one block between ``start`` and ``end`` replaced by ``body``."""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"{where}: expected one block between\n  {start}\nand\n  {end}")
    return pattern.sub(lambda m: body, text)


def teaching_with_table(text: str, course: manifest.Course) -> str:
    """docs/teaching.md's text with its table of assignments written from the manifest."""
    return _with_block(text, TABLE_START, TABLE_END, assignment_table(course), TEACHING)


def readme_with_lectures(text: str, course: manifest.Course) -> str:
    """README.md's text with its list of lectures written from the manifest."""
    return _with_block(text, LECTURES_START, LECTURES_END, lecture_list(course), README)


def write_docs(course: manifest.Course | None = None) -> None:
    """The parts of the docs written from the manifest: docs/teaching.md's table of
    assignments and README.md's list of lectures."""
    course = course or manifest.load(ROOT)
    for path, write, what in ((TEACHING, teaching_with_table, "the table of assignments"),
                              (README, readme_with_lectures, "the list of lectures")):
        text = path.read_text(encoding="utf-8")
        new = write(text, course)
        if new != text:
            path.write_text(new, encoding="utf-8")
        print(f"   {path}: {what} {'rewritten' if new != text else 'is up to date'}")


def build_site(out: Path = SITE, *, work: Path | None = None) -> Path:
    """Build the lecture site with Jupyter Book into ``out`` (replaced) and return its index.

    The book is docs/site/ (its _config.yml and the syllabus, index.md); the navigation
    (_toc.yml) and the syllabus' lists of lectures and assignments (the substitutions
    ``{{ lectures }}`` and ``{{ assignments }}`` of index.md) are written from the manifest
    into ``work`` and handed to Jupyter Book with ``--toc`` and ``--config``, after the
    manifest has been checked against the course (a lecture missing or extra is an error).
    The lectures are not executed (``execute_notebooks: "off"`` in docs/site/_config.yml):
    the site shows the outputs committed with them, which nbval in `make test` keeps honest.
    Any Sphinx warning (a broken link) fails the build. ``work`` also holds Jupyter Book's
    own build folder (doctrees and the HTML before copying).
    """
    out = Path(out).resolve()
    work = Path(work).resolve() if work is not None else \
        out.parent / (out.name + ".jupyterbook")
    course = manifest.check(ROOT)
    shutil.rmtree(work, ignore_errors=True)  # a clean build: no page of a removed lecture stays
    work.mkdir(parents=True)
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("parse", {})["myst_substitutions"] = syllabus(course)
    (work / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (work / "_toc.yml").write_text(yaml.safe_dump(toc(course), sort_keys=False),
                                   encoding="utf-8")
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(BOOK),
           "--config", str(work / "_config.yml"), "--toc", str(work / "_toc.yml"),
           "--path-output", str(work), "--warningiserror", "--keep-going", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the lecture site did not build (`{' '.join(cmd)}`):\n"
                         f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(work / "_build" / "html", out)
    described = apply_alt_texts(out, figure_alt_texts(course))
    print(f"   site: {described} figures described by their alt text")
    index = out / "index.html"
    print(f"   site: {index}")
    return index


def figure_alt_texts(course: manifest.Course) -> dict:
    """The alt text of every lecture figure, by the name MyST-NB gives its image file (the
    SHA-256 of the image's bytes, then ``.png``).

    emref.viz.show writes each figure's alt text into its output's metadata, one per figure;
    MyST-NB takes an image's ``alt`` only from the cell's metadata (one for the whole cell),
    so the site's pages get theirs from here (:func:`apply_alt_texts`)."""
    out = {}
    for lec in course.lectures:
        nb = json.loads((course.root / lec.path).read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                alt = output.get("metadata", {}).get("image/png", {}).get("alt")
                if png and isinstance(alt, str) and alt.strip():
                    text = "".join(png) if isinstance(png, list) else png
                    digest = hashlib.sha256(binascii.a2b_base64(text)).hexdigest()
                    out[f"{digest}.png"] = " ".join(alt.split())
    return out


_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r'\bsrc="([^"]+)"')
_ALT = re.compile(r'\balt="[^"]*"')


def apply_alt_texts(site: Path, alts: dict) -> int:
    """Give every ``<img>`` of the built site whose file is a described figure its alt text
    (replacing MyST-NB's default, the image's path); return how many were given one."""
    count = 0
    for page in Path(site).rglob("*.html"):
        text = page.read_text(encoding="utf-8")

        def describe(match):
            nonlocal count
            tag = match.group(0)
            src = _SRC.search(tag)
            alt = alts.get(src.group(1).rsplit("/", 1)[-1]) if src else None
            if alt is None:
                return tag
            count += 1
            attr = f'alt="{html.escape(alt, quote=True)}"'
            return _ALT.sub(lambda _: attr, tag, count=1) if _ALT.search(tag) else \
                f"{tag[:4]} {attr}{tag[4:]}"

        new = _IMG.sub(describe, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return count


def _step(name: str):
    """The function that runs the step ``name``; an unknown step is an error."""
    functions = {"check": check_course, "docs": write_docs, "site": build_site}
    if name in functions:
        return functions[name]
    if not (ROOT / "scripts" / f"{name}.py").exists():
        raise SystemExit(f"`make course`: no step {name!r} (the steps are {', '.join(STEPS)}; "
                         f"scripts/{name}.py does not exist)")
    return importlib.import_module(name).main


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "scripts"))
    wanted = (argv if argv is not None else sys.argv[1:]) or STEPS
    steps = [(name, _step(name)) for name in wanted]  # every name known before anything runs
    for name, step in steps:
        print(f"== {name}")
        start = time.perf_counter()
        step()
        print(f"== {name}: done in {time.perf_counter() - start:.1f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
