"""The nbgrader preprocessors (configured in nbgrader_config.py) and the integrity report.

``nbgrader autograde hwN`` in the course root runs, for every submission:

1. :func:`repair_unreadable` (from ``Autograde.pre_convert_hook``,
   :func:`emcourse_grader.untrusted.screen_submission`, which then removes links, special
   files and oversized files): a notebook that is not valid JSON, not UTF-8 or not a notebook
   is set aside and graded as the unanswered release (0 points, one clear reason), so the rest
   of the class is still graded, fed back and exported.
2. :class:`IntegrityCheck` (sanitize, before OverwriteCells): takes the instructor's test
   cells from the gradebook (before any student code runs) and reports edited, emptied,
   deleted or re-labelled nbgrader cells; OverwriteCells then restores them.
3. :class:`TrustedGrade` (instead of nbgrader's Execute, which would start a kernel in the
   grader's own environment): runs the student's cells once, in a sandboxed worker
   (emcourse_grader.sandbox, emcourse_grader.judge), whose outputs come back as untrusted
   data and are rebuilt within caps for the feedback; every test cell runs in the grader, with
   the course's versions of the earlier parts a function builds on; the verdict *replaces*
   each test cell's outputs, so nbgrader's scoring (which reads a cell's outputs) sees only
   the verdict.

Points come only from that verdict. Everything else (tampered cells, the static scan, code
that kills its process) is *reported* in ``integrity_report.csv`` and never takes points by
itself: the test code, the data and the comparison are out of the student's reach.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from . import custody, sandbox, untrusted

META = "emcourse_grader"
FIELDS = ["time", "student", "assignment", "notebook", "part", "reason", "detail"]
# Notebooks from a submission or a sandbox are read within guard.NOTEBOOK_CAPS (100 MB, depth,
# values) and a submitted one must fit in guard.MAX_SOURCE_BYTES (20 MB) without its outputs.
UNSANDBOXED = "graded WITHOUT the sandbox (EMCOURSE_UNSANDBOXED=1, the instructor's opt-out)"


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def _report_file(path: str) -> Path:
    return Path(path if os.path.isabs(path) else os.path.join(os.getcwd(), path))


def _rewrite(path: Path, keep, add=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        rows = [r for r in csv.DictReader(text.splitlines()) if keep(r)] if text else []
        f.seek(0)
        rows += list(add)
        # Cell ids, messages and names come from students: no formulas, no control codes.
        rows = [{k: untrusted.csv_field(r.get(k) or "") for k in FIELDS} for r in rows]
        f.truncate()
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def reset_report(path: str, student, assignment, notebook):
    """Forget the rows of an earlier grading of this submission (a regrade)."""
    key = tuple(untrusted.csv_field(x) for x in (student, assignment, notebook))
    _rewrite(_report_file(path), lambda r: (r.get("student"), r.get("assignment"),
                                            r.get("notebook")) != key)


def write_rows(path: str, rows):
    """Add rows, one per (submission, part, reason): the details of repeats are joined."""
    merged = {}
    for r in rows:
        key = (r["student"], r["assignment"], r["notebook"], r["part"], r["reason"])
        if key in merged:
            details = merged[key]["detail"].split("; ")
            if r["detail"] and r["detail"] not in details and len(details) < 8:
                merged[key]["detail"] += "; " + r["detail"]
        else:
            merged[key] = dict(r)
    _rewrite(_report_file(path), lambda r: True, merged.values())


def _ids(resources):
    g = resources["nbgrader"]
    return g["student"], g["assignment"], g["notebook"], g["db_url"]


def _state(resources) -> dict:
    """What the preprocessors of one submission share (never read from the notebook)."""
    return resources.setdefault(META, {"flags": [], "sources": None})


def _flag(resources, reason, detail="", cell=""):
    item = {"reason": reason, "detail": str(detail)[:300], "cell": cell}
    flags = _state(resources)["flags"]
    if item not in flags:
        flags.append(item)


def _write_flags(resources, report_file):
    student, assignment, notebook, _ = _ids(resources)
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    write_rows(report_file, [
        {"time": now, "student": student, "assignment": assignment, "notebook": notebook,
         "part": f["cell"], "reason": f["reason"], "detail": f["detail"]}
        for f in _state(resources)["flags"]])
    _state(resources)["flags"] = []


def _norm(src: str) -> str:
    return "\n".join(line.rstrip() for line in src.strip().splitlines())


def _released(source: str, cell_type: str) -> str:
    """What students see of a source cell: the hidden tests removed."""
    from nbgrader.preprocessors import ClearHiddenTests

    cell = NotebookNode(cell_type=cell_type or "code", source=source, metadata={})
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


def is_test(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def grade_id(cell, index) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _error(message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="GradingError", evalue=message,
                        traceback=[message])


class _Base(NbGraderPreprocessor):
    report_file = Unicode("integrity_report.csv",
                          help="The integrity report (CSV), relative to the course root."
                          ).tag(config=True)


# --------------------------------------------------------------------------------------------
# 1. Unreadable notebooks: graded as the unanswered release, with a reason
# --------------------------------------------------------------------------------------------

UNREADABLE: dict[str, str] = {}  # real path of a submitted notebook -> why it was set aside


TIMESTAMPS: dict[str, str] = {}  # real path of a submission folder -> why its time was dropped


def _why_unreadable(path: str) -> str:
    """Why the submitted notebook cannot be graded as handed in ("" if it can): read within
    caps before it is parsed, its saved outputs dropped before the 20 MB limit applies."""
    from .guard import UnreadableNotebook, read_notebook

    try:
        read_notebook(path, strip_outputs=True)
    except UnreadableNotebook as exc:
        return str(exc)
    return ""


def repair_unreadable(assignment=None, student=None, notebooks=(), *,
                      release_directory="release", **_):
    """nbgrader's pre-convert hook: set aside what nbformat cannot read (kept beside it as
    ``<name>.ipynb.unreadable``) and put the released notebook, unanswered, in its place (so
    that nbgrader finds every cell it grades; an empty notebook would make OverwriteCells
    fail). ``release_directory``: the course's, relative to the course root (the current
    directory of every nbgrader command). An unparsable ``timestamp.txt`` (nbgrader would
    fail on it) is set aside as ``timestamp.txt.unreadable``: the submission counts as
    having no time (never late, as with an empty one) and the report says so."""
    from .guard import repair_timestamp

    for folder in {os.path.dirname(p) for p in notebooks}:
        try:
            why = repair_timestamp(folder)
        except OSError as exc:
            why = f"timestamp.txt could not be set aside ({exc})"
        if why:
            TIMESTAMPS[os.path.realpath(folder)] = why
    for path in notebooks:
        why = _why_unreadable(path)
        if not why:
            continue
        kept = path + ".unreadable"
        if os.path.lexists(kept):
            os.remove(kept)
        os.rename(path, kept)
        hw, name = Path(path).parent.name, Path(path).name
        release = Path(release_directory if os.path.isabs(release_directory)
                       else os.path.join(os.getcwd(), release_directory)) / hw / name
        if release.is_file():
            shutil.copyfile(release, path)
        else:
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                         "language": "python"}
            nbformat.write(nb, path)
        UNREADABLE[os.path.realpath(path)] = why


# --------------------------------------------------------------------------------------------
# 2. Sanitize: the trusted sources, and what the submission changed
# --------------------------------------------------------------------------------------------

_SCHEMA = 3  # nbgrader 0.9's cell metadata schema (nbgrader/nbgraderformat/v3.json)
_META_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task", "points",
              "checksum", "cell_type"}
_CELL_TYPES = ("code", "markdown", "raw")


def _brief(value) -> str:
    """A short description of a value from a submission (never the whole of a big one)."""
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return repr(value)[:40]


class IntegrityCheck(_Base):
    """Take the test sources from the gradebook; report edited, emptied, deleted, duplicated
    or re-labelled nbgrader cells (OverwriteCells then restores them)."""

    def preprocess(self, nb, resources):
        student, assignment, notebook, db_url = _ids(resources)
        folder = os.path.realpath(resources.get("metadata", {}).get("path", ""))
        if folder in custody.BREACHED:  # found by the pre-convert hook, before any change
            raise custody.CustodyError(f"{student}'s {assignment} was not graded: "
                                       f"{custody.BREACHED.pop(folder)}")
        state = _state(resources)
        state["flags"] = []
        nb.metadata.pop(META, None)  # whatever the submission carried is discarded
        reset_report(self.report_file, student, assignment, notebook)
        with Gradebook(db_url) as gb:
            source_nb = gb.find_notebook(notebook, assignment)
            sources = {c.name: (c.source, c.cell_type, c.locked) for c in source_nb.source_cells}
            grades = {c.name: (float(c.max_score), c.cell_type) for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            tasks = {c.name for c in getattr(source_nb, "task_cells", [])}
        state["sources"] = {name: src for name, (src, _, _) in sources.items()}
        path = os.path.realpath(os.path.join(resources.get("metadata", {}).get("path", ""),
                                             notebook + ".ipynb"))
        late = TIMESTAMPS.get(os.path.dirname(path), "")
        if late:
            _flag(resources, "the submission's time is unreadable; graded as submitted on "
                  "time (timestamp.txt set aside as timestamp.txt.unreadable)", late)
        why = UNREADABLE.pop(path, "")
        if why:
            _flag(resources, "the submitted notebook could not be read; graded as unanswered",
                  why)
        else:
            self._check(nb, resources, sources, grades, solutions, tasks)
        for name, why in untrusted.REFUSED.pop(os.path.dirname(path), []):
            _flag(resources, "a file of the submission was refused (not copied)", f"{name}: {why}")
        if not sandbox.require_sandbox():
            _flag(resources, UNSANDBOXED)
        _write_flags(resources, self.report_file)
        return nb, resources

    def _check(self, nb, resources, sources, grades, solutions, tasks):
        known = set(sources) | set(grades) | solutions | tasks
        seen = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            gid = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(gid, str) and gid in known:
                seen.setdefault(gid, []).append(cell)
                continue
            # A plain cell from now on: nbgrader neither grades nor trips over it.
            del cell.metadata["nbgrader"]
            _flag(resources, "changes cell metadata (a cell id the assignment does not have)"
                  if isinstance(gid, str) else
                  "changes cell metadata (nbgrader metadata without a cell id)",
                  gid[:80] if isinstance(gid, str) else _brief(meta))
        for gid, cells in seen.items():
            if len(cells) > 1:  # a pasted copy: the first is graded, the others are plain
                _flag(resources, "duplicates a cell id (the first copy is graded, the others "
                      "are plain cells)", gid, cell=gid)
                for cell in cells[1:]:
                    del cell.metadata["nbgrader"]
        for gid in sorted(known):
            test = gid in grades and gid not in solutions and grades[gid][1] == "code"
            cells = seen.get(gid, [])
            if not cells:
                what = "test cell" if test else ("answer cell" if gid in solutions else "cell")
                _flag(resources, f"deletes a {what} (or removes its nbgrader metadata)", gid,
                      cell=gid)
                continue
            cell = cells[0]
            meta = cell.metadata["nbgrader"]
            source, cell_type, locked = sources.get(gid, (None, None, False))
            changes = []
            if bool(meta.get("grade", False)) != (gid in grades):
                changes.append("grade")
            if bool(meta.get("solution", False)) != (gid in solutions):
                changes.append("solution")
            if bool(meta.get("locked", False)) != bool(locked):
                changes.append("locked")
            if gid in grades:
                try:
                    if float(meta.get("points", -1)) != grades[gid][0]:
                        changes.append(f"points {_brief(meta.get('points'))} "
                                       f"(is {grades[gid][0]:g})")
                except (TypeError, ValueError, OverflowError):
                    changes.append(f"points {_brief(meta.get('points'))}")
            if cell_type and cell.cell_type != cell_type:
                changes.append(f"cell type {cell.cell_type} (is {cell_type})")
            if meta.get("schema_version") != _SCHEMA:
                changes.append(f"schema_version {_brief(meta.get('schema_version'))} "
                               f"(is {_SCHEMA})")
            extra = sorted(str(k)[:40] for k in set(meta) - _META_KEYS)
            if extra:
                changes.append("keys " + ", ".join(extra[:5]))
            if changes:
                _flag(resources, "changes cell metadata", f"{gid}: " + ", ".join(changes),
                      cell=gid)
            # Put the metadata back as the gradebook has it, so OverwriteCells can restore
            # the cell (it refuses cells whose flags no longer match their checksum) and
            # nbgrader's schema checks pass (a too-new schema_version would stop the run).
            kept = {k: meta[k] for k, ok in (("checksum", lambda v: len(v) == 32),
                                             ("cell_type", lambda v: v in _CELL_TYPES))
                    if isinstance(meta.get(k), str) and ok(meta[k])}
            meta.clear()
            meta.update(kept, grade_id=gid, schema_version=_SCHEMA, grade=gid in grades,
                        solution=gid in solutions, locked=bool(locked), task=gid in tasks)
            if gid in grades:
                meta["points"] = grades[gid][0]
            if cell_type and cell.cell_type != cell_type:
                cell.cell_type = cell_type
                if cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                else:
                    cell.pop("outputs", None)
                    cell.pop("execution_count", None)
            if locked and source is not None and _norm(cell.source) != _norm(source) \
                    and _norm(cell.source) != _norm(_released(source, cell_type)):
                kind = "test cell" if test else "locked cell"
                verb = "empties" if not cell.source.strip() else "edits"
                _flag(resources, f"{verb} a {kind} (restored from the gradebook)", gid,
                      cell=gid)


# --------------------------------------------------------------------------------------------
# 3. The sandbox's limits, and its outputs read back as untrusted data
# --------------------------------------------------------------------------------------------

class _LimitsConfig(_Base):
    memory_mb = Integer(3072, help="Memory of a student process tree (MB).").tag(config=True)
    processes = Integer(128, help="Processes and threads of the sandbox user.").tag(config=True)
    cpu_seconds = Integer(900, help="CPU time of one student process (s).").tag(config=True)
    file_mb = Integer(64, help="Largest file a student process may write (MB).").tag(config=True)
    disk_mb = Integer(sandbox.DEFAULT_LIMITS.disk_mb, help="Size of the sandbox's scratch "
                      "home and of its /tmp, each (MB).").tag(config=True)
    files = Integer(sandbox.DEFAULT_LIMITS.files, help="Files and folders the scratch home "
                    "may hold (as root).").tag(config=True)
    cpus = Float(sandbox.DEFAULT_LIMITS.cpus, help="CPUs the whole sandbox may use at once "
                 "(where a cgroup can be made).").tag(config=True)
    sandbox_uid = Integer(sandbox.DEFAULT_LIMITS.uid, help="When grading as root, the first "
                          "of the unprivileged user ids that sandboxes lease, one each."
                          ).tag(config=True)

    def limits(self) -> sandbox.Limits:
        return sandbox.Limits(memory_mb=self.memory_mb, processes=self.processes,
                              cpu_seconds=self.cpu_seconds, file_mb=self.file_mb,
                              disk_mb=self.disk_mb, files=self.files, cpus=self.cpus,
                              uid=self.sandbox_uid)


_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def _clean_output(out, budget: list) -> NotebookNode | None:
    """Rebuild one output from the fields nbformat defines, within a byte budget."""
    kind = out.get("output_type") if isinstance(out, dict) else None
    if not isinstance(kind, str) or kind not in _OUTPUT_TYPES:  # a list would be unhashable
        return None

    def text(value, limit=None):
        if isinstance(value, list):
            value = "".join(str(v) for v in value)
        value = str(value)
        limit = budget[0] if limit is None else min(limit, budget[0])
        budget[0] -= min(len(value), limit)
        return value if len(value) <= limit else value[:limit] + "\n[cut by the grader]\n"

    if kind == "stream":
        name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
        return NotebookNode(output_type="stream", name=name, text=text(out.get("text", "")))
    if kind == "error":
        tb = out.get("traceback") if isinstance(out.get("traceback"), list) else []
        return NotebookNode(output_type="error", ename=text(out.get("ename", "Error"), 200),
                            evalue=text(out.get("evalue", ""), 5000),
                            traceback=[text(t, 5000) for t in tb[:40]])
    data = out.get("data") if isinstance(out.get("data"), dict) else {}
    clean = {}
    for mime, value in list(data.items())[:10]:
        if not (isinstance(mime, str) and "/" in mime) or budget[0] <= 0:
            continue
        if isinstance(value, (str, list)):
            clean[mime[:100]] = text(value)
        else:  # application/json and the like: kept whole if it fits
            raw = json.dumps(value)
            if len(raw) <= budget[0]:
                budget[0] -= len(raw)
                clean[mime[:100]] = json.loads(raw)
    # Only inert content enters the grader's side (scripts, widgets, active HTML removed),
    # checked after the cut (a cut can end inside a tag).
    clean = untrusted.clean_bundle(clean)
    if not clean:
        return None
    node = NotebookNode(output_type=kind, data=from_dict(clean), metadata=NotebookNode())
    if kind == "execute_result":
        node.execution_count = None
    return node


def cell_outputs(outputs, max_output_bytes: int, max_outputs: int = 200) -> list:
    """A student cell's outputs as the sandboxed worker sent them (untrusted), rebuilt within
    the caps: at most ``max_outputs`` outputs and about ``max_output_bytes`` of text."""
    budget = [max_output_bytes + 10_000]
    outs = outputs if isinstance(outputs, list) else []
    return [o for o in (_clean_output(x, budget) for x in outs[:max_outputs]) if o]


# --------------------------------------------------------------------------------------------
# 4. One run in the sandbox: the outputs the feedback shows, and the verdict taken outside it
# --------------------------------------------------------------------------------------------

class TrustedGrade(_LimitsConfig):
    """Run the student's cells once, in a sandboxed worker, keeping their outputs, and every
    test cell in the grader; replace each test cell's outputs with the verdict, which is all
    nbgrader scores. No test, visible or hidden, enters the sandbox."""

    timeout = Float(30.0, help="Seconds one call of a student's function from a test may "
                    "take.").tag(config=True)
    cell_timeout = Float(20.0, help="Seconds per student cell before it is interrupted; one "
                         "still running as long again after the interrupt is ended (its "
                         "process restarted).").tag(config=True)
    notebook_timeout = Float(600.0, help="Wall-clock cap of one notebook's grading, every "
                             "restart included (s).").tag(config=True)
    max_output_bytes = Integer(200_000, help="Output kept per cell (bytes); the rest is cut "
                               "with a note.").tag(config=True)
    max_outputs = Integer(200, help="Outputs kept per cell.").tag(config=True)

    def preprocess(self, nb, resources):
        from .beside import REASON as BESIDE
        from .beside import detail as beside_detail
        from .beside import handed_in_module
        from .beside import note as beside_note
        from .checks import secret
        from .judge import Worker, run_test_cell
        from .scan import scan

        sandboxed = sandbox.require_sandbox()
        sources = _state(resources).get("sources") or self._sources(resources)
        context = {"cell": ""}

        def on_flag(reason, detail):
            _flag(resources, reason, detail, cell=context["cell"])

        verdicts = {}
        worker = Worker(call_timeout=self.timeout, budget=self.notebook_timeout,
                        limits=self.limits(), sandboxed=sandboxed, on_flag=on_flag,
                        cell_timeout=self.cell_timeout, max_output_bytes=self.max_output_bytes,
                        max_outputs=self.max_outputs)
        count = 0
        # A part's course version is lent only once its own test has been judged: never to
        # the code of an earlier part (a later part's values, asked for on recorded inputs,
        # would be its answers).
        pending = _graded_parts(sources.get(grade_id(cell, 0), cell.source)
                                for cell in nb.cells if is_test(cell))
        # The checks' problems are drawn for this submission: their seeds are salted with its
        # cells as graded here (checks.secret: one table of answers learnt from earlier
        # submissions changes the problems); the digest stays in this process.
        salt = secret.digest(nb.cells)
        try:
            # The course's versions the tests will need: their helper starts while the
            # student's cells run.
            worker.prepare_callbacks([fn for cell in nb.cells if is_test(cell) for fn in
                                      _substitutes(sources.get(grade_id(cell, 0),
                                                               cell.source)).values()])
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                gid = grade_id(cell, i)
                context["cell"] = gid
                # Whatever the submission saved is never shown: only this run's outputs.
                cell.outputs, cell.execution_count = [], None
                if is_test(cell):
                    source = sources.get(gid, cell.source)
                    lent = {name: fn for name, fn in _substitutes(source).items()
                            if not pending[name]}
                    with secret.salted(salt):
                        verdicts[gid] = run_test_cell(worker, source, lent)
                    pending.subtract(_graded_parts([source]))
                    continue
                if not cell.metadata.get("nbgrader", {}).get("locked"):
                    for reason, detail in scan(cell.source):
                        _flag(resources, reason, detail, cell=gid)
                if not cell.source.strip():
                    continue
                answer = worker.exec_cell(i, cell.source)
                count += 1
                cell.execution_count = count
                if answer is None:
                    cell.outputs = [_error(_not_run(worker, self.cell_timeout))]
                else:
                    cell.outputs = cell_outputs(answer.get("outputs"), self.max_output_bytes,
                                                self.max_outputs)
                    beside = handed_in_module(answer, resources.get("metadata", {}).get("path"))
                    if beside:  # never a silent 0: the report and the feedback say why
                        _flag(resources, BESIDE, beside_detail(beside))
                        cell.outputs.append(beside_note(beside))
        finally:
            worker.close()
        for cell in nb.cells:
            if is_test(cell):
                passed, message = verdicts.get(grade_id(cell, 0), (False, "not checked"))
                cell.outputs = _verdict_outputs(cell.outputs, passed, message)
        _write_flags(resources, self.report_file)
        return nb, resources

    @staticmethod
    def _sources(resources):
        _, assignment, notebook, db_url = _ids(resources)
        with Gradebook(db_url) as gb:
            return {c.name: c.source for c in
                    gb.find_notebook(notebook, assignment).source_cells}


def _not_run(worker, cell_timeout: float) -> str:
    """What a cell whose run the grader had to end shows in place of its outputs."""
    why = worker.failure or "its process stopped"
    if why.startswith("not run"):
        return why
    return (f"this cell went on through an interrupt (after {cell_timeout:g} s) or stopped "
            f"the process running it, so it was ended ({why}); the cells after it ran in a "
            f"fresh process, with the cells before it run again")


def _substitutes(source: str) -> dict:
    """The course's versions of the earlier parts, for a test cell: those the checks of this
    cell name (``uses``) and those of every other check of the same assignment, but for the
    functions this cell grades. While the cell runs, the student's code and the test's own
    calls get these in place of the student's (judge.run_test_cell): one part, one verdict."""
    from .checks import CHECKS, checks_in

    named = [CHECKS[name] for name in checks_in(source) if name in CHECKS]
    graded = {check.function for check in named}
    assignments = {check.assignment for check in named}
    out = {}
    for check in CHECKS.values():
        if check.assignment in assignments and check.assignment:
            out.update(check.uses)
    for check in named:
        out.update(check.uses)
    return {name: fn for name, fn in out.items() if name not in graded}


def _graded_parts(sources):
    """How many of the test cells ``sources`` grade each function (a Counter by name)."""
    from collections import Counter

    from .checks import CHECKS, checks_in

    return Counter(CHECKS[name].function for source in sources
                   for name in checks_in(source) if name in CHECKS)


def _verdict_outputs(outputs, passed: bool, message: str) -> list:
    """A test cell's outputs as nbgrader must score them: on a pass, what it printed or
    displayed (no error, no value that nbgrader would read as partial credit, no stderr);
    on a failure, only the verdict (it replaces, never appends)."""
    if not passed:
        return [_error(message or "the test failed")]
    keep = []
    for out in outputs or []:
        kind = out.get("output_type")
        if kind == "display_data" or (kind == "stream" and out.get("name") == "stdout"):
            keep.append(out)
    return keep
