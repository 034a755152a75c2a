"""The hub exchange against a real JupyterHub, with real Unix accounts.

A JupyterHub (with configurable-http-proxy from npm) starts the exchange service as its own
Unix user (``emx-xsvc``), configured by :func:`emcourse_exchange.hub.config_source`.
Each person gets a hub token with exactly the scopes a single-user server's
``$JUPYTERHUB_API_TOKEN`` has under that configuration, and runs the real ``nbgrader``
commands as their own Unix account (``runuser``), as in a JupyterLab terminal: the instructor
``emx-teach`` releases hw1, ``emx-ada`` fetches, submits and resubmits, ``emx-ben`` submits
with ``--student=emx-ada``; then every attack is tried with a student's token, and the
instructor collects and releases feedback. Needs root (accounts) and npm (the proxy).
"""

import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import requests
from helpers import userdel

from emcourse_exchange import hub as hubconf
from emcourse_exchange.payload import Limits, check_path, decode, encode, write_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every account runs nbgrader from a venv it can read: the test's own Python may live where
# only root can enter (pyenv under /root). Built once from Debian's python3, then reused.
REQUIREMENTS = ["nbgrader==0.9.6", "jupyterhub==6.1.1"]
CACHE = "/var/cache/emcourse-exchange-test"
VENV = os.path.join(CACHE, "venv-" + "-".join(REQUIREMENTS).replace("==", ""))
VENV_BIN = os.path.join(VENV, "bin")
SYSTEM_PYTHON = "/usr/bin/python3"
TEACH, ADA, BEN, SVC = "emx-teach", "emx-ada", "emx-ben", "emx-xsvc"
COURSE = "emx-course"
LIMITS = Limits(max_bytes=1_000_000, max_files=20)
CHP_CACHE = os.path.join(CACHE, "chp")

def _skip_reason():
    """Why the hub tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "creates Unix accounts and runs commands as them (runuser): needs root"
    if shutil.which("npm") is None and shutil.which("configurable-http-proxy") is None:
        return "JupyterHub needs configurable-http-proxy (npm)"
    if shutil.which("runuser") is None:
        return "needs runuser (util-linux)"
    if not os.path.exists(SYSTEM_PYTHON):
        return f"needs {SYSTEM_PYTHON} to build a venv every account can run"
    return None


def _venv():
    """The venv with nbgrader and jupyterhub (pip, about a minute the first time)."""
    done = os.path.join(VENV, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", VENV], check=True)
        pip = subprocess.run([os.path.join(VENV_BIN, "python"), "-m", "pip", "install", "-q",
                              *REQUIREMENTS], check=False, capture_output=True, text=True,
                             timeout=1200)
        if pip.returncode:
            raise RuntimeError(f"pip install {' '.join(REQUIREMENTS)} into {VENV} failed:\n"
                               + pip.stderr[-3000:])
        open(done, "w").close()
    return os.path.join(VENV_BIN, "python")


def _install_course():
    """The course as its accounts get it: the wheel (emcourse_exchange and the grader's
    collect), installed without -e into the shared venv, never the checkout (which only root
    may be able to read)."""
    with tempfile.TemporaryDirectory() as out:
        built = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "course_wheel.py"),
                                out], check=True, capture_output=True, text=True).stdout
        wheel = [built.strip().splitlines()[-1]]
        subprocess.run([os.path.join(VENV_BIN, "python"), "-m", "pip", "install", "-q",
                        "--no-deps", "--force-reinstall", *wheel], check=True,
                       capture_output=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chp():
    """configurable-http-proxy: on PATH, or installed once from npm into a cache folder."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    path = os.path.join(CHP_CACHE, "node_modules", ".bin", "configurable-http-proxy")
    if not os.path.exists(path):
        os.makedirs(CHP_CACHE, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", CHP_CACHE, "--no-audit", "--no-fund",
                        "configurable-http-proxy@5"], check=True, capture_output=True,
                       timeout=300)
    return path


