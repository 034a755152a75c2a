"""`make course`, step 2: execute every lecture and render lectures/ to a static offline site.

Output: ``_build/site/`` with

- ``index.html``: the course title and a table of contents (each lecture, and its sections);
- one ``<lecture>.html`` per ``lectures/*.ipynb``, executed afresh (in a temporary copy of
  ``lectures/``, so the committed notebooks are never rewritten), figures inline as
  ``data:`` URIs;
- ``mathjax/``: a local copy of MathJax 2.7 (from the ``jupyter-server-mathjax`` package of
  the ``dev`` extra), so that math is typeset with no network at all.

The site opens from the file system (``file://``): nothing on it refers to another host.
Each page also records, for tests, what the browser did: once MathJax has finished, the
``<body>`` gets ``data-mathjax="done"``, ``data-mathjax-count`` (typeset formulas) and
``data-mathjax-errors`` (TeX errors); after the page's ``load`` event,
``data-images-loaded`` and ``data-images-broken`` count the ``<img>`` elements that did and
did not decode. ``tests/test_site.py`` reads them from headless Chromium.

Run alone: ``.venv/bin/python scripts/build_site.py [--no-execute] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
OUT = ROOT / "_build" / "site"
COURSE_TITLE = "emcourse — the EM algorithm, from k-means to hidden Markov models"
CELL_TIMEOUT = 300  # seconds per cell; a lecture must run in well under a minute anyway

MATHJAX_SRC = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"

# Extra MathJax configuration: the bundled STIX-Web web fonts only (no image fonts, none
# fetched from elsewhere), and the test hooks on <body> once typesetting is over.
MATHJAX_CONFIG = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
               webFont: "STIX-Web", imageFont: null},
  menuSettings: {zoom: "None"}, messageStyle: "none"
});
MathJax.Hub.Register.StartupHook("End", function () {
  MathJax.Hub.Queue(function () {
    var jax = MathJax.Hub.getAllJax(), errors = 0;
    for (var i = 0; i < jax.length; i++) { if (jax[i].texError) { errors++; } }
    document.body.setAttribute("data-mathjax-count", String(jax.length));
    document.body.setAttribute("data-mathjax-errors", String(errors));
    document.body.setAttribute("data-mathjax", "done");
  });
});
</script>
"""

# The index shows section titles that contain TeX ($J$, $\beta$): typeset them the same way.
INDEX_MATHJAX = MATHJAX_CONFIG + """<script type="text/x-mathjax-config">
MathJax.Hub.Config({tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
                              processEscapes: true}});
</script>
""" + f'<script src="{MATHJAX_SRC}"></script>\n'

IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } else { broken++; }
  }
  document.body.setAttribute("data-images-loaded", String(ok));
  document.body.setAttribute("data-images-broken", String(broken));
});
</script>
"""

PAGE_CSS = """<style>
.emcourse-nav { font-family: system-ui, sans-serif; font-size: 14px; padding: 8px 16px;
  border-bottom: 1px solid #ccc; background: #f7f7f7; display: flex; gap: 24px; }
.emcourse-nav a { color: #0072B2; text-decoration: none; }
.emcourse-nav a:hover { text-decoration: underline; }
</style>
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{mathjax}<style>
body {{ font-family: system-ui, sans-serif; max-width: 860px; margin: 40px auto;
  padding: 0 16px; line-height: 1.5; color: #222; }}
h1 {{ font-size: 1.7em; }}
ul.lectures {{ list-style: none; padding-left: 0; }}
ul.lectures > li {{ margin: 0.9em 0; }}
ul.lectures > li > a {{ font-size: 1.15em; font-weight: 600; color: #0072B2; }}
ul.sections {{ margin: 0.2em 0 0 0; padding-left: 1.3em; font-size: 0.95em; }}
ul.sections a {{ color: #333; }}
footer {{ margin-top: 3em; font-size: 0.85em; color: #666; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Lectures, executed on {date}. Every page works offline: formulas are typeset by a local
copy of MathJax and figures are embedded in the pages.</p>
<h2>Contents</h2>
<ul class="lectures">
{items}
</ul>
<footer>Built by <code>scripts/build_site.py</code> from <code>lectures/*.ipynb</code>.</footer>
</body>
</html>
"""


class _Headings(HTMLParser):
    """Collect (level, id, text) of the h1/h2 headings of a rendered notebook."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str, str]] = []
        self._current = None  # [level, id, text parts, depth inside an anchor link]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2") and self._current is None:
            self._current = [int(tag[1]), attrs.get("id") or "", [], 0]
        elif self._current is not None and tag == "a" and "anchor-link" in (
                attrs.get("class") or ""):
            self._current[3] += 1

    def handle_endtag(self, tag):
        if self._current is None:
            return
        if tag == "a" and self._current[3]:
            self._current[3] -= 1
        elif tag == f"h{self._current[0]}":
            level, hid, parts, _ = self._current
            text = re.sub(r"\s+", " ", "".join(parts)).strip().rstrip("¶").strip()
            self.headings.append((level, hid, text))
            self._current = None

    def handle_data(self, data):
        if self._current is not None and not self._current[3]:
            self._current[2].append(data)


def _headings(page: str) -> list[tuple[int, str, str]]:
    parser = _Headings()
    parser.feed(page)
    return parser.headings


def _mathjax_dir() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise SystemExit("build_site needs the 'jupyter-server-mathjax' package (in the dev "
                         "extra of pyproject.toml): run `make venv`") from exc
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file():
        raise SystemExit(f"no MathJax.js in {static}")
    return static


def execute_notebooks(paths: list[Path], workdir: Path) -> list:
    """Execute each notebook in ``workdir`` (a copy of lectures/) and return the nodes."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nodes = []
    for path in paths:
        start = time.perf_counter()
        nb = nbformat.read(workdir / path.name, as_version=4)
        ep = ExecutePreprocessor(timeout=CELL_TIMEOUT, kernel_name="python3")
        ep.preprocess(nb, {"metadata": {"path": str(workdir)}})
        nbformat.write(nb, workdir / path.name)
        print(f"   executed {path.name} in {time.perf_counter() - start:.1f} s")
        nodes.append(nb)
    return nodes


def _offline(page: str) -> str:
    """Drop every script or stylesheet the template would fetch from another host."""
    page = re.sub(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*', "", page)
    page = re.sub(r'<link[^>]*\shref="https?://[^"]*"[^>]*>\s*', "", page)
    return page


def render_page(nb, title: str, nav: str) -> str:
    """One notebook as a standalone HTML page for the site."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_SRC, embed_images=True,
                            require_js_url="", jquery_url="", exclude_input_prompt=False)
    page, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = _offline(page)
    page = page.replace('<script src="' + MATHJAX_SRC,
                        MATHJAX_CONFIG + '<script src="' + MATHJAX_SRC, 1)
    page = page.replace("</head>", PAGE_CSS + IMAGE_CHECK + "</head>", 1)
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, page, count=1)
    return page


def _nav(prev: tuple[str, str] | None, nxt: tuple[str, str] | None) -> str:
    parts = ['<a href="index.html">&#8962; Contents</a>']
    if prev:
        parts.append(f'<a href="{prev[0]}">&larr; {html.escape(prev[1])}</a>')
    if nxt:
        parts.append(f'<a href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>')
    return '<nav class="emcourse-nav">' + "".join(parts) + "</nav>\n"


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if m:
                return m.group(1).strip()
    return fallback


def build(out: Path = OUT, *, execute: bool = True, lectures: list[Path] | None = None) -> Path:
    """Build the site into ``out`` (replaced if it exists) and return the index path."""
    import nbformat

    paths = sorted(lectures if lectures is not None else LECTURES.glob("*.ipynb"))
    if not paths:
        raise SystemExit(f"no lectures found in {LECTURES}")
    mathjax = _mathjax_dir()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(mathjax, out / "mathjax")

    with tempfile.TemporaryDirectory(prefix="emcourse-site-") as tmp:
        workdir = Path(tmp)
        if execute:
            # A copy of the whole folder, so that a lecture finds any file beside it.
            shutil.copytree(paths[0].parent, workdir, dirs_exist_ok=True)
            for p in paths:
                shutil.copy2(p, workdir / p.name)
            nodes = execute_notebooks(paths, workdir)
        else:
            nodes = [nbformat.read(p, as_version=4) for p in paths]

    pages = [(p.stem + ".html", _title(nb, p.stem)) for p, nb in zip(paths, nodes)]
    items = []
    for i, ((fname, title), nb) in enumerate(zip(pages, nodes)):
        nav = _nav(pages[i - 1] if i else None, pages[i + 1] if i + 1 < len(pages) else None)
        page = render_page(nb, title, nav)
        (out / fname).write_text(page, encoding="utf-8")
        sections = [(hid, text) for level, hid, text in _headings(page) if level == 2 and hid]
        sub = "".join(f'<li><a href="{fname}#{html.escape(hid, quote=True)}">'
                      f"{html.escape(text)}</a></li>" for hid, text in sections)
        items.append(f'<li><a href="{fname}">{html.escape(title)}</a>'
                     + (f'<ul class="sections">{sub}</ul>' if sub else "") + "</li>")
        print(f"   rendered {fname}: {title} ({len(sections)} sections)")
    index = out / "index.html"
    index.write_text(INDEX_TEMPLATE.format(title=html.escape(COURSE_TITLE), mathjax=INDEX_MATHJAX,
                                           date=time.strftime("%Y-%m-%d"),
                                           items="\n".join(items)), encoding="utf-8")
    print(f"   site: {index}")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true",
                        help="render the committed outputs instead of executing the lectures")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv if argv is not None else [])
    build(args.out, execute=not args.no_execute)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
