"""Testing a ported Perfect handler: a pytest plugin and a frame-level client.

Swift: none. Perfect's own tests drive ``HTTPServer`` through XCTest by hand;
this is what the design's pytest-tornado was meant for, and its maintained
replacement (pytest-tornado 0.8.1 imports ``pkg_resources``, gone from current
setuptools, and pytest 9 refuses its hooks under warnings-as-errors).

Installing perfectws registers the plugin through the ``pytest11`` entry point
(``setup.cfg``), so its fixtures are there in every test of a project that
depends on perfectws. Tests are ``async def`` under pytest-asyncio: the server
runs on the test's own event loop, so a handler's bugs surface in the test.

::

    import pytest
    from perfectws import OpcodeType

    @pytest.mark.asyncio
    async def test_echo(perfectws_serve):
        server = await perfectws_serve(my_routes())
        async with await server.websocket("/echo", protocols=["echo"]) as ws:
            await ws.send_text("hello")
            frame = await ws.read_frame()
            assert (frame.op, frame.fin, frame.text) == (OpcodeType.TEXT, True, "hello")
            await ws.close(1000)
            assert (await ws.read_close())[0] == 1000

Why a raw-socket client and not ``websockets``: Perfect's API is per *frame*
(``read_string_message`` delivers one frame with its ``op`` and ``fin``), and
``websockets`` reassembles fragments, answers pings and closes by itself, and
will not send a malformed frame. This client writes exactly the frames it is
told and returns each frame the server sends, control frames included. It
shares no code with perfectws's own codec, so a bug there cannot hide itself.

Why about 470 lines (issue 10): this module is the ``pytest11`` entry point
(``setup.cfg``: ``perfectws = perfectws.testing``) and the import users write
(``from perfectws.testing import WebSocketTestClient``); the client, the test
server and the fixtures are one tool, and about a quarter of the lines are their
docstrings.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import pytest

from .exceptions import PerfectWSError
from .frames import OpcodeType
from .routing import Routes
from .server import HTTPServer

__all__ = [
    "Frame",
    "HTTPReply",
    "HandshakeRefused",
    "TestServer",
    "WebSocketTestClient",
    "perfectws_serve",
]

#: Every wait in the kit is scaled by this environment variable, for slow CI.
TIMEOUT_FACTOR = float(os.environ.get("PERFECTWS_TEST_TIMEOUT_FACTOR", "1"))
DEFAULT_TIMEOUT = 5.0 * TIMEOUT_FACTOR

_CONTROL = (OpcodeType.CLOSE, OpcodeType.PING, OpcodeType.PONG)


class ServerMisbehaved(PerfectWSError, AssertionError):
    """The server under test sent what RFC 6455 forbids a server to send.

    Swift: none. An ``AssertionError``, so pytest reports it as the test's
    failure, naming the rule that was broken.
    """


class HandshakeRefused(PerfectWSError, AssertionError):
    """The server answered the upgrade with something other than 101.

    Swift: none (a test helper). An ``AssertionError`` so that pytest reports
    it as a failed expectation; ``status``, ``headers`` and ``body`` say what
    the server answered instead.
    """

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"WebSocket upgrade refused: {status} {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class Frame(NamedTuple):
    """One frame as the server sent it.

    Swift: the ``(bytes, op, fin)`` a ``WebSocket.readBytesMessage`` callback
    receives, seen from the client's side.
    """

    op: OpcodeType
    fin: bool
    payload: bytes

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8 (a text frame's, or a Close reason's)."""
        return self.payload.decode("utf-8")


class HTTPReply(NamedTuple):
    """A plain HTTP answer. Swift: none (a test helper)."""

    status: int
    headers: dict[str, str]
    body: bytes


def _mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        n, "big"
    )


def _encode(op: int, payload: bytes, fin: bool, mask: bool) -> bytes:
    b0 = (0x80 if fin else 0) | op
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, bit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _mask(payload, key)


async def _read_head(
    reader: asyncio.StreamReader, timeout: float
) -> tuple[int, dict[str, str]]:
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = data.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


