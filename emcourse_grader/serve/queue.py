"""The durable fair queue, and the record of every attempt: a SQLite journal.

One file, ``<course root>/serve/journal.sqlite`` (the folder 0700, the file 0600: the
instructor's alone), written by the service only, each change in one transaction (SQLite's
journal makes each one all or nothing, whatever kills the process). One row per submission
the service noticed, keyed by (assignment, student, submitted time)::

    waiting     noticed; graded at the deadline (policy attempts = "none-before-deadline")
    queued      to grade
    grading     taken by a worker slot (collected, on the cluster); back to queued when the
                service starts again
    graded      its scores are in the journal; feedback and the gradebook's counting
                attempt are still to write (redone, idempotently, after a restart)
    done        feedback released, the gradebook holds the counting attempt
    failed      the grader could not grade it (its reason kept)
    superseded  replaced in the queue by a later submission of the same student
    refused     not graded: over the attempts allowed, or late with late = "refuse"

Fairness (:meth:`Journal.take`): the next jobs go to the students served least recently
(round-robin over the students with something queued; a student never served first), one job
per student at a time (never one of a student whose attempt of the same assignment is still
being graded or finished); a student's resubmission replaces their queued attempt
(:meth:`Journal.add`), so a burst from one student holds at most one place in the queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass

FOLDER = "serve"          # in the course root, 0700
JOURNAL = "journal.sqlite"

STATES = ("waiting", "queued", "grading", "graded", "done", "failed", "superseded",
          "refused")
OPEN = ("waiting", "queued", "grading", "graded")  # not finished yet

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    assignment  TEXT NOT NULL,
    student     TEXT NOT NULL,
    submitted   TEXT NOT NULL,   -- the submission's time, ISO 8601 UTC (the exchange's)
    noticed     REAL NOT NULL,   -- when the service saw it (time.time())
    state       TEXT NOT NULL,
    started     REAL,            -- taken for grading
    finished    REAL,            -- done, failed or refused
    number      INTEGER,         -- which graded attempt of the student (1, 2, ...)
    score       REAL,
    max_score   REAL,
    parts       TEXT,            -- JSON {notebook: {cell: [score, max]}}
    reason      TEXT,            -- why failed, refused or superseded
    late        INTEGER NOT NULL DEFAULT 0,
    counts      INTEGER NOT NULL DEFAULT 0,  -- the gradebook holds this attempt
    restarts    INTEGER NOT NULL DEFAULT 0,  -- taken again after the service stopped
    worker_s    REAL,            -- seconds the grading task took on its worker
    service_s   REAL,            -- seconds of the service's own work (collect, feedback)
    shown       TEXT,            -- what its released feedback shows (the policy's show)
    UNIQUE (assignment, student, submitted)
);
CREATE TABLE IF NOT EXISTS served (
    student     TEXT PRIMARY KEY,
    last        REAL NOT NULL    -- when one of their jobs was last taken
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    attempt     INTEGER,
    kind        TEXT NOT NULL,   -- noticed, sent, graded, released, failed, ...
    detail      TEXT
);
CREATE INDEX IF NOT EXISTS attempts_state ON attempts (state);
"""


@dataclass(frozen=True)
class Attempt:
    """One row of the journal (see the module doc for ``state``)."""

    id: int
    assignment: str
    student: str
    submitted: str
    noticed: float
    state: str
    started: float | None
    finished: float | None
    number: int | None
    score: float | None
    max_score: float | None
    parts: dict | None
    reason: str | None
    late: bool
    counts: bool
    restarts: int
    worker_s: float | None
    service_s: float | None
    shown: str | None = None

    @classmethod
    def _from(cls, row) -> Attempt:
        d = dict(row)
        d["parts"] = json.loads(d["parts"]) if d["parts"] else None
        d["late"], d["counts"] = bool(d["late"]), bool(d["counts"])
        return cls(**d)


