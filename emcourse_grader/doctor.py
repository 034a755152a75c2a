"""``python -m emcourse_grader doctor``: audit a deployment and name each problem with its fix.

Each check looks at the machine as it is (modes and owners of files, the course's nbgrader
configuration, the students' Python environment, the sandbox) and returns :class:`Finding`
objects. A finding is

* ``unsafe``: a student can read or change what is not theirs, or run code as the instructor;
* ``broken``: grading will fail (a missing gradebook entry, no sandbox);
* ``warning``: worth knowing, not a hole by itself;
* ``ok``: checked and fine (listed with ``--verbose``).

The command exits 1 when anything is unsafe or broken, else 0. It changes nothing: every fix
is printed as the command to run. docs/teaching.md describes the deployment it expects.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

LEVELS = ("unsafe", "broken", "warning", "ok")

# What in the course root is the instructor's alone (relative paths; absent ones are skipped).
PRIVATE = ("solutions", "gradebook.db", "submitted", "autograded", "feedback", "grades.csv",
           "integrity_report.csv", "emcourse_grader/checks", "nbgrader_config.py")


@dataclass(frozen=True)
class Finding:
    """One result of the audit: its level, what was found, and how to fix it."""

    level: str
    what: str
    fix: str = ""

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level: found {self.level!r}, expected one of {LEVELS}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _owner(path: Path) -> str:
    uid = path.lstat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# --------------------------------------------------------------------------------------------
# The course root
# --------------------------------------------------------------------------------------------

def check_course_root(root: Path) -> list[Finding]:
    """The course root and what is private in it: no access for others, nothing writable by
    anyone but its owner (a graders' group may read)."""
    out = []
    mode = _mode(root)
    if mode & 0o007:
        out.append(Finding(
            "unsafe", f"the course root {root} is open to every user (mode {mode:04o}): "
            "students can read the solutions, hidden tests, gradebook and classmates' "
            "submissions", f"chmod 0700 {root}  (or 0750 with a graders' group)"))
    else:
        out.append(Finding("ok", f"the course root {root} is closed to others ({mode:04o})"))
    if mode & 0o020:
        out.append(Finding("unsafe", f"the course root {root} is writable by its group",
                           f"chmod g-w {root}"))
    for rel in PRIVATE:
        path = root / rel
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink():
            out.append(Finding("unsafe", f"{path} is a symbolic link (to "
                               f"{os.readlink(path)}): what it names is not checked here",
                               f"replace the link by the file itself in {root}"))
            continue
        m = _mode(path)
        if m & 0o022:
            out.append(Finding("unsafe", f"{path} is writable by others than its owner "
                               f"(mode {m:04o})", f"chmod go-w {path}"))
        if m & 0o004:
            out.append(Finding("warning", f"{path} is world-readable (mode {m:04o}); only "
                               "the course root's mode keeps it private",
                               f"chmod o-rwx {path}"))
    return out


def warn_open_root(root, stream=None) -> bool:
    """Before ``grade``: print :func:`check_course_root`'s unsafe findings when other users can
    actually reach the course root (it and every folder above it searchable by them).

    Grading goes on: the run's own temporary files are private whatever the course root's
    mode, and refusing would stop a course kept on a machine with no other users; the warning
    names the fix (docs/teaching.md, step 2; docs/integrity.md, "Other users of the grading
    machine").

    Parameters
    ----------
    root : str or os.PathLike
        The course root.
    stream : file, optional
        Where to print (default: standard error).

    Returns
    -------
    bool
        Whether anything was printed.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path, found {type(root).__name__}")
    root = Path(root).resolve()
    for folder in root.parents:
        if not folder.stat().st_mode & 0o001:  # others cannot pass through it
            return False
    unsafe = [f for f in check_course_root(root) if f.level == "unsafe"]
    for f in unsafe:
        print(f"WARNING: {f.what}\n         fix: {f.fix}", file=stream or sys.stderr)
    return bool(unsafe)


def check_submissions(root: Path, submitted: str = "submitted") -> list[Finding]:
    """Collected submissions: owned by the grader, writable by no one else (a student who
    can write one changes a classmate's grade, or their own after the deadline)."""
    me = os.geteuid()
    out, bad = [], []
    base = root / submitted
    if not base.is_dir():
        return [Finding("ok", f"no collected submissions yet ({base})")]
    for path in [base, *base.rglob("*")]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            bad.append(f"{path} (a symbolic link)")
        elif st.st_uid != me or stat.S_IMODE(st.st_mode) & 0o022:
            bad.append(f"{path} ({_owner(path)}, {stat.S_IMODE(st.st_mode):04o})")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        out.append(Finding(
            "unsafe", f"{len(bad)} collected file(s) under {base} are not the grader's alone:"
            f" {shown}", f"chown -R {pwd.getpwuid(me).pw_name} {base} && chmod -R go-w "
            f"{base}  (collect again with this course's nbgrader_config.py)"))
    else:
        out.append(Finding("ok", f"collected submissions under {base} are the grader's alone"))
    return out


# --------------------------------------------------------------------------------------------
# nbgrader's configuration: the exchange and collect
# --------------------------------------------------------------------------------------------

FILESYSTEM_EXCHANGES = ("", "nbgrader.exchange.default.exchange.Exchange")


def _other_humans(except_uid: int) -> list[str]:
    """Login accounts (uid 1000-59999 with a shell) other than ``except_uid``."""
    return sorted(p.pw_name for p in pwd.getpwall()
                  if 1000 <= p.pw_uid < 60000 and p.pw_uid != except_uid
                  and not p.pw_shell.endswith(("nologin", "false")))


def check_exchange(config, course_id: str, course_owner: int,
                   other_users: list[str] | None = None) -> list[Finding]:
    """The exchange students fetch from and submit to, as the course's configuration says."""
    out = []
    factory = config.get("ExchangeFactory", {})
    exchange_class = str(factory.get("exchange", ""))
    collect = {**config.get("ExchangeCollect", {}), **config.get("ResubmitCollect", {})}
    if collect.get("check_owner", True) is False:
        out.append(Finding("unsafe", "ExchangeCollect.check_owner is False: collect takes a "
                           "submission filed under another student's name without a word",
                           "remove check_owner = False from the nbgrader configuration"))
    hub = {k: str(v) for k, v in factory.items() if str(v).startswith("emcourse_exchange.")}
    if hub:
        out.append(Finding("ok", "the exchange is the hub's (emcourse_exchange): each student "
                           "is who the hub says"))
        return out
    if exchange_class not in FILESYSTEM_EXCHANGES:
        out.append(Finding("ok", f"the exchange is {exchange_class}"))
        return out
    from nbgrader.exchange.default.exchange import Exchange

    root = Path(config.get("Exchange", {}).get("root", Exchange.root.default_value))
    others = _other_humans(course_owner) if other_users is None else other_users
    if others:
        out.append(Finding(
            "unsafe", f"the filesystem exchange ({root}) trusts Unix permissions only and "
            f"this machine has other accounts ({', '.join(others[:5])}"
            f"{', ...' if len(others) > 5 else ''}): any of them can submit in another "
            "student's name (nbgrader submit --student=...) or read a classmate's feedback",
            "serve the exchange through the hub (docs/teaching.md, 'The exchange'), or keep "
            "the filesystem exchange to a single-user machine"))
    if not root.is_dir():
        out.append(Finding("broken", f"the exchange {root} does not exist",
                           f"mkdir -p {root} && chmod 1777 {root}"))
        return out
    for path in (root, root / course_id, root / course_id / "inbound",
                 root / course_id / "feedback"):
        if not path.exists():
            continue
        m = _mode(path)
        if m & 0o002 and not m & stat.S_ISVTX:
            out.append(Finding(
                "unsafe", f"{path} is writable by everyone without the sticky bit (mode "
                f"{m:04o}): a student can rename or replace what others put there (a planted "
                "assignment, a planted inbound)", f"chmod +t {path}"))
        else:
            out.append(Finding("ok", f"{path} ({m:04o})"))
    outbound = root / course_id / "outbound"
    if outbound.exists() and _mode(outbound) & 0o022:
        out.append(Finding("unsafe", f"{outbound} is writable by students: they can replace "
                           "the released assignment", f"chmod go-w {outbound}"))
    return out


# --------------------------------------------------------------------------------------------
# The machine: homes, the students' environment, the sandbox, the cluster
# --------------------------------------------------------------------------------------------

def _homes() -> list[Path]:
    return sorted({Path(p.pw_dir) for p in pwd.getpwall()
                   if 1000 <= p.pw_uid < 60000 and Path(p.pw_dir).is_dir()
                   and Path(p.pw_dir) != Path("/")})


def check_homes(homes: list[Path] | None = None) -> list[Finding]:
    """Each user's home closed to the others (nbgrader keeps the feedback secret there)."""
    out = []
    for home in _homes() if homes is None else homes:
        m = _mode(home)
        if m & 0o007:
            out.append(Finding(
                "unsafe", f"the home folder {home} is open to other users (mode {m:04o}): "
                "classmates read its notebooks and nbgrader's feedback secret",
                f"chmod 0700 {home}  (and HOME_MODE 0700 in /etc/login.defs for new accounts)"))
        else:
            out.append(Finding("ok", f"{home} ({m:04o})"))
    return out


_PROBE = """
import importlib.metadata as md, importlib.util as u, json
out = {}
for name in ("emcourse", "emcourse-student"):
    try:
        d = md.distribution(name)
    except md.PackageNotFoundError:
        continue
    url = d.read_text("direct_url.json")
    out[name] = {"editable": bool(url and json.loads(url).get("dir_info", {}).get("editable")),
                 "url": json.loads(url).get("url") if url else None}
out["checks"] = u.find_spec("emcourse_grader") is not None and \\
    u.find_spec("emcourse_grader.checks") is not None
try:  # the nbgrader configuration a student's command gets (from a folder with none)
    import os
    os.chdir("/")
    from nbgrader.apps import NbGrader
    app = NbGrader()
    app.load_config_file()
    out["submit"] = str(app.config.ExchangeFactory.get("submit", ""))
except Exception as exc:
    out["submit"] = None
print(json.dumps(out))
"""


def check_student_python(python: str, other_users: list[str] | None = None) -> list[Finding]:
    """The students' interpreter holds the student wheel, not the course (no checks, no
    editable install pointing into the course folder)."""
    try:
        res = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True,
                             timeout=60, check=False)
        found = json.loads(res.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
        return [Finding("broken", f"could not ask the students' Python {python} what it "
                        f"holds ({exc})", "pass the interpreter the students' kernels use")]
    out = []
    course = found.get("emcourse")
    if course and course["editable"]:
        out.append(Finding(
            "unsafe", f"{python} has the course as an editable install ({course['url']}): "
            "students import it from the course folder, which must then be readable to them",
            f"{python} -m pip uninstall -y emcourse && {python} -m pip install "
            "emcourse_student-*.whl  (make student-wheel)"))
    elif course:
        out.append(Finding("unsafe", f"{python} has the instructor's package (emcourse, with "
                           "the grader and its hidden checks)",
                           f"{python} -m pip uninstall -y emcourse, then install the student "
                           "wheel (make student-wheel)"))
    submit = found.get("submit")
    others = _other_humans(-1) if other_users is None else other_users
    if submit is not None and not submit.startswith("emcourse_exchange.") and others:
        out.append(Finding(
            "unsafe", f"{python}'s nbgrader submits through the filesystem exchange: on this "
            "machine of several accounts a student can submit in another's name",
            "configure emcourse_exchange in the students' nbgrader_config.py (docs/teaching.md,"
            " 'The exchange through the hub')"))
    if found.get("checks"):
        out.append(Finding("unsafe", f"{python} can import emcourse_grader.checks (the hidden "
                           "tests)", "remove it from the students' environment"))
    if not out:
        if "emcourse-student" in found:
            out.append(Finding("ok", f"{python} has the student wheel and no grader"))
        else:
            out.append(Finding("warning", f"{python} has neither emcourse nor "
                               "emcourse-student: notebooks cannot import emref",
                               f"{python} -m pip install emcourse_student-*.whl"))
    return out


def check_sandbox() -> list[Finding]:
    """bubblewrap isolates student code here, and nobody opted out."""
    from . import sandbox

    if sandbox.unsandboxed():
        return [Finding("unsafe", f"{sandbox.OPT_OUT}=1 is set: student code runs without "
                        "the sandbox", f"unset {sandbox.OPT_OUT}")]
    why = sandbox.availability()
    if why:
        return [Finding("broken", f"the sandbox is unavailable: {why}",
                        "apt-get install bubblewrap (make does)")]
    return [Finding("ok", "bubblewrap isolates student code")]


def check_cluster() -> list[Finding]:
    """The grading cluster can be started with TLS (distributed's Security, which needs the
    ``cryptography`` package for its temporary credentials)."""
    try:
        from distributed import Security

        Security.temporary()
    except Exception as exc:  # noqa: BLE001 - any failure means no TLS
        return [Finding("unsafe", f"the grading cluster cannot use TLS here ({exc!r}): any "
                        "local user could run code on its workers as the instructor",
                        "pip install cryptography 'dask[distributed]'")]
    return [Finding("ok", "the grading cluster's TLS credentials can be made")]


def check_secret(root: Path) -> list[Finding]:
    """The per-course secret the checks draw their problems from: the instructor's alone
    (emcourse_grader.checks.secret). Missing is fine (the first grading run makes it)."""
    from .checks import secret

    if os.environ.get(secret.ENV):
        return [Finding("ok", f"the checks' secret comes from ${secret.ENV}")]
    file = secret.path(root)
    if not file.exists():
        return [Finding("warning", f"no secret at {file} yet: the first grading run makes "
                        "it; back it up then (losing it changes every regrade's problems)")]
    out = []
    for path, want in ((file.parent, 0o700), (file, 0o600)):
        m = _mode(path)
        if m & 0o077 or path.is_symlink():
            out.append(Finding("unsafe", f"{path} is open to others (mode {m:04o}): with the "
                               "secret a student can compute every hidden problem",
                               f"chmod {want:04o} {path}, then make a new secret (rm {file}; "
                               "the next run makes one) since this one may be known"))
    return out or [Finding("ok", f"the checks' secret {file} is the instructor's alone")]


def check_gradebook(root: Path, db_url: str, assignments: list[str]) -> list[Finding]:
    """Every assignment of course.toml is in the gradebook (a fresh clone has none: the
    gradebook is not in git)."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and not Path(db_url[len(prefix):]).exists():
        return [Finding("broken", f"no gradebook at {db_url[len(prefix):]}",
                        f"cd {root} && " + " && ".join(
                            f"nbgrader generate_assignment {a} --force" for a in assignments))]
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        known = {a.name for a in gb.assignments}
    missing = [a for a in assignments if a not in known]
    if missing:
        return [Finding("broken", f"the gradebook does not know {', '.join(missing)}: "
                        "grading them fails ('No such assignment')",
                        f"cd {root} && " + " && ".join(
                            f"nbgrader generate_assignment {a} --force" for a in missing))]
    return [Finding("ok", f"the gradebook knows {', '.join(assignments)}")]


# --------------------------------------------------------------------------------------------
# The Formgrader
# --------------------------------------------------------------------------------------------

FORMGRADER_EXTENSION = "nbgrader.server_extensions.formgrader"
# What nbgrader's Formgrader page says when the server's root does not hold the course root.
_NOT_UNDER_ROOT = "is not a subdirectory"


def _server_url(env) -> str | None:
    """The instructor's own Jupyter server, as a terminal of it knows it: its own URL
    ($JUPYTERHUB_SERVICE_URL), else the hub's route to it (/user/<name>/)."""
    if env.get("JUPYTERHUB_SERVICE_URL"):
        return env["JUPYTERHUB_SERVICE_URL"]
    api, user = env.get("JUPYTERHUB_API_URL", ""), env.get("JUPYTERHUB_USER", "")
    if api.endswith("/hub/api") and user:
        return f"{api[:-len('/hub/api')]}/user/{user}/"
    return None


def check_formgrader(root: Path, *, python: str = sys.executable, server_url=None,
                     token=None, env=None, timeout: float = 30.0) -> list[Finding]:
    """The Formgrader: its server extension enabled in the grader's environment, and, when
    the instructor's server is known (``server_url``, or the hub variables a terminal of
    that server has), its page answering from a server whose root holds the course root."""
    env = os.environ if env is None else env
    res = subprocess.run([python, "-m", "jupyter", "server", "extension", "list"],
                         capture_output=True, text=True, timeout=120, check=False)
    listing = (res.stdout + res.stderr).splitlines()
    state = [ln for ln in listing if FORMGRADER_EXTENSION in ln]
    if not state or "enabled" not in state[0] or "disabled" in state[0]:
        return [Finding("broken", f"the Formgrader's server extension is not enabled in "
                        f"{python}'s environment", f"{python} -m jupyter server extension "
                        f"enable --sys-prefix {FORMGRADER_EXTENSION}")]
    out = [Finding("ok", f"the Formgrader's server extension is enabled in {python}")]
    url = server_url or _server_url(env)
    if not url:
        out.append(Finding("warning", "the Formgrader's page was not checked (no server to "
                           "ask)", "run doctor from a terminal of the instructor's JupyterLab,"
                           " or pass --server-url URL of the instructor's Jupyter server"))
        return out
    import urllib.error
    import urllib.request

    page = url.rstrip("/") + "/formgrader"
    token = token if token is not None else env.get("JUPYTERHUB_API_TOKEN", "")
    request = urllib.request.Request(page, headers={"Authorization": f"token {token}"}
                                     if token else {})
    fix = (f"start the instructor's Jupyter server from the course root or a folder above it "
           f"(JupyterHub: c.Spawner.notebook_dir = '{root}' for the instructor), with the "
           f"grader's environment, and open {page} in a tab of its own (JupyterHub 4.1 and "
           "later block it inside JupyterLab's panel)")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, body = resp.status, resp.read(1_000_000).decode("utf-8", "replace")
            final = resp.geturl()
    except urllib.error.HTTPError as exc:
        status, body, final = exc.code, "", page
    except OSError as exc:
        out.append(Finding("broken", f"the Formgrader at {page} does not answer ({exc})", fix))
        return out
    if status != 200 or "/formgrader" not in final or "formgrader" not in body.lower():
        out.append(Finding("broken", f"the Formgrader at {page} answered {status}"
                           f"{' from ' + final if final != page else ''}, not its page", fix))
    elif _NOT_UNDER_ROOT in body:
        out.append(Finding("broken", f"the Formgrader at {page} cannot open the course: the "
                           f"server's root does not hold {root}", fix))
    else:
        out.append(Finding("ok", f"the Formgrader answers at {page}"))
    return out


# --------------------------------------------------------------------------------------------
# The whole audit
# --------------------------------------------------------------------------------------------

def audit(root: Path, *, student_pythons=(), homes=None, other_users=None,
          server_url=None) -> list[Finding]:
    """Every check on the course at ``root`` (its nbgrader configuration read as nbgrader
    reads it). ``homes`` and ``other_users`` default to the machine's accounts;
    ``server_url`` is the instructor's Jupyter server (default: this terminal's)."""
    from . import course as course_mod
    from .parallel import load_course

    root = Path(root).resolve()
    manifest = course_mod.load(root)
    ids = [a.id for a in manifest.assignments]
    app = load_course(ids[0], str(root))
    config = app.config
    out = check_course_root(root)
    out += check_submissions(root, app.coursedir.submitted_directory)
    out += check_exchange(config, app.coursedir.course_id, root.stat().st_uid, other_users)
    out += check_homes(homes)
    if student_pythons:
        for python in student_pythons:
            out += check_student_python(python, other_users)
    else:
        out.append(Finding("warning", "the students' environment was not checked",
                           "pass --student-python /path/to/their/bin/python"))
    out += check_sandbox()
    out += check_cluster()
    out += check_secret(root)
    out += check_gradebook(root, app.coursedir.db_url, ids)
    out += check_formgrader(root, server_url=server_url)
    return out


def report(findings: list[Finding], *, verbose=False, stream=None) -> str:
    """The findings as text, worst first."""
    lines = []
    for level in LEVELS:
        if level == "ok" and not verbose:
            continue
        for f in findings:
            if f.level == level:
                lines.append(f"{level.upper():8}{f.what}")
                if f.fix:
                    lines.append(f"{'':8}fix: {f.fix}")
    counts = {lv: sum(f.level == lv for f in findings) for lv in LEVELS}
    lines.append(", ".join(f"{n} {lv}" for lv, n in counts.items()))
    text = "\n".join(lines)
    print(text, file=stream or sys.stdout)
    return text


def failed(findings: list[Finding]) -> bool:
    """True when anything is unsafe or broken (the command's exit status 1)."""
    return any(f.level in ("unsafe", "broken") for f in findings)


def main(args) -> int:
    """The ``doctor`` subcommand (arguments parsed by ``__main__``)."""
    findings = audit(Path(args.root), student_pythons=args.student_python or (),
                     server_url=args.server_url)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=1))
    else:
        report(findings, verbose=args.verbose)
    return 1 if failed(findings) else 0
