"""What a student sends, made inert where it enters the grader's side.

A submission is data the student chose, byte for byte: its outputs, its written answers, the
other files of its folder, the names it gives cells. Everything here treats it so, in one place
for every path (``nbgrader autograde``, ``python -m emcourse_grader grade``, ``nbgrader
collect``, ``nbgrader generate_feedback``):

* **Outputs and written answers** (:func:`clean_bundle`, :func:`clean_markdown`,
  :class:`SanitizeUntrusted`): the autograded notebook, which the Formgrader renders on the
  instructor's origin and from which the feedback HTML is made, carries no active content.
  Output MIME types outside a short list (plain text, JSON, HTML, Markdown, LaTeX, PNG, JPEG,
  GIF, SVG) are dropped: ``application/javascript``, widget views and any other bundle a
  renderer might run. HTML is sanitised with bleach (the sanitiser nbconvert itself uses):
  tags, attributes and URL schemes from allowlists, ``<script>`` and ``<style>`` removed with
  their content. A written answer (Markdown cell) or Markdown output whose rendering would
  carry anything outside those lists is shown as its literal text in a code block; an SVG with
  scripts, event handlers, foreign objects or outside links is dropped. A written answer's
  attachments (:func:`clean_attachments`) keep only PNG, JPEG and GIF images with a plain
  file name, of at most :data:`MAX_ATTACHMENT_BYTES`; an answer that refers to an attachment
  it does not have (nbconvert refuses to render it, which would fail the feedback) is shown
  as its text. Honest content (plots as PNG, tables as HTML, formulas, a pasted image)
  passes unchanged.
* **Report fields** (:func:`csv_field`, :func:`terminal_text`): what a student can put in
  ``integrity_report.csv`` (a cell id, a message) cannot start a spreadsheet formula or carry
  control characters, and the terminal summary prints no escape codes.
* **Files** (:func:`walk_submission`, :func:`screen_submission`, :func:`copy_submission`,
  :func:`read_submission`): symbolic links are never followed, special files (fifos, sockets,
  devices) never opened, and files over :data:`MAX_FILE_BYTES` (or beyond
  :data:`MAX_SUBMISSION_BYTES` in all) never copied; each is refused with a reason that the
  integrity report shows.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import shutil
import stat
import unicodedata

from nbgrader.preprocessors import NbGraderPreprocessor

from .guard import NOTEBOOK_CAPS

MAX_FILE_BYTES = 20 * 2**20        # one file of a submission, but for its notebooks
MAX_NOTEBOOK_BYTES = NOTEBOOK_CAPS.max_bytes  # a notebook: guard strips its saved outputs,
                                             # then caps what remains at 20 MB
MAX_SUBMISSION_BYTES = 100 * 2**20  # all the files of a submission together
MAX_ATTACHMENT_BYTES = 4 * 2**20    # one image pasted into a written answer (base64 text)

# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

TAGS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "blockquote", "br", "caption", "center",
    "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em",
    "figcaption", "figure", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small",
    "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "time", "tr", "tt", "u", "ul", "var", "wbr"})
_DROP_WITH_CONTENT = frozenset({"script", "style", "noscript", "template", "iframe", "object",
                                "embed", "svg", "math", "textarea", "select", "xmp"})
_ANY_ATTRS = frozenset({"class", "title", "align", "valign", "lang", "dir"})
_TAG_ATTRS = {
    **{f"h{n}": {"id"} for n in range(1, 7)},  # nbconvert's anchors of Markdown headings
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "scope", "headers", "abbr"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "table": {"border", "cellpadding", "cellspacing", "width", "summary"},
    "font": {"color", "size"},
    "time": {"datetime"},
    "details": {"open"},
    "q": {"cite"}, "blockquote": {"cite"}, "del": {"cite"}, "ins": {"cite"},
}
_URL_ATTRS = frozenset({"href", "src", "cite"})
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=]*$")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def _url_ok(tag: str, value: str) -> bool:
    """A link to the web, a mail address, the page itself or a relative path; an inline image
    only as an ``<img>``'s PNG, JPEG, GIF or WebP data."""
    url = _INVISIBLE.sub("", value).lower()  # browsers ignore these inside a scheme
    found = _SCHEME.match(url)
    if not found:  # relative (a browser reads a scheme exactly where the pattern does)
        return True
    if found.group(1) in ("http", "https", "mailto"):
        return True
    return tag == "img" and found.group(1) == "data" and bool(_DATA_IMAGE.match(url))


