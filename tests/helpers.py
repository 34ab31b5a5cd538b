"""Helpers the test modules share: timeouts, a served server, echo routes, a recorder.

Fixtures that use these live in ``tests/conftest.py``; raw-socket clients live
in ``tests/rawws.py`` (WebSocket) and ``tests/rawhttp.py`` (HTTP).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from examples.echo_server import EchoHandler
from perfectws import (
    GET,
    HTTPRequest,
    HTTPServer,
    OpcodeType,
    Routes,
    WebSocket,
    WebSocketHandler,
)

__all__ = [
    "TIMEOUT_FACTOR",
    "EchoHandler",
    "LogGuard",
    "Recorder",
    "Served",
    "echo_routes",
    "timeout",
]

#: Scales every timeout in the suite, for slow machines (websockets' MS idiom).
TIMEOUT_FACTOR = float(os.environ.get("PERFECTWS_TEST_TIMEOUT_FACTOR", "1"))


def timeout(seconds: float) -> float:
    """``seconds`` scaled by PERFECTWS_TEST_TIMEOUT_FACTOR."""
    return seconds * TIMEOUT_FACTOR


class Served:
    """A running server plus the URLs to reach it."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.port = server.server_port

    def ws_url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def echo_routes(producer: Callable[..., Any] | None = None, **options: Any) -> Routes:
    """Routes with examples/echo_server.py's ``/echo`` (or ``producer``) on GET.

    The example's EchoHandler runs with ``print_messages=False``: the same handler,
    without a print per message.
    """

    def default_producer(
        request: HTTPRequest, protocols: list[str]
    ) -> EchoHandler | None:
        return EchoHandler(print_messages=False) if "echo" in protocols else None

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=producer or default_producer, **options
    ).handle_request
    return routes


class Recorder:
    """A session handler that records every read and echoes it with its kind.

    Each frame goes back with the fin it came with (so a fragmented message is
    echoed as one); text reads (the default) echo as text, byte reads echo
    binary frames as binary and text frames as text. On a ``None`` read it
    resolves ``done`` and closes the socket (a no-op when the peer's Close or a
    protocol error already closed it).
    """

    socket_protocol = "echo"

    def __init__(self, text: bool = True) -> None:
        self.text = text
        self.reads: list[tuple[Any, OpcodeType, bool]] = []
        self.socket: WebSocket | None = None
        self.kind = OpcodeType.TEXT
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        self.socket = socket
        read = socket.read_string_message if self.text else socket.read_bytes_message
        read(self.on_read)

    def on_read(self, data: Any, op: OpcodeType, fin: bool) -> None:
        self.reads.append((data, op, fin))
        socket = self.socket
        assert socket is not None
        if data is None:
            if not self.done.done():
                self.done.set_result(None)
            socket.close()
            return
        again = lambda: self.handle_session(socket.request, socket)  # noqa: E731
        if op is not OpcodeType.CONTINUATION:
            self.kind = op
        if isinstance(data, str):
            socket.send_string_message(data, fin, again)
        elif self.kind is OpcodeType.TEXT:
            socket.send_string_message(data.decode(), fin, again)
        else:
            socket.send_binary_message(data, fin, again)


class LogGuard(logging.Handler):
    """Fails a test that logs a WARNING or worse it did not claim (Tornado's ExpectLog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.expected: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def expect(self, logger_name: str, text: str) -> None:
        self.expected.append((logger_name, text))

    def matching(self, logger_name: str, text: str) -> list[logging.LogRecord]:
        return [
            r
            for r in self.records
            if r.name.startswith(logger_name) and text in r.getMessage()
        ]

    def unclaimed(self) -> list[logging.LogRecord]:
        return [
            r
            for r in self.records
            if not any(
                r.name.startswith(name) and text in r.getMessage()
                for name, text in self.expected
            )
        ]
