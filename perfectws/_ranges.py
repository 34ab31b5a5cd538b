"""The ``Range`` request header (RFC 9110 section 14.1.2 and 14.2), for static files.

Pure and I/O-free, so the static handler's range policy can be unit- and
property-tested without sockets. It replaces Tornado's private
``tornado.httputil._parse_request_range``, which perfectws should not lean on.

Grammar (RFC 9110 14.1 and 14.1.2)::

    ranges-specifier = range-unit "=" range-set
    range-set        = 1#range-spec
    range-spec       = int-range / suffix-range / other-range
    int-range        = first-pos "-" [ last-pos ]
    suffix-range     = "-" suffix-length
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__: list[str] = []

#: One range-spec of the ``bytes`` unit, with no whitespace inside (the
#: grammar has none): ``a-b``, ``a-`` or the suffix ``-n``.
_SPEC = re.compile(r"(?:([0-9]+)-([0-9]*)|-([0-9]+))")

#: Optional whitespace, RFC 9110 5.6.3: spaces and horizontal tabs only.
_OWS = " \t"


class ByteRange(NamedTuple):
    """A satisfiable range of a representation: bytes ``start`` to ``stop - 1``."""

    start: int
    stop: int


def parse_range(value: str, size: int) -> list[ByteRange | None] | None:
    """Read a ``Range`` header for a representation of ``size`` bytes.

    Returns ``None`` when the header is to be ignored and the whole
    representation served: a unit other than ``bytes`` (RFC 9110 14.1: only
    understood units are processed), or a malformed value, which RFC 9110
    14.2 lets a server ignore. Otherwise one entry per range-spec, in order:
    the bytes it selects, clamped to the representation, or ``None`` if it is
    unsatisfiable (RFC 9110 14.1.1: a first-pos at or past the end, or a
    suffix of zero bytes). A range-spec with last-pos before first-pos makes
    the whole header invalid (14.1.1), so ignored.

    A suffix-range on an empty representation is satisfiable by 14.1.1 yet
    selects no byte, and no ``Content-Range`` can say so; it comes back as
    ``ByteRange(0, 0)`` and the caller decides (static.py serves the empty
    file whole).

    The unit is case-insensitive (14.1); whitespace is allowed around the
    ``=`` (as Tornado's parser allowed) and around list members, and empty
    members are skipped (RFC 9110 5.6.1.2). It never raises.
    """
    unit, equals, range_set = value.partition("=")
    if not equals or unit.strip(_OWS).lower() != "bytes":
        return None
    ranges: list[ByteRange | None] = []
    for member in range_set.split(","):
        member = member.strip(_OWS)
        if not member:
            continue
        match = _SPEC.fullmatch(member)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            length = _number(suffix)
            ranges.append(ByteRange(max(size - length, 0), size) if length else None)
            continue
        if last and _key(last) < _key(first):
            return None
        start = _number(first)
        stop = size if not last else min(_number(last) + 1, size)
        ranges.append(ByteRange(start, stop) if start < size else None)
    return ranges or None


#: Past any file's size. Positions longer than 18 digits become this rather
#: than go through int(), which raises on more than 4300 digits (CPython's
#: guard against quadratic parsing) and would be slow well before that.
_HUGE = 10**18


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _HUGE


def _key(digits: str) -> tuple[int, str]:
    """Orders digit strings as the numbers they spell, however long."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits
