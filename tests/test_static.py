"""StaticFileHandler over real HTTP: types, ranges, ETags, streaming, and no way out.

Every request here is written byte for byte on a raw socket: ``http.client`` and
``AsyncHTTPClient`` normalise ``..`` and percent-encoding, which would hide
exactly the request targets the traversal tests must send.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from perfectws import GET, HTTPResponse, Routes, StaticFileHandler
from tests.helpers import Served, timeout
from tests.rawhttp import fetch, read_reply, request_bytes

pytestmark = pytest.mark.asyncio

# Sentinels that live NEXT TO the document root: no response may ever carry them.
SECRET = b"TOP-SECRET-SENTINEL-5f1c0e77"
OUTSIDE = b"OUTSIDE-DIR-SENTINEL-9b2d4711"
PRIVATE = b"PREFIX-SIBLING-SENTINEL-3a8e0c"
SENTINELS = (SECRET, OUTSIDE, PRIVATE)

BIG = hashlib.shake_256(b"perfectws").digest(1024 * 1024)  # 1 MiB, not compressible
CHUNK = 64 * 1024

#: The regular files inside the root, by path relative to it.
FILES: dict[str, bytes] = {
    "index.html": b"<!doctype html><title>root index</title>",
    "hello.txt": b"hello, static world\n",
    "digits.txt": b"0123456789",
    "app.js": b"console.log('perfectws');\n",
    "style.css": b"body { color: black }\n",
    "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "blob.perfectwsunknownext": b"\x00\x01\x02 opaque",
    "noextension": b"no extension at all",
    "empty.txt": b"",
    "big.bin": BIG,
    "sub/index.html": b"<p>sub index</p>",
    "sub/page.html": b"<p>sub page</p>",
    "sub/deeper/leaf.txt": b"leaf",
    "nosub-index/file.txt": b"a folder without index.html",
}


def make_site(base: Path) -> Path:
    """Build ``base/root`` (the document root) with sentinels and symlinks around it.

    ``base/secret``, ``base/outside/`` and ``base/root-private/`` (a sibling whose
    name starts with the root's) hold the sentinels. Inside the root,
    ``link_out`` and ``dirlink_out`` point outside; ``link_in`` and
    ``dirlink_in`` point inside.
    """
    (base / "secret").write_bytes(SECRET)
    outside = base / "outside"
    outside.mkdir()
    (outside / "inner.txt").write_bytes(OUTSIDE)
    (outside / "index.html").write_bytes(OUTSIDE)
    private = base / "root-private"
    private.mkdir()
    (private / "leak.txt").write_bytes(PRIVATE)
    root = base / "root"
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "link_out").symlink_to(base / "secret")
    (root / "link_out_relative").symlink_to(Path("..") / "secret")
    (root / "dirlink_out").symlink_to(outside, target_is_directory=True)
    (root / "link_in").symlink_to(root / "hello.txt")
    (root / "dirlink_in").symlink_to(root / "sub", target_is_directory=True)
    return root


# -- fixtures -------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_site(tmp_path)


@pytest_asyncio.fixture(params=["server_document_root", "own_document_root"])
async def site(
    request: pytest.FixtureRequest, serve: Callable[..., Any], root: Path
) -> Served:
    """``/**`` served by ``StaticFileHandler()`` (the server's root) or by one with its own.

    With its own root, the server's ``document_root`` is the folder holding
    ``secret``, so a handler that fell back to it would leak the sentinel.
    """
    routes = Routes()
    if request.param == "server_document_root":
        handler = StaticFileHandler(chunked_buffer_size=CHUNK)
        document_root = root
    else:
        handler = StaticFileHandler(document_root=str(root), chunked_buffer_size=CHUNK)
        document_root = root.parent
    routes["/**"] = handler.handle_request
    served: Served = await serve(routes, document_root=str(document_root))
    return served


# -- content --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("hello.txt", "text/plain; charset=utf-8"),
        ("sub/page.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("image.png", "image/png"),
        ("blob.perfectwsunknownext", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ],
)
async def test_file_is_served_with_its_mime_type(
    site: Served, name: str, content_type: str
) -> None:
    """GET of a file answers 200 with its bytes, Content-Length and a MIME type by extension."""
    reply = await fetch(site.port, "/" + name)
    assert reply.status == 200
    assert reply.body == FILES[name]
    assert reply.headers["Content-Type"] == content_type
    assert reply.headers["Content-Length"] == str(len(FILES[name]))
    assert reply.headers["Accept-Ranges"] == "bytes"


async def test_empty_file_is_served_empty(site: Served) -> None:
    """An empty file answers 200 with Content-Length 0."""
    reply = await fetch(site.port, "/empty.txt")
    assert (reply.status, reply.headers["Content-Length"], reply.body) == (
        200,
        "0",
        b"",
    )


@pytest.mark.parametrize(
    ("target", "name"), [("/", "index.html"), ("/sub/", "sub/index.html")]
)
async def test_folder_with_slash_serves_index_html(
    site: Served, target: str, name: str
) -> None:
    """A path ending in / serves that folder's index.html as text/html."""
    reply = await fetch(site.port, target)
    assert reply.status == 200
    assert reply.body == FILES[name]
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"


async def test_folder_without_index_is_404(site: Served) -> None:
    """A folder with no index.html answers 404, naming the path asked for."""
    reply = await fetch(site.port, "/nosub-index/")
    assert reply.status == 404
    assert reply.body == b"The file /nosub-index/ was not found."


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/sub", "/sub/"),
        ("/sub/deeper", "/sub/deeper/"),
        ("/sub?x=1&y=%20", "/sub/?x=1&y=%20"),
        ("/dirlink_in", "/dirlink_in/"),
    ],
)
async def test_folder_without_slash_redirects(
    site: Served, target: str, location: str
) -> None:
    """A folder asked for without the slash answers 301 to the slashed path, query kept."""
    reply = await fetch(site.port, target)
    assert reply.status == 301
    assert reply.headers["Location"] == location
    assert reply.body == b""


@pytest.mark.parametrize(
    "target",
    [
        "/%2fsub/..",  # decodes to //sub/..: Location must not be //sub/../
        "/%2f%2fexample.com/..",
        "/%5cexample.com/..",  # /\example.com/.. : browsers read \ as /
        "/%2F127.0.0.2%2F..%2F",
    ],
)
async def test_redirect_never_leaves_the_host(site: Served, target: str) -> None:
    """A folder redirect's Location is a path on this host, never //host or /\\host."""
    reply = await fetch(site.port, target)
    if reply.status == 301:
        location = reply.headers["Location"]
        assert location.startswith("/")
        assert not location.startswith("//")
        assert "\\" not in location
    else:
        assert reply.status == 200


async def test_redirect_location_is_percent_encoded(site: Served, root: Path) -> None:
    """A folder whose name needs escaping redirects to the escaped path (no raw CR/LF/space)."""
    (root / "a b\r\nSet-Cookie: x=1").mkdir()
    reply = await fetch(site.port, "/a%20b%0D%0ASet-Cookie:%20x=1")
    assert reply.status == 301
    assert reply.headers["Location"] == "/a%20b%0D%0ASet-Cookie%3A%20x%3D1/"
    assert "Set-Cookie" not in reply.headers


@pytest.mark.parametrize("name", ["missing.txt", "sub/missing.html", "nowhere/"])
async def test_missing_file_is_404_with_perfect_text(site: Served, name: str) -> None:
    """A missing file answers 404 with Perfect's body: The file /<path> was not found."""
    reply = await fetch(site.port, "/" + name)
    assert reply.status == 404
    assert reply.body == f"The file /{name} was not found.".encode()
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_file_as_folder_is_404(site: Served) -> None:
    """A path that treats a file as a folder (/hello.txt/ or /hello.txt/x) answers 404."""
    for target in ("/hello.txt/", "/hello.txt/x"):
        reply = await fetch(site.port, target)
        assert reply.status == 404, target


async def test_fifo_is_404_and_does_not_block(site: Served, root: Path) -> None:
    """A FIFO inside the root answers 404 at once instead of blocking the server on open()."""
    os.mkfifo(root / "pipe")
    reply = await fetch(site.port, "/pipe")
    assert reply.status == 404
    assert reply.body == b"The file /pipe was not found."


async def test_post_is_405(site: Served) -> None:
    """POST to a static file answers 405 with Allow: GET, HEAD."""
    reply = await fetch(site.port, "/hello.txt", "POST", body=b"x=1")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert reply.body == b"only GET and HEAD are served"


# -- ETag -----------------------------------------------------------------------


async def test_etag_and_if_none_match_304(site: Served) -> None:
    """The ETag is stable; If-None-Match with it answers 304 with no body."""
    first = await fetch(site.port, "/hello.txt")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 42
    assert (await fetch(site.port, "/hello.txt")).headers["ETag"] == etag
    reply = await fetch(site.port, "/hello.txt", headers=[("If-None-Match", etag)])
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["ETag"] == etag
    assert "Content-Length" not in reply.headers
    assert "Transfer-Encoding" not in reply.headers


@pytest.mark.parametrize(
    "if_none_match",
    [
        '"nope", {etag}',
        "W/{etag}",
        '"nope",W/{etag} ,',
        "*",
        " * ",
        '"a,b", {etag}',  # a comma inside an entity-tag does not split it
    ],
)
async def test_if_none_match_forms(site: Served, if_none_match: str) -> None:
    """If-None-Match as a list, weak, or * answers 304 (weak comparison, RFC 9110 13.1.2)."""
    etag = (await fetch(site.port, "/hello.txt")).headers["ETag"]
    value = if_none_match.format(etag=etag)
    reply = await fetch(site.port, "/hello.txt", headers=[("If-None-Match", value)])
    assert (reply.status, reply.body) == (304, b"")


@pytest.mark.parametrize(
    "if_none_match",
    [
        "{bare}",  # an unquoted token is no entity-tag
        "w/{etag}",  # W/ is case-sensitive
        '"*"',  # a quoted star is a tag named *, not the wildcard
        '"nope"',
        "{etag}x",
        '"{bare}',  # unterminated
        "nope, {etag}",  # the list is malformed before the tag
        "",
    ],
)
async def test_if_none_match_that_names_nothing_gets_the_file(
    site: Served, if_none_match: str
) -> None:
    """If-None-Match without a quoted tag equal to the ETag answers 200 with the file."""
    etag = (await fetch(site.port, "/hello.txt")).headers["ETag"]
    value = if_none_match.format(etag=etag, bare=etag.strip('"'))
    reply = await fetch(site.port, "/hello.txt", headers=[("If-None-Match", value)])
    assert (reply.status, reply.body) == (200, FILES["hello.txt"])


async def test_stale_etag_gets_the_file(site: Served, root: Path) -> None:
    """After the file changes, the old ETag no longer matches: 200 with the new bytes."""
    etag = (await fetch(site.port, "/hello.txt")).headers["ETag"]
    (root / "hello.txt").write_bytes(b"changed")
    os.utime(root / "hello.txt", (1, 1))
    reply = await fetch(site.port, "/hello.txt", headers=[("If-None-Match", etag)])
    assert (reply.status, reply.body) == (200, b"changed")
    assert reply.headers["ETag"] != etag


# -- Last-Modified and conditional requests (RFC 9110 section 13) ---------------

#: 2020-09-13 12:26:40.5 UTC: the half second must not reach Last-Modified.
MTIME = 1_600_000_000.5
MTIME_HTTP = "Sun, 13 Sep 2020 12:26:40 GMT"


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


@pytest.fixture
def dated(root: Path) -> Path:
    """digits.txt with a known modification time, MTIME."""
    path = root / "digits.txt"
    os.utime(path, (MTIME, MTIME))
    return path


async def test_rewrite_within_one_mtime_changes_the_etag(
    site: Served, root: Path
) -> None:
    """A rewrite that keeps the modification time but not the size gets a new ETag."""
    os.utime(root / "hello.txt", (MTIME, MTIME))
    etag = (await fetch(site.port, "/hello.txt")).headers["ETag"]
    (root / "hello.txt").write_bytes(b"other length")
    os.utime(root / "hello.txt", (MTIME, MTIME))
    reply = await fetch(site.port, "/hello.txt", headers=[("If-None-Match", etag)])
    assert (reply.status, reply.body) == (200, b"other length")


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", [], 200),
        ("HEAD", [], 200),
        ("GET", [("Range", "bytes=1-2")], 206),
        ("GET", [("Range", "bytes=50-")], 416),
        ("GET", [("If-Modified-Since", MTIME_HTTP)], 304),
        ("HEAD", [("If-Modified-Since", MTIME_HTTP)], 304),
        ("GET", [("If-Match", '"nope"')], 412),
    ],
)
async def test_every_file_answer_has_last_modified(
    site: Served, dated: Path, method: str, headers: list[tuple[str, str]], status: int
) -> None:
    """200, HEAD, 206, 416, 304 and 412 carry Last-Modified (whole seconds), ETag, Cache-Control."""
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    reply = await fetch(site.port, "/digits.txt", method, headers)
    assert reply.status == status
    assert reply.headers["Last-Modified"] == MTIME_HTTP
    assert reply.headers["ETag"] == etag
    # Without it, Last-Modified lets a browser cache the file unchecked.
    assert reply.headers["Cache-Control"] == "no-cache"


async def test_last_modified_before_1970_is_the_epoch(
    site: Served, dated: Path
) -> None:
    """A file dated before 1970 is sent as modified at the epoch, never a malformed date."""
    os.utime(dated, (-365 * 86400.5, -365 * 86400.5))
    reply = await fetch(site.port, "/digits.txt")
    assert reply.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"


async def test_last_modified_in_the_future_is_now(site: Served, dated: Path) -> None:
    """A file dated in the future is sent with Last-Modified no later than now (RFC 9110 8.8.2.1)."""
    future = time.time() + 10 * 365 * 86400
    os.utime(dated, (future, future))
    before = int(time.time())
    reply = await fetch(site.port, "/digits.txt")
    sent = parsedate_to_datetime(reply.headers["Last-Modified"]).timestamp()
    assert before <= sent <= time.time()


@pytest.mark.parametrize(
    "since",
    [
        MTIME_HTTP,
        http_date(MTIME + 3600),
        "Sunday, 13-Sep-20 12:26:40 GMT",  # RFC 850, two-digit year
        "Sun Sep 13 12:26:40 2020",  # asctime
    ],
)
async def test_if_modified_since_not_modified_is_304(
    site: Served, dated: Path, since: str
) -> None:
    """If-Modified-Since at or after Last-Modified, in any HTTP-date form, answers a bare 304."""
    reply = await fetch(
        site.port, "/digits.txt", headers=[("If-Modified-Since", since)]
    )
    assert (reply.status, reply.body) == (304, b"")
    assert reply.headers["Last-Modified"] == MTIME_HTTP
    assert reply.headers["ETag"].startswith('"')
    for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
        assert name not in reply.headers


@pytest.mark.parametrize(
    "since",
    [
        http_date(MTIME - 1),
        "Sun, 13 Sep 2020 12:26:40 UTC",  # not GMT: no HTTP-date
        "Sun, 13 Sep 2020 12:26:40",
        "2020-09-13T12:26:40Z",
        "Sun, 31 Sep 2020 12:26:40 GMT",  # no such day
        "Sun, 13 Sep 2020 25:26:40 GMT",
        f"{MTIME_HTTP}, {MTIME_HTTP}",  # two members
        "yesterday",
        "",
    ],
)
async def test_if_modified_since_earlier_or_invalid_gets_the_file(
    site: Served, dated: Path, since: str
) -> None:
    """An earlier date answers 200; an invalid one is ignored (RFC 9110 13.1.3): 200 too."""
    reply = await fetch(
        site.port, "/digits.txt", headers=[("If-Modified-Since", since)]
    )
    assert (reply.status, reply.body) == (200, b"0123456789")
    assert reply.headers["Last-Modified"] == MTIME_HTTP


async def test_if_none_match_overrides_if_modified_since(
    site: Served, dated: Path
) -> None:
    """With If-None-Match present, If-Modified-Since is ignored both ways (RFC 9110 13.1.3)."""
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    fresh = [("If-None-Match", '"old"'), ("If-Modified-Since", MTIME_HTTP)]
    reply = await fetch(site.port, "/digits.txt", headers=fresh)
    assert (reply.status, reply.body) == (200, b"0123456789")
    stale = [("If-None-Match", etag), ("If-Modified-Since", http_date(MTIME - 99))]
    reply = await fetch(site.port, "/digits.txt", headers=stale)
    assert (reply.status, reply.body) == (304, b"")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("If-Match", "{etag}")], 200),
        ([("If-Match", '"a", {etag}')], 200),
        ([("If-Match", "*")], 200),
        ([("If-Match", '"nope"')], 412),
        ([("If-Match", "W/{etag}")], 412),  # If-Match compares strongly
        ([("If-Match", "{bare}")], 412),
        ([("If-Unmodified-Since", MTIME_HTTP)], 200),
        ([("If-Unmodified-Since", http_date(MTIME - 1))], 412),
        ([("If-Unmodified-Since", "not a date")], 200),
        # If-Match present: If-Unmodified-Since is not looked at.
        ([("If-Match", "{etag}"), ("If-Unmodified-Since", http_date(0))], 200),
        # 412 comes before 304 (RFC 9110 13.2.2).
        ([("If-Match", '"nope"'), ("If-None-Match", "{etag}")], 412),
    ],
)
async def test_if_match_and_if_unmodified_since(
    site: Served, dated: Path, headers: list[tuple[str, str]], status: int
) -> None:
    """A failed If-Match or If-Unmodified-Since answers 412 with no file; a held one 200."""
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    filled = [(k, v.format(etag=etag, bare=etag.strip('"'))) for k, v in headers]
    reply = await fetch(site.port, "/digits.txt", headers=filled)
    assert reply.status == status
    assert reply.body == (b"0123456789" if status == 200 else b"")


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ("{etag}", 206),
        (MTIME_HTTP, 206),
        ("Sunday, 13-Sep-20 12:26:40 GMT", 206),  # the same instant, RFC 850 form
        ('"stale"', 200),
        ("W/{etag}", 200),  # a weak tag never matches strongly
        ("{bare}", 200),
        (http_date(MTIME + 1), 200),  # a date must be Last-Modified exactly
        (http_date(MTIME - 1), 200),
        ("not a validator", 200),
    ],
)
async def test_if_range(site: Served, dated: Path, if_range: str, status: int) -> None:
    """If-Range naming the current file gets the 206; a stale validator the whole file (200)."""
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    value = if_range.format(etag=etag, bare=etag.strip('"'))
    headers = [("Range", "bytes=2-4"), ("If-Range", value)]
    reply = await fetch(site.port, "/digits.txt", headers=headers)
    assert reply.status == status
    if status == 206:
        assert reply.body == b"234"
        assert reply.headers["Content-Range"] == "bytes 2-4/10"
    else:
        assert reply.body == b"0123456789"
        assert "Content-Range" not in reply.headers


async def test_if_range_after_the_file_changed(site: Served, root: Path) -> None:
    """A download resumed with the old ETag after the file changed restarts from byte 0."""
    path = root / "digits.txt"
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    path.write_bytes(b"abcdefghij")
    os.utime(path, (MTIME, MTIME))
    headers = [("Range", "bytes=5-"), ("If-Range", etag)]
    reply = await fetch(site.port, "/digits.txt", headers=headers)
    assert (reply.status, reply.body) == (200, b"abcdefghij")


async def test_stale_if_range_beats_an_unsatisfiable_range(
    site: Served, dated: Path
) -> None:
    """With a stale If-Range the Range is ignored, so even a range past the end gets 200."""
    headers = [("Range", "bytes=50-"), ("If-Range", '"stale"')]
    reply = await fetch(site.port, "/digits.txt", headers=headers)
    assert (reply.status, reply.body) == (200, b"0123456789")


async def test_if_range_without_range_is_ignored(site: Served, dated: Path) -> None:
    """If-Range alone changes nothing: 200 with the file."""
    reply = await fetch(site.port, "/digits.txt", headers=[("If-Range", '"stale"')])
    assert (reply.status, reply.body) == (200, b"0123456789")


# -- Range ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=-3", 7, 9),
        ("bytes=7-", 7, 9),
        ("bytes=0-0", 0, 0),
        ("bytes=5-100", 5, 9),  # end past the file is clamped
        ("bytes=-100", 0, 9),  # suffix longer than the file is the whole file
    ],
)
async def test_range_is_206(site: Served, spec: str, first: int, last: int) -> None:
    """A satisfiable single Range answers 206, Content-Range and exactly those bytes."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", spec)])
    assert reply.status == 206
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/10"
    assert reply.headers["Content-Length"] == str(last - first + 1)
    assert reply.body == b"0123456789"[first : last + 1]


@pytest.mark.parametrize("spec", ["bytes=10-", "bytes=10-20", "bytes=-0"])
async def test_unsatisfiable_range_is_416(site: Served, spec: str) -> None:
    """A Range starting past the end answers 416 with Content-Range: bytes */N."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", spec)])
    assert reply.status == 416
    assert reply.headers["Content-Range"] == "bytes */10"
    assert reply.body == b""


