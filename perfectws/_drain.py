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
import logging
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

logger = logging.getLogger("perfectws.server")


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


#: Seconds the application's own tasks get to finish once they are cancelled
#: at the end of a shutdown (a Redis client closing its connections, say).
SETTLE_TIMEOUT: Final = 2.0


async def settle_tasks(force: asyncio.Event) -> bool:
    """Cancel every other task of the loop and wait for them, briefly.

    Returns False when some are still running after SETTLE_TIMEOUT (or a
    second stop signal): the caller then exits without waiting for them, as
    ``asyncio.Runner`` would wait forever for a task stuck in its clean-up.
    """
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    tasks = {t for t in asyncio.all_tasks() if t is not current and not t.done()}
    for task in tasks:
        task.cancel()
    deadline = loop.time() + SETTLE_TIMEOUT
    forced = asyncio.ensure_future(force.wait())
    pending = set(tasks)
    while pending and not forced.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(
            pending | {forced}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        pending.discard(forced)
    forced.cancel()
    stuck = [t for t in tasks if not t.done()]
    if stuck:
        logger.warning(
            "%d task(s) did not finish within %g s of the shutdown; exiting "
            "without them: %s",
            len(stuck),
            SETTLE_TIMEOUT,
            ", ".join(t.get_name() for t in stuck[:5]),
        )
        return False
    return True
