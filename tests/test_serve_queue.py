"""The grading service's policy, fair queue and pages, without a grader (fast).

The service itself, grading for real, is tests/test_serve.py.
"""

from __future__ import annotations

import datetime
import shutil
import tomllib
from pathlib import Path

import pytest

from emcourse_grader import course as manifest
from emcourse_grader.serve import pages, policy
from emcourse_grader.serve.queue import Journal

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------

def _parse(text: str):
    return policy.parse(tomllib.loads(text).get("policy"), "course.toml: assignment hw1")


def test_no_policy_table_is_the_defaults():
    rules, problems = policy.parse(None, "x")
    assert problems == []
    assert rules == policy.Policy(attempts=None, counts="last", show="messages", deadline=None,
                                  late="accept")


def test_a_full_policy_is_read():
    rules, problems = _parse("""
        [policy]
        attempts = 3
        counts = "best"
        show = "parts"
        deadline = 2026-12-10T17:00:00+01:00
        late = "refuse"
    """)
    assert problems == []
    assert rules.attempts == 3 and rules.counts == "best" and rules.show == "parts"
    assert rules.deadline == datetime.datetime(2026, 12, 10, 16, 0, tzinfo=datetime.UTC)
    assert rules.late == "refuse"
    before = datetime.datetime(2026, 12, 10, 15, 59, tzinfo=datetime.UTC)
    after = datetime.datetime(2026, 12, 10, 16, 1, tzinfo=datetime.UTC)
    assert rules.shows(before) == "parts" and rules.shows(after) == "messages"
    none_before, problems = _parse('[policy]\nattempts = "none-before-deadline"\n'
                                   'deadline = 2026-12-10T17:00:00Z')
    assert problems == [] and none_before.attempts == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("attempts = 0", ('policy.attempts must be "unlimited", a whole number >= 1 or '
                      '"none-before-deadline", found 0')),
    ("attempts = true", "policy.attempts must be"),
    ('counts = "first"', "policy.counts must be one of 'last', 'best', found 'first'"),
    ('show = "all"', "policy.show must be one of 'score', 'parts', 'messages', found 'all'"),
    ('late = "maybe"', "policy.late must be one of 'refuse', 'accept', found 'maybe'"),
    ('deadline = "friday"', "policy.deadline must be a TOML date-time such as"),
    ("deadline = 2026-12-10T17:00:00", "policy.deadline must say its time zone"),
    ('attempts = "none-before-deadline"', "needs policy.deadline"),
    ("tries = 3", "policy: unknown key 'tries'"),
])
def test_a_wrong_policy_names_the_field(text, expected):
    rules, problems = _parse("[policy]\n" + text)
    assert rules is None
    assert any(p.startswith("course.toml: assignment hw1: ") and expected in p
               for p in problems), problems


def test_course_toml_policy_is_validated_by_the_manifest(tmp_path):
    shutil.copy(ROOT / manifest.MANIFEST, tmp_path / manifest.MANIFEST)
    path = tmp_path / manifest.MANIFEST
    text = path.read_text()
    marker = 'checks = "emcourse_grader.checks.hw1_kmeans"\n'
    path.write_text(text.replace(marker, marker + '\n[assignments.policy]\nattempts = 2\n'
                                 'counts = "best"\n', 1))
    hw1 = manifest.load(tmp_path).assignment("hw1")
    assert hw1.policy.attempts == 2 and hw1.policy.counts == "best"
    assert manifest.load(tmp_path).assignment("hw2").policy == policy.Policy()
    path.write_text(text.replace(marker, marker + '\n[assignments.policy]\nattempts = -1\n', 1))
    with pytest.raises(manifest.ManifestError, match=r"assignment hw1: policy\.attempts must "
                       r"be .* found -1"):
        manifest.load(tmp_path)


# --------------------------------------------------------------------------------------------
# The journal: a fair, durable queue
# --------------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1_000.0

    def __call__(self):
        self.t += 1.0
        return self.t


def _stamp(i: int) -> str:
    return f"2026-12-10T16:{i // 60:02d}:{i % 60:02d}.000000+00:00"


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "serve" / "journal.sqlite", clock=Clock())
    yield j
    j.close()


def test_the_journal_is_the_instructors_alone(journal, tmp_path):
    assert (tmp_path / "serve").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "serve" / "journal.sqlite").stat().st_mode & 0o077 == 0


def test_a_resubmission_replaces_the_queued_attempt(journal):
    first = journal.add("hw1", "ada", _stamp(1))
    second = journal.add("hw1", "ada", _stamp(2))
    assert journal.add("hw1", "ada", _stamp(2)) is None  # known already
    assert journal.get(first).state == "superseded"
    assert journal.get(second).state == "queued"
    taken = journal.take(4)
    assert [t.id for t in taken] == [second]


