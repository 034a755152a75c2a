"""Build the course's wheel (``emcourse``: emref, the grader, the exchange, emcourse_student)
from a staging copy of the tree, so that nothing is written into the checkout (setuptools
builds in ``build/`` beside the sources, which two builds at once would share).

    python scripts/course_wheel.py [OUT_DIR]     (default: _build/wheels)

It prints the wheel's path. scripts/student_wheel.py builds the students' wheel with the same
:func:`staged_build`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emref", "emcourse_grader", "emcourse_student", "emcourse_exchange")


def staged_build(out_dir, pyproject: str, packages, wheel_glob: str) -> Path:
    """Copy ``packages`` of the tree beside a ``pyproject.toml`` holding ``pyproject`` (and
    the README) in a fresh folder, build the wheel there into ``out_dir``, and return the
    new file matching ``wheel_glob``: what the wheel can hold is exactly what was staged."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob(wheel_glob))
    with tempfile.TemporaryDirectory(prefix="emcourse-wheel-") as stage:
        stage = Path(stage)
        (stage / "pyproject.toml").write_text(pyproject)
        shutil.copy2(ROOT / "README.md", stage / "README.md")
        for name in packages:
            shutil.copytree(ROOT / name, stage / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(out_dir), str(stage)], check=True)
    made = sorted(set(out_dir.glob(wheel_glob)) - before) or sorted(out_dir.glob(wheel_glob))
    if not made:
        raise RuntimeError(f"pip built no {wheel_glob} in {out_dir}")
    return made[-1]


def build(out_dir) -> Path:
    """Build the course's wheel into ``out_dir`` and return its path."""
    return staged_build(out_dir, (ROOT / "pyproject.toml").read_text(), PACKAGES,
                        "emcourse-*.whl")


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "wheels"))
