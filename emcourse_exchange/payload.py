"""The wire format of the hub exchange, and the bounds of what it accepts.

A set of files travels as one JSON object, ``{"files": [{"path": "a/b.ipynb", "content":
"<base64>"}, ...]}``. Only regular files exist in it: no links, no modes, no owners. Paths
are relative, ``/``-separated, without ``.`` or ``..`` components, empty components,
backslashes or control characters. Students can send the service anything, so the service
decodes every upload with :func:`decode` under :class:`Limits` before it writes a byte, and
writes with :func:`write_folder` into a fresh folder it made itself.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
import stat

# One path component: no leading dot-only names, no separators, no control characters.
_COMPONENT = re.compile(r"^[^\x00-\x1f\x7f/\\]+$")
# Ids (assignments, students, submission stamps): what nbgrader and a hub user name allow,
# without '+', '*', '/', spaces or a leading dot.
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one upload may hold.

    Parameters
    ----------
    max_bytes : int
        Total size of the decoded files, in bytes.
    max_files : int
        Number of files.
    max_path : int
        Length of one path, in characters.
    max_depth : int
        Number of components of one path.
    """

    max_bytes: int = 20_000_000
    max_files: int = 200
    max_path: int = 255
    max_depth: int = 8

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Limits.{field.name}: expected an int, got {value!r}")
            if value < 1:
                raise ValueError(f"Limits.{field.name}: expected a positive int, got {value}")

    @property
    def max_body(self) -> int:
        """The largest HTTP body that can hold ``max_bytes`` of files (base64 and JSON)."""
        return self.max_bytes * 4 // 3 + self.max_files * (self.max_path + 64) + 4096


def check_id(kind: str, value) -> str:
    """Return ``value`` if it is a safe id (assignment, student, stamp), else raise.

    Parameters
    ----------
    kind : str
        What the id names, for the message.
    value : str
        The id.

    Returns
    -------
    str
        ``value``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{kind}: expected a str, got {type(value).__name__}")
    if not _ID.match(value):
        raise ValueError(f"{kind}: {value!r} is not a valid id (expected letters, digits and "
                         "'_.@-', not starting with '.' or '-', at most 100 characters)")
    return value


def check_path(path, limits: Limits = Limits()) -> str:
    """Return ``path`` if it is a safe relative file path, else raise ValueError.

    Parameters
    ----------
    path : str
        A ``/``-separated relative path.
    limits : Limits
        Its bounds (length, depth).

    Returns
    -------
    str
        ``path``.
    """
    if not isinstance(path, str):
        raise TypeError(f"path: expected a str, got {type(path).__name__}")
    if not path or len(path) > limits.max_path:
        raise ValueError(f"path: {path[:80]!r} has {len(path)} characters, expected 1 to "
                         f"{limits.max_path}")
    if path.startswith("/"):
        raise ValueError(f"path: {path!r} is absolute, expected a relative path")
    parts = path.split("/")
    if len(parts) > limits.max_depth:
        raise ValueError(f"path: {path!r} has {len(parts)} components, expected at most "
                         f"{limits.max_depth}")
    for part in parts:
        if part in ("", ".", "..") or not _COMPONENT.match(part):
            raise ValueError(f"path: {path!r} has the component {part!r}; expected names "
                             "without '/', '\\', control characters, and not '', '.' or '..'")
    return path


def encode(files: dict[str, bytes]) -> bytes:
    """Encode ``{path: content}`` as the JSON body of a request or a response."""
    items = [{"path": path, "content": base64.b64encode(data).decode("ascii")}
             for path, data in sorted(files.items())]
    return json.dumps({"files": items}).encode("utf-8")


def decode(body: bytes, limits: Limits = Limits()) -> dict[str, bytes]:
    """Decode and check a body made by :func:`encode`.

    Parameters
    ----------
    body : bytes
        The JSON body.
    limits : Limits
        What it may hold.

    Returns
    -------
    dict of str to bytes
        The files by path.

    Raises
    ------
    ValueError
        Anything malformed or out of bounds, with what was found.
    """
    if len(body) > limits.max_body:
        raise ValueError(f"body: {len(body)} bytes, expected at most {limits.max_body}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"body: not JSON ({err})") from None
    items = data.get("files") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("body: expected an object with a list 'files'")  # noqa: TRY004
    if len(items) > limits.max_files:
        raise ValueError(f"files: {len(items)} files, expected at most {limits.max_files}")
    files: dict[str, bytes] = {}
    total = 0
    for item in items:
        if not isinstance(item, dict) or set(item) != {"path", "content"}:
            raise ValueError("files: expected items {'path': str, 'content': base64 str}")
        path = check_path(item["path"], limits)
        if path in files:
            raise ValueError(f"files: {path!r} appears twice")
        if not isinstance(item["content"], str):
            raise ValueError(f"files: the content of {path!r} is not a string")  # noqa: TRY004
        try:
            content = base64.b64decode(item["content"].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError(f"files: the content of {path!r} is not valid base64") from None
        total += len(content)
        if total > limits.max_bytes:
            raise ValueError(f"files: more than {limits.max_bytes} bytes in all")
        files[path] = content
    # A file may not also be a folder of another path ("a" and "a/b").
    folders = {path.rsplit("/", 1)[0] for path in files if "/" in path}
    for path in files:
        if path in folders or any(f.startswith(path + "/") for f in folders):
            raise ValueError(f"files: {path!r} is both a file and a folder")
    return files


def read_folder(root: str, skip=None, limits: Limits = Limits()) -> dict[str, bytes]:
    """Read every regular file under ``root`` (links and special files are left out).

    Parameters
    ----------
    root : str
        The folder.
    skip : callable, optional
        ``skip(relpath, is_dir) -> bool``: leave this file (or folder) out.
    limits : Limits
        Bounds checked on the way (as the service will).

    Returns
    -------
    dict of str to bytes
        The files by ``/``-separated relative path.
    """
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames
                             if not os.path.islink(os.path.join(dirpath, d))
                             and not (skip and skip(rel_dir + d, True)))
        for name in sorted(filenames):
            rel = rel_dir + name
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or (skip and skip(rel, False)):
                continue
            check_path(rel, limits)
            total += st.st_size
            if total > limits.max_bytes or len(files) >= limits.max_files:
                raise ValueError(f"{root}: more than {limits.max_bytes} bytes or "
                                 f"{limits.max_files} files")
            with open(full, "rb") as fh:
                files[rel] = fh.read()
    return files


def write_folder(files: dict[str, bytes], dest: str, *, file_mode: int = 0o644,
                 dir_mode: int = 0o755) -> None:
    """Write ``files`` into the new folder ``dest`` with exactly these modes.

    ``dest`` must not exist (its parent must). Paths are checked again; nothing is
    followed: every file is created with ``O_EXCL | O_NOFOLLOW`` inside folders this call made.

    Parameters
    ----------
    files : dict of str to bytes
        The files by relative path.
    dest : str
        The folder to create.
    file_mode, dir_mode : int
        Modes of the files and the folders (set explicitly, whatever the umask).
    """
    os.mkdir(dest, 0o700)
    made = [dest]
    for path in sorted(files):
        parts = check_path(path, Limits(max_path=4096, max_depth=64)).split("/")
        folder = dest
        for part in parts[:-1]:
            folder = os.path.join(folder, part)
            if not os.path.isdir(folder) or os.path.islink(folder):
                os.mkdir(folder, 0o700)
                made.append(folder)
        target = os.path.join(folder, parts[-1])
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(files[path])
        os.chmod(target, file_mode)
    for folder in reversed(made):
        os.chmod(folder, dir_mode)
