"""Perfect's ``WebSocket``: the API a session handler drives.

Each method here is one of Perfect's (``Swift:`` lines in the docstrings) and
delegates to the session engine (perfectws/_session.py), which joins the
sans-I/O protocol (perfectws/protocol.py), the socket transport
(perfectws/_transport.py) and the callback trampoline
(perfectws/_trampoline.py). docs/design.md draws the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._session import SendCallback, Session
from .frames import CloseCode, OpcodeType
from .protocol import State

__all__ = [
    "BytesReadCallback",
    "SendCallback",
    "StringReadCallback",
    "WebSocket",
]

#: ``(data, op, fin)``: Swift's ``(String?, OpcodeType, Bool) -> ()``
StringReadCallback = Callable[[str | None, OpcodeType, bool], Any]
#: ``(data, op, fin)``: Swift's ``([UInt8]?, OpcodeType, Bool) -> ()``
BytesReadCallback = Callable[[bytes | None, OpcodeType, bool], Any]


class WebSocket(Session):
    """One WebSocket session, driven by callbacks.

    Swift: ``class WebSocket(Session): Equatable``

    A session handler receives it in ``handle_session(request, socket)`` and
    drives it: each ``read_*_message`` delivers one frame to its callback as
    ``(data, op, fin)``; each ``send_*_message`` writes one frame and then
    calls its callback. ``data`` is ``None`` (with ``OpcodeType.INVALID`` and
    ``True``) when the read fails: the peer closed or vanished, the read timed
    out, or the peer broke the protocol (perfectws has then already sent the
    RFC 6455 Close code: 1002, 1007 or 1009).

    Differs from Perfect:

    * Pings are answered automatically and never delivered (as in Perfect);
      pongs are not delivered either (Perfect delivers them, which would make
      the EchoHandler echo an empty message for every unsolicited pong).
    * perfectws checks what Perfect does not: reserved bits and opcodes, masking,
      control-frame rules, fragmentation order, UTF-8 in text frames (checked
      as it arrives, so a frame with invalid UTF-8 is never delivered), close
      codes, and ``max_message_size``.
    * :meth:`close` sends code 1000 (Perfect sends an empty Close payload) and
      waits for the peer's Close, as RFC 6455 asks.
    * While no read is pending, perfectws stops reading from the socket once
      64 KiB are buffered, where Perfect would not read at all.
    """

    __slots__ = ()

    @property
    def is_connected(self) -> bool:
        """Whether the session is open: no Close sent or received, TCP up.

        Swift: ``var isConnected: Bool``
        """
        transport = self._transport
        return (
            self._protocol.state is State.OPEN
            and transport is not None
            and transport.sock is not None
        )

    def read_string_message(self, callback: StringReadCallback) -> None:
        """Read one frame and call ``callback(string, op, fin)``.

        Swift: ``func readStringMessage(continuation: @escaping (String?,
        OpcodeType, Bool) -> ())``

        One call, one frame: an unfragmented message arrives as
        ``(text, TEXT, True)``; a fragmented one as ``(part, TEXT, False)``,
        then ``(part, CONTINUATION, False)``... and the last with ``True``.
        A character split across frames is delivered whole, in the frame that
        completes it. A binary frame arrives as its bytes decoded as UTF-8
        with U+FFFD for invalid sequences, and op ``BINARY`` (Perfect decodes
        it too). ``(None, INVALID, True)`` means the session is over or the
        read timed out.

        Raises:
            ConcurrencyError: if another read is still pending.
        """
        self._begin_read(callback, True)

    def read_bytes_message(self, callback: BytesReadCallback) -> None:
        """Read one frame and call ``callback(data, op, fin)`` with its bytes.

        Swift: ``func readBytesMessage(continuation: @escaping ([UInt8]?,
        OpcodeType, Bool) -> ())``

        As :meth:`read_string_message`, with the payload as ``bytes`` (a text
        frame arrives as its UTF-8 bytes, op ``TEXT``, already validated).

        Raises:
            ConcurrencyError: if another read is still pending.
        """
        self._begin_read(callback, False)

    #: Perfect 1.x spelling (``readBinaryMessage``).
    read_binary_message = read_bytes_message

    def send_string_message(
        self, string: str, final: bool = True, callback: SendCallback | None = None
    ) -> None:
        """Send ``string`` as a text frame, then call ``callback()``.

        Swift: ``func sendStringMessage(string: String, final: Bool,
        completion: @escaping () -> ())``

        ``final=False`` starts (or continues) a fragmented message: the next
        sends go out as continuation frames until one has ``final=True``, so
        the peer receives one message. ``callback`` runs once the frame is
        handed to the socket (after it has drained, if the peer
        reads slowly), and also if the session is closed, as in Perfect.
        """
        self._send(OpcodeType.TEXT, string.encode(), final, callback)

    def send_binary_message(
        self,
        bytes: bytes | bytearray | memoryview,
        final: bool = True,
        callback: SendCallback | None = None,
    ) -> None:
        """Send ``bytes`` as a binary frame, then call ``callback()``.

        Swift: ``func sendBinaryMessage(bytes: [UInt8], final: Bool,
        completion: @escaping () -> ())``

        Fragmentation and the callback work as in :meth:`send_string_message`.
        """
        self._send(OpcodeType.BINARY, _bytes(bytes), final, callback)

    def send_ping(self, callback: SendCallback | None = None) -> None:
        """Send a Ping with an empty payload. Swift: ``func sendPing(completion:)``"""
        self._send_control(OpcodeType.PING, b"", callback)

    def send_pong(self, callback: SendCallback | None = None) -> None:
        """Send an unsolicited Pong. Swift: ``func sendPong(completion:)``"""
        self._send_control(OpcodeType.PONG, b"", callback)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake: send a Close frame with ``code``.

        Swift: ``func close()``

        Nothing more is sent after it; a pending read gets ``None``. The TCP
        connection closes when the peer answers with its Close, or after
        ``close_timeout`` seconds. Calling it again does nothing.

        Differs from Perfect: Perfect sends an empty Close payload (the peer
        sees 1005) and drops TCP without waiting for the answer.

        Raises:
            CloseFrameError: ``code`` may not be sent (RFC 6455 section 7.4:
                1000-1003, 1007-1014 and 3000-4999 may), or ``reason`` is
                over 123 bytes of UTF-8.
        """
        self._start_close(code, reason)

    def __repr__(self) -> str:
        return f"<WebSocket {self.request.path} {self._state_name()}>"


# The builtin, under the name Perfect's ``sendBinaryMessage(bytes:)`` shadows.
_bytes = bytes
