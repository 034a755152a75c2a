"""Build the students' wheel (``emcourse-student``): emref, emcourse_student and
emcourse_exchange, nothing else.

    python scripts/student_wheel.py [OUT_DIR]     (default: _build/wheels; `make student-wheel`)

The course repository holds the grader, its checks and the solutions beside emref; the wheel
students install must hold none of them. This script copies the two student packages into a
fresh staging folder beside ``packaging/student/pyproject.toml`` (its version set to the
course's) and builds the wheel there, so what the wheel can contain is exactly what was
staged. It prints the wheel's path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emref", "emcourse_student", "emcourse_exchange")  # a student environment's all


def build(out_dir: Path) -> Path:
    """Build the student wheel into ``out_dir`` and return its path."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emcourse-student-") as stage:
        stage = Path(stage)
        template = (ROOT / "packaging" / "student" / "pyproject.toml").read_text()
        (stage / "pyproject.toml").write_text(template.replace("@VERSION@", version))
        for name in PACKAGES:
            shutil.copytree(ROOT / name, stage / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        before = set(out_dir.glob("emcourse_student-*.whl"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(out_dir), str(stage)], check=True)
    wheel = out_dir / f"emcourse_student-{version}-py3-none-any.whl"
    if not wheel.exists():
        raise RuntimeError(f"pip built no {wheel.name} in {out_dir} (found "
                           f"{sorted(p.name for p in set(out_dir.glob('*.whl')) - before)})")
    return wheel


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "wheels"))
