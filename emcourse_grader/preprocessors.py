"""The nbgrader preprocessors (configured in nbgrader_config.py) and the integrity report.

Autograde's sanitize step starts with :class:`IntegrityCheck`; its autograde step runs
:class:`SafeExecute` instead of nbgrader's Execute and :class:`TrustedGrade` right after it
(before IgnorePattern and SaveAutoGrades). Flags travel from one to the next in the
notebook's metadata (``emcourse_grader.flags``, written by the grader before any student
code runs) and end as rows of the integrity report.
"""

from __future__ import annotations

import copy
import csv
import fcntl
import os
import sys
import time
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Configurable

from . import sandbox

META = "emcourse_grader"
FIELDS = ["time", "student", "assignment", "notebook", "part", "reason", "detail"]


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
        f.truncate()
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def reset_report(path: str, student, assignment, notebook):
    """Forget the rows of an earlier grading of this submission (autograde --force)."""
    _rewrite(_report_file(path), lambda r: (r.get("student"), r.get("assignment"),
                                            r.get("notebook")) != (student, assignment,
                                                                   notebook))


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


def _flags(nb) -> list:
    return nb.metadata.setdefault(META, {}).setdefault("flags", [])


def _flag(nb, reason, detail="", cell="", scope="self", stage=""):
    """scope: "self" (the test cell `cell`), "next" (the first test after `cell`), "after"
    (every test after `cell`), "all", or "none" (reported only)."""
    item = {"reason": reason, "detail": str(detail)[:300], "cell": cell, "scope": scope,
            "stage": stage}
    flags = _flags(nb)
    if not any(f["reason"] == item["reason"] and f["detail"] == item["detail"]
               and f["cell"] == item["cell"] for f in flags):
        flags.append(item)


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


class _Base(NbGraderPreprocessor):
    report_file = Unicode("integrity_report.csv",
                          help="The integrity report (CSV), relative to the course root."
                          ).tag(config=True)


# --------------------------------------------------------------------------------------------
# 1. Sanitize: compare the submission with the gradebook, before OverwriteCells restores it
# --------------------------------------------------------------------------------------------

