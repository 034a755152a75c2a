"""The lecture site (Jupyter Book, configured in docs/site/), read in headless Chromium.

The site is built once per test run (shared with the accessibility audit), into a temporary
folder, by the same function as `make course` (``scripts/course.py``'s ``build_site``: the
lectures' committed outputs, never re-executed), and served from 127.0.0.1. Debian's
Chromium, driven by Playwright, opens the syllabus, every lecture and the search page, with
every request recorded: any request for a URL outside the local server is aborted and fails
the test. Installing Chromium is set-up (`make system`, scripts/system_setup.sh); without it
the module is skipped, saying so.

What a reader must get, checked in the browser after the page's scripts ran:

- every lecture page typesets its math with MathJax (output present, no TeX error, no raw
  ``$...$``, ``$$`` or ``\\(`` left in the text), and every figure loads (naturalWidth > 0),
  one per image output stored in the notebook;
- navigation to every lecture, a table of contents of the lecture's sections, and a download
  of the lecture's .ipynb (the committed notebook, byte for byte);
- the syllabus links to every lecture and to every assignment's student notebook (the file
  in assignments/, byte for byte), in the manifest's order (course.toml), and the navigation
  lists the lectures in that order;
- search, typed into the search field as a reader would, finds lecture 4 for a word that only
  lecture 4 contains;
- no request leaves the site and no page logs a console error;
- opened straight from disk (file://), a lecture still typesets and search still works.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import browser as browser_tools  # tests/browser.py
import nbformat
import pytest
from helpers import build_lecture_site

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
# What the site must show: the lectures and the assignments' student notebooks of the
# manifest (a file missing from disk fails the build, and so the tests).
COURSE = manifest.load(ROOT)
LECTURES = [ROOT / lec.path for lec in COURSE.lectures]
ASSIGNMENTS = [ROOT / a.release for a in COURSE.assignments]
SEARCH_TERM, SEARCH_LECTURE = "Kullback", "04_general_em"  # a word only lecture 4 has

CHROMIUM = browser_tools.CHROMIUM
PAGE_TIMEOUT_MS = 60_000  # a loaded machine can be slow; an idle one needs about a second

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: "
                       "`make system` (scripts/system_setup.sh) installs it"),
]

# TeX that MathJax should have replaced, in the text a reader sees.
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\$[^$\n]*?[\\^_{}][^$\n]*?\$|\$[A-Za-z]\$")

# Everything the tests read from a page, in one evaluation after MathJax has finished.
PAGE_FACTS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const skip = "script, style, pre, code, mjx-container, .highlight, .cell_output, textarea";
  const main = document.querySelector("main") || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const text = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(skip)) text.push(n.textContent);
  }
  const abs = (a) => a.href;
  return {
    title: document.title,
    mathjax_version: (window.MathJax && MathJax.version) || null,
    math: document.querySelectorAll("mjx-container").length,
    math_errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
    text: text.join(" "),
    images: Array.from(document.images).map(
      (i) => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth})),
    headings: Array.from(main.querySelectorAll("section[id] > h2")).map(
      (h) => h.parentElement.id),
    page_toc: Array.from(document.querySelectorAll(".bd-toc-nav a, #pst-page-toc-nav a")).map(
      (a) => a.getAttribute("href")),
    sidebar: Array.from(document.querySelectorAll(".bd-sidebar-primary nav a")).map(abs),
    links: Array.from(document.querySelectorAll("a[href]")).map(abs),
    main_links: Array.from(main.querySelectorAll("a[href]")).map(abs),
  };
}"""


# --------------------------------------------------------------------------------------------
# The site, its server and the browser
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(shared_dir):
    # built once per test run, shared with the accessibility audit
    return shared_dir("lecture-site", build_lecture_site) / "site"



class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base_url(site):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


class Browser:
    """One Chromium; each visit records every request and every console error."""

    def __init__(self, browser, base_url: str):
        self.browser, self.base = browser, base_url
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def _context(self):
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(PAGE_TIMEOUT_MS)

        def route(r):
            url = r.request.url
            if url.startswith((self.base, "data:", "blob:")):
                r.continue_()
            else:
                self.outside.append(url)
                r.abort()

        context.route("**/*", route)
        return context

    def _watch(self, page, name: str):
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{name}: console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{name}: page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(
            f"{name}: request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(
            f"{name}: HTTP {r.status} for {r.url}"))

    def open(self, path: str):
        """(context, page) at ``path``, loaded; the caller closes the context."""
        context = self._context()
        page = context.new_page()
        self._watch(page, path)
        page.goto(self.base + path, wait_until="load")
        return context, page

    def facts(self, path: str) -> dict:
        context, page = self.open(path)
        try:
            facts = page.evaluate(PAGE_FACTS)
            facts["url"] = page.url
            return facts
        finally:
            context.close()