def _useradd(name, home=True):
    userdel(name)  # a killed earlier run may have left it
    args = ["useradd", "-m", "-K", "HOME_MODE=0700"] if home else ["useradd", "-M", "-r"]
    subprocess.run([*args, "-s", "/bin/bash", name], check=True, capture_output=True)


def _notebook(text):
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _write(path, text, owner):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    pw = pwd.getpwnam(owner)
    os.chown(path, pw.pw_uid, pw.pw_gid)


class Hub:
    """A running JupyterHub with the exchange; tokens per user; commands as users."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port, self.hub_port = _free_port(), _free_port()
        self.api_port, self.svc_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"http://127.0.0.1:{self.hub_port}/hub/api"
        self.exchange = f"{self.url}/services/{hubconf.SERVICE_NAME}/"
        self.store = os.path.join(workdir, "store")
        self.admin_token = secrets.token_hex(32)
        self.proc = None
        self.tokens = {}

    def config(self):
        svc = pwd.getpwnam(SVC)
        os.mkdir(self.store, 0o700)
        os.chown(self.store, svc.pw_uid, svc.pw_gid)
        text = f"""
c = get_config()
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.api_port}"
c.ConfigurableHTTPProxy.command = [{_chp()!r}]
c.JupyterHub.db_url = "sqlite:///{self.workdir}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{self.workdir}/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{self.workdir}/proxy.pid"
c.Authenticator.allowed_users = {{{TEACH!r}, {ADA!r}, {BEN!r}}}
c.JupyterHub.services = [{{"name": "emx-admin", "api_token": {self.admin_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "emx-admin",
                            "scopes": ["admin:users", "admin:servers", "tokens"],
                            "services": ["emx-admin"]}}]
c.JupyterHub.load_groups = {{"emx-class": {{"users": [{BEN!r}]}}}}
c.Spawner.cmd = [{os.path.join(VENV_BIN, "jupyterhub-singleuser")!r}]
c.Spawner.start_timeout = c.Spawner.http_timeout = 120
"""
        text += hubconf.config_source(
            # ada is in the class by name, ben through the hub group
            course_id=COURSE, root=self.store, instructors=[TEACH], students=[ADA],
            groups=["emx-class"],
            port=self.svc_port, user=SVC, python=_venv(), limits=LIMITS)
        path = os.path.join(self.workdir, "jupyterhub_config.py")
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def start(self):
        config = self.config()
        self.log = open(os.path.join(self.workdir, "hub.log"), "w")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen([os.path.join(VENV_BIN, "jupyterhub"), "-f", config],
                                     cwd=self.workdir, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                # the exchange answers 401 to a request without a token once it is up
                if requests.get(self.exchange + "api/whoami", timeout=2).status_code == 401:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("the hub or the exchange did not start:\n" + self.hub_log())

    def hub_log(self):
        with open(os.path.join(self.workdir, "hub.log")) as fh:
            return fh.read()[-4000:]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)  # the hub and the proxy and service it started
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        if self.proc:
            self.log.close()
        pidfile = os.path.join(self.workdir, "proxy.pid")
        if os.path.exists(pidfile):  # the proxy outlives the hub by design
            with open(pidfile) as fh:
                pid = fh.read()
            try:
                os.kill(int(pid), 15)
            except (ValueError, ProcessLookupError):
                pass

    def admin(self, method, path, **kw):
        resp = requests.request(method, self.api + path, timeout=30,
                                headers={"Authorization": f"token {self.admin_token}"}, **kw)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def token(self, user, scopes=None):
        """A token of ``user`` with the scopes of its single-user server's token."""
        scopes = hubconf.server_token_scopes() if scopes is None else scopes
        return self.admin("POST", f"/users/{user}/tokens",
                          json={"scopes": scopes, "note": "test"})["token"]

    def run(self, user, *args, cwd=None, check=True):
        """``args`` as ``user`` with the environment of their single-user server."""
        home = pwd.getpwnam(user).pw_dir
        env = {"HOME": home, "USER": user, "LANG": "C.UTF-8",
               "PATH": VENV_BIN + ":/usr/bin:/bin",
               "JUPYTERHUB_API_TOKEN": self.tokens[user], "JUPYTERHUB_API_URL": self.api,
               "JUPYTERHUB_USER": user, "JUPYTERHUB_BASE_URL": "/"}
        cmd = ["runuser", "-u", user, "--", "env", "-i",
               *[f"{k}={v}" for k, v in env.items()], *args]
        proc = subprocess.run(cmd, check=False, cwd=cwd or home, capture_output=True,
                              text=True, timeout=120)
        if check:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def call(self, token, method, path, **kw):
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.request(method, self.exchange + "api/" + path, headers=headers,
                                timeout=60, **kw)


@pytest.fixture(scope="module")
def hub(request):
    if _skip_reason():
        pytest.skip(_skip_reason())
    _venv()
    _install_course()
    workdir = tempfile.mkdtemp(prefix="emx-hub-")
    os.chmod(workdir, 0o755)  # the service's user must reach its store inside
    for user in (TEACH, ADA, BEN):
        _useradd(user)
    _useradd(SVC, home=False)
    h = Hub(workdir)

    def fin():
        h.stop()
        for user in (TEACH, ADA, BEN, SVC):
            userdel(user)
        shutil.rmtree(workdir, ignore_errors=True)

    request.addfinalizer(fin)
    h.start()
    for user in (TEACH, ADA, BEN):
        h.tokens[user] = h.token(user)
    # nbgrader's configuration: the students' (in their home, where their server starts) ...
    student_cfg = "c = get_config()\n" + hubconf.nbgrader_config_source(url=h.exchange,
                                                                      course_id=COURSE)
    for user in (ADA, BEN):
        _write(os.path.join(pwd.getpwnam(user).pw_dir, "nbgrader_config.py"),
               student_cfg, user)
    # ... and the instructor's course root, with the course's resubmission settings
    course = os.path.join(pwd.getpwnam(TEACH).pw_dir, "course")
    _write(os.path.join(course, "nbgrader_config.py"), student_cfg +
           "c.ExchangeCollect.update = True\nc.ExchangeCollect.before_duedate = True\n", TEACH)
    _write(os.path.join(course, "release", "hw1", "hw1.ipynb"), _notebook("released"), TEACH)
    for folder in (course, os.path.join(course, "release"),
                   os.path.join(course, "release", "hw1")):
        os.chown(folder, pwd.getpwnam(TEACH).pw_uid, pwd.getpwnam(TEACH).pw_gid)
    h.course = course
    return h


def _stamps(hub, student):
    resp = hub.call(hub.tokens[TEACH], "GET", "submissions/hw1", params={"student": student})
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def flow(hub):
    """Release, fetch, submit, resubmit, and a submission in a classmate's name."""
    hub.run(TEACH, "nbgrader", "release_assignment", "hw1", cwd=hub.course)
    ada_home = pwd.getpwnam(ADA).pw_dir
    hub.run(ADA, "nbgrader", "fetch_assignment", "hw1")
    _write(os.path.join(ada_home, "hw1", "hw1.ipynb"), _notebook("ada first"), ADA)
    hub.run(ADA, "nbgrader", "submit", "hw1")
    time.sleep(0.01)
    _write(os.path.join(ada_home, "hw1", "hw1.ipynb"), _notebook("ada second"), ADA)
    hub.run(ADA, "nbgrader", "submit", "hw1")
    ada_before = _stamps(hub, ADA)
    hub.run(BEN, "nbgrader", "fetch_assignment", "hw1")
    _write(os.path.join(pwd.getpwnam(BEN).pw_dir, "hw1", "hw1.ipynb"),
           _notebook("ben pretending to be ada"), BEN)
    ben = hub.run(BEN, "nbgrader", "submit", "hw1", f"--student={ADA}", check=False)
    return {"ada_before": ada_before, "ben": ben}


def test_fetch_submit_resubmit(hub, flow):
    subs = flow["ada_before"]
    assert [s["student_id"] for s in subs] == [ADA, ADA]
    assert subs[0]["timestamp"] < subs[1]["timestamp"]
    # the student sees their own submissions (the Assignment List's "submitted" section)
    out = hub.run(ADA, "nbgrader", "list", "--cached")
    assert out.stderr.count(f"{COURSE} {ADA} hw1") == 2, out.stderr


def test_submitting_as_a_classmate_files_it_under_oneself(hub, flow):
    assert flow["ben"].returncode == 0, flow["ben"].stderr
    assert "is ignored" in flow["ben"].stderr
    assert _stamps(hub, ADA) == flow["ada_before"]          # ada's submissions unchanged
    assert [s["student_id"] for s in _stamps(hub, BEN)] == [BEN]


def test_refused_without_a_valid_token(hub, flow):
    assert hub.call(None, "GET", "assignments").status_code == 401
    assert hub.call(secrets.token_hex(32), "GET", "assignments").status_code == 403
    assert hub.call(hub.admin_token, "GET", "assignments").status_code == 403  # a service
    # a real token of ada's without the exchange's scope (the hub's default server token)
    bare = hub.token(ADA, scopes=["users:activity!user", "access:servers!server"])
    resp = hub.call(bare, "POST", "submissions/hw1", data=encode({"x.ipynb": b"{}"}))
    assert resp.status_code == 403, resp.text
    assert _stamps(hub, ADA) == flow["ada_before"]


def test_students_cannot_release_collect_or_read_others(hub, flow):
    ben = hub.tokens[BEN]
    ada_stamp = flow["ada_before"][-1]["stamp"]
    checks = [
        ("PUT", "assignments/hw1?force=1", encode({"hw1.ipynb": b"planted"})),
        ("PUT", "assignments/hw9", encode({"hw9.ipynb": b"planted"})),
        ("DELETE", "assignments/hw1", None),
        ("GET", f"submissions/hw1/{ADA}/{ada_stamp}", None),
        ("GET", f"submissions/hw1?student={ADA}", None),
        ("GET", f"feedback/hw1/{ADA}/{ada_stamp}", None),
        ("PUT", f"feedback/hw1/{ADA}/{ada_stamp}", encode({"hw1.html": b"x"})),
    ]
    for method, path, body in checks:
        resp = hub.call(ben, method, path, data=body)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
    # the list a student gets holds only their own submissions
    own = hub.call(ben, "GET", "submissions/hw1").json()
    assert {s["student_id"] for s in own} == {BEN}
    assert hub.call(ben, "GET", "assignments/hw1").json()["files"][0]["path"] == "hw1.ipynb"
    # and the command line says so too
    out = hub.run(BEN, "nbgrader", "collect", "hw1", check=False)
    assert out.returncode != 0 and "not an instructor" in out.stderr, out.stderr


@pytest.mark.parametrize("files", [
    {"../escape.ipynb": b"x"}, {"/tmp/emx-abs.ipynb": b"x"}, {"a/../../b.ipynb": b"x"},
    {"a\\..\\b": b"x"}, {"": b"x"}, {"ok/./x": b"x"},
    {f"f{i}": b"x" for i in range(LIMITS.max_files + 1)},
    {"big.bin": b"\0" * (LIMITS.max_bytes + 1)},
], ids=["dotdot", "absolute", "inner-dotdot", "backslash", "empty", "dot", "count", "bytes"])
def test_bad_uploads_are_refused(hub, flow, files):
    before = _stamps(hub, ADA)
    try:
        status = hub.call(hub.tokens[ADA], "POST", "submissions/hw1",
                          data=encode(files)).status_code
    except requests.RequestException:  # the server may close on an oversized body
        status = "closed"
    assert status in (400, "closed"), status
    assert _stamps(hub, ADA) == before
    assert not os.path.exists("/tmp/emx-abs.ipynb")
    assert not os.path.exists(os.path.join(hub.store, "escape.ipynb"))


def test_oversized_body_is_refused(hub, flow):
    """A body over the bound is cut off by the service before it is read in full."""
    before = _stamps(hub, ADA)
    body = b'{"files": [{"path": "x", "content": "' + b"A" * (LIMITS.max_body + 10) + b'"}]}'
    direct = f"http://127.0.0.1:{hub.svc_port}/services/{hubconf.SERVICE_NAME}/api/"
    try:
        status = requests.post(direct + "submissions/hw1", data=body, timeout=60, headers={
            "Authorization": f"token {hub.tokens[ADA]}"}).status_code
    except requests.RequestException:
        status = "closed"
    assert status in (400, 413, "closed"), status
    # through the hub's proxy: the service's refusal, when it reaches the proxy before the
    # upload ends, or else the closed connection as a 503 (or a cut response)
    try:
        status = hub.call(hub.tokens[ADA], "POST", "submissions/hw1", data=body).status_code
    except requests.RequestException:
        status = "closed"
    assert status in (400, 413, 503, "closed"), status
    assert _stamps(hub, ADA) == before


def test_store_is_private_to_the_service(hub, flow):
    st = os.stat(hub.store)
    assert pwd.getpwuid(st.st_uid).pw_name == SVC and stat.S_IMODE(st.st_mode) == 0o700
    proc = hub.run(BEN, "ls", hub.store, check=False)
    assert proc.returncode != 0 and "Permission denied" in proc.stderr


def test_collect_and_feedback(hub, flow):
    hub.run(TEACH, "nbgrader", "collect", "hw1", cwd=hub.course)
    submitted = os.path.join(hub.course, "submitted")
    assert sorted(os.listdir(submitted)) == [ADA, BEN]
    teach = pwd.getpwnam(TEACH).pw_uid
    expected = {ADA: "ada second", BEN: "ben pretending to be ada"}
    for student, text in expected.items():
        folder = os.path.join(submitted, student, "hw1")
        with open(os.path.join(folder, "hw1.ipynb")) as fh:
            assert json.load(fh)["cells"][0]["source"] == text
        for dirpath, _, filenames in os.walk(os.path.join(submitted, student)):
            st = os.stat(dirpath)
            assert st.st_uid == teach and stat.S_IMODE(st.st_mode) == 0o755, dirpath
            for name in filenames:
                st = os.stat(os.path.join(dirpath, name))
                assert st.st_uid == teach and stat.S_IMODE(st.st_mode) == 0o644, name
    with open(os.path.join(submitted, ADA, "hw1", "timestamp.txt")) as fh:
        ada_ts = fh.read()
    assert ada_ts == flow["ada_before"][-1]["timestamp"]
    # feedback for ada's graded submission, released through the service
    fb = os.path.join(hub.course, "feedback", ADA, "hw1")
    _write(os.path.join(fb, "hw1.html"), "<p>ada: 7/10</p>", TEACH)
    _write(os.path.join(fb, "timestamp.txt"), ada_ts, TEACH)
    for folder in (os.path.join(hub.course, "feedback"), os.path.dirname(fb), fb):
        os.chown(folder, teach, pwd.getpwnam(TEACH).pw_gid)
    hub.run(TEACH, "nbgrader", "release_feedback", "hw1", cwd=hub.course)
    out = hub.run(ADA, "nbgrader", "list", "--cached")
    assert "feedback ready to be fetched" in out.stderr, out.stderr
    hub.run(ADA, "nbgrader", "fetch_feedback", "hw1")
    got = os.path.join(pwd.getpwnam(ADA).pw_dir, "hw1", "feedback", ada_ts, "hw1.html")
    with open(got) as fh:
        assert fh.read() == "<p>ada: 7/10</p>"
    # ben gets none of it: not by fetch_feedback, not by asking for ada's
    hub.run(BEN, "nbgrader", "fetch_feedback", "hw1")
    assert not os.path.exists(os.path.join(pwd.getpwnam(BEN).pw_dir, "hw1", "feedback"))
    stamp = flow["ada_before"][-1]["stamp"]
    assert hub.call(hub.tokens[BEN], "GET", f"feedback/hw1/{ADA}/{stamp}").status_code == 403


# -- the bounds themselves, without a hub ----------------------------------------------------
@pytest.mark.parametrize("path", ["../a", "/etc/passwd", "a/../../b", "a//b", "a/./b", "",
                                  "a\\b", "a\x00b", "x" * 300, "/".join("a" * 9)])
def test_check_path_refuses(path):
    with pytest.raises(ValueError, match="path"):
        check_path(path)


def test_decode_and_write_folder(tmp_path):
    files = {"hw1.ipynb": b"{}", "data/x.csv": b"1,2"}
    assert decode(encode(files)) == files
    with pytest.raises(ValueError, match="both a file and a folder"):
        decode(encode({"a": b"", "a/b": b""}))
    with pytest.raises(ValueError, match="not JSON"):
        decode(b"\xff")
    with pytest.raises(TypeError, match="max_bytes"):
        Limits(max_bytes="1")
    os.umask(0o000)
    try:
        write_folder(files, str(tmp_path / "out"))
    finally:
        os.umask(0o022)
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "data").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "data" / "x.csv").st_mode) == 0o644
    with pytest.raises(FileExistsError):
        write_folder(files, str(tmp_path / "out"))


