"""Production behaviour inside one process: drain, header deadline, binding, settings.

The same behaviours across real processes (signals, workers, the fd limit)
are in tests/test_production_processes.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from perfectws import (
    GET,
    ConfigurationError,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    OpcodeType,
    Routes,
    WebSocket,
    WebSocketHandler,
)
from perfectws.config import servers_from_configuration
from perfectws.server import REPEAT_GAP
from tests.helpers import EchoHandler, Served, echo_routes, timeout
from tests.rawhttp import read_reply, request_bytes
from tests.rawws import RawClient, handshake

pytestmark = pytest.mark.asyncio


async def refused(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP connection to the port is refused (nobody listens)."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


# ------------------------------------------------------------------- drain


async def test_defaults() -> None:
    """Shutdown waits 10 s at most; a request's headers must arrive within 30 s."""
    server = HTTPServer()
    assert server.shutdown_timeout == 10.0
    assert server.idle_connection_timeout == 30.0
    assert server.draining is False


async def test_stop_finishes_requests_in_flight_and_refuses_new_ones(
    serve: Callable[..., Any],
) -> None:
    """stop(): draining at once, new connections refused, the slow response
    still arrives whole, then its keep-alive connection closes; WebSockets
    get 1001 and a pending read gets None."""
    started = asyncio.Event()
    reads: list[object] = []

    def slow(request: HTTPRequest, response: HTTPResponse) -> None:
        started.set()

        def answer() -> None:
            response.set_body("late but whole")
            response.completed()

        asyncio.get_running_loop().call_later(0.5, answer)

    class Reader:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            def on_read(data: str | None, op: OpcodeType, fin: bool) -> None:
                reads.append(data)

            socket.read_string_message(on_read)

    routes = Routes()
    routes[GET, "/slow"] = slow
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=lambda request, protocols: Reader()
    ).handle_request
    served: Served = await serve(routes)
    server = served.server
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(request_bytes("/slow", close=False))
        await asyncio.wait_for(started.wait(), timeout(5))
        stopping = asyncio.ensure_future(server.stop())
        await asyncio.sleep(0)
        assert server.draining
        assert await refused(served.port)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout(1))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (200, b"late but whole")
        assert await asyncio.wait_for(reader.read(), timeout(5)) == b""
        await asyncio.wait_for(stopping, timeout(5))
        writer.close()
    assert reads == [None]
    assert server.websockets == frozenset()


async def test_shutdown_timeout_drops_a_peer_that_never_answers_the_close(
    serve: Callable[..., Any],
) -> None:
    """A client that never answers the Close is dropped at shutdown_timeout,
    before its session's own close_timeout (5 s)."""
    served: Served = await serve(echo_routes(), shutdown_timeout=1.0)
    silent = await RawClient.connect(served.port, handshake())
    began = time.monotonic()
    await asyncio.wait_for(served.server.stop(), timeout(4))
    took = time.monotonic() - began
    assert 0.9 <= took < 3.0
    try:
        code, _reason = await silent.recv_close()
        assert code == 1001
        assert await silent.at_eof()
    finally:
        silent.close()


async def test_second_stop_request_ends_the_drain_at_once(
    serve: Callable[..., Any],
) -> None:
    """A second SIGTERM (here: its handler) drops what is left right away; the
    same signal arriving twice at once (Ctrl-C, systemd) does not."""
    served: Served = await serve(echo_routes())  # shutdown_timeout 10 s
    silent = await RawClient.connect(served.port, handshake())
    server = served.server
    server._signalled()  # the first signal
    stopping = asyncio.ensure_future(server.stop())
    server._signalled()  # the same signal again, from another sender
    await asyncio.sleep(REPEAT_GAP + 0.1)
    assert not stopping.done()
    began = time.monotonic()
    server._signalled()  # a second one
    await asyncio.wait_for(stopping, timeout(1))
    assert time.monotonic() - began < 1.0 * timeout(1)
    try:
        assert await silent.at_eof()
    finally:
        silent.close()


