"""The WebSocket frame codec (RFC 6455): bytes in, frames out; frames in, bytes out.

Pure code, no I/O, so it is unit-tested and fuzzed by feeding it bytes.

Why perfectws writes its own codec instead of reusing one: Perfect delivers a
WebSocket *frame* per read call, and reads only when the handler asks. Tornado's
``WebSocketHandler`` reassembles messages before ``on_message`` (no per-frame
reads) and is the slowest server measured (``docs/design.md``).  ``websockets``'
sans-I/O protocol parses everything one ``receive_data()`` gets and answers a
Close at once, ahead of data frames that came before it in the same read, which
breaks Perfect's read-one-frame, answer, read-again order. This codec parses
one frame at a time from a caller's buffer, at the caller's pace, and checks
everything RFC 6455 requires of a server (Autobahn|Testsuite proves it:
``docs/conformance.md``).
"""

from __future__ import annotations

import codecs
import struct
from enum import IntEnum
from typing import NamedTuple

from .exceptions import CloseFrameError

__all__ = ["CloseCode", "OpcodeType"]


class OpcodeType(IntEnum):
    """The kind of a frame, as delivered to read callbacks.

    Swift: ``enum OpcodeType: UInt8 { case continuation = 0x0, text = 0x1,
    binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA, invalid }``

    ``INVALID`` (0xB, Swift's next raw value) comes with ``None`` data when a
    read fails: disconnect, close, timeout or protocol error.
    """

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    INVALID = 0xB

    def __str__(self) -> str:
        # Swift prints an enum case by name: print("op: \(op)") shows "op: text".
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class CloseCode(IntEnum):
    """Status codes of a Close frame (RFC 6455 section 7.4).

    Swift: none. Differs from Perfect: Perfect sends and checks no close codes
    at all; perfectws answers protocol errors with 1002, 1007 and 1009, a
    failing handler with 1011, and ``close()`` with 1000.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


# Codes a peer may put on the wire: the registered ones, minus those reserved
# for reporting (1005, 1006, 1015), plus the ranges for libraries (3000-3999)
# and applications (4000-4999).
_VALID_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame on the wire."""
    return code in _VALID_CLOSE_CODES or 3000 <= code <= 4999


class ProtocolError(Exception):
    """The peer broke RFC 6455; the connection fails with ``code``.

    Internal: it never reaches user code, which sees a ``None`` read instead.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Frame(NamedTuple):
    """One frame, unmasked and checked.

    ``text`` is the frame's share of its message decoded as UTF-8 (a character
    split across frames lands in the frame that completes it), ``None`` for
    binary and control frames. For a Close frame ``close_code`` and
    ``close_reason`` hold its parsed payload (``None`` and ``""`` if empty).
    """

    opcode: OpcodeType
    fin: bool
    payload: bytes
    text: str | None
    close_code: int | None = None
    close_reason: str = ""


def apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated: the pure-Python fallback.

    Converting to one big integer keeps the loop in C; fine for chat-sized
    messages, about 60x slower than the C helper on 64 KiB.
    """
    n = len(data)
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def unmask_frame_python(
    buf: bytes | bytearray | memoryview, mask_at: int, end: int
) -> bytes:
    """The payload of the frame whose mask starts at ``mask_at`` and that ends at ``end``."""
    return apply_mask_python(buf[mask_at + 4 : end], bytes(buf[mask_at : mask_at + 4]))


try:
    from ._speedups import apply_mask as apply_mask, unmask_frame as unmask_frame
except ImportError:  # pragma: no cover - only where no C compiler was found
    apply_mask = apply_mask_python
    unmask_frame = unmask_frame_python


