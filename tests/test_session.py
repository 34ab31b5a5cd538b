"""The session's production defaults over real sockets: keepalive, the send cap,
ping floods and closing handshakes that end (perfectws/_session.py,
perfectws/settings.py; README, "Running in production")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from perfectws import (
    GET,
    ConfigurationError,
    HTTPRequest,
    HTTPServer,
    OpcodeType,
    WebSocket,
    WebSocketHandler,
)
from tests.example_process import run_example
from tests.helpers import Served, echo_routes, timeout
from tests.rawws import RawClient, close_payload, frame, handshake

pytestmark = pytest.mark.asyncio


class Recorder:
    """Keeps the socket and what its pending read got; reads once, or every frame."""

    socket_protocol = "echo"

    def __init__(self, keep_reading: bool = False) -> None:
        self.keep_reading = keep_reading
        self.sockets: list[WebSocket] = []
        self.reads: list[tuple[Any, OpcodeType, bool]] = []
        self.ended = asyncio.get_running_loop().create_future()

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        self.sockets.append(socket)

        def on_read(data: Any, op: OpcodeType, fin: bool) -> None:
            self.reads.append((data, op, fin))
            if data is None:
                if not self.ended.done():
                    self.ended.set_result(time.monotonic())
            elif self.keep_reading:
                socket.read_bytes_message(on_read)

        socket.read_bytes_message(on_read)


async def dropped(served: Served, within: float) -> None:
    """Wait until the server holds no session, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while served.server.websockets:
        assert time.monotonic() < deadline, "the server kept the TCP connection"
        await asyncio.sleep(0.02)


async def serve_recorder(
    serve: Callable[..., Any], handler: Any, **settings: Any
) -> Served:
    served: Served = await serve(echo_routes(lambda r, p: handler), **settings)
    return served


# ------------------------------------------------------------------ keepalive


async def test_a_silent_dead_peer_is_closed_1011_and_the_read_gets_none(
    serve: Callable[..., Any],
) -> None:
    """No answer to the keepalive ping: 1011, the pending read gets None, TCP goes."""
    handler = Recorder()
    served = await serve_recorder(
        serve, handler, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3
    )
    client = await RawClient.connect(served.port, handshake())  # never answers
    started = time.monotonic()
    opcode, fin, payload = await client.recv_frame()
    pinged = time.monotonic()
    assert opcode == 0x9  # the keepalive ping, after ping_interval of silence
    assert await client.recv_close() == (1011, b"keepalive ping timeout")
    ended = await asyncio.wait_for(handler.ended, timeout(3))
    # The sweep looks every half interval: pinged after 1 to 1.5 intervals.
    assert 0.19 <= pinged - started < 0.3 + timeout(1)
    assert 0.29 <= ended - pinged < 0.3 + timeout(1)  # ping_timeout
    assert 0.49 <= ended - started < 0.6 + timeout(1)  # 1.5 interval + timeout
    assert handler.reads == [(None, OpcodeType.INVALID, True)]
    assert await client.at_eof()
    await dropped(served, 0.3 + timeout(1))  # within close_timeout, no Close answered
    client.close()


async def test_a_peer_that_answers_pings_stays_open_while_idle(
    serve: Callable[..., Any],
) -> None:
    """The websockets client answers pings by itself: an idle session lives on."""
    handler = Recorder()
    served = await serve_recorder(serve, handler, ping_interval=0.1, ping_timeout=0.2)
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        await asyncio.sleep(1.0)  # ten intervals, each answered
        assert handler.sockets[0].is_connected
        await ws.send(b"still here")
        await asyncio.sleep(0.05)
    assert handler.reads[0] == (b"still here", OpcodeType.BINARY, True)


async def test_traffic_counts_as_life_and_no_ping_is_sent(
    serve: Callable[..., Any],
) -> None:
    """A peer that keeps sending is never pinged, so it never has to answer."""
    handler = Recorder(keep_reading=True)
    served = await serve_recorder(serve, handler, ping_interval=0.2, ping_timeout=0.2)
    client = await RawClient.connect(served.port, handshake())
    for i in range(12):  # 1.2 s, six intervals
        client.send(frame(0x2, bytes([i])))
        await asyncio.sleep(0.1)
    client.send(frame(0x8, close_payload(1000)))
    opcode, _, payload = await client.recv_frame()
    assert (opcode, payload[:2]) == (0x8, b"\x03\xe8")  # the first frame: no ping
    assert [data for data, _, _ in handler.reads[:12]] == [
        bytes([i]) for i in range(12)
    ]
    client.close()


async def test_open_sessions_cost_keepalive_no_timer_each(
    serve: Callable[..., Any],
) -> None:
    """Keepalive is one sweep per server: 20 idle sessions queue no timer of their own.

    (perfectws/_timers.py's queues are where a per-session timer would be; a
    ping timeout is queued only for a peer that was pinged.)
    """
    from perfectws import _timers

    served = await serve(echo_routes(), ping_interval=30, ping_timeout=30)
    clients = [await connect(served.ws_url(), subprotocols=["echo"]) for _ in range(20)]
    try:
        for ws in clients:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        assert len(served.server.websockets) == 20
        loop = asyncio.get_running_loop()
        assert not [key for key in _timers._timers if key[0] is loop]
    finally:
        for ws in clients:
            await ws.close()