def _attr_ok(tag: str, name: str, value: str) -> bool:
    tag, name = tag.lower(), name.lower()
    if name not in _ANY_ATTRS and name not in _TAG_ATTRS.get(tag, ()):
        return False
    return name not in _URL_ATTRS or _url_ok(tag, value)


def _parser():
    from bleach import html5lib_shim

    # tags=None: bleach's html5lib parses exactly as a browser would, every tag a tag.
    return (html5lib_shim.BleachHTMLParser(tags=None, strip=False, consume_entities=True,
                                           namespaceHTMLElements=False),
            html5lib_shim.getTreeWalker("etree"))


def html_problems(text: str) -> list[str]:
    """What a browser would find in ``text`` beyond the allowlists: tags, attributes and URLs,
    each named once (an empty list when the HTML is inert). Comments and markup a parser has
    to repair count too: inserted in a page, they could change how what follows is read."""
    parser, walker = _parser()
    found = []
    tokens = list(walker(parser.parseFragment(text)))
    if parser.errors:
        found.append("malformed HTML")
    for token in tokens:
        if token["type"] == "Comment" and "an HTML comment" not in found:
            found.append("an HTML comment")
        if token["type"] not in ("StartTag", "EmptyTag"):
            continue
        tag = str(token["name"]).lower()
        what = f"a {tag} element" if tag not in TAGS else ""
        for (_, name), value in (token.get("data") or {}).items():
            name = str(name).lower()
            if what or _attr_ok(tag, name, value):
                continue
            if name in _URL_ATTRS and name in _TAG_ATTRS.get(tag, ()):
                scheme = _SCHEME.match(_INVISIBLE.sub("", str(value)).lower())
                what = f"a {scheme.group(1) if scheme else 'disallowed'} link"
            else:
                what = f"the attribute {name}"
        if what and what not in found:
            found.append(what)
    return found


class _DropContent:
    """An html5lib token filter: the elements of :data:`_DROP_WITH_CONTENT` go with all that
    is inside them (bleach alone would keep a script's text as text)."""

    def __init__(self, source):
        self.source = source

    def __iter__(self):
        depth = 0
        for token in self.source:
            kind, name = token["type"], str(token.get("name", "")).lower()
            if name in _DROP_WITH_CONTENT and kind in ("StartTag", "EndTag", "EmptyTag"):
                depth = max(0, depth + {"StartTag": 1, "EndTag": -1}.get(kind, 0))
                continue
            if depth == 0:
                yield token


def _cleaner(drop: bool):
    from bleach.sanitizer import Cleaner

    tags = TAGS | _DROP_WITH_CONTENT if drop else TAGS
    return Cleaner(tags=tags, attributes=lambda tag, name, value: _attr_ok(tag, name, value),
                   protocols={"http", "https", "mailto", "data"}, strip=True,
                   strip_comments=True, filters=[_DropContent] if drop else [])


def clean_html(text) -> str:
    """``text`` as inert HTML, rebuilt by bleach from what the allowlists allow (scripts and
    styles removed with their content, every element closed, every attribute quoted). The
    result is checked again; HTML that still has anything beyond them is escaped whole."""
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    cleaned = _cleaner(drop=False).clean(_cleaner(drop=True).clean(text))
    if html_problems(cleaned):  # never expected: fail closed
        import html
        return html.escape(text)
    return cleaned


# --------------------------------------------------------------------------------------------
# Markdown, SVG, output bundles
# --------------------------------------------------------------------------------------------

