"""Property tests of the static handler: paths that never leave the root, and headers.

Paths are built from traversal atoms (``..``, ``.``, ``%2e``, ``%2f``, ``\\``,
``%5c``, ``%00``...), names of real files and folders inside and next to the
root, and random names, each maybe percent-encoded once or twice. The pure test
runs them through ``HTTPRequest`` (the server's decoding) and
``StaticFileHandler._resolve``; a smaller run sends them to a real server.

The header parsers behind it (``Range``, HTTP-dates, entity-tag lists) are
checked here without sockets: unit cases from RFC 9110, then hypothesis
properties (they never raise; ranges stay inside the file; valid input reads
back as an independent model of the grammar says), then random ``Range``
values sent to a real server.
"""

from __future__ import annotations

import calendar
import os
import string
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from perfectws import GET, HTTPRequest, Routes, StaticFileHandler

# Private modules tested for their own contracts: the pure parsers behind
# StaticFileHandler (and its _resolve below), checked without sockets.
from perfectws._conditional import EntityTag, entity_tags
from perfectws._http_dates import format_http_date, parse_http_date
from perfectws._ranges import ByteRange, parse_range
from tests.helpers import Served
from tests.rawhttp import fetch
from tests.test_static import FILES, SENTINELS, make_site

ATOMS = [
    "..",
    ".",
    "...",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%c0%ae",
    "%2f",
    "%2F",
    "\\",
    "%5c",
    "%5C",
    "%00",
    "",
    "~",
    "secret",
    "outside",
    "inner.txt",
    "root",
    "root-private",
    "leak.txt",
    "link_out",
    "link_out_relative",
    "dirlink_out",
    "link_in",
    "dirlink_in",
    "sub",
    "deeper",
    "index.html",
    "hello.txt",
    "page.html",
    "etc",
    "passwd",
]
NAMES = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=8
)
SEPARATORS = st.sampled_from(["/", "/", "/", "//", "%2f", "%2F", "\\", "%5c"])
INSIDE = set(FILES.values())


def percent(text: str, which: list[bool]) -> str:
    return "".join(
        f"%{ord(c):02X}" if i < len(which) and which[i] else c
        for i, c in enumerate(text)
    )


@st.composite
def segments(draw: st.DrawFn) -> str:
    """One path segment, plain, partly or wholly percent-encoded, or encoded twice."""
    segment = draw(st.one_of(st.sampled_from(ATOMS), NAMES))
    how = draw(st.sampled_from(["plain", "plain", "some", "all", "twice"]))
    if how == "plain":
        return segment
    if how == "some":
        return percent(segment, draw(st.lists(st.booleans(), max_size=len(segment))))
    once = percent(segment, [True] * len(segment))
    return once if how == "all" else once.replace("%", "%25")


@st.composite
def targets(draw: st.DrawFn) -> str:
    """A request target: / then segments joined by separators, maybe a trailing /."""
    parts = draw(st.lists(segments(), min_size=1, max_size=8))
    target = "/" + parts[0]
    for part in parts[1:]:
        target += draw(SEPARATORS) + part
    if draw(st.booleans()):
        target += "/"
    return target


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("site"))


