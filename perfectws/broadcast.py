"""One message to many WebSockets: :func:`broadcast`.

Perfect's services broadcast with a loop of ``sendStringMessage`` over a
dictionary of sockets (PerfectExamples/Perfect-Chat-Demo,
``Sources/ChatroomService.swift``). That loop works here too, in order per
socket, but nothing in it stops one peer that never reads from making the
server buffer every message for it. :func:`broadcast` is the same loop with a
policy for that peer, in the manner of ``websockets.broadcast``.

It is written on the public :class:`~perfectws.websocket.WebSocket` API, so
its contract does not depend on how a frame reaches the socket: a later
version may frame the message once and queue the same bytes to every socket.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from typing import Final, Literal

from .exceptions import MessageTypeError
from .frames import CloseCode
from .websocket import WebSocket

__all__ = ["DEFAULT_MAX_PENDING", "SlowPolicy", "broadcast"]

logger = logging.getLogger(__name__)

#: Bytes :func:`broadcast` lets wait for one socket before applying the slow policy.
DEFAULT_MAX_PENDING: Final = 256 * 1024

#: What :func:`broadcast` does with a socket over ``max_pending``.
SlowPolicy = Literal["skip", "close"]

# Bytes broadcast to each socket whose send completion has not run yet. A
# completion runs as soon as the frame is handed to the kernel, unless the
# socket's own buffer is over its high-water mark (the peer reads slower than
# we write): then perfectws holds it until the buffer drains. So this count
# stays near zero for a peer that reads and grows only for one that does not.
# Weak keys: a socket that is gone must not be kept alive by this table.
_pending: weakref.WeakKeyDictionary[WebSocket, int] = weakref.WeakKeyDictionary()


def broadcast(
    sockets: Iterable[WebSocket],
    message: str | bytes | bytearray | memoryview,
    *,
    text: bool | None = None,
    max_pending: int = DEFAULT_MAX_PENDING,
    slow: SlowPolicy = "skip",
) -> int:
    """Send ``message`` to every open socket in ``sockets``; return how many got it.

    Swift: none. Perfect services loop over their sockets and call
    ``sendStringMessage(string:final:completion:)`` on each
    (Perfect-Chat-Demo, ``ChatroomService.swift``); this is that loop with a
    policy for peers that do not read, modelled on ``websockets.broadcast``.

    A ``str`` goes out as one text frame, bytes as one binary frame; ``text``
    overrides that (``text=True`` sends UTF-8 bytes as text without decoding
    them in the caller). Each socket receives the message after everything it
    was sent before, so a Perfect-style loop of ``send_string_message`` and
    broadcasts mix in order per socket.

    Never raises for one socket: a socket that is closed or closing is
    skipped, one that is sending a fragmented message (``final=False``) is
    skipped with a WARNING (a broadcast would land inside that message), and an
    error sending to one socket is logged and the others still get the message.

    The slow-peer policy: every socket may have at most ``max_pending`` bytes
    of broadcasts whose send completion has not run (a completion is held
    while the peer does not read, see ``send_string_message``). Past that,
    ``slow="skip"`` (the default) drops this message for that socket only, so
    a peer that does not read misses messages but never slows the others or
    grows the server's memory without bound; ``slow="close"`` closes it with
    1013 (Try Again Later) instead. Either way the others are served in the
    same call.

    Raises:
        MessageTypeError: ``message`` is not ``str`` or bytes-like, or
            ``text=True`` was given bytes that are not UTF-8, so cannot be
            sent as text. Raised before anything is sent.
    """
    payload: str | bytes
    if isinstance(message, str):
        payload = message.encode() if text is False else message
    elif isinstance(message, bytes | bytearray | memoryview):
        if text:
            try:
                payload = bytes(message).decode()
            except UnicodeDecodeError as exc:
                raise MessageTypeError(
                    "broadcast(text=True) needs UTF-8 bytes"
                ) from exc
        else:
            payload = bytes(message)
    else:
        raise MessageTypeError(
            f"broadcast() sends str or bytes, not {type(message).__name__}"
        )
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode())
    sent = 0
    for ws in sockets:
        if not ws.is_connected:
            continue
        # A socket whose handler sent final=False is mid-message: a frame from
        # here would become part of it. The public API has no name for this
        # state yet; the attribute is read defensively (default: not sending).
        if getattr(ws, "_send_continues", False):
            logger.warning(
                "skipped broadcast to %r: it is sending a fragmented message", ws
            )
            continue
        pending = _pending.get(ws, 0)
        if pending > max_pending:
            if slow == "close":
                logger.info("closing %r: %d bytes of broadcasts unread", ws, pending)
                ws.close(CloseCode.TRY_AGAIN_LATER, "too slow to read broadcasts")
            else:
                logger.debug("skipped broadcast to %r: %d bytes unread", ws, pending)
            continue
        _pending[ws] = pending + size
        try:
            if isinstance(payload, str):
                ws.send_string_message(payload, True, _Done(ws, size))
            else:
                ws.send_binary_message(payload, True, _Done(ws, size))
        except Exception:
            # Contract: one bad socket never stops the others.
            logger.exception("broadcast to %r failed", ws)
            _release(ws, size)
            continue
        sent += 1
    return sent


class _Done:
    """A send completion that returns its bytes to the socket's allowance."""

    __slots__ = ("_size", "_ws")

    def __init__(self, ws: WebSocket, size: int) -> None:
        self._ws = weakref.ref(ws)
        self._size = size

    def __call__(self) -> None:
        ws = self._ws()
        if ws is not None:
            _release(ws, self._size)


def _release(ws: WebSocket, size: int) -> None:
    left = _pending.get(ws, 0) - size
    if left > 0:
        _pending[ws] = left
    else:
        _pending.pop(ws, None)
