"""JupyterHub configuration of the trial class that ``make hub`` stands up (scripts/hub.py).

scripts/hub.py copies this file next to ``hub_settings.json`` (written by ``up``: ports,
accounts, environments, the course root) in the hub's private state folder and starts
``jupyterhub -f`` on the copy, as root (PAM needs it). What it sets and why:

* PAM logins (the accounts' Unix passwords); only the class's accounts may log in, the
  instructor is the hub's admin.
* ``LocalProcessSpawner``: every single-user server runs as its user's Unix account, so what
  a student can read is what the file modes let that account read.
* Each user's server comes from an environment that is not the course checkout: students get
  the student venv (the student wheel: emref and emcourse_student, no grader, checks or
  solutions), the instructor the instructor's venv (the course's wheel with its grader)
  and a server rooted at the course root (the Formgrader needs it). Nothing of the hub's
  own environment (PYTHONPATH, VIRTUAL_ENV) is passed on: ``env_keep`` keeps only the locale.
* The exchange, when it is the hub's (``up --exchange hub``, the default): its service, the
  role that lets the class use it, and the servers' token scopes (scripts/hub.py).
* The grading service (``python -m emcourse_grader serve`` as the instructor; scripts/hub.py
  ``grading_service``) with the role that lets the class see its pages.
* Everything listens on 127.0.0.1.
"""

import json
import pwd
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when jupyterhub loads this file

S = json.loads((Path(__file__).resolve().parent / "hub_settings.json").read_text())

c.JupyterHub.bind_url = f"http://127.0.0.1:{S['port']}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{S['hub_port']}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{S['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [S["proxy_command"]]
c.ConfigurableHTTPProxy.pid_file = str(Path(S["state"]) / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{Path(S['state']) / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(Path(S["state"]) / "cookie_secret")
c.JupyterHub.cleanup_servers = True  # the hub stops every server when it stops
c.JupyterHub.cleanup_proxy = True
# The exchange's service (when it is the hub's), and "emc-admin", a service of make hub's own
# whose token (in the root-only hub.json) mints users' tokens for scripts and tests that act
# as a user's terminal (scripts/hub.py server_env) and starts a user's server as a login would.
c.JupyterHub.services = [*S.get("services", []),
                         {"name": "emc-admin", "api_token": S["admin_token"]}]
c.JupyterHub.load_roles = [*S.get("roles", []),
                           {"name": "emc-admin", "services": ["emc-admin"],
                            "scopes": ["admin:users", "tokens", "servers"]}]
if S.get("server_token_scopes"):  # the servers' token may call the exchange as its owner
    c.Spawner.server_token_scopes = S["server_token_scopes"]

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no systemd-logind sessions in a trial
c.Authenticator.allowed_users = set(S["students"]) | {S["instructor"]}
c.Authenticator.admin_users = {S["instructor"]}

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.start_timeout = 180  # a loaded test machine
c.Spawner.http_timeout = 180


def _per_user(spawner):
    """The user's environment and server root: the student venv and their home, or the
    instructor's venv and the course root."""
    name = spawner.user.name
    if name == S["instructor"]:
        venv, root = S["instructor_venv"], S["course_root"]
    elif name in S["students"]:
        venv, root = S["student_venv"], pwd.getpwnam(name).pw_dir
    else:  # the authenticator lets nobody else in; never start a server for them
        raise ValueError(f"user: found {name!r}, expected a student or the instructor")
    spawner.cmd = [f"{venv}/bin/jupyterhub-singleuser"]
    spawner.notebook_dir = root
    spawner.environment = {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                           "LANG": "C.UTF-8"}


c.Spawner.pre_spawn_hook = _per_user