def inside(path: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


@settings(max_examples=200, deadline=None, database=None)
@given(target=targets())
def test_resolve_never_leaves_the_root(root: Path, target: str) -> None:
    """_resolve of any decoded path is None or a real path inside the root; files there are inside files."""
    request = HTTPRequest(GET, target)
    path = request.path + ("index.html" if request.path.endswith("/") else "")
    for handler in (StaticFileHandler(), StaticFileHandler(document_root=str(root))):
        resolved = handler._resolve(str(root), path)
        if resolved is None:
            continue
        assert inside(resolved, root), (target, resolved)
        if os.path.isfile(resolved):
            content = Path(resolved).read_bytes()
            assert content in INSIDE, (target, resolved)
            assert not any(s in content for s in SENTINELS)


@st.composite
def detours(draw: st.DrawFn) -> tuple[str, str]:
    """A file's path with '.', 'sub/..' and encoded dots mixed in: (target, name)."""
    name = draw(st.sampled_from(sorted(FILES)))
    pieces: list[str] = []
    for part in name.split("/"):
        for _ in range(draw(st.integers(0, 2))):
            pieces.append(
                draw(st.sampled_from([".", "%2e", "sub/..", "nowhere/%2e%2e"]))
            )
        pieces.append(part)
    return "/" + "/".join(pieces), name


@settings(max_examples=100, deadline=None, database=None)
@given(case=detours())
def test_resolve_finds_files_reached_by_detours(
    root: Path, case: tuple[str, str]
) -> None:
    """A path that wanders but ends inside resolves to exactly that file."""
    target, name = case
    resolved = StaticFileHandler()._resolve(str(root), HTTPRequest(GET, target).path)
    assert resolved == os.path.realpath(root / name), target


@pytest.mark.asyncio
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(target=targets())
async def test_server_never_sends_outside_bytes(
    serve: Callable[..., Any], root: Path, target: str
) -> None:
    """Over HTTP, any target answers 200 with an inside file, a local 301, or 400/403/404."""
    routes = Routes()
    routes["/**"] = StaticFileHandler().handle_request
    served: Served = await serve(routes, document_root=str(root))
    reply = await fetch(served.port, target)
    assert reply.status in (200, 301, 400, 403, 404), (target, reply.status)
    for sentinel in SENTINELS:
        assert sentinel not in reply.raw, target
    if reply.status == 200:
        assert reply.body in INSIDE, target
    if reply.status == 301:
        location = reply.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location
        assert "\\" not in location


# -- Range parser ---------------------------------------------------------------

DIGITS = b"0123456789"


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("bytes=0-499", 10_000, [ByteRange(0, 500)]),  # RFC 9110 14.1.2 examples
        ("bytes=500-999", 10_000, [ByteRange(500, 1000)]),
        ("bytes=-500", 10_000, [ByteRange(9500, 10_000)]),
        ("bytes=9500-", 10_000, [ByteRange(9500, 10_000)]),
        ("bytes=0-0,-1", 10_000, [ByteRange(0, 1), ByteRange(9999, 10_000)]),
        (
            "bytes= 0-999, 4500-5499, -1000",
            10_000,
            [(0, 1000), (4500, 5500), (9000, 10_000)],
        ),
        ("bytes=500-600,601-999", 10_000, [(500, 601), (601, 1000)]),
        ("bytes=10-", 10, [None]),  # first-pos at the end: unsatisfiable
        ("bytes=-0", 10, [None]),  # a zero suffix: unsatisfiable
        ("bytes=0-,20-", 10, [ByteRange(0, 10), None]),
        ("bytes=-5", 0, [ByteRange(0, 0)]),  # satisfiable, yet selects nothing
        ("bytes=0-", 0, [None]),
        ("BYTES=1-2", 10, [ByteRange(1, 3)]),
        ("bytes=1-2,,", 10, [ByteRange(1, 3)]),
        ("items=0-1", 10, None),
        ("bytes=2-1", 10, None),
        ("bytes=1 -2", 10, None),
        ("bytes=0x1-2", 10, None),
        ("bytes=١-٢", 10, None),  # Arabic-Indic digits are no DIGIT
        ("bytes=1-2;x", 10, None),
        ("bytes=", 10, None),
        ("bytes", 10, None),
        ("", 10, None),
    ],
)
def test_parse_range_cases(
    value: str, size: int, expected: list[ByteRange | None] | None
) -> None:
    """parse_range reads RFC 9110's examples and refuses what its grammar does not allow."""
    assert parse_range(value, size) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(
    value=st.one_of(
        st.text(max_size=40),
        st.text(alphabet="bytes=-, \t0123456789", max_size=40),
        st.text(alphabet="-, 0123456789", max_size=40).map(lambda t: "bytes=" + t),
    ),
    size=st.integers(0, 2**40),
)
def test_parse_range_never_raises_and_stays_inside(value: str, size: int) -> None:
    """Any header value gives None or ranges that lie inside the file (and are not empty)."""
    ranges = parse_range(value, size)
    if ranges is None:
        return
    assert ranges, value
    for span in ranges:
        if span is None:
            continue
        assert 0 <= span.start <= span.stop <= size, (value, size, span)
        assert span.start < span.stop or size == 0, (value, size, span)


