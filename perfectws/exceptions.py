"""Errors perfectws raises into the caller's code.

Only *caller mistakes* raise: a bad route, a second read while one is pending,
a broadcast of something that is not a message, a bad fan-out URL or channel.
Conditions caused by the peer or the network never raise into user code; a read
callback gets ``(None, OpcodeType.INVALID, True)`` instead, as in Perfect.

The tree::

    PerfectWSError
    ├── RouteError        (also a ValueError)
    ├── ConcurrencyError  (also a RuntimeError)
    ├── MessageTypeError  (also a TypeError)
    └── FanOutError       (also a ValueError)
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyError",
    "FanOutError",
    "MessageTypeError",
    "PerfectWSError",
    "RouteError",
]


class PerfectWSError(Exception):
    """Root of every error perfectws raises."""


class RouteError(PerfectWSError, ValueError):
    """A route pattern is malformed or already registered.

    Raised when the route is added, never when a request arrives.
    """


class ConcurrencyError(PerfectWSError, RuntimeError):
    """A WebSocket was asked to read while a read was already pending.

    Perfect reads one frame per call; overlapping reads would make the order of
    delivery undefined, so perfectws refuses the second one at once.
    """


class MessageTypeError(PerfectWSError, TypeError):
    """A message to broadcast or publish is neither ``str`` nor bytes-like.

    Also raised for ``text=True`` with bytes that are not UTF-8: they cannot
    be sent as a text frame. Raised before anything is sent to anyone.
    """


class FanOutError(PerfectWSError, ValueError):
    """A fan-out was given a URL it cannot use or an empty channel name.

    Raised when the call is made; Redis being unreachable is not a caller
    mistake and never raises (see :class:`perfectws.fanout.FanOut`).
    """
