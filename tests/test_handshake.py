"""The upgrade over raw sockets: exact answers to good and hostile handshakes.

Every hostile case runs beside a well-behaved ``websockets`` client (the
bystander), which must echo before, during and after it, and a fresh client
must still connect afterwards: one bad peer never disturbs the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

import perfectws.handler
from perfectws import WebSocketHandler
from tests.helpers import EchoHandler, Served, echo_routes, timeout
from tests.rawws import KEY, RawClient, frame, handshake

pytestmark = pytest.mark.asyncio

ECHO = [Subprotocol("echo")]

MISSING_PREFIX = b"this is a WebSocket endpoint: the upgrade request lacks "


def accept_for(key: str) -> str:
    """RFC 6455 4.2.2: base64(sha1(key + GUID)), computed here independently."""
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    return base64.b64encode(hashlib.sha1(key.encode() + guid).digest()).decode()


class Bystander:
    """A well-behaved client whose echo is checked around a hostile one."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.count = 0

    async def check(self, label: str) -> None:
        """One message round trip, within the suite's timeout."""
        self.count += 1
        message = f"{label} {self.count}"
        await self.ws.send(message)
        assert await asyncio.wait_for(self.ws.recv(), timeout(5)) == message


@contextlib.asynccontextmanager
async def bystander(served: Served) -> AsyncIterator[Bystander]:
    """Echo before the hostile case, let it check during, echo after; then a new client."""
    async with connect(served.ws_url(), subprotocols=ECHO) as ws:
        assert ws.subprotocol == "echo"
        guard = Bystander(ws)
        await guard.check("before")
        yield guard
        await guard.check("after")
    async with connect(served.ws_url(), subprotocols=ECHO) as fresh:
        await fresh.send("fresh")
        assert await asyncio.wait_for(fresh.recv(), timeout(5)) == "fresh"


# ------------------------------------------------------------------ success


async def test_valid_handshake_gets_101_with_accept_and_echo(
    echo_server: Served,
) -> None:
    """A valid request gets 101, the RFC accept value and Sec-WebSocket-Protocol: echo."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(echo_server.port, handshake())
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        assert client.headers["upgrade"] == "websocket"
        assert client.headers["connection"] == "Upgrade"
        assert client.headers["sec-websocket-accept"] == accept_for(KEY)
        assert client.headers["sec-websocket-protocol"] == "echo"
        assert client.body == b""
        client.send(frame(0x1, b"raw hello"))
        assert await client.recv_frame() == (0x1, True, b"raw hello")
        client.send(frame(0x8, b"\x03\xe8"))
        assert await client.recv_close() == (1000, b"")
        assert await client.at_eof()
        client.close()


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("chat, echo", "echo"), ("echo,chat", "echo"), (" , echo ,", "echo")],
)
async def test_echo_is_chosen_among_offered_protocols(
    echo_server: Served, offered: str, answered: str
) -> None:
    """The protocol list is split on commas and trimmed; the handler's one is echoed."""
    client = await RawClient.connect(
        echo_server.port, handshake(protocol=offered, key="AAAAAAAAAAAAAAAAAAAAAA==")
    )
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    assert client.headers["sec-websocket-protocol"] == answered
    assert client.headers["sec-websocket-accept"] == accept_for(
        "AAAAAAAAAAAAAAAAAAAAAA=="
    )
    client.close()


async def test_header_names_and_tokens_are_case_insensitive(
    echo_server: Served,
) -> None:
    """Upgrade: WebSocket with Connection: keep-alive, UPGRADE is a valid upgrade."""
    client = await RawClient.connect(
        echo_server.port,
        handshake(upgrade="WebSocket", connection="keep-alive, UPGRADE"),
    )
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    client.close()


async def test_protocol_not_offered_is_not_answered(serve: Callable[..., Any]) -> None:
    """A handler's protocol the client did not offer is not sent (RFC 6455; Perfect sends it)."""
    served = await serve(
        echo_routes(lambda request, protocols: EchoHandler(print_messages=False))
    )
    client = await RawClient.connect(served.port, handshake(protocol=None))
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    assert "sec-websocket-protocol" not in client.headers
    client.close()


