"""WCAG 2.1 AA on the lecture site and on the feedback pages, checked in a real browser.

axe-core (npm, pinned in scripts/install_axe.py, installed once into a cache folder by
``make axe`` or by this module) runs in Debian's Chromium, driven by Playwright as in
tests/test_site.py, on

- every page of the lecture site (built by ``scripts/course.py``'s ``build_site``, as
  ``make course`` builds it: the syllabus, every lecture of course.toml, search, index), and
- every feedback page of a small demo class graded end to end (``scripts/demo_class.py``:
  ``nbgrader autograde`` then ``generate_feedback``): a student whose work passes some parts
  and fails others, and one who hands in the solution, both with a written answer that waits
  for a human. The pages are served as a Jupyter server serves them (``/files/...``, MathJax
  from ``/static/jupyter_server_mathjax/``), so their formulas are typeset, both ways a
  student reads them: in a browser tab ("feedback-tab": the server's
  ``Content-Security-Policy: sandbox``, so MathJax hands the formulas to the browser as
  MathML) and in JupyterLab's HTML viewer ("feedback-lab": same origin, MathJax's HTML-CSS
  output).

What each page must give (docs/teaching.md, "Accessibility"):

- no axe violation of the rules tagged wcag2a, wcag2aa, wcag21a, wcag21aa, after MathJax
  has typeset the page;
- no formula in the Tab order (no tabbable element inside a typeset formula: MathJax 3's
  ``mjx-container``, MathJax 2's ``.MathJax``, ``.MathJax_Display``, ``.MathJax_MathML``),
  while every formula is there as MathML for screen readers (MathJax's hidden copy, or the
  browser's own);
- at 320 px wide, no sideways scrolling of the page;
- on the site: a keyboard user reaches the lecture navigation in a few presses of Tab, and
  every control the first Tab presses reach shows where the focus is; every figure has alt
  text that says something (not a file name).

The site and the class are made once for the module, at the same time (the class in a
subprocess); each page is visited once. Skipped, saying why, without Chromium or npm.
"""

from __future__ import annotations

import http.server
import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import typing
from pathlib import Path

import browser as browser_tools  # tests/browser.py
import pytest
from helpers import build_lecture_site

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
COURSE = manifest.load(ROOT)

sys.path.insert(0, str(ROOT / "scripts"))
try:
    import install_axe
finally:
    sys.path.remove(str(ROOT / "scripts"))
AXE_VERSION = install_axe.AXE_VERSION
AXE_JS = install_axe.axe_js()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

CHROMIUM = browser_tools.CHROMIUM
PAGE_TIMEOUT_MS = 90_000
WIDE, NARROW = 1280, 320

# The demo class: one assignment, a student with passing and failing parts, one with the
# solution; both leave the written answer to a human (it is "pending").
HW = COURSE.assignments[0].id
NOTEBOOK = COURSE.assignments[0].notebook
STUDENTS = {"partial": {HW: "partial.py"}, "ada": {HW: "solution"}}

SITE_PAGES = (["index.html", "search.html", "genindex.html"]
              + [f"lectures/{lec.id}.html" for lec in COURSE.lectures])
FEEDBACK_PAGES = [f"{student}/{HW}/{NOTEBOOK}.html" for student in STUDENTS]
FEEDBACK_MODES = ("feedback-tab", "feedback-lab")
FEEDBACK_KEYS = [f"{mode}/{p}" for mode in FEEDBACK_MODES for p in FEEDBACK_PAGES]
KEYBOARD_PAGE = f"lectures/{COURSE.lectures[-1].id}.html"
MAX_TABS_TO_NAVIGATION = 5
FOCUS_STOPS_CHECKED = 25

# A figure's alt text that is a file's name or path, not a description.
PATH_LIKE = re.compile(r"(^|/)[\w.-]+\.(png|jpe?g|svg|gif|webp)$|^_images/|^\.\./|^[0-9a-f]{16,}",
                       re.IGNORECASE)


