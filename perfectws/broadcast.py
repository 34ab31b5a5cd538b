"""One message to many WebSockets: :func:`broadcast`.

Perfect's services broadcast with a loop of ``sendStringMessage`` over a
dictionary of sockets (PerfectExamples/Perfect-Chat-Demo,
``Sources/ChatroomService.swift``). That loop works here too, in order per
socket, but it frames the message once per socket, and nothing in it stops
one peer that never reads from making the server buffer every message for it.
:func:`broadcast` frames the message once and queues the same bytes to every
socket (in the manner of ``websockets.broadcast``), with a policy for that
peer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, Literal

from .exceptions import MessageTypeError
from .frames import CloseCode, OpcodeType, encode_frame
from .websocket import WebSocket

__all__ = ["DEFAULT_MAX_PENDING", "SlowPolicy", "broadcast"]

logger = logging.getLogger(__name__)

#: Bytes that may wait unsent for one socket before the slow policy applies.
DEFAULT_MAX_PENDING: Final = 256 * 1024

#: What :func:`broadcast` does with a socket over ``max_pending``.
SlowPolicy = Literal["skip", "close"]


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
    (Perfect-Chat-Demo, ``ChatroomService.swift``); this is that loop with
    the message framed once and a policy for peers that do not read,
    modelled on ``websockets.broadcast``.

    A ``str`` goes out as one text frame, bytes as one binary frame; ``text``
    overrides that (``text=True`` sends UTF-8 bytes as text without decoding
    them in the caller). Each socket receives the message after everything it
    was sent before, so a Perfect-style loop of ``send_string_message`` and
    broadcasts mix in order per socket. There is no completion callback.

    Never raises for one socket: a socket that is closed or closing is
    skipped, one that is sending a fragmented message (``final=False``) is
    skipped with a WARNING (a broadcast would land inside that message), and an
    error sending to one socket is logged and the others still get the message.

    The slow-peer policy: when more than ``max_pending`` bytes already wait
    unsent for a socket (its peer reads slower than the room talks),
    ``slow="skip"`` (the default) drops this message for that socket only, so
    a peer that does not read misses messages but never slows the others or
    grows the server's memory; ``slow="close"`` closes it with 1013 (Try
    Again Later) instead. The server's own cap (``HTTPServer(max_send_queue=)``)
    still applies to every send.

    Raises:
        MessageTypeError: ``message`` is not ``str`` or bytes-like, or
            ``text=True`` was given bytes that are not UTF-8, so cannot be
            sent as text. Raised before anything is sent.
    """
    frame, size = _encode(message, text)
    # The loop stays inline: it runs once per recipient, so a helper there
    # would add a Python call per socket to every broadcast.
    sent = 0
    # A snapshot: a send that fails runs no user code at once, but the caller's
    # set may change before this returns (a session that ends leaves it).
    for ws in tuple(sockets):
        try:
            queued = ws.send_encoded(frame, size, max_pending)
        except Exception:
            # Contract: one bad socket never stops the others.
            logger.exception("broadcast to %r failed", ws)
            continue
        if queued > 0:
            sent += 1
        elif queued < 0:
            if slow == "close":
                logger.info(
                    "closing %r: broadcasts unread past %d bytes", ws, max_pending
                )
                ws.close(CloseCode.TRY_AGAIN_LATER, "too slow to read broadcasts")
            else:
                logger.debug("skipped broadcast to %r: its peer is not reading", ws)
        elif ws.is_connected:
            logger.warning(
                "skipped broadcast to %r: it is sending a fragmented message", ws
            )
    return sent


def _encode(
    message: str | bytes | bytearray | memoryview, text: bool | None
) -> tuple[bytes, int]:
    """The one frame every socket is sent, and its payload's length."""
    if isinstance(message, str):
        payload = message.encode()
        opcode = OpcodeType.BINARY if text is False else OpcodeType.TEXT
    elif isinstance(message, bytes | bytearray | memoryview):
        payload = bytes(message)
        opcode = OpcodeType.BINARY
        if text:
            try:
                payload.decode()
            except UnicodeDecodeError as exc:
                raise MessageTypeError(
                    "broadcast(text=True) needs UTF-8 bytes"
                ) from exc
            opcode = OpcodeType.TEXT
    else:
        raise MessageTypeError(
            f"broadcast() sends str or bytes, not {type(message).__name__}"
        )
    return encode_frame(opcode, payload), len(payload)