# Indexed by the opcode nibble; None marks the reserved opcodes (and 0xB, which
# is Perfect's INVALID, never a wire opcode).
_OPCODES: tuple[OpcodeType | None, ...] = tuple(
    OpcodeType(i) if i in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA) else None for i in range(16)
)
#: NamedTuple's generated __new__ is a Python function; building the tuple
#: directly (``new_frame(Frame, fields)``, all six fields) costs a third as
#: much, once per frame.
new_frame = tuple.__new__
_unpack_short = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class FrameReader:
    """Parses client frames one at a time and enforces RFC 6455's server rules.

    It keeps the state that spans frames: whether a fragmented message is in
    progress, its size so far, and the incremental UTF-8 decoder of a text
    message, so invalid UTF-8 fails the connection (1007) at the first bad
    byte, before any of it is delivered.
    """

    __slots__ = ("_decoder", "_message_size", "max_message_size", "message_opcode")

    def __init__(self, max_message_size: int) -> None:
        self.max_message_size = max_message_size
        #: TEXT or BINARY while a fragmented message is open, else None
        #: (read-only for callers).
        self.message_opcode: OpcodeType | None = None
        self._message_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    def frame_size(
        self, buf: bytes | bytearray | memoryview, start: int, end: int
    ) -> int:
        """How many bytes the frame at ``start`` needs in all, or 0 if unknown yet.

        Lets the caller size its buffer for one large frame before its
        payload is read.
        """
        if end - start < 2:
            return 0
        length = buf[start + 1] & 0x7F
        if length < 126:
            return 6 + length
        if length == 126:
            if end - start < 4:
                return 0
            return 8 + int(_unpack_short(buf, start + 2)[0])
        if end - start < 10:
            return 0
        return 14 + int(_unpack_long(buf, start + 2)[0])

    def read_frame(
        self, buf: bytes | bytearray | memoryview, start: int, end: int
    ) -> tuple[Frame, int] | None:
        """Parse the frame at ``buf[start:end]``.

        Returns ``(frame, next_start)``, or ``None`` if the frame is not all
        there yet (nothing is consumed then). Raises :class:`ProtocolError` if
        the frame breaks the protocol; a frame that makes its message longer
        than ``max_message_size`` is refused from its header, before its
        payload is read.
        """
        header = self._read_header(buf, start, end)
        if header is None:
            return None
        opcode, fin, header_size, length = header
        control = opcode >= 0x8
        size = 0 if control else self._message_size_with(opcode, length)
        next_start = start + header_size + length
        if next_start > end:
            return None
        payload = unmask_frame(buf, start + header_size - 4, next_start)
        if control:
            return self._control_frame(opcode, payload), next_start
        return self._data_frame(opcode, fin, payload, size), next_start

    def _read_header(
        self, buf: bytes | bytearray | memoryview, start: int, end: int
    ) -> tuple[OpcodeType, bool, int, int] | None:
        """``(opcode, fin, header size with mask, payload length)``, once all there."""
        available = end - start
        if available < 2:
            return None
        b0 = buf[start]
        b1 = buf[start + 1]
        if b0 & 0x70:
            self._reserved_bits(b0)
        opcode = _OPCODES[b0 & 0x0F]
        if opcode is None:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved opcode")
        fin = bool(b0 & 0x80)
        if not b1 & 0x80:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unmasked client frame")
        length = b1 & 0x7F
        if opcode >= 0x8 and (length > 125 or not fin):
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR,
                "control frame too long" if fin else "fragmented control frame",
            )
        if length < 126:
            return opcode, fin, 6, length
        if length == 126:
            if available < 4:
                return None
            return opcode, fin, 8, int(_unpack_short(buf, start + 2)[0])
        if available < 10:
            return None
        length = _unpack_long(buf, start + 2)[0]
        if length >> 63:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "frame length over 2**63")
        return opcode, fin, 14, int(length)

    def _reserved_bits(self, b0: int) -> None:
        """A frame whose first byte is ``b0`` has an RSV bit set: a 1002.

        Hook (permessage-deflate): perfectws/_deflate.py's reader accepts RSV1
        where RFC 7692 allows it. Called only for frames with a reserved bit,
        so frames without one pay nothing for it.
        """
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")

    def _message_size_with(self, opcode: OpcodeType, length: int) -> int:
        """The message's size with this data frame; checks fragmentation order."""
        if opcode is OpcodeType.CONTINUATION:
            if self.message_opcode is None:
                raise ProtocolError(
                    CloseCode.PROTOCOL_ERROR, "continuation frame without a message"
                )
            size = self._message_size + length
        else:
            if self.message_opcode is not None:
                raise ProtocolError(
                    CloseCode.PROTOCOL_ERROR,
                    "new message before the previous one finished",
                )
            size = length
        if size > self.max_message_size:
            raise message_too_big(self.max_message_size)
        return size

    def _data_frame(
        self, opcode: OpcodeType, fin: bool, payload: bytes, size: int
    ) -> Frame:
        message = self.message_opcode if opcode is OpcodeType.CONTINUATION else opcode
        text: str | None = None
        if message is OpcodeType.TEXT:
            decoder = self._decoder
            if decoder is None and fin:
                # The common case, one frame per message, needs no decoder.
                text = decode_text(payload)
                return new_frame(Frame, (opcode, fin, payload, text, None, ""))
            if decoder is None:
                decoder = self._decoder = _Utf8Decoder()
            try:
                text = decoder.decode(payload, fin)
            except UnicodeDecodeError:
                raise invalid_utf8("text message") from None
        if fin:
            self.message_opcode = None
            self._message_size = 0
            self._decoder = None
        else:
            self.message_opcode = message
            self._message_size = size
        return new_frame(Frame, (opcode, fin, payload, text, None, ""))

    def _control_frame(self, opcode: OpcodeType, payload: bytes) -> Frame:
        if opcode is not OpcodeType.CLOSE or not payload:
            return Frame(opcode, True, payload, None)
        if len(payload) == 1:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame of 1 byte")
        code = _unpack_short(payload)[0]
        if not is_valid_close_code(code):
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError:
            raise invalid_utf8("close reason") from None
        return Frame(opcode, True, payload, None, code, reason)