def test_a_burst_from_one_student_does_not_delay_another_beyond_a_fair_share(journal):
    """ada sends a burst over three assignments (and resubmits each many times), then bob
    submits once: with one worker, bob's job is graded after at most one of ada's."""
    for i in range(30):
        journal.add(f"hw{1 + i % 3}", "ada", _stamp(i))
    assert len(journal.attempts(states=["queued"])) == 3  # one per assignment
    bob = journal.add("hw2", "bob", _stamp(40))
    order = []
    while True:
        batch = journal.take(1)
        if not batch:
            break
        order.append(batch[0].student)
        journal.graded(batch[0].id, parts={"nb": {"t": [1, 1]}}, number=1)
        journal.done(batch[0].id, counting=batch[0].id)
    assert order.index("bob") <= 1, order
    assert journal.get(bob).state == "done"
    # and with two workers a batch holds one job per student: bob's goes in the first
    for i in range(3):
        journal.add(f"hw{1 + i}", "cy", _stamp(50 + i))
    journal.add("hw1", "dee", _stamp(60))
    batch = journal.take(2)
    assert sorted(t.student for t in batch) == ["cy", "dee"]


def test_a_student_is_not_taken_again_while_their_attempt_is_in_flight(journal):
    """The pipeline takes one job at a time: ada's resubmission, made while her previous
    attempt is being graded or finished, waits for it (her folders are in use); bob's does
    not."""
    first = journal.add("hw1", "ada", _stamp(1))
    assert [t.id for t in journal.take(1)] == [first]
    again = journal.add("hw1", "ada", _stamp(2))
    bob = journal.add("hw1", "bob", _stamp(3))
    assert [t.id for t in journal.take(2)] == [bob]
    journal.graded(first, parts={"nb": {"t": [1, 1]}}, number=1)
    assert journal.take(1) == []  # graded, its feedback not released yet
    journal.done(first, counting=first, shown="score")
    assert [t.id for t in journal.take(1)] == [again]
    assert journal.get(first).shown == "score"
    journal.note(again, "sent", "its task went to the cluster")
    journal.reshown(first, "messages")
    assert journal.get(first).shown == "messages"
    assert [(e["attempt"], e["kind"]) for e in journal.events()][-2:] == [
        (again, "sent"), (first, "reshown")]


