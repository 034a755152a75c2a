"""Run one notebook in a kernel started here, inside the sandbox; write the executed copy.

``python -m emcourse_grader.sandboxed.execute IN OUT [options]``: the kernel talks to this
executor over TCP on the sandbox's own loopback, so neither needs the host's network. Each
cell gets ``--cell-timeout`` seconds (then an interrupt); a cell that hangs through the
interrupt or kills the kernel is emptied and the notebook run again from the start (at most
``--attempts`` runs), so the cells after it still show their outputs. Output beyond
``--max-output-bytes`` per cell is cut, with a note. What happened goes into the notebook's
metadata (``emcourse_execute``): the grader reads it for the integrity report only, never for
points (this process runs beside student code and is not trusted).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError
from nbformat.notebooknode import NotebookNode

CUT = "\n[output cut by the grader: this cell printed more than {} bytes]\n"


class _Client(NotebookClient):
    max_output_bytes = 200_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.used = {}
        self.cut = set()
        self.current = None
        self.interrupted = set()

    def output(self, outs, msg, display_id, cell_index):
        self.current = cell_index
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            tb = content.get("traceback") or []
            if len(tb) > 40 or sum(len(x) for x in tb) > 20_000:
                content["traceback"] = [x[:2000] for x in tb[:20]] + ["... (cut)"]
            return super().output(outs, msg, display_id, cell_index)
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in (content.get("data") or {}).values())
        used = self.used.get(cell_index, 0)
        self.used[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if cell_index not in self.cut:
                self.cut.add(cell_index)
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=CUT.format(self.max_output_bytes)))
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        # nbclient interrupts a cell that runs out of time and then waits again, as often as
        # it takes: a loop that swallows KeyboardInterrupt would hold the whole notebook until
        # the grader's cap ends it, and the student's feedback would lose every output. A
        # cell still running one timeout after its interrupt ends this run instead; run()
        # then skips it and runs the notebook again.
        if self.current in self.interrupted:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "the cell went on after an interrupt", timeout, cell)
        self.interrupted.add(self.current)
        return await super()._async_handle_timeout(timeout, cell)

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        self.current = cell_index
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)


def _error(text: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="GradingError", evalue=text,
                        traceback=[text])


def run(nb, *, cell_timeout, attempts, max_output_bytes, extra_arguments):
    """The executed notebook and what went wrong, as {"skipped": {index: why}, "cut": [...]}."""
    skipped = {}
    cut = set()
    done = False
    for _ in range(attempts):
        work = copy.deepcopy(nb)
        for i in skipped:
            work.cells[i].source = ""
        client = _Client(work, timeout=cell_timeout, interrupt_on_timeout=True,
                         allow_errors=True, kernel_name="python3", record_timing=False,
                         extra_arguments=list(extra_arguments),
                         resources={"metadata": {"path": "."}})
        client.max_output_bytes = max_output_bytes
        try:
            client.execute()
            done = True
        except BaseException as exc:  # noqa: BLE001 - a dead or deaf kernel: skip its cell
            done = False
            i = client.current
            if i is None or i in skipped:
                skipped.setdefault(-1, f"{type(exc).__name__}: {str(exc)[:200]}")
                work = copy.deepcopy(nb)
                break
            skipped[i] = f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:
            cut |= client.cut
        if done:
            break
    for i, why in skipped.items():
        if i >= 0:
            work.cells[i].source = nb.cells[i].source
            work.cells[i].outputs = [_error(
                f"this cell hung through an interrupt or stopped the kernel, so it was "
                f"skipped and the notebook run again without it ({why})")]
    # Every run was stopped by yet another such cell: the cells after the last one were
    # never reached. Say so in each, rather than leave them looking like unrun cells.
    unreached = []
    if not done and skipped and max(skipped) >= 0:
        for i in range(max(skipped) + 1, len(work.cells)):
            if work.cells[i].cell_type == "code":
                unreached.append(i)
                work.cells[i].outputs = [_error(
                    f"not run: the notebook was run {attempts} times and each run was stopped "
                    f"by a cell that hung through an interrupt; this cell was never reached")]
    return work, {"skipped": {str(k): v for k, v in skipped.items()}, "cut": sorted(cut),
                  "unreached": unreached}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("dest")
    ap.add_argument("--cell-timeout", type=float, default=20.0)
    ap.add_argument("--attempts", type=int, default=4)
    ap.add_argument("--max-output-bytes", type=int, default=200_000)
    ap.add_argument("--kernel-arg", action="append", default=[])
    args = ap.parse_args(argv)
    nb = nbformat.read(args.source, as_version=4)
    out, what = run(nb, cell_timeout=args.cell_timeout, attempts=args.attempts,
                    max_output_bytes=args.max_output_bytes, extra_arguments=args.kernel_arg)
    out.metadata["emcourse_execute"] = what
    with open(args.dest, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
