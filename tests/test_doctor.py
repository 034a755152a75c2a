"""``python -m emcourse_grader doctor``: it fails on the layout the old docs described (course
root and homes open, an exchange anyone can rewrite, check_owner off, an editable install in
the students' environment, collected files others can write, no gradebook) and passes once
each is fixed as its message says.

The findings are judged against the files' real modes and owners, made here with chmod and
chown, a real venv for the students' interpreter, and a real gradebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import demo_class

from emcourse_grader import course as manifest
from emcourse_grader import doctor

HWS = [a.id for a in manifest.load(ROOT).assignments]


def _student_python(base: Path, dist: str, editable: bool) -> str:
    """A real venv (no pip) whose site-packages holds one distribution's metadata, as pip
    leaves it: ``editable`` writes the direct_url.json of ``pip install -e``."""
    venv.create(base, with_pip=False)
    py = base / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    info = Path(site) / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    url = {"url": f"file://{ROOT}", "dir_info": {"editable": True}} if editable else \
        {"url": "file:///tmp/emcourse_student-0.1.0-py3-none-any.whl", "archive_info": {}}
    (info / "direct_url.json").write_text(json.dumps(url))
    return str(py)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A course copy with its own filesystem exchange and one student's home and venv, laid
    out as the old docs said."""
    base = tmp_path_factory.mktemp("doctor")
    course = demo_class.copy_course(base / "course")
    exchange = base / "exchange"
    (exchange / "emcourse" / "inbound").mkdir(parents=True)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n"
                "c.ExchangeCollect.check_owner = False\n")
    hidden = course / ".emcourse"  # the checks' secret, made readable by all
    hidden.mkdir()
    (hidden / "secret").write_text("x" * 32)
    home = base / "home" / "alice"
    home.mkdir(parents=True)
    sub = course / "submitted" / "alice" / "hw1"
    sub.mkdir(parents=True)
    (sub / "hw1.ipynb").write_text("{}")
    for path, mode in ((base, 0o755), (course, 0o755), (exchange, 0o777),
                       (exchange / "emcourse", 0o777), (exchange / "emcourse" / "inbound", 0o777),
                       (home, 0o755), (sub / "hw1.ipynb", 0o666), (hidden, 0o755),
                       (hidden / "secret", 0o644)):
        path.chmod(mode)
    return {"course": course, "exchange": exchange, "home": home, "sub": sub,
            "editable": _student_python(base / "venv-old", "emcourse", editable=True),
            "student": _student_python(base / "venv-new", "emcourse-student", editable=False)}


def _unsafe(findings) -> str:
    return "\n".join(f"{f.level}: {f.what}" for f in findings if f.level in ("unsafe", "broken"))


