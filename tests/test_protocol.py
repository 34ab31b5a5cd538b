"""perfectws/protocol.py, the sans-I/O connection, driven with bytes alone.

No socket, no event loop: client frames from the suite's one builder
(``tests.rawws.frame``, with a fixed masking key) go into
:meth:`ServerProtocol.receive`; the events and the bytes the protocol asks to
write are checked, the latter by a small parser of server frames written here.
This is the private module's own contract (the session layer is its only
caller), so the test imports it directly. Every rule that the hostile-input
suite (tests/test_protocol_errors.py, over real sockets) and Autobahn check is
checked here at this level too: RFC 6455 sections 5.2-5.8 and 7.4.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from perfectws import CloseFrameError, OpcodeType, PerfectWSError
from perfectws.frames import Frame
from perfectws.protocol import (
    CloseReceived,
    Event,
    Failure,
    Ping,
    Pong,
    ServerProtocol,
    State,
)
from tests.rawws import close_payload, frame

KEY = b"\x37\xfa\x21\x3d"
BIG = 1 << 20


def client(opcode: int, payload: bytes = b"", **options: Any) -> bytes:
    """A masked client frame with a fixed key (the same bytes every run)."""
    options.setdefault("mask", KEY)
    return frame(opcode, payload, **options)


def server_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    """Parse what the server writes: ``(opcode, fin, payload)`` per frame, unmasked."""
    frames = []
    at = 0
    while at < len(data):
        b0, b1 = data[at], data[at + 1]
        assert not b1 & 0x80, "server frames are never masked"
        assert not b0 & 0x70, "no RSV bits without an extension"
        n, at = b1 & 0x7F, at + 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, at)
            at += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, at)
            at += 8
        frames.append((b0 & 0x0F, bool(b0 & 0x80), data[at : at + n]))
        at += n
    assert at == len(data), "a server frame was cut short"
    return frames


def close_reply(reply: bytes | None) -> tuple[int | None, bytes]:
    """The code and reason of the one Close frame in ``reply``."""
    assert reply is not None
    [(opcode, fin, payload)] = server_frames(reply)
    assert (opcode, fin) == (0x8, True)
    if not payload:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def feed(
    protocol: ServerProtocol, data: bytes, reading: bool = True
) -> tuple[list[Event], int]:
    """Every event in ``data`` as the session takes them; and where parsing stopped.

    Stops, as the session does, when the connection is CLOSED or when the
    protocol returns None (an incomplete frame, or data while not reading).
    """
    events: list[Event] = []
    start = 0
    while start < len(data) and protocol.state is not State.CLOSED:
        received = protocol.receive(data, start, len(data), reading)
        if received is None:
            break
        event, start = received
        events.append(event)
    return events, start


def fails(data: bytes, code: int, reason: str, max_size: int = BIG) -> list[Event]:
    """``data`` ends in a Failure with ``code``; our Close says so; all input consumed.

    Returns the events before the Failure.
    """
    protocol = ServerProtocol(max_size)
    events, consumed = feed(protocol, data)
    assert events, "no event at all"
    failure = events[-1]
    assert type(failure) is Failure
    assert (failure.code, failure.reason) == (code, reason)
    assert close_reply(failure.reply) == (code, reason.encode())
    assert protocol.state is State.CLOSED
    # Nothing after the bad frame is parsed: the rest of the input is dropped.
    assert consumed == len(data)
    return events[:-1]


def text(payload: str, fin: bool = True, op: OpcodeType = OpcodeType.TEXT) -> Frame:
    return Frame(op, fin, payload.encode(), payload)


# ------------------------------------------------------------------ 1002


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_fail_1002(rsv: int) -> None:
    """RSV1-3 set with no extension negotiated (RFC 6455 5.2)."""
    assert fails(client(0x1, b"rsv", rsv=rsv), 1002, "reserved bits set") == []


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_1002(opcode: int) -> None:
    """Opcodes 3-7 and 0xB-0xF are reserved (RFC 6455 5.2)."""
    assert fails(client(opcode, b"op"), 1002, "reserved opcode") == []


@pytest.mark.parametrize(
    "data",
    [
        frame(0x1, b"bare", mask=False),
        frame(0x2, b"bare", mask=False),
        frame(0x9, b"bare", mask=False),
        frame(0x8, close_payload(1000), mask=False),
    ],
    ids=["text", "binary", "ping", "close"],
)
def test_unmasked_client_frame_fails_1002(data: bytes) -> None:
    """A client must mask every frame (RFC 6455 5.1)."""
    assert fails(data, 1002, "unmasked client frame") == []


@pytest.mark.parametrize(
    "data",
    [
        client(0x9, b"p" * 126),
        client(0xA, b"p" * 126),
        client(0x8, close_payload(1000, b"r" * 124)),
        client(0x9, b"p" * 70000),
        client(0x9, b"", length=70000),  # the header alone is enough
    ],
    ids=["ping-126", "pong-126", "close-126", "ping-70000", "ping-header-only"],
)
def test_control_frame_over_125_bytes_fails_1002(data: bytes) -> None:
    """Control frames carry at most 125 bytes (RFC 6455 5.5)."""
    assert fails(data, 1002, "control frame too long") == []


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA], ids=["close", "ping", "pong"])
def test_fragmented_control_frame_fails_1002(opcode: int) -> None:
    """Control frames must not be fragmented (RFC 6455 5.5)."""
    payload = close_payload(1000) if opcode == 0x8 else b"frag"
    data = client(opcode, payload, fin=False)
    assert fails(data, 1002, "fragmented control frame") == []


def test_continuation_without_a_start_fails_1002() -> None:
    """A continuation with no message open (RFC 6455 5.4)."""
    data = client(0x0, b"orphan")
    assert fails(data, 1002, "continuation frame without a message") == []


def test_continuation_after_a_finished_message_fails_1002() -> None:
    """After a FIN frame the message is over; the finished one was delivered."""
    data = client(0x1, b"done") + client(0x0, b"late")
    assert fails(data, 1002, "continuation frame without a message") == [text("done")]


@pytest.mark.parametrize("opcode", [0x1, 0x2], ids=["text", "binary"])
def test_new_message_inside_a_fragmented_one_fails_1002(opcode: int) -> None:
    """A text or binary frame while a fragmented message is open (RFC 6455 5.4)."""
    data = client(0x1, b"one", fin=False) + client(opcode, b"two")
    reason = "new message before the previous one finished"
    assert fails(data, 1002, reason) == [text("one", fin=False)]


def test_length_with_the_top_bit_set_fails_1002() -> None:
    """A 64-bit length's most significant bit must be 0 (RFC 6455 5.2)."""
    data = struct.pack("!BBQ", 0x82, 0xFF, 2**63) + KEY
    assert fails(data, 1002, "frame length over 2**63") == []


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
)
def test_invalid_close_code_fails_1002(code: int) -> None:
    """Codes reserved, unassigned or out of range may not be sent (RFC 6455 7.4)."""
    data = client(0x8, close_payload(code))
    assert fails(data, 1002, f"invalid close code {code}") == []


