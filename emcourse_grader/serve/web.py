"""The service's pages behind JupyterHub's login, when the hub runs ``serve`` as a service.

JupyterHub gives a managed service its URL (``$JUPYTERHUB_SERVICE_URL``), prefix and OAuth
client. The pages use :class:`jupyterhub.services.auth.HubOAuthenticated`: a visitor is sent
to the hub's login, and comes back with a cookie of this service; the hub's role for the
class decides who may come in (``access:services!service=<name>``). Then:

* ``<prefix>`` - the visitor's own submissions (:func:`.pages.student_view`); nobody can ask
  for another student's: the page takes no name from the request.
* ``<prefix>instructor`` - the live page (:func:`.pages.instructor_view`), for the names
  given by ``--instructors`` only (403 for anyone else).

The server runs in a thread of the service with its own connection to the journal; pages
are rendered from the template files, escaped, with no script.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from urllib.parse import urlparse

log = logging.getLogger("emcourse.serve")


def make_app(journal, course, instructors, prefix: str, assignments=None):
    """The tornado application of the pages (``journal``: a :class:`.queue.Journal` of its
    own; ``course``: the manifest; ``assignments``: those served, default all)."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from tornado.web import Application, HTTPError, RequestHandler, authenticated

    from .pages import instructor_view, render, student_view

    if not (isinstance(prefix, str) and prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError(f"prefix: expected a path starting and ending with '/', found "
                         f"{prefix!r}")
    instructors = frozenset(instructors)

    class Page(HubOAuthenticated, RequestHandler):
        def set_default_headers(self):
            self.set_header("Content-Security-Policy", "default-src 'none'; style-src "
                            "'unsafe-inline'; frame-ancestors 'self'")
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Cache-Control", "no-store")

        def name(self) -> str:
            return self.get_current_user()["name"]

        def refresh(self, seconds: int) -> int:
            """``seconds`` if the visitor asked the page to reload itself (``?auto=1``), else
            0: a page never reloads unless its reader chose it (WCAG 2.2.1), and says how to
            stop it."""
            return seconds if self.get_argument("auto", "") == "1" else 0

    class Student(Page):
        @authenticated
        def get(self):
            self.finish(render("student.html", refresh=self.refresh(5), **student_view(
                journal, course, self.name(), assignments=assignments)))

    class Instructor(Page):
        @authenticated
        def get(self):
            if self.name() not in instructors:
                raise HTTPError(403, "the live page is for the course's instructors")
            self.finish(render("instructor.html", refresh=self.refresh(10),
                               **instructor_view(journal, course)))

    return Application([(prefix, Student), (prefix + "instructor", Instructor),
                        (prefix + "oauth_callback", HubOAuthCallbackHandler)],
                       cookie_secret=os.urandom(32), login_url="/hub/login")


def start(journal, course, instructors, url: str | None = None,
          prefix: str | None = None, assignments=None) -> threading.Thread:
    """Serve the pages on ``url`` (``$JUPYTERHUB_SERVICE_URL``) in a daemon thread."""
    url = url or os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    prefix = prefix or os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    where = urlparse(url)
    if where.scheme != "http" or not where.hostname or not where.port:
        raise ValueError(f"url: expected http://HOST:PORT (JupyterHub's "
                         f"$JUPYTERHUB_SERVICE_URL), found {url!r}")
    ready = threading.Event()
    failed = []

    def run():
        async def main():
            try:
                app = make_app(journal, course, instructors, prefix, assignments)
                app.listen(where.port, where.hostname)
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                failed.append(exc)
                ready.set()
                return
            ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    thread = threading.Thread(target=run, name="serve-pages", daemon=True)
    thread.start()
    ready.wait(30)
    if failed:
        raise failed[0]
    log.info("pages on %s%s", url, prefix)
    return thread
