"""An assignment as plain data (the coordinator's) and as a scratch gradebook (a worker's).

The parallel command (:mod:`emcourse_grader.parallel`) sends every grading task the
assignment's definition from the course's gradebook, as data (:func:`assignment_spec`); a
Dask worker, which shares no directory with the course, builds from it a private gradebook
holding that assignment alone (:func:`build_gradebook`, once per process and assignment:
:func:`template`), copied for each submission it grades.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
from pathlib import Path


def assignment_spec(db_url: str, course_id: str, assignment: str) -> dict:
    """Everything the gradebook knows about an assignment's cells, as plain data."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        a = gb.find_assignment(assignment)
        spec = {"name": a.name, "course_id": course_id,
                "duedate": a.duedate.isoformat() if a.duedate else None, "notebooks": []}
        for nb in sorted(a.notebooks, key=lambda n: n.name):
            spec["notebooks"].append({
                "name": nb.name, "kernelspec": nb.kernelspec,
                "grade_cells": [{"name": c.name, "max_score": float(c.max_score),
                                 "cell_type": c.cell_type} for c in nb.grade_cells],
                "solution_cells": [{"name": c.name} for c in nb.solution_cells],
                "task_cells": [{"name": c.name, "max_score": float(c.max_score),
                                "cell_type": c.cell_type} for c in nb.task_cells],
                "source_cells": [{"name": c.name, "cell_type": c.cell_type,
                                  "locked": bool(c.locked), "source": c.source,
                                  "checksum": c.checksum} for c in nb.source_cells],
            })
    spec["alembic_version"] = _alembic_version(db_url)
    spec["digest"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return spec


def _alembic_version(db_url: str):
    """The schema version recorded in the course's gradebook (None if it has none)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no such table: let nbgrader ask alembic
        return None
    finally:
        engine.dispose()


def build_gradebook(spec: dict, path: Path) -> None:
    """A gradebook holding one assignment and nothing else (no students, no grades)."""
    from nbgrader.api import Base, Gradebook
    from sqlalchemy import create_engine, text

    if spec.get("alembic_version"):
        # The tables and the course gradebook's schema version, so that nbgrader does not
        # run `alembic heads` (a subprocess of seconds) to create them.
        engine = create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(bind=engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version "
                              "(version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": spec["alembic_version"]})
        engine.dispose()
    with Gradebook(f"sqlite:///{path}", spec["course_id"]) as gb:
        kwargs = {"duedate": spec["duedate"]} if spec["duedate"] else {}
        gb.add_assignment(spec["name"], **kwargs)
        for nb in spec["notebooks"]:
            gb.add_notebook(nb["name"], spec["name"], kernelspec=nb["kernelspec"])
            for c in nb["grade_cells"]:
                gb.add_grade_cell(c["name"], nb["name"], spec["name"],
                                  max_score=c["max_score"], cell_type=c["cell_type"])
            for c in nb["solution_cells"]:
                gb.add_solution_cell(c["name"], nb["name"], spec["name"])
            for c in nb["task_cells"]:
                gb.add_task_cell(c["name"], nb["name"], spec["name"],
                                 max_score=c["max_score"], cell_type=c["cell_type"])
            for c in nb["source_cells"]:
                gb.add_source_cell(c["name"], nb["name"], spec["name"],
                                   cell_type=c["cell_type"], locked=c["locked"],
                                   source=c["source"], checksum=c["checksum"])


def ensure_path() -> None:
    """nbgrader runs ``alembic`` (a script of this environment) when it creates a gradebook:
    this interpreter's bin/ must be on PATH, also in a worker started without it."""
    here = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and here not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


_TEMPLATES: dict[str, Path] = {}  # assignment digest -> template gradebook (per process)
_LOCK = threading.Lock()          # one submission at a time per worker process (chdir)


def template(spec: dict) -> Path:
    path = _TEMPLATES.get(spec["digest"])
    if path is None or not path.exists():
        from .leftovers import make_folder

        d = make_folder("gradebook")
        path = d / "template.db"
        build_gradebook(spec, path)
        _TEMPLATES[spec["digest"]] = path
        from .process_temp import keep_until_exit

        keep_until_exit(d)
    return path


_SCRATCH: dict = {}  # "path", "url", "engine": this worker process's one scratch gradebook


def fresh_scratch_gradebook(spec: dict) -> str:
    """The URL of this process's scratch gradebook, made a fresh copy of the assignment's
    :func:`template` (nothing of an earlier submission in it). Call it holding ``_LOCK``.

    One file per process, overwritten for each submission: nbgrader opens a ``Gradebook``
    nine times per hw1 submission, each building a SQLAlchemy engine that compiles every
    query afresh; on this one URL they share one engine (:func:`_shared_create_engine`)
    and so its cache of compiled statements (about 85 ms of CPU per submission)."""
    import nbgrader.api

    if "path" not in _SCRATCH or not Path(_SCRATCH["path"]).parent.exists():
        from .leftovers import make_folder
        from .process_temp import keep_until_exit

        folder = make_folder("gradebook")
        keep_until_exit(folder)
        _SCRATCH.update(path=folder / "scratch.db", url=f"sqlite:///{folder / 'scratch.db'}",
                        engine=None)
        nbgrader.api.create_engine = _shared_create_engine
    if _SCRATCH["engine"] is not None:
        _SCRATCH["engine"].dispose()  # the pool's connections to the previous file closed
    # a new file put in place (a connection left open elsewhere keeps the old one, intact)
    part = _SCRATCH["path"].with_suffix(".partial")
    shutil.copyfile(template(spec), part)
    os.replace(part, _SCRATCH["path"])
    return _SCRATCH["url"]


def _shared_create_engine(url, *args, **kwargs):
    """``nbgrader.api.create_engine`` in a grading worker: the scratch gradebook's one
    engine for its URL, SQLAlchemy's own ``create_engine`` for any other."""
    from sqlalchemy import create_engine

    if str(url) != _SCRATCH.get("url"):
        return create_engine(url, *args, **kwargs)
    if _SCRATCH["engine"] is None:
        _SCRATCH["engine"] = create_engine(url, *args, **kwargs)
    return _SCRATCH["engine"]
