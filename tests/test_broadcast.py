"""broadcast(): one message to many sockets, over real sockets to real clients."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from perfectws import (
    GET,
    HTTPRequest,
    MessageTypeError,
    OpcodeType,
    PerfectWSError,
    Routes,
    WebSocket,
    WebSocketHandler,
    broadcast,
)
from tests.helpers import timeout
from tests.rawws import handshake


class Room:
    """Server side: every session joins the room and keeps reading."""

    socket_protocol = "chat"

    def __init__(self) -> None:
        self.sockets: list[WebSocket] = []
        self.on_session: Callable[[WebSocket], None] | None = None

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        if socket not in self.sockets:
            self.sockets.append(socket)
            if self.on_session is not None:
                self.on_session(socket)

        def on_message(data: str | None, op: OpcodeType, fin: bool) -> None:
            if data is None:
                socket.close()
                return
            self.handle_session(request, socket)

        socket.read_string_message(on_message)

    def routes(self) -> Routes:
        routes = Routes()
        routes[GET, "/room"] = WebSocketHandler(
            handler_producer=lambda request, protocols: self
        ).handle_request
        return routes

    async def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + timeout(5)
        while len(self.sockets) < count:
            assert time.monotonic() < deadline, f"{len(self.sockets)} of {count} joined"
            await asyncio.sleep(0.01)


async def start_room(
    serve: Callable[..., Any], clients: int
) -> tuple[Room, Any, list[ClientConnection]]:
    room = Room()
    served = await serve(room.routes())
    conns = [await connect(served.ws_url("/room")) for _ in range(clients)]
    await room.wait_for(clients)
    return room, served, conns


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout(5))


@pytest.mark.asyncio
async def test_text_and_binary_reach_every_client(serve: Callable[..., Any]) -> None:
    room, _, conns = await start_room(serve, 5)
    assert broadcast(room.sockets, "héllo") == 5
    assert broadcast(room.sockets, b"\x00\xff") == 5
    assert broadcast(room.sockets, "as bytes", text=False) == 5
    assert broadcast(room.sockets, b"ok", text=True) == 5
    for ws in conns:
        assert [await recv(ws) for _ in range(4)] == [
            "héllo",
            b"\x00\xff",
            b"as bytes",
            "ok",
        ]
        await ws.close()


@pytest.mark.asyncio
async def test_closed_sockets_are_skipped_and_nothing_raises(
    serve: Callable[..., Any],
) -> None:
    room, _, conns = await start_room(serve, 4)
    await conns[1].close()
    deadline = time.monotonic() + timeout(5)
    while room.sockets[1].is_connected:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    room.sockets[2].close()  # closing: our Close is sent, the peer's not yet seen
    assert broadcast(room.sockets, "still here") == 2
    assert await recv(conns[0]) == "still here"
    assert await recv(conns[3]) == "still here"
    for ws in conns:
        await ws.close()


@pytest.mark.asyncio
async def test_bad_message_raises_before_anything_is_sent(
    serve: Callable[..., Any],
) -> None:
    room, _, conns = await start_room(serve, 2)
    with pytest.raises(MessageTypeError) as info:
        broadcast(room.sockets, 42)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, PerfectWSError)
    with pytest.raises(MessageTypeError, match="UTF-8"):
        broadcast(room.sockets, b"\xff\xfe", text=True)
    broadcast(room.sockets, "first good one")
    for ws in conns:
        assert await recv(ws) == "first good one"
        await ws.close()


@pytest.mark.asyncio
async def test_perfect_style_sends_and_broadcasts_stay_in_order(
    serve: Callable[..., Any],
) -> None:
    room, _, conns = await start_room(serve, 3)
    for i in range(300):
        if i % 3:
            broadcast(room.sockets, f"b{i}")
        else:
            for s in room.sockets:
                s.send_string_message(f"s{i}", True)
    expected = [f"b{i}" if i % 3 else f"s{i}" for i in range(300)]
    for ws in conns:
        assert [await recv(ws) for _ in range(300)] == expected
        await ws.close()


@pytest.mark.asyncio
async def test_a_fragmented_send_in_progress_is_skipped_with_a_warning(
    serve: Callable[..., Any], log_guard: Any
) -> None:
    log_guard.expect("perfectws.broadcast", "sending a fragmented message")
    room, _, conns = await start_room(serve, 2)
    room.sockets[0].send_string_message("half ", final=False)
    assert broadcast(room.sockets, "broadcast") == 1
    room.sockets[0].send_string_message("and the rest", final=True)
    assert await recv(conns[0]) == "half and the rest"
    assert await recv(conns[1]) == "broadcast"
    assert len(log_guard.matching("perfectws.broadcast", "fragmented")) == 1
    for ws in conns:
        await ws.close()


async def non_reading_client(port: int) -> socket.socket:
    """A raw client with a tiny receive buffer that never reads after the 101."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, handshake("/room", protocol=None))
    head = b""
    while b"\r\n\r\n" not in head:
        # Byte by byte: not one byte of frames is read.
        head += await asyncio.wait_for(loop.sock_recv(sock, 1), timeout(5))
    assert head.startswith(b"HTTP/1.1 101")
    return sock