def spy_on_hand_over(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record the early bytes each hand-over takes from Tornado's read buffer.

    Reaches into handler.py on purpose: the hand-over's own contract (no byte
    Tornado buffered is lost) cannot be seen through the public API alone.
    """
    taken: list[bytes] = []
    take = perfectws.handler.take_socket

    def spy(stream: Any) -> Any:
        sock, early = take(stream)
        taken.append(early)
        return sock, early

    monkeypatch.setattr(perfectws.handler, "take_socket", spy)
    return taken


async def test_frame_pipelined_with_handshake_is_echoed(
    echo_server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames sent in the same packet as the handshake survive the socket hand-over."""
    async with bystander(echo_server) as guard:
        taken = spy_on_hand_over(monkeypatch)
        early = frame(0x1, b"early") + frame(0x1, b"bird")
        client = await RawClient.connect(echo_server.port, handshake() + early)
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        assert await client.recv_frame() == (0x1, True, b"early")
        assert await client.recv_frame() == (0x1, True, b"bird")
        # The frames really were in Tornado's buffer when the socket moved.
        assert taken == [early]
        await guard.check("during")
        client.close()


async def test_large_frame_split_by_the_hand_over_is_echoed(
    echo_server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 KB frame pipelined with the handshake, part read by Tornado, arrives whole."""
    taken = spy_on_hand_over(monkeypatch)
    text = base64.b64encode(bytes(range(256)) * 800)
    client = await RawClient.connect(
        echo_server.port, handshake() + frame(0x1, text) + frame(0x8, b"\x03\xe8")
    )
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    assert len(taken) == 1 and 0 < len(taken[0]) < len(text)
    assert await client.recv_frame() == (0x1, True, text)
    assert await client.recv_close() == (1000, b"")
    assert await client.at_eof()
    client.close()


# ------------------------------------------------------------------ 400s


async def test_no_echo_protocol_offered_gets_400(echo_server: Served) -> None:
    """The producer returns None without `echo`: 400 `WebSocket protocols not supported.`"""
    async with bystander(echo_server) as guard:
        for offered in (None, "chat", "echo2, ECHO"):
            client = await RawClient.connect(
                echo_server.port, handshake(protocol=offered)
            )
            await guard.check("during")
            assert client.status_line == b"HTTP/1.1 400 Bad Request"
            assert client.body == b"WebSocket protocols not supported."
            assert client.headers["content-type"] == "text/plain; charset=utf-8"
            client.close()


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({"key": None}, b"Sec-WebSocket-Key"),
        ({"upgrade": None}, b"Upgrade: websocket"),
        ({"connection": None}, b"Connection: Upgrade"),
        ({"upgrade": "h2c"}, b"Upgrade: websocket"),
        ({"connection": "keep-alive"}, b"Connection: Upgrade"),
        ({"connection": "upgraded"}, b"Connection: Upgrade"),
        ({"version": ""}, b"Sec-WebSocket-Version"),
    ],
    ids=[
        "no-key",
        "no-upgrade",
        "no-connection",
        "upgrade-h2c",
        "connection-keep-alive",
        "connection-upgraded",
        "no-version",
    ],
)
async def test_missing_or_wrong_header_gets_400_naming_it(
    echo_server: Served, options: dict[str, Any], missing: bytes
) -> None:
    """A missing Key/Upgrade/Connection/Version (or Upgrade: h2c) gets 400 naming the header."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(echo_server.port, handshake(**options))
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 400 Bad Request"
        # Exactly the header that is wrong, and nothing else.
        assert client.body == MISSING_PREFIX + missing
        assert "sec-websocket-accept" not in client.headers
        client.close()


@pytest.mark.parametrize(
    "key",
    [
        "short",
        base64.b64encode(b"fifteen bytes!!").decode(),
        base64.b64encode(b"seventeen bytes!!").decode(),
        "AAAAAAAAAAAAAAAAAAAA!A==",
        "AAAAAAAAAAAAAAAAAAAAAA",
        "",
    ],
    ids=["short", "15-bytes", "17-bytes", "bad-char", "no-padding", "empty"],
)
async def test_malformed_key_gets_400(echo_server: Served, key: str) -> None:
    """A Sec-WebSocket-Key that is not 16 bytes of base64 gets 400 saying so."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(echo_server.port, handshake(key=key))
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 400 Bad Request"
        assert client.body == b"Sec-WebSocket-Key must be 16 bytes in base64"
        client.close()


async def test_version_12_gets_400_with_supported_version(
    echo_server: Served,
) -> None:
    """Version 12 gets 400, `Sec-WebSocket-Version: 13` and Perfect's body."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(echo_server.port, handshake(version="12"))
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 400 Bad Request"
        assert client.headers["sec-websocket-version"] == "13"
        assert client.body == (
            b"WebSocket protocol version 12 not supported. "
            b"Supported protocol versions are: [13]"
        )
        client.close()


async def test_refused_connection_stays_usable_for_a_valid_upgrade(
    echo_server: Served,
) -> None:
    """After a 400 on a keep-alive connection, the next request on it can upgrade."""
    client = await RawClient.connect(echo_server.port, handshake(version="8"))
    assert client.status_line == b"HTTP/1.1 400 Bad Request"
    client.send(handshake())
    assert await client.read_head() == 101
    client.send(frame(0x1, b"same socket"))
    assert await client.recv_frame() == (0x1, True, b"same socket")
    client.close()


# ------------------------------------------------------------------ methods


async def test_post_to_an_all_methods_route_gets_405(
    serve: Callable[..., Any],
) -> None:
    """POST to a WebSocketHandler registered for every method gets 405, Allow: GET."""
    routes = echo_routes()
    routes["/ws"] = WebSocketHandler(
        lambda request, protocols: None
    ).handle_request  # never reached: the method is checked first
    served = await serve(routes)
    async with bystander(served) as guard:
        for method in ("POST", "PUT", "DELETE"):
            client = await RawClient.connect(
                served.port,
                handshake("/ws", method=method, extra="Content-Length: 0\r\n"),
            )
            await guard.check("during")
            assert client.status_line == b"HTTP/1.1 405 Method Not Allowed"
            assert client.headers["allow"] == "GET"
            assert client.body == b"a WebSocket upgrade must be a GET request"
            client.close()


async def test_get_to_an_all_methods_route_upgrades(serve: Callable[..., Any]) -> None:
    """GET to the all-methods route upgrades as usual."""
    routes = echo_routes()
    routes["/ws"] = WebSocketHandler(
        lambda request, protocols: EchoHandler(print_messages=False)
    ).handle_request
    served = await serve(routes)
    client = await RawClient.connect(served.port, handshake("/ws"))
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    client.send(frame(0x1, b"any method route"))
    assert await client.recv_frame() == (0x1, True, b"any method route")
    client.close()


async def test_post_to_get_only_echo_gets_404(echo_server: Served) -> None:
    """POST to /echo, registered for GET only, matches no route: 404."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(
            echo_server.port, handshake(method="POST", extra="Content-Length: 0\r\n")
        )
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 404 Not Found"
        assert client.body == b"No matching route was found."
        client.close()


# ------------------------------------------------------------------ hostile HTTP


async def test_huge_header_gets_431(echo_server: Served) -> None:
    """A 64 KiB header (over max_header_size, 16 KiB): 431, not an upgrade."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(
            echo_server.port, handshake(extra="X-Big: " + "a" * 65536 + "\r\n")
        )
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert client.body == b"request headers over 16384 bytes"
        client.close()