# ------------------------------------------------------ the header deadline


async def test_headers_trickled_a_byte_a_second_are_cut_at_the_deadline(
    serve: Callable[..., Any],
) -> None:
    """The header deadline is a total: a byte every second does not extend it."""
    served: Served = await serve(echo_routes(), idle_connection_timeout=3.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /echo HTTP/1.1\r\n")
    began = time.monotonic()

    async def trickle() -> None:
        for byte in b"X-Slow: " + b"a" * 100:
            await asyncio.sleep(1.0)
            writer.write(bytes([byte]))

    sender = asyncio.ensure_future(trickle())
    try:
        try:
            while await asyncio.wait_for(reader.read(1024), timeout(10)):
                pass
        except ConnectionResetError:
            pass
        took = time.monotonic() - began
    finally:
        sender.cancel()
        writer.close()
    assert 2.8 <= took < 3.0 + timeout(1.5)


# ------------------------------------------------------------- dual stack


def _v4_and_v6(name: str) -> tuple[bool, bool]:
    """Whether ``name`` resolves to 127.0.0.1 and to ::1 on this machine."""
    found = {info[4][0] for info in socket.getaddrinfo(name, 0)}
    return "127.0.0.1" in found, "::1" in found


@pytest.mark.parametrize(
    ("address", "v4", "v6"),
    [
        ("::", True, True),
        ("0.0.0.0", True, False),
        ("127.0.0.1", True, False),
        ("::1", False, True),
        ("[::1]", False, True),
        ("localhost", *_v4_and_v6("localhost")),
    ],
)
async def test_server_address_binds_as_users_expect(
    tmp_path: Path, address: str, v4: bool, v6: bool
) -> None:
    """'::' serves IPv4 and IPv6; a literal or a name binds just its addresses."""
    server = HTTPServer(
        server_port=0, server_address=address, document_root=str(tmp_path)
    )
    server.add_routes(echo_routes())
    port = server.listen()
    try:
        for host, expected in (("127.0.0.1", v4), ("[::1]", v6)):
            url = f"ws://{host}:{port}/echo"
            if expected:
                async with connect(url, subprotocols=["echo"]) as ws:
                    await ws.send(f"over {host}")
                    assert await asyncio.wait_for(ws.recv(), timeout(5)) == (
                        f"over {host}"
                    )
            else:
                assert await refused(port, host.strip("[]")), host
    finally:
        await server.stop()


# ------------------------------------------------------ configuration data


async def test_shutdown_timeout_is_a_configuration_key() -> None:
    """``shutdownTimeout`` in a server's data sets HTTPServer.shutdown_timeout."""
    servers, _ = servers_from_configuration(
        {"servers": [{"name": "a", "port": 0, "shutdownTimeout": 2.5}]}
    )
    assert servers[0].http_server().shutdown_timeout == 2.5
    servers, _ = servers_from_configuration({"servers": [{"name": "a", "port": 0}]})
    assert servers[0].http_server().shutdown_timeout == 10.0
    for bad in ("10", -1, True, float("inf")):
        with pytest.raises(ConfigurationError, match=r"servers\[0\]\.shutdownTimeout"):
            servers_from_configuration(
                {"servers": [{"name": "a", "port": 0, "shutdownTimeout": bad}]}
            )


async def test_echo_still_serves_after_a_drained_server_listens_again(
    tmp_path: Path,
) -> None:
    """listen() after stop() serves again: draining is over, a new deadline."""
    server = HTTPServer(
        server_port=0, server_address="127.0.0.1", document_root=str(tmp_path)
    )
    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=lambda request, protocols: EchoHandler(print_messages=False)
    ).handle_request
    server.add_routes(routes)
    port = server.listen()
    await server.stop()
    assert server.draining
    server.server_port = port
    server.listen()
    assert not server.draining
    try:
        async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
            await ws.send("again")
            assert await asyncio.wait_for(ws.recv(), timeout(5)) == "again"
    finally:
        await server.stop()