class WebSocketTestClient:
    """A WebSocket client that works in Perfect's terms: frames, ops, fin bits.

    Swift: none; it plays the browser in a test of a ``WebSocketSessionHandler``.

    Sending with ``final=False`` starts a fragmented message; the next sends
    are continuation frames until one is final, as with Perfect's
    ``sendStringMessage(string:final:completion:)``. Nothing is answered
    automatically: a ping from the server is returned by :meth:`read_frame`.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.reader = reader
        self.writer = writer
        #: The handshake's status (101) and response headers (lower-case names).
        self.status = status
        self.headers = headers
        #: Seconds each read waits before failing the test.
        self.timeout = timeout
        #: The server's Close code and reason, once :meth:`read_close` saw them.
        self.close_code: int | None = None
        self.close_reason = ""
        self._continuing = False

    @classmethod
    async def connect(
        cls,
        port: int,
        path: str = "/",
        *,
        protocols: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> WebSocketTestClient:
        """Open TCP to ``host:port`` and upgrade ``path``.

        Raises :class:`HandshakeRefused` if the answer is not 101.
        """
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout
        )
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        offered = list(protocols)
        if offered:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(offered))
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            status, reply = await _read_head(reader, timeout)
        except BaseException:
            writer.close()
            raise
        if status != 101:
            length = int(reply.get("content-length", "0"))
            try:
                body = await asyncio.wait_for(reader.readexactly(length), timeout)
            finally:
                writer.close()
            raise HandshakeRefused(status, reply, body)
        return cls(reader, writer, status, reply, timeout)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose (``Sec-WebSocket-Protocol``), if any."""
        return self.headers.get("sec-websocket-protocol")

    async def read_frame(self, timeout: float | None = None) -> Frame:
        """The next frame the server sent, whatever its kind."""
        wait = self.timeout if timeout is None else timeout
        reader = self.reader
        head = await asyncio.wait_for(reader.readexactly(2), wait)
        if head[1] & 0x80:
            raise ServerMisbehaved("the server sent a masked frame (RFC 6455 5.1)")
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await asyncio.wait_for(reader.readexactly(n), wait)
        return Frame(OpcodeType(head[0] & 0x0F), bool(head[0] & 0x80), payload)

    async def read_close(self, timeout: float | None = None) -> tuple[int | None, str]:
        """Skip to the server's Close frame; its ``(code, reason)`` (code None if empty)."""
        while True:
            frame = await self.read_frame(timeout)
            if frame.op is OpcodeType.CLOSE:
                if len(frame.payload) >= 2:
                    self.close_code = struct.unpack("!H", frame.payload[:2])[0]
                    self.close_reason = frame.payload[2:].decode("utf-8", "replace")
                return self.close_code, self.close_reason

    async def send_frame(
        self, op: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True
    ) -> None:
        """Write one frame exactly as given (any opcode; ``mask=False`` is illegal)."""
        self.writer.write(_encode(op, payload, fin, mask))
        await self.writer.drain()

    async def _send_data(self, op: OpcodeType, payload: bytes, final: bool) -> None:
        if self._continuing:
            op = OpcodeType.CONTINUATION
        self._continuing = not final
        await self.send_frame(op, payload, fin=final)

    async def send_text(self, text: str, final: bool = True) -> None:
        """Send a text frame (a continuation while a message is open).

        Swift: ``sendStringMessage(string:final:completion:)``, client side.
        """
        await self._send_data(OpcodeType.TEXT, text.encode("utf-8"), final)

    async def send_binary(self, data: bytes, final: bool = True) -> None:
        """Send a binary frame (a continuation while a message is open).

        Swift: ``sendBinaryMessage(bytes:final:completion:)``, client side.
        """
        await self._send_data(OpcodeType.BINARY, bytes(data), final)

    async def ping(self, data: bytes = b"") -> None:
        """Send a Ping; the server's Pong comes back through :meth:`read_frame`."""
        await self.send_frame(OpcodeType.PING, data)

    async def pong(self, data: bytes = b"") -> None:
        """Send a Pong (the answer to a server's Ping)."""
        await self.send_frame(OpcodeType.PONG, data)

    async def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Send a Close frame with ``code`` (``None``: an empty payload).

        Swift: ``WebSocket.close()``, client side. Read the server's answer
        with :meth:`read_close`.
        """
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
        await self.send_frame(OpcodeType.CLOSE, payload)

    async def at_eof(self, timeout: float | None = None) -> bool:
        """Read and drop until the server closes TCP; True once it has."""
        wait = self.timeout if timeout is None else timeout
        try:
            while await asyncio.wait_for(self.reader.read(65536), wait):
                pass
        except ConnectionResetError:
            pass
        return True

    async def aclose(self) -> None:
        """Drop the TCP connection (no Close frame)."""
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> WebSocketTestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class TestServer:
    """A running :class:`~perfectws.HTTPServer` on 127.0.0.1 and ways to reach it.

    Swift: none; :func:`perfectws_serve` returns one.
    """

    __test__ = False  # a helper, not a test class for pytest to collect

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.port = server.server_port
        self._clients: list[WebSocketTestClient] = []

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:PORT/path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str = "/") -> str:
        """``ws://127.0.0.1:PORT/path``, for other clients (``websockets``)."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def websocket(
        self,
        path: str,
        *,
        protocols: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> WebSocketTestClient:
        """Upgrade ``path``; the client is closed when the test ends."""
        client = await WebSocketTestClient.connect(
            self.port, path, protocols=protocols, headers=headers, timeout=timeout
        )
        self._clients.append(client)
        return client

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> HTTPReply:
        """One HTTP/1.1 request on a fresh connection (``Connection: close``)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), timeout
        )
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
            lines.append("Connection: close")
            if body:
                lines.append(f"Content-Length: {len(body)}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            status, reply = await _read_head(reader, timeout)
            if method.upper() == "HEAD" or status in (204, 304) or status < 200:
                data = b""
            elif "content-length" in reply:
                n = int(reply["content-length"])
                data = await asyncio.wait_for(reader.readexactly(n), timeout)
            else:
                data = await asyncio.wait_for(reader.read(), timeout)
            if reply.get("transfer-encoding", "").lower() == "chunked":
                data = _dechunk(data)
            return HTTPReply(status, reply, data)
        finally:
            writer.close()

    async def get(self, path: str, **options: Any) -> HTTPReply:
        """``request("GET", path, ...)``."""
        return await self.request("GET", path, **options)

    async def _close_clients(self) -> None:
        for client in self._clients:
            await client.aclose()


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def perfectws_serve(tmp_path: Path) -> AsyncIterator[Any]:
    """``await perfectws_serve(routes, **HTTPServer options)``: a server on a free port.

    Swift: none (``HTTPServer().addRoutes(routes); start()`` in a test).

    The server listens on 127.0.0.1 in the test's event loop and its
    document root is the test's ``tmp_path`` unless ``document_root=`` says
    otherwise; every server and client it made is stopped when the test ends.
    """
    started: list[TestServer] = []

    async def start(routes: Routes | None = None, **options: Any) -> TestServer:
        options.setdefault("document_root", str(tmp_path))
        server = HTTPServer(server_port=0, server_address="127.0.0.1", **options)
        if routes is not None:
            server.add_routes(routes)
        server.listen()
        served = TestServer(server)
        started.append(served)
        return served

    yield start
    for served in started:
        await served._close_clients()
        await served.server.stop()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without the extra
    # The entry point loads this module in every pytest run of a project that
    # installs perfectws: without pytest-asyncio the fixture says what to
    # install instead of breaking the whole run at start-up.
    @pytest.fixture(name="perfectws_serve")
    def _perfectws_serve_unavailable() -> Any:
        pytest.fail(
            "perfectws_serve needs pytest-asyncio: pip install 'perfectws[testing]'"
        )
else:
    perfectws_serve = pytest_asyncio.fixture(perfectws_serve)