def _skip_reason():
    if CHROMIUM is None:
        return "Debian's chromium is not installed: `make system` installs it"
    if not AXE_JS.exists() and shutil.which("npm") is None:
        return "axe-core is not installed and npm is missing: `make system`, then `make axe`"
    if not (ROOT / "tests" / "submissions" / HW / "partial.py").exists():
        return f"no tests/submissions/{HW}/partial.py for the demo class"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))

# Everything a test needs from a page, in one evaluation after the formulas are typeset.
# "Tabbable": what Tab stops at (a link, a control, tabindex >= 0), shown and enabled.
FACTS = """() => {
  const FORMULA = "mjx-container, .MathJax, .MathJax_Display, .MathJax_MathML, " +
    ".MathJax_MathContainer, .MathJax_SVG, .MathJax_CHTML, .MathJax_Preview";
  const sel = "a[href], button, input, select, textarea, summary, [tabindex]";
  const tabbable = [...document.querySelectorAll(sel)].filter((e) =>
    e.tabIndex >= 0 && !e.disabled && e.getClientRects().length > 0);
  const inFormula = tabbable.filter((e) => e.closest(FORMULA));
  return {
    lang: document.documentElement.lang,
    title: document.title,
    h1: [...document.querySelectorAll("h1")].map((h) => h.textContent.trim()),
    headings: [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].filter(
      (h) => h.getClientRects().length > 0).map((h) => Number(h.tagName[1])),
    formulas: document.querySelectorAll(
      'mjx-container, script[type^="math/tex"]').length,
    mathml: document.querySelectorAll("math").length,
    tabbable: tabbable.length,
    tabbable_in_formulas: inFormula.length,
    tabbable_in_formulas_examples: inFormula.slice(0, 3).map((e) => e.outerHTML.slice(0, 120)),
    images: [...document.querySelectorAll("main img, #notebook img")].map(
      (i) => ({src: i.getAttribute("src") || "", alt: i.getAttribute("alt")})),
  };
}"""

SCROLL = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"""


def _typeset(page, feedback: bool) -> None:
    """Wait until MathJax has finished with the page (site: MathJax 3; feedback: MathJax 2,
    which marks ``<body data-mathjax="done">``)."""
    if feedback:
        page.wait_for_selector("body[data-mathjax='done']", state="attached")
    else:
        page.evaluate("""async () => {
          if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            await MathJax.startup.promise;
          }
        }""")
    page.wait_for_timeout(300)  # the scripts that box wide formulas run on resize and typeset


def _axe(page) -> list:
    page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async (tags) => await axe.run(document, {
             runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})""", AXE_TAGS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")}
                       for n in v["nodes"][:5]], "count": len(v["nodes"])}
            for v in result["violations"]]


# --------------------------------------------------------------------------------------------
# Set-up: axe-core, the class (in a subprocess) and the site (here), served; one browser
# --------------------------------------------------------------------------------------------

