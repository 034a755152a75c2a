"""A trial class on this machine: JupyterHub with Unix accounts, a private course, two venvs.

    python scripts/hub.py up      (make hub)       stand it up; prints the path of hub.json
    python scripts/hub.py down    (make hub-down)  remove all of it (twice is fine)

Run as root (PAM logins need a hub running as root; accounts are made with useradd). ``up``
builds the deployment docs/teaching.md "Once: the server" describes, with the project's own
files:

1. Unix accounts with random passwords: ``emc-instructor`` and the students ``emc-ada``,
   ``emc-ben``, ``emc-cy`` (the ``emc-`` prefix keeps them apart from real users); homes 0700.
2. Two environments made with the system Python (``/usr/bin/python3``; the project's own
   Python or .venv may be unreadable to other users, and the checkout holds the solutions):
   the students' venv with the student wheel and the nbgrader settings of the docs (the
   instructor's Lab plugins disabled and locked, emcourse_student's server extension), and
   the instructor's venv with the course's wheel ``[grader]``, jupyterhub and jupyterlab.
   Neither is an editable install. They are kept in :data:`CACHE`, keyed by a hash of what
   their dependencies come from (the pyproject files, the hub's version, the Python), and
   reused with this checkout's wheels reinstalled (seconds; ``down`` keeps that cache;
   delete the folder to rebuild).
   The instructor's venv holds the hidden checks: its folder is 0750 root:<instructor>.
3. The course root, :data:`BASE`/course: a copy of the course (scripts/demo_class.copy_course)
   owned by the instructor, 0700, its gradebook generated (``nbgrader generate_assignment "*"
   --force`` as the instructor).
4. The exchange (:data:`EXCHANGES`): by default the hub's (emcourse_exchange, a managed
   service under its own account ``emc-exchange``, its storage :data:`BASE`/exchange-store
   0700); ``--exchange filesystem`` for nbgrader's at :data:`BASE`/exchange, 1777, with the
   course's folder made by the instructor beforehand so its inbound gets the sticky bit too.
5. The grading service (:func:`grading_service`, docs/teaching.md "Feedback in a minute"):
   ``python -m emcourse_grader serve`` as a managed hub service running as the instructor
   in the course root, for the assignments in :data:`SERVED`; it calls the exchange with its
   own hub token (the exchange's ``--graders``) and serves its pages behind the hub's login.
6. JupyterHub from the project's environment (the ``hub`` extra) with configurable-http-proxy
   from npm (installed into _build/hub/node), PAM, LocalProcessSpawner, on 127.0.0.1 (free
   ports); packaging/hub/jupyterhub_config.py gives each user their venv and server root.

It writes ``_build/hub/hub.json`` (the hub's URL, the course root, the exchange, the course
id, the instructor's name, each student's name and password, the grading service's pages and
assignments) and prints its path. What was
made is recorded as it is made in ``_build/hub/state.json``, so ``down`` also cleans up after
an ``up`` that failed half-way.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import importlib.metadata
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build" / "hub"
STATE = BUILD / "state.json"
HUB_JSON = BUILD / "hub.json"
BASE = Path("/srv/emcourse-hub")          # course root, exchange, the hub's state: all removed
CACHE = Path("/var/cache/emcourse-hub")   # the built venvs: kept by down
SYSTEM_PYTHON = "/usr/bin/python3"
PROXY_VERSION = "5"
INSTRUCTOR = "emc-instructor"
STUDENTS = ("emc-ada", "emc-ben", "emc-cy")
PREFIX = "emc-"



# --------------------------------------------------------------------------------------------
# Small tools
# --------------------------------------------------------------------------------------------

def run(*cmd, user=None, cwd=None, env_path=None, check=True, input=None, env=None) -> str:
    """Run ``cmd`` (as ``user`` through runuser, in a clean environment when ``user`` or
    ``env_path`` is given, plus ``env``) and return its output; on failure raise with it."""
    cmd = [str(c) for c in cmd]
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    if user is not None or env_path is not None:
        home = pwd.getpwnam(user).pw_dir if user else "/root"
        env = ["env", "-i", f"PATH={env_path or '/usr/bin:/bin'}", f"HOME={home}",
               "LANG=C.UTF-8", f"USER={user or 'root'}", *extra]
        if user is None:  # root's own tools (pip): keep pip's settings (an index, a cert)
            env += [f"{k}={v}" for k, v in os.environ.items() if k.startswith("PIP_")]
        cmd = env + cmd
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, input=input,
                         check=False)
    if check and res.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n"
                           f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict) -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.chmod(tmp, 0o600)
    tmp.replace(STATE)


def tree_hash(*parts) -> str:
    """A short hash of files, folders (every file in them, by relative path) and strings."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_dir():
            for f in sorted(part.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                    h.update(str(f.relative_to(part)).encode() + b"\0" + f.read_bytes())
        elif isinstance(part, Path):
            h.update(part.read_bytes())
        else:
            h.update(str(part).encode())
        h.update(b"\1")
    return h.hexdigest()[:16]


def preflight() -> None:
    """What ``up`` needs, each missing piece named with its fix."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (PAM logins and useradd need it): sudo make hub")
    if not shutil.which("npm"):
        problems.append("npm is missing (configurable-http-proxy comes from npm): "
                        "apt-get install npm")
    if subprocess.run([SYSTEM_PYTHON, "-c", "import venv, ensurepip"],
                      capture_output=True, check=False).returncode:
        problems.append(f"{SYSTEM_PYTHON} cannot make venvs: apt-get install python3-venv")
    try:
        importlib.metadata.version("jupyterhub")
    except importlib.metadata.PackageNotFoundError:
        problems.append("jupyterhub is not installed here: pip install -e '.[hub]' (make does)")
    if problems:
        raise SystemExit("make hub cannot start:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------

def _claim(name: str, state: dict) -> None:
    """Check that ``name`` is ours to make (the prefix, no such account yet) and record it
    before it exists: down removes it even if up fails right after."""
    if not name.startswith(PREFIX):
        raise ValueError(f"name: found {name!r}, expected one starting with {PREFIX!r}")
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        raise SystemExit(f"the account {name} exists and was not made by make hub: remove it "
                         "yourself (userdel -r) or choose other names")
    state.setdefault("accounts", []).append(name)
    save_state(state)


def make_account(name: str, state: dict) -> str:
    """A login account with a random password and a 0700 home; returns the password."""
    _claim(name, state)
    run("useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name)
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    password = secrets.token_urlsafe(12)
    run("chpasswd", input=f"{name}:{password}\n")
    return password


def make_service_account(name: str, state: dict) -> None:
    """A system account without a login or a home, for a hub service."""
    _claim(name, state)
    run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
        "--user-group", name)


# --------------------------------------------------------------------------------------------
# The two environments
# --------------------------------------------------------------------------------------------

def _venv(path: Path, *requirements) -> None:
    """A fresh venv from the system Python at ``path`` with ``requirements`` installed."""
    if path.exists():
        shutil.rmtree(path)
    run(SYSTEM_PYTHON, "-m", "venv", path)
    run(path / "bin" / "python", "-m", "pip", "install", "--quiet", *requirements,
        env_path="/usr/bin:/bin")


def _reinstall(venv: Path, wheel: Path, extra: str = "") -> None:
    """Put this checkout's wheel into a cached venv (its dependencies are there already)."""
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps",
        "--force-reinstall", f"{wheel}{extra}", env_path="/usr/bin:/bin")