def test_course_config_takes_the_site_exchange(tmp_path):
    """The repository's nbgrader_config.py loads nbgrader_config_site.py last: with it, collect
    is the hub's (keeping the course's update/before_duedate); without it, the course's own."""
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    probe = ("from nbgrader.apps import NbGrader; app = NbGrader(); "
             "app.config_file_paths.append('.'); app.load_config_file(); "
             "f = app.config.ExchangeFactory; e = app.config.ExchangeCollect; "
             "print(f.collect, f.submit, e['update'], e['before_duedate'])")

    def loaded():
        return subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT}).stdout.split()

    assert loaded()[0] == "emcourse_grader.resubmit.ResubmitCollect"
    (tmp_path / "nbgrader_config_site.py").write_text(
        "c = get_config()\n" + hubconf.nbgrader_config_source(
            url="http://127.0.0.1:8000/services/emcourse-exchange/", course_id="emcourse"))
    assert loaded() == [hubconf.EXCHANGE_CLASSES["collect"], hubconf.EXCHANGE_CLASSES["submit"],
                        "True", "True"]


def test_a_real_single_user_server(hub, flow):
    """The hub starts ada's server: its own $JUPYTERHUB_API_TOKEN reaches the exchange as
    ada (the configured server token scopes), and nbgrader's Assignment List in that server
    lists the release and ada's two submissions through the hub exchange."""
    hub.admin("POST", f"/users/{ADA}/server")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            server = hub.admin("GET", f"/users/{ADA}")["servers"].get("", {})
            if server.get("ready"):
                break
            time.sleep(1)
        else:
            raise AssertionError("ada's server did not start:\n" + hub.hub_log())
        with open(f"/proc/{server['state']['pid']}/environ", "rb") as fh:
            env = dict(item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item)
        token = env[b"JUPYTERHUB_API_TOKEN"].decode()
        me = hub.call(token, "GET", "whoami")
        assert me.status_code == 200 and me.json()["name"] == ADA, me.text
        resp = requests.get(f"{hub.url}/user/{ADA}/assignments", timeout=120,
                            params={"course_id": COURSE},
                            headers={"Authorization": f"token {token}"})
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["success"], answer
        by_status = {}
        for item in answer["value"]:
            by_status.setdefault(item["status"], []).append(item)
        assert [a["assignment_id"] for a in by_status["fetched"]] == ["hw1"]
        [submitted] = by_status["submitted"]
        assert submitted["student_id"] == ADA and len(submitted["submissions"]) == 2
        courses = requests.get(f"{hub.url}/user/{ADA}/courses", timeout=120,
                               headers={"Authorization": f"token {token}"}).json()
        assert courses == {"success": True, "value": [COURSE]}
        # Submit, as the Assignment List's button does
        resp = requests.post(f"{hub.url}/user/{ADA}/assignments/submit", timeout=120,
                             data={"course_id": COURSE, "assignment_id": "hw1"},
                             headers={"Authorization": f"token {token}"})
        assert resp.status_code == 200 and resp.json()["success"], resp.text
        assert len(_stamps(hub, ADA)) == 3
    finally:
        hub.admin("DELETE", f"/users/{ADA}/server")