CLASS_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import demo_class
course = demo_class.copy_course(Path(sys.argv[2]), [sys.argv[3]])
demo_class.run_class(course, students=eval(sys.argv[4]), assignments=[sys.argv[3]],
                     log=lambda *a: None)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared_dir):
    """(site folder, feedback folder): the class graded in a subprocess while the site builds."""
    install_axe.install()
    tmp = tmp_path_factory.mktemp("a11y")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    grading = subprocess.Popen(
        [sys.executable, "-c", CLASS_SCRIPT, str(ROOT / "scripts"), str(tmp / "class"), HW,
         repr(STUDENTS)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        # the site test's own build, made once per run for both files
        site = shared_dir("lecture-site", build_lecture_site) / "site"
        out, _ = grading.communicate(timeout=900)
    finally:
        if grading.poll() is None:
            grading.kill()
            grading.wait()
    assert grading.returncode == 0, f"the demo class failed:\n{out[-4000:]}"
    return site, tmp / "class" / "feedback"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``roots``: URL prefix -> folder (the longest prefix first); 404 elsewhere."""

    roots: typing.ClassVar[dict] = {}

    def end_headers(self):
        # What Jupyter's /files/ sends with an HTML file: the page runs in a sandbox, its
        # origin opaque (so MathJax's web fonts are refused and it writes MathML instead).
        if self.path.startswith("/tab/files/") and self.path.split("?")[0].endswith(".html"):
            self.send_header("Content-Security-Policy", "sandbox allow-scripts")
        super().end_headers()

    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, folder in sorted(self.roots.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                return str(Path(folder) / path[len(prefix):])
        return "/nonexistent"

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers(built):
    """Base URLs of the site and of the feedback (as a Jupyter server serves a student's
    files, with jupyter-server-mathjax's MathJax beside them)."""
    import jupyter_server_mathjax

    site, feedback = built
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    roots = {"/site/": site}
    for mode in ("tab", "lab"):  # each as a server of its own: <server>/files/, <server>/static/
        roots[f"/{mode}/files/"] = feedback
        roots[f"/{mode}/static/jupyter_server_mathjax/"] = mathjax
    handler = type("Handler", (_Handler,), {"roots": roots})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    yield {"site": base + "site/", "feedback-tab": base + "tab/files/",
           "feedback-lab": base + "lab/files/", "base": base}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chromium():
    with browser_tools.launched() as launched:
        yield launched


def _open(chromium, base: str, url: str, width: int):
    context = chromium.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
        (base, "data:", "blob:")) else r.abort())
    page = context.new_page()
    page.goto(url, wait_until="load")
    return context, page


def _audit(chromium, servers, url: str, feedback: bool) -> dict:
    """One visit: axe and the facts at desktop width, then the page at 320 px."""
    context, page = _open(chromium, servers["base"], url, WIDE)
    try:
        _typeset(page, feedback)
        facts = page.evaluate(FACTS)
        facts["violations"] = _axe(page)
        page.set_viewport_size({"width": NARROW, "height": 900})
        page.wait_for_timeout(400)
        # The pages box wide formulas and tables on resize (debounced); do it now, not later.
        page.evaluate("() => (window.emcourseBoxWide || window.emcourseBoxFormulas "
                      "|| (() => null))()")
        facts["scroll_320"] = page.evaluate(SCROLL)
        if feedback:  # the feedback is read on a phone too: axe again at 320 px
            facts["violations_320"] = _axe(page)
        return facts
    finally:
        context.close()


@pytest.fixture(scope="module")
def audits(chromium, servers):
    """The facts of every site and feedback page, each visited once."""
    out = {}
    for path in SITE_PAGES:
        out[f"site/{path}"] = _audit(chromium, servers, servers["site"] + path, False)
    for mode in FEEDBACK_MODES:
        for path in FEEDBACK_PAGES:
            out[f"{mode}/{path}"] = _audit(chromium, servers, servers[mode] + path, True)
    return out


ALL_PAGES = [f"site/{p}" for p in SITE_PAGES] + FEEDBACK_KEYS


def _describe(violations: list) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}, {v['count']} nodes): {v['help']}")
        lines += [f"    {n['target']}: {' '.join(n['summary'].split())[:300]}" for n in v["nodes"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ALL_PAGES)
def test_axe_finds_no_wcag_21_aa_violation(audits, page):
    facts = audits[page]
    assert facts["lang"], f"{page}: no lang on <html>"
    found = facts["violations"] + facts.get("violations_320", [])
    assert not found, f"{page}: axe-core {AXE_VERSION} ({', '.join(AXE_TAGS)}):\n" + \
        _describe(found)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_no_formula_in_the_tab_order_and_screen_readers_keep_the_mathml(audits, page):
    facts = audits[page]
    assert facts["tabbable_in_formulas"] == 0, (
        f"{page}: {facts['tabbable_in_formulas']} of {facts['tabbable']} Tab stops are inside "
        f"formulas: {facts['tabbable_in_formulas_examples']}")
    assert facts["mathml"] >= facts["formulas"], (
        f"{page}: {facts['formulas']} formulas but {facts['mathml']} in MathML, which a "
        f"screen reader reads")


def test_the_pages_have_formulas_to_check(audits):
    """The tests above are not vacuous: the lectures and the feedback are typeset."""
    assert all(audits[f"site/lectures/{lec.id}.html"]["formulas"] > 0 for lec in COURSE.lectures)
    assert all(audits[key]["formulas"] > 0 for key in FEEDBACK_KEYS)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_no_sideways_scrolling_at_320_px(audits, page):
    width, client = audits[page]["scroll_320"]
    assert width <= client + 1, f"{page}: {width} px wide in a {client} px window"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_headings_start_at_h1_and_skip_no_level(audits, page):
    levels = audits[page]["headings"]
    assert levels and levels[0] == 1, f"{page}: the first heading is not an <h1>: {levels[:5]}"
    skips = [(a, b) for a, b in itertools.pairwise(levels) if b > a + 1]
    assert not skips, f"{page}: heading levels skipped: {skips}"


@pytest.mark.parametrize("page", FEEDBACK_KEYS)
def test_feedback_page_is_titled_by_its_assignment(audits, page):
    facts = audits[page]
    assert HW in facts["title"] and NOTEBOOK in facts["title"], facts["title"]
    assert facts["h1"] and HW in facts["h1"][0], facts["h1"]


@pytest.mark.parametrize("lecture", [lec.id for lec in COURSE.lectures])
def test_site_figures_have_alt_text_that_describes_them(audits, lecture):
    """Fails for a lecture whose figures are not yet shown with ``emref.viz.show``."""
    images = [i for i in audits[f"site/lectures/{lecture}.html"]["images"]
              if "_images/" in i["src"]]
    assert images, f"{lecture}: no figure on the page"
    bad = [i for i in images if not (i["alt"] or "").strip()
           or PATH_LIKE.search(i["alt"].strip()) or len(i["alt"].split()) < 3]
    assert not bad, f"{lecture}: {len(bad)} of {len(images)} figures without alt text: " \
                    f"{[b['alt'] for b in bad[:5]]}"


@pytest.fixture(scope="module")
def keyboard(chromium, servers):
    """Tab through the start of a lecture page: each stop, whether it is in the navigation,
    and whether its focus is visible (an outline or a box-shadow)."""
    context, page = _open(chromium, servers["base"], servers["site"] + KEYBOARD_PAGE, WIDE)
    stops = []
    try:
        _typeset(page, False)
        for _ in range(FOCUS_STOPS_CHECKED):
            page.keyboard.press("Tab")
            stops.append(page.evaluate("""() => {
              const e = document.activeElement, s = getComputedStyle(e);
              const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 1;
              return {tag: e.tagName, cls: e.className && String(e.className),
                      text: (e.getAttribute("aria-label") || e.textContent || "").trim()
                             .slice(0, 40),
                      nav: !!e.closest("nav.bd-docs-nav"),
                      visible: outline || (s.boxShadow && s.boxShadow !== "none")};
            }"""))
    finally:
        context.close()
    return stops


def test_keyboard_reaches_the_navigation_in_a_few_presses(keyboard):
    presses = next((i + 1 for i, s in enumerate(keyboard) if s["nav"]), None)
    assert presses is not None and presses <= MAX_TABS_TO_NAVIGATION, (
        f"{KEYBOARD_PAGE}: the navigation after {presses} presses of Tab "
        f"(at most {MAX_TABS_TO_NAVIGATION}): {keyboard[:8]}")


def test_every_control_shows_its_focus(keyboard):
    header = [s for s in keyboard if "toggle" in s["cls"] or "dropdown" in s["cls"]]
    assert header, f"the Tab order never reached the header's buttons: {keyboard}"
    hidden = [s for s in keyboard if not s["visible"] and s["tag"] != "BODY"]
    assert not hidden, f"{KEYBOARD_PAGE}: controls with no visible focus: {hidden}"