@pytest.mark.parametrize("spec", ["items=0-3", "bytes=0-1,4-5", "bytes=x-y"])
async def test_unsupported_range_is_ignored(site: Served, spec: str) -> None:
    """Another unit, several ranges or garbage: the Range is ignored and the file is 200."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", spec)])
    assert (reply.status, reply.body) == (200, b"0123456789")
    assert "Content-Range" not in reply.headers


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("BYTES=2-5", 2, 5),  # the unit is case-insensitive
        ("bytes = 2-5", 2, 5),
        ("bytes=\t2-5 ", 2, 5),
        ("bytes=, 2-5 ,", 2, 5),  # empty list members are skipped
        ("bytes=0002-0005", 2, 5),
        ("bytes=8-" + "9" * 5000, 8, 9),  # more digits than int() takes
        ("bytes=-" + "9" * 5000, 0, 9),
    ],
)
async def test_range_spellings(site: Served, spec: str, first: int, last: int) -> None:
    """Case, whitespace, empty members and huge numbers in a valid Range still give its 206."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", spec)])
    assert reply.status == 206
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/10"
    assert reply.body == b"0123456789"[first : last + 1]


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=5-2",  # last before first: invalid (RFC 9110 14.1.1)
        "bytes=2 - 5",
        "bytes=+2-5",
        "bytes=2-5-7",
        "bytes=--3",
        "bytes=",
        "bytes=,",
        "bytes",
        "=0-1",
        "bytes=0-1,100-",  # several ranges, even if one is unsatisfiable
        "bytes=0-1,x",
        "bytes=" + "9" * 5000 + "-1",
    ],
)
async def test_malformed_range_is_ignored(site: Served, spec: str) -> None:
    """A malformed Range is ignored (RFC 9110 14.2): 200 with the whole file."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", spec)])
    assert (reply.status, reply.body) == (200, b"0123456789")
    assert "Content-Range" not in reply.headers


async def test_unsatisfiable_range_headers(site: Served, dated: Path) -> None:
    """A 416 says the length in Content-Range, has an empty body, and keeps the validators."""
    reply = await fetch(site.port, "/digits.txt", headers=[("Range", "bytes=10-")])
    assert reply.status == 416
    assert reply.headers["Content-Range"] == "bytes */10"
    assert reply.headers["Content-Length"] == "0"
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["Last-Modified"] == MTIME_HTTP
    assert reply.body == b""


@pytest.mark.parametrize(
    ("spec", "status"),
    [("bytes=-5", 200), ("bytes=0-", 416), ("bytes=0-0", 416)],
)
async def test_range_of_an_empty_file(site: Served, spec: str, status: int) -> None:
    """An empty file: a suffix is served whole (nothing to describe); a first-pos is 416."""
    reply = await fetch(site.port, "/empty.txt", headers=[("Range", spec)])
    assert (reply.status, reply.body) == (status, b"")
    if status == 416:
        assert reply.headers["Content-Range"] == "bytes */0"
    else:
        assert "Content-Range" not in reply.headers


@pytest.mark.parametrize("spec", ["bytes=2-5", "bytes=50-"])
async def test_head_ignores_range(site: Served, spec: str) -> None:
    """Ranges are for GET only (RFC 9110 14.2): HEAD with one answers the 200's headers."""
    reply = await fetch(site.port, "/digits.txt", "HEAD", [("Range", spec)])
    assert reply.status == 200
    assert reply.headers["Content-Length"] == "10"
    assert "Content-Range" not in reply.headers


