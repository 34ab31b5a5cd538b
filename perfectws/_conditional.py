"""Conditional requests (RFC 9110 section 13) against a file's validators.

Pure: it reads request header values and the representation's ``ETag`` and
``Last-Modified``, and says what to answer. static.py does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import NamedTuple

from ._http_dates import parse_http_date

__all__: list[str] = []

#: entity-tag = [ weak ] opaque-tag; weak = %s"W/" (case-sensitive);
#: opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text.
#: Tornado hands header values over as latin-1 text, so obs-text is \x80-\xff.
_ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')
_OWS = " \t"


class EntityTag(NamedTuple):
    """One entity-tag: whether it is weak, and its opaque-tag (quotes included)."""

    weak: bool
    opaque: str


def entity_tags(value: str) -> Iterator[EntityTag]:
    """The entity-tags of a comma-separated list (RFC 9110 8.8.3 and 5.6.1).

    A comma may sit inside an opaque-tag, so the list is scanned rather than
    split. Empty members are skipped; at the first member that is no
    entity-tag (an unquoted token, ``w/`` in lower case, a stray quote) the
    scan stops, so nothing after it can match (as Go's net/http does).
    """
    position, end = 0, len(value)
    while True:
        while position < end and value[position] in _OWS + ",":
            position += 1
        if position == end:
            return
        match = _ENTITY_TAG.match(value, position)
        if match is None:
            return
        position = match.end()
        while position < end and value[position] in _OWS:
            position += 1
        if position < end and value[position] != ",":
            return  # "a"b: the member did not end at the tag
        yield EntityTag(match.group(1) is not None, match.group(2))


def _any_weak_match(value: str, etag: str) -> bool:
    """RFC 9110 13.1.2: ``*``, or a member equal to ``etag`` ignoring ``W/``."""
    if value.strip(_OWS) == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.opaque == opaque for tag in entity_tags(value))


def _any_strong_match(value: str, etag: str) -> bool:
    """RFC 9110 13.1.1: ``*``, or a member equal to ``etag`` with neither weak."""
    if value.strip(_OWS) == "*":
        return True
    return not etag.startswith("W/") and any(
        not tag.weak and tag.opaque == etag for tag in entity_tags(value)
    )


def precondition_status(
    headers: Mapping[str, str], etag: str, last_modified: int, now: float
) -> HTTPStatus | None:
    """RFC 9110 13.2.2 steps 1 to 4 for a GET or HEAD of an existing file.

    Returns 412 or 304 to answer instead of the file, or ``None`` to go on.
    ``last_modified`` is the ``Last-Modified`` sent, in whole seconds. A date
    that is not a valid HTTP-date makes its header ignored (13.1.3, 13.1.4),
    and ``If-Modified-Since`` is ignored whenever ``If-None-Match`` is there.
    """
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not _any_strong_match(if_match, etag):
            return HTTPStatus.PRECONDITION_FAILED
    else:
        since = _date(headers.get("If-Unmodified-Since"), now)
        if since is not None and last_modified > since:
            return HTTPStatus.PRECONDITION_FAILED
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        if _any_weak_match(if_none_match, etag):
            return HTTPStatus.NOT_MODIFIED
    else:
        since = _date(headers.get("If-Modified-Since"), now)
        if since is not None and last_modified <= since:
            return HTTPStatus.NOT_MODIFIED
    return None


def if_range_holds(value: str, etag: str, last_modified: int, now: float) -> bool:
    """RFC 9110 13.1.5: whether an ``If-Range`` value names the current file.

    An entity-tag must match strongly (a weak one never does); a date must be
    exactly the ``Last-Modified`` sent. Anything else is a stale or unknown
    validator: the ``Range`` is then ignored and the whole file served.
    """
    value = value.strip(_OWS)
    # 13.1.5: a DQUOTE in the first three characters marks an entity-tag.
    if '"' in value[:3]:
        match = _ENTITY_TAG.fullmatch(value)
        return (
            match is not None
            and match.group(1) is None
            and not etag.startswith("W/")
            and match.group(2) == etag
        )
    return _date(value, now) == last_modified


def _date(value: str | None, now: float) -> int | None:
    return None if value is None else parse_http_date(value, now)
