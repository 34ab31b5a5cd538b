"""Stack-safe dispatch of every call perfectws makes into user code.

Perfect's EchoHandler recurses: a send's completion calls ``handleSession``,
which reads, whose callback sends again. Calling completions directly would
grow the Python stack by a few frames per message; scheduling each on the loop
would add a loop iteration per message. The trampoline does neither: while a
callback runs, new ones are queued and run after it returns, from one loop that
an event (data arrived, a timer fired, the connection was lost) entered. A
million echoes run in constant stack depth (tests/test_load.py).

Who may call what: sessions call :meth:`Trampoline.run` from loop events and
:meth:`Trampoline.soon` from anywhere on the loop's thread; transports append
themselves to :attr:`Trampoline.unflushed` to coalesce their writes until the
queue is empty. The trampoline knows its callers only through the two small protocols
below, never through their internals. It assumes one event-loop thread per
process, as perfectws does everywhere (docs/design.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["CallbackOwner", "Flushable", "Trampoline", "trampoline"]


class CallbackOwner(Protocol):
    """Whoever a queued callback belongs to: told when the callback raises."""

    def callback_failed(self) -> None:
        """Called from the ``except`` block, so ``logger.exception`` sees the error."""


class Flushable(Protocol):
    """A writer whose buffered output goes out once the queue is empty."""

    def flush(self) -> None: ...


class Trampoline:
    """Runs callbacks one after another instead of inside one another.

    A call made from outside any callback (a user's own timer) is drained on
    the next loop iteration, so a callback never runs before the call that
    scheduled it returns.
    """

    __slots__ = ("_scheduled_on", "queue", "running", "unflushed")

    def __init__(self) -> None:
        #: What runs next, in order. While :attr:`running` is true a caller
        #: may append ``(owner, fn, args)`` itself: that is all :meth:`soon`
        #: does then, and the per-message paths save the call.
        self.queue: deque[tuple[CallbackOwner, Callable[..., Any], tuple[Any, ...]]]
        self.queue = deque()
        #: True while callbacks run: writers then buffer instead of sending.
        self.running = False
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        #: Writers that buffered while callbacks ran: each appends itself once
        #: (only while :attr:`running`) and is flushed when the queue is empty.
        self.unflushed: list[Flushable] = []

    def run(self, owner: CallbackOwner, fn: Callable[..., Any], *args: Any) -> None:
        """From an event-loop entry point: run ``fn(*args)`` now, then what it queued."""
        if self.running or self.queue:
            # Keep first-in, first-out with what is already waiting.
            self.queue.append((owner, fn, args))
            self.drain()
            return
        self.running = True
        try:
            try:
                fn(*args)
            except Exception:
                owner.callback_failed()
            self._run_queue()
        finally:
            self.running = False
            if self.unflushed:
                self._flush()

    def soon(self, owner: CallbackOwner, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` to run after the current callback, never inside it."""
        self.queue.append((owner, fn, args))
        if self.running:
            return
        loop = asyncio.get_running_loop()
        if self._scheduled_on is not loop:
            self._scheduled_on = loop
            loop.call_soon(self.drain)

    def drain(self) -> None:
        """Run everything queued (a no-op while callbacks already run)."""
        if self.running:
            return
        self.running = True
        self._scheduled_on = None
        try:
            self._run_queue()
        finally:
            self.running = False
            if self.unflushed:
                self._flush()

    def _run_queue(self) -> None:
        queue = self.queue
        while queue:
            owner, fn, args = queue.popleft()
            try:
                fn(*args)
            except Exception:
                owner.callback_failed()

    def _flush(self) -> None:
        # Flushing calls no user code, so the queue stays empty meanwhile.
        unflushed = self.unflushed
        for writer in unflushed:
            writer.flush()
        unflushed.clear()


#: The process's one trampoline (one event-loop thread per process).
trampoline = Trampoline()
