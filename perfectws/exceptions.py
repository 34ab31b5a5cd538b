"""Errors perfectws raises into the caller's code.

Only *caller mistakes* raise: a bad route, a second read while one is pending,
an argument of the wrong type, a broadcast of something that is not a message,
a bad fan-out URL or channel. Each derives from :class:`PerfectWSError` and
from the builtin a Python caller would catch for that mistake.
Conditions caused by the peer or the network never raise into user code; a read
callback gets ``(None, OpcodeType.INVALID, True)`` instead, as in Perfect.

The tree::

    PerfectWSError
    ├── ArgumentError       (also a TypeError)
    ├── MessageTypeError    (also a TypeError)
    ├── RouteError          (also a ValueError)
    ├── ConfigurationError  (also a ValueError)
    ├── CloseFrameError     (also a ValueError)
    ├── FanOutError         (also a ValueError)
    ├── LaunchFailure       (also an OSError)
    ├── MissingDependency   (also an ImportError)
    ├── ConcurrencyError    (also a RuntimeError)
    └── NotServedError      (also a RuntimeError)

tests/test_exceptions.py reads every ``raise`` in the package and checks that
each raises one of these (or is internal and never leaves perfectws, as
``perfectws.frames.ProtocolError``, which becomes a close code), and that this
tree matches the classes.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "CloseFrameError",
    "ConcurrencyError",
    "ConfigurationError",
    "FanOutError",
    "LaunchFailure",
    "MessageTypeError",
    "MissingDependency",
    "NotServedError",
    "PerfectWSError",
    "RouteError",
]


class PerfectWSError(Exception):
    """Root of every error perfectws raises.

    Swift: none. Perfect throws ``PerfectError`` and per-module enums; one root
    lets a Python caller catch every perfectws error in one ``except``.
    """


class ArgumentError(PerfectWSError, TypeError):
    """A call got an argument of the wrong type, or a combination it cannot take.

    Swift: none. Swift's compiler refuses these calls; in Python they fail at
    the call, e.g. ``set_body(string=b"...")`` or ``start(ssl_cert=...)``
    without ``ssl_key=``.
    """


class RouteError(PerfectWSError, ValueError):
    """A route pattern is malformed or already registered.

    Swift: none (Perfect ignores a malformed route and replaces a duplicate).

    Raised when the route is added, never when a request arrives.
    """


class ConcurrencyError(PerfectWSError, RuntimeError):
    """A WebSocket was asked to read while a read was already pending.

    Swift: none (Perfect leaves overlapping reads undefined).

    Perfect reads one frame per call; overlapping reads would make the order of
    delivery undefined, so perfectws refuses the second one at once.
    """


class CloseFrameError(PerfectWSError, ValueError):
    """``close(code, reason)`` was given what a Close frame cannot carry.

    Swift: none (Perfect's ``close()`` sends no code).

    RFC 6455 section 7.4 lets an endpoint send 1000-1003, 1007-1014 and
    3000-4999, and a control frame holds at most 125 bytes (so a reason of at
    most 123 bytes of UTF-8).
    """


class NotServedError(PerfectWSError, RuntimeError):
    """A WebSocket upgrade was asked of a request no perfectws server received.

    Swift: none (every Perfect request comes from its server).

    ``WebSocketHandler.handle_request`` takes the request's connection over,
    so the request must come from :class:`~perfectws.HTTPServer`, not be
    built by hand.
    """


class ConfigurationError(PerfectWSError, ValueError):
    """Server settings or configuration data perfectws cannot serve with.

    Swift: ``PerfectError.apiError`` as thrown by
    ``HTTPServer.launch(configurationData:)`` (``HTTPServerExConfig.swift``).
    The message starts with the key at fault, e.g.
    ``servers[0].routes[2].handler: ...``, and says what to write instead.
    Also raised for TLS material that cannot be loaded.
    """


class LaunchFailure(PerfectWSError, OSError):
    """A server could not start: its port is taken, or its address is not local.

    Swift: ``HTTPServer.LaunchFailure`` (``HTTPServerEx.swift``), whose
    message names the server as ``name:port``.
    """


class MessageTypeError(PerfectWSError, TypeError):
    """A message to broadcast or publish is neither ``str`` nor bytes-like.

    Swift: none (``broadcast`` is perfectws's own).

    Also raised for ``text=True`` with bytes that are not UTF-8: they cannot
    be sent as a text frame. Raised before anything is sent to anyone.
    """


class FanOutError(PerfectWSError, ValueError):
    """A fan-out was given a URL it cannot use or an empty channel name.

    Swift: none (fan-out through Redis is perfectws's own).

    Raised when the call is made; Redis being unreachable is not a caller
    mistake and never raises (see :class:`perfectws.fanout.FanOut`).
    """


class MissingDependency(PerfectWSError, ImportError):
    """A feature needs a package that is not installed; the message names the extra.

    Swift: none. For example ``FanOut`` needs ``pip install 'perfectws[redis]'``.
    """
