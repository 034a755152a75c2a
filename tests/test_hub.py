"""The trial class `make hub` builds, used and then attacked, for real (scripts/hub.py).

The module's fixture runs ``scripts/hub.py up`` (JupyterHub as root with PAM and
LocalProcessSpawner, Unix accounts, the private course root, the two venvs, the filesystem
exchange) and ``down`` in a finalizer, even when a test fails. Then, in order:

1. ``doctor`` as the instructor: nothing unsafe (the exchange is the hub's: students reach
   it with their hub token only, and submitting in a classmate's name files it as one's own).
2. A student logs in through the hub's login page in Chromium; their JupyterLab loads, as
   their own Unix user, with the student menu (Assignment List, no Formgrader).
3. The class: the instructor releases hw1 (as their Unix user, from the course root, with
   their venv); the students fetch and submit as their own users with the student venv, one
   resubmits; the instructor collects, grades with ``python -m emcourse_grader grade hw1
   --workers 1``, generates and releases feedback; a student fetches and reads it.
4. Attacks from a shell running as a student (``runuser``): read the solutions, the hidden
   checks, the gradebook, a classmate's submission and home; rename or replace the
   exchange's course folder, a released assignment, a classmate's inbound submission; rewrite
   or replace a collected submission; call a classmate's Jupyter server straight on its
   port (list their files, open a terminal). Each must be refused by the OS, and the instructor's files must
   be byte for byte the same afterwards.
5. With their own hub token a student asks the exchange service for a classmate's feedback
   and submission (through the hub's proxy and straight to the service's port), and probes
   every port of the grader's Dask cluster (the one ``grade`` starts) while it runs: all
   refused, and the cluster still runs the instructor's tasks afterwards.
6. ``doctor`` reaches the Formgrader on the instructor's server (started through the hub's
   REST API, from the course root with the grader's venv).
7. The grading service (``python -m emcourse_grader serve``, a hub service as the
   instructor): a student submits hw2 from their Lab in Chromium and reads their graded
   feedback, and the service's page says so, with no instructor command after the release.
8. ``down``: the accounts and folders are gone; ``down`` again is fine.

Skipped, saying why, when not root or when npm, Chromium, the system Python's venv or
jupyterhub (the ``hub`` extra) is missing. The first run builds the venvs (minutes; they are
cached by scripts/hub.py); later runs take about three minutes on two loaded cores.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "scripts" / "hub.py"
sys.path.insert(0, str(ROOT / "tests"))
import browser as browser_tools  # tests/browser.py, the shared Chromium

HW = "hw1"
TIMEOUT_MS = 120_000


def _why_skip() -> str | None:
    if os.geteuid() != 0:
        return "make hub needs root (PAM logins, useradd): run the tests as root"
    if not shutil.which("npm"):
        return "npm is missing (configurable-http-proxy): apt-get install npm"
    if browser_tools.CHROMIUM is None:
        return "Debian's chromium is not installed (make system installs it)"
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed: pip install -e '.[hub]' (make does)"
    if subprocess.run(["/usr/bin/python3", "-c", "import venv, ensurepip"],
                      capture_output=True, check=False).returncode:
        return "/usr/bin/python3 cannot make venvs: apt-get install python3-venv"
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))

sys.path.insert(0, str(ROOT / "scripts"))
import demo_class
import hub as hub_script

NOTEBOOK = demo_class.ASSIGNMENTS[HW]
AUTO_POINTS = demo_class.EXPECTED[HW]["ada"]


def _hub(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HUB), command], capture_output=True,
                          text=True, timeout=1800, check=False)


@pytest.fixture(scope="module")
def hub(request):
    request.addfinalizer(lambda: _hub("down"))
    res = _hub("up")
    assert res.returncode == 0, f"make hub failed:\n{res.stdout}\n{res.stderr[-5000:]}"
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path == hub_script.HUB_JSON
    return json.loads(path.read_text())


def as_user(info: dict, user: str, *cmd, cwd=None, check=True) -> str:
    """``cmd`` as ``user`` (runuser) with their own venv first on PATH and what a terminal
    of their Jupyter server has (their hub token: the exchange knows them by it)."""
    venv = info["instructor_venv"] if user == info["instructor"]["name"] else \
        info["student_venv"]
    home = pwd.getpwnam(user).pw_dir
    return hub_script.run(*cmd, user=user, cwd=cwd or home, check=check,
                          env_path=f"{venv}/bin:/usr/bin:/bin",
                          env=hub_script.server_env(info, user))


def instructor(info, *cmd, check=True) -> str:
    return as_user(info, info["instructor"]["name"], *cmd, cwd=info["course_root"],
                   check=check)


def students(info) -> list[str]:
    return [s["name"] for s in info["students"]]


# The grading service rewrites its status page on every poll, stamped with the time and with
# how long each queued submission has waited: those two change with the clock alone.
_CLOCK = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.|<td>\d+ s</td>")


def tree_digest(*folders) -> dict:
    """Relative path -> sha256 (or the link target, or "dir") of everything under folders;
    the service's status page without its clock (any other change to it still shows)."""
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            out[dirpath] = f"dir {oct(os.stat(dirpath).st_mode)}"
            for name in filenames:
                p = Path(dirpath) / name
                data = p.read_bytes()
                if name == "status.html" and p.parent.name == "serve":
                    data = _CLOCK.sub(b"<clock>", data)
                out[str(p)] = hashlib.sha256(data).hexdigest()
    return out