async def test_a_closed_session_is_freed_without_the_cycle_collector(
    serve: Callable[..., Any],
) -> None:
    """Session and transport refer to each other only while the connection lives.

    With the collector off, a closed session (and with it its request,
    protocol and transport) must be gone by reference counting alone; a cycle left behind made every
    closed connection garbage for the collector (13 objects each, measured).
    """
    import gc
    import weakref

    served = await serve(echo_routes())
    gc.collect()
    gc.disable()
    try:
        async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            (session,) = served.server.websockets
            refs = [weakref.ref(session)]
            del session
        deadline = time.monotonic() + timeout(3)
        while served.server.websockets and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the handler's None read runs and returns
        assert [ref() for ref in refs] == [None]
    finally:
        gc.enable()


async def test_ping_interval_none_turns_keepalive_off(
    serve: Callable[..., Any],
) -> None:
    handler = Recorder()
    served = await serve_recorder(serve, handler, ping_interval=None)
    client = await RawClient.connect(served.port, handshake())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.reader.read(1), 0.5)
    assert handler.sockets[0].is_connected
    client.close()


async def test_settings_are_checked_before_binding() -> None:
    with pytest.raises(ConfigurationError, match="ping_timeout"):
        HTTPServer(server_port=0, ping_timeout=0).listen()
    with pytest.raises(ConfigurationError, match="max_send_queue"):
        HTTPServer(server_port=0, max_send_queue=10).listen()


# ------------------------------------------------------------ bounded memory


async def test_a_peer_that_never_reads_is_closed_1008_at_the_send_cap(
    serve: Callable[..., Any],
) -> None:
    """A handler sending without waiting to a peer that never reads: capped, 1008."""
    sent: list[int] = []
    flooded = Recorder()

    class Flooder(Recorder):
        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            super().handle_session(request, socket)

            def flood() -> None:
                for _ in range(64):
                    socket.send_binary_message(b"x" * 16 * 1024)
                    sent.append(1)
                if socket.is_connected:
                    asyncio.get_running_loop().call_later(0.001, flood)

            flood()

    flooded = Flooder()
    served = await serve_recorder(
        serve, flooded, max_send_queue=256 * 1024, close_timeout=0.3
    )
    client = await RawClient.connect(served.port, handshake())  # never reads
    ended = await asyncio.wait_for(flooded.ended, timeout(5))
    assert ended
    ws = flooded.sockets[0]
    assert not ws.is_connected
    # The transport's own contract: the backlog was freed, not kept.
    assert ws._transport is not None and ws._transport.unsent < 64 * 1024
    # Everything sent was at most the cap plus one write past it.
    assert len(sent) * 16 * 1024 < 64 * 1024 * 1024
    # A good client is served meanwhile and after.
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws2:
        await ws2.send("hello")
    data = await asyncio.wait_for(client.reader.read(1 << 20), timeout(2))
    assert data  # what fit in the socket buffers before the cap
    client.writer.transport.abort()