def test_a_journal_written_before_the_shown_column_is_read(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(_OLD_SCHEMA)
    old.execute("INSERT INTO attempts (assignment, student, submitted, noticed, state) "
                "VALUES ('hw1', 'ada', ?, 1.0, 'done')", (_stamp(1),))
    old.commit()
    old.close()
    j = Journal(path, clock=Clock())
    (ada,) = j.attempts()
    assert (ada.student, ada.state, ada.shown) == ("ada", "done", None)
    j.reshown(ada.id, "messages")
    assert j.get(ada.id).shown == "messages"
    j.close()


_OLD_SCHEMA = """
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, assignment TEXT NOT NULL, student TEXT NOT NULL,
    submitted TEXT NOT NULL, noticed REAL NOT NULL, state TEXT NOT NULL, started REAL,
    finished REAL, number INTEGER, score REAL, max_score REAL, parts TEXT, reason TEXT,
    late INTEGER NOT NULL DEFAULT 0, counts INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0, worker_s REAL, service_s REAL,
    UNIQUE (assignment, student, submitted));
"""


def test_round_robin_over_students(journal):
    for s in ("ada", "bob", "cy"):
        for hw in ("hw1", "hw2"):
            journal.add(hw, s, _stamp(len(journal.attempts())))
    order = []
    while batch := journal.take(1):
        order.append(batch[0].student)
        journal.finish(batch[0].id, "failed", "test")
    assert order == ["ada", "bob", "cy", "ada", "bob", "cy"], order


def test_a_job_taken_when_the_service_stopped_is_queued_again_in_its_place(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path, clock=Clock())
    a = j.add("hw1", "ada", _stamp(1))
    b = j.add("hw1", "bob", _stamp(2))
    assert [t.id for t in j.take(1)] == [a]
    j.close()  # the service is killed here
    j = Journal(path, clock=Clock())
    assert j.recover() == 1
    assert j.get(a).state == "queued" and j.get(a).restarts == 1
    assert j.get(b).state == "queued"
    assert [e["kind"] for e in j.events() if e["attempt"] == a] == ["noticed", "requeued"]
    j.close()


def test_waiting_submissions_are_queued_at_the_deadline(journal):
    journal.add("hw1", "ada", _stamp(1), state="waiting")
    last = journal.add("hw1", "ada", _stamp(2), state="waiting")
    bob = journal.add("hw1", "bob", _stamp(3), state="waiting")
    assert journal.take(2) == []
    assert sorted(journal.release_waiting("hw1")) == sorted([last, bob])
    assert {t.student: t.id for t in journal.take(2)} == {"ada": last, "bob": bob}


def test_bad_arguments_name_themselves(journal):
    with pytest.raises(TypeError, match="student: expected a non-empty str, found ''"):
        journal.add("hw1", "", _stamp(1))
    with pytest.raises(ValueError, match="state: expected"):
        journal.add("hw1", "ada", _stamp(1), state="done")
    with pytest.raises(ValueError, match="n: expected a whole number >= 1, found 0"):
        journal.take(0)


# --------------------------------------------------------------------------------------------
# Pages: escaped, no active content
# --------------------------------------------------------------------------------------------

def test_pages_escape_what_students_control(journal):
    course = manifest.load(ROOT)
    evil = "<script>alert(1)</script>"
    i = journal.add("hw1", "ada", _stamp(1))
    journal.take(1)
    journal.graded(i, parts={"hw1_kmeans": {"test_assign": [0, 20, f"ValueError: {evil}"],
                                            "test_fit": [25, 25, ""]}}, number=1)
    journal.done(i, counting=i)
    view = pages.instructor_view(journal, course)
    assert view["messages"][0]["message"] == f"ValueError: {evil}"
    assert view["parts"][0]["rows"][0]["histogram"] == "0: 1"
    html = pages.render("instructor.html", **view)
    assert evil not in html and "&lt;script&gt;" in html
    assert "<script" not in html.lower()
    student = pages.render("student.html", **pages.student_view(journal, course, "ada"))
    assert "feedback ready" in student and "25 / 45 (counts)" in student
    assert "<script" not in student.lower()


def _as_a_hub_service(monkeypatch) -> int:
    """The environment JupyterHub gives a managed service (a hub that is not there); returns a
    free port for the service's pages."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for key, value in {"JUPYTERHUB_SERVICE_NAME": "emcourse-grader",
                       "JUPYTERHUB_API_TOKEN": "not-a-token",
                       "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
                       "JUPYTERHUB_CLIENT_ID": "service-emcourse-grader",
                       "JUPYTERHUB_BASE_URL": "/",
                       "JUPYTERHUB_OAUTH_CALLBACK_URL":
                           "/services/emcourse-grader/oauth_callback"}.items():
        monkeypatch.setenv(key, value)
    return port


def test_the_pages_are_behind_the_hubs_login(journal, monkeypatch):
    """Without the hub's cookie the service's pages send the visitor to the hub's OAuth
    login, and show nothing (the whole login, in a browser, is tests/test_hub.py's)."""

    import requests

    from emcourse_grader.serve import web

    port = _as_a_hub_service(monkeypatch)
    i = journal.add("hw1", "ada", _stamp(1))
    assert i
    web.start(journal, manifest.load(ROOT), ["teach"], url=f"http://127.0.0.1:{port}",
              prefix="/services/emcourse-grader/")
    for page in ("", "instructor"):
        r = requests.get(f"http://127.0.0.1:{port}/services/emcourse-grader/{page}",
                         allow_redirects=False, timeout=30)
        assert r.status_code == 302, (page, r.status_code, r.text[:300])
        assert "/hub/api/oauth2/authorize" in r.headers["Location"], r.headers["Location"]
        assert "ada" not in r.text
    with pytest.raises(ValueError, match="url: expected http://HOST:PORT"):
        web.start(journal, manifest.load(ROOT), [], url="localhost")


def test_the_pages_reload_only_when_their_reader_asks(journal, monkeypatch):
    """No page reloads itself unless its reader chose it (WCAG 2.2.1: a page that reloads
    under a screen reader loses its place): the served pages, behind a (patched) hub login,
    reload with ``?auto=1`` only, and each says how to start or stop it; the service's status
    file never reloads."""
    import re

    import requests
    from jupyterhub.services.auth import HubOAuthenticated

    from emcourse_grader.serve import web

    refresh = re.compile(r'<meta http-equiv="refresh" content="(\d+)">')
    view = pages.instructor_view(journal, manifest.load(ROOT))
    static = pages.render("instructor.html", static=True, **view)
    assert not refresh.search(static) and "auto=1" not in static
    port = _as_a_hub_service(monkeypatch)
    monkeypatch.setattr(HubOAuthenticated, "get_current_user", lambda self: {"name": "teach"})
    web.start(journal, manifest.load(ROOT), ["teach"], url=f"http://127.0.0.1:{port}",
              prefix="/services/emcourse-grader/")
    base = f"http://127.0.0.1:{port}/services/emcourse-grader/"
    for page, seconds in (("", 5), ("instructor", 10)):
        plain = requests.get(base + page, timeout=30)
        assert plain.status_code == 200, plain.text[:300]
        assert not refresh.search(plain.text)
        assert 'href="?auto=1"' in plain.text and f"every {seconds} s" in plain.text
        auto = requests.get(base + page + "?auto=1", timeout=30)
        assert [int(s) for s in refresh.findall(auto.text)] == [seconds]
        assert 'href="?">Stop reloading</a>' in auto.text
