"""The static site of scripts/build_site.py, opened in headless Chromium with no network.

The site is reused from ``_build/site`` when it is newer than every lecture and than
build_site.py (``make course`` built it); otherwise it is rendered into a temporary folder
from the committed outputs (``execute=False``: executing the lectures is nbval's job, and it
keeps this test fast). Chromium (Debian's ``chromium``) is installed with apt-get when
missing; the tests are skipped, saying why, only when that is impossible.

What a browser must see on every page, read from the DOM after scripts ran
(``--dump-dom`` with a virtual-time budget):

- MathJax finished (``data-mathjax="done"`` on <body>), typeset formulas and no TeX errors,
  and no ``$...$`` left as plain text in the rendered markdown;
- every <img> decoded (``data-images-broken="0"``), each an inline ``data:image/`` URI;
- nothing fetched from another host (Chromium runs behind a dead proxy, so any such fetch
  would fail, and the HTML is checked to refer to none).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "site"
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # No network at all: anything not on the file system goes to a port nobody listens on.
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]
DUMP_TIMEOUT = 120  # seconds for one page; MathJax needs about 5

pytestmark = pytest.mark.skipif(not LECTURES, reason="no lectures/*.ipynb to build yet")


# --------------------------------------------------------------------------------------------
# Chromium and the site
# --------------------------------------------------------------------------------------------

def _which_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _install_chromium():
    """apt-get install chromium, or skip the module with the reason it cannot be done."""
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and this system has no apt-get to install it")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        pytest.skip("chromium is not installed, and installing it with apt-get needs root "
                    "(run: apt-get update && apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"chromium could not be installed: `{' '.join(cmd)}` failed: "
                        f"{(exc.stderr or '').strip()[-300:]}")
        except subprocess.TimeoutExpired:
            pytest.skip(f"chromium could not be installed: `{' '.join(cmd)}` timed out")
    path = _which_chromium()
    if path is None:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return path


@pytest.fixture(scope="module")
def chromium():
    return _which_chromium() or _install_chromium()


def _site_is_fresh(site: Path) -> bool:
    index = site / "index.html"
    if not index.is_file():
        return False
    if any(not (site / f"{p.stem}.html").is_file() for p in LECTURES):
        return False
    built = index.stat().st_mtime
    sources = [*LECTURES, ROOT / "scripts" / "build_site.py"]
    return all(p.stat().st_mtime <= built for p in sources)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if _site_is_fresh(SITE):
        return SITE
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_site
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    out = tmp_path_factory.mktemp("site")
    build_site.build(out, execute=False)
    return out


def _dump_dom(chromium: str, page: Path, budget_ms: int = 30000) -> str:
    """The DOM of ``page`` after its scripts ran, from a fresh headless Chromium."""
    with tempfile.TemporaryDirectory(prefix="emcourse-chromium-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}",
               f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DUMP_TIMEOUT,
                              check=False)
    assert proc.returncode == 0, f"chromium failed on {page.name}: {proc.stderr[-800:]}"
    assert "<body" in proc.stdout, f"chromium returned no DOM for {page.name}"
    return proc.stdout


def _dump_dom_patiently(chromium: str, page: Path) -> str:
    """As :func:`_dump_dom`, once more with a longer budget if MathJax had not finished
    (a loaded machine can starve the first try)."""
    dom = _dump_dom(chromium, page)
    if 'data-mathjax="done"' not in dom:
        dom = _dump_dom(chromium, page, budget_ms=90000)
    return dom


@pytest.fixture(scope="module")
def doms(chromium, site):
    """The DOM of every page, dumped in parallel: Chromium mostly waits, so 4 at a time keep
    the module well under two minutes on 2 cores."""
    pages = [site / "index.html"] + [site / f"{p.stem}.html" for p in LECTURES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda p: _dump_dom_patiently(chromium, p), pages))
    return {p.name: t for p, t in zip(pages, texts)}


# --------------------------------------------------------------------------------------------
# Reading HTML
# --------------------------------------------------------------------------------------------

class _Page(HTMLParser):
    """The facts the tests need from one HTML document."""

    SKIP = frozenset({"script", "style", "code", "pre", "textarea"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.body_attrs: dict[str, str] = {}
        self.img_srcs: list[str] = []
        self.external: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.markdown_text: list[str] = []
        self.mathjax_nodes = 0
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, in markdown, skipped)

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "body":
            self.body_attrs = a
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.img_srcs.append(a.get("src", ""))
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        for attr in ("src", "href"):
            url = a.get(attr, "")
            if re.match(r"(https?:)?//", url) and not (tag == "a" and attr == "href"):
                self.external.append(f"<{tag} {attr}={url}>")
        cls = a.get("class", "")
        if re.search(r"\bMathJax(_Display)?\b", cls):
            self.mathjax_nodes += 1
        parent_md = self._stack[-1][1] if self._stack else False
        parent_skip = self._stack[-1][2] if self._stack else False
        in_md = parent_md or "jp-RenderedMarkdown" in cls or "lectures" in cls
        skip = parent_skip or tag in self.SKIP or "MathJax" in cls
        if tag not in ("img", "br", "hr", "meta", "link", "input", "wbr", "col", "source"):
            self._stack.append((tag, in_md, skip))

    def handle_endtag(self, tag):
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data):
        if self._stack and self._stack[-1][1] and not self._stack[-1][2]:
            self.markdown_text.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


RAW_TEX = re.compile(r"\$\$?[^$\n]*?[\\^_{}][^$\n]*?\$\$?|\$[A-Za-z]\$")


def _check_typeset(dom: _Page, name: str, expect_images: int | None):
    attrs = dom.body_attrs
    assert attrs.get("data-mathjax") == "done", (
        f"{name}: MathJax did not finish (body attributes {attrs})")
    assert int(attrs.get("data-mathjax-count", "0")) > 0, f"{name}: no formula was typeset"
    assert attrs.get("data-mathjax-errors") == "0", (
        f"{name}: {attrs.get('data-mathjax-errors')} TeX errors")
    assert dom.mathjax_nodes > 0, f"{name}: no MathJax output elements in the DOM"
    raw = RAW_TEX.findall(" ".join(dom.markdown_text))
    assert not raw, f"{name}: TeX left untypeset in the rendered text: {raw[:5]}"
    if expect_images is not None:
        assert attrs.get("data-images-broken") == "0", (
            f"{name}: {attrs.get('data-images-broken')} images did not load")
        assert int(attrs.get("data-images-loaded", "-1")) == expect_images, (
            f"{name}: {attrs.get('data-images-loaded')} of {expect_images} images loaded")


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_site_is_complete_and_self_contained(site):
    assert (site / "index.html").is_file()
    assert (site / "mathjax" / "MathJax.js").is_file()
    for nb in LECTURES:
        page = site / f"{nb.stem}.html"
        assert page.is_file(), f"no page for {nb.name}"
        text = page.read_text(encoding="utf-8")
        parsed = _parse(text)
        assert not parsed.external, f"{page.name} fetches from other hosts: {parsed.external}"
        assert "mathjax/MathJax.js" in text
        for src in parsed.img_srcs:
            assert src.startswith("data:image/"), f"{page.name}: image not inline: {src[:60]}"
            if src.startswith("data:image/png;base64,"):
                head = base64.b64decode(src.split(",", 1)[1][:24])
                assert head.startswith(b"\x89PNG"), f"{page.name}: an inline PNG is corrupt"


def test_index_lists_every_lecture_and_its_sections(site):
    index = _parse((site / "index.html").read_text(encoding="utf-8"))
    assert not index.external
    pages = {nb.stem + ".html" for nb in LECTURES}
    linked = {href.split("#")[0] for href in index.links}
    assert pages <= linked, f"index misses {sorted(pages - linked)}"
    anchors = [href for href in index.links if "#" in href]
    assert anchors, "the table of contents lists no sections"
    ids_by_page = {}
    for href in anchors:
        page, anchor = href.split("#", 1)
        if page not in ids_by_page:
            ids_by_page[page] = _parse((site / page).read_text(encoding="utf-8")).ids
        assert anchor in ids_by_page[page], f"index links to a missing section {href}"


@pytest.mark.parametrize("lecture", [p.stem for p in LECTURES])
def test_lecture_page_in_chromium(doms, site, lecture):
    page = site / f"{lecture}.html"
    n_images = len(_parse(page.read_text(encoding="utf-8")).img_srcs)
    dom = _parse(doms[page.name])
    _check_typeset(dom, page.name, expect_images=n_images)
    assert n_images > 0, f"{page.name} has no figure"


def test_index_in_chromium(doms):
    dom = _parse(doms["index.html"])
    assert dom.body_attrs.get("data-mathjax") == "done"
    assert dom.body_attrs.get("data-mathjax-errors") == "0"
    raw = RAW_TEX.findall(" ".join(dom.markdown_text))
    assert not raw, f"index: TeX left untypeset: {raw[:5]}"