async def test_header_past_the_read_cap_is_dropped_without_hanging(
    echo_server: Served,
) -> None:
    """Past 256 KiB of headers Tornado stops reading and closes: no answer, no hang."""
    async with bystander(echo_server) as guard:
        reader, writer = await asyncio.open_connection("127.0.0.1", echo_server.port)
        writer.write(handshake(extra="X-Big: " + "a" * (300 * 1024) + "\r\n"))
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await asyncio.wait_for(writer.drain(), timeout(5))
        await guard.check("during")
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(65536), timeout(5)):
                answer += chunk
        # Tornado (iostream read_until_regex with max_bytes) logs "Unsatisfiable
        # read" at INFO and closes the connection without an answer.
        assert answer == b""
        writer.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1garbage\r\n\r\n",
        b"\r\n\r\n",
        b"GET /echo\r\n\r\n",
        b"G\x00T /echo HTTP/1.1\r\n\r\n",
        b"GET /echo HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=[
        "tls-hello",
        "blank",
        "no-version",
        "nul-in-method",
        "http-9.9",
        "header-no-colon",
        "negative-length",
        "bad-chunk",
    ],
)
async def test_garbage_request_gets_400_then_close(
    echo_server: Served, garbage: bytes
) -> None:
    """Bytes that are not HTTP/1.x, ending in a blank line: Tornado's bare 400, then close."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(echo_server.port, garbage)
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 400 Bad Request"
        assert client.headers == {}
        assert client.body == b""
        assert await client.at_eof()
        client.close()


async def test_header_under_the_limit_upgrades(echo_server: Served) -> None:
    """A 15,000-byte header (under max_header_size 16 KiB) still upgrades."""
    client = await RawClient.connect(
        echo_server.port,
        handshake(extra="X-Big: " + "a" * 15000 + "\r\n") + frame(0x1, b"big head"),
    )
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    assert await client.recv_frame() == (0x1, True, b"big head")
    client.close()


async def test_binary_garbage_without_newline_is_closed(echo_server: Served) -> None:
    """320 KiB of binary with no line end: closed at the 256 KiB read cap, no hang."""
    async with bystander(echo_server) as guard:
        reader, writer = await asyncio.open_connection("127.0.0.1", echo_server.port)
        writer.write(b"\x00\xff\x13\x37" * (80 * 1024))
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            await asyncio.wait_for(writer.drain(), timeout(5))
        await guard.check("during")
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(65536), timeout(5)):
                answer += chunk
        assert answer == b""
        writer.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Seconds until the server closes (EOF or reset); fails after ``seconds``."""
    started = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(65536), seconds):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the stalled connection open for {seconds} s")
    return time.monotonic() - started


