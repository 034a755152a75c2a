"""Build the students' wheel (``emcourse-student``): emref, emcourse_student and
emcourse_exchange, nothing else.

    python scripts/student_wheel.py [OUT_DIR]     (default: _build/wheels; `make student-wheel`)

The course repository holds the grader, its checks and the solutions beside emref; the wheel
students install must hold none of them. This script stages the student packages beside
``packaging/student/pyproject.toml`` (its version set to the course's) in a fresh folder and
builds the wheel there (scripts/course_wheel.py's ``staged_build``), so what the wheel can
contain is exactly what was staged. It prints the wheel's path.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from course_wheel import ROOT, staged_build

PACKAGES = ("emref", "emcourse_student", "emcourse_exchange")  # a student environment's all


def build(out_dir) -> Path:
    """Build the student wheel into ``out_dir`` and return its path."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    template = (ROOT / "packaging" / "student" / "pyproject.toml").read_text()
    return staged_build(out_dir, template.replace("@VERSION@", version), PACKAGES,
                        "emcourse_student-*.whl")


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "wheels"))