def test_close_payload_of_one_byte_fails_1002() -> None:
    """A Close payload of 1 byte cannot hold a code (RFC 6455 5.5.1)."""
    assert fails(client(0x8, b"\x03"), 1002, "close frame of 1 byte") == []


# ------------------------------------------------------------------ 1007

BAD_UTF8 = [
    b"\xff",
    b"ok\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"cut \xe2\x98",
]
BAD_UTF8_IDS = ["ff", "overlong", "surrogate", "over-10ffff", "truncated"]


@pytest.mark.parametrize("payload", BAD_UTF8, ids=BAD_UTF8_IDS)
def test_invalid_utf8_text_frame_fails_1007(payload: bytes) -> None:
    """A whole text frame that is not UTF-8 (RFC 6455 8.1); nothing delivered."""
    assert fails(client(0x1, payload), 1007, "invalid UTF-8 in text message") == []


@pytest.mark.parametrize(
    ("first", "second", "delivered"),
    [
        (b"first", b"ok\xff", "first"),
        (b"a\xe2\x98", b"A", "a"),
        (b"ok", b"\xe2\x98", "ok"),
    ],
    ids=["bad-byte", "split-char-broken", "truncated-at-fin"],
)
def test_invalid_utf8_in_a_later_fragment_fails_1007(
    first: bytes, second: bytes, delivered: str
) -> None:
    """The first fragment is delivered (its complete characters); the bad one is not."""
    data = client(0x1, first, fin=False) + client(0x0, second)
    events = fails(data, 1007, "invalid UTF-8 in text message")
    assert events == [Frame(OpcodeType.TEXT, False, first, delivered)]