@pytest.mark.parametrize("slow", ["skip", "close"])
@pytest.mark.asyncio
async def test_a_peer_that_does_not_read_never_slows_the_others(
    serve: Callable[..., Any], slow: Any
) -> None:
    room, served, conns = await start_room(serve, 3)
    stalled = await non_reading_client(served.port)
    await room.wait_for(4)
    victim = room.sockets[3]
    message = "x" * 1024
    total = 4000  # 4 MiB: far past what the kernel and max_pending hold
    received = [0] * len(conns)

    async def reader(i: int, ws: ClientConnection) -> None:
        while received[i] < total:
            assert await recv(ws) == message
            received[i] += 1

    readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
    counts = []
    started = time.monotonic()
    for _ in range(total):
        counts.append(
            broadcast(room.sockets, message, max_pending=64 * 1024, slow=slow)
        )
        await asyncio.sleep(0)  # let the readers' loop run, as a server would
    await asyncio.wait_for(asyncio.gather(*readers), timeout(20))
    elapsed = time.monotonic() - started
    # Every reading client got all 4,000 in order; the stalled one stopped
    # counting once its allowance was used up.
    assert received == [total] * 3
    assert counts[0] == 4 and counts[-1] == 3
    assert elapsed < timeout(15)
    if slow == "close":
        assert not victim.is_connected
    else:
        assert victim.is_connected
    stalled.close()
    for ws in conns:
        await ws.close()


@pytest.mark.asyncio
async def test_a_crowd_that_vanishes_mid_broadcast_breaks_nothing(
    serve: Callable[..., Any],
) -> None:
    """500 peers reset at once; broadcasts from outside any callback then find
    them gone one by one. Each failure reaches its handler (which broadcasts
    a 'left' to the others, as a chat does) without nesting inside the next:
    no RecursionError, no error log, and the server serves a newcomer."""
    room = Room()
    left: list[WebSocket] = []
    served = await serve(room.routes())

    def on_session(ws: WebSocket) -> None:
        pass

    room.on_session = on_session
    original = room.handle_session

    def handle_session(request: HTTPRequest, socket: WebSocket) -> None:
        def on_message(data: str | None, op: OpcodeType, fin: bool) -> None:
            if data is None:
                left.append(socket)
                broadcast(room.sockets, "someone left")
                return
            handle_session(request, socket)

        if socket not in room.sockets:
            room.sockets.append(socket)
        socket.read_string_message(on_message)

    room.handle_session = handle_session  # type: ignore[method-assign]
    assert original is not None
    loop = asyncio.get_running_loop()
    socks = []
    for _ in range(500):
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", served.port))
        await loop.sock_sendall(sock, handshake("/room", protocol=None))
        socks.append(sock)
    await room.wait_for(500)
    for sock in socks:  # RST, not FIN: the next send to each one fails
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        sock.close()
    for _ in range(20):
        broadcast(room.sockets, "x" * 64)
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + timeout(5)
    while len(left) < 500 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(left) == 500
    async with connect(served.ws_url("/room")) as ws:
        await room.wait_for(501)
        broadcast(room.sockets[-1:], "welcome")
        assert await recv(ws) == "welcome"