def test_the_old_layout_fails_with_each_problem_named(deployment, monkeypatch):
    d = deployment
    monkeypatch.delenv("EMCOURSE_SECRET", raising=False)  # the course's own secret file
    findings = doctor.audit(d["course"], student_pythons=[d["editable"]], homes=[d["home"]],
                            other_users=["alice", "bob"])
    text = _unsafe(findings)
    expected = [
        f"the course root {d['course']} is open to every user",
        "check_owner is False",
        "trusts Unix permissions only",
        f"{d['exchange']} is writable by everyone without the sticky bit",
        f"{d['exchange'] / 'emcourse' / 'inbound'} is writable by everyone without",
        f"the home folder {d['home']} is open to other users",
        "has the course as an editable install",
        "collected file(s) under",
        "no gradebook at",
        f"{d['course'] / '.emcourse' / 'secret'} is open to others",
    ]
    for phrase in expected:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    assert doctor.failed(findings)
    assert all(f.fix for f in findings if f.level in ("unsafe", "broken"))
    # The command itself exits 1 and prints the same problems.
    proc = subprocess.run([sys.executable, "-m", "emcourse_grader", "doctor", "--root",
                           str(d["course"]), "--student-python", d["editable"]],
                          capture_output=True, text=True, check=False, cwd=d["course"],
                          env={k: v for k, v in os.environ.items() if k != "EMCOURSE_SECRET"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "UNSAFE" in proc.stdout and "has the course as an editable install" in proc.stdout


def test_the_fixed_layout_passes(deployment, monkeypatch):
    """Each fix as the findings printed it: the audit then finds nothing unsafe or broken."""
    d = deployment
    monkeypatch.delenv("EMCOURSE_SECRET", raising=False)
    # The gradebook runs alembic from this interpreter's bin/.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    from nbgrader.api import Gradebook

    course, exchange = d["course"], d["exchange"]
    config = (course / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(
        config.replace("c.ExchangeCollect.check_owner = False\n", ""))
    for path in (exchange, exchange / "emcourse", exchange / "emcourse" / "inbound"):
        path.chmod(0o1777)
    course.chmod(0o700)
    (course / ".emcourse").chmod(0o700)
    (course / ".emcourse" / "secret").chmod(0o600)
    d["home"].chmod(0o700)
    (d["sub"] / "hw1.ipynb").chmod(0o644)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for hw in HWS:
            gb.update_or_create_assignment(hw)
    findings = doctor.audit(course, student_pythons=[d["student"]], homes=[d["home"]],
                            other_users=[])
    assert not doctor.failed(findings), _unsafe(findings)


def test_a_collected_file_owned_by_a_student_is_unsafe(deployment, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    d = deployment
    planted = d["sub"] / "timestamp.txt"
    planted.write_text("2026-12-06 10:00:00")
    os.chown(planted, 12345, 12345)
    try:
        findings = doctor.check_submissions(d["course"])
        assert doctor.failed(findings)
        assert str(planted) in _unsafe(findings)
    finally:
        planted.unlink()
    link = d["sub"] / "other.ipynb"
    link.symlink_to(d["course"] / "gradebook.db")
    try:
        assert "a symbolic link" in _unsafe(doctor.check_submissions(d["course"]))
    finally:
        link.unlink()


def test_the_hub_exchange_is_not_the_filesystem_s_hole():
    """With the hub's exchange classes configured, other accounts on the machine are no
    reason for alarm; with nbgrader's filesystem exchange they are."""
    from traitlets.config import Config

    hub = Config()
    for op, cls in (("submit", "submit.HubSubmit"), ("collect", "collect.HubCollect"),
                    ("fetch_assignment", "fetch.HubFetchAssignment")):
        hub.ExchangeFactory[op] = f"emcourse_exchange.{cls}"
    found = doctor.check_exchange(hub, "emcourse", os.getuid(), other_users=["alice"])
    assert not doctor.failed(found) and "the hub's" in found[0].what
    found = doctor.check_exchange(Config(), "emcourse", os.getuid(), other_users=["alice"])
    assert "trusts Unix permissions only" in _unsafe(found)


# --------------------------------------------------------------------------------------------
# The Formgrader (the real one, behind a real hub, is checked in tests/test_hub.py)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pages():
    """A stand-in Jupyter server: /ok/formgrader is nbgrader's page, /outside/formgrader its
    "not a subdirectory" page, /login/formgrader redirects to the hub's login."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            if self.path.startswith("/login/"):
                self.send_response(302)
                self.send_header("Location", "/hub/login?next=/login/formgrader")
                self.end_headers()
                return
            if self.path == "/hub/login?next=/login/formgrader":
                body = b"<title>JupyterHub</title> Sign in"
            elif self.path == "/ok/formgrader":
                body = b"<title>Formgrader</title><div id='formgrader'>Manage Assignments</div>"
            elif self.path == "/outside/formgrader":
                body = (b"<title>Formgrader</title> course directory root /srv/course is not a "
                        b"subdirectory of the notebook server root /home/x")
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def _levels(findings):
    return [(f.level, f.what) for f in findings]


def test_formgrader_answering_is_ok_and_the_token_is_sent(pages):
    base, seen = pages
    found = doctor.check_formgrader(ROOT, server_url=f"{base}/ok/", token="t0k", env={})
    assert [f.level for f in found] == ["ok", "ok"], _levels(found)
    assert seen[-1] == "token t0k"


@pytest.mark.parametrize("where, phrase", [
    ("outside", "cannot open the course"),
    ("login", "not its page"),
    ("missing", "answered 404"),
])
def test_formgrader_problems_are_broken_with_a_fix(pages, where, phrase):
    base, _ = pages
    found = doctor.check_formgrader(ROOT, server_url=f"{base}/{where}/", token="", env={})
    bad = [f for f in found if f.level == "broken"]
    assert len(bad) == 1 and phrase in bad[0].what, _levels(found)
    assert "notebook_dir" in bad[0].fix
    assert doctor.failed(found)


def test_formgrader_url_from_a_hub_terminal(pages):
    """In a terminal of the instructor's server the hub's variables name the server."""
    base, seen = pages
    env = {"JUPYTERHUB_API_URL": f"{base}/hub/api", "JUPYTERHUB_USER": "ok",
           "JUPYTERHUB_API_TOKEN": "hub-token"}
    assert doctor._server_url(env) == f"{base}/user/ok/"
    env["JUPYTERHUB_SERVICE_URL"] = f"{base}/ok/"
    found = doctor.check_formgrader(ROOT, env=env)
    assert not doctor.failed(found) and seen[-1] == "token hub-token", _levels(found)
    unreachable = doctor.check_formgrader(ROOT, server_url="http://127.0.0.1:9/", env={})
    assert "does not answer" in _levels(unreachable)[-1][1]


def test_formgrader_extension_disabled_is_broken(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Config dir: /etc/jupyter'\n"
                    "echo '    nbgrader.server_extensions.formgrader disabled'\n")
    fake.chmod(0o755)
    found = doctor.check_formgrader(ROOT, python=str(fake), env={})
    assert [f.level for f in found] == ["broken"]
    assert "enable --sys-prefix nbgrader.server_extensions.formgrader" in found[0].fix