def student_venv(hub_version: str, wheel: Path) -> Path:
    """The students' environment: the student wheel, with the docs' Lab and server settings.
    The venv is cached by what its dependencies come from (the student wheel's pyproject,
    the hub's version, the Python); the wheel itself is reinstalled on every ``up``."""
    key = tree_hash(ROOT / "packaging" / "student" / "pyproject.toml", hub_version,
                    SYSTEM_PYTHON)
    venv = CACHE / "venvs" / f"student-{key}"
    if (venv / ".complete").exists():
        _reinstall(venv, wheel)
        return venv
    _venv(venv, str(wheel), f"jupyterhub=={hub_version}")
    path = f"{venv}/bin:/usr/bin:/bin"
    for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
        for verb in ("disable", "lock"):
            run(venv / "bin" / "jupyter", "labextension", verb, "--level=sys_prefix", plugin,
                env_path=path)
    run(venv / "bin" / "jupyter", "server", "extension", "disable", "--sys-prefix",
        "nbgrader.server_extensions.formgrader", env_path=path)
    conf = venv / "etc" / "jupyter" / "jupyter_server_config.d"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "emcourse_student.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"emcourse_student": True}}}))
    (venv / ".complete").touch()
    return venv


def instructor_venv(hub_version: str, wheel: Path) -> Path:
    """The instructor's environment: the course's wheel [grader], jupyterhub, jupyterlab
    (cached by the course's pyproject, the hub's version and the Python; the wheel itself is
    reinstalled on every ``up``)."""
    key = tree_hash(ROOT / "pyproject.toml", hub_version, SYSTEM_PYTHON)
    venv = CACHE / "venvs" / f"instructor-{key}"
    if (venv / ".complete").exists():
        _reinstall(venv, wheel)
        return venv
    _venv(venv, f"{wheel}[grader]", f"jupyterhub=={hub_version}", "jupyterlab")
    (venv / ".complete").touch()
    return venv