async def test_a_ping_flood_whose_pongs_are_not_read_stays_bounded(
    serve: Callable[..., Any],
) -> None:
    """RFC 6455 5.5.3: while pongs wait, only the latest ping is answered."""
    handler = Recorder()
    served = await serve_recorder(serve, handler, ping_interval=None)
    client = await RawClient.connect(served.port, handshake())
    # 200,000 pings (26 MB of pongs, more than any socket buffers hold);
    # the same masked frame, then a last one the client can recognise.
    pings = 200_000
    payload = b"p" * 125
    same = frame(0x9, payload)
    for _ in range(pings // 1000):
        client.send(same * 1000)
        await client.writer.drain()
    last = b"last" + payload[4:]
    client.send(frame(0x9, last))
    await client.writer.drain()
    await asyncio.sleep(0.3)
    ws = handler.sockets[0]
    assert ws._transport is not None  # the transport's contract: bounded output
    assert ws._transport.unsent < 2 * 1024 * 1024
    # Once the client reads, the backlog drains and the last ping is answered.
    pongs = 0
    while True:
        opcode, _, data = await client.recv_frame()
        assert opcode == 0xA
        pongs += 1
        if data == last:
            break
    assert pongs < pings
    client.close()


# ------------------------------------------------------ closing handshakes end


async def test_a_peer_that_sends_close_and_then_hangs_is_dropped(
    serve: Callable[..., Any],
) -> None:
    """After the Close exchange, TCP is gone within close_timeout, peer or not."""
    handler = Recorder()
    served = await serve_recorder(serve, handler, close_timeout=0.3)
    client = await RawClient.connect(served.port, handshake())
    client.send(frame(0x8, close_payload(1000)))
    assert await client.recv_close() == (1000, b"")
    # The client neither closes nor sends anything more: the server must.
    await dropped(served, 0.3 + timeout(1))
    assert await client.at_eof()
    client.close()


async def test_close_without_an_answer_drops_tcp_after_close_timeout(
    serve: Callable[..., Any],
) -> None:
    class Closer(Recorder):
        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            super().handle_session(request, socket)
            socket.close(1000, "bye")

    handler = Closer()
    served = await serve_recorder(serve, handler, close_timeout=0.3)
    client = await RawClient.connect(served.port, handshake())
    assert await client.recv_close() == (1000, b"bye")
    started = time.monotonic()
    await dropped(served, 0.3 + timeout(1))  # no Close answered: dropped
    assert time.monotonic() - started >= 0.25
    assert await client.at_eof()
    client.close()


async def test_fin_from_a_peer_that_leaves_a_backlog_unread_is_dropped(
    serve: Callable[..., Any],
) -> None:
    """The peer half-closes with our output unread: close_timeout still ends it."""

    class Sender(Recorder):
        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_binary_message(b"y" * 8 * 1024 * 1024)
            super().handle_session(request, socket)

    handler = Sender()
    served = await serve_recorder(serve, handler, close_timeout=0.3)
    client = await RawClient.connect(served.port, handshake())
    await asyncio.sleep(0.1)
    client.writer.write_eof()  # FIN, and never a read
    await asyncio.wait_for(handler.ended, timeout(2))
    await dropped(served, 0.3 + timeout(1))
    client.writer.transport.abort()


async def test_a_message_of_many_tiny_frames_holds_no_memory(
    serve: Callable[..., Any],
) -> None:
    """Frames are delivered one by one: 100,000 fragments accumulate nothing.

    Meanwhile another client's echoes stay quick.
    """
    handler = Recorder(keep_reading=True)
    routes = echo_routes()
    routes[GET, "/sink"] = WebSocketHandler(
        handler_producer=lambda r, p: handler
    ).handle_request
    served: Served = await serve(routes)
    client = await RawClient.connect(served.port, handshake("/sink"))
    first = frame(0x2, b"a", fin=False)
    more = frame(0x0, b"b", fin=False)
    async with connect(served.ws_url(), subprotocols=["echo"]) as good:
        client.send(first)
        worst = 0.0
        for _ in range(100):
            client.send(more * 1000)
            await client.writer.drain()
            started = time.monotonic()
            await good.send("ping?")
            assert await good.recv() == "ping?"
            worst = max(worst, time.monotonic() - started)
        client.send(frame(0x0, b"c"))
        await client.writer.drain()
        deadline = time.monotonic() + timeout(5)
        while len(handler.reads) < 100_002 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    assert len(handler.reads) == 100_002
    assert handler.reads[-1] == (b"c", OpcodeType.CONTINUATION, True)
    ws = handler.sockets[0]
    # The transport's own contract: unparsed input only, never the message.
    assert ws._transport is not None and len(ws._transport.buf) <= 512 * 1024
    assert worst < timeout(0.5)
    client.close()


async def test_fixed_delay_timers_fire_in_order_and_let_go_of_the_loop() -> None:
    """perfectws/_timers.py's own contract: order, restart, cancel, no leftovers."""
    from perfectws import _timers

    loop = asyncio.get_running_loop()
    fired: list[str] = []
    timers = _timers.timers_for(loop, 0.05)
    timers.start("a", lambda: fired.append("a"))
    timers.start("b", lambda: fired.append("b"))
    timers.start("c", lambda: fired.append("c"))
    timers.start("a", lambda: fired.append("a again"))  # restarted: now last
    timers.cancel("b")
    await asyncio.sleep(0.15)
    assert fired == ["c", "a again"]
    assert (loop, 0.05) not in _timers._timers  # idle: forgotten
    timers = _timers.timers_for(loop, 0.05)
    timers.start("d", lambda: fired.append("d"))
    timers.cancel("d")
    assert (loop, 0.05) not in _timers._timers
    await asyncio.sleep(0.1)
    assert fired == ["c", "a again"]


async def test_the_echo_example_takes_the_keepalive_flags(tmp_path: Any) -> None:
    """examples/echo_server.py --ping-interval/--ping-timeout: a dead peer gets 1011."""
    with run_example(
        "echo_server.py", tmp_path, "--ping-interval", "0.2", "--ping-timeout", "0.3"
    ) as server:
        client = await RawClient.connect(server.port, handshake())  # never answers
        opcode, _, _ = await client.recv_frame()
        assert opcode == 0x9
        assert await client.recv_close() == (1011, b"keepalive ping timeout")
        client.close()
        # And a client that answers pings (websockets does) is kept.
        async with connect(server.ws_url(), subprotocols=["echo"]) as ws:
            await asyncio.sleep(0.8)
            await ws.send("alive")
            assert await asyncio.wait_for(ws.recv(), timeout(2)) == "alive"