def test_invalid_utf8_in_an_unfinished_first_fragment_fails_fast() -> None:
    """Invalid UTF-8 fails at its first bad byte, before the message ends (Autobahn 6.4)."""
    data = client(
        0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", fin=False
    )
    assert fails(data, 1007, "invalid UTF-8 in text message") == []


def test_a_character_split_across_fragments_lands_in_the_second() -> None:
    """Each fragment's text holds its complete characters; the split one comes whole."""
    snowman = "☃".encode()
    data = client(0x1, b"a" + snowman[:1], fin=False) + client(0x0, snowman[1:] + b"b")
    events, _ = feed(ServerProtocol(BIG), data)
    assert events == [
        Frame(OpcodeType.TEXT, False, b"a" + snowman[:1], "a"),
        Frame(OpcodeType.CONTINUATION, True, snowman[1:] + b"b", "☃b"),
    ]


def test_close_reason_with_invalid_utf8_fails_1007() -> None:
    """A Close reason must be UTF-8 (RFC 6455 5.5.1)."""
    data = client(0x8, close_payload(1000, b"bad \xff"))
    assert fails(data, 1007, "invalid UTF-8 in close reason") == []


# ------------------------------------------------------------------ 1009


@pytest.mark.parametrize("size", [5, 1024])
def test_message_of_exactly_max_message_size_is_accepted(size: int) -> None:
    """max_message_size bytes is allowed, in one frame or in fragments."""
    whole = client(0x2, b"x" * size)
    parts = client(0x1, b"y" * (size - 2), fin=False) + client(0x0, b"zz")
    events, _ = feed(ServerProtocol(size), whole + parts)
    assert events == [
        Frame(OpcodeType.BINARY, True, b"x" * size, None),
        text("y" * (size - 2), fin=False),
        text("zz", op=OpcodeType.CONTINUATION),
    ]


@pytest.mark.parametrize(
    ("size", "opcode"), [(5, 0x1), (5, 0x2), (1024, 0x1), (1024, 0x2)]
)
def test_single_frame_over_max_message_size_fails_1009(size: int, opcode: int) -> None:
    """One byte over the limit, small (<126) or 16-bit length: 1009."""
    data = client(opcode, b"x" * (size + 1))
    reason = f"message over {size} bytes"
    assert fails(data, 1009, reason, max_size=size) == []


def test_fragmented_message_over_the_limit_fails_1009() -> None:
    """Fragments of 400 bytes with max 1024: the third fails; the first two are delivered."""
    data = (
        client(0x1, b"a" * 400, fin=False)
        + client(0x0, b"b" * 400, fin=False)
        + client(0x0, b"c" * 400)
    )
    assert fails(data, 1009, "message over 1024 bytes", max_size=1024) == [
        text("a" * 400, fin=False),
        text("b" * 400, fin=False, op=OpcodeType.CONTINUATION),
    ]


@pytest.mark.parametrize("length", [1025, 65535, 2**40, 2**63 - 1])
def test_huge_announced_length_fails_1009_from_the_header(length: int) -> None:
    """Only the header and mask of a huge frame: 1009 at once, no payload awaited."""
    data = client(0x2, b"", length=length)
    assert fails(data, 1009, "message over 1024 bytes", max_size=1024) == []


# ------------------------------------------------------------------ control frames