class Journal:
    """The service's journal at ``path`` (created, with its folder, if missing).

    Parameters
    ----------
    path : str or Path
        The SQLite file; its folder is made 0700 and the file 0600.
    clock : callable, optional
        ``time.time`` unless given (the tests move time by hand).
    """

    def __init__(self, path, *, clock=time.time):
        path = os.fspath(path)
        if not isinstance(path, str) or not path:
            raise TypeError(f"path: expected a file path, found {path!r}")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        self.path = path
        self.clock = clock
        old = os.umask(0o077)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
        finally:
            os.umask(old)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(attempts)")}
        if "shown" not in columns:  # a journal written before the column existed
            self._db.execute("ALTER TABLE attempts ADD COLUMN shown TEXT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextlib.contextmanager
    def _tx(self):
        """One transaction, all or nothing (BEGIN IMMEDIATE: one writer at a time)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _event(self, db, attempt, kind, detail="") -> None:
        db.execute("INSERT INTO events (at, attempt, kind, detail) VALUES (?, ?, ?, ?)",
                   (self.clock(), attempt, kind, detail))

    # -- noticing ----------------------------------------------------------------------------
    def add(self, assignment: str, student: str, submitted: str, *, state: str = "queued",
            late: bool = False, reason: str = "") -> int | None:
        """Record a submission the service noticed; return its id, or None if known already.

        With ``state`` "queued", the student's other queued attempt of the same assignment
        (if any) is superseded by this one: a resubmission replaces its queued attempt.
        """
        for name, value in (("assignment", assignment), ("student", student),
                            ("submitted", submitted)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{name}: expected a non-empty str, found {value!r}")
        if state not in ("waiting", "queued", "refused"):
            raise ValueError(f"state: expected 'waiting', 'queued' or 'refused', found "
                             f"{state!r}")
        now = self.clock()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM attempts WHERE assignment=? AND student=? AND "
                          "submitted=?", (assignment, student, submitted)).fetchone():
                return None
            if state == "queued":
                for old in db.execute(
                        "SELECT id FROM attempts WHERE assignment=? AND student=? AND "
                        "state='queued' AND submitted < ?",
                        (assignment, student, submitted)).fetchall():
                    db.execute("UPDATE attempts SET state='superseded', finished=?, reason=? "
                               "WHERE id=?",
                               (now, f"replaced by the submission of {submitted}", old["id"]))
                    self._event(db, old["id"], "superseded", submitted)
            cur = db.execute(
                "INSERT INTO attempts (assignment, student, submitted, noticed, state, late, "
                "reason, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (assignment, student, submitted, now, state, int(late), reason or None,
                 now if state == "refused" else None))
            self._event(db, cur.lastrowid, "noticed", state)
            return cur.lastrowid

    def release_waiting(self, assignment: str) -> list[int]:
        """At the deadline: each student's last waiting submission of ``assignment`` is
        queued, the others superseded. Returns the ids queued."""
        now = self.clock()
        queued = []
        with self._tx() as db:
            rows = db.execute("SELECT id, student FROM attempts WHERE assignment=? AND "
                              "state='waiting' ORDER BY submitted DESC",
                              (assignment,)).fetchall()
            seen = set()
            for row in rows:
                if row["student"] in seen:
                    db.execute("UPDATE attempts SET state='superseded', finished=?, reason="
                               "'a later submission before the deadline' WHERE id=?",
                               (now, row["id"]))
                else:
                    seen.add(row["student"])
                    db.execute("UPDATE attempts SET state='queued' WHERE id=?", (row["id"],))
                    queued.append(row["id"])
        return queued

    # -- taking work ---------------------------------------------------------------------------
    def recover(self) -> int:
        """After a restart: jobs taken for grading go back to the queue (their place is kept:
        the order is by the time they were noticed). Returns how many."""
        with self._tx() as db:
            rows = db.execute("SELECT id FROM attempts WHERE state='grading'").fetchall()
            for row in rows:
                db.execute("UPDATE attempts SET state='queued', restarts=restarts+1 "
                           "WHERE id=?", (row["id"],))
                self._event(db, row["id"], "requeued", "the service stopped while grading")
        return len(rows)

    def take(self, n: int) -> list[Attempt]:
        """Up to ``n`` queued jobs of one assignment, marked "grading" (the service takes
        one at a time, as each worker becomes free).

        Fair: one job per student, the students served least recently first (never served
        before everyone served), then the job noticed first; never a job of a student whose
        attempt of the same assignment is being graded or finished ("grading", "graded");
        the jobs' assignment is that of the first job so chosen.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n: expected a whole number >= 1, found {n!r}")
        now = self.clock()
        with self._tx() as db:
            rows = db.execute(
                "SELECT a.*, COALESCE(s.last, -1) AS served FROM attempts a "
                "LEFT JOIN served s ON s.student = a.student WHERE a.state='queued' "
                "ORDER BY served, a.noticed, a.id").fetchall()
            busy = {(r["assignment"], r["student"]) for r in db.execute(
                "SELECT assignment, student FROM attempts WHERE state IN "
                "('grading', 'graded')").fetchall()}
            picked, students = [], set()
            for row in rows:
                if (row["assignment"], row["student"]) in busy:
                    continue
                if len(picked) == n:
                    break
                if row["student"] in students:
                    continue
                if picked and row["assignment"] != picked[0]["assignment"]:
                    continue
                picked.append(row)
                students.add(row["student"])
            for i, row in enumerate(picked):
                db.execute("UPDATE attempts SET state='grading', started=? WHERE id=?",
                           (now, row["id"]))
                # a strictly increasing stamp keeps the order of those taken together
                db.execute("INSERT INTO served (student, last) VALUES (?, ?) ON CONFLICT"
                           "(student) DO UPDATE SET last=excluded.last",
                           (row["student"], now + i * 1e-6))
            ids = [row["id"] for row in picked]
        return [self.get(i) for i in ids]

    def claim(self, attempt_id: int) -> None:
        """Take one given job (queued, or already taken) for grading."""
        with self._tx() as db:
            db.execute("UPDATE attempts SET state='grading', started=? WHERE id=? AND "
                       "state IN ('queued', 'grading')", (self.clock(), attempt_id))

    # -- results -------------------------------------------------------------------------------
    def graded(self, attempt_id: int, *, parts: dict, number: int,
               worker_s: float | None = None) -> None:
        """The grader's scores of a job (before its feedback is released), and the seconds
        its grading task took on a worker."""
        score = sum(s[0] or 0 for nb in parts.values() for s in nb.values())
        top = sum(s[1] or 0 for nb in parts.values() for s in nb.values())
        with self._tx() as db:
            db.execute("UPDATE attempts SET state='graded', parts=?, score=?, max_score=?, "
                       "number=?, worker_s=? WHERE id=?",
                       (json.dumps(parts, sort_keys=True), score, top, number, worker_s,
                        attempt_id))
            self._event(db, attempt_id, "graded", f"{score:g}/{top:g}")

    def done(self, attempt_id: int, *, counting: int | None,
             service_s: float | None = None, shown: str | None = None) -> None:
        """Feedback released and the gradebook written: the job is finished. ``counting``
        is the id of the student's attempt the gradebook now holds; ``service_s`` the
        seconds of the service's own work on it; ``shown`` what the released feedback
        shows (the policy's "score", "parts" or "messages")."""
        row = self.get(attempt_id)
        with self._tx() as db:
            db.execute("UPDATE attempts SET state='done', finished=?, service_s=?, shown=? "
                       "WHERE id=?", (self.clock(), service_s, shown, attempt_id))
            if counting is not None:
                db.execute("UPDATE attempts SET counts=(id=?) WHERE assignment=? AND "
                           "student=?", (counting, row.assignment, row.student))
            self._event(db, attempt_id, "released")

    def note(self, attempt_id: int, kind: str, detail: str = "") -> None:
        """An event of a job that changes nothing else (e.g. "sent": its task went to
        the cluster)."""
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"kind: expected a non-empty str, found {kind!r}")
        with self._tx() as db:
            self._event(db, attempt_id, kind, detail)

    def reshown(self, attempt_id: int, shown: str) -> None:
        """The feedback of a done job was released again, now showing ``shown`` (after
        the deadline: everything)."""
        with self._tx() as db:
            db.execute("UPDATE attempts SET shown=? WHERE id=?", (shown, attempt_id))
            self._event(db, attempt_id, "reshown", shown)

    def finish(self, attempt_id: int, state: str, reason: str) -> None:
        """End a job as "failed", "refused" or "superseded", with its reason."""
        if state not in ("failed", "refused", "superseded"):
            raise ValueError(f"state: expected 'failed', 'refused' or 'superseded', found "
                             f"{state!r}")
        with self._tx() as db:
            db.execute("UPDATE attempts SET state=?, reason=?, finished=? WHERE id=?",
                       (state, reason, self.clock(), attempt_id))
            self._event(db, attempt_id, state, reason[:2000])

    # -- reading ------------------------------------------------------------------------------
    def get(self, attempt_id: int) -> Attempt:
        """One attempt by id (KeyError if none)."""
        row = self._db.execute("SELECT * FROM attempts WHERE id=?", (attempt_id,)).fetchone()
        if row is None:
            raise KeyError(f"attempt_id: no attempt {attempt_id!r} in {self.path}")
        return Attempt._from(row)

    def find(self, assignment: str, student: str, submitted: str) -> Attempt | None:
        """The attempt of that submission, or None."""
        row = self._db.execute("SELECT * FROM attempts WHERE assignment=? AND student=? AND "
                               "submitted=?", (assignment, student, submitted)).fetchone()
        return Attempt._from(row) if row else None

    def attempts(self, *, assignment: str | None = None, student: str | None = None,
                 states=None) -> list[Attempt]:
        """Attempts, oldest submission first, filtered by any of the arguments."""
        sql, args = "SELECT * FROM attempts WHERE 1=1", []
        for col, value in (("assignment", assignment), ("student", student)):
            if value is not None:
                sql += f" AND {col}=?"
                args.append(value)
        if states is not None:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        sql += " ORDER BY submitted, id"
        return [Attempt._from(r) for r in self._db.execute(sql, args).fetchall()]

    def graded_count(self, assignment: str, student: str) -> int:
        """How many attempts of the student were graded (the policy's attempts)."""
        return self._db.execute(
            "SELECT COUNT(*) FROM attempts WHERE assignment=? AND student=? AND "
            "number IS NOT NULL", (assignment, student)).fetchone()[0]

    def events(self, kind: str | None = None) -> list[dict]:
        """The event log (every step of every attempt), oldest first."""
        sql = "SELECT * FROM events" + (" WHERE kind=?" if kind else "") + " ORDER BY id"
        return [dict(r) for r in self._db.execute(sql, (kind,) if kind else ()).fetchall()]


def worker_seconds(path, assignment: str) -> dict:
    """student -> the seconds the grading task of their latest graded attempt of
    ``assignment`` took on its worker, read from the journal at ``path`` without writing it
    (SQLite read-only; the service may be running). {} if there is no journal there or it
    cannot be read."""
    if not os.path.isfile(path):
        return {}
    try:
        db = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return {}
    try:
        rows = db.execute("SELECT student, worker_s FROM attempts WHERE assignment = ? AND "
                          "worker_s IS NOT NULL ORDER BY id", (assignment,)).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    return {str(s): float(t) for s, t in rows if isinstance(t, (int, float))}