def build_venvs(hub_version: str, instructor: str) -> tuple[Path, Path]:
    """Both venvs, the cache open to all but the instructor's venv closed to all but them."""
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)
    (CACHE / "venvs").mkdir(exist_ok=True)
    os.chmod(CACHE / "venvs", 0o755)
    sys.path.insert(0, str(ROOT / "scripts"))
    import course_wheel
    import student_wheel

    with tempfile.TemporaryDirectory(prefix="emcourse-hub-") as tmp:
        student = student_venv(hub_version, student_wheel.build(Path(tmp)))
        teacher = instructor_venv(hub_version, course_wheel.build(Path(tmp)))
    for old in (CACHE / "venvs").iterdir():  # venvs of older sources: 800 MB each
        if old not in (student, teacher):
            shutil.rmtree(old, ignore_errors=True)
    os.chmod(student, 0o755)
    os.chown(teacher, 0, grp.getgrnam(instructor).gr_gid)
    os.chmod(teacher, 0o750)
    return student, teacher


def write_nbgrader_config(venv: Path, settings: dict) -> None:
    """``<venv>/etc/jupyter/nbgrader_config.py``: what every user of that venv reads."""
    conf = venv / "etc" / "jupyter"
    conf.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by scripts/hub.py (make hub): the exchange and the course.",
             "c = get_config()  # noqa: F821"]
    lines += [f"c.{key} = {value!r}" for key, value in settings.items()]
    (conf / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# The course and the exchange
# --------------------------------------------------------------------------------------------

def make_course(dest: Path, instructor: str, venv: Path) -> str:
    """The private course root, its gradebook generated; returns the course id."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import demo_class

    demo_class.copy_course(dest)
    run("chown", "-R", f"{instructor}:{instructor}", dest)
    os.chmod(dest, 0o700)
    run("nbgrader", "generate_assignment", "*", "--force", user=instructor, cwd=dest,
        env_path=f"{venv}/bin:/usr/bin:/bin")
    run("chmod", "-R", "go-rwx", dest)  # each private file closed too, not only the root
    return tomllib.loads((dest / "course.toml").read_text())["id"]


@dataclass
class ExchangeSetup:
    """What an exchange needs from the rest of the deployment."""

    path: str | None                  # hub.json's "exchange": its folder, or None
    student: dict                     # nbgrader settings of the students' venv
    instructor: dict                  # nbgrader settings of the instructor's venv
    services: list = field(default_factory=list)  # JupyterHub services it runs
    roles: list = field(default_factory=list)     # JupyterHub roles it needs
    server_token_scopes: list | None = None       # the servers' token, when it needs more
    course_site: str = ""  # lines for the course root's nbgrader_config_site.py


def filesystem_exchange(course_id: str, instructor: str, hub_url: str,
                        student_venv: Path, state: dict) -> ExchangeSetup:
    """nbgrader's filesystem exchange at :data:`BASE`/exchange, 1777, the course's folder
    made by the instructor with a sticky inbound."""
    root = BASE / "exchange"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o1777)
    # nbgrader's release would make inbound 2733 (writable by all, no sticky bit); with the
    # bit, no student can rename or delete a classmate's submission there. nbgrader keeps
    # the modes of folders that exist.
    uid, gid = pwd.getpwnam(instructor).pw_uid, grp.getgrnam(instructor).gr_gid
    modes = {"": 0o755, "outbound": 0o755, "inbound": 0o3733, "feedback": 0o711}
    for sub, mode in modes.items():
        path = root / course_id / sub
        path.mkdir(exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    settings = {"Exchange.root": str(root)}
    return ExchangeSetup(str(root), settings, dict(settings))


EXCHANGE_USER = f"{PREFIX}exchange"  # the hub exchange's own Unix account


def hub_exchange(course_id: str, instructor: str, hub_url: str, student_venv: Path,
                 state: dict) -> ExchangeSetup:
    """The hub-authenticated exchange (emcourse_exchange; docs/teaching.md, "The exchange
    through the hub"): a managed JupyterHub service running as its own account from the
    students' venv (which carries emcourse_exchange and jupyterhub), its storage a folder
    only that account can read; students and the instructor reach it with their hub token."""
    from emcourse_exchange import hub as hubconf

    make_service_account(EXCHANGE_USER, state)
    store = BASE / "exchange-store"
    store.mkdir(parents=True, exist_ok=True)
    os.chown(store, pwd.getpwnam(EXCHANGE_USER).pw_uid, grp.getgrnam(EXCHANGE_USER).gr_gid)
    os.chmod(store, 0o700)
    url = f"{hub_url}/services/{hubconf.SERVICE_NAME}/"
    service = hubconf.service(course_id=course_id, root=str(store), instructors=[instructor],
                              port=free_port(), user=EXCHANGE_USER,
                              python=str(student_venv / "bin" / "python"),
                              graders=[GRADER])
    settings = {"HubExchange.url": url,
                **{f"ExchangeFactory.{op}": cls for op, cls in hubconf.EXCHANGE_CLASSES.items()}}
    return ExchangeSetup(None, settings, dict(settings), services=[service],
                         roles=[hubconf.role(users=[instructor, *STUDENTS]),
                                hubconf.service_role([GRADER])],
                         server_token_scopes=hubconf.server_token_scopes(),
                         course_site=hubconf.nbgrader_config_source(url=url,
                                                                    course_id=course_id))


GRADER = "emcourse-grader"  # the grading service (python -m emcourse_grader serve)
# The assignments the grading service grades as they arrive. hw1 is left to the instructor's
# own commands (collect, grade, feedback: tests/test_hub.py's class), so the two never grade
# the same submissions at once.
SERVED = ("hw2",)


def grading_service(course_root: Path, instructor: str, venv: Path) -> tuple[dict, dict]:
    """The grading service (docs/teaching.md, "Feedback in a minute") as a managed hub
    service: the instructor's account, the course root, the instructor's venv, one Dask
    worker; its pages behind the hub's login. Returns the service and the role that lets
    the class see its pages."""
    service = {
        "name": GRADER, "url": f"http://127.0.0.1:{free_port()}", "user": instructor,
        "cwd": str(course_root), "oauth_no_confirm": True,
        "command": [str(venv / "bin" / "python"), "-m", "emcourse_grader", "serve",
                    "--workers", "1", "--assignments", *SERVED, "--instructors", instructor],
        "environment": {"PATH": f"{venv}/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                        "HOME": pwd.getpwnam(instructor).pw_dir}}
    role = {"name": f"{GRADER}-access", "description": "may see the grading service's pages",
            "scopes": [f"access:services!service={GRADER}"],
            "users": [instructor, *STUDENTS]}
    return service, role


# The exchanges `up --exchange` can set up: name -> function(course_id, instructor, hub_url,
# student_venv, state). "hub" (the default) authenticates every student through the hub;
# "filesystem" trusts Unix permissions, so a student can submit in another's name
# (docs/teaching.md, step 4): for comparison only. packaging/hub/jupyterhub_config.py adds
# an exchange's services, roles and token scopes to the hub.
EXCHANGES = {"hub": hub_exchange, "filesystem": filesystem_exchange}


def make_exchange(kind: str, *args) -> ExchangeSetup:
    """The exchange named ``kind`` (a key of :data:`EXCHANGES`)."""
    if kind not in EXCHANGES:
        raise ValueError(f"exchange: found {kind!r}, expected one of {sorted(EXCHANGES)}")
    return EXCHANGES[kind](*args)


# --------------------------------------------------------------------------------------------
# The hub
# --------------------------------------------------------------------------------------------

def install_proxy() -> str:
    """configurable-http-proxy from npm, in _build/hub/node; returns its command."""
    node = BUILD / "node"
    command = node / "node_modules" / ".bin" / "configurable-http-proxy"
    if not command.exists():
        node.mkdir(parents=True, exist_ok=True)
        run("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", node,
            f"configurable-http-proxy@{PROXY_VERSION}")
    return str(command)


def start_hub(settings: dict, state: dict, timeout: float = 120) -> str:
    """Start jupyterhub as root in its own process group; wait until it answers."""
    hub_dir = Path(settings["state"])
    hub_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(hub_dir, 0o700)
    shutil.copy2(ROOT / "packaging" / "hub" / "jupyterhub_config.py",
                 hub_dir / "jupyterhub_config.py")
    (hub_dir / "hub_settings.json").write_text(json.dumps(settings, indent=1))
    log = open(hub_dir / "jupyterhub.log", "ab")  # noqa: SIM115 - the hub keeps it open
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "HOME": "/root"}
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f",
                             str(hub_dir / "jupyterhub_config.py")],
                            cwd=hub_dir, env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    state["hub_pid"] = proc.pid
    save_state(state)
    url = f"http://127.0.0.1:{settings['port']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited ({proc.returncode}); its log: "
                               f"{hub_dir / 'jupyterhub.log'}:\n"
                               + (hub_dir / "jupyterhub.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/hub/api", timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"jupyterhub did not answer at {url} in {timeout:.0f} s; its log: "
                       f"{hub_dir / 'jupyterhub.log'}")


# --------------------------------------------------------------------------------------------
# up and down
# --------------------------------------------------------------------------------------------

def up(exchange: str = "hub") -> Path:
    """Stand the trial class up (see the module's docstring); returns hub.json's path."""
    preflight()
    if STATE.exists():
        print("make hub: a previous deployment is recorded; removing it first", flush=True)
        down()
    state: dict = {}
    save_state(state)
    hub_version = importlib.metadata.version("jupyterhub")
    proxy = install_proxy()
    passwords = {name: make_account(name, state) for name in (INSTRUCTOR, *STUDENTS)}
    state["folders"] = [str(BASE)]
    save_state(state)
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o755)
    student, teacher = build_venvs(hub_version, INSTRUCTOR)
    state["instructor_venv"] = str(teacher)
    save_state(state)
    course_root = BASE / "course"
    course_id = make_course(course_root, INSTRUCTOR, teacher)
    port = free_port()
    ex = make_exchange(exchange, course_id, INSTRUCTOR, f"http://127.0.0.1:{port}", student,
                       state)
    write_nbgrader_config(student, {**ex.student, "CourseDirectory.course_id": course_id})
    write_nbgrader_config(teacher, ex.instructor)
    if ex.course_site:  # loaded last by the course's nbgrader_config.py (collect's class)
        site = course_root / "nbgrader_config_site.py"
        site.write_text("c = get_config()  # noqa: F821\n" + ex.course_site)
        run("chown", f"{INSTRUCTOR}:{INSTRUCTOR}", site)
        os.chmod(site, 0o600)
    grader, grader_role = grading_service(course_root, INSTRUCTOR, teacher)
    admin_token = secrets.token_hex(32)  # a service of the hub's own, for hub.json's user
    settings = {"port": port, "hub_port": free_port(), "proxy_api_port": free_port(),
                "proxy_command": proxy, "state": str(BASE / "hub"),
                "instructor": INSTRUCTOR, "students": list(STUDENTS),
                "student_venv": str(student), "instructor_venv": str(teacher),
                "course_root": str(course_root), "services": [*ex.services, grader],
                "roles": [*ex.roles, grader_role],
                "server_token_scopes": ex.server_token_scopes,
                "admin_token": admin_token}
    url = start_hub(settings, state)
    info = {"url": url, "course_root": str(course_root), "exchange": ex.path,
            "course_id": course_id, "instructor": {"name": INSTRUCTOR},
            "students": [{"name": s, "password": passwords[s]} for s in STUDENTS],
            "student_venv": str(student), "instructor_venv": str(teacher),
            "admin_token": admin_token,
            "grader": {"url": f"{url}/services/{GRADER}/", "assignments": list(SERVED),
                       "internal_url": f"{grader['url']}/services/{GRADER}/"}}
    HUB_JSON.unlink(missing_ok=True)
    fd = os.open(HUB_JSON, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds passwords
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(info, indent=1) + "\n")
    return HUB_JSON


def server_env(info: dict, user: str) -> dict:
    """The hub variables a user's server gives its terminals (a fresh token of ``user`` with
    the servers' scopes, minted with hub.json's admin token): what nbgrader's exchange
    classes need to act as that user from a shell."""
    from emcourse_exchange import hub as hubconf

    api = f"{info['url']}/hub/api"
    # The servers' scopes, with "its own server" spelled out as the hub does for a server.
    scopes = [sc.replace("!server", f"!server={user}/") if sc.endswith("!server") else sc
              for sc in hubconf.server_token_scopes()]
    req = urllib.request.Request(
        f"{api}/users/{user}/tokens", method="POST",
        data=json.dumps({"scopes": scopes, "note": "make hub"}).encode(),
        headers={"Authorization": f"token {info['admin_token']}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        token = json.loads(r.read())["token"]
    return {"JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_API_URL": api,
            "JUPYTERHUB_USER": user, "JUPYTERHUB_BASE_URL": "/"}


def _pids_of(uids: set[int]) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _signal_all(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _is_our_group(pgid: int) -> bool:
    """Whether process group ``pgid`` is still the hub's (the hub or its proxy), not an
    unrelated group that got the same number later."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"jupyterhub" in cmdline or b"configurable-http-proxy" in cmdline:
            return True
    return False


def stop_hub(state: dict) -> None:
    """SIGTERM the hub's process group (the hub stops its servers and proxy), then SIGKILL
    whatever is left of it and of the class's accounts."""
    pid = state.get("hub_pid")
    if pid and _is_our_group(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(30):
                os.killpg(pid, 0)
                time.sleep(0.5)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    uids = set()
    for name in state.get("accounts", []):
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    if uids:
        _signal_all(_pids_of(uids), signal.SIGTERM)
        time.sleep(1)
        _signal_all(_pids_of(uids), signal.SIGKILL)


def down() -> None:
    """Remove what ``up`` made: the hub and servers, accounts, folders, hub.json. The cached
    venvs stay in :data:`CACHE` (given back to root)."""
    state = load_state()
    stop_hub(state)
    for name in state.get("accounts", []):
        if name.startswith(PREFIX):
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            run("userdel", "--remove", name, check=False)
            try:
                grp.getgrnam(name)
            except KeyError:
                pass
            else:
                run("groupdel", name, check=False)
    for folder in [*state.get("folders", []), str(BASE)]:
        shutil.rmtree(folder, ignore_errors=True)
    teacher = state.get("instructor_venv")
    if teacher and Path(teacher).exists():
        os.chown(teacher, 0, 0)
        os.chmod(teacher, 0o700)
    HUB_JSON.unlink(missing_ok=True)
    STATE.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--exchange", choices=sorted(EXCHANGES), default="hub",
                        help="the exchange students fetch from and submit to")
    args = parser.parse_args(argv)
    if args.command == "down":
        down()
        print("make hub-down: the trial class is gone (cached venvs kept in "
              f"{CACHE / 'venvs'})")
        return 0
    try:
        path = up(args.exchange)
    except BaseException:
        print("make hub failed: cleaning up (make hub-down)", file=sys.stderr)
        down()
        raise
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
