"""What of the course runs on a student's Jupyter server, beside emref.

The students' environment is the *student wheel* (``make student-wheel``,
``packaging/student/``): ``emref`` and this package, and nothing of the grader (no checks,
no sandbox, no solutions, no gradebook). This package is one Jupyter server extension,
``emcourse_student``: nbgrader's *Fetch Feedback* button says "no feedback yet" when the
instructor has not released any, instead of doing nothing.

Enable it on the students' servers (docs/teaching.md)::

    {"ServerApp": {"jpserver_extensions": {"emcourse_student": true}}}
"""

from __future__ import annotations

import json

NO_FEEDBACK_YET = "no feedback yet: your instructor has not released it, try again later"


def mark_no_feedback(listing: dict, assignment_id: str) -> bool:
    """Say "no feedback yet" next to the latest submission of ``assignment_id``, in place.

    Parameters
    ----------
    listing : dict
        What nbgrader's ``list_assignments`` answers, ``{"success": bool, "value":
        [assignment, ...]}``: the Fetch Feedback handler marks it before sending it back.
    assignment_id : str
        The assignment whose feedback was asked for.

    Returns
    -------
    bool
        True if it added the note; False when the listing failed, the assignment has no
        submission, or the student already has feedback for the latest one. nbgrader's list
        shows each submission's ``timestamp`` as text, so the note goes there.
    """
    if not listing.get("success"):
        return False
    for item in listing["value"]:
        if item.get("assignment_id") != assignment_id or item.get("status") != "submitted":
            continue
        submissions = item.get("submissions") or []
        if not submissions:
            return False
        latest = max(submissions, key=lambda s: s.get("timestamp", ""))
        if latest.get("has_local_feedback"):
            return False
        latest["timestamp"] = f"{latest['timestamp']}  ({NO_FEEDBACK_YET})"
        return True
    return False


def _handlers():
    from nbgrader.server_extensions.assignment_list.handlers import BaseAssignmentHandler
    from tornado import web

    class FetchFeedbackHandler(BaseAssignmentHandler):
        """nbgrader's ``fetch_feedback`` action, saying so when there is nothing to fetch."""

        @web.authenticated
        def post(self):
            try:
                data = {"assignment_id": self.get_argument("assignment_id"),
                        "course_id": self.get_argument("course_id")}
            except web.MissingArgumentError:
                data = self.get_json_body()
            course_id, assignment_id = data["course_id"], data["assignment_id"]
            result = self.manager.fetch_feedback(course_id, assignment_id)
            listing = self.manager.list_assignments(course_id=course_id)
            if mark_no_feedback(listing, assignment_id):
                self.log.info("emcourse: no feedback to fetch for %s (%s)", assignment_id,
                              "none released" if result.get("success") else
                              "nothing in the exchange")
            self.finish(json.dumps(listing))

    return [(r"/assignments/fetch_feedback", FetchFeedbackHandler)]


def _jupyter_server_extension_points():
    return [{"module": "emcourse_student"}]


def _load_jupyter_server_extension(serverapp):
    """Register the handler in front of nbgrader's (the first matching rule wins)."""
    from jupyter_server.utils import url_path_join
    from tornado.routing import HostMatches, Rule
    from tornado.web import _ApplicationRouter

    webapp = serverapp.web_app
    base_url = webapp.settings["base_url"]
    handlers = [(url_path_join(base_url, pattern), handler) for pattern, handler in _handlers()]
    # Application.add_handlers appends a rule after the ones already there (nbgrader's may be
    # among them, depending on the order extensions load): put ours first instead.
    webapp.default_router.rules.insert(
        0, Rule(HostMatches(".*$"), _ApplicationRouter(webapp, handlers)))
    serverapp.log.info("emcourse: 'Fetch Feedback' says when there is no feedback yet")
