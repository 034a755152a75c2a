"""axe-core, the accessibility checker tests/test_accessibility_browser.py runs in Chromium.

Installed from npm (the registry, nothing else), at one pinned version, into a cache folder
outside the tree: ``EMCOURSE_AXE_CACHE``, by default ``/var/cache/emcourse-axe``. ``make axe``
(a step of ``make test``) runs this; the test calls :func:`install` too, so a single pytest
run works. Prints the path of ``axe.min.js``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

AXE_VERSION = "4.14.1"
DEFAULT_CACHE = "/var/cache/emcourse-axe"


def cache() -> Path:
    """The cache folder (``EMCOURSE_AXE_CACHE`` or :data:`DEFAULT_CACHE`)."""
    return Path(os.environ.get("EMCOURSE_AXE_CACHE", DEFAULT_CACHE))


def axe_js(folder: Path | None = None) -> Path:
    return (folder or cache()) / "node_modules" / "axe-core" / "axe.min.js"


def installed(folder: Path | None = None) -> bool:
    """Whether axe-core :data:`AXE_VERSION` is in the cache."""
    package = (folder or cache()) / "node_modules" / "axe-core" / "package.json"
    try:
        return (json.loads(package.read_text(encoding="utf-8")).get("version") == AXE_VERSION
                and axe_js(folder).exists())
    except (OSError, ValueError):
        return False


def install(folder: Path | None = None) -> Path:
    """axe-core :data:`AXE_VERSION` in ``folder`` (npm, once); returns its ``axe.min.js``."""
    folder = folder or cache()
    if installed(folder):
        return axe_js(folder)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: `make system` (scripts/system_setup.sh) installs it")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                    "--silent", f"axe-core@{AXE_VERSION}"], check=True, capture_output=True,
                   timeout=300)
    if not installed(folder):
        raise RuntimeError(f"npm did not install axe-core {AXE_VERSION} into {folder}")
    return axe_js(folder)


if __name__ == "__main__":
    print(install(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
