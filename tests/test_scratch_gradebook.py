"""A grading worker's scratch gradebook (emcourse_grader.scratch_gradebook): one file per
process, a fresh copy of the assignment's template for each submission, one SQLAlchemy
engine for nbgrader's many openings of it."""

from __future__ import annotations

import multiprocessing

from emcourse_grader import scratch_gradebook as sg

SPEC = {"name": "hw9", "course_id": "course", "duedate": None, "alembic_version": None,
        "notebooks": [{"name": "nb", "kernelspec": None,
                       "grade_cells": [{"name": "t1", "max_score": 2.0, "cell_type": "code"}],
                       "solution_cells": [{"name": "a1"}], "task_cells": [],
                       "source_cells": [{"name": n, "cell_type": "code", "locked": n == "t1",
                                         "source": "x = 1", "checksum": "c"}
                                        for n in ("a1", "t1")]}]}
SPEC["digest"] = "test-scratch-gradebook"


def _in_a_new_process(queue):
    """What a worker would see over two submissions (run in a process of its own: the
    module's state and nbgrader's create_engine are per process)."""
    from nbgrader.api import Gradebook

    sg.ensure_path()
    with sg._LOCK:
        url = sg.fresh_scratch_gradebook(SPEC)
        with Gradebook(url, "course") as gb:
            first_engine = gb.engine
            gb.add_student("ada")
            gb.add_submission("hw9", "ada")
            students = [s.id for s in gb.students]
        with Gradebook(url, "course") as gb:
            same = gb.engine is first_engine
        again = sg.fresh_scratch_gradebook(SPEC)
        with Gradebook(again, "course") as gb:
            after = [s.id for s in gb.students]
            cells = [c.name for c in gb.find_notebook("nb", "hw9").grade_cells]
            still_same = gb.engine is first_engine
    with Gradebook(f"sqlite:///{sg._SCRATCH['path'].parent / 'other.db'}") as other:
        separate = other.engine is not first_engine
    queue.put((url == again, students, same, after, cells, still_same, separate))


def test_each_submission_gets_a_fresh_copy_and_every_opening_one_engine():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_a_new_process, args=(queue,))
    proc.start()
    seen = queue.get(timeout=120)
    proc.join(60)
    one_url, students, same, after, cells, still_same, separate = seen
    assert one_url and students == ["ada"] and same
    assert after == [] and cells == ["t1"], "the second submission saw the first one's rows"
    assert still_same and separate
