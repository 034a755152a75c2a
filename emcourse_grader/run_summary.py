"""The end of a parallel run: the grade table, the report, the picture, the run's record.

For each assignment: the grades and the integrity report on the terminal (no escape codes),
``grading_summary/<hw>.json`` (what the run did, each student's time), and a summary of the
score distribution per part (``grading_summary/<hw>.svg`` and ``.html``, from the template
files ``templates/score_histograms.svg.j2`` and ``templates/grading_summary.html.j2``).
"""

from __future__ import annotations

import csv
import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .grading_queue import previous_seconds, summary_dir

if TYPE_CHECKING:
    from .parallel import RunResult



def class_scores(app, spec) -> tuple[list, dict]:
    """(parts, student -> {part: score}) of every graded submission of the assignment; parts
    are the code grade cells (automatic points), in notebook order, and 'total'."""
    from nbgrader.api import Gradebook

    cd, hw = app.coursedir, spec["name"]
    order = []
    for nb in spec["notebooks"]:
        names = [c["name"] for c in nb["grade_cells"] if c["cell_type"] == "code"]
        # notebook order: as the source cells list them
        pos = {c["name"]: i for i, c in enumerate(nb["source_cells"])}
        order += sorted(names, key=lambda n: pos.get(n, 10**6))
    table = {}
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for sub in gb.find_assignment(hw).submissions:
            row = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    row[g.name] = g.score
            row["total"] = sum(v or 0 for v in row.values())
            table[sub.student.id] = row
    return order, table


def _max_points(spec) -> dict:
    out = {c["name"]: c["max_score"] for nb in spec["notebooks"] for c in nb["grade_cells"]}
    out["total"] = sum(out.values())
    return out


def print_summary(app, spec, writer, run: RunResult, stream):
    from emcourse_grader.untrusted import terminal_text as tty

    hw = spec["name"]
    parts, table = class_scores(app, spec)
    top = _max_points(spec)
    print(f"\n{hw}: graded {len(run.graded)} submission(s) in {run.seconds:.1f} s "
          f"on {run.workers} worker(s); {len(run.skipped)} up to date; "
          f"{len(run.failed)} failed", file=stream)
    print(f"\nGrades ({hw}; written answers wait for manual grading):", file=stream)
    width = max([7] + [len(s) for s in table]) + 2
    print(f"{'student':<{width}}{'score':>12}", file=stream)
    for s in sorted(table):
        print(f"{tty(s):<{width}}{table[s]['total']:>8g}/{top['total']:g}", file=stream)
    rows = _report_rows(writer.report, hw)
    print(f"\nIntegrity report ({writer.report}, {hw}):", file=stream)
    for r in rows:  # student text: no escape codes reach the terminal
        print(f"  {tty(r['student']):<12} {tty(r['part']):<22} {tty(r['reason'])}"
              + (f" ({tty(r['detail'])[:150]})" if r["detail"] else ""), file=stream)
    if not rows:
        print("  (nothing flagged)", file=stream)
    if table:
        figure, page = write_summary(app, spec, parts, table, rows, run)
        run.summary_figure, run.summary_html = figure, page
        print(f"\nScore distribution per part: {page}", file=stream)


def _report_rows(path, hw):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("assignment") == hw]


def write_run(app, run: RunResult) -> Path:
    """grading_summary/<hw>.json: what the last run did (machine-readable)."""
    out = summary_dir(app)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run.assignment}.json"
    # Each student's last grading time, kept across runs that grade only some students:
    # the next run orders its queue by it (queue_order).
    seconds = previous_seconds(app, run.assignment)
    seconds.update({o.student: o.seconds for o in run.graded if o.status == "graded"})
    path.write_text(json.dumps({
        "assignment": run.assignment, "seconds": run.seconds, "workers": run.workers,
        "startup_seconds": run.startup_seconds, "commit_seconds": run.commit_seconds,
        "skipped": run.skipped,
        "outcomes": [{"student": o.student, "status": o.status, "seconds": o.seconds,
                      "tries": o.tries, "reason": o.reason} for o in run.graded],
        "seconds_by_student": seconds}, indent=1))
    return path


TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(template: str, **context) -> str:
    """The template file ``templates/<template>`` rendered with ``context``, escaped."""
    from .rendering import render as render_file

    return render_file(TEMPLATES, template, **context)


def write_summary(app, spec, parts, table, rows, run):
    """grading_summary/<hw>.svg (a histogram per part, :mod:`.score_figure`) and <hw>.html
    (the picture, statistics per part, the integrity report, the grades); returns both
    paths."""
    import numpy as np

    from .score_figure import render_svg

    hw = spec["name"]
    top = _max_points(spec)
    out = summary_dir(app)
    out.mkdir(parents=True, exist_ok=True)
    cols = parts + ["total"]
    svg = render_svg(hw, cols, top, table)
    figure = out / f"{hw}.svg"
    figure.write_text(svg, encoding="utf-8")
    stats = []
    for p in cols:
        v = np.array([table[s].get(p) or 0 for s in table], float)
        stats.append({"part": p, "mean": float(np.mean(v)), "median": float(np.median(v)),
                      "full": float(np.mean(v >= top.get(p, 0) - 1e-9) * 100),
                      "zero": float(np.mean(v <= 1e-9) * 100)})
    grades = [{"student": s, "points": [table[s].get(p) or 0 for p in cols]}
              for s in sorted(table)]
    page = out / f"{hw}.html"
    page.write_text(render(
        "grading_summary.html.j2", assignment=hw, students=len(table), run=run,
        failed=run.failed, written=f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
        figure=svg, stats=stats, rows=rows, columns=cols, top=top, grades=grades),
        encoding="utf-8")
    return figure, page
