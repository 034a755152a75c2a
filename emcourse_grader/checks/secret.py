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

Salted by the submission. A secret alone gives every student and every submission the same
problems, so a student could learn them over several resubmissions (a function that records
its arguments, a later cell that prints them into the feedback) and then hand in a table of
answers. So the grader salts each seed with the submission itself: while it grades a notebook
(:class:`emcourse_grader.preprocessors.TrustedGrade`, on every path: ``nbgrader autograde``,
``python -m emcourse_grader grade`` on Dask, ``serve``) it works inside :func:`salted` with
:func:`digest` of the notebook's cell sources, and a check's seed becomes
HMAC-SHA256(base seed, digest) (:func:`salt`), the base seed being the pinned one or the one
derived from the secret. A submission that carries knowledge of its own problems must contain
it, which changes its digest and so its problems; the same submission graded again (outputs,
execution counts and metadata aside) gets the same problems and the same score. The digest is
computed and kept in the grader's process: it never enters the sandbox. Outside
:func:`salted` (a check run by hand, the unit tests) the seed is the base seed.

Nothing happens at import time: the secret is read (or made) when a check first needs it.
"""

from __future__ import annotations

import contextlib
import contextvars
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
# The digest of the notebook being graded (bytes), or None: every seed is salted with it.
_salt: contextvars.ContextVar = contextvars.ContextVar("emcourse_checks_salt", default=None)


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


def digest(cells) -> bytes:
    """SHA-256 of a notebook's cells as graded: each cell's type and source, in order.

    ``cells``: the notebook's cells (mappings with ``cell_type`` and ``source``, a string or
    a list of lines, as nbformat has them). Outputs, execution counts and metadata are left
    out: running the same work again changes them, not the work.
    """
    if isinstance(cells, (str, bytes)) or not hasattr(cells, "__iter__"):
        raise TypeError(f"cells must be a notebook's list of cells; found "
                        f"{type(cells).__name__}")
    h = hashlib.sha256(b"emcourse cells v1\n")
    for i, cell in enumerate(cells):
        try:
            kind, source = cell["cell_type"], cell.get("source", "")
        except (TypeError, KeyError, AttributeError):
            raise TypeError(f"cells[{i}] must be a cell with a cell_type and a source; found "
                            f"{type(cell).__name__}") from None
        if isinstance(source, list):
            source = "".join(source)
        if not isinstance(kind, str) or not isinstance(source, str):
            raise TypeError(f"cells[{i}] must have a string cell_type and source; found "
                            f"{type(kind).__name__} and {type(source).__name__}")
        for part in (kind.encode(), source.encode("utf-8", "surrogatepass")):
            h.update(len(part).to_bytes(8, "big"))  # lengths first: no two cells run together
            h.update(part)
    return h.digest()


def salt(seed: int, salt_digest: bytes) -> int:
    """``seed`` salted with a submission's :func:`digest`: 128 bits of
    HMAC-SHA256(str(seed), digest)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; found {type(seed).__name__}")
    if not isinstance(salt_digest, bytes) or not salt_digest:
        raise TypeError(f"salt_digest must be non-empty bytes; found "
                        f"{type(salt_digest).__name__}")
    mac = hmac.new(str(seed).encode(), salt_digest, hashlib.sha256)
    return int.from_bytes(mac.digest()[:16], "big")


@contextlib.contextmanager
def salted(salt_digest):
    """Within the block, every check's seed is salted with ``salt_digest`` (the submission's
    :func:`digest`, bytes); None leaves things as they are."""
    if salt_digest is None:
        yield
        return
    if not isinstance(salt_digest, bytes) or not salt_digest:
        raise TypeError(f"salt_digest must be non-empty bytes (a submission's digest) or "
                        f"None; found {type(salt_digest).__name__}")
    token = _salt.set(salt_digest)
    try:
        yield
    finally:
        _salt.reset(token)


def seed_of(check: str, assignment: str) -> int:
    """The seed of a check: the pinned one if the grader pinned seeds, else derived from the
    course's secret; salted with the submission's digest while the grader grades one
    (:func:`salted`)."""
    if _pinned is not None:
        if check not in _pinned:
            raise KeyError(f"no seed was pinned for the check {check!r}; the grading task "
                           f"carries seeds for {', '.join(sorted(_pinned)) or 'no check'}")
        base = _pinned[check]
    else:
        base = derive(load(), assignment, check)
    current = _salt.get()
    return base if current is None else salt(base, current)
