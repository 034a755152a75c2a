"""`make course`: build and run the whole course, step by step.

Each step is a module in scripts/ with a ``main()``; a step that fails stops the build with
its error. Steps, in order:

1. demo_emref   - fit k-means and a GMM to Old Faithful and print them (a smoke test a
                  teacher can read).
2. build_site   - execute every lecture and render lectures/ to a static offline site.
3. demo_class   - regenerate the student releases and grade a simulated class end to end.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["demo_emref", "build_site", "demo_class"]


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "scripts"))
    wanted = (argv if argv is not None else sys.argv[1:]) or STEPS
    for name in wanted:
        if not (ROOT / "scripts" / f"{name}.py").exists():
            print(f"== {name}: not part of this checkout yet, skipped")
            continue
        print(f"== {name}")
        start = time.perf_counter()
        importlib.import_module(name).main()
        print(f"== {name}: done in {time.perf_counter() - start:.1f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