# --------------------------------------------------------------------------------------------

def _hub_api(hub, method: str, path: str, token: str | None = None):
    import urllib.request

    req = urllib.request.Request(f"{hub['url']}/hub/api{path}", method=method,
                                 headers={"Authorization": f"token {token or hub['admin_token']}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
        return r.status, json.loads(body) if body else None


@pytest.fixture(scope="module")
def instructor_server(hub) -> str:
    """The instructor's Jupyter server, started through the hub's REST API as their login
    would (from the course root, with the grader's venv): where doctor finds the Formgrader."""
    import time

    name = hub["instructor"]["name"]
    _hub_api(hub, "POST", f"/users/{name}/server")
    deadline = time.monotonic() + 240
    while True:
        _, user = _hub_api(hub, "GET", f"/users/{name}")
        server = (user.get("servers") or {}).get("", {})
        if server.get("ready"):
            return f"{hub['url']}{server['url']}"
        assert time.monotonic() < deadline, f"the instructor's server did not start: {user}"
        time.sleep(1)


def _doctor(hub) -> list:
    """doctor's findings, run as the instructor from a shell with their server's variables."""
    out = instructor(hub, "python", "-m", "emcourse_grader", "doctor", "--json",
                     "--student-python", f"{hub['student_venv']}/bin/python", check=False)
    return json.loads(out[out.index("["):])


def _doctor_problems(hub) -> list:
    """doctor's unsafe or broken findings, but for the homes of accounts this machine had
    before the class (not ours to change)."""
    ours = {pwd.getpwnam(n).pw_dir for n in [hub["instructor"]["name"], *students(hub)]}
    return [f for f in _doctor(hub) if f["level"] in ("unsafe", "broken")
            and not (f["what"].startswith("the home folder ")
                     and f["what"].split()[3] not in ours)]


def test_doctor_finds_nothing_unsafe(hub, instructor_server):
    assert hub["exchange"] is None  # the hub's exchange: nothing on disk for students
    bad = _doctor_problems(hub)
    assert not bad, json.dumps(bad, indent=1)


def test_doctor_reaches_the_formgrader(hub, instructor_server):
    """The instructor's server runs from the course root with the grader's venv: doctor
    opens its Formgrader page through the hub, with the instructor's token."""
    found = [f["what"] for f in _doctor(hub) if f["level"] == "ok"]
    page = f"{hub['url']}/user/{hub['instructor']['name']}/formgrader"
    assert f"the Formgrader answers at {page}" in found, found


def _lab_page(browser, hub, student: dict):
    """A new page of ``browser`` where ``student`` has logged in on the hub's login page
    and their JupyterLab has loaded."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{hub['url']}/hub/login")
    page.fill("#username_input", student["name"])
    page.fill("#password_input", student["password"])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{student['name']}/lab**")
    page.locator("#jp-main-dock-panel").wait_for()
    return page


@pytest.fixture(scope="module")
def lab(hub) -> dict:
    """The first student logs in on the hub's login page in Chromium; what their Lab showed
    and the command lines of their processes (their server keeps running)."""
    student = hub["students"][0]
    seen = {}
    with browser_tools.launched() as browser:
        page = _lab_page(browser, hub, student)
        page.get_by_role("menuitem", name="Nbgrader").click()
        page.get_by_role("menuitem", name="Assignment List").wait_for()
        seen["formgrader items"] = page.get_by_role("menuitem", name="Formgrader").count()
    uid = pwd.getpwnam(student["name"]).pw_uid
    seen["cmdlines"] = []
    for pid in hub_script._pids_of({uid}):
        try:
            seen["cmdlines"].append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:
            pass
    return seen


def test_student_logs_in_through_the_hub_in_chromium(hub, lab):
    assert lab["formgrader items"] == 0  # the student menu: Assignment List, no Formgrader
    # the server runs as the student (uid), from the student venv
    assert any(f"{hub['student_venv']}/bin/jupyterhub-singleuser".encode() in c
               for c in lab["cmdlines"]), lab["cmdlines"]


def _answer(hub, student: str, recipe: str) -> None:
    """Fill the student's fetched notebook (as root, then given back to them)."""
    home = Path(pwd.getpwnam(student).pw_dir)
    nb = home / HW / f"{NOTEBOOK}.ipynb"
    demo_class.fill_notebook(nb, ROOT / "solutions" / HW / f"{NOTEBOOK}.ipynb", recipe, HW)
    shutil.chown(nb, student, student)


def _score(hub, student: str) -> float:
    out = instructor(hub, "python", "-c",
                     "import sys; from nbgrader.api import Gradebook\n"
                     "with Gradebook('sqlite:///gradebook.db') as gb:\n"
                     f"    print(gb.find_submission({HW!r}, sys.argv[1]).score)", student)
    return float(out.strip())


@pytest.fixture(scope="module")
def graded(hub) -> dict:
    """The class of docs/teaching.md, each command as its Unix user: release, fetch, submit
    (ada twice), collect, grade, feedback; returns the scores and ada's feedback page."""
    ada, ben, cy = students(hub)
    instructor(hub, "nbgrader", "release_assignment", HW)
    for s in (ada, ben, cy):
        as_user(hub, s, "nbgrader", "fetch_assignment", HW)
    as_user(hub, ada, "nbgrader", "submit", HW)            # ada: the release as it is ...
    _answer(hub, ben, "solution")
    as_user(hub, ben, "nbgrader", "submit", HW)
    as_user(hub, cy, "nbgrader", "submit", HW)
    _answer(hub, ada, "solution")
    as_user(hub, ada, "nbgrader", "submit", HW)            # ... then her answers
    instructor(hub, "nbgrader", "collect", HW)
    instructor(hub, "python", "-m", "emcourse_grader", "grade", HW, "--workers", "1")
    scores = {s: _score(hub, s) for s in (ada, ben, cy)}
    instructor(hub, "nbgrader", "generate_feedback", HW)
    instructor(hub, "nbgrader", "release_feedback", HW)
    as_user(hub, ada, "nbgrader", "fetch_feedback", HW)
    # read as ada, with her own permissions
    found = as_user(hub, ada, "find", f"{HW}/feedback", "-name", f"{NOTEBOOK}.html")
    html = as_user(hub, ada, "cat", found.splitlines()[0]) if found.strip() else ""
    return {"scores": scores, "feedback": html}


def test_class_fetch_submit_resubmit_grade_feedback(hub, graded):
    ada, ben, cy = students(hub)
    assert graded["scores"] == {ada: AUTO_POINTS, ben: AUTO_POINTS, cy: 0}  # ada's resubmission
    assert graded["feedback"], "ada fetched no feedback"
    assert f"{AUTO_POINTS:g}" in graded["feedback"] and NOTEBOOK in graded["feedback"]


ATTACK = r'''
import json, os, sqlite3, sys, urllib.error, urllib.request
t = json.loads(sys.argv[1])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
def server(path, data=None):
    """ada's Jupyter server, straight to its port (no hub cookie, no token)."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"http://127.0.0.1:{t['port']}/user/{t['ada']}/{path}", data=data,
                    timeout=30).read()
    except urllib.error.HTTPError as exc:
        if exc.code in (302, 401, 403):
            raise PermissionError(f"HTTP {exc.code}") from None
        raise
def read(p):
    with open(p, "rb") as f:
        f.read()
def write(p):
    with open(p, "w") as f:
        f.write("{}")
def gradebook(p):
    sqlite3.connect(f"file:{p}?mode=ro", uri=True).execute("select * from grade").fetchall()
def replace(p):
    write(p + ".new")
    os.replace(p + ".new", p)
def plant(folder):
    fake = folder + ".planted"
    os.makedirs(fake + "/outbound/hw1", exist_ok=True)
    os.rename(folder, folder + ".old")  # the sticky bit must refuse this
    os.rename(fake, folder)
attacks = {
    "list the course root": lambda: os.listdir(t["course"]),
    "read the solutions": lambda: read(t["solution"]),
    "read the gradebook with sqlite3": lambda: gradebook(t["gradebook"]),
    "read a classmate's collected submission": lambda: read(t["collected"]),
    "rewrite a classmate's collected submission": lambda: write(t["collected"]),
    "replace a classmate's collected submission": lambda: replace(t["collected"]),
    "write a newer timestamp.txt into a collected submission": lambda: write(t["timestamp"]),
    "read the hidden checks in the instructor's venv": lambda: read(t["checks"]),
    "list a classmate's home": lambda: os.listdir(t["home"]),
    "read a classmate's notebook": lambda: read(t["home_nb"]),
    "rename the exchange's course folder and plant a fake one": lambda: plant(t["xcourse"]),
    "replace the released notebook": lambda: write(t["released"]),
    "add an assignment to outbound": lambda: os.mkdir(t["xcourse"] + "/outbound/hw9"),
    "list the inbound submissions": lambda: os.listdir(t["xcourse"] + "/inbound"),
    "rename a classmate's inbound submission": lambda: os.rename(t["inbound"], t["inbound"] + "x"),
    "list the released feedback": lambda: os.listdir(t["xcourse"] + "/feedback"),
    "list a classmate's files through their server": lambda: server("api/contents"),
    "open a terminal on a classmate's server": lambda: server("api/terminals", data=b"{}"),
}
out = {}
for name, attack in attacks.items():
    try:
        attack()
        out[name] = "succeeded"
    except (PermissionError, sqlite3.OperationalError) as exc:
        out[name] = "refused: " + repr(exc)
    except Exception as exc:
        out[name] = "other: " + repr(exc)
print(json.dumps(out))
'''


def _listening_port(uid: int) -> int:
    """The TCP port a process of ``uid`` listens on (their Jupyter server), from /proc."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[7]) == uid:  # LISTEN, owned by uid
            return int(fields[1].split(":")[1], 16)
    raise AssertionError(f"no listening socket of uid {uid}: is their server running?")


def test_attacks_from_a_student_shell_fail(hub, graded, lab):
    ada, ben, _ = students(hub)
    course = Path(hub["course_root"])
    # The hub exchange's storage, which only its service account may enter: every path in
    # it is refused to a student before anything is looked up.
    xcourse = hub_script.BASE / "exchange-store"
    collected = course / "submitted" / ada / HW
    inbound = [xcourse / "submitted" / HW / ada]
    checks = next(Path(hub["instructor_venv"]).glob(
        "lib/python3*/site-packages/emcourse_grader/checks/__init__.py"))
    targets = {
        "course": str(course), "solution": str(course / "solutions" / HW / f"{NOTEBOOK}.ipynb"),
        "gradebook": str(course / "gradebook.db"),
        "collected": str(collected / f"{NOTEBOOK}.ipynb"),
        "timestamp": str(collected / "timestamp.txt"), "checks": str(checks),
        "home": pwd.getpwnam(ada).pw_dir,
        "home_nb": f"{pwd.getpwnam(ada).pw_dir}/{HW}/{NOTEBOOK}.ipynb",
        "xcourse": str(xcourse), "released": str(xcourse / "released" / HW / f"{NOTEBOOK}.ipynb"),
        "inbound": str(inbound[-1]),
    }
    targets["ada"], targets["port"] = ada, _listening_port(pwd.getpwnam(ada).pw_uid)
    watched = (course, xcourse, Path(pwd.getpwnam(ada).pw_dir))
    before = tree_digest(*watched)
    out = hub_script.run("/usr/bin/python3", "-c", ATTACK, json.dumps(targets), user=ben,
                         cwd=pwd.getpwnam(ben).pw_dir)
    results = json.loads(out)
    assert len(results) == 18
    not_refused = {k: v for k, v in results.items() if not v.startswith("refused")}
    assert not not_refused, json.dumps(results, indent=1)
    assert tree_digest(*watched) == before


# What a student tries against the rest of the deployment, with what a terminal of theirs
# has: their hub token ($JUPYTERHUB_API_TOKEN) and the system Python (no Dask needed: the
# grader's cluster refuses at the TLS handshake, before any Dask message).
REACH = r'''
import json, os, socket, ssl, sys, urllib.error, urllib.request
t = json.loads(sys.argv[1])
out = {}
def http(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return f"succeeded {r.status}: {r.read(200)!r}"
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # a login page is not the page asked for
            return f"redirected {exc.code} {exc.msg}"
        return f"refused {exc.code}"
    except OSError as exc:
        return f"refused: {exc!r}"
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(newurl, code, f"to {newurl}", headers, fp)
urllib.request.install_opener(urllib.request.build_opener(NoRedirect))
me = os.environ["JUPYTERHUB_API_TOKEN"]
# a classmate's feedback and submission, through the hub's proxy and straight to the port
for name, base in (("proxy", t["proxy"]), ("port", t["direct"])):
    for what in (f"feedback/hw1/{t['ada']}/{t['stamp']}", f"submissions/hw1/{t['ada']}/{t['stamp']}",
                 f"submissions/hw1?student={t['ada']}"):
        out[f"{name} {what} with my token"] = http(f"{base}/api/{what}", me)
        out[f"{name} {what} without a token"] = http(f"{base}/api/{what}")
# the grading service's live page (the instructor's), through the proxy and straight to
# the service's port, with and without a token
for name, base in (("grader proxy", t["grader"]), ("grader port", t["grader_direct"])):
    out[f"{name} instructor page with my token"] = http(f"{base}instructor", me)
    out[f"{name} instructor page without a token"] = http(f"{base}instructor")
# the grader's Dask cluster, every port it listens on
for addr in t["dask"]:
    host, port = addr.split("://", 1)[1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.settimeout(5)
            s.sendall(b"\x00" * 32)
            data = s.recv(64)
        out[f"plain {addr}"] = "refused: closed" if not data else (
            "refused: TLS alert" if data[0] == 0x15 else f"answered {data[:16]!r}")
    except OSError as exc:
        out[f"plain {addr}"] = f"refused: {exc!r}"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, int(port)), timeout=5) as raw, \
                ctx.wrap_socket(raw) as s:
            data = s.recv(64)
        out[f"tls {addr}"] = f"answered {data[:16]!r}" if data else "refused: closed"
    except OSError as exc:
        out[f"tls {addr}"] = f"refused: {exc!r}"
print(json.dumps(out))
'''

# The grader's own local cluster (what `grade` starts), held open while a student probes it.
GRADERS_CLUSTER = r'''
import json, os, sys
from emcourse_grader import cluster
with cluster.dask_client(workers=1) as (client, _):
    client.wait_for_workers(1, timeout=120)
    info = client.scheduler_info()["workers"]
    print(json.dumps([client.scheduler.address, *info, *(w["nanny"] for w in info.values())]),
          flush=True)
    sys.stdin.readline()  # the probes are done
    print(json.dumps(client.submit(os.getuid, pure=False).result(timeout=60)), flush=True)
'''


def _port_of(user: str) -> int:
    return _listening_port(pwd.getpwnam(user).pw_uid)


def test_a_student_reaches_neither_a_classmates_feedback_nor_the_graders_cluster(hub, graded):
    """With their own hub token, ben asks the exchange service for ada's feedback and
    submission and the grading service for the instructor's live page (through the proxy
    and straight to each service's port, with and without his token), and probes every port
    of the grader's Dask cluster while it runs: all refused (or sent to the hub's login), and the cluster still runs the
    grader's tasks (as the instructor) afterwards."""
    ada, ben, _ = students(hub)
    store = hub_script.BASE / "exchange-store"
    stamps = sorted(p.name for p in store.glob(f"**/feedback/{HW}/{ada}/*"))
    assert stamps, "ada has no released feedback in the store"
    venv = hub["instructor_venv"]
    name = hub["instructor"]["name"]
    grader = subprocess.Popen(
        ["runuser", "-u", name, "--", "env", "-i", f"PATH={venv}/bin:/usr/bin:/bin",
         f"HOME={pwd.getpwnam(name).pw_dir}", "LANG=C.UTF-8", f"{venv}/bin/python", "-c",
         GRADERS_CLUSTER], cwd=hub["course_root"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        addresses = json.loads(grader.stdout.readline())
        assert len(addresses) == 3 and all(a.startswith("tls://") for a in addresses)
        targets = {"ada": ada, "stamp": stamps[-1], "dask": addresses,
                   "proxy": f"{hub['url']}/services/emcourse-exchange",
                   "direct": f"http://127.0.0.1:{_port_of(hub_script.EXCHANGE_USER)}",
                   "grader": hub["grader"]["url"],
                   "grader_direct": hub["grader"]["internal_url"]}
        out = as_user(hub, ben, "/usr/bin/python3", "-c", REACH, json.dumps(targets))
        grader.stdin.write("done\n")
        grader.stdin.flush()
        uid = json.loads(grader.stdout.readline())
    finally:
        if grader.poll() is None:
            grader.stdin.close()
            grader.wait(timeout=60)
    results = json.loads(out)
    assert len(results) == 12 + 4 + 2 * len(addresses)
    # refused, or sent to the hub's login (never the page itself)
    not_refused = {k: v for k, v in results.items() if not v.startswith("refused")
                   and not (v.startswith("redirected 302") and "/hub/" in v)}
    assert not not_refused, json.dumps(results, indent=1)
    assert uid == pwd.getpwnam(name).pw_uid  # the cluster was live, and runs as the instructor


def test_doctor_after_grading(hub, graded, instructor_server):
    """After collect and grading: still nothing unsafe (collect sealed its copies: the
    grader's alone, emcourse_grader.custody)."""
    bad = _doctor_problems(hub)
    assert not bad, json.dumps(bad, indent=1)


def test_submitting_in_a_classmates_name_files_it_under_ones_own(hub, graded):
    """The hub's exchange knows who is speaking: ``--student=ada`` from ben's terminal is
    ben's submission; ada's stays hers."""
    ada, ben, _ = students(hub)
    nb = Path(pwd.getpwnam(ben).pw_dir) / HW / f"{NOTEBOOK}.ipynb"
    as_user(hub, ben, "python", "-c",
            "import json, sys; nb = json.load(open(sys.argv[1])); nb['cells'].append("
            "{'cell_type': 'markdown', 'metadata': {}, 'source': 'planted by ben'}); "
            "json.dump(nb, open(sys.argv[1], 'w'))", str(nb))
    as_user(hub, ben, "nbgrader", "submit", HW, f"--student={ada}", check=False)
    instructor(hub, "nbgrader", "collect", HW)
    submitted = Path(hub["course_root"]) / "submitted"
    assert "planted by ben" not in (submitted / ada / HW / f"{NOTEBOOK}.ipynb").read_text()
    assert "planted by ben" in (submitted / ben / HW / f"{NOTEBOOK}.ipynb").read_text()


def test_a_browser_submission_is_graded_and_released_with_no_instructor_action(hub):
    """The grading service (a hub service, as the instructor): a student submits hw2 from
    their Lab in Chromium (the Assignment List's own requests, with their login); with no
    instructor command after the release, their page on the service says "feedback ready"
    with the score, and the feedback they fetch is graded. The live page is not theirs."""
    hw = hub["grader"]["assignments"][0]
    nb = demo_class.ASSIGNMENTS[hw]
    student = hub["students"][1]
    name = student["name"]
    instructor(hub, "nbgrader", "release_assignment", hw)
    base = f"{hub['url']}/user/{name}"
    post = """async ([url, data]) => {
        const x = document.cookie.match(/_xsrf=([^;]+)/);
        const r = await fetch(url, {method: "POST", body: new URLSearchParams(data),
            headers: {"X-XSRFToken": x ? decodeURIComponent(x[1]) : ""}});
        return [r.status, await r.text()];
    }"""
    with browser_tools.launched() as browser:
        page = _lab_page(browser, hub, student)

        def assignment_list(action):
            status, text = page.evaluate(post, [f"{base}/assignments/{action}", {
                "assignment_id": hw, "course_id": hub["course_id"]}])
            assert status == 200 and '"success": false' not in text, (action, text)

        assignment_list("fetch")
        home = Path(pwd.getpwnam(name).pw_dir)
        mine = home / hw / f"{nb}.ipynb"
        demo_class.fill_notebook(mine, ROOT / "solutions" / hw / f"{nb}.ipynb",
                                 "solution", hw)
        shutil.chown(mine, name, name)
        assignment_list("submit")

        page.goto(hub["grader"]["url"])  # the hub's login, then the service's page
        deadline = time.monotonic() + 300
        while "<td>feedback ready</td>" not in page.content():
            assert time.monotonic() < deadline, page.content()
            assert "<td>could not be graded" not in page.content(), page.content()
            time.sleep(3)
            page.reload()
        points = demo_class.EXPECTED[hw]["ada"]
        assert f"{points:g} / {points:g}" in page.content(), page.content()
        assert page.goto(hub["grader"]["url"] + "instructor").status == 403

        # back in the Lab (the service's pages allow no script to call anything)
        page.goto(f"{base}/lab")
        page.locator("#jp-main-dock-panel").wait_for()
        assignment_list("fetch_feedback")
        found = sorted((home / hw / "feedback").rglob(f"{nb}.html"))
        assert found, "no feedback fetched"
        rel = found[-1].relative_to(home).as_posix()
        page.goto(f"{base}/files/{rel}")
        assert f"Score: {points:g} / 100" in page.content()


def test_down_removes_everything(hub):
    names = [hub["instructor"]["name"], *students(hub)]
    homes = [pwd.getpwnam(n).pw_dir for n in names]
    uids = {pwd.getpwnam(n).pw_uid for n in names}
    for _ in range(2):  # twice is fine
        res = _hub("down")
        assert res.returncode == 0, res.stderr
    for name in [*names, hub_script.EXCHANGE_USER]:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    for path in [*homes, hub["course_root"], str(hub_script.BASE),
                 str(hub_script.HUB_JSON)]:
        assert not os.path.exists(path), path
    # nothing of the class still runs, and the hub's port is closed
    assert not hub_script._pids_of(uids)
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen(hub["url"], timeout=5)
