"""The end of a parallel run: the grade table, the report, the picture, the run's record.

For each assignment: the grades and the integrity report on the terminal (no escape codes),
``grading_summary/<hw>.json`` (what the run did, each student's time), and a summary of the
score distribution per part (``grading_summary/<hw>.png`` and ``.html``).
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import json
import os
import threading
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
        png, page = write_summary(app, spec, parts, table, rows, run)
        run.summary_png, run.summary_html = png, page
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


def _plotting():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def prepare_plotting() -> threading.Thread:
    """Import matplotlib for :func:`write_summary` in a thread, now: the parallel command
    calls this once its queue has no task left to start, so a core that would wait for the
    last submissions imports it instead of the summary at the end. Join the thread before
    writing the summary (two threads must not import at once)."""
    thread = threading.Thread(target=_plotting, name="emcourse-summary-imports", daemon=True)
    thread.start()
    return thread


def write_summary(app, spec, parts, table, rows, run):
    """grading_summary/<hw>.png (a histogram per part) and <hw>.html (picture and tables)."""
    plt = _plotting()
    import numpy as np

    hw = spec["name"]
    top = _max_points(spec)
    out = summary_dir(app)
    out.mkdir(parents=True, exist_ok=True)
    cols = parts + ["total"]
    ncol = min(4, len(cols))
    nrow = -(-len(cols) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.5 * nrow), squeeze=False)
    for ax, part in zip(axes.flat, cols):
        values = np.array([table[s].get(part) or 0 for s in table], dtype=float)
        hi = top.get(part, 1) or 1
        bins = np.linspace(0, hi, min(11, int(hi) + 1) if hi >= 1 else 2)
        ax.hist(values, bins=bins, color="#c44e52" if part == "total" else "#4c72b0",
                edgecolor="white")
        ax.set_title(f"{part} (mean {values.mean():.1f}/{hi:g})", fontsize=9)
        ax.set_xlim(0, hi)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.suptitle(f"{hw}: automatic points per part, {len(table)} submissions", fontsize=11)
    fig.tight_layout()
    png = out / f"{hw}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)

    esc = html.escape
    b64 = base64.b64encode(png.read_bytes()).decode("ascii")
    head = "".join(f"<th>{esc(p)}<br><small>/{top.get(p, 0):g}</small></th>" for p in cols)
    body = "".join(
        "<tr><td>" + esc(s) + "</td>" + "".join(
            f"<td>{(table[s].get(p) or 0):g}</td>" for p in cols) + "</tr>"
        for s in sorted(table))
    stats = "".join(
        f"<tr><td>{esc(p)}</td><td>{np.mean(v):.2f}</td><td>{np.median(v):g}</td>"
        f"<td>{np.mean(v >= top.get(p, 0) - 1e-9) * 100:.0f}%</td>"
        f"<td>{np.mean(v <= 1e-9) * 100:.0f}%</td></tr>"
        for p in cols for v in [np.array([table[s].get(p) or 0 for s in table], float)])
    report = "".join(
        f"<tr><td>{esc(r['student'])}</td><td>{esc(r['part'])}</td><td>{esc(r['reason'])}"
        f"</td><td>{esc(r['detail'])}</td></tr>" for r in rows) or \
        "<tr><td colspan=4>(nothing flagged)</td></tr>"
    failed = "".join(f"<li>{esc(o.student)}: {esc(o.reason)}</li>" for o in run.failed)
    page = out / f"{hw}.html"
    page.write_text(f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(hw)}: grading summary</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{esc(hw)}: grading summary</h1>
<p>{len(table)} graded submissions (automatic points; written answers wait for manual
grading). This run: {len(run.graded)} graded in {run.seconds:.0f} s on {run.workers}
worker(s), {len(run.skipped)} up to date, {len(run.failed)} failed.
Written {datetime.datetime.now():%Y-%m-%d %H:%M}.</p>
{f"<p><b>Could not be graded (0 points until regraded):</b></p><ul>{failed}</ul>" if failed
 else ""}
<h2>Distribution of scores per part</h2>
<img alt="histograms of the points per part" src="data:image/png;base64,{b64}">
<h2>Per part</h2>
<table><tr><th>part</th><th>mean</th><th>median</th><th>full marks</th><th>zero</th></tr>
{stats}</table>
<h2>Integrity report</h2>
<table><tr><th>student</th><th>part</th><th>reason</th><th>detail</th></tr>{report}</table>
<h2>Grades</h2>
<table><tr><th>student</th>{head}</tr>{body}</table>
</body></html>
""")
    return png, page
