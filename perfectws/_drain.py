"""Graceful shutdown: close every session and connection, within a deadline.

What a client sees when a server drains (``HTTPServer.stop()``, or SIGTERM /
SIGINT under ``start()`` and ``launch()``): its WebSocket gets Close 1001
(going away) at once and its pending read callback ``None``; an HTTP request
in flight gets its response, then the connection closes; an idle keep-alive
connection closes at once. Whatever is still open after the deadline (a peer
that never answers the Close, a response that never ends) is dropped. The
same model as uvicorn's ``timeout_graceful_shutdown`` and websockets'
``Server.close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Set
from typing import TYPE_CHECKING, Final

from .frames import CloseCode

if TYPE_CHECKING:
    from ._exchange import Dispatcher
    from .websocket import WebSocket

__all__ = ["GOING_AWAY_REASON", "close_sessions", "drain"]

#: The reason sent with 1001 when the server shuts down.
GOING_AWAY_REASON: Final = "server shutting down"
#: How often the drain looks again (and closes sessions upgraded meanwhile).
_TICK: Final = 0.02


def close_sessions(sessions: Set[WebSocket]) -> None:
    """Send Close 1001 to every open session (their reads get ``None``)."""
    for ws in list(sessions):
        if ws.is_connected:
            ws.close(CloseCode.GOING_AWAY, GOING_AWAY_REASON)


async def drain(
    dispatcher: Dispatcher,
    sessions: Set[WebSocket],
    timeout: float,
    force: asyncio.Event,
) -> None:
    """Wait until every session and connection is gone, ``timeout`` at most.

    ``force`` (a second stop signal) ends the wait at once. Then whatever is
    left is aborted.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    dispatcher.drain()
    while sessions or dispatcher.connections:
        # A request whose headers arrived before the drain may upgrade now.
        close_sessions(sessions)
        left = deadline - loop.time()
        if force.is_set() or left <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(force.wait(), min(_TICK, left))
    for ws in list(sessions):
        ws.abort()
    dispatcher.abort()
    # Tornado lets go of a closed connection on its next loop iteration.
    for _ in range(50):
        if not dispatcher.connections:
            break
        await asyncio.sleep(_TICK)