@pytest.mark.parametrize(
    "half",
    [
        b"",
        b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs",
        b"GE",
    ],
    ids=["silent", "half-headers", "half-method"],
)
async def test_stalled_half_request_is_closed_after_idle_timeout(
    serve: Callable[..., Any], half: bytes
) -> None:
    """Half a request then silence: closed after idle_connection_timeout; upgraded sockets stay."""
    served = await serve(echo_routes(), idle_connection_timeout=0.5)
    async with bystander(served) as guard:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(half)
        await guard.check("during")
        assert await closed_within(reader, timeout(5)) >= 0.4
        # The bystander was idle past the HTTP timeout too: WebSockets are exempt.
        await asyncio.sleep(0.2)
        writer.close()


async def test_stalled_request_body_is_closed_after_idle_timeout(
    serve: Callable[..., Any],
) -> None:
    """Headers announcing a body that never comes: closed after body_timeout."""
    served = await serve(echo_routes(), body_timeout=0.5)
    async with bystander(served) as guard:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(handshake(extra="Content-Length: 100\r\n") + b"0123456789")
        await guard.check("during")
        try:
            assert await closed_within(reader, timeout(3)) >= 0.4
        finally:
            writer.close()


# ------------------------------------------------------------------ Origin


def origin_request(port: int, origin: str | None) -> bytes:
    extra = f"Origin: {origin}\r\n" if origin is not None else ""
    return handshake(host=f"127.0.0.1:{port}", extra=extra)


