"""Taking a connection away from Tornado after the 101: the only module that
touches Tornado's internals.

Tornado's public ``HTTP1Connection.detach()`` gives back the ``IOStream`` but
no way to take the raw socket out of it with the bytes the stream has already
read past the request (a client may pipeline its first frame behind the
handshake). So this module reads IOStream's private fields listed in
:data:`IOSTREAM_FIELDS`. They are checked against every Tornado release
perfectws supports (:data:`TESTED_TORNADO`, the bound in setup.cfg):
tests/test_takeover.py fails, naming the field, when a release moves one, and
tests/test_handshake.py sends a frame in the same packet as the handshake to
prove the hand-over keeps it.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection

__all__ = ["IOSTREAM_FIELDS", "TESTED_TORNADO", "take_socket"]

#: The Tornado releases whose IOStream has the private fields below
#: (``make tornado-matrix`` checks each; setup.cfg pins ``tornado>=6.5,<7``,
#: the releases the whole suite passes on: 6.3 and 6.4 answer a NUL in the
#: method differently, in Tornado's own parser).
TESTED_TORNADO: Final = ("6.3", "6.4", "6.5", "6.6")

#: IOStream's private fields read or written here, with what each holds.
IOSTREAM_FIELDS: Final = {
    "_read_buffer": "bytearray of bytes read from the socket and not yet consumed",
    "_read_buffer_size": "how many bytes of _read_buffer are valid",
    "_state": "the IOLoop events the stream is registered for, or None",
    "_closed": "whether the stream considers itself closed",
}


def take_socket(
    connection: HTTP1Connection,
) -> tuple[socket.socket | None, bytes]:
    """Detach ``connection`` and take its socket, with the bytes read past the request.

    Returns ``(None, b"")`` when the client is already gone. Afterwards
    Tornado neither reads, writes nor closes the socket.
    """
    stream = connection.detach()
    sock: socket.socket | None = stream.socket
    if sock is None or stream.closed():
        return None, b""
    size: int = stream._read_buffer_size
    early = bytes(stream._read_buffer[:size]) if size else b""
    if stream._state is not None:
        stream.io_loop.remove_handler(sock)
        stream._state = None
    # The stream must not close the socket now that the session owns it.
    stream.socket = None  # type: ignore[assignment]
    stream._closed = True
    return sock, early