@pytest.mark.parametrize("payload", [b"", b"hi", b"p" * 125])
def test_ping_is_answered_with_a_pong_of_the_same_payload(payload: bytes) -> None:
    """A Ping gets a Pong with its application data (RFC 6455 5.5.2), up to 125 bytes."""
    protocol = ServerProtocol(BIG)
    events, consumed = feed(protocol, client(0x9, payload))
    [event] = events
    assert type(event) is Ping and event.payload == payload
    assert server_frames(event.reply or b"") == [(0xA, True, payload)]
    assert consumed == len(client(0x9, payload))
    assert protocol.state is State.OPEN


def test_pong_is_an_event_without_a_reply() -> None:
    """A Pong (solicited or not) is reported and answered with nothing (RFC 6455 5.5.3)."""
    protocol = ServerProtocol(BIG)
    events, _ = feed(protocol, client(0xA, b"unsolicited"))
    assert events == [Pong(b"unsolicited")]
    assert type(events[0]) is Pong
    assert protocol.state is State.OPEN


def test_ping_between_fragments_is_answered_and_the_message_goes_on() -> None:
    """Control frames may come between fragments (RFC 6455 5.4)."""
    data = client(0x1, b"fir", fin=False) + client(0x9, b"mid") + client(0x0, b"st")
    events, _ = feed(ServerProtocol(BIG), data)
    first, ping, last = events
    assert first == text("fir", fin=False)
    assert type(ping) is Ping
    assert server_frames(ping.reply or b"") == [(0xA, True, b"mid")]
    assert last == text("st", op=OpcodeType.CONTINUATION)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, b""),
        (1000, b"bye"),
        (1001, "ünïcödé".encode()),
        (1014, b""),
        (3000, b"library"),
        (4999, b"r" * 123),
    ],
)
def test_close_is_echoed_with_its_code(code: int, reason: bytes) -> None:
    """A valid Close is answered with the same code and reason; then CLOSED."""
    protocol = ServerProtocol(BIG)
    events, _ = feed(protocol, client(0x8, close_payload(code, reason)))
    [event] = events
    assert type(event) is CloseReceived
    assert (event.code, event.reason) == (code, reason.decode())
    assert close_reply(event.reply) == (code, reason)
    assert protocol.state is State.CLOSED


def test_empty_close_gets_an_empty_close() -> None:
    """A Close without payload (the peer's 1005) is answered with an empty Close."""
    protocol = ServerProtocol(BIG)
    events, _ = feed(protocol, client(0x8))
    assert events == [CloseReceived(None, "", b"\x88\x00")]
    assert protocol.state is State.CLOSED


def test_frames_after_the_peers_close_are_not_parsed() -> None:
    """Data behind a Close, even invalid, is never looked at."""
    protocol = ServerProtocol(BIG)
    data = (
        client(0x1, b"last") + client(0x8, close_payload(1000)) + client(0x1, b"\xff")
    )
    events, consumed = feed(protocol, data)
    assert [type(e) for e in events] == [Frame, CloseReceived]
    assert consumed == len(data) - len(client(0x1, b"\xff"))


# ------------------------------------------------------------------ reading


def test_data_waits_while_not_reading_but_control_frames_do_not() -> None:
    """Perfect reads a data frame only when asked; pings are answered at once."""
    protocol = ServerProtocol(BIG)
    ping, data = client(0x9, b"now"), client(0x1, b"later")
    stream = ping + data
    received = protocol.receive(stream, 0, len(stream), False)
    assert received is not None
    event, at = received
    assert type(event) is Ping and at == len(ping)
    assert protocol.receive(stream, at, len(stream), False) is None
    assert protocol.receive(stream, at, len(stream), True) == (
        text("later"),
        len(stream),
    )


def test_a_close_behind_data_is_answered_only_after_the_data_is_read() -> None:
    """The Close waits behind unread data (docs/design.md: why the codec is our own)."""
    protocol = ServerProtocol(BIG)
    stream = client(0x1, b"first") + client(0x8, close_payload(1000))
    assert protocol.receive(stream, 0, len(stream), False) is None
    assert protocol.state is State.OPEN
    events, _ = feed(protocol, stream, reading=True)
    assert [type(e) for e in events] == [Frame, CloseReceived]


