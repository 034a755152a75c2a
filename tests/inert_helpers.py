"""Is a page inert? What a browser would run in an HTML page, read with Python's own HTML
parser (an independent check of emcourse_grader.untrusted's sanitiser), shared by the tests
of untrusted content (tests/test_untrusted_content.py, tests/test_notebook_formats.py)."""

from __future__ import annotations

import html.parser

MARKERS = ("PWNED", "alert(")  # in every active payload of the tests, in no honest page


class Active(html.parser.HTMLParser):
    """What a browser would run in a page: script bodies, event-handler attributes and
    javascript: URLs (an independent check: Python's own HTML parser)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self.handlers, self.js_urls = [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name, value))
            if name in ("href", "src", "action", "formaction", "xlink:href") and value and \
                    "".join(value.split()).lower().startswith(("javascript:", "vbscript:")):
                self.js_urls.append((tag, value))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def active(page: str) -> Active:
    parser = Active()
    parser.feed(page)
    return parser


def assert_inert(page: str, where: str) -> None:
    found = active(page)
    student = [s for s in found.scripts if any(m in s for m in MARKERS)]
    assert not student, f"{where}: a student's script: {student[:2]}"
    assert not found.handlers, f"{where}: event handlers {found.handlers[:3]}"
    assert not found.js_urls, f"{where}: javascript: URLs {found.js_urls[:3]}"


def render_notebook(nb) -> str:
    """The notebook as nbconvert renders it for a viewer (sanitising off, as the Formgrader)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="classic").from_notebook_node(nb)[0]
