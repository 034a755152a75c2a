"""Feedback a student can read: nbgrader's feedback HTML, made readable.

Configured in nbgrader_config.py (section "Feedback"):

* :class:`FeedbackExporter` (``GenerateFeedback.exporter_class``): nbgrader's ``feedback``
  template with four changes, in template files (``templates/``).

  - **MathJax from the student's own Jupyter server**, never a CDN: the page loads
    ``<server>/static/jupyter_server_mathjax/MathJax.js`` (the ``jupyter-server-mathjax``
    package, a dependency of the course), the server being found from the page's own address
    (``.../files/<path>``). So formulas are typeset offline, both in a browser tab (*Open in
    New Browser Tab*) and in JupyterLab's HTML viewer once the student clicks *Trust HTML*
    (JupyterLab runs no script in an untrusted HTML file; the page then says so at the top).
    When MathJax has finished, ``<body>`` gets ``data-mathjax="done"`` (and
    ``data-mathjax-count``, ``data-mathjax-errors``), for the tests.
  - **Long lines and long messages wrap** (code, outputs, tracebacks), nothing is clipped.
  - **Parts that wait for a human are "pending"**, not "0.0 / 10": a written answer that
    still needs manual grading shows "pending / 10", and the total says how many points are
    still to be graded.
  - **Accessible** (WCAG 2.1 AA, checked with axe-core in tests/test_accessibility_browser.py):
    ``lang``, a title and an ``<h1>`` naming the assignment, contrast (a high-contrast
    Pygments style), underlined links, formulas out of the Tab order, no sideways scrolling
    at 320 px.

* :class:`GetGradesPending` (in ``GenerateFeedback.preprocessors``, instead of nbgrader's
  ``GetGrades``): ``GetGrades`` plus, per cell and per notebook, whether a human still has to
  grade it.

"Fetch Feedback" before any feedback is released is the students' server extension,
:mod:`emcourse_student` (it ships in the student wheel, which holds nothing of the grader).
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader
from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import GetGrades
from traitlets import Bool, default
from traitlets.config import Config

from . import untrusted

# --------------------------------------------------------------------------------------------
# Preprocessor: which grades are still waiting for a human
# --------------------------------------------------------------------------------------------


class GetGradesPending(GetGrades):
    """nbgrader's GetGrades, and which parts still need manual grading.

    A cell whose grade needs manual grading gets ``metadata.nbgrader.pending = True``;
    ``resources["nbgrader"]["pending_points"]`` is the sum of their points (0 once every
    part is graded). nbgrader itself scores such a cell 0 until a grader gives it points.
    """

    def preprocess(self, nb, resources):
        resources["nbgrader"]["pending_points"] = 0.0
        return super().preprocess(nb, resources)

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id,
            self.student_id)
        pending = bool(grade.needs_manual_grade)
        cell.metadata.nbgrader["pending"] = pending
        if pending:
            resources["nbgrader"]["pending_points"] += float(grade.max_score or 0)


# --------------------------------------------------------------------------------------------
# Exporter: nbgrader's feedback template, readable
# --------------------------------------------------------------------------------------------

#: The exporter's templates (HTML, CSS, JavaScript), shipped in the wheel (package-data).
TEMPLATES = Path(__file__).resolve().parent / "templates"

MATHJAX_PATH = "static/jupyter_server_mathjax/MathJax.js"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

#: Code highlighting: a Pygments style whose every colour is at least 7:1 on a light
#: background (nbconvert's default has comments and operators just under 4.5:1).
PYGMENTS_STYLE = "a11y-high-contrast-light"


class FeedbackExporter(HTMLExporter):
    """HTMLExporter for nbgrader's GenerateFeedback: local MathJax, wrapping, pending parts,
    WCAG 2.1 AA.

    Uses nbgrader's ``feedback`` template (GenerateFeedback puts its directory on the
    template path) through templates of its own, in ``templates/``:
    ``emcourse_feedback.html.j2`` (the page, with ``feedback.css`` and ``feedback.js``) and
    ``mathjax.html.j2`` (replaces nbconvert's, which loads MathJax from a CDN, with
    ``mathjax_config.js`` and ``mathjax_loader.js``). Code is highlighted with
    :data:`PYGMENTS_STYLE`.

    Nothing of the notebook is active in the page (the autograded notebook is inert already,
    emcourse_grader.untrusted; this is the second line): ``sanitize_html`` is on, so
    nbconvert renders no JavaScript output or widget, and its ``clean_html`` filter (Markdown,
    HTML and raw cells, HTML and Markdown outputs) is :func:`emcourse_grader.untrusted.clean_html`,
    which keeps headings, paragraphs, tables and images that nbconvert's own would escape.
    """

    sanitize_html = Bool(True, help="Render no script or active HTML from the notebook."
                         ).tag(config=True)

    @property
    def default_config(self):
        c = Config({"CSSHTMLHeaderPreprocessor": {"style": PYGMENTS_STYLE}})
        c.merge(super().default_config)
        return c

    def default_filters(self):
        yield from super().default_filters()
        yield ("clean_html", untrusted.clean_html)

    def _create_environment(self):
        environment = super()._create_environment()
        environment.globals["emcourse_mathjax_path"] = MATHJAX_PATH
        environment.globals["emcourse_mathjax_config"] = MATHJAX_CONFIG
        return environment

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [FileSystemLoader(str(TEMPLATES))]

    @default("template_file")
    def _template_file_default(self):
        return "emcourse_feedback.html.j2"
