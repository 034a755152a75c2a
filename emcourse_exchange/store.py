"""The hub exchange's storage: one folder, readable by the service's Unix user alone.

Layout under ``root`` (0700, owned by the service's user; every folder below 0700, every
file 0600)::

    released/<assignment>/...                       the release, as the instructor sent it
    submitted/<assignment>/<student>/<stamp>/...    one folder per submission, timestamp.txt
                                                    written by the service
    feedback/<assignment>/<student>/<stamp>/...     the feedback on that submission
    tmp/                                            uploads being written (then renamed)

``<student>`` is always the name the hub authenticated; ``<stamp>`` and ``timestamp.txt`` come
from the service's clock. Every write goes to ``tmp/`` first and is renamed into place, so a
reader never sees half an upload.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import uuid

from .payload import Limits, check_id, read_folder, write_folder

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"  # what nbgrader's parse_utc reads
_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
# Files the store reads back are its own: read them with generous bounds.
_OWN = Limits(max_bytes=2_000_000_000, max_files=100_000, max_path=4096, max_depth=64)


class StoreError(Exception):
    """A request the store cannot satisfy; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Store:
    """Releases, submissions and feedback of one course.

    Parameters
    ----------
    root : str
        The folder (created 0700 if missing; refused if others can enter it or another user
        owns it).
    max_submissions : int
        How many submissions one student may make of one assignment.
    """

    def __init__(self, root: str, *, max_submissions: int = 50):
        if not isinstance(root, str) or not os.path.isabs(root):
            raise ValueError(f"root: expected an absolute path, got {root!r}")
        if not isinstance(max_submissions, int) or max_submissions < 1:
            raise ValueError(f"max_submissions: expected a positive int, got {max_submissions!r}")
        self.root = root
        self.max_submissions = max_submissions

    def open(self) -> Store:
        """Create (or check) the folder and its subfolders; return self."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        st = os.lstat(self.root)
        if st.st_uid != os.getuid():
            raise PermissionError(f"{self.root}: owned by uid {st.st_uid}, expected the "
                                  f"service's user (uid {os.getuid()})")
        if st.st_mode & 0o077:
            raise PermissionError(f"{self.root}: mode {oct(st.st_mode & 0o777)}, expected 0700 "
                                  "(only the service may read submissions and feedback)")
        for name in ("released", "submitted", "feedback", "tmp"):
            os.makedirs(os.path.join(self.root, name), mode=0o700, exist_ok=True)
        return self

    # -- helpers ---------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def _put(self, files: dict[str, bytes], dest: str, *, replace: bool) -> None:
        """Write ``files`` as the folder ``dest``, atomically."""
        tmp = self._path("tmp", uuid.uuid4().hex)
        write_folder(files, tmp, file_mode=0o600, dir_mode=0o700)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        old = None
        if os.path.isdir(dest):
            if not replace:
                shutil.rmtree(tmp)
                raise StoreError(409, f"{os.path.relpath(dest, self.root)} exists")
            old = self._path("tmp", uuid.uuid4().hex)
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old:
            shutil.rmtree(old)

    @staticmethod
    def _notebooks(folder: str) -> list[str]:
        return sorted(n[:-6] for n in os.listdir(folder)
                      if n.endswith(".ipynb") and os.path.isfile(os.path.join(folder, n)))

    # -- releases --------------------------------------------------------------------------
    def released(self) -> list[dict]:
        """The released assignments: ``[{"assignment_id", "notebooks"}]``."""
        base = self._path("released")
        return [{"assignment_id": a, "notebooks": self._notebooks(os.path.join(base, a))}
                for a in sorted(os.listdir(base))]

    def release(self, assignment: str, files: dict[str, bytes], *, force: bool) -> None:
        """Release (or with ``force`` replace) an assignment."""
        self._put(files, self._path("released", check_id("assignment", assignment)),
                  replace=force)

    def unrelease(self, assignment: str) -> None:
        """Take a release back (submissions stay)."""
        path = self._release_dir(assignment)
        old = self._path("tmp", uuid.uuid4().hex)
        os.rename(path, old)
        shutil.rmtree(old)

    def _release_dir(self, assignment: str) -> str:
        path = self._path("released", check_id("assignment", assignment))
        if not os.path.isdir(path):
            raise StoreError(404, f"assignment {assignment!r} is not released")
        return path

    def release_files(self, assignment: str) -> dict[str, bytes]:
        """The files of a release."""
        return read_folder(self._release_dir(assignment), limits=_OWN)

    # -- submissions -----------------------------------------------------------------------
    def submit(self, assignment: str, student: str, files: dict[str, bytes]) -> str:
        """File a submission under ``student`` with the service's time; return its timestamp."""
        self._release_dir(assignment)
        folder = self._path("submitted", assignment, check_id("student", student))
        existing = os.listdir(folder) if os.path.isdir(folder) else []
        if len(existing) >= self.max_submissions:
            raise StoreError(429, f"{student} has made {len(existing)} submissions of "
                                  f"{assignment}, the most allowed")
        now = datetime.datetime.now(datetime.UTC)
        while now.strftime(_STAMP_FORMAT) in existing:
            now += datetime.timedelta(microseconds=1)
        timestamp = now.strftime(TIMESTAMP_FORMAT)
        files = dict(files)
        files["timestamp.txt"] = timestamp.encode()
        self._put(files, os.path.join(folder, now.strftime(_STAMP_FORMAT)), replace=False)
        return timestamp

    def submissions(self, assignment: str, student: str | None = None) -> list[dict]:
        """The submissions of an assignment (of one student, or all), oldest first.

        Each is ``{"student_id", "timestamp", "stamp", "notebooks", "feedback"}``, where
        ``feedback`` maps a feedback file's path to its SHA-256.
        """
        base = self._path("submitted", check_id("assignment", assignment))
        students = [check_id("student", student)] if student else (
            sorted(os.listdir(base)) if os.path.isdir(base) else [])
        out = []
        for sid in students:
            folder = os.path.join(base, sid)
            if not os.path.isdir(folder):
                continue
            for stamp in sorted(os.listdir(folder)):
                sub = os.path.join(folder, stamp)
                with open(os.path.join(sub, "timestamp.txt")) as fh:
                    timestamp = fh.read().strip()
                fb = self._path("feedback", assignment, sid, stamp)
                feedback = ({p: hashlib.sha256(c).hexdigest()
                             for p, c in read_folder(fb, limits=_OWN).items()}
                            if os.path.isdir(fb) else {})
                out.append({"student_id": sid, "timestamp": timestamp, "stamp": stamp,
                            "notebooks": self._notebooks(sub), "feedback": feedback})
        return out

    def _submission_dir(self, assignment: str, student: str, stamp: str) -> str:
        path = self._path("submitted", check_id("assignment", assignment),
                          check_id("student", student), check_id("stamp", stamp))
        if not os.path.isdir(path):
            raise StoreError(404, f"no submission {assignment}/{student}/{stamp}")
        return path

    def submission_files(self, assignment: str, student: str, stamp: str) -> dict[str, bytes]:
        """The files of one submission (``timestamp.txt`` included)."""
        return read_folder(self._submission_dir(assignment, student, stamp), limits=_OWN)

    # -- feedback --------------------------------------------------------------------------
    def put_feedback(self, assignment: str, student: str, stamp: str,
                     files: dict[str, bytes]) -> None:
        """Release (or replace) the feedback on one submission."""
        self._submission_dir(assignment, student, stamp)
        self._put(files, self._path("feedback", assignment, student, stamp), replace=True)

    def feedback_files(self, assignment: str, student: str, stamp: str) -> dict[str, bytes]:
        """The feedback on one submission."""
        self._submission_dir(assignment, student, stamp)
        path = self._path("feedback", assignment, student, stamp)
        if not os.path.isdir(path):
            raise StoreError(404, f"no feedback on {assignment}/{student}/{stamp}")
        return read_folder(path, limits=_OWN)