@pytest.mark.parametrize("size", [1000, 70000])
def test_need_tells_the_size_of_an_incomplete_large_frame(size: int) -> None:
    """After None for a partial frame, ``need`` is its whole size (0 if no header yet)."""
    protocol = ServerProtocol(BIG)
    data = client(0x2, b"z" * size)
    header = 8 if size < 65536 else 14
    assert protocol.receive(data, 0, 1, True) is None
    assert protocol.need == 0
    assert protocol.receive(data, 0, header + 10, True) is None
    assert protocol.need == header + size == len(data)
    received = protocol.receive(data, 0, len(data), True)
    assert received is not None and received[1] == len(data)
    assert protocol.need == 0


def test_receive_parses_in_place_from_any_offset() -> None:
    """The caller's buffer holds other bytes around the frame; only [start:end) is read."""
    data = client(0x1, b"hello") + client(0x2, b"x" * 300)
    buf = bytearray(b"\xaa" * 7 + data + b"\x55" * 9)
    protocol = ServerProtocol(BIG)
    first = protocol.receive(memoryview(buf), 7, 7 + len(data), True)
    assert first is not None and first[0] == text("hello")
    second = protocol.receive(memoryview(buf), first[1], 7 + len(data), True)
    assert second == (Frame(OpcodeType.BINARY, True, b"x" * 300, None), 7 + len(data))


# ------------------------------------------------------------------ sending


def test_send_data_frames_text_and_binary() -> None:
    """Server frames are unmasked, FIN set, with the shortest length form."""
    protocol = ServerProtocol(BIG)
    for payload in (b"", b"a" * 125, b"b" * 126, b"c" * 65536):
        for opcode in (OpcodeType.TEXT, OpcodeType.BINARY):
            sent = protocol.send_data(opcode, payload, True)
            assert sent is not None
            assert server_frames(sent) == [(opcode, True, payload)]


def test_fragmented_sends_go_out_as_continuations() -> None:
    """After final=False the next frames are continuations until one is final."""
    protocol = ServerProtocol(BIG)
    sent = [
        protocol.send_data(OpcodeType.TEXT, b"a", False),
        protocol.send_data(OpcodeType.TEXT, b"b", False),
        protocol.send_data(OpcodeType.BINARY, b"c", True),
        protocol.send_data(OpcodeType.BINARY, b"d", True),
    ]
    assert [server_frames(s or b"")[0] for s in sent] == [
        (0x1, False, b"a"),
        (0x0, False, b"b"),
        (0x0, True, b"c"),
        (0x2, True, b"d"),
    ]


def test_data_header_heads_a_payload_sent_apart() -> None:
    """data_header is send_data without the payload, with the same continuation rule."""
    protocol = ServerProtocol(BIG)
    first = protocol.data_header(OpcodeType.BINARY, 70000, False)
    second = protocol.data_header(OpcodeType.BINARY, 300, True)
    assert first is not None and second is not None
    payloads = b"p" * 70000, b"q" * 300
    assert server_frames(first + payloads[0]) == [(0x2, False, payloads[0])]
    assert server_frames(second + payloads[1]) == [(0x0, True, payloads[1])]


def test_send_control_frames() -> None:
    """Pings and Pongs the server sends itself."""
    protocol = ServerProtocol(BIG)
    ping = protocol.send_control(OpcodeType.PING, b"are you there")
    pong = protocol.send_control(OpcodeType.PONG)
    assert server_frames((ping or b"") + (pong or b"")) == [
        (0x9, True, b"are you there"),
        (0xA, True, b""),
    ]


# ------------------------------------------------------------------ closing