OWS = st.text(alphabet=" \t", max_size=2)


@st.composite
def range_specs(draw: st.DrawFn) -> tuple[str, tuple[int | None, int | None]]:
    """A valid range-spec as text, with what it asks for: (first, last) or (None, suffix)."""
    zeros = "0" * draw(st.integers(0, 2))
    if draw(st.booleans()):
        suffix = draw(st.integers(0, 10**20))
        return f"-{zeros}{suffix}", (None, suffix)
    first = draw(st.integers(0, 10**20))
    if draw(st.booleans()):
        return f"{zeros}{first}-", (first, None)
    last = first + draw(st.integers(0, 10**20))
    return f"{zeros}{first}-{last}", (first, last)


def model(spec: tuple[int | None, int | None], size: int) -> ByteRange | None:
    """RFC 9110 14.1.2, written out case by case."""
    first, last = spec
    if first is None:
        assert last is not None
        if last == 0:
            return None
        return ByteRange(max(size - last, 0), size)
    if first >= size:
        return None
    if last is None or last >= size:
        return ByteRange(first, size)
    return ByteRange(first, last + 1)


@settings(max_examples=300, deadline=None, database=None)
@given(
    unit=st.sampled_from(["bytes", "Bytes", "BYTES"]),
    specs=st.lists(st.tuples(OWS, range_specs(), OWS), min_size=1, max_size=4),
    size=st.integers(0, 10**6),
)
def test_parse_range_matches_the_rfc(
    unit: str,
    specs: list[tuple[str, tuple[str, tuple[int | None, int | None]], str]],
    size: int,
) -> None:
    """A valid ranges-specifier reads back, spec by spec, as RFC 9110 defines it."""
    value = (
        unit
        + "="
        + ",".join(before + text + after for before, (text, _), after in specs)
    )
    assert parse_range(value, size) == [model(spec, size) for _, (_, spec), _ in specs]


# -- HTTP-date -------------------------------------------------------------------

NOW = 1_750_000_000.0  # mid 2025


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777),  # RFC 9110 5.6.7's example
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777),
        ("Sun Nov  6 08:49:37 1994", 784111777),
        (" Sun, 06 Nov 1994 08:49:37 GMT\t", 784111777),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Wed, 31 Dec 1969 23:59:59 GMT", -1),
        ("Saturday, 01-Jan-00 00:00:00 GMT", 946684800),  # 2000
        ("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800),  # a leap second
        ("Sun, 06 Nov 1994 08:49:37 gmt", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 +0000", None),
        ("Sun, 06 Nov 94 08:49:37 GMT", None),
        ("Sun, 29 Feb 2023 08:49:37 GMT", None),
        ("Sun, 00 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 0000 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 24:00:00 GMT", None),
        ("Sun, 06 Nov 1994 08:60:00 GMT", None),
        ("Sun, 06 Nov 1994 08:49:61 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 ٠٨:49:37 GMT", None),
        ("784111777", None),
        ("", None),
    ],
)
def test_parse_http_date_cases(value: str, expected: int | None) -> None:
    """The three forms RFC 9110 5.6.7 names parse; near misses do not."""
    assert parse_http_date(value, NOW) == expected


def test_rfc850_years_roll_back_past_fifty_years_ahead() -> None:
    """A two-digit year more than 50 years after now is the century before (RFC 9110 5.6.7)."""
    parsed = parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT", NOW)
    assert parsed == calendar.timegm((2070, 1, 1, 0, 0, 0))
    parsed = parse_http_date("Friday, 01-Jan-76 00:00:00 GMT", NOW)
    assert parsed == calendar.timegm((1976, 1, 1, 0, 0, 0))
    # 2075-01-01 is under 50 years after NOW (mid 2025), so it stays.
    parsed = parse_http_date("Tuesday, 01-Jan-75 00:00:00 GMT", NOW)
    assert parsed == calendar.timegm((2075, 1, 1, 0, 0, 0))


