"""The WebSocket session API against real clients: websockets, and raw frames."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from perfectws import ConcurrencyError, HTTPRequest, OpcodeType, WebSocket
from tests.helpers import EchoHandler, Recorder, Served, echo_routes, timeout
from tests.rawws import RawClient, frame, handshake

pytestmark = pytest.mark.asyncio


async def serve_handler(serve: Callable[..., Any], handler: Any) -> Served:
    served: Served = await serve(echo_routes(lambda request, protocols: handler))
    return served


async def test_text_echo_with_echo_subprotocol(echo_server: Served) -> None:
    """The example's EchoHandler answers each text message with the same text."""
    async with connect(echo_server.ws_url(), subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        for message in ["hello", "", "ünïcödé ✓", "x" * 70000]:
            await ws.send(message)
            assert await ws.recv() == message


async def test_binary_is_echoed_as_text_by_the_seed_handler(
    echo_server: Served,
) -> None:
    """read_string_message on a binary frame gives its UTF-8 text, op BINARY (Perfect)."""
    async with connect(echo_server.ws_url(), subprotocols=["echo"]) as ws:
        await ws.send(b"binary!!")
        assert await ws.recv() == "binary!!"


async def test_bytes_reads_and_binary_sends(serve: Callable[..., Any]) -> None:
    """read_bytes_message gives bytes; send_binary_message sends a binary frame."""
    handler = Recorder(text=False)
    served = await serve_handler(serve, handler)
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        await ws.send(b"\x00\xff\x10")
        assert await ws.recv() == b"\x00\xff\x10"
        await ws.send("text as bytes")
        assert await ws.recv() == "text as bytes"
    assert handler.reads[:2] == [
        (b"\x00\xff\x10", OpcodeType.BINARY, True),
        (b"text as bytes", OpcodeType.TEXT, True),
    ]


async def test_fragmented_message_is_read_frame_by_frame(
    serve: Callable[..., Any],
) -> None:
    """Each frame of a fragmented message is one read, with Perfect's (op, fin)."""
    handler = Recorder()
    served = await serve_handler(serve, handler)
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        await ws.send(["ab", "cd", "ef"])
        # The handler echoes frame by frame with the same fin, so the client
        # reassembles one message.
        assert await ws.recv() == "abcdef"
    # websockets ends an iterable message with an empty final frame.
    assert handler.reads[:4] == [
        ("ab", OpcodeType.TEXT, False),
        ("cd", OpcodeType.CONTINUATION, False),
        ("ef", OpcodeType.CONTINUATION, False),
        ("", OpcodeType.CONTINUATION, True),
    ]


async def test_character_split_across_frames_is_delivered_whole(
    serve: Callable[..., Any],
) -> None:
    """A UTF-8 character split between two frames arrives in the frame that completes it."""
    handler = Recorder()
    served = await serve_handler(serve, handler)
    client = await RawClient.connect(served.port, handshake())
    snowman = "☃".encode()
    client.send(frame(0x1, b"a" + snowman[:1], fin=False))
    client.send(frame(0x0, snowman[1:] + b"b", fin=True))
    assert await client.recv_frame() == (0x1, False, b"a")
    assert await client.recv_frame() == (0x0, True, "☃b".encode())
    client.close()
    assert handler.reads[:2] == [
        ("a", OpcodeType.TEXT, False),
        ("☃b", OpcodeType.CONTINUATION, True),
    ]


async def test_send_after_final_false_continues_the_message(
    serve: Callable[..., Any],
) -> None:
    """After final=False every send is a continuation until final=True, as in Perfect."""

    class Fragmenter:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_string_message(
                "Hello, ",
                final=False,
                callback=lambda: socket.send_string_message("world", final=True),
            )
            # Sent before the callback runs, so these continue the text message.
            socket.send_binary_message(b"\x01", final=False)
            socket.send_binary_message(b"\x02", final=True)

    served = await serve_handler(serve, Fragmenter())
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        assert await ws.recv() == "Hello, \x01\x02"
        assert await ws.recv() == "world"


async def test_fragments_from_one_send_chain_are_one_message(
    serve: Callable[..., Any],
) -> None:
    """Three sends chained by callbacks, final only on the last, are one message."""

    class Chunked:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_binary_message(
                b"12",
                final=False,
                callback=lambda: socket.send_binary_message(
                    b"34",
                    final=False,
                    callback=lambda: socket.send_binary_message(b"56", final=True),
                ),
            )

    served = await serve_handler(serve, Chunked())
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        assert await ws.recv() == b"123456"


async def test_ping_is_answered_and_pong_is_not_delivered(
    serve: Callable[..., Any],
) -> None:
    """Pings get a pong automatically; an unsolicited pong never reaches a read."""
    handler = Recorder()
    served = await serve_handler(serve, handler)
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        latency = await asyncio.wait_for(await ws.ping(b"payload"), timeout(5))
        assert latency >= 0
        await ws.pong(b"unsolicited")
        await ws.send("after pong")
        assert await ws.recv() == "after pong"
    assert handler.reads[0] == ("after pong", OpcodeType.TEXT, True)


async def test_server_ping_and_pong(serve: Callable[..., Any]) -> None:
    """send_ping and send_pong write control frames and then call back."""
    called: list[str] = []

    class Pinger:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_ping(lambda: called.append("ping"))
            socket.send_pong(lambda: called.append("pong"))

    served = await serve_handler(serve, Pinger())
    client = await RawClient.connect(served.port, handshake())
    assert await client.recv_frame() == (0x9, True, b"")
    assert await client.recv_frame() == (0xA, True, b"")
    client.close()
    assert called == ["ping", "pong"]


async def test_read_timeout_gives_none_and_keeps_the_session(
    serve: Callable[..., Any],
) -> None:
    """On read_timeout_seconds the read gets (None, INVALID, True); the socket stays open."""
    results: list[tuple[Any, OpcodeType, bool]] = []

    class Patient:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.read_timeout_seconds = 0.2

            def on_read(data: Any, op: OpcodeType, fin: bool) -> None:
                results.append((data, op, fin))
                if data is None:
                    socket.send_string_message(f"timed out {socket.is_connected}")
                    socket.read_timeout_seconds = -1
                    socket.read_string_message(on_read)
                else:
                    socket.send_string_message(data)

            socket.read_string_message(on_read)

    served = await serve_handler(serve, Patient())
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        assert await asyncio.wait_for(ws.recv(), timeout(5)) == "timed out True"
        await ws.send("still here")
        assert await ws.recv() == "still here"
    assert results[:2] == [
        (None, OpcodeType.INVALID, True),
        ("still here", OpcodeType.TEXT, True),
    ]


async def test_server_close_sends_1000(
    echo_server: Served, serve: Callable[..., Any]
) -> None:
    """close() sends Close 1000 and completes the handshake; is_connected turns False."""
    states: list[bool] = []

    class Closer:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            states.append(socket.is_connected)
            socket.close()
            states.append(socket.is_connected)

    served = await serve_handler(serve, Closer())
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == 1000
    assert states == [True, False]


async def test_client_close_code_is_echoed_and_read_gets_none(
    serve: Callable[..., Any],
) -> None:
    """A client's Close gets the same code back; the pending read gets None."""
    handler = Recorder()
    served = await serve_handler(serve, handler)
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        await ws.close(4000, "bye")
        assert (ws.close_code, ws.close_reason) == (4000, "bye")
    await asyncio.wait_for(handler.done, timeout(5))
    assert handler.reads[-1] == (None, OpcodeType.INVALID, True)


async def test_disconnect_without_close_gives_none(serve: Callable[..., Any]) -> None:
    """A client that drops TCP makes the pending read get (None, INVALID, True)."""
    handler = Recorder()
    served = await serve_handler(serve, handler)
    client = await RawClient.connect(served.port, handshake())
    client.writer.transport.abort()
    await asyncio.wait_for(handler.done, timeout(5))
    assert handler.reads == [(None, OpcodeType.INVALID, True)]


async def test_second_pending_read_raises(serve: Callable[..., Any]) -> None:
    """A read while another is pending raises ConcurrencyError at once."""
    errors: list[BaseException] = []

    class Greedy:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.read_string_message(lambda *args: None)
            try:
                socket.read_string_message(lambda *args: None)
            except ConcurrencyError as exc:
                errors.append(exc)
                socket.close()

    served = await serve_handler(serve, Greedy())
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    assert len(errors) == 1
    assert "another read is pending" in str(errors[0])


@pytest.mark.parametrize("where", ["handle_session", "read callback", "send callback"])
async def test_handler_exception_closes_only_its_session_with_1011(
    serve: Callable[..., Any], log_guard: Any, where: str
) -> None:
    """A handler that raises gets 1011 and one log record; other sessions keep echoing."""
    log_guard.expect("perfectws.websocket", "session handler failed")

    class Crasher:
        socket_protocol = "crash"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            if where == "handle_session":
                raise ValueError("boom")

            def on_read(data: Any, op: OpcodeType, fin: bool) -> None:
                if where == "read callback":
                    raise ValueError("boom")
                socket.send_string_message("x", callback=lambda: 1 / 0)

            socket.read_string_message(on_read)

    def producer(request: HTTPRequest, protocols: list[str]) -> Any:
        return Crasher() if "crash" in protocols else EchoHandler(print_messages=False)

    served = await serve(echo_routes(producer))
    async with connect(served.ws_url(), subprotocols=["echo"]) as healthy:
        async with connect(served.ws_url(), subprotocols=["crash"]) as doomed:
            with pytest.raises(ConnectionClosedError):
                await doomed.send("trigger")
                while True:
                    await doomed.recv()
            assert (doomed.close_code, doomed.close_reason) == (1011, "internal error")
        await healthy.send("still alive")
        assert await healthy.recv() == "still alive"
    records = log_guard.matching("perfectws.websocket", "session handler failed")
    assert len(records) == 1
    assert records[0].exc_info is not None


async def test_echo_recursion_keeps_stack_depth_constant(
    serve: Callable[..., Any],
) -> None:
    """The EchoHandler recursion (send callback -> handle_session) does not grow the stack."""
    depths: list[int] = []

    class DepthEcho(EchoHandler):
        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            frame_, depth = sys._getframe(), 0
            while frame_ is not None:
                frame_, depth = frame_.f_back, depth + 1
            depths.append(depth)
            super().handle_session(request, socket)

    served = await serve_handler(serve, DepthEcho(print_messages=False))
    count = 20_000
    client = await RawClient.connect(served.port, handshake())
    # Pipelined: many frames per read, so the server delivers them back to back.
    client.send(b"".join(frame(0x1, b"%d" % i) for i in range(count)))
    for i in range(count):
        assert await client.recv_frame() == (0x1, True, b"%d" % i)
    client.close()
    assert len(depths) >= count
    assert max(depths[10:]) - min(depths[10:]) <= 2, (min(depths), max(depths))


async def test_non_reading_handler_does_not_buffer_without_bound(
    serve: Callable[..., Any],
) -> None:
    """While no read is pending, the server stops reading: its buffer stays small."""
    sockets: list[WebSocket] = []

    class Sleeper:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            sockets.append(socket)  # and never reads

    served = await serve_handler(serve, Sleeper())
    client = await RawClient.connect(served.port, handshake())
    chunk = frame(0x2, b"\0" * 65536)
    sent = 0
    try:
        for _ in range(400):  # up to 26 MB, far beyond every socket buffer
            client.send(chunk)
            await asyncio.wait_for(client.writer.drain(), timeout(0.5))
            sent += len(chunk)
    except TimeoutError:
        pass  # the client's writes block: the server stopped reading
    assert sent < 20 * 1024 * 1024, "the server kept reading without a read pending"
    ws = sockets[0]
    # The transport's own contract (perfectws/_transport.py): bounded input.
    assert ws._transport is not None
    assert len(ws._transport.buf) <= 512 * 1024
    client.writer.transport.abort()


async def test_a_million_echoes_in_one_session(serve: Callable[..., Any]) -> None:
    """1,000,000 EchoHandler recursions in one session, at constant stack depth."""
    depths: set[int] = set()
    calls = 0

    class CountingEcho(EchoHandler):
        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            nonlocal calls
            calls += 1
            if calls % 997 == 0:
                frame_, depth = sys._getframe(), 0
                while frame_ is not None:
                    frame_, depth = frame_.f_back, depth + 1
                depths.add(depth)
            super().handle_session(request, socket)

    served = await serve_handler(serve, CountingEcho(print_messages=False))
    client = await RawClient.connect(served.port, handshake())
    total, batch = 1_000_000, 20_000
    # Every frame is the same masked "x"; its echo is the 3 bytes 81 01 78.
    chunk = frame(0x1, b"x") * batch

    async def send_all() -> None:
        for _ in range(total // batch):
            client.send(chunk)
            await client.writer.drain()

    sender = asyncio.create_task(send_all())
    received = 0
    while received < 3 * total:
        data = await asyncio.wait_for(client.reader.read(1 << 20), timeout(30))
        assert data, "server closed early"
        offset = received % 3
        assert (
            data == (b"\x81\x01x" * (len(data) // 3 + 2))[offset : offset + len(data)]
        )
        received += len(data)
    await sender
    client.close()
    assert received == 3 * total
    assert calls >= total
    assert len(depths) == 1, sorted(depths)


async def test_send_callbacks_run_once_after_the_peer_is_gone(
    serve: Callable[..., Any],
) -> None:
    """Perfect never leaves a completion uncalled: sends after a disconnect still call back once."""
    calls: list[str] = []
    gone = asyncio.get_running_loop().create_future()

    class LateSender:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            def on_read(data: Any, op: OpcodeType, fin: bool) -> None:
                assert data is None  # the client vanished
                socket.send_string_message("late", callback=lambda: calls.append("t"))
                socket.send_binary_message(b"late", callback=lambda: calls.append("b"))
                socket.send_ping(lambda: calls.append("p"))
                socket.close()
                socket.send_pong(lambda: gone.set_result(socket.is_connected))

            socket.read_string_message(on_read)

    served = await serve_handler(serve, LateSender())
    client = await RawClient.connect(served.port, handshake())
    client.writer.transport.abort()
    assert await asyncio.wait_for(gone, timeout(5)) is False
    await asyncio.sleep(0.05)
    assert calls == ["t", "b", "p"]


async def test_large_sends_to_a_slow_reader_arrive_intact(
    serve: Callable[..., Any],
) -> None:
    """Sends larger than the socket buffer queue and drain; completions wait for the drain."""
    completed: list[int] = []
    blob = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB

    class Flood:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_binary_message(blob, callback=lambda: completed.append(1))
            socket.send_string_message(
                "é" * 100_000, callback=lambda: completed.append(2)
            )

    served = await serve_handler(serve, Flood())
    client = await RawClient.connect(served.port, handshake())
    await asyncio.sleep(0.3)  # the client reads nothing yet: the socket fills up
    assert completed == []  # 8 MiB cannot all be handed to the kernel at once
    assert await client.recv_frame() == (0x2, True, blob)
    assert await client.recv_frame() == (0x1, True, ("é" * 100_000).encode())
    client.close()
    assert completed == [1, 2]


async def test_sends_of_every_size_in_one_callback_leave_in_order(
    serve: Callable[..., Any],
) -> None:
    """Held small frames, a frame past WRITE_HIGH (sent at once) and a mid-size one.

    perfectws/_transport.py holds what a callback writes and sends it when the
    callbacks are done, but sends a frame past WRITE_HIGH at once: whatever
    was held must go out before it.
    """
    big = bytes(range(256)) * 512  # 128 KiB: past WRITE_HIGH
    mid = b"m" * (20 * 1024)  # gathered, held

    class Mixed:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_string_message("one")
            socket.send_string_message("two")
            socket.send_binary_message(big)
            socket.send_binary_message(mid)
            socket.send_string_message("three")

    served = await serve_handler(serve, Mixed())
    client = await RawClient.connect(served.port, handshake())
    assert [await client.recv_frame() for _ in range(5)] == [
        (0x1, True, b"one"),
        (0x1, True, b"two"),
        (0x2, True, big),
        (0x2, True, mid),
        (0x1, True, b"three"),
    ]
    client.close()