def test_close_goes_open_closing_closed() -> None:
    """close() sends our Close (CLOSING); the peer's answer ends it (CLOSED)."""
    protocol = ServerProtocol(BIG)
    assert protocol.state.name == "OPEN"
    ours = protocol.close()
    assert close_reply(ours) == (1000, b"")
    assert protocol.state is State.CLOSING
    assert protocol.close(1001, "again") is None, "one Close only"
    assert protocol.state is State.CLOSING
    events, _ = feed(protocol, client(0x8, close_payload(1000)))
    assert events == [CloseReceived(1000, "", None)], "ours was sent: no reply"
    assert protocol.state is State.CLOSED


def test_close_with_a_code_and_reason() -> None:
    """close(code, reason) puts both on the wire; close(None) sends an empty Close."""
    protocol = ServerProtocol(BIG)
    assert close_reply(protocol.close(4000, "ünïcödé")) == (4000, "ünïcödé".encode())
    assert ServerProtocol(BIG).close(None) == b"\x88\x00"


def test_while_closing_pings_get_no_pong_and_data_is_returned_to_drop() -> None:
    """After our Close nothing more is sent; data frames are parsed, even unread."""
    protocol = ServerProtocol(BIG)
    protocol.close()
    stream = client(0x9, b"late") + client(0x1, b"data")
    received = protocol.receive(stream, 0, len(stream), False)
    assert received is not None
    assert received[0] == Ping(b"late", None)
    assert protocol.receive(stream, received[1], len(stream), False) == (
        text("data"),
        len(stream),
    )
    assert protocol.state is State.CLOSING


def test_a_bad_frame_while_closing_fails_without_a_second_close() -> None:
    """Our Close is already out: the Failure carries no reply; CLOSED."""
    protocol = ServerProtocol(BIG)
    protocol.close()
    events, _ = feed(protocol, client(0x3))
    assert events == [Failure(1002, "reserved opcode", None)]
    assert protocol.state is State.CLOSED


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1005, ""), (1006, ""), (999, ""), (5000, ""), (1000, "x" * 124)],
)
def test_close_refuses_what_a_close_frame_cannot_carry(code: int, reason: str) -> None:
    """A caller mistake raises CloseFrameError (a ValueError) and changes nothing."""
    protocol = ServerProtocol(BIG)
    with pytest.raises(CloseFrameError) as raised:
        protocol.close(code, reason)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, PerfectWSError)
    assert protocol.state is State.OPEN


def after_our_close(protocol: ServerProtocol) -> None:
    protocol.close()


def after_their_close(protocol: ServerProtocol) -> None:
    feed(protocol, client(0x8, close_payload(1000)))


def after_a_failure(protocol: ServerProtocol) -> None:
    feed(protocol, client(0x1, b"\xff"))


def after_fail(protocol: ServerProtocol) -> None:
    assert close_reply(protocol.fail(1011, "handler failed")) == (
        1011,
        b"handler failed",
    )
    assert protocol.fail(1011, "twice") is None


def after_connection_lost(protocol: ServerProtocol) -> None:
    protocol.connection_lost()


@pytest.mark.parametrize(
    "end",
    [
        after_our_close,
        after_their_close,
        after_a_failure,
        after_fail,
        after_connection_lost,
    ],
)
def test_nothing_is_sent_after_close(end: Any) -> None:
    """Once closing or closed, every send returns None (nothing to write)."""
    protocol = ServerProtocol(BIG)
    end(protocol)
    assert protocol.state is not State.OPEN
    assert protocol.send_data(OpcodeType.TEXT, b"x", True) is None
    assert protocol.data_header(OpcodeType.BINARY, 70000, True) is None
    assert protocol.send_control(OpcodeType.PING, b"p") is None
    assert protocol.close() is None
    assert protocol.fail(1002, "late") is None


# ------------------------------------------------------------------ any split

