"""Debian's Chromium, driven by Playwright, for the browser tests (the site, the
accessibility audit, the student's Lab, the trial hub)."""

from __future__ import annotations

import contextlib
import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Headless, nothing that calls home; anything not on loopback (which Chromium never proxies)
# would go to a proxy port nobody listens on.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--proxy-server=http://127.0.0.1:9"]


@contextlib.contextmanager
def launched(**options):
    """A running Chromium (``playwright.sync_api.Browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, **options)
        try:
            yield browser
        finally:
            browser.close()