def invalid_utf8(where: str) -> ProtocolError:
    """The error for invalid UTF-8 in a text message or a close reason (1007)."""
    return ProtocolError(CloseCode.INVALID_DATA, f"invalid UTF-8 in {where}")


def message_too_big(limit: int) -> ProtocolError:
    """The error for a message over ``max_message_size`` (1009)."""
    return ProtocolError(CloseCode.MESSAGE_TOO_BIG, f"message over {limit} bytes")


def decode_text(payload: bytes) -> str:
    """A whole text message's payload as ``str``; invalid UTF-8 is a 1007."""
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise invalid_utf8("text message") from None


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One server frame (servers never mask), header and payload in one buffer.

    One buffer means one ``send()``: writing the header and a small payload
    separately would cost a second syscall and, with TCP_NODELAY, a second
    packet. (Large payloads are sent with :func:`encode_header` and a gathered
    write instead, which saves copying them.)
    """
    return encode_header(opcode, len(payload), fin) + payload


def encode_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """The header of a server frame whose payload is ``length`` bytes."""
    b0 = opcode | 0x80 if fin else opcode
    if length < 126:
        return bytes((b0, length))
    if length < 65536:
        return _pack_short(b0, 126, length)
    return _pack_long(b0, 127, length)


def encode_close(code: int | None = None, reason: str = "") -> bytes:
    """A Close frame; without a code its payload is empty, as Perfect sends."""
    if code is None:
        return encode_frame(OpcodeType.CLOSE, b"")
    data = code.to_bytes(2, "big") + reason.encode()
    if len(data) > 125:
        raise CloseFrameError(
            "a close reason must encode to at most 123 bytes of UTF-8"
        )
    return encode_frame(OpcodeType.CLOSE, data)
