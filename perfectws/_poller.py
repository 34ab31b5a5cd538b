"""Which transports can read: one epoll for all of them, watched by the loop.

asyncio spends about three Python calls per ready socket (a Handle, its
context, the selector's bookkeeping) before a protocol sees it. Here the loop
wakes one callback for the whole batch and a plain loop hands each ready
socket straight to its transport: one epoll_wait more per batch, a few calls
fewer per message (docs/design.md has the A/B figures). Linux only; elsewhere
transports register with the loop one by one (:class:`_LoopReaders`).
"""

from __future__ import annotations

import asyncio
import select
from typing import Protocol

__all__ = ["Readable", "readers_for"]


class Readable(Protocol):
    """A transport, as the poller sees it."""

    def on_readable(self) -> None: ...


class _ReadPoller:
    """One epoll for every transport's socket, watched by the loop as one reader."""

    __slots__ = ("_epoll", "_loop", "_transports")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._transports: dict[int, Readable] = {}
        loop.add_reader(self._epoll.fileno(), self._poll)

    def add(self, fd: int, transport: Readable) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._transports[fd] = transport

    def pause(self, fd: int) -> None:
        self._epoll.modify(fd, 0)

    def resume(self, fd: int, transport: Readable) -> None:
        self._epoll.modify(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        # Before the socket closes: a closed fd number can be reused at once.
        self._transports.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass
        if not self._transports:
            # Idle: give the epoll back, so a loop that is closed later (a
            # test's) leaves nothing open behind it.
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            _pollers.pop(self._loop, None)

    def _poll(self) -> None:
        transports = self._transports
        for fd, _events in self._epoll.poll(0, 256):
            transport = transports.get(fd)
            if transport is not None:
                transport.on_readable()


class _LoopReaders:
    """Transports registered with the loop one by one, where there is no epoll."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def add(self, fd: int, transport: Readable) -> None:
        self._loop.add_reader(fd, transport.on_readable)

    def pause(self, fd: int) -> None:
        self._loop.remove_reader(fd)

    def resume(self, fd: int, transport: Readable) -> None:
        self._loop.add_reader(fd, transport.on_readable)

    def remove(self, fd: int) -> None:
        self._loop.remove_reader(fd)


_pollers: dict[asyncio.AbstractEventLoop, _ReadPoller] = {}


def readers_for(loop: asyncio.AbstractEventLoop) -> _ReadPoller | _LoopReaders:
    """The loop's poller (made on first use, given back when its last socket goes)."""
    if not hasattr(select, "epoll"):
        return _LoopReaders(loop)
    poller = _pollers.get(loop)
    if poller is None:
        poller = _pollers[loop] = _ReadPoller(loop)
    return poller