class IntegrityCheck(_Base):
    """Flag edited, emptied, deleted, duplicated or re-labelled nbgrader cells."""

    def preprocess(self, nb, resources):
        student, assignment, notebook, db_url = _ids(resources)
        nb.metadata[META] = {"flags": []}  # whatever the submission carried is discarded
        try:
            reset_report(self.report_file, student, assignment, notebook)
            self._check(nb, assignment, notebook, db_url)
        except Exception as exc:
            self.log.exception("IntegrityCheck failed")
            _flag(nb, "the grader could not check this notebook", repr(exc), scope="all",
                  stage="integrity")
        write_rows(self.report_file, [
            {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "student": student,
             "assignment": assignment, "notebook": notebook, "part": f["cell"],
             "reason": f["reason"], "detail": f["detail"]} for f in _flags(nb)])
        return nb, resources

    def _check(self, nb, assignment, notebook, db_url):
        with Gradebook(db_url) as gb:
            source_nb = gb.find_notebook(notebook, assignment)
            sources = {c.name: (c.source, c.cell_type, c.locked) for c in source_nb.source_cells}
            grades = {c.name: (float(c.max_score), c.cell_type) for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            tasks = {c.name for c in getattr(source_nb, "task_cells", [])}
        known = set(sources) | set(grades) | solutions | tasks
        seen = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            gid = meta.get("grade_id")
            if gid is None:
                continue
            seen.setdefault(gid, []).append(cell)
        for gid in sorted(set(seen) - known):
            _flag(nb, "changes cell metadata (a cell id the assignment does not have)", gid,
                  cell="", scope="none", stage="integrity")
            for cell in seen[gid]:  # a plain cell from now on: nbgrader ignores it
                del cell.metadata["nbgrader"]
        for gid in known:
            test = gid in grades and gid not in solutions and grades[gid][1] == "code"
            scope = "self" if test else ("next" if gid in solutions else "none")
            cells = seen.get(gid, [])
            if not cells:
                what = "test cell" if test else ("answer cell" if gid in solutions else "cell")
                _flag(nb, f"deletes a {what} (or removes its nbgrader metadata)", gid, cell=gid,
                      scope="self" if test else "none", stage="integrity")
                continue
            if len(cells) > 1:
                _flag(nb, "duplicates a cell id", gid, cell=gid, scope=scope, stage="integrity")
            cell = cells[0]
            meta = cell.metadata.get("nbgrader", {})
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
                        changes.append(f"points {meta.get('points')!r} (is {grades[gid][0]:g})")
                except (TypeError, ValueError):
                    changes.append(f"points {meta.get('points')!r}")
            if cell_type and cell.cell_type != cell_type:
                changes.append(f"cell type {cell.cell_type} (is {cell_type})")
            if meta.get("cell_type") not in (None, cell_type):
                changes.append(f"nbgrader cell_type {meta.get('cell_type')}")
            if changes:
                _flag(nb, "changes cell metadata", f"{gid}: " + ", ".join(changes), cell=gid,
                      scope=scope, stage="integrity")
            # Put the metadata back as the gradebook has it, so OverwriteCells can restore
            # the cell (it refuses cells whose flags no longer match their checksum).
            meta["grade"] = gid in grades
            meta["solution"] = gid in solutions
            meta["locked"] = bool(locked)
            if gid in grades:
                meta["points"] = grades[gid][0]
            else:
                meta.pop("points", None)
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
                if not cell.source.strip():
                    reason = f"empties a {kind}"
                else:
                    reason = f"edits a {kind}"
                _flag(nb, reason, gid, cell=gid, scope="self" if test else "none",
                      stage="integrity")


# --------------------------------------------------------------------------------------------
# 2. Execute in a sandboxed kernel, and never stop the run
# --------------------------------------------------------------------------------------------

def course_policy(config, resources, **limits) -> dict:
    """The sandbox policy for this course: what student code may not open or write."""
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory(config=config)
    root = os.path.realpath(cd.root)
    student, assignment, _, db_url = _ids(resources)
    protected = [os.path.join(root, d) for d in (
        cd.source_directory, cd.submitted_directory, cd.autograded_directory,
        cd.feedback_directory)]
    protected += [os.path.join(root, "nbgrader_config.py"), os.path.join(root, ".git")]
    if db_url.startswith("sqlite:///"):
        db = db_url[len("sqlite:///"):]
        db = db if os.path.isabs(db) else os.path.join(root, db)
        protected += [db, db + "-journal", db + "-wal", db + "-shm"]
    own = cd.format_path(cd.autograded_directory, student, assignment)
    import emref
    readonly = [root, sys.prefix, os.path.dirname(os.path.dirname(emref.__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    for p in sys.path:
        if p and "site-packages" in p:
            readonly.append(p)
    policy = dict(sandbox.DEFAULTS)
    policy.update(limits)
    policy.update(protected=protected, readable=[own], readonly=readonly)
    return policy


def _private_gradebook(resources):
    """As root, make the gradebook readable by its owner only (students run as nobody)."""
    if os.geteuid() != 0:
        return
    db_url = resources["nbgrader"]["db_url"]
    if db_url.startswith("sqlite:///"):
        db = db_url[len("sqlite:///"):]
        for p in (db, db + "-journal"):
            try:
                os.chmod(p, 0o600)
            except OSError:
                pass


class _Limits(Configurable):
    memory_mb = Integer(3072, help="Address-space limit of a student process (MB)."
                        ).tag(config=True)
    cpu_seconds = Integer(600, help="CPU-time limit of a student process (s).").tag(config=True)
    file_mb = Integer(64, help="Largest file a student process may write (MB).").tag(config=True)
    sandbox_user = Unicode("nobody", help="When grading as root, run student code as this "
                           "user ('' to keep root).").tag(config=True)

    def limits(self):
        return {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
                "file_mb": self.file_mb, "user": self.sandbox_user}


class SafeExecute(_Limits, Execute):
    """nbgrader's Execute in the sandboxed kernel; a cell that hangs, ignores interrupts or
    kills the kernel is blanked and the notebook run again, so the rest still counts."""

    max_output_bytes = Integer(200_000, help="Output kept per cell (bytes); the rest is "
                               "dropped and flagged.").tag(config=True)
    notebook_timeout = Integer(600, help="Wall-clock budget of one notebook (s)."
                               ).tag(config=True)
    max_attempts = Integer(4, help="Runs of one notebook before giving up.").tag(config=True)
    report_file = Unicode("integrity_report.csv").tag(config=True)

    def __init__(self, *args, **kwargs):
        from .kernel import SandboxKernelManager
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def on_cell_execute(self, **kwargs):
        self._current = kwargs.get("cell_index")

    def _cell_timeout(self, cell):
        left = self._deadline - time.monotonic()
        return max(1, int(min(self.timeout or 30, left)))

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values())
        if msg.get("msg_type") == "error":
            tb = content.get("traceback") or []
            if len(tb) > 40 or sum(len(x) for x in tb) > 20_000:
                content["traceback"] = [x[:2000] for x in tb[:20]] + ["... (cut by the grader)"]
            return super().output(outs, msg, display_id, cell_index)
        used = self._out_bytes.get(cell_index, 0)
        self._out_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if cell_index not in self._flooded:
                self._flooded.add(cell_index)
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text="\n[output cut by the grader: too long]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def preprocess(self, nb, resources, km=None):
        student, assignment, notebook, _ = _ids(resources)
        _private_gradebook(resources)
        os.environ[sandbox.ENV] = sandbox.policy_env(
            **course_policy(self.config, resources,
                            **self.limits()))
        self.timeout_func = self._cell_timeout
        bad = {}
        result = None
        self._flooded = set()  # over all attempts: a flood can also end in a timeout
        for attempt in range(self.max_attempts):
            work = copy.deepcopy(nb)
            for i in bad:
                work.cells[i].source = ""
            self._current = None
            self._out_bytes = {}
            self._deadline = time.monotonic() + self.notebook_timeout
            try:
                result, resources = super().preprocess(work, resources)
                break
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt) and not self._current:
                    raise
                i = self._current
                self.log.warning("%s/%s/%s: cell %s stopped the kernel (%s: %s); running "
                                 "again without it", student, assignment, notebook, i,
                                 type(exc).__name__, exc)
                if i is None or i in bad:
                    break
                bad[i] = f"{type(exc).__name__}: {str(exc)[:200]}"
        if result is None:
            result = copy.deepcopy(nb)
            for cell in result.cells:
                if cell.cell_type == "code":
                    cell.outputs = [_error("the notebook could not be executed: the kernel "
                                           "kept dying or hanging")]
            _flag(result, "the notebook could not be executed (the kernel kept dying or "
                  "hanging)", "; ".join(bad.values()), scope="all", stage="execute")
        for i, why in bad.items():
            cell = result.cells[i]
            cell.source = nb.cells[i].source
            cell.outputs = [_error(f"this cell hung, ignored interrupts or stopped the "
                                   f"kernel; it was skipped ({why})")]
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
            _flag(result, "hangs, ignores interrupts or stops the kernel", why,
                  cell=gid, scope="self" if is_test(cell) else "next", stage="execute")
        for i in sorted(self._flooded):
            cell = result.cells[i]
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
            _flag(result, "enormous output", f"more than {self.max_output_bytes} bytes",
                  cell=gid, scope="self" if is_test(cell) else "next", stage="execute")
        return result, resources


def _error(message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="GradingError", evalue=message,
                        traceback=[f"\x1b[0;31mGradingError\x1b[0m: {message}"])


# --------------------------------------------------------------------------------------------
# 3. The verdict, taken outside the student's kernel
# --------------------------------------------------------------------------------------------

class TrustedGrade(_Limits, _Base):
    """Re-run the student's code in a fresh sandboxed worker and every test cell in the
    grader; rewrite the test cells' outputs so that nbgrader scores the trusted verdict."""

    timeout = Float(20.0, help="Seconds a student cell or call may take in the worker."
                    ).tag(config=True)
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        if not self.enabled:
            return nb, resources
        student, assignment, notebook, _ = _ids(resources)
        try:
            self._grade(nb, resources)
        except Exception as exc:
            self.log.exception("TrustedGrade failed")
            _flag(nb, "the grader could not re-check this notebook", repr(exc), scope="all",
                  stage="trusted")
            for cell in nb.cells:
                if is_test(cell):
                    cell.outputs = list(cell.outputs) + [_error("could not be re-checked")]
        stages = ("trusted", "scan")
        write_rows(self.report_file, [
            {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "student": student,
             "assignment": assignment, "notebook": notebook, "part": f["cell"],
             "reason": f["reason"], "detail": f["detail"]}
            for f in _flags(nb) if f.get("stage") in stages + ("execute",)])
        return nb, resources

    def _grade(self, nb, resources):
        from .judge import Worker, run_test_cell
        from .scan import scan

        _, assignment, notebook, db_url = _ids(resources)
        with Gradebook(db_url) as gb:
            source_nb = gb.find_notebook(notebook, assignment)
            trusted_src = {c.name: c.source for c in source_nb.source_cells}
        config = self.config
        policy = course_policy(config, resources, **self.limits())
        context = {"cell": "", "scope": "none"}

        def on_flag(reason, detail):
            _flag(nb, reason, detail, cell=context["cell"], scope=context["scope"],
                  stage="trusted")

        verdicts = {}
        worker = Worker(policy, timeout=self.timeout, on_flag=on_flag)
        try:
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                meta = cell.metadata.get("nbgrader", {})
                gid = meta.get("grade_id") or f"cell {i}"
                if is_test(cell):
                    context.update(cell=gid, scope="self")
                    source = trusted_src.get(gid, cell.source)
                    verdicts[gid] = run_test_cell(worker, source)
                    continue
                if not meta.get("locked"):
                    for reason, detail, scope in scan(cell.source):
                        _flag(nb, reason, detail, cell=gid, scope=scope, stage="scan")
                context.update(cell=gid, scope="after")
                worker.exec_cell(i, cell.source)
        finally:
            worker.close()
        self._apply(nb, verdicts)

    def _apply(self, nb, verdicts):
        order = [(c.metadata.get("nbgrader", {}).get("grade_id") or f"cell {i}", c)
                 for i, c in enumerate(nb.cells)]
        position = {gid: i for i, (gid, _) in enumerate(order)}
        tests = [(i, gid) for i, (gid, c) in enumerate(order) if is_test(c)]
        zero = {}
        for f in _flags(nb):
            scope, at = f.get("scope"), position.get(f.get("cell"), -1)
            if scope == "all":
                hit = [g for _, g in tests]
            elif scope == "self":
                hit = [f["cell"]] if f["cell"] in {g for _, g in tests} else []
            elif scope == "next":
                hit = [g for i, g in tests if i > at][:1]
            elif scope == "after":
                hit = [g for i, g in tests if i > at]
            else:
                hit = []
            for g in hit:
                zero.setdefault(g, f)
        for gid, cell in order:
            if not is_test(cell):
                continue
            passed, message = verdicts.get(gid, (False, "not re-checked"))
            score, _ = utils.determine_grade(cell)
            kernel_ok = bool(score)
            if kernel_ok and not passed and gid not in zero:
                _flag(nb, "passes in the notebook but fails when re-checked outside it "
                      "(patched tests, shell or results?)", message, cell=gid, scope="self",
                      stage="trusted")
                zero.setdefault(gid, None)
            if gid in zero and zero[gid] is not None:
                f = zero[gid]
                text = f"0 points: this submission {f['reason']}"
                if f["detail"]:
                    text += f" ({f['detail']})"
                cell.outputs = list(cell.outputs) + [_error(text)]
            elif not passed and kernel_ok:
                cell.outputs = list(cell.outputs) + [_error(message)]