@pytest.fixture(scope="module")
def chromium():
    with browser_tools.launched() as launched:
        yield launched


@pytest.fixture(scope="module")
def browser(chromium, base_url):
    return Browser(chromium, base_url)


@pytest.fixture(scope="module")
def pages(browser):
    """The facts of the syllabus and of every lecture page, visited once each."""
    paths = ["index.html", "notation.html"] + [f"lectures/{nb.stem}.html" for nb in LECTURES]
    return {path: browser.facts(path) for path in paths}


def _fetch(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:"), url
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _image_outputs(nb_path: Path) -> int:
    nb = nbformat.read(nb_path, as_version=4)
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])
               if any(k.startswith("image/") for k in out.get("data", {})))


def _in_order(paths) -> list:
    """The lecture pages among ``paths``, each once, in the order they first appear."""
    out = []
    for p in paths:
        if p.startswith("lectures/") and p.endswith(".html") and p not in out:
            out.append(p)
    return out


def _path(url: str, base: str) -> str:
    return urlsplit(url).path[len(urlsplit(base).path):] if url.startswith(base) else url


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lecture", [nb.stem for nb in LECTURES])
def test_lecture_page(pages, browser, lecture):
    nb_path = ROOT / "lectures" / f"{lecture}.ipynb"
    facts = pages[f"lectures/{lecture}.html"]
    name = f"lectures/{lecture}.html"

    assert facts["mathjax_version"], f"{name}: MathJax did not load"
    assert facts["math"] > 0, f"{name}: no formula typeset (no MathJax output in the page)"
    assert facts["math_errors"] == 0, f"{name}: {facts['math_errors']} TeX errors"
    raw = RAW_TEX.findall(facts["text"])
    assert not raw, f"{name}: TeX left untypeset in the text: {raw[:5]}"

    expected = _image_outputs(nb_path)
    assert expected > 0, f"{nb_path.name} has no stored figure: was it committed executed?"
    broken = [i["src"] for i in facts["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{name}: images that did not load: {broken}"
    figures = [i for i in facts["images"] if "/_images/" in i["src"]]
    assert len(figures) == expected, (
        f"{name}: {len(figures)} figures on the page, {expected} image outputs in the notebook")

    # The lecture's table of contents: one entry per section, each pointing at it.
    toc = {href.split("#", 1)[1] for href in facts["page_toc"] if "#" in href}
    assert facts["headings"], f"{name}: no sections found"
    missing = [h for h in facts["headings"] if h not in toc]
    assert not missing, f"{name}: sections missing from the page's table of contents: {missing}"

    # Navigation to every lecture, in the manifest's order.
    nav = _in_order(_path(u, browser.base) for u in facts["sidebar"])
    assert nav == [f"lectures/{nb.stem}.html" for nb in LECTURES], (
        f"{name}: the navigation does not list the lectures of course.toml in order: {nav}")

    # The download is the committed notebook, outputs included.
    downloads = [u for u in facts["links"] if urlsplit(u).path.endswith(f"/{lecture}.ipynb")]
    assert downloads, f"{name}: no link to download {lecture}.ipynb"
    assert _fetch(downloads[0]) == nb_path.read_bytes(), (
        f"{name}: the downloaded notebook differs from lectures/{lecture}.ipynb")


def test_syllabus_links_lectures_and_assignments(pages, browser):
    facts = pages["index.html"]
    assert facts["math"] > 0 and facts["math_errors"] == 0, "syllabus: math not typeset"
    raw = RAW_TEX.findall(facts["text"])
    assert not raw, f"syllabus: TeX left untypeset: {raw[:5]}"
    # The syllabus' own list (the page's links after the navigation's), in the manifest's order.
    linked = _in_order(_path(u.split("#")[0], browser.base) for u in facts["main_links"])
    lectures = [f"lectures/{nb.stem}.html" for nb in LECTURES]
    assert linked == lectures, f"the syllabus lists {linked}; course.toml: {lectures}"

    assert ASSIGNMENTS, "no assignments/<hw>/*.ipynb to link to"
    for nb in ASSIGNMENTS:
        hrefs = [u for u in facts["links"] if urlsplit(u).path.endswith("/" + nb.name)]
        assert hrefs, f"the syllabus does not link to {nb.relative_to(ROOT)}"
        assert hrefs[0].startswith(browser.base), f"{nb.name} is linked outside the site"
        assert _fetch(hrefs[0]) == nb.read_bytes(), (
            f"the site's {nb.name} differs from {nb.relative_to(ROOT)}")


def test_notation_page_is_in_the_navigation_and_typeset(pages, browser):
    facts = pages["notation.html"]
    assert facts["math"] > 0 and facts["math_errors"] == 0, "notation: math not typeset"
    raw = RAW_TEX.findall(facts["text"])
    assert not raw, f"notation: TeX left untypeset: {raw[:5]}"
    for page in ("index.html", "notation.html"):
        sidebar = {_path(u.split("#")[0], browser.base) for u in pages[page]["sidebar"]}
        assert "notation.html" in sidebar, f"{page}: no Notation in the navigation: {sidebar}"


@pytest.fixture(scope="module")
def search(browser):
    """Type the word into the search field, as a reader would: (result paths, results text)."""
    context, page = browser.open("index.html")
    try:
        page.locator(".bd-sidebar-primary .search-button-field").click()
        field = page.locator("#pst-search-dialog input[name='q']")
        field.fill(SEARCH_TERM)
        field.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q="))
        page.wait_for_selector("#search-results ul.search li a")
        results = page.eval_on_selector_all(
            "#search-results ul.search li a", "(as) => as.map((a) => a.href)")
        text = page.inner_text("#search-results")
    finally:
        context.close()
    return {_path(u.split("?")[0].split("#")[0], browser.base) for u in results}, text


def test_search_finds_a_word_of_lecture_4(search):
    lecture = (ROOT / "lectures" / f"{SEARCH_LECTURE}.ipynb").read_text(encoding="utf-8")
    assert SEARCH_TERM in lecture, "pick another SEARCH_TERM: lecture 4 no longer says it"
    hits, text = search
    assert f"lectures/{SEARCH_LECTURE}.html" in hits, (
        f"search for {SEARCH_TERM!r} did not find lecture 4: {sorted(hits)}\n{text[:500]}")


def test_no_request_leaves_the_site_and_no_console_error(browser, pages, search):
    # After every page and the search have been visited: all they asked for is recorded.
    assert browser.requests, "no request was recorded"
    assert not browser.outside, f"requests left the site: {sorted(set(browser.outside))[:10]}"
    foreign = [u for u in browser.requests if not u.startswith((browser.base, "data:", "blob:"))]
    assert not foreign, f"requests outside the local server: {sorted(set(foreign))[:10]}"
    assert not browser.errors, "\n".join(browser.errors[:20])
    # The math came from the site itself.
    assert any("/_static/mathjax/" in u for u in browser.requests), "MathJax was not local"


def test_site_works_opened_from_the_file_system(chromium, site):
    """`_build/site/index.html` opened directly (file://): math, search, nothing fetched."""
    browser = Browser(chromium, site.resolve().as_uri() + "/")
    facts = browser.facts(f"lectures/{SEARCH_LECTURE}.html")
    assert facts["math"] > 0 and facts["math_errors"] == 0, "file://: math not typeset"
    assert not RAW_TEX.findall(facts["text"]), "file://: TeX left untypeset"
    assert all(i["complete"] and i["width"] > 0 for i in facts["images"]), "file://: images"
    context, page = browser.open(f"search.html?q={SEARCH_TERM}")
    try:
        page.wait_for_selector("#search-results ul.search li a")
        hits = page.eval_on_selector_all(
            "#search-results ul.search li a", "(as) => as.map((a) => a.href)")
    finally:
        context.close()
    assert any(f"lectures/{SEARCH_LECTURE}.html" in u for u in hits), f"file://: {hits}"
    assert not browser.outside, f"file://: requests left the site: {browser.outside[:10]}"
    assert not browser.errors, "\n".join(browser.errors[:20])