@settings(max_examples=300, deadline=None, database=None)
@given(seconds=st.integers(-(2**31), 253402300799))
def test_http_date_round_trips(seconds: int) -> None:
    """A formatted date parses back to itself, and email.utils reads it the same."""
    text = format_http_date(seconds)
    assert parse_http_date(text, NOW) == seconds
    assert parsedate_to_datetime(text).timestamp() == seconds


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.text(max_size=40))
def test_parse_http_date_never_raises(value: str) -> None:
    """Any text is an int or None."""
    assert parse_http_date(value, NOW) is None or isinstance(
        parse_http_date(value, NOW), int
    )


# -- entity-tags -----------------------------------------------------------------

ETAGC = st.text(
    alphabet=st.sampled_from(
        [chr(c) for c in range(0x21, 0x7F) if c != 0x22] + ["\x80", "\xe9", "\xff"]
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None, database=None)
@given(tags=st.lists(st.tuples(st.booleans(), ETAGC, OWS, OWS), min_size=1, max_size=5))
def test_entity_tag_lists_read_back(tags: list[tuple[bool, str, str, str]]) -> None:
    """A list of entity-tags (commas inside them included) scans back tag by tag."""
    value = ",".join(
        f'{before}{"W/" if weak else ""}"{opaque}"{after}'
        for weak, opaque, before, after in tags
    )
    expected = [EntityTag(weak, f'"{opaque}"') for weak, opaque, _, _ in tags]
    assert list(entity_tags(value)) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.text(max_size=40))
def test_entity_tags_never_raise(value: str) -> None:
    """Any text scans to quoted tags only."""
    for tag in entity_tags(value):
        assert tag.opaque.startswith('"') and tag.opaque.endswith('"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"a"', [EntityTag(False, '"a"')]),
        ('W/"a", "b"', [EntityTag(True, '"a"'), EntityTag(False, '"b"')]),
        ('"a,b"', [EntityTag(False, '"a,b"')]),
        (', ,"a" ,', [EntityTag(False, '"a"')]),
        ('""', [EntityTag(False, '""')]),
        ("a", []),
        ('w/"a"', []),
        ('"a"b, "c"', []),
        ('"a", b, "c"', [EntityTag(False, '"a"')]),  # stops at the first non-tag
        ('"a', []),
        ('"a b"', []),  # a space is no etagc
        ("*", []),  # the wildcard is the caller's business
    ],
)
def test_entity_tags_cases(value: str, expected: list[EntityTag]) -> None:
    """The scanner reads quoted tags and W/ only, stopping at the first malformed member."""
    assert list(entity_tags(value)) == expected


# -- Range over a real server --------------------------------------------------------


@pytest.mark.asyncio
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    value=st.one_of(
        st.text(alphabet="bytes=-, 0123456789", max_size=20),
        st.builds(
            lambda specs: "bytes=" + ",".join(text for text, _ in specs),
            st.lists(range_specs(), min_size=1, max_size=2),
        ),
    )
)
async def test_server_answers_any_range_consistently(
    serve: Callable[..., Any], root: Path, value: str
) -> None:
    """Any Range on a GET answers 200 (whole file), 416 (bytes */10) or 206 with the bytes it names."""
    routes = Routes()
    routes["/**"] = StaticFileHandler().handle_request
    served: Served = await serve(routes, document_root=str(root))
    reply = await fetch(served.port, "/digits.txt", headers=[("Range", value)])
    assert reply.status in (200, 206, 416), (value, reply.status)
    content_range = reply.headers.get("Content-Range")
    if reply.status == 200:
        assert reply.body == DIGITS and content_range is None, value
    elif reply.status == 416:
        assert content_range == "bytes */10" and reply.body == b"", value
    else:
        assert content_range is not None
        first, last = map(
            int, content_range.removeprefix("bytes ").split("/")[0].split("-")
        )
        assert content_range.endswith("/10")
        assert reply.body == DIGITS[first : last + 1] != b"", value
        assert reply.headers["Content-Length"] == str(len(reply.body))
