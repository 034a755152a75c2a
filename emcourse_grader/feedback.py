"""Feedback a student can read: nbgrader's feedback HTML, made readable.

Configured in nbgrader_config.py (section "Feedback"):

* :class:`FeedbackExporter` (``GenerateFeedback.exporter_class``): nbgrader's ``feedback``
  template with three changes.

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

* :class:`GetGradesPending` (in ``GenerateFeedback.preprocessors``, instead of nbgrader's
  ``GetGrades``): ``GetGrades`` plus, per cell and per notebook, whether a human still has to
  grade it.

"Fetch Feedback" before any feedback is released is the students' server extension,
:mod:`emcourse_student` (it ships in the student wheel, which holds nothing of the grader).
"""

from __future__ import annotations

from jinja2 import DictLoader
from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import GetGrades
from traitlets import Bool, default

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

MATHJAX_PATH = "static/jupyter_server_mathjax/MathJax.js"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

# Replaces nbconvert's base/mathjax.html.j2 (a CDN) for this exporter only.
MATHJAX_TEMPLATE = r"""
{%- macro mathjax(url=None) -%}
<script type="text/x-mathjax-config">
/* A page opened in a browser tab from Jupyter (/files/...) is sandboxed by the server
   (Content-Security-Policy: sandbox), so its origin is opaque and web fonts from the server
   are refused (CORS): there, MathJax hands the formulas to the browser as MathML (every
   current browser renders MathML with its own math fonts). In JupyterLab's HTML viewer
   (same origin) it draws them with MathJax's STIX web fonts. */
var emcourseOpaque = (window.origin || "null") === "null";
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\(", "\\)"]],
            displayMath: [["$$", "$$"], ["\\[", "\\]"]],
            processEscapes: true, processEnvironments: true},
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web",
               imageFont: null, linebreaks: {automatic: true}},
  menuSettings: {zoom: "None", renderer: emcourseOpaque ? "NativeMML" : "HTML-CSS"},
  messageStyle: "none", displayAlign: "center"
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
<script>
/* MathJax from the Jupyter server that serves this page (jupyter-server-mathjax), found from
   the page's address <server>/files/<path>: works offline, in a browser tab and in
   JupyterLab's HTML viewer (which sets <base href=".../files/<path>">). */
(function () {
  var match = /^(.*?\/)files\//.exec(document.baseURI || "");
  function note(text) {
    var show = function () {
      var el = document.getElementById("emcourse-math-note");
      if (el) { el.textContent = text; el.style.display = "block"; }
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", show);
    } else { show(); }
  }
  if (!match) {
    note("Formulas are shown as TeX source: open this page from Jupyter " +
         "(right-click it in the file browser, then \u201cOpen in New Browser Tab\u201d) " +
         "to see them typeset.");
    return;
  }
  var script = document.createElement("script");
  script.src = match[1] + "{{ mathjax_path }}?config={{ mathjax_config }}";
  script.onerror = function () {
    note("Formulas are shown as TeX source: this Jupyter server does not serve MathJax " +
         "(the jupyter-server-mathjax extension is not enabled).");
  };
  document.head.appendChild(script);
})();
</script>
{%- endmacro %}
"""

# Extends nbgrader's feedback template: GenerateFeedback sets HTMLExporter.template_name =
# "feedback" (server_extensions/formgrader/templates/feedback/), first on the template path.
FEEDBACK_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}

{% macro emc_points(value) -%}{{ '%g' % (value | float | round(2)) }}{%- endmacro %}

{% macro emc_cell_score(cell) -%}
{%- if cell.metadata.nbgrader.pending -%}
<span class="emcourse-pending">pending</span> / {{ emc_points(cell.metadata.nbgrader.points) }}
{%- else -%}
{{ emc_points(cell.metadata.nbgrader.score) }} / {{ emc_points(cell.metadata.nbgrader.points) }}
{%- endif -%}
{%- endmacro %}

{% macro emc_score(cell) -%}
  <span class="pull-right">Score: {{ emc_cell_score(cell) }} <a href="#top">(Top)</a></span>
{%- endmacro %}

