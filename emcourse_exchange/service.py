"""The hub exchange service: a small tornado app that JupyterHub starts as a managed service.

Every request carries the caller's hub token (``Authorization: token <JUPYTERHUB_API_TOKEN>``,
what a single-user server and its terminals have). The service asks the hub whose token it is
(:class:`jupyterhub.services.auth.HubAuth`) and requires the scope
``access:services!service=<this service>``: the hub's role for the course decides who is in
the class. Cookies and tokens in URLs are not accepted. What a caller may do:

=================================================  ===========  =======================
request                                            instructor   student
=================================================  ===========  =======================
``GET  api/whoami``                                yes          yes
``GET  api/assignments``, ``GET api/assignments/A``  yes          yes
``PUT  api/assignments/A[?force=1]``, ``DELETE``   yes          no (403)
``POST api/submissions/A``                         as self      as self
``GET  api/submissions/A[?student=S]``             everyone's   their own
``GET  api/submissions/A/S/STAMP``                 yes          no (403)
``PUT  api/feedback/A/S/STAMP``                    yes          no (403)
``GET  api/feedback/A/S/STAMP``                    yes          S == self only
=================================================  ===========  =======================

A hub service named in ``--graders`` (the grading service, ``python -m emcourse_grader
serve``, with its own hub token) may do what an instructor does, except submit.

A submission is filed under the authenticated name with the service's timestamp: there is no
way to name another student. Uploads are bounded (:class:`.payload.Limits`) before anything is
written. Run it with ``python -m emcourse_exchange.service --course ID --root DIR
--instructors NAME[,NAME]`` (see :mod:`.hub` for the JupyterHub side).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from urllib.parse import urlparse

from .payload import Limits, check_id, decode, encode
from .store import Store, StoreError

log = logging.getLogger("emcourse.exchange")
_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(\S+)", re.IGNORECASE)


def _handler_base():
    """Import tornado only when the service runs (no work at import time)."""
    from tornado.web import HTTPError, RequestHandler

    def refuse(status: int, message: str) -> HTTPError:
        """An HTTP error whose message is sent as is (it may hold '%')."""
        return HTTPError(status, "%s", message)

    class Handler(RequestHandler):
        """Authenticates every request by its hub token; answers JSON."""

        def initialize(self, app_state):
            self.state = app_state
            self.user = None
            self.instructor = False
            self.service = False

        def check_xsrf_cookie(self):
            """Token-authenticated API: no cookies, so no cross-site forgery to guard."""

        async def prepare(self):
            match = _AUTH_HEADER.fullmatch(self.request.headers.get("Authorization", ""))
            if not match:
                raise refuse(401, "no hub token: send 'Authorization: token "
                                  "$JUPYTERHUB_API_TOKEN'")
            auth = self.state["auth"]
            try:
                model = await auth.user_for_token(match.group(1), use_cache=True, sync=False)
            except (HTTPError, OSError) as err:  # the hub failed or is unreachable: refuse
                log.warning("token check failed: %s", err)
                raise refuse(503, "the hub could not check the token; try again") from None
            if not model:
                raise refuse(403, "the hub does not accept this token")
            kind = model.get("kind", "user")
            if kind == "service" and model.get("name") in self.state["graders"]:
                # the grading service (python -m emcourse_grader serve): an instructor that
                # collects and releases feedback, never a student
                if not auth.check_scopes(auth.access_scopes, model):
                    raise refuse(403, f"this token lacks {sorted(auth.access_scopes)}")
                self.user, self.instructor, self.service = model["name"], True, True
                return
            if kind != "user":
                raise refuse(403, f"a {kind} token is not a person")
            if not auth.check_scopes(auth.access_scopes, model):
                raise refuse(403, f"this token lacks {sorted(auth.access_scopes)}: ask the "
                                  "hub's administrator to add you to the course")
            try:
                self.user = check_id("user", model["name"])
            except (TypeError, ValueError) as err:
                raise refuse(403, str(err)) from None
            self.instructor = self.user in self.state["instructors"]

        def require_instructor(self):
            if not self.instructor:
                raise refuse(403, f"{self.user} is not an instructor of "
                                  f"{self.state['course_id']}")

        def store(self, method, *args, **kwargs):
            """Call the store; its refusals become HTTP errors."""
            try:
                return getattr(self.state["store"], method)(*args, **kwargs)
            except StoreError as err:
                raise refuse(err.status, str(err)) from None
            except (TypeError, ValueError) as err:
                raise refuse(400, str(err)) from None

        def files_from_body(self):
            try:
                return decode(self.request.body, self.state["limits"])
            except (TypeError, ValueError) as err:
                raise refuse(400, str(err)) from None

        def send_json(self, obj):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(obj))

        def send_files(self, files):
            self.set_header("Content-Type", "application/json")
            self.finish(encode(files))

        def write_error(self, status_code, **kwargs):
            err = kwargs.get("exc_info", (None, None))[1]
            message = self._reason
            if getattr(err, "log_message", None):
                message = err.log_message % err.args
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": message}))

    return Handler, refuse


def make_app(*, course_id: str, store: Store, instructors, limits: Limits, prefix: str = "/",
             auth=None, graders=()):
    """The tornado application.

    Parameters
    ----------
    course_id : str
        The course this service holds.
    store : Store
        Its storage (opened).
    instructors : iterable of str
        Hub user names allowed to release, collect and release feedback.
    limits : Limits
        Bounds of every upload.
    prefix : str
        URL prefix (JupyterHub's ``JUPYTERHUB_SERVICE_PREFIX``), starting and ending with '/'.
    auth : jupyterhub.services.auth.HubAuth, optional
        Made from the environment JupyterHub gives a service when not given.
    graders : iterable of str
        Names of hub services (``python -m emcourse_grader serve``) whose own token acts as
        an instructor's: list and collect submissions, release feedback (never submit).
    """
    from tornado.web import Application

    if not (isinstance(prefix, str) and prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError(f"prefix: expected a path starting and ending with '/', got {prefix!r}")
    instructors = frozenset(check_id("instructors", name) for name in instructors)
    if auth is None:
        from jupyterhub.services.auth import HubAuth
        auth = HubAuth(cache_max_age=60)
    if not auth.access_scopes:
        raise ValueError("auth: no access scope to require (JupyterHub sets "
                         "$JUPYTERHUB_SERVICE_NAME for a service it starts)")
    state = {"course_id": check_id("course_id", course_id), "store": store, "auth": auth,
             "instructors": instructors, "limits": limits,
             "graders": frozenset(check_id("graders", name) for name in graders)}
    Handler, refuse = _handler_base()

    class WhoAmI(Handler):
        def get(self):
            self.send_json({"name": self.user, "instructor": self.instructor,
                            "course_id": self.state["course_id"]})

    class Assignments(Handler):
        def get(self):
            self.send_json(self.store("released"))

    class Assignment(Handler):
        def get(self, aid):
            self.send_files(self.store("release_files", aid))

        def put(self, aid):
            self.require_instructor()
            files = self.files_from_body()
            self.store("release", aid, files, force=self.get_argument("force", "") == "1")
            log.info("%s released %s (%d files)", self.user, aid, len(files))
            self.send_json({"released": aid})

        def delete(self, aid):
            self.require_instructor()
            self.store("unrelease", aid)
            log.info("%s took back the release of %s", self.user, aid)
            self.send_json({"removed": aid})

    class Submissions(Handler):
        def get(self, aid):
            student = self.get_argument("student", "") or None
            if not self.instructor:
                if student not in (None, self.user):
                    raise refuse(403, f"{self.user} may list only their own submissions")
                student = self.user
            self.send_json(self.store("submissions", aid, student))

        def post(self, aid):
            if self.service:
                raise refuse(403, f"the service {self.user} cannot submit")
            files = self.files_from_body()
            timestamp = self.store("submit", aid, self.user, files)
            log.info("%s submitted %s at %s (%d files)", self.user, aid, timestamp, len(files))
            self.send_json({"student_id": self.user, "timestamp": timestamp})

    class Submission(Handler):
        def get(self, aid, student, stamp):
            self.require_instructor()
            self.send_files(self.store("submission_files", aid, student, stamp))

    class Feedback(Handler):
        def get(self, aid, student, stamp):
            if not self.instructor and student != self.user:
                raise refuse(403, f"{self.user} may fetch only their own feedback")
            self.send_files(self.store("feedback_files", aid, student, stamp))

        def put(self, aid, student, stamp):
            self.require_instructor()
            files = self.files_from_body()
            self.store("put_feedback", aid, student, stamp, files)
            log.info("%s released feedback %s/%s/%s", self.user, aid, student, stamp)
            self.send_json({"released": [aid, student, stamp]})

    seg = r"([^/]+)"
    p = re.escape(prefix) + "api/"
    routes = [(p + "whoami", WhoAmI), (p + "assignments", Assignments),
              (p + f"assignments/{seg}", Assignment), (p + f"submissions/{seg}", Submissions),
              (p + f"submissions/{seg}/{seg}/{seg}", Submission),
              (p + f"feedback/{seg}/{seg}/{seg}", Feedback)]
    return Application([(r, h, {"app_state": state}) for r, h in routes])


def main(argv=None) -> None:
    """Run the service (JupyterHub starts it; see :mod:`.hub`)."""
    parser = argparse.ArgumentParser(prog="python -m emcourse_exchange.service",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--course", required=True, help="the course id")
    parser.add_argument("--root", required=True, help="storage folder (0700, this user's)")
    parser.add_argument("--instructors", required=True,
                        help="comma-separated hub user names of the instructors")
    parser.add_argument("--graders", default="",
                        help="comma-separated hub service names that act as an instructor "
                        "(the grading service)")
    parser.add_argument("--max-bytes", type=int, default=Limits.max_bytes)
    parser.add_argument("--max-files", type=int, default=Limits.max_files)
    parser.add_argument("--max-submissions", type=int, default=50)
    parser.add_argument("--url", default=os.environ.get("JUPYTERHUB_SERVICE_URL", ""),
                        help="where to listen (default: $JUPYTERHUB_SERVICE_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[%(asctime)s %(name)s] %(message)s")
    url = urlparse(args.url)
    if url.scheme != "http" or not url.hostname or not url.port:
        parser.error(f"--url: expected http://HOST:PORT, got {args.url!r}")
    os.umask(0o077)
    limits = Limits(max_bytes=args.max_bytes, max_files=args.max_files)
    store = Store(args.root, max_submissions=args.max_submissions).open()
    app = make_app(course_id=args.course, store=store, limits=limits,
                   instructors=[n for n in args.instructors.split(",") if n],
                   graders=[n for n in args.graders.split(",") if n],
                   prefix=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))

    async def serve():
        from tornado.httpserver import HTTPServer
        server = HTTPServer(app, max_body_size=limits.max_body, max_buffer_size=limits.max_body)
        server.listen(url.port, url.hostname)
        log.info("exchange for %s on %s, storage %s", args.course, args.url, args.root)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
