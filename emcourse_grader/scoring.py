"""Which of nbgrader's autograde steps score: the parallel command scores a submission once.

``nbgrader autograde`` writes grades with ``SaveAutoGrades`` and ``AssignLatePenalties``
(or subclasses a course configures). In ``python -m emcourse_grader grade`` a Dask worker
runs every other step on the submission, in a scratch course; the coordinator alone runs
these on the returned notebook, against the course's gradebook.
"""

from __future__ import annotations


def configured_steps(cfg) -> list:
    """The autograde preprocessors of a traitlets ``Config`` (nbgrader's default list where
    the configuration sets none), as configured: classes or their import names."""
    from nbgrader.converters import Autograde

    if "autograde_preprocessors" in cfg.get("Autograde", {}):
        return list(cfg.Autograde.autograde_preprocessors)
    return list(Autograde.class_traits()["autograde_preprocessors"].default_value)


def writes_grades(step) -> bool:
    """Does this preprocessor (a class or its import name) write grades to the gradebook
    (nbgrader's ``SaveAutoGrades``, ``AssignLatePenalties``, or a subclass of either)?"""
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
    from traitlets.utils.importstring import import_item

    cls = import_item(step) if isinstance(step, str) else step
    return isinstance(cls, type) and issubclass(cls, (SaveAutoGrades, AssignLatePenalties))