keys = st.binary(min_size=4, max_size=4)
data_message = st.one_of(
    st.tuples(st.just(0x1), st.lists(st.text(max_size=30), min_size=1, max_size=4)),
    st.tuples(st.just(0x2), st.lists(st.binary(max_size=300), min_size=1, max_size=4)),
)
control = st.tuples(st.sampled_from([0x9, 0xA]), st.binary(max_size=125))
close = st.tuples(
    st.sampled_from([1000, 1001, 1011, 3000, 4999]),
    st.text(max_size=20).filter(lambda r: len(r.encode()) <= 123),
)
#: Bad frames a stream may end with, and the Failure each must give.
bad_frames = st.sampled_from(
    [
        (client(0x3), 1002, "reserved opcode"),
        (frame(0x1, b"a", mask=False), 1002, "unmasked client frame"),
        (client(0x0, b"orphan"), 1002, "continuation frame without a message"),
        (client(0x1, b"\xff"), 1007, "invalid UTF-8 in text message"),
    ]
)


def describe(event: Event) -> tuple[Any, ...]:
    """An event with its type: NamedTuples of equal fields compare equal across types."""
    return (type(event).__name__, *event)


def feed_chunks(chunks: list[bytes], max_size: int) -> list[tuple[Any, ...]]:
    """Feed bytes as they would arrive, into one growing buffer; events as described."""
    protocol = ServerProtocol(max_size)
    buf = bytearray()
    start = 0
    events: list[tuple[Any, ...]] = []
    for chunk in chunks:
        buf += chunk
        while start < len(buf) and protocol.state is not State.CLOSED:
            received = protocol.receive(buf, start, len(buf), True)
            if received is None:
                break
            event, start = received
            events.append(describe(event))
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def server_close(code: int, reason: str) -> bytes:
    return frame(0x8, close_payload(code, reason.encode()), mask=False)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    messages=st.lists(
        st.tuples(data_message, st.lists(control, max_size=2)), max_size=5
    ),
    final=st.one_of(st.none(), close, bad_frames),
    key=keys,
    max_size=st.sampled_from([BIG, 200]),
    cuts=st.lists(st.integers(0, 5000), max_size=10),
)
def test_any_split_of_a_valid_stream_yields_the_same_events(
    messages: list[tuple[tuple[int, list[Any]], list[tuple[int, bytes]]]],
    final: tuple[int, str] | tuple[bytes, int, str] | None,
    key: bytes,
    max_size: int,
    cuts: list[int],
) -> None:
    """Fragmented messages with pings and pongs between fragments, then a Close or a bad frame.

    Fed whole, the protocol gives exactly the events the stream was built
    from (a 1009 where a message outgrows ``max_size``); fed in random chunks
    or byte by byte, the same events.
    """
    wire: list[bytes] = []
    expected: list[tuple[Any, ...]] = []
    failed = False
    for (opcode, parts), controls in messages:
        size = 0
        for i, part in enumerate(parts):
            payload = part.encode() if opcode == 0x1 else part
            op, fin = (opcode if i == 0 else 0x0), i == len(parts) - 1
            wire.append(client(op, payload, fin=fin, mask=key))
            size += len(payload)
            if not failed and size > max_size:
                failed = True
                reason = f"message over {max_size} bytes"
                expected.append(("Failure", 1009, reason, server_close(1009, reason)))
            if not failed:
                shown = part if opcode == 0x1 else None
                expected.append(("Frame", op, fin, payload, shown, None, ""))
            if i == 0:  # between the first fragment and the next (if any)
                for control_op, data in controls:
                    wire.append(client(control_op, data, mask=key))
                    if failed:
                        continue
                    if control_op == 0x9:
                        expected.append(("Ping", data, frame(0xA, data, mask=False)))
                    else:
                        expected.append(("Pong", data))
    if final is not None and len(final) == 2:
        code, reason = final
        wire.append(client(0x8, close_payload(code, reason.encode()), mask=key))
        if not failed:
            reply = server_close(code, reason)
            expected.append(("CloseReceived", code, reason, reply))
    elif final is not None:
        bad, code, reason = final
        wire.append(bad)
        if not failed:
            expected.append(("Failure", code, reason, server_close(code, reason)))
    data = b"".join(wire)

    whole = feed_chunks([data], max_size)
    assert whole == expected
    assert feed_chunks(split(data, cuts), max_size) == whole
    assert feed_chunks([bytes([b]) for b in data], max_size) == whole
