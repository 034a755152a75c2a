"""The per-course secret the checks' random problems are drawn from, and the seeds it gives.

A check's seed is HMAC-SHA256(secret, "<assignment>/<check>"): the same course grades the same
submission the same way every time (a regrade gives the same score), two courses draw
different problems, and nobody without the secret can compute them, not even with the checks'
source code in hand.

Where the secret lives, first found wins:

1. the environment variable ``EMCOURSE_SECRET`` (at least 16 characters), for a CI job or a
   course graded on several machines;
2. the file ``<course root>/.emcourse/secret`` (ignored by git), created on first use with
   mode 0600 in a directory of mode 0700. A file that others may read is refused.

The grader's side only: the sandbox gets neither the variable (its environment is cleared)
nor the course directory. A Dask worker gets the seeds, not the secret: the coordinator
computes :func:`seeds` and the worker grades inside :func:`pinned`.

Nothing happens at import time: the secret is read (or made) when a check first needs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

ENV = "EMCOURSE_SECRET"
DIRECTORY = ".emcourse"
FILENAME = "secret"
MIN_LENGTH = 16

# Seeds the grader pinned for the submission in flight (check name -> int), or None.
_pinned: dict | None = None


def path(root) -> Path:
    """The secret's file in the course root ``root``."""
    return Path(root) / DIRECTORY / FILENAME


def _checked(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) < MIN_LENGTH:
        raise ValueError(f"{where}: the course secret has {len(text)} characters; expected at "
                         f"least {MIN_LENGTH} (delete the file to have a new one made, or set "
                         f"{ENV} to a long random string)")
    return text.encode("utf-8")


def _read(file: Path) -> bytes:
    fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{file}: the course secret is not a regular file")
        if mode & 0o077:
            raise ValueError(f"{file}: the course secret may be read by others (mode "
                             f"{stat.S_IMODE(mode):04o}); expected 0600: chmod 600 {file}")
        return _checked(f.read(), str(file))


def _create(file: Path) -> None:
    """Write a new random secret to ``file`` unless one is there (atomically: a temporary file
    of mode 0600 linked into place, so two graders starting at once agree on one secret)."""
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = file.parent / f".{FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def load(root=None) -> bytes:
    """The course's secret: ``$EMCOURSE_SECRET``, else the file in the course root ``root``
    (default: :func:`emcourse_grader.course.find_root`), made on first use."""
    value = os.environ.get(ENV)
    if value is not None:
        return _checked(value, f"the environment variable {ENV}")
    if root is None:
        from .. import course
        root = course.find_root()
    file = path(root)
    if not file.exists():
        _create(file)
    return _read(file)


def derive(secret: bytes, assignment: str, check: str) -> int:
    """The seed of the check ``check`` of ``assignment`` under ``secret``: 128 bits of
    HMAC-SHA256(secret, "assignment/check")."""
    if not isinstance(secret, bytes) or not secret:
        raise TypeError(f"secret must be non-empty bytes; found {type(secret).__name__}")
    mac = hmac.new(secret, f"{assignment}/{check}".encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:16], "big")


def seeds(checks: dict, secret: bytes | None = None) -> dict:
    """``{name: seed}`` for ``checks`` (name -> :class:`~._common.Check`), from ``secret``
    (default: :func:`load`): what a grading task carries instead of the secret."""
    secret = load() if secret is None else secret
    return {name: derive(secret, spec.assignment, name) for name, spec in checks.items()}


@contextlib.contextmanager
def pinned(table):
    """Within the block, the checks draw from the seeds of ``table`` (``{name: seed}``, as
    :func:`seeds` makes) and never read the secret; None leaves things as they are."""
    global _pinned
    if table is None:
        yield
        return
    if not isinstance(table, dict):
        raise TypeError(f"table must be a dict of check name -> seed; found "
                        f"{type(table).__name__}")
    before, _pinned = _pinned, {str(k): int(v) for k, v in table.items()}
    try:
        yield
    finally:
        _pinned = before


def seed_of(check: str, assignment: str) -> int:
    """The seed of a check: the pinned one if the grader pinned seeds, else derived from the
    course's secret."""
    if _pinned is not None:
        if check not in _pinned:
            raise KeyError(f"no seed was pinned for the check {check!r}; the grading task "
                           f"carries seeds for {', '.join(sorted(_pinned)) or 'no check'}")
        return _pinned[check]
    return derive(load(), assignment, check)
