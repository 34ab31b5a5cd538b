"""What one WebSocket session has done, read when metrics or the log ask.

Swift: none. Perfect counts nothing; an operator needs messages, bytes and
close codes per session to see what a service does.

The connection path pays for this with plain integer counters on the
session's protocol (messages and payload bytes each way, close codes) and
transport (bytes kept back for a slow peer, and their high-water mark),
which perfectws/protocol.py and perfectws/_transport.py keep anyway. This
view reads them, so metrics (perfectws/metrics.py) and the access log
(perfectws/_operations.py) cost the hot path nothing: they read at scrape
time and when a session closes, never per message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._transport import SocketTransport
    from .protocol import ServerProtocol

__all__: list[str] = []


class SessionStats:
    """A live view of one session's counters (package-internal)."""

    __slots__ = ("_protocol", "_transport", "opened_at")

    def __init__(self, protocol: ServerProtocol, transport: SocketTransport) -> None:
        self._protocol = protocol
        self._transport = transport
        #: ``time.monotonic()`` when the session opened.
        self.opened_at = time.monotonic()

    @property
    def messages_in(self) -> int:
        """Data frames (text, binary, continuation) received."""
        return self._protocol.messages_in

    @property
    def messages_out(self) -> int:
        """Data frames sent."""
        return self._protocol.messages_out

    @property
    def bytes_in(self) -> int:
        """Payload bytes of the data frames received."""
        return self._protocol.bytes_in

    @property
    def bytes_out(self) -> int:
        """Payload bytes of the data frames sent."""
        return self._protocol.bytes_out

    @property
    def close_code_sent(self) -> int | None:
        """The code of the Close frame sent (None: none yet, or without a code)."""
        return self._protocol.close_code_sent

    @property
    def close_code_received(self) -> int | None:
        """The code of the Close frame received (None: none, or without a code)."""
        return self._protocol.close_code_received

    @property
    def close_reason(self) -> str:
        """The reason of the Close that ended the session, sent or received."""
        return self._protocol.close_reason

    @property
    def send_queue_bytes(self) -> int:
        """Bytes written for the peer and not yet taken by the kernel."""
        return self._transport.unsent

    @property
    def send_queue_high(self) -> int:
        """The most bytes ever kept back for this peer."""
        return self._transport.unsent_high
