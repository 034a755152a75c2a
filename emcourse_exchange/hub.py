"""The JupyterHub side of the hub exchange: the managed service, its role, the servers' token.

Three settings in ``jupyterhub_config.py`` (:func:`config_source` writes them):

* ``c.JupyterHub.services``: the exchange as a managed service (JupyterHub starts it, gives
  it its own API token and ``$JUPYTERHUB_SERVICE_NAME``), running as its own Unix user whose
  storage folder nobody else can read.
* ``c.JupyterHub.load_roles``: who is in the class. The role grants
  ``access:services!service=<name>`` to the course's users (or a hub group); the service
  refuses any token without it.
* ``c.Spawner.server_token_scopes``: the single-user server's ``$JUPYTERHUB_API_TOKEN`` gets
  that scope too (JupyterHub's default server token can only post activity), so nbgrader in
  the student's server and terminals can call the exchange as its owner.
"""

from __future__ import annotations

import functools
import pprint
import sys

from .payload import Limits, check_id

SERVICE_NAME = "emcourse-exchange"
# JupyterHub's default server token ("server" role) plus access to the exchange.
_SERVER_SCOPES = ["users:activity!user", "access:servers!server"]
_LIMITS = Limits()


def service(*, course_id: str, root: str, instructors, port: int, user: str,
            python: str = sys.executable, name: str = SERVICE_NAME,
            limits: Limits = _LIMITS, environment: dict | None = None,
            graders=()) -> dict:
    """The entry of ``c.JupyterHub.services`` for the exchange.

    Parameters
    ----------
    course_id : str
        The course.
    root : str
        The service's storage folder (created 0700 by the service; its parent must let the
        service's user create it, or make it beforehand owned by that user).
    instructors : list of str
        Hub user names of the instructors.
    port : int
        Port on 127.0.0.1 the service listens on.
    user : str
        Unix user the service runs as (not root, not a student, not the instructor).
    python : str
        The Python that has emcourse_grader and jupyterhub.
    name : str
        The service's name (its URL is ``<hub>/services/<name>/``).
    limits : Limits
        Bounds of one upload.
    environment : dict, optional
        Extra environment variables for the service.
    graders : list of str
        Hub services that act as an instructor (the grading service; give them
        :func:`service_role` too).

    Returns
    -------
    dict
    """
    check_id("course_id", course_id)
    graders = [check_id("graders", n) for n in graders]
    instructors = [check_id("instructors", n) for n in instructors]
    if not instructors:
        raise ValueError("instructors: expected at least one hub user name, got none")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port: expected an int in 1..65535, got {port!r}")
    if user == "root":
        raise ValueError("user: expected a dedicated Unix user, got 'root'")
    return {
        "name": check_id("name", name),
        "url": f"http://127.0.0.1:{port}",
        "user": user,
        "cwd": "/",
        "command": [python, "-m", "emcourse_exchange.service", "--course", course_id,
                    "--root", root, "--instructors", ",".join(instructors),
                    "--max-bytes", str(limits.max_bytes), "--max-files", str(limits.max_files),
                    *(["--graders", ",".join(graders)] if graders else [])],
        "environment": dict(environment or {}),
    }


def role(*, users=(), groups=(), name: str = SERVICE_NAME) -> dict:
    """The entry of ``c.JupyterHub.load_roles`` that lets ``users`` and ``groups`` in."""
    return {"name": f"{name}-access", "description": f"may use the exchange {name}",
            "scopes": [f"access:services!service={name}"],
            "users": list(users), "groups": list(groups)}


def service_role(services, name: str = SERVICE_NAME) -> dict:
    """The entry of ``c.JupyterHub.load_roles`` that lets hub ``services`` (the grading
    service) call the exchange with their own token."""
    return {"name": f"{name}-graders", "description": f"services that grade for {name}",
            "scopes": [f"access:services!service={name}"], "services": list(services)}


def server_token_scopes(name: str = SERVICE_NAME) -> list[str]:
    """``c.Spawner.server_token_scopes``: the default ones plus access to the exchange."""
    return [*_SERVER_SCOPES, f"access:services!service={name}"]


def config_source(*, course_id: str, root: str, instructors, students=(), groups=(),
                  port: int, user: str, python: str = sys.executable,
                  name: str = SERVICE_NAME, limits: Limits = _LIMITS,
                  environment: dict | None = None) -> str:
    """Python source to append to ``jupyterhub_config.py`` (no import of emcourse needed).

    The parameters are those of :func:`service` and :func:`role`; the instructors are given
    the access role too.
    """
    svc = service(course_id=course_id, root=root, instructors=instructors, port=port,
                  user=user, python=python, name=name, limits=limits, environment=environment)
    members = list(dict.fromkeys([*instructors, *students]))
    fmt = functools.partial(pprint.pformat, width=96, sort_dicts=False)
    members = role(users=members, groups=groups, name=name)
    return (
        f"# The hub exchange ({__name__}; docs/teaching.md, \"The exchange through the hub\")\n"
        f"c.JupyterHub.services = [*c.JupyterHub.get('services', []),\n{fmt(svc)}]\n"
        f"c.JupyterHub.load_roles = [*c.JupyterHub.get('load_roles', []),\n{fmt(members)}]\n"
        f"c.Spawner.server_token_scopes = {server_token_scopes(name)!r}\n")


# The nbgrader side: which Exchange class does what (ExchangeFactory), for everyone.
EXCHANGE_CLASSES = {
    "fetch_assignment": "emcourse_exchange.fetch.HubFetchAssignment",
    "fetch_feedback": "emcourse_exchange.fetch.HubFetchFeedback",
    "submit": "emcourse_exchange.submit.HubSubmit",
    "list": "emcourse_exchange.listing.HubList",
    "release_assignment": "emcourse_exchange.release.HubReleaseAssignment",
    "release_feedback": "emcourse_exchange.release.HubReleaseFeedback",
    "collect": "emcourse_exchange.collect.HubCollect",
}


def nbgrader_config_source(*, url: str, course_id: str) -> str:
    """Lines for the ``nbgrader_config.py`` of students and instructors alike.

    Parameters
    ----------
    url : str
        The exchange as the users' servers reach it, e.g.
        ``http://127.0.0.1:8000/services/emcourse-exchange/`` (through the hub's proxy).
    course_id : str
        The course.

    Returns
    -------
    str
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url: expected an http(s) URL, got {url!r}")
    lines = [f"c.CourseDirectory.course_id = {check_id('course_id', course_id)!r}",
             f"c.HubExchange.url = {url!r}"]
    lines += [f"c.ExchangeFactory.{key} = {cls!r}" for key, cls in EXCHANGE_CLASSES.items()]
    return "# The hub exchange (docs/teaching.md)\n" + "\n".join(lines) + "\n"
