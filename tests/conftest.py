"""Fixtures: real servers on 127.0.0.1 in the test's own event loop, real clients.

Async tests use pytest-asyncio (strict mode): Tornado 6 runs on asyncio, so a
perfectws server started inside an ``async def`` fixture serves on the test's
loop. pytest-tornado is not used: 0.8.1 imports ``pkg_resources`` (gone from
current setuptools) and pytest 9 refuses its hooks under warnings-as-errors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from perfectws import HTTPServer, Routes
from tests.helpers import LogGuard, Served, echo_routes


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
    """examples/echo_server.py's echo service on a free port."""
    served: Served = await serve()
    return served


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
BOTH_LOOPS_MODULES = {
    "tests.test_websocket",
    "tests.test_protocol_errors",
    "tests.test_handshake",
    # keepalive and close deadlines: perfectws/_timers.py reads time.monotonic(),
    # which must agree with uvloop's clock as with asyncio's
    "tests.test_session",
}


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
