"""permessage-deflate (RFC 7692): negotiation and per-connection compression.

Opt-in, per :class:`~perfectws.handler.WebSocketHandler` (``compression=``);
Perfect has no compression at all. This module holds all of it, so that the
connection path without compression runs exactly the code it ran before:

* :func:`negotiate` reads the client's ``Sec-WebSocket-Extensions`` offers
  (RFC 7692 section 5 and 7.1) and returns the parameters the server accepts,
  with the header value to answer; an offer it cannot accept is declined by
  leaving it out of the answer (no header at all if none is accepted).
* :class:`DeflateFrameReader` is the codec's :class:`~perfectws.frames.FrameReader`
  for a connection that negotiated compression: it accepts RSV1 on the first
  frame of a data message and inflates each frame of a compressed message as
  it arrives, so a read still delivers one frame (its share of the message),
  as in Perfect. The inflated size counts against ``max_message_size`` while
  it grows (``zlib`` ``max_length``), so a compression bomb fails with 1009
  after at most ``max_message_size`` bytes were inflated.
* :class:`DeflateServerProtocol` is the :class:`~perfectws.protocol.ServerProtocol`
  of such a connection: it compresses every data frame it sends (control
  frames never are, RFC 7692 section 6.1).

The session picks these classes only for a connection that negotiated the
extension (handler.py), so the uncompressed hot path has no extra branch; the
one hook in the codec (``FrameReader._reserved_bits``) runs only when a frame
has a reserved bit set, which without compression is a 1002 anyway.

Swift: none (Perfect-WebSockets neither offers nor accepts extensions).

Why over 450 lines (issue 10): it is one extension, and keeping all of RFC
7692 here is what leaves the plain connection path untouched (see above).
Negotiation (``PerMessageDeflate`` to ``_compress_window_bits``, about 270
lines) could become a module of its own if this one grows.
"""

from __future__ import annotations

import re
import zlib
from typing import Final, NamedTuple

from .exceptions import ConfigurationError
from .frames import (
    CloseCode,
    Frame,
    FrameReader,
    OpcodeType,
    ProtocolError,
    encode_header,
    message_too_big,
)
from .protocol import ServerProtocol, State

__all__ = ["PerMessageDeflate"]

EXTENSION: Final = "permessage-deflate"
#: RFC 7692 7.2.1: a sender strips these 4 bytes (the end of a sync flush) from
#: each compressed message; the receiver appends them before inflating.
_TAIL: Final = b"\x00\x00\xff\xff"
_RSV1: Final = 0x40
_CONTINUATION: Final = OpcodeType.CONTINUATION
_OPEN: Final = State.OPEN
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class PerMessageDeflate:
    """What a server accepts when a client offers permessage-deflate (RFC 7692).

    Swift: none. Perfect has no WebSocket compression; perfectws offers it
    opt-in: ``WebSocketHandler(producer, compression="deflate")`` uses these
    defaults, ``compression=PerMessageDeflate(...)`` changes them.

    The defaults are ``websockets``' (its ``enable_server_permessage_deflate``):
    windows of 2**12 bytes both ways and ``mem_level=5``, which compress chat
    and JSON messages nearly as well as the maximum and cost a fraction of
    its memory per connection (README, "Compression").

    * ``server_no_context_takeover``: compress each message on its own (worse
      ratio; nothing is kept between messages, so an idle connection holds no
      compressor).
    * ``client_no_context_takeover``: ask the client to do the same (so no
      inflater is kept between messages either).
    * ``server_max_window_bits`` (9-15): the server's LZ77 window; a client may
      ask for less (down to 8) and gets it.
    * ``client_max_window_bits`` (8-15, or ``None`` to leave it to the
      client): the window the client is told to use, if its offer lets the
      server choose; a smaller one saves the server's inflater memory.
    * ``compress_level`` (0-9, -1 for zlib's default 6) and ``mem_level``
      (1-9): passed to :func:`zlib.compressobj`.

    Raises:
        ConfigurationError: a value outside these ranges.
    """

    __slots__ = (
        "client_max_window_bits",
        "client_no_context_takeover",
        "compress_level",
        "mem_level",
        "server_max_window_bits",
        "server_no_context_takeover",
    )

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 12,
        client_max_window_bits: int | None = 12,
        compress_level: int = -1,
        mem_level: int = 5,
    ) -> None:
        # zlib cannot compress with an 8-bit window (madler/zlib#171), so the
        # server's own choice starts at 9; see _compress_window_bits for 8.
        _check_range("server_max_window_bits", server_max_window_bits, 9, 15)
        if client_max_window_bits is not None:
            _check_range("client_max_window_bits", client_max_window_bits, 8, 15)
        _check_range("compress_level", compress_level, -1, 9)
        _check_range("mem_level", mem_level, 1, 9)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"PerMessageDeflate({fields})"


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ConfigurationError(
            f"PerMessageDeflate {name} must be an int from {low} to {high}, "
            f"not {value!r}"
        )


def compression_options(value: object) -> PerMessageDeflate | None:
    """``WebSocketHandler``'s ``compression`` argument as options, or ``None``.

    Raises:
        ConfigurationError: neither ``None``, ``"deflate"`` nor
            :class:`PerMessageDeflate`.
    """
    if value is None or isinstance(value, PerMessageDeflate):
        return value
    if value == "deflate" or value == EXTENSION:
        return PerMessageDeflate()
    raise ConfigurationError(
        f'compression must be None, "deflate" or a PerMessageDeflate, not {value!r}'
    )


# ------------------------------------------------------------- negotiation


class Agreement(NamedTuple):
    """The accepted parameters of one connection and the header that says so."""

    #: The ``Sec-WebSocket-Extensions`` value of the 101 response.
    response: str
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    #: The window the server compresses with (zlib's, 9-15).
    server_window_bits: int
    #: The window the server inflates with: at least the client's.
    client_window_bits: int
    compress_level: int
    mem_level: int


Params = list[tuple[str, str | None]]


def negotiate(header_values: list[str], options: PerMessageDeflate) -> Agreement | None:
    """The first permessage-deflate offer in ``header_values`` the server accepts.

    ``header_values`` are the request's ``Sec-WebSocket-Extensions`` lines.
    Offers are tried in the client's order of preference (RFC 7692 5); one
    that is malformed, names an unknown parameter, repeats one or gives one
    an invalid value is declined (RFC 7692 5, 7.1), and so is every other
    extension. ``None`` when nothing is accepted: the 101 then has no
    extensions header.
    """
    for name, params in parse_extensions(header_values):
        if name.lower() == EXTENSION:
            agreement = _accept(params, options)
            if agreement is not None:
                return agreement
    return None


def parse_extensions(header_values: list[str]) -> list[tuple[str, Params]]:
    """The offers in ``Sec-WebSocket-Extensions`` values (RFC 6455 9.1 grammar).

    Each as ``(name, [(param, value or None), ...])``; a quoted value is
    unquoted. A malformed element is left out (it can only be declined).
    """
    offers = []
    for value in header_values:
        for element in _split_unquoted(value, ","):
            if not element.strip():
                continue  # "#rule" lists allow empty elements
            parsed = _parse_element(element)
            if parsed is not None:
                offers.append(parsed)
    return offers


