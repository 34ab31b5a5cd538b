"""A raw HTTP/1.1 client: writes the request target byte for byte.

``http.client`` and ``AsyncHTTPClient`` normalise ``..`` and percent-encoding,
which would hide exactly the request targets the traversal tests must send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import NamedTuple

from tornado.httputil import HTTPHeaders, parse_response_start_line

from tests.helpers import timeout


class Reply(NamedTuple):
    status: int
    headers: HTTPHeaders
    body: bytes
    raw: bytes  # every byte the server sent for this response


async def read_reply(reader: asyncio.StreamReader, *, head: bool = False) -> Reply:
    """Read exactly one response; ``head`` says it answers a HEAD (so has no body)."""
    block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout(10))
    text = block.decode("latin-1")
    first, _, rest = text.partition("\r\n")
    status = parse_response_start_line(first).code
    headers = HTTPHeaders.parse(rest)
    raw = bytearray(block)
    body = bytearray()
    if head or status in (204, 304) or status < 200:
        pass
    elif headers.get("Transfer-Encoding", "").lower() == "chunked":
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout(10))
            raw += size_line
            size = int(size_line.split(b";")[0], 16)
            data = await asyncio.wait_for(reader.readexactly(size + 2), timeout(10))
            raw += data
            assert data.endswith(b"\r\n")
            if size == 0:
                break
            body += data[:-2]
    elif "Content-Length" in headers:
        n = int(headers["Content-Length"])
        body += await asyncio.wait_for(reader.readexactly(n), timeout(10))
        raw += body
    else:
        body += await asyncio.wait_for(reader.read(), timeout(10))
        raw += body
    return Reply(status, headers, bytes(body), bytes(raw))


def request_bytes(
    target: str,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    close: bool = True,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if close:
        lines.append("Connection: close")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def fetch(
    port: int,
    target: str,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Reply:
    """One request on a fresh connection with ``Connection: close``.

    Reads to EOF and fails if the server sent a single byte more than the
    response's framing says (a HEAD or 304 with a body, a short Content-Length).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(target, method, headers, body))
        reply = await read_reply(reader, head=method == "HEAD")
        extra = await asyncio.wait_for(reader.read(), timeout(10))
        assert extra == b"", f"bytes after the response: {extra[:80]!r}"
        return reply
    finally:
        writer.close()
        await writer.wait_closed()
