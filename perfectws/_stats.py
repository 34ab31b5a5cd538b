"""Per-session counters the connection path keeps for metrics and logs.

Swift: none. Perfect counts nothing; an operator needs messages, bytes and
close codes per session to see what a service does.

The hook for the connection path (perfectws/websocket.py): each ``WebSocket``
owns one ``SessionStats`` as ``ws.stats`` and adds to its plain ``int``
fields where frames are read and written. That is all the hot path pays: an
attribute increment, no lock, no call into prometheus-client. perfectws.metrics
and the access log read these fields when a session closes and when metrics
are scraped (perfectws/_operations.py), never per message.
"""

from __future__ import annotations

import time

__all__: list[str] = []


class SessionStats:
    """What one WebSocket session has done so far (package-internal)."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "close_code_received",
        "close_code_sent",
        "close_reason",
        "messages_in",
        "messages_out",
        "opened_at",
        "send_queue_bytes",
        "send_queue_high",
    )

    def __init__(self) -> None:
        #: ``time.monotonic()`` when the session opened.
        self.opened_at = time.monotonic()
        #: Data frames (text, binary, continuation) received and sent.
        self.messages_in = 0
        self.messages_out = 0
        #: Payload bytes of those frames.
        self.bytes_in = 0
        self.bytes_out = 0
        #: The Close codes of the frames sent and received (None: none yet, or
        #: a Close without a code).
        self.close_code_sent: int | None = None
        self.close_code_received: int | None = None
        #: The reason of the Close that ended the session, as sent or received.
        self.close_reason = ""
        #: Bytes queued for the socket and not yet written, now and at most.
        self.send_queue_bytes = 0
        self.send_queue_high = 0