def _split_unquoted(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside a quoted-string."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _is_token(text: str) -> bool:
    return bool(text) and all(char in _TOKEN_CHARS for char in text)


def _parse_element(element: str) -> tuple[str, Params] | None:
    name, *raw_params = (part.strip() for part in _split_unquoted(element, ";"))
    if not _is_token(name):
        return None
    params: Params = []
    for raw in raw_params:
        key, equals, value = raw.partition("=")
        key = key.strip()
        if not _is_token(key):
            return None
        if not equals:
            params.append((key, None))
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        # RFC 7692 7.1: a quoted value must still be a token.
        if not _is_token(value):
            return None
        params.append((key, value))
    return name, params


_QUOTED_PAIR: Final = re.compile(r"\\(.)")
_WINDOW_BITS: Final = {str(bits): bits for bits in range(8, 16)}


def _accept(params: Params, options: PerMessageDeflate) -> Agreement | None:
    """Our answer to one offer, or ``None`` to decline it (RFC 7692 7.1)."""
    seen: set[str] = set()
    server_nct = client_nct = False
    server_bits: int | None = None
    client_bits: int | bool | None = None  # True: offered without a value
    for key, value in params:
        if key in seen:
            return None
        seen.add(key)
        if key == "server_no_context_takeover" and value is None:
            server_nct = True
        elif key == "client_no_context_takeover" and value is None:
            client_nct = True
        elif key == "server_max_window_bits" and value in _WINDOW_BITS:
            server_bits = _WINDOW_BITS[value]
        elif key == "client_max_window_bits" and value is None:
            client_bits = True
        elif key == "client_max_window_bits" and value in _WINDOW_BITS:
            client_bits = _WINDOW_BITS[value]
        else:
            return None  # unknown parameter or invalid value
    server_nct = server_nct or options.server_no_context_takeover
    client_nct = client_nct or options.client_no_context_takeover
    answer = [EXTENSION]
    if server_nct:
        answer.append("server_no_context_takeover")
    if client_nct:
        answer.append("client_no_context_takeover")
    # The server may always use less than the client allows (7.1.2.1).
    if server_bits is None:
        server_bits = options.server_max_window_bits
    else:
        server_bits = min(server_bits, options.server_max_window_bits)
    if server_bits < 15:
        answer.append(f"server_max_window_bits={server_bits}")
    # client_max_window_bits may be answered only if offered (7.1.2.2); then
    # the client uses at most what the answer says, else at most its offer.
    inflate_bits = 15
    if client_bits is not None:
        limit = options.client_max_window_bits
        if client_bits is not True:
            inflate_bits = client_bits
            if limit is None or limit >= client_bits:
                limit = client_bits
        if limit is not None:
            inflate_bits = limit
            answer.append(f"client_max_window_bits={limit}")
    return Agreement(
        "; ".join(answer),
        server_nct,
        client_nct,
        _compress_window_bits(server_bits),
        inflate_bits,
        options.compress_level,
        options.mem_level,
    )


def _compress_window_bits(bits: int) -> int:
    """zlib's window for a server window of ``bits``.

    zlib refuses to deflate with an 8-bit window (madler/zlib#171) and used to
    turn 8 into 9 itself. That is safe for raw deflate: zlib never emits a
    match farther back than ``w_size - MIN_LOOKAHEAD`` (zlib deflate.h,
    ``MAX_DIST``), 512 - 262 = 250 bytes with 9 bits, within the 256 a peer
    that asked for ``server_max_window_bits=8`` keeps. Autobahn case 13.3.x
    checks it.
    """
    return max(bits, 9)


# ------------------------------------------------------------- the codec


class DeflateFrameReader(FrameReader):
    """A :class:`~perfectws.frames.FrameReader` that inflates compressed messages.

    Each frame of a compressed message is inflated when it is parsed, so it is
    delivered as its share of the message (possibly empty: a frame may carry
    less than one deflate symbol), and text is UTF-8 checked as it is inflated.
    """

    __slots__ = (
        "_compressed_frame",
        "_inflated",
        "_inflater",
        "_inflating",
        "_no_context_takeover",
        "_window_bits",
    )

    def __init__(
        self, max_message_size: int, window_bits: int, no_context_takeover: bool
    ) -> None:
        super().__init__(max_message_size)
        self._window_bits = window_bits
        self._no_context_takeover = no_context_takeover
        #: Created at the first compressed message, dropped after each one
        #: when the client does not take its context over: an idle
        #: connection then holds no inflater.
        self._inflater: zlib._Decompress | None = None
        #: Set by the header parse of a frame with RSV1, read by _data_frame.
        self._compressed_frame = False
        #: Whether the message being read is compressed.
        self._inflating = False
        #: Inflated bytes of that message so far.
        self._inflated = 0

    def _reserved_bits(self, b0: int) -> None:
        # RSV1 marks the first frame of a compressed message; on control
        # frames and continuations it is an error (RFC 7692 6.1), and RSV2
        # and RSV3 stay reserved.
        if b0 & 0x30 or (b0 & 0x0F) not in (0x1, 0x2):
            super()._reserved_bits(b0)
        self._compressed_frame = True

    def _data_frame(
        self, opcode: OpcodeType, fin: bool, payload: bytes, size: int
    ) -> Frame:
        if opcode is not _CONTINUATION:
            self._inflating = self._compressed_frame
            self._compressed_frame = False
        if self._inflating:
            payload = self._inflate(payload, fin)
        return super()._data_frame(opcode, fin, payload, size)

    def _inflate(self, payload: bytes, fin: bool) -> bytes:
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(-self._window_bits)
        room = self.max_message_size - self._inflated
        if fin:
            payload += _TAIL
        try:
            # max_length bounds what one call may allocate: one byte over the
            # room left proves the message too big without inflating the rest.
            data = inflater.decompress(payload, room + 1)
        except zlib.error:
            raise ProtocolError(
                CloseCode.INVALID_DATA, "invalid permessage-deflate data"
            ) from None
        if len(data) > room:
            raise message_too_big(self.max_message_size)
        if inflater.eof:
            # The client ended its deflate stream (a BFINAL block, RFC 7692
            # 7.2.3.3): nothing but our own tail may follow in this frame, and
            # the next data starts a new stream.
            if inflater.unused_data not in (b"", _TAIL if fin else b""):
                raise ProtocolError(
                    CloseCode.INVALID_DATA, "data after the end of a deflate stream"
                )
            self._inflater = None
        if fin:
            self._inflating = False
            self._inflated = 0
            if self._no_context_takeover:
                self._inflater = None
        else:
            self._inflated += len(data)
        return data


class DeflateServerProtocol(ServerProtocol):
    """A :class:`~perfectws.protocol.ServerProtocol` that compresses what it sends.

    Every data message is compressed (RFC 7692 lets a sender choose per
    message; chat and JSON messages gain, and one rule keeps it simple). A
    fragmented send compresses across its fragments with one compressor and
    flushes it (``Z_SYNC_FLUSH``) at the end of each fragment, so that each
    frame can be inflated as it arrives, as Perfect's per-frame sends promise;
    the 4 trailing bytes of the message's last flush are stripped (7.2.1).
    """

    __slots__ = ("_compressor", "_deflate")

    #: The session sends large payloads through :meth:`send_data` too (it
    #: would otherwise write them behind a header, uncompressed).
    compresses = True

    def __init__(self, max_message_size: int, agreement: Agreement) -> None:
        super().__init__(max_message_size)
        self._reader = DeflateFrameReader(
            max_message_size,
            agreement.client_window_bits,
            agreement.client_no_context_takeover,
        )
        self._deflate = agreement
        #: Created at the first message sent; dropped after each one without
        #: context takeover.
        self._compressor: zlib._Compress | None = None

    def send_data(
        self, opcode: OpcodeType, payload: bytes, final: bool
    ) -> bytes | None:
        """As :meth:`ServerProtocol.send_data`, compressed, RSV1 on the first frame."""
        # ServerProtocol.send_data's continuation rule, with RSV1 added.
        first = not self._continues
        self._continues = not final
        if self.state is not _OPEN:
            return None
        self.messages_out += 1
        self.bytes_out += len(payload)  # as the handler sent it, uncompressed
        compressor = self._compressor
        if compressor is None:
            agreement = self._deflate
            compressor = self._compressor = zlib.compressobj(
                agreement.compress_level,
                zlib.DEFLATED,
                -agreement.server_window_bits,
                agreement.mem_level,
            )
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if final:
            data = data[:-4]  # a sync flush always ends with _TAIL
            if self._deflate.server_no_context_takeover:
                self._compressor = None
        header = encode_header(
            opcode | _RSV1 if first else _CONTINUATION, len(data), final
        )
        return header + data