@pytest.mark.parametrize(
    "origin",
    [None, "same", "same-upper", "same-slash"],
    ids=["no-origin", "same-origin", "same-origin-upper", "same-origin-slash"],
)
async def test_origin_default_policy_allows(
    echo_server: Served, origin: str | None
) -> None:
    """No Origin (non-browser) or Origin equal to the Host is allowed by default."""
    port = echo_server.port
    value = {
        None: None,
        "same": f"http://127.0.0.1:{port}",
        "same-upper": f"HTTP://127.0.0.1:{port}",
        "same-slash": f"http://127.0.0.1:{port}/",
    }[origin]
    client = await RawClient.connect(port, origin_request(port, value))
    assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
    client.send(frame(0x1, b"origin ok"))
    assert await client.recv_frame() == (0x1, True, b"origin ok")
    client.close()


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://127.0.0.1", "http://127.0.0.1:1", "null"],
)
async def test_other_origin_gets_403_naming_allowed_origins(
    echo_server: Served, origin: str
) -> None:
    """An Origin that is not the Host gets 403 whose body names allowed_origins."""
    async with bystander(echo_server) as guard:
        client = await RawClient.connect(
            echo_server.port, origin_request(echo_server.port, origin)
        )
        await guard.check("during")
        assert client.status_line == b"HTTP/1.1 403 Forbidden"
        expected = f"origin {origin} is not allowed: add it to WebSocketHandler(allowed_origins=...)"
        assert client.body == expected.encode()
        assert b"allowed_origins" in client.body
        client.close()


async def test_allowed_origins_list_allows_only_those(
    serve: Callable[..., Any],
) -> None:
    """allowed_origins=["http://example.com"] allows it (any case) and still refuses others."""
    served = await serve(echo_routes(allowed_origins=["http://example.com"]))
    port = served.port
    async with bystander(served) as guard:
        for origin in ("http://example.com", "http://EXAMPLE.com/", None):
            client = await RawClient.connect(port, origin_request(port, origin))
            assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
            client.close()
        await guard.check("during")
        for origin in ("http://example.org", "https://example.com"):
            client = await RawClient.connect(served.port, origin_request(port, origin))
            assert client.status_line == b"HTTP/1.1 403 Forbidden"
            client.close()


async def test_allowed_origins_star_allows_every_origin(
    serve: Callable[..., Any],
) -> None:
    """allowed_origins=["*"] allows any Origin."""
    served = await serve(echo_routes(allowed_origins=["*"]))
    port = served.port
    for origin in ("http://evil.example", "null", "https://a.b:9"):
        client = await RawClient.connect(port, origin_request(port, origin))
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        client.send(frame(0x1, origin.encode()))
        assert await client.recv_frame() == (0x1, True, origin.encode())
        client.close()


async def test_check_origin_replaces_the_policy(serve: Callable[..., Any]) -> None:
    """check_origin(origin, request) decides alone, and sees the request."""
    seen: list[tuple[str, str]] = []

    def check(origin: str, request: Any) -> bool:
        seen.append((origin, request.path))
        return origin.endswith(".trusted")

    served = await serve(echo_routes(check_origin=check))
    port = served.port
    ok = await RawClient.connect(port, origin_request(port, "http://a.trusted"))
    assert ok.status_line == b"HTTP/1.1 101 Switching Protocols"
    ok.close()
    same = await RawClient.connect(
        served.port, origin_request(port, f"http://127.0.0.1:{port}")
    )
    assert same.status_line == b"HTTP/1.1 403 Forbidden"
    same.close()
    assert seen == [
        ("http://a.trusted", "/echo"),
        (f"http://127.0.0.1:{port}", "/echo"),
    ]


async def test_client_gone_before_the_upgrade_leaves_no_session(
    echo_server: Served,
) -> None:
    """A client that sends the handshake and resets at once leaves nothing open."""
    async with bystander(echo_server) as guard:
        for _ in range(20):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", echo_server.port
            )
            writer.write(handshake() + frame(0x1, b"orphan"))
            writer.transport.abort()
        await guard.check("during")
        deadline = time.monotonic() + timeout(5)
        while len(echo_server.server.websockets) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        # Only the bystander's session is left.
        assert len(echo_server.server.websockets) == 1
