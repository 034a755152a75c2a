"""`make course`: build and run the whole course, step by step.

Each step is a module in scripts/ with a ``main()``, or a function of this file; a step that
fails stops the build with its error. Steps, in order:

1. demo_emref   - fit k-means and a GMM to Old Faithful and print them (a smoke test a
                  teacher can read).
2. site         - render the lectures, from their committed outputs, to an offline static
                  site in _build/site with Jupyter Book (configuration: docs/site/).
3. demo_class   - regenerate the student releases and grade a simulated class end to end.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["demo_emref", "site", "demo_class"]

BOOK = ROOT / "docs" / "site"  # _config.yml, _toc.yml and the syllabus (index.md)
SITE = ROOT / "_build" / "site"


def build_site(out: Path = SITE, *, work: Path | None = None) -> Path:
    """Build the lecture site with Jupyter Book into ``out`` (replaced) and return its index.

    The lectures are not executed (``execute_notebooks: "off"`` in docs/site/_config.yml):
    the site shows the outputs committed with them, which nbval in `make test` keeps honest.
    Any Sphinx warning (a lecture missing from _toc.yml, a broken link) fails the build.
    ``work`` holds Jupyter Book's own build folder (doctrees and the HTML before copying).
    """
    out = Path(out)
    work = Path(work) if work is not None else out.parent / (out.name + ".jupyterbook")
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(BOOK),
           "--path-output", str(work), "--warningiserror", "--keep-going", "--quiet"]
    shutil.rmtree(work, ignore_errors=True)  # a clean build: no page of a removed lecture stays
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the lecture site did not build (`{' '.join(cmd)}`):\n"
                         f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(work / "_build" / "html", out)
    index = out / "index.html"
    print(f"   site: {index}")
    return index


def _step(name: str):
    if name == "site":
        return build_site
    if not (ROOT / "scripts" / f"{name}.py").exists():
        return None
    return importlib.import_module(name).main


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "scripts"))
    wanted = (argv if argv is not None else sys.argv[1:]) or STEPS
    for name in wanted:
        step = _step(name)
        if step is None:
            print(f"== {name}: not part of this checkout yet, skipped")
            continue
        print(f"== {name}")
        start = time.perf_counter()
        step()
        print(f"== {name}: done in {time.perf_counter() - start:.1f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