def _literal(text: str, why: str) -> str:
    """Markdown that shows ``text`` as it is, in a code block (no HTML, links or math)."""
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return (f"*The grader shows this answer as plain text: it contained {why}, which is not "
            f"displayed.*\n\n{fence}text\n{text}\n{fence}\n")


def markdown_problems(source: str, attachments=None) -> list[str]:
    """What the rendering of Markdown ``source`` (by nbconvert, as the Formgrader and the
    feedback render it, with the cell's ``attachments``: name -> MIME bundle) would carry
    beyond the HTML allowlists. A reference to an attachment the cell does not have is one:
    nbconvert refuses to render it (``InvalidNotebook``), which would fail the feedback."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments=dict(attachments or {}))
    try:
        page = MarkdownWithMath(renderer=renderer).render(source)
    except Exception as exc:  # noqa: BLE001 - nbconvert's InvalidNotebook, or worse
        text = str(exc)
        if text.startswith("missing attachment:"):
            return [f"a missing attachment ({text.split(':', 1)[1].strip()[:60]})"]
        return [f"Markdown that cannot be rendered ({type(exc).__name__})"]
    return html_problems(page)


def clean_markdown(source, attachments=None) -> str:
    """Markdown ``source`` unchanged when its rendering (with ``attachments``, see
    :func:`markdown_problems`) is inert, else shown as literal text."""
    source = "".join(source) if isinstance(source, list) else str(source)
    problems = markdown_problems(source, attachments)
    if not problems:
        return source
    names = ", ".join(re.sub(r"[^\w ()'.:-]", "", p) for p in problems[:4])
    return _literal(source, names or "active content")


_SVG_DENY = frozenset({"script", "foreignobject", "iframe", "object", "embed", "handler",
                       "listener", "animate", "set", "animatemotion", "animatetransform",
                       "animatecolor", "discard"})


def svg_ok(text: str) -> bool:
    """An SVG image with no script, event handler, foreign object, animation of attributes or
    link outside itself (a fragment ``#id`` or a PNG/JPEG/GIF data image)."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except Exception:  # noqa: BLE001 - malformed, entities, DTDs: not an image we show
        return False
    for el in root.iter():
        if not isinstance(el.tag, str):
            return False
        if el.tag.rsplit("}", 1)[-1].lower() in _SVG_DENY:
            return False
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return False
            if local in ("href", "src") and not (value.strip().startswith("#") or
                                                 _DATA_IMAGE.match(value.strip().lower())):
                return False
    return True


def _base64_ok(value: str) -> bool:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _text(value) -> str:
    return "".join(str(v) for v in value) if isinstance(value, list) else str(value)


def clean_bundle(data: dict) -> dict:
    """An output's MIME bundle with only inert content: the allowed types, HTML and Markdown
    sanitised, SVG and images checked; anything else dropped (in order, new dict)."""
    out = {}
    for mime, value in data.items():
        if not isinstance(mime, str):
            continue
        kind = mime.split(";")[0].strip().lower()
        if kind in ("text/plain", "text/latex", "application/json"):
            out[mime] = value
        elif kind == "text/html":
            out[mime] = clean_html(_text(value))
        elif kind == "text/markdown":
            out[mime] = clean_markdown(_text(value))
        elif (kind == "image/svg+xml" and svg_ok(_text(value))) or \
                (kind in _IMAGE_MIMES and isinstance(value, str) and _base64_ok(value)):
            out[mime] = value
        # everything else (application/javascript, widget views, vendor bundles): dropped
    return out


def _attachment_name_ok(name) -> bool:
    """A plain file name, as Jupyter gives a pasted or dropped image: no folder, no ``..``,
    no control character, at most 255 characters."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and not name.startswith(".")
            and not any(c in name for c in "/\\") and name.isprintable())


def clean_attachments(attachments) -> dict:
    """A cell's attachments (name -> MIME bundle) with only inert images: a plain file name
    (:func:`_attachment_name_ok`), PNG, JPEG or GIF data in valid base64 of at most
    :data:`MAX_ATTACHMENT_BYTES`; anything else is dropped (HTML, SVG, scripts), and so is an
    attachment left with nothing to show. A new dict, in order."""
    kept = {}
    if not isinstance(attachments, dict):
        return kept
    for name, bundle in attachments.items():
        if not _attachment_name_ok(name) or not isinstance(bundle, dict):
            continue
        images = {k: v for k, v in bundle.items() if k in _IMAGE_MIMES
                  and isinstance(v, str) and len(v) <= MAX_ATTACHMENT_BYTES}
        images = clean_bundle(images)
        if images:
            kept[name] = images
    return kept


class SanitizeUntrusted(NbGraderPreprocessor):
    """Every output, written answer and raw cell of the submission made inert (an autograde
    preprocessor: the autograded notebook is what the Formgrader shows and what the feedback
    is made from). Outputs are cleaned as they come back from the sandbox already
    (``TrustedGrade``); this covers the cells and anything added after."""

    def preprocess(self, nb, resources):
        from nbformat.notebooknode import from_dict

        nb.metadata.pop("widgets", None)  # widget state: JavaScript bundles
        for cell in nb.cells:
            kept = None
            if "attachments" in cell:
                kept = clean_attachments(cell.attachments)
                cell.attachments = from_dict(kept)
            if cell.cell_type == "markdown":
                cell.source = clean_markdown(cell.source, kept)
            elif cell.cell_type == "raw":
                cell.metadata.pop("raw_mimetype", None)
                cell.metadata.pop("format", None)
                cell.source = clean_html(_text(cell.source))
            for out in cell.get("outputs", []):
                if "data" in out:
                    out.data = from_dict(clean_bundle(dict(out.data)))
        return nb, resources


# --------------------------------------------------------------------------------------------
# Report fields
# --------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def terminal_text(value) -> str:
    """``value`` printable on a terminal: escape sequences and control characters removed,
    line breaks and tabs made spaces."""
    text = _ANSI.sub("", str(value))
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return _CONTROL.sub("", text)


def csv_field(value) -> str:
    """A report field that a spreadsheet shows as text: no control characters, and a ``'``
    before a leading ``= + - @`` (OWASP, CSV injection). Idempotent."""
    text = terminal_text(value)
    stripped = text.lstrip(" ")
    if stripped.startswith(_FORMULA) or unicodedata.normalize("NFKC", stripped[:1]) in \
            _FORMULA:
        return "'" + text
    return text


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (fifo)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _cap(top: bool, name: str) -> int:
    """The size a file of a submission may have: a notebook at the top more than the rest."""
    return MAX_NOTEBOOK_BYTES if top and name.endswith(".ipynb") else MAX_FILE_BYTES


def walk_submission(folder, ignore=()) -> tuple[list, list]:
    """The files of a submission folder, without following any link: ``(accepted,
    refused)``, ``accepted`` the relative paths of regular files within the caps,
    ``refused`` ``(relative path, reason)`` pairs (links, special files, files too large).
    Names matching ``ignore`` (nbgrader's globs, ``CourseDirectory.ignore``) are left out."""
    import fnmatch

    folder = os.fspath(folder)
    accepted, refused, total = [], [], 0

    def ignored(name):
        return any(fnmatch.fnmatch(name, g) for g in ignore)

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        # The notebooks first: they have the budget before anything handed in beside them.
        files = sorted(filenames, key=lambda n: (dirpath != folder or not n.endswith(".ipynb"), n))
        entries = [(n, True) for n in sorted(dirnames)] + [(n, False) for n in files]
        dirnames[:] = []
        for name, is_dir in entries:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder)
            if ignored(name):
                continue
            try:
                st = os.lstat(path)
            except OSError as exc:
                refused.append((rel, f"could not be read ({exc.strerror})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(path)
                except OSError:
                    target = "?"
                refused.append((rel, f"a symbolic link (to {target[:120]}): never followed"))
            elif stat.S_ISDIR(st.st_mode):
                dirnames.append(name)
            elif not stat.S_ISREG(st.st_mode):
                refused.append((rel, f"{_kind(st.st_mode)}: never opened"))
            elif st.st_size > _cap(dirpath == folder, name) > MAX_FILE_BYTES:  # a notebook
                refused.append((rel, (f"it is {st.st_size / 2**20:.0f} MB; at most "
                                      f"{MAX_NOTEBOOK_BYTES // 2**20} MB are read")))
            elif st.st_size > _cap(dirpath == folder, name):
                refused.append((rel, (f"{st.st_size / 2**20:.0f} MB, more than the "
                                      f"{MAX_FILE_BYTES // 2**20} MB a file may have")))
            elif total + st.st_size > MAX_SUBMISSION_BYTES:
                refused.append((rel, (f"the files before it already make "
                                      f"{total / 2**20:.0f} MB, and a submission may have "
                                      f"{MAX_SUBMISSION_BYTES // 2**20} MB in all")))
            else:
                total += st.st_size
                accepted.append(rel)
    return accepted, refused


def read_regular(path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, opened without following a link or blocking on a special
    file, at most ``limit`` of them; OSError otherwise (ELOOP, EINVAL, EFBIG)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, "file too large", os.fspath(path))
    return data


def read_submission(folder, ignore=()) -> tuple[dict, list]:
    """``(files, refused)``: relative path -> bytes of every accepted file of ``folder``
    (:func:`walk_submission`), and the refused ``(relative path, reason)`` pairs."""
    accepted, refused = walk_submission(folder, ignore)
    files = {}
    for rel in accepted:
        try:
            files[rel] = read_regular(os.path.join(folder, rel),
                                      _cap(os.sep not in rel, rel))
        except OSError as exc:  # changed under our feet: a link or fifo now
            refused.append((rel, f"could not be read safely ({exc.strerror})"))
    return files, refused


def copy_submission(src, dest, ignore=()) -> list:
    """Copy the accepted files of ``src`` into ``dest`` (created), never following a link;
    returns the refused ``(relative path, reason)`` pairs. A ``src`` that is itself a link or
    not a directory copies nothing and is refused whole."""
    os.makedirs(dest, exist_ok=True)
    st = os.lstat(src)
    if not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else _kind(st.st_mode)
        return [(".", f"the submission itself is {what}: nothing copied")]
    files, refused = read_submission(src, ignore)
    for rel, data in files.items():
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        shutil.copystat(os.path.join(src, rel), path, follow_symlinks=False)
    return refused


# Refusals of the pre-convert hook, by real path of the submission folder, until the
# integrity check of that submission reports them.
REFUSED: dict[str, list] = {}


def screen_submission(assignment=None, student=None, notebooks=(), *,
                      release_directory="release", **_):
    """nbgrader's pre-convert hook for Autograde (it runs before nbgrader copies the other
    files of a submission with ``shutil.copy``, which follows links): notebooks nbformat
    cannot read (links and special files among them) are graded as the unanswered release
    (:func:`emcourse_grader.preprocessors.repair_unreadable`), then every link, special file
    and file over the caps is removed from the submitted folder (the exchange keeps the
    original) and remembered, with its reason, for the integrity report."""
    from .preprocessors import repair_unreadable

    try:
        repair_unreadable(assignment, student, notebooks, release_directory=release_directory)
    finally:  # nbgrader only logs a failed hook, and copies next: the screen always runs
        for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in notebooks}):
            REFUSED[os.path.realpath(folder)] = remove_refused(folder)


def remove_refused(folder) -> list:
    """Remove from ``folder`` what :func:`walk_submission` refuses; returns the refusals."""
    _, refused = walk_submission(folder)
    for rel, _why in refused:
        path = os.path.join(folder, rel)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
    return refused


def screen_folder(assignment=None, student=None, notebooks=(), **_):
    """nbgrader's pre-convert hook for GenerateFeedback: the autograded folder's links,
    special files and files over the caps go before nbgrader copies its files."""
    for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in notebooks}):
        remove_refused(folder)