async def test_range_across_chunks_of_a_big_file(site: Served) -> None:
    """A Range spanning several stream chunks answers exactly those bytes."""
    first, last = CHUNK - 7, 5 * CHUNK + 11
    reply = await fetch(
        site.port, "/big.bin", headers=[("Range", f"bytes={first}-{last}")]
    )
    assert reply.status == 206
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{len(BIG)}"
    assert reply.body == BIG[first : last + 1]


# -- HEAD -----------------------------------------------------------------------


async def test_head_has_headers_and_no_body(site: Served) -> None:
    """HEAD answers the GET's status and headers (Content-Length included) with no body."""
    get = await fetch(site.port, "/big.bin")
    head = await fetch(site.port, "/big.bin", "HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(BIG))
    for name in ("Content-Type", "ETag", "Accept-Ranges"):
        assert head.headers[name] == get.headers[name]


async def test_head_then_get_on_one_keep_alive_connection(site: Served) -> None:
    """After HEAD responses (200 and 404) the same connection serves a GET intact."""
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    try:
        for target in ("/hello.txt", "/missing.txt", "/big.bin"):
            writer.write(request_bytes(target, "HEAD", close=False))
            head = await read_reply(reader, head=True)
            assert head.status == (404 if target == "/missing.txt" else 200)
            assert head.headers["Content-Length"] != "0"
        writer.write(request_bytes("/hello.txt", close=False))
        get = await read_reply(reader)
        assert (get.status, get.body) == (200, FILES["hello.txt"])
    finally:
        writer.close()
        await writer.wait_closed()


async def test_keep_alive_after_304_and_206(site: Served) -> None:
    """A 304 and a 206 leave the keep-alive connection in step for the next request."""
    etag = (await fetch(site.port, "/digits.txt")).headers["ETag"]
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    try:
        writer.write(
            request_bytes("/digits.txt", headers=[("If-None-Match", etag)], close=False)
        )
        assert (await read_reply(reader)).status == 304
        writer.write(
            request_bytes("/digits.txt", headers=[("Range", "bytes=-3")], close=False)
        )
        assert (await read_reply(reader)).body == b"789"
        writer.write(request_bytes("/digits.txt", close=False))
        assert (await read_reply(reader)).body == b"0123456789"
    finally:
        writer.close()
        await writer.wait_closed()


# -- streaming ------------------------------------------------------------------


async def test_big_file_streams_intact_in_chunks(
    site: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 MiB file with chunked_buffer_size=64 KiB arrives intact, pushed in 64 KiB pieces."""
    pushes: list[int] = []
    original = HTTPResponse.push

    def counting_push(self: HTTPResponse, callback: Any = None) -> None:
        pushes.append(len(self.body))
        original(self, callback)

    monkeypatch.setattr(HTTPResponse, "push", counting_push)
    reply = await fetch(site.port, "/big.bin")
    assert reply.status == 200
    assert reply.headers["Content-Length"] == str(len(BIG))
    assert "Transfer-Encoding" not in reply.headers
    assert reply.body == BIG
    assert pushes == [CHUNK] * (len(BIG) // CHUNK - 1)


async def test_big_file_over_http_1_0(site: Served) -> None:
    """An HTTP/1.0 client gets the whole big file and then the connection closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    try:
        writer.write(b"GET /big.bin HTTP/1.0\r\n\r\n")
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (200, BIG)
        assert await asyncio.wait_for(reader.read(), timeout(10)) == b""
    finally:
        writer.close()
        await writer.wait_closed()


async def test_client_leaving_mid_stream_is_harmless(site: Served) -> None:
    """A client that disconnects during a big download breaks nothing and logs nothing."""
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
        writer.write(request_bytes("/big.bin"))
        await asyncio.wait_for(reader.readexactly(CHUNK), timeout(10))
        writer.transport.abort()
    await asyncio.sleep(0.05)  # let a stray callback error reach the log guard
    reply = await fetch(site.port, "/big.bin")
    assert reply.body == BIG


async def test_concurrent_downloads_interleave(site: Served) -> None:
    """Several big downloads at once all arrive intact."""
    replies = await asyncio.gather(*(fetch(site.port, "/big.bin") for _ in range(4)))
    assert [r.body == BIG for r in replies] == [True] * 4


# -- path safety ----------------------------------------------------------------

TRAVERSALS = [
    "/../secret",
    "/..",
    "/../",
    "/%2e%2e/secret",
    "/%2E%2E/secret",
    "/%2E%2E%2Fsecret",
    "/%2e%2e%2fsecret",
    "/..%2fsecret",
    "/..%2Fsecret",
    "/.%2e/secret",
    "/%2e./secret",
    "/sub/../../secret",
    "/sub/%2e%2e/%2e%2e/secret",
    "/sub/deeper/../../../secret",
    "/./../secret",
    "/..\\secret",
    "/..%5csecret",
    "/..%5Csecret",
    "/%2e%2e%5csecret",
    "/%252e%252e/secret",
    "/%252e%252e%252fsecret",
    "/..%252fsecret",
    "/%c0%ae%c0%ae/secret",  # overlong UTF-8 dots
    "//etc/passwd",
    "/%2fetc/passwd",
    "/%2F%2Fetc%2Fpasswd",
    "/secret%00",
    "/%00/../secret",
    "/hello.txt%00/../../secret",
    "/../outside/inner.txt",
    "/../outside/",
    "/../outside",
    "/../root-private/leak.txt",
    "/%2e%2e/root-private/leak.txt",
    "/link_out",
    "/link_out_relative",
    "/dirlink_out/inner.txt",
    "/dirlink_out/",
    "/dirlink_out",
    "/dirlink_out/../secret",
    "/sub/../link_out",
    "http://127.0.0.1/../secret",
    "/secret",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_no_byte_from_outside_the_root(site: Served, target: str) -> None:
    """Every spelling of a way out of the root answers 404 (or 400/403), with no outside bytes."""
    reply = await fetch(site.port, target)
    assert reply.status in (400, 403, 404), (reply.status, reply.body[:80])
    for sentinel in SENTINELS:
        assert sentinel not in reply.raw


async def test_absolute_path_of_the_secret_is_refused(site: Served, root: Path) -> None:
    """The sentinel's absolute path, raw or encoded, never reaches it."""
    secret = str(root.parent / "secret")
    for target in ("/" + secret, "/" + secret.replace("/", "%2f"), secret + "%00"):
        reply = await fetch(site.port, target)
        assert reply.status in (400, 403, 404), target
        assert SECRET not in reply.raw


async def test_nul_byte_is_404(site: Served) -> None:
    """A NUL byte in the decoded path answers 404, not 500."""
    reply = await fetch(site.port, "/hello.txt%00.png")
    assert reply.status == 404
    assert reply.body == b"The file /hello.txt\x00.png was not found."


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("/link_in", "hello.txt"),
        ("/dirlink_in/page.html", "sub/page.html"),
        ("/dirlink_in/", "sub/index.html"),
        ("/sub/../hello.txt", "hello.txt"),
        ("/sub/%2e%2e/hello.txt", "hello.txt"),
        ("/./sub/./page.html", "sub/page.html"),
        ("/sub%2fpage.html", "sub/page.html"),
        ("/nowhere/../hello.txt", "hello.txt"),
    ],
)
async def test_paths_that_stay_inside_are_served(
    site: Served, target: str, name: str
) -> None:
    """Symlinks and .. that resolve inside the root are served as the file they reach."""
    reply = await fetch(site.port, target)
    assert (reply.status, reply.body) == (200, FILES[name])


# -- routes and roots -----------------------------------------------------------


async def test_star_route_serves_top_level_files(
    serve: Callable[..., Any], root: Path
) -> None:
    """The echo example's routes["*"] = StaticFileHandler().handle_request serves a top-level file."""
    routes = Routes()
    routes["*"] = StaticFileHandler().handle_request
    served: Served = await serve(routes, document_root=str(root))
    reply = await fetch(served.port, "/hello.txt")
    assert (reply.status, reply.body) == (200, FILES["hello.txt"])
    reply = await fetch(served.port, "/../secret")
    assert reply.status == 404
    assert SECRET not in reply.raw


async def test_own_root_beats_server_root(
    serve: Callable[..., Any], root: Path, tmp_path: Path
) -> None:
    """A StaticFileHandler with document_root serves that folder, not the server's."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "hello.txt").write_bytes(b"from the other root")
    routes = Routes()
    routes[GET, "/other/**"] = StaticFileHandler(
        document_root=str(other)
    ).handle_request
    routes[GET, "/**"] = StaticFileHandler().handle_request
    served: Served = await serve(routes, document_root=str(root))
    assert (await fetch(served.port, "/hello.txt")).body == FILES["hello.txt"]
    # The handler maps the whole request path under its root, as Perfect does.
    (other / "other").mkdir()
    (other / "other" / "x.txt").write_bytes(b"other/x")
    assert (await fetch(served.port, "/other/x.txt")).body == b"other/x"


async def test_defaults() -> None:
    """StaticFileHandler() uses the server's root, 200 KiB chunks, no response filters."""
    handler = StaticFileHandler()
    assert handler.document_root is None
    assert handler.chunked_buffer_size == 200 * 1024
    assert handler.allow_response_filters is False


async def test_file_shrinking_mid_stream_truncates_quietly(
    site: Served, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file cut short while it streams ends the connection early, logging no error."""
    original = HTTPResponse.push

    def push_then_truncate(self: HTTPResponse, callback: Any = None) -> None:
        os.truncate(root / "big.bin", 3 * CHUNK + 5)
        original(self, callback)

    monkeypatch.setattr(HTTPResponse, "push", push_then_truncate)
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    try:
        writer.write(request_bytes("/big.bin"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout(10))
        assert f"Content-Length: {len(BIG)}\r\n".encode() in head
        data = await asyncio.wait_for(reader.read(), timeout(10))
    finally:
        writer.close()
    assert data == BIG[: 3 * CHUNK + 5]
    await asyncio.sleep(0.05)  # let a stray callback error reach the log guard


@pytest.mark.parametrize("size", [0, -1, 1.5])
async def test_bad_chunk_size_raises_at_once(size: Any) -> None:
    """A chunked_buffer_size that is not a positive int raises ValueError when constructed."""
    with pytest.raises(ValueError, match="chunked_buffer_size must be a positive"):
        StaticFileHandler(chunked_buffer_size=size)
