"""The WebSocket connection without I/O (RFC 6455), as a server sees it.

Bytes in, events out; send requests in, bytes out; and the closing
handshake's states. No sockets, no event loop, no timers and no calls into user
code: the session layer (perfectws/_session.py) feeds it what the transport
read and writes what it returns, and tests/test_protocol.py drives it with
bytes alone. In the manner of wsproto and ``websockets``' ``protocol.py``, with
one difference that Perfect's API needs: :meth:`ServerProtocol.receive` takes
one frame at a time and leaves a data frame unparsed until the caller is
reading, so that a Close which arrives behind data is answered only after that
data was read and answered (docs/design.md, "Why the frame layer is
perfectws's own").

The input buffer belongs to the caller (the transport's shared read buffer:
the codec parses in place and this class keeps no bytes between calls).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, TypeAlias

from .exceptions import CloseFrameError
from .frames import (
    CloseCode,
    Frame,
    FrameReader,
    OpcodeType,
    ProtocolError,
    encode_close,
    encode_frame,
    encode_header,
    invalid_utf8,
    is_valid_close_code,
    message_too_big,
    new_frame,
    unmask_frame,
)

__all__ = [
    "CloseReceived",
    "Event",
    "Failure",
    "Ping",
    "Pong",
    "ServerProtocol",
    "State",
]


class State(IntEnum):
    """Where the connection is in its life (RFC 6455 section 4 and 7)."""

    OPEN = 0
    #: Our Close frame is sent; waiting for the peer's.
    CLOSING = 1
    #: Close frames exchanged, the connection failed, or TCP is gone.
    CLOSED = 2


_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED
_TEXT = OpcodeType.TEXT
_BINARY = OpcodeType.BINARY


class Ping(NamedTuple):
    """The peer pinged; ``reply`` is the Pong to write (``None`` once closing)."""

    payload: bytes
    reply: bytes | None


class Pong(NamedTuple):
    """The peer sent a Pong (an answer to our Ping, or unsolicited)."""

    payload: bytes


class CloseReceived(NamedTuple):
    """The peer's Close: the connection is now CLOSED.

    ``reply`` is the Close to write back (``None`` if ours was sent first).
    ``code`` is ``None`` for an empty Close payload (the peer's 1005).
    """

    code: int | None
    reason: str
    reply: bytes | None


class Failure(NamedTuple):
    """The peer broke the protocol: ``reply`` is our Close with ``code``.

    The connection is now CLOSED; nothing the peer sends after the bad frame
    is parsed.
    """

    code: int
    reason: str
    reply: bytes | None


#: What :meth:`ServerProtocol.receive` yields: a data :class:`~perfectws.frames.Frame`
#: (TEXT, BINARY or CONTINUATION), or one of the control events above.
Event: TypeAlias = Frame | Ping | Pong | CloseReceived | Failure


class ServerProtocol:
    """One server-side WebSocket connection's protocol state.

    ``need`` is, after :meth:`receive` returned ``None`` for an incomplete
    frame, how many bytes that frame needs in all (0 if its header is not
    complete yet), so the caller can size its buffer before reading more.
    """

    __slots__ = (
        "_continues",
        "_reader",
        "bytes_in",
        "bytes_out",
        "close_code_received",
        "close_code_sent",
        "close_reason",
        "messages_in",
        "messages_out",
        "need",
        "state",
    )

    #: Hook (permessage-deflate): True in perfectws/_deflate.py's subclass,
    #: whose :meth:`send_data` must see every payload, large ones too.
    compresses = False

    def __init__(self, max_message_size: int) -> None:
        self.state = _OPEN
        self.need = 0
        self._reader = FrameReader(max_message_size)
        # After a send with final=False, the next data frame is a continuation.
        self._continues = False
        #: Data frames received and sent, and their payload bytes: plain
        #: counters, read by metrics and the access log, never per message.
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        #: The codes of the Close frames sent and received (None: none, or a
        #: Close without a code), and the reason of the one that ended it.
        self.close_code_sent: int | None = None
        self.close_code_received: int | None = None
        self.close_reason = ""

    @property
    def sending_fragments(self) -> bool:
        """Whether a send with ``final=False`` left a message open."""
        return self._continues

    @property
    def max_message_size(self) -> int:
        """Messages (all fragments together) over this fail with 1009."""
        return self._reader.max_message_size

    # ---------------------------------------------------------------- input

    # One function of about 64 lines, on purpose (issue 10): it runs once per
    # frame received, and an echo costs about 20 Python calls in all (measured
    # with sys.setprofile over bench/servers/perfectws_echo.py, bench/wsload
    # echo, 50 connections, 32-byte messages), so splitting off the fast path
    # or the accounting would add a call, about 1% of an echo, per message.
    def receive(
        self,
        buf: bytes | bytearray | memoryview,
        start: int,
        end: int,
        reading: bool,
    ) -> tuple[Event, int] | None:
        """The next event in ``buf[start:end]`` and where the bytes after it start.

        Returns ``None`` when no whole frame is there yet, or when the next
        frame is a data frame and ``reading`` is false while the connection is
        open: data waits until the handler asks for it, control frames never
        wait. A data frame that arrives after our Close is returned too; the
        caller drops it (no read can be pending then). ``start < end``.
        """
        b0 = buf[start]
        if b0 & 0x08 == 0 and not reading and self.state is _OPEN:
            return None
        reader = self._reader
        if (
            (b0 == 0x81 or b0 == 0x82)
            and end - start >= 2
            and 0x80 <= buf[start + 1] < 0xFE
            and reader.message_opcode is None
        ):
            # Nearly every chat-sized message: one whole masked text or binary
            # frame under 126 bytes, outside a fragmented message, for which
            # every check of FrameReader.read_frame would pass. Parsed here, it
            # costs two Python calls fewer per message (about 1% of an echo).
            length = buf[start + 1] - 0x80
            next_start = start + 6 + length  # header 2 + mask 4 + payload
            if next_start > end:
                return None
            self.need = 0
            if length > reader.max_message_size:
                error = message_too_big(reader.max_message_size)
                return self._failure(error.code, error.reason), end
            payload = unmask_frame(buf, start + 2, next_start)
            if b0 == 0x82:
                text = None
            else:
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    error = invalid_utf8("text message")
                    return self._failure(error.code, error.reason), end
            self.messages_in += 1
            self.bytes_in += length
            fields = (_TEXT if b0 == 0x81 else _BINARY, True, payload, text, None, "")
            return new_frame(Frame, fields), next_start
        try:
            parsed = reader.read_frame(buf, start, end)
        except ProtocolError as exc:
            return self._failure(exc.code, exc.reason), end
        if parsed is None:
            self.need = reader.frame_size(buf, start, end)
            return None
        self.need = 0
        frame = parsed[0]
        if frame.opcode < 0x8:
            self.messages_in += 1
            self.bytes_in += len(frame.payload)
            return parsed
        return self._control(frame), parsed[1]

    def _control(self, frame: Frame) -> Event:
        opcode = frame.opcode
        if opcode is OpcodeType.PING:
            reply = None
            if self.state is _OPEN:
                reply = encode_frame(OpcodeType.PONG, frame.payload)
            return Ping(frame.payload, reply)
        if opcode is OpcodeType.PONG:
            return Pong(frame.payload)
        code, reason = frame.close_code, frame.close_reason
        self.close_code_received = code
        reply = None
        if self.state is _OPEN:
            # Echo the peer's code (RFC 6455 5.5.1); an empty Close gets one back.
            reply = encode_close(code, reason if code else "")
            self.close_code_sent = code
            self.close_reason = reason
        self.state = _CLOSED
        return CloseReceived(code, reason, reply)

    def _failure(self, code: int, reason: str) -> Failure:
        return Failure(code, reason, self.fail(code, reason))

    # --------------------------------------------------------------- output

    def send_data(
        self, opcode: OpcodeType, payload: bytes, final: bool
    ) -> bytes | None:
        """The frame that sends ``payload``, or ``None`` once closing.

        ``opcode`` is TEXT or BINARY; after a send with ``final=False`` the
        frames that follow go out as continuations until one is final, so the
        peer receives one message.
        """
        if self._continues:
            opcode = OpcodeType.CONTINUATION
        self._continues = not final
        if self.state is not _OPEN:
            return None
        size = len(payload)
        self.messages_out += 1
        self.bytes_out += size
        # encode_frame's body, inlined: one call fewer per message.
        return encode_header(opcode, size, final) + payload

    def data_header(self, opcode: OpcodeType, length: int, final: bool) -> bytes | None:
        """As :meth:`send_data`, but only the header of a ``length``-byte frame.

        For large payloads, which the transport sends behind the header
        without copying them.
        """
        if self._continues:
            opcode = OpcodeType.CONTINUATION
        self._continues = not final
        if self.state is not _OPEN:
            return None
        self.messages_out += 1
        self.bytes_out += length
        return encode_header(opcode, length, final)

    def send_encoded(self, frame: bytes, payload_size: int) -> bool:
        """Whether ``frame``, one whole message encoded elsewhere, may be sent now.

        For a broadcast, which encodes its message once for every peer: not
        once closing, and not while a fragmented send is open (the frame would
        land inside that message).
        """
        if self.state is not _OPEN or self._continues:
            return False
        self.messages_out += 1
        self.bytes_out += payload_size
        return True

    def send_control(self, opcode: OpcodeType, payload: bytes = b"") -> bytes | None:
        """A Ping or Pong frame, or ``None`` once closing."""
        if self.state is not _OPEN:
            return None
        return encode_frame(opcode, payload)

    def close(
        self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> bytes | None:
        """Start the closing handshake: our Close frame, or ``None`` if not open.

        Raises:
            CloseFrameError: ``code`` may not be sent (RFC 6455 7.4), or the
                reason is over 123 bytes of UTF-8.
        """
        if code is not None and not is_valid_close_code(code):
            raise CloseFrameError(
                f"close code {code} may not be sent: use 1000-1003, 1007-1014 "
                "or 3000-4999 (RFC 6455 section 7.4)"
            )
        if self.state is not _OPEN:
            return None
        frame = encode_close(code, reason)
        self.state = _CLOSING
        self.close_code_sent = code
        self.close_reason = reason
        return frame

    def fail(self, code: int, reason: str) -> bytes | None:
        """Fail the connection with ``code`` (our fault or the peer's).

        Returns our Close frame, or ``None`` if one was already sent; the
        connection is CLOSED either way.
        """
        frame = None
        if self.state is _OPEN:
            frame = encode_close(code, reason)
            self.close_code_sent = code
            self.close_reason = reason
        self.state = _CLOSED
        return frame

    def connection_lost(self) -> None:
        """TCP is gone (EOF, an error or an abort): nothing more is exchanged."""
        self.state = _CLOSED
