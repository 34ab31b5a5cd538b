"""Many timers of one fixed delay on a single loop timer: ping timeouts and close deadlines.

A pinged session waits ``ping_timeout`` for an answer, and a closing one
``close_timeout`` for its TCP connection to end (keepalive itself is one sweep
per server: ``_session.keepalive_sweep``). With the loop's own
``call_later`` each would be a ``TimerHandle`` in the loop's heap: an object,
a context copy and a heap push per session, and a heap of Python ``__lt__``
calls per handshake (measured: 10 of the 41 Python calls a handshake gained
when keepalive first arrived as a timer per session). Timers that all wait
the same delay expire in the order they were started, so a dict in insertion
order is their queue: starting, restarting and cancelling one costs a dict
operation, and the loop holds one timer for all of them.

Deadlines are ``time.monotonic()``, not ``loop.time()``: the same clock under
asyncio's loop (uvloop's is CLOCK_MONOTONIC too, cached to the millisecond),
without a Python call per start; the loop timer is set with ``call_later``,
so it never mixes the two clocks' readings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from time import monotonic

__all__ = ["FixedDelayTimers", "timers_for"]

logger = logging.getLogger(__name__)


class FixedDelayTimers:
    """Timers of ``delay`` seconds on ``loop``, keyed by their owner."""

    __slots__ = ("_delay", "_due", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self._delay = delay
        # Insertion order is expiry order: every entry waits the same delay.
        self._due: dict[Hashable, tuple[float, Callable[[], object]]] = {}
        self._handle: asyncio.TimerHandle | None = None

    def start(self, key: Hashable, callback: Callable[[], object]) -> None:
        """(Re)start ``key``'s timer: ``callback()`` in ``delay`` seconds."""
        due = self._due
        due.pop(key, None)
        due[key] = (monotonic() + self._delay, callback)
        if self._handle is None:
            self._handle = self._loop.call_later(self._delay, self._expire)

    def cancel(self, key: Hashable) -> None:
        """Stop ``key``'s timer, if it runs."""
        due = self._due
        if due.pop(key, None) is not None and not due:
            self._idle()

    def _idle(self) -> None:
        """Nothing waits: drop the loop timer and forget this queue.

        So a loop that is closed later (a test's) is not kept alive by it; the
        next timer of this delay makes another queue.
        """
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if _timers.get((self._loop, self._delay)) is self:
            del _timers[(self._loop, self._delay)]

    def _expire(self) -> None:
        self._handle = None
        due = self._due
        now = monotonic()
        while due:
            key = next(iter(due))
            when, callback = due[key]
            if when > now:
                if self._handle is None:  # (a callback may have started one)
                    self._handle = self._loop.call_later(when - now, self._expire)
                return
            del due[key]
            try:
                callback()
            except Exception:  # a session's own bug must not stop the others'
                logger.exception("timer callback failed")
        if self._handle is None:
            self._idle()


_timers: dict[tuple[asyncio.AbstractEventLoop, float], FixedDelayTimers] = {}


def timers_for(loop: asyncio.AbstractEventLoop, delay: float) -> FixedDelayTimers:
    """The loop's timers of ``delay`` seconds (made on first use)."""
    timers = _timers.get((loop, delay))
    if timers is None:
        timers = _timers[(loop, delay)] = FixedDelayTimers(loop, delay)
    return timers
