"""Build the course's wheel (``emcourse``: emref, the grader, the exchange, emcourse_student)
from a staging copy of the tree, so that nothing is written into the checkout (setuptools
builds in ``build/`` beside the sources, which two builds at once would share).

    python scripts/course_wheel.py [OUT_DIR]     (default: _build/wheels)

It prints the wheel's path. scripts/student_wheel.py builds the students' wheel the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("pyproject.toml", "README.md")
PACKAGES = ("emref", "emcourse_grader", "emcourse_student", "emcourse_exchange")


def build(out_dir: Path) -> Path:
    """Build the course's wheel into ``out_dir`` and return its path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emcourse-wheel-") as stage:
        stage = Path(stage)
        for name in FILES:
            shutil.copy2(ROOT / name, stage / name)
        for name in PACKAGES:
            shutil.copytree(ROOT / name, stage / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        before = set(out_dir.glob("emcourse-*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(out_dir), str(stage)], check=True)
    made = sorted(set(out_dir.glob("emcourse-*.whl")) - before) or sorted(
        out_dir.glob("emcourse-*.whl"))
    if not made:
        raise RuntimeError(f"pip built no emcourse wheel in {out_dir}")
    return made[-1]


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "wheels"))