{% macro emc_nbgrader_heading(cell) -%}
{%- if cell.metadata.nbgrader.solution or cell.metadata.nbgrader.task -%}
<a name="comment-{{ cell.metadata.nbgrader.grade_id }}"></a>
{%- endif -%}
{%- if cell.metadata.nbgrader.grade -%}
<a name="{{ cell.metadata.nbgrader.grade_id }}"></a>
{%- endif -%}
<div class="panel-heading">
{%- if cell.metadata.nbgrader.solution -%}
  <span class="nbgrader-label">Your answer</span>
  {%- if cell.metadata.nbgrader.grade -%}{{ emc_score(cell) }}
  {%- else -%}<span class="pull-right"><a href="#top">(Top)</a></span>{%- endif -%}
{%- elif cell.metadata.nbgrader.task -%}
  <span class="nbgrader-label">Your task</span>{{ emc_score(cell) }}
{%- elif cell.metadata.nbgrader.grade -%}
  <span class="nbgrader-label">Tests: <code>{{ cell.metadata.nbgrader.grade_id }}</code></span>
  {{ emc_score(cell) }}
{%- endif -%}
</div>
{%- endmacro %}

{# A cell's rendered source, wrapped by the caller in a div of class ``area``: in nbgrader's
   panel (heading with the score, the grader's comments below) when ``graded``, else plain. #}
{% macro emc_cell_body(cell, graded, area) -%}
  {%- if graded -%}
  <div class="panel panel-primary nbgrader_cell">
    {{ emc_nbgrader_heading(cell) }}
    <div class="panel-body">
      <div class="{{ area }}">
        {{ caller() }}
      </div>
    </div>
    {{ emc_nbgrader_footer(cell) }}
  </div>
  {%- else -%}
  <div class="inner_cell">
    <div class="{{ area }}">
      {{ caller() }}
    </div>
  </div>
  {%- endif -%}
{%- endmacro %}

{# nbgrader's two blocks, calling the macros above. The macros have names of their own: a
   parent template's top-level macros run after the child's and would replace same-named ones. #}
{% block markdowncell scoped %}
<div class="cell border-box-sizing text_cell rendered">
  {{ self.empty_in_prompt() }}
  {%- set nbg = cell.metadata.nbgrader if 'nbgrader' in cell.metadata else {} -%}
  {%- call emc_cell_body(cell, nbg.solution or nbg.grade or nbg.task,
                         'text_cell_render border-box-sizing rendered_html') -%}
  {{ cell.source | markdown2html | strip_files_prefix | clean_html }}
  {%- endcall -%}
</div>
{% endblock markdowncell %}

{% block input %}
  {%- set nbg = cell.metadata.nbgrader if 'nbgrader' in cell.metadata else {} -%}
  {%- call emc_cell_body(cell, nbg.solution or nbg.grade, 'input_area') -%}
  {{ cell.source | highlight_code(metadata=cell.metadata) }}
  {%- endcall -%}
{% endblock input %}

{% macro emc_nbgrader_footer(cell) -%}
{%- if (cell.metadata.nbgrader.solution or cell.metadata.nbgrader.task) and cell.metadata.nbgrader.comment -%}
<div class="panel-footer">
  <div><b>Comments:</b> {{ cell.metadata.nbgrader.comment | markdown2html | strip_files_prefix }}</div>
</div>
{%- endif -%}
{%- endmacro %}

{% block body %}
<body>
  <a name="top"></a>
  <div id="emcourse-math-note" class="alert alert-warning" style="display: none"></div>
  <noscript><div id="emcourse-trust-note" class="alert alert-warning">Formulas are shown as TeX source because this
    viewer runs no scripts: in JupyterLab click <b>Trust HTML</b> in the toolbar above, or
    right-click the file and choose <b>Open in New Browser Tab</b>.</div></noscript>
  <div class="container">
    <div class="panel panel-default">
      <div class="panel-heading">
        {%- set pending = resources.nbgrader.pending_points | default(0) | float -%}
        <h4 id="emcourse-total">{{ resources.nbgrader.notebook }}
        (Score: {{ emc_points(resources.nbgrader.score) }} / {{ emc_points(resources.nbgrader.max_score) }})</h4>
        {%- if pending > 0 %}
        <p class="emcourse-pending-total">{{ emc_points(pending) }} of these points are
        <span class="emcourse-pending">pending</span>: written answers are graded by hand and
        are not counted yet.</p>
        {%- endif %}
        <div id="toc">
          <ol>
          {% for cell in nb.cells %}
            {% if cell.metadata.nbgrader and cell.metadata.nbgrader.grade and not cell.metadata.nbgrader.solution %}
            <li><a href="#{{ cell.metadata.nbgrader.grade_id }}">Tests <code>{{ cell.metadata.nbgrader.grade_id }}</code></a> (Score: {{ emc_cell_score(cell) }})</li>
            {% elif cell.cell_type == "code" and cell.metadata.nbgrader and cell.metadata.nbgrader.grade %}
            <li><a href="#{{ cell.metadata.nbgrader.grade_id }}">Coding free-response</a> (Score: {{ emc_cell_score(cell) }})</li>
            {% elif cell.cell_type == "markdown" and cell.metadata.nbgrader and cell.metadata.nbgrader.grade %}
            <li><a href="#{{ cell.metadata.nbgrader.grade_id }}">Written answer <code>{{ cell.metadata.nbgrader.grade_id }}</code></a> (Score: {{ emc_cell_score(cell) }})</li>
            {% elif cell.cell_type == "markdown" and cell.metadata.nbgrader and cell.metadata.nbgrader.task %}
            <li><a href="#{{ cell.metadata.nbgrader.grade_id }}">Task</a> (Score: {{ emc_cell_score(cell) }})</li>
            {% endif %}
            {% if cell.metadata.nbgrader and cell.metadata.nbgrader.comment %}
            <li><a href="#comment-{{ cell.metadata.nbgrader.grade_id }}">Comment</a></li>
            {% endif %}
          {% endfor %}
          {% if resources.nbgrader.late_penalty > 0 %}
            <li class="late-penalty">Late submission penalty (Score: -{{ emc_points(resources.nbgrader.late_penalty) }})</li>
          {% endif %}
          </ol>
        </div>
      </div>
      <div class="panel-body">
        <div id="notebook" class="border-box-sizing">
          <div class="container" id="notebook-container">
            {{ super.super() }}
          </div>
        </div>
      </div>
    </div>
  </div>
<style>
/* Wrap long lines (code, outputs, tracebacks, messages) instead of clipping them. */
pre, div.output_area pre, div.input_area pre, div.highlight pre {
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal;
}
div.output_subarea, div.output_area, div.output, div.input_area, div.inner_cell {
  overflow-x: visible; max-width: 100%; min-width: 0;
}
div.output_subarea { flex: 1 1 auto; }
/* Formulas the browser draws itself (MathML, in a browser tab): a font with math tables. */
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math",
                    "DejaVu Math TeX Gyre", math; font-size: 112%; }
math[display="block"] { math-style: normal; }
.emcourse-pending { font-style: italic; color: #8a6d3b; }
p.emcourse-pending-total { margin: 0.2em 0 0.6em; }
</style>
</body>
{%- endblock body %}
"""


class FeedbackExporter(HTMLExporter):
    """HTMLExporter for nbgrader's GenerateFeedback: local MathJax, wrapping, pending parts.

    Uses nbgrader's ``feedback`` template (GenerateFeedback puts its directory on the
    template path) through a small template of its own, and its own ``mathjax.html.j2``.

    Nothing of the notebook is active in the page (the autograded notebook is inert already,
    emcourse_grader.untrusted; this is the second line): ``sanitize_html`` is on, so
    nbconvert renders no JavaScript output or widget, and its ``clean_html`` filter (Markdown,
    HTML and raw cells, HTML and Markdown outputs) is :func:`emcourse_grader.untrusted.clean_html`,
    which keeps headings, paragraphs, tables and images that nbconvert's own would escape.
    """

    sanitize_html = Bool(True, help="Render no script or active HTML from the notebook."
                         ).tag(config=True)

    def default_filters(self):
        yield from super().default_filters()
        yield ("clean_html", untrusted.clean_html)

    @default("extra_loaders")
    def _extra_loaders_default(self):
        mathjax = (MATHJAX_TEMPLATE.replace("{{ mathjax_path }}", MATHJAX_PATH)
                   .replace("{{ mathjax_config }}", MATHJAX_CONFIG))
        return [DictLoader({"mathjax.html.j2": mathjax,
                            "emcourse_feedback.html.j2": FEEDBACK_TEMPLATE})]

    @default("template_file")
    def _template_file_default(self):
        return "emcourse_feedback.html.j2"
