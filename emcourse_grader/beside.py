"""Answers that import a module the student handed in beside the notebook.

Only the notebook is graded: files handed in beside it never enter the grading sandbox
(docs/integrity.md), and each notebook's introduction says so. An answer cell that imports
such a file therefore fails with ``ModuleNotFoundError``, and every test that needs it fails.
That is never a silent 0: :func:`handed_in_module` finds the file the import looked for, and
:class:`~emcourse_grader.preprocessors.TrustedGrade` adds a row to the integrity report and a
note under the cell's outputs, for the student's feedback. (A module the notebook itself
writes, e.g. with ``%%writefile``, is the notebook's own code and is imported as usual.)
"""

from __future__ import annotations

import os
import re

from nbformat.notebooknode import NotebookNode

REASON = "imports a module handed in beside the notebook"
# A top-level module name only: the name comes from the student's own error message.
_MISSING = re.compile(r"No module named '([A-Za-z_][A-Za-z0-9_]{0,99})[.']")


def handed_in_module(answer, folder) -> str:
    """The file or folder of ``folder`` (the submission's, as nbgrader converts it) that an
    answer cell's failed import looked for, or "" when there is none.

    Parameters
    ----------
    answer : dict or None
        The sandboxed worker's reply for the cell (``ename``, ``msg``), untrusted.
    folder : str or None
        The folder of the notebook being graded (``resources["metadata"]["path"]``).

    Returns
    -------
    str
        ``<name>.py`` or ``<name>`` (a package) as it lies beside the notebook, else "".
    """
    if not isinstance(answer, dict) or answer.get("ename") != "ModuleNotFoundError" \
            or not folder:
        return ""
    found = _MISSING.match(str(answer.get("msg", ""))[:200])
    if not found:
        return ""
    for candidate in (f"{found.group(1)}.py", found.group(1)):
        if os.path.lexists(os.path.join(folder, candidate)):
            return candidate
    return ""


def detail(name: str) -> str:
    """The report's detail (and the feedback's note) for a handed-in module ``name``."""
    return (f"{name}: only the notebook is graded, files handed in beside it are not; put "
            f"its code in the notebook's cells")


def note(name: str) -> NotebookNode:
    """The output that tells the student, under the answer cell, why its import failed."""
    return NotebookNode(output_type="stream", name="stderr",
                        text=f"Grader: {REASON} ({detail(name)}).\n")
