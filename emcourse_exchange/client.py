"""What every nbgrader class of the hub exchange shares: where the service is, and the token.

Configure in the nbgrader_config.py that students and instructors read::

    c.HubExchange.url = "http://127.0.0.1:8000/services/emcourse-exchange/"

The token is the caller's ``$JUPYTERHUB_API_TOKEN``: the single-user server has it, and so
do the terminals and kernels it starts, so ``nbgrader submit hw1`` in a JupyterLab terminal
and *Submit* in the Assignment List speak as the same person. Nothing else identifies the
caller: ``--student`` is ignored by the service.
"""

from __future__ import annotations

import os

from nbgrader.exchange.abc import Exchange
from nbgrader.utils import ignore_patterns
from traitlets import Bool, Float, Unicode, default

from .payload import Limits, decode, encode, read_folder


class HubExchange(Exchange):
    """Base of the hub exchange's nbgrader classes: an authenticated HTTP client."""

    url = Unicode("", help="URL of the exchange service, e.g. "
                           "http://127.0.0.1:8000/services/emcourse-exchange/").tag(config=True)
    token = Unicode(help="The hub token to send (default: $JUPYTERHUB_API_TOKEN).").tag(
        config=True)
    path_includes_course = Bool(
        False, help="As nbgrader's: fetch into ./<course>/<assignment>.").tag(config=True)
    request_timeout = Float(120.0, help="Seconds to wait for the service.").tag(config=True)

    @default("token")
    def _token_default(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    # -- HTTP ------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params=None, body: bytes | None = None):
        """Send one request; return the response (a 2xx) or fail with the service's reason."""
        import requests

        if not self.url:
            self.fail("HubExchange.url is not set: put the exchange service's URL in "
                      "nbgrader_config.py (see docs/teaching.md)")
        if not self.token:
            self.fail("no hub token: $JUPYTERHUB_API_TOKEN is not set (run nbgrader from "
                      "your Jupyter server's terminal, or set HubExchange.token)")
        try:
            resp = requests.request(
                method, self.url.rstrip("/") + "/api/" + path, params=params, data=body,
                headers={"Authorization": f"token {self.token}",
                         "Content-Type": "application/json"},
                timeout=self.request_timeout)
        except requests.RequestException as err:
            self.fail(f"the exchange service at {self.url} is unreachable: {err}")
        if resp.status_code >= 400:
            try:
                reason = resp.json()["error"]
            except (ValueError, KeyError, TypeError):
                reason = resp.text[:200] or resp.reason
            self.fail(f"the exchange refused {method} {path}: {resp.status_code} {reason}")
        return resp

    def get_json(self, path: str, **params):
        """GET ``api/<path>`` and return its JSON."""
        return self.request("GET", path, params=params or None).json()

    def get_files(self, path: str) -> dict[str, bytes]:
        """GET ``api/<path>`` and return the files it holds."""
        resp = self.request("GET", path)
        # What the service sends is checked like anything from the network.
        return decode(resp.content, Limits(max_bytes=2_000_000_000, max_files=100_000))

    def send_files(self, method: str, path: str, files: dict[str, bytes], **params):
        """Send files to ``api/<path>``; return the JSON answer."""
        return self.request(method, path, params=params or None, body=encode(files)).json()

    # -- course and files ------------------------------------------------------------------
    def whoami(self) -> dict:
        """Who the service says we are; fails if the configured course is another one."""
        me = self.get_json("whoami")
        course = self.coursedir.course_id if self.coursedir is not None else ""
        if course and course != me["course_id"]:
            self.fail(f"the exchange at {self.url} holds the course {me['course_id']!r}, "
                      f"not {course!r} (CourseDirectory.course_id)")
        if self.coursedir is not None and not course:
            self.coursedir.course_id = me["course_id"]
        return me

    def read_local(self, root: str) -> dict[str, bytes]:
        """The files of a local folder to send, as nbgrader would copy them.

        ``CourseDirectory.ignore``, ``include`` and ``max_file_size`` apply; links are left out.
        """
        cd = self.coursedir
        ignore = ignore_patterns(exclude=cd.ignore, include=cd.include,
                                 max_file_size=cd.max_file_size, log=self.log)

        def skip(rel, is_dir):
            folder, name = os.path.split(os.path.join(root, rel))
            return bool(ignore(folder, [name]))

        try:
            return read_folder(root, skip=skip)
        except ValueError as err:
            self.fail(f"cannot send {root}: {err}")

    def local_assignment_dir(self, assignment_id: str) -> str:
        """Where a student's copy of ``assignment_id`` lives (nbgrader's rule)."""
        if getattr(self, "path_includes_course", False):
            return os.path.join(self.assignment_dir, self.coursedir.course_id, assignment_id)
        return os.path.join(self.assignment_dir, assignment_id)

    def init_src(self):
        pass

    def init_dest(self):
        pass
