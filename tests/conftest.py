"""Fixtures: real servers on 127.0.0.1 in the test's own event loop, real clients.

Async tests use pytest-asyncio (strict mode): Tornado 6 runs on asyncio, so a
perfectws server started inside an ``async def`` fixture serves on the test's
loop. pytest-tornado is not used: 0.8.1 imports ``pkg_resources`` (gone from
current setuptools) and pytest 9 refuses its hooks under warnings-as-errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from perfectws import (
    GET,
    HTTPRequest,
    HTTPServer,
    OpcodeType,
    Routes,
    WebSocket,
    WebSocketHandler,
)

sys.path.insert(0, str(Path(__file__).parent))

#: Scales every timeout in the suite, for slow machines (websockets' MS idiom).
TIMEOUT_FACTOR = float(os.environ.get("PERFECTWS_TEST_TIMEOUT_FACTOR", "1"))


def timeout(seconds: float) -> float:
    """``seconds`` scaled by PERFECTWS_TEST_TIMEOUT_FACTOR."""
    return seconds * TIMEOUT_FACTOR


class EchoHandler:
    """The seed's EchoHandler without the print: echoes every frame as text."""

    socket_protocol = "echo"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_message(string: str | None, op: OpcodeType, fin: bool) -> None:
            if string is None:
                socket.close()
                return
            socket.send_string_message(
                string,
                final=True,
                callback=lambda: self.handle_session(request, socket),
            )

        socket.read_string_message(on_message)


class Served:
    """A running server plus the URLs to reach it."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.port = server.server_port

    def ws_url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


ServeFactory = Callable[..., "asyncio.Future[Served] | Any"]


def echo_routes(producer: Callable[..., Any] | None = None, **options: Any) -> Routes:
    """Routes with the seed's ``/echo`` (or ``producer``) on GET."""

    def default_producer(
        request: HTTPRequest, protocols: list[str]
    ) -> EchoHandler | None:
        return EchoHandler() if "echo" in protocols else None

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=producer or default_producer, **options
    ).handle_request
    return routes


@pytest_asyncio.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await serve(routes, **HTTPServer options)`` starts a server on a free port."""
    servers: list[HTTPServer] = []

    async def start(routes: Routes | None = None, **options: Any) -> Served:
        options.setdefault("document_root", str(tmp_path))
        server = HTTPServer(server_port=0, server_address="127.0.0.1", **options)
        server.add_routes(routes if routes is not None else echo_routes())
        server.listen()
        servers.append(server)
        return Served(server)

    yield start
    for server in servers:
        await server.stop()


@pytest_asyncio.fixture
async def echo_server(serve: Callable[..., Any]) -> Served:
    """The seed's echo service on a free port."""
    served: Served = await serve()
    return served


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


@pytest.fixture(autouse=True)
def log_guard() -> Iterator[LogGuard]:
    """Every test: any unexpected WARNING+ from perfectws, tornado or asyncio fails it."""
    guard = LogGuard()
    loggers = [logging.getLogger(n) for n in ("perfectws", "tornado", "asyncio")]
    for lg in loggers:
        lg.addHandler(guard)
    try:
        yield guard
    finally:
        for lg in loggers:
            lg.removeHandler(guard)
    unclaimed = guard.unclaimed()
    if unclaimed:
        pytest.fail(
            "unexpected log records: "
            + "; ".join(f"{r.name} {r.levelname}: {r.getMessage()}" for r in unclaimed)
        )


#: Test modules that drive WebSocket sessions run on both event loops perfectws
#: supports: asyncio's own and, when installed, uvloop (perfectws[speed]).
BOTH_LOOPS_MODULES = {"test_websocket", "test_protocol_errors", "test_handshake"}


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    # pytest-asyncio wants a mapping for every test once the hook exists; the
    # other modules run on asyncio's loop only.
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    module = getattr(item, "module", None)
    if module is None or module.__name__ not in BOTH_LOOPS_MODULES:
        return factories
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
