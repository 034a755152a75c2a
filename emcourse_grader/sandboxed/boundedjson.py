"""JSON from an untrusted source, parsed only when it is small and shallow enough.

``json.loads`` builds every value of its input at once and recurses once per nesting level:
eleven megabytes of ``[],[],...`` cost the parser well over a gigabyte, and a few thousand
nested brackets raise ``RecursionError`` (in the parser, or later in whatever walks the
result). :func:`check` measures a document *before* it is parsed, without building anything:
its size, its nesting depth and its number of containers and values, counted outside strings
(strings are skipped by one regular expression, after their number is bounded by counting
quotes, so a large figure or a long text costs almost nothing). :func:`loads` parses only what passes, and turns whatever the parser still raises
into :class:`UntrustedJSONError`, a ``ValueError`` whose message says what was found and what
is allowed. Used for every frame between the grader and its sandboxed worker
(:mod:`emcourse_grader.sandboxed.wire`) and for every notebook a student or a sandbox wrote.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# A JSON string token: a quote, then anything but a quote or a backslash, or an escape.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class UntrustedJSONError(ValueError):
    """A document too large, too deep, with too many values, or not JSON."""


@dataclass(frozen=True)
class Caps:
    """What a document may hold: ``max_bytes`` of text, ``max_depth`` levels of nested
    arrays and objects, ``max_containers`` arrays and objects, ``max_values`` values in all
    (roughly: commas plus containers)."""

    max_bytes: int
    max_depth: int
    max_containers: int
    max_values: int


def check(data: bytes, caps: Caps, *, what: str = "the document") -> None:
    """Raise :class:`UntrustedJSONError` if ``data`` exceeds ``caps``; never parses it.

    The counts are exact for valid JSON; for invalid JSON they may only be too high, and the
    parser stops at the first error anyway, within what was counted."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data: expected bytes, found {type(data).__name__}")
    if len(data) > caps.max_bytes:
        raise UntrustedJSONError(f"{what} is {len(data):,} bytes; at most "
                                 f"{caps.max_bytes:,} are read")
    data = bytes(data)
    # Every string opens with a quote that no backslash precedes, and closes with at most one
    # more: so there are at least half as many strings as such quotes (the regular expression
    # below then handles at most twice max_values of them).
    quotes = data.count(b'"') - data.count(b'\\"')
    if quotes // 2 > caps.max_values:
        raise UntrustedJSONError(f"{what} holds about {quotes // 2:,} strings; at most "
                                 f"{caps.max_values:,} values are read")
    bare = _STRING.sub(b"", data)  # the structure: brackets, commas, numbers, literals
    containers = bare.count(b"[") + bare.count(b"{")
    if containers > caps.max_containers:
        raise UntrustedJSONError(f"{what} holds {containers:,} arrays and objects; at most "
                                 f"{caps.max_containers:,} are read")
    if bare.count(b"]") + bare.count(b"}") > containers:
        raise UntrustedJSONError(f"{what} is not valid JSON: more closing brackets than "
                                 "opening ones")
    values = bare.count(b",") + containers + 1
    if values > caps.max_values:
        raise UntrustedJSONError(f"{what} holds about {values:,} values; at most "
                                 f"{caps.max_values:,} are read")
    depth = deepest = 0
    for b in bare.translate(None, _NOT_BRACKETS):  # at most 2 * max_containers bytes
        if b in (91, 123):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > caps.max_depth:
                    raise UntrustedJSONError(
                        f"{what} is nested more than {caps.max_depth} levels deep")
        else:
            depth -= 1


def loads(data: bytes, caps: Caps, *, what: str = "the document"):
    """The parsed document, if it passes :func:`check`; else :class:`UntrustedJSONError`."""
    check(data, caps, what=what)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedJSONError(f"{what} is not UTF-8 text ({exc.reason} at byte "
                                 f"{exc.start})") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:  # JSONDecodeError
        begins = f" (it begins {text[:80]!r})" if getattr(exc, "pos", None) == 0 else ""
        raise UntrustedJSONError(f"{what} is not valid JSON: {str(exc)[:200]}{begins}") \
            from None
