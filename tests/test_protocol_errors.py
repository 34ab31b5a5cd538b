"""RFC 6455 violations: the exact close code on the wire, then TCP closed.

The socket tests send hostile frames with the raw client and read the server's
Close frame; a recording handler proves what a read callback did (and did not)
see. The fuzz tests drive :class:`perfectws.frames.FrameReader` directly, with
no sockets: whatever bytes arrive, it returns checked frames or raises
``ProtocolError``, and how the bytes are chunked never changes the result.
"""

from __future__ import annotations

import asyncio
import codecs
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Served, echo_routes, timeout
from hypothesis import HealthCheck, given, settings, strategies as st
from rawws import RawClient, close_payload, frame, handshake
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from perfectws import GET, HTTPRequest, OpcodeType, WebSocket, WebSocketHandler
from perfectws.frames import Frame, FrameReader, ProtocolError

aio = pytest.mark.asyncio

ECHO = [Subprotocol("echo")]


class Recorder:
    """Records every read and echoes each frame with the same op and fin."""

    socket_protocol = "echo"

    def __init__(self) -> None:
        self.reads: list[tuple[str | None, OpcodeType, bool]] = []
        self.done = asyncio.get_running_loop().create_future()

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_read(data: str | None, op: OpcodeType, fin: bool) -> None:
            self.reads.append((data, op, fin))
            if data is None:
                if not self.done.done():
                    self.done.set_result(None)
                return
            again = lambda: self.handle_session(request, socket)  # noqa: E731
            socket.send_string_message(data, fin, again)

        socket.read_string_message(on_read)


async def serve_recorder(
    serve: Callable[..., Any], **options: Any
) -> tuple[Served, Recorder]:
    """/echo runs the seed's EchoHandler; /record runs a fresh Recorder."""
    recorder = Recorder()
    routes = echo_routes(**options)
    routes[GET, "/record"] = WebSocketHandler(
        lambda request, protocols: recorder, **options
    ).handle_request
    served: Served = await serve(routes)
    return served, recorder


async def fails_with(
    served: Served, data: bytes, code: int | None, reason: bytes
) -> None:
    """Send ``data`` after the handshake; the server's Close has ``code`` and TCP ends.

    A well-behaved websockets client on /echo echoes before and after.
    """
    async with connect(served.ws_url(), subprotocols=ECHO) as bystander:
        await bystander.send("before")
        assert await asyncio.wait_for(bystander.recv(), timeout(5)) == "before"
        client = await RawClient.connect(served.port, handshake("/record"))
        assert client.status_line == b"HTTP/1.1 101 Switching Protocols"
        client.send(data)
        assert await client.recv_close() == (code, reason)
        assert await client.at_eof()
        client.close()
        await bystander.send("after")
        assert await asyncio.wait_for(bystander.recv(), timeout(5)) == "after"


# ------------------------------------------------------------------ framing


@aio
@pytest.mark.parametrize(
    "data",
    [
        frame(0x1, b"bare", mask=False),
        frame(0x9, b"bare", mask=False),
        frame(0x8, close_payload(1000), mask=False),
    ],
    ids=["text", "ping", "close"],
)
async def test_unmasked_client_frame_gets_1002(
    serve: Callable[..., Any], data: bytes
) -> None:
    """A client frame without the mask bit: 1002, and the read never sees it."""
    served, recorder = await serve_recorder(serve)
    await fails_with(served, data, 1002, b"unmasked client frame")
    await asyncio.wait_for(recorder.done, timeout(5))
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
async def test_reserved_bits_get_1002(serve: Callable[..., Any], rsv: int) -> None:
    """RSV1-3 set with no extension negotiated: 1002."""
    served, recorder = await serve_recorder(serve)
    await fails_with(served, frame(0x1, b"rsv", rsv=rsv), 1002, b"reserved bits set")
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
async def test_reserved_opcodes_get_1002(
    serve: Callable[..., Any], opcode: int
) -> None:
    """Opcodes 3-7 and 0xB-0xF are reserved: 1002, nothing delivered."""
    served, recorder = await serve_recorder(serve)
    await fails_with(served, frame(opcode, b"op"), 1002, b"reserved opcode")
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
@pytest.mark.parametrize(
    "data",
    [
        frame(0x9, b"p" * 126),
        frame(0xA, b"p" * 126),
        frame(0x8, close_payload(1000, b"r" * 124)),
        frame(0x9, b"p" * 70000),
    ],
    ids=["ping-126", "pong-126", "close-126", "ping-70000"],
)
async def test_control_frame_over_125_bytes_gets_1002(
    serve: Callable[..., Any], data: bytes
) -> None:
    """A control frame with a payload over 125 bytes: 1002."""
    served, _ = await serve_recorder(serve)
    await fails_with(served, data, 1002, b"control frame too long")


@aio
async def test_ping_of_exactly_125_bytes_is_answered(
    serve: Callable[..., Any],
) -> None:
    """125 bytes is the largest control payload: the pong carries all of it."""
    served, _ = await serve_recorder(serve)
    client = await RawClient.connect(served.port, handshake("/record"))
    client.send(frame(0x9, b"p" * 125))
    assert await client.recv_frame() == (0xA, True, b"p" * 125)
    client.close()


@aio
@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA], ids=["close", "ping", "pong"])
async def test_fragmented_control_frame_gets_1002(
    serve: Callable[..., Any], opcode: int
) -> None:
    """A control frame without FIN: 1002."""
    served, _ = await serve_recorder(serve)
    payload = close_payload(1000) if opcode == 0x8 else b"frag"
    await fails_with(
        served, frame(opcode, payload, fin=False), 1002, b"fragmented control frame"
    )


@aio
async def test_continuation_without_a_start_gets_1002(
    serve: Callable[..., Any],
) -> None:
    """A continuation frame with no message open: 1002."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x0, b"orphan"),
        1002,
        b"continuation frame without a message",
    )
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
async def test_continuation_after_a_finished_message_gets_1002(
    serve: Callable[..., Any],
) -> None:
    """A continuation after a FIN frame: the message is over, 1002; the first is echoed."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x1, b"done") + frame(0x0, b"late"),
        1002,
        b"continuation frame without a message",
    )
    assert recorder.reads == [
        ("done", OpcodeType.TEXT, True),
        (None, OpcodeType.INVALID, True),
    ]


@aio
@pytest.mark.parametrize("opcode", [0x1, 0x2], ids=["text", "binary"])
async def test_new_message_inside_a_fragmented_one_gets_1002(
    serve: Callable[..., Any], opcode: int
) -> None:
    """A text or binary frame while a fragmented message is open: 1002."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x1, b"one", fin=False) + frame(opcode, b"two"),
        1002,
        b"new message before the previous one finished",
    )
    assert recorder.reads == [
        ("one", OpcodeType.TEXT, False),
        (None, OpcodeType.INVALID, True),
    ]


@aio
async def test_ping_between_fragments_is_answered_and_message_continues(
    serve: Callable[..., Any],
) -> None:
    """Control frames may interleave with fragments: pong, then the message goes on."""
    served, recorder = await serve_recorder(serve)
    client = await RawClient.connect(served.port, handshake("/record"))
    client.send(
        frame(0x1, b"fir", fin=False)
        + frame(0x9, b"mid")
        + frame(0x0, b"st")
        + frame(0x8, close_payload(1000))
    )
    frames = [await client.recv_frame() for _ in range(4)]
    # The pong comes at once; the echo of each fragment follows its read.
    assert sorted(frames) == sorted(
        [
            (0x1, False, b"fir"),
            (0xA, True, b"mid"),
            (0x0, True, b"st"),
            (0x8, True, b"\x03\xe8"),
        ]
    )
    assert await client.at_eof()
    client.close()
    assert recorder.reads == [
        ("fir", OpcodeType.TEXT, False),
        ("st", OpcodeType.CONTINUATION, True),
        (None, OpcodeType.INVALID, True),
    ]


# ------------------------------------------------------------------ UTF-8


@aio
@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"ok\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"cut \xe2\x98"],
    ids=["ff", "overlong", "surrogate", "over-10ffff", "truncated"],
)
async def test_invalid_utf8_text_gets_1007_and_is_never_read(
    serve: Callable[..., Any], payload: bytes
) -> None:
    """Invalid UTF-8 in a text frame: 1007; the read callback only sees None."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served, frame(0x1, payload), 1007, b"invalid UTF-8 in text message"
    )
    await asyncio.wait_for(recorder.done, timeout(5))
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
@pytest.mark.parametrize(
    ("first", "second", "delivered"),
    [
        (b"first", b"ok\xff", "first"),
        (b"a\xe2\x98", b"A", "a"),
        (b"ok", b"\xe2\x98", "ok"),
    ],
    ids=["bad-byte", "split-char-broken", "truncated-at-fin"],
)
async def test_invalid_utf8_in_second_fragment_gets_1007_after_the_first(
    serve: Callable[..., Any], first: bytes, second: bytes, delivered: str
) -> None:
    """The 1st fragment is delivered (and echoed); nothing of the bad 2nd is; 1007."""
    served, recorder = await serve_recorder(serve)
    async with connect(served.ws_url(), subprotocols=ECHO) as bystander:
        client = await RawClient.connect(served.port, handshake("/record"))
        client.send(frame(0x1, first, fin=False))
        assert await client.recv_frame() == (0x1, False, delivered.encode())
        client.send(frame(0x0, second, fin=True))
        assert await client.recv_close() == (1007, b"invalid UTF-8 in text message")
        assert await client.at_eof()
        client.close()
        await bystander.send("after")
        assert await asyncio.wait_for(bystander.recv(), timeout(5)) == "after"
    assert recorder.reads == [
        (delivered, OpcodeType.TEXT, False),
        (None, OpcodeType.INVALID, True),
    ]


@aio
async def test_invalid_utf8_in_an_unfinished_first_fragment_fails_fast(
    serve: Callable[..., Any],
) -> None:
    """Invalid UTF-8 fails at once, before the message ends (Autobahn 6.4)."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(
            0x1,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80",
            fin=False,
        ),
        1007,
        b"invalid UTF-8 in text message",
    )
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


# ------------------------------------------------------------------ size


@aio
async def test_message_of_exactly_max_message_size_is_echoed(
    serve: Callable[..., Any],
) -> None:
    """A 1024-byte message with max_message_size=1024 is accepted, whole or fragmented."""
    served, _ = await serve_recorder(serve, max_message_size=1024)
    client = await RawClient.connect(served.port, handshake("/record"))
    client.send(frame(0x1, b"x" * 1024))
    assert await client.recv_frame() == (0x1, True, b"x" * 1024)
    client.send(frame(0x1, b"y" * 1000, fin=False) + frame(0x0, b"z" * 24))
    assert await client.recv_frame() == (0x1, False, b"y" * 1000)
    assert await client.recv_frame() == (0x0, True, b"z" * 24)
    client.close()


@aio
async def test_oversize_message_gets_1009(serve: Callable[..., Any]) -> None:
    """A 1025-byte message with max_message_size=1024: 1009, nothing delivered."""
    served, recorder = await serve_recorder(serve, max_message_size=1024)
    await fails_with(served, frame(0x2, b"x" * 1025), 1009, b"message over 1024 bytes")
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
async def test_fragmented_message_over_the_limit_gets_1009(
    serve: Callable[..., Any],
) -> None:
    """Fragments of 400 bytes: the third crosses 1024, 1009; the first two were read."""
    served, recorder = await serve_recorder(serve, max_message_size=1024)
    await fails_with(
        served,
        frame(0x1, b"a" * 400, fin=False)
        + frame(0x0, b"b" * 400, fin=False)
        + frame(0x0, b"c" * 400, fin=True),
        1009,
        b"message over 1024 bytes",
    )
    assert recorder.reads == [
        ("a" * 400, OpcodeType.TEXT, False),
        ("b" * 400, OpcodeType.CONTINUATION, False),
        (None, OpcodeType.INVALID, True),
    ]


@aio
@pytest.mark.parametrize("length", [1025, 65535, 2**40, 2**63 - 1])
async def test_huge_announced_length_gets_1009_before_the_payload(
    serve: Callable[..., Any], length: int
) -> None:
    """Only a header announcing a huge payload: 1009 at once, without waiting for it."""
    served, recorder = await serve_recorder(serve, max_message_size=1024)
    header = frame(0x2, b"", length=length, mask=False)
    b1 = header[1] | 0x80  # set the mask bit by hand: no payload follows
    await fails_with(
        served,
        header[:1] + bytes([b1]) + header[2:] + b"\x01\x02\x03\x04",
        1009,
        b"message over 1024 bytes",
    )
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
async def test_length_with_the_top_bit_set_gets_1002(
    serve: Callable[..., Any],
) -> None:
    """A 64-bit length with its most significant bit set is invalid: 1002."""
    served, _ = await serve_recorder(serve)
    head = struct.pack("!BBQ", 0x82, 0xFF, 2**63) + b"\x01\x02\x03\x04"
    await fails_with(served, head, 1002, b"frame length over 2**63")


# ------------------------------------------------------------------ Close


@aio
@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
)
async def test_invalid_close_code_gets_1002(
    serve: Callable[..., Any], code: int
) -> None:
    """Close codes that may not be sent (reserved, unassigned, out of range): 1002."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x8, close_payload(code)),
        1002,
        f"invalid close code {code}".encode(),
    )
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
async def test_close_payload_of_one_byte_gets_1002(serve: Callable[..., Any]) -> None:
    """A Close payload of 1 byte cannot hold a code: 1002."""
    served, _ = await serve_recorder(serve)
    await fails_with(served, frame(0x8, b"\x03"), 1002, b"close frame of 1 byte")


@aio
async def test_close_reason_with_invalid_utf8_gets_1007(
    serve: Callable[..., Any],
) -> None:
    """A Close reason that is not UTF-8: 1007."""
    served, _ = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x8, close_payload(1000, b"bad \xff")),
        1007,
        b"invalid UTF-8 in close reason",
    )


@aio
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
async def test_valid_close_is_echoed(
    serve: Callable[..., Any], code: int, reason: bytes
) -> None:
    """A valid Close is answered with the same code and reason, then TCP closes."""
    served, recorder = await serve_recorder(serve)
    await fails_with(served, frame(0x8, close_payload(code, reason)), code, reason)
    await asyncio.wait_for(recorder.done, timeout(5))
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


@aio
async def test_empty_close_is_echoed_empty(serve: Callable[..., Any]) -> None:
    """A Close without a payload gets an empty Close back."""
    served, _ = await serve_recorder(serve)
    client = await RawClient.connect(served.port, handshake("/record"))
    client.send(frame(0x8))
    assert await client.recv_close() == (None, b"")
    assert await client.at_eof()
    client.close()


@aio
async def test_frames_after_close_are_ignored(serve: Callable[..., Any]) -> None:
    """Data after the client's Close is never read, even if it is invalid."""
    served, recorder = await serve_recorder(serve)
    await fails_with(
        served,
        frame(0x1, b"last") + frame(0x8, close_payload(1000)) + frame(0x1, b"\xff"),
        1000,
        b"",
    )
    assert recorder.reads == [
        ("last", OpcodeType.TEXT, True),
        (None, OpcodeType.INVALID, True),
    ]


# ------------------------------------------------------------------ TCP chunks


@aio
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_frames_split_across_tcp_writes_are_read_whole(
    serve: Callable[..., Any], seed: int
) -> None:
    """Frames cut at random points (headers, masks, characters) arrive as sent."""
    served, recorder = await serve_recorder(serve)
    snowman = "☃".encode()
    stream = (
        frame(0x9, b"p")
        + frame(0x1, b"a" + snowman[:1], fin=False)
        + frame(0x0, snowman[1:] + b"b")
        + frame(0x2, b"B" * 70000)
        + frame(0xA, b"unsolicited")
        + frame(0x1, b"x" * 200)
        + frame(0x8, close_payload(1000, b"done"))
    )
    rng = random.Random(seed)
    client = await RawClient.connect(served.port, handshake("/record"))
    at = 0
    while at < len(stream):
        size = rng.choice([1, 1, 2, 3, 7, 100, 5000])
        client.send(stream[at : at + size])
        at += size
        await client.writer.drain()
        await asyncio.sleep(0)
    received = [await client.recv_frame() for _ in range(6)]
    assert received == [
        (0xA, True, b"p"),
        (0x1, False, b"a"),
        (0x0, True, "☃b".encode()),
        (0x1, True, b"B" * 70000),  # read as a string, so echoed as text
        (0x1, True, b"x" * 200),
        (0x8, True, close_payload(1000, b"done")),
    ]
    assert await client.at_eof()
    client.close()
    assert [op for _, op, _ in recorder.reads] == [
        OpcodeType.TEXT,
        OpcodeType.CONTINUATION,
        OpcodeType.BINARY,
        OpcodeType.TEXT,
        OpcodeType.INVALID,
    ]


@aio
async def test_invalid_frame_sent_byte_by_byte_gets_the_same_code(
    serve: Callable[..., Any],
) -> None:
    """A bad frame trickled one byte per write fails exactly as when sent whole."""
    served, recorder = await serve_recorder(serve)
    client = await RawClient.connect(served.port, handshake("/record"))
    for byte in frame(0x1, b"fine \xe2\x98\x83 then \xff bad"):
        client.send(bytes([byte]))
        await client.writer.drain()
        await asyncio.sleep(0)
    assert await client.recv_close() == (1007, b"invalid UTF-8 in text message")
    assert await client.at_eof()
    client.close()
    assert recorder.reads == [(None, OpcodeType.INVALID, True)]


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAIL_CODES = {1002, 1007, 1009}
FrameTuple = tuple[int, bool, bytes, str | None, int | None, str]
Parsed = tuple[list[FrameTuple], int | None]


def encode(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    key: bytes | None = b"\x00\x00\x00\x00",
) -> bytes:
    """A client frame built here, independently of perfectws (``key=None``: unmasked)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if key is None:
        return head + payload
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def as_tuple(f: Frame) -> FrameTuple:
    return (f.opcode, f.fin, f.payload, f.text, f.close_code, f.close_reason)


def parse_whole(data: bytes, max_size: int, pad: int = 0) -> Parsed:
    """Parse ``data`` from a buffer with junk around it, as the session's buffer has."""
    buf = memoryview(b"\xaa" * pad + data + b"\x55" * 9)
    reader = FrameReader(max_size)
    start, end = pad, pad + len(data)
    frames: list[FrameTuple] = []
    while True:
        try:
            parsed = reader.read_frame(buf, start, end)
        except ProtocolError as exc:
            return frames, exc.code
        if parsed is None:
            assert reader.frame_size(buf, start, end) >= 0
            return frames, None
        f, start = parsed
        frames.append(as_tuple(f))


def parse_chunks(chunks: list[bytes], max_size: int) -> Parsed:
    """Parse bytes as they arrive in ``chunks``, taking every whole frame each time."""
    buf = bytearray()
    reader = FrameReader(max_size)
    start = 0
    frames: list[FrameTuple] = []
    for chunk in chunks:
        buf += chunk
        while True:
            try:
                parsed = reader.read_frame(buf, start, len(buf))
            except ProtocolError as exc:
                return frames, exc.code
            if parsed is None:
                break
            f, start = parsed
            frames.append(as_tuple(f))
    return frames, None


def check_frames(parsed: Parsed) -> None:
    """Every delivered frame obeys RFC 6455; text is valid UTF-8 and decoded right."""
    frames, code = parsed
    assert code is None or code in FAIL_CODES
    message: int | None = None
    decoder: codecs.IncrementalDecoder | None = None
    for opcode, fin, payload, text, close_code, reason in frames:
        assert opcode in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA)
        if opcode >= 0x8:
            assert fin and len(payload) <= 125 and text is None
            if opcode == 0x8 and payload:
                assert close_code == struct.unpack("!H", payload[:2])[0]
                assert reason == payload[2:].decode()
            continue
        if opcode == 0x0:
            assert message is not None
        else:
            assert message is None
            message = opcode
            decoder = codecs.getincrementaldecoder("utf-8")()
        if message == 0x1:
            assert decoder is not None
            # Raises on invalid UTF-8: nothing invalid may have been delivered.
            assert text == decoder.decode(payload, fin)
        else:
            assert text is None
        if fin:
            message = None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


keys = st.binary(min_size=4, max_size=4)
utf8ish = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=40),
    st.text(min_size=1, max_size=10).map(lambda t: t.encode()[:-1]),
)
any_frame = st.builds(
    encode,
    st.sampled_from([0, 1, 2, 8, 9, 10, 0, 1, 0, 3, 0xB, 0xF]),
    st.one_of(utf8ish, st.sampled_from([b"\x03\xe8", b"\x03\xe8ok", b"\x03"])),
    fin=st.booleans(),
    rsv=st.sampled_from([0] * 12 + [1, 4]),
    key=st.one_of(keys, keys, keys, keys, st.none()),
)


@st.composite
def plausible_stream(draw: st.DrawFn) -> bytes:
    """Mostly well-formed frames (right fin and continuation order), then mutated."""
    wire = []
    for _ in range(draw(st.integers(0, 6))):
        opcode = draw(st.sampled_from([0x1, 0x1, 0x2, 0x8, 0x9, 0xA]))
        if opcode >= 0x8:
            wire.append(encode(opcode, draw(utf8ish)[:125], key=draw(keys)))
            continue
        parts = draw(st.lists(utf8ish, min_size=1, max_size=4))
        for i, part in enumerate(parts):
            op = opcode if i == 0 else 0x0
            wire.append(encode(op, part, fin=i == len(parts) - 1, key=draw(keys)))
    data = bytearray(b"".join(wire))
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[at]
        else:
            del data[at:]
    return bytes(data)


hostile_stream = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda frames, tail: b"".join(frames) + tail,
        st.lists(any_frame, max_size=10),
        st.binary(max_size=16),
    ),
    plausible_stream(),
)


@FUZZ
@given(data=hostile_stream, max_size=st.sampled_from([0, 5, 64, 1 << 20]))
def test_fuzz_frame_reader_only_raises_protocol_error(
    data: bytes, max_size: int
) -> None:
    """Any byte stream gives checked frames or ProtocolError(1002/1007/1009), nothing else."""
    check_frames(parse_whole(data, max_size))
    check_frames(parse_whole(data, max_size, pad=7))


@FUZZ
@given(data=hostile_stream, cuts=st.lists(st.integers(0, 1000), max_size=12))
def test_fuzz_any_split_gives_the_same_frames(data: bytes, cuts: list[int]) -> None:
    """Feeding a stream in any chunks gives the same frames and error as feeding it whole."""
    whole = parse_whole(data, 256)
    assert parse_chunks(split(data, cuts), 256) == whole
    assert parse_chunks([bytes([b]) for b in data], 256) == whole


big = st.integers(126, 70000).map(lambda n: (bytes(range(256)) * 274)[:n])
text_message = st.tuples(
    st.just(0x1),
    st.one_of(st.text(max_size=60), big.map(lambda b: b.hex())).map(str.encode),
)
binary_message = st.tuples(st.just(0x2), st.one_of(st.binary(max_size=60), big))
message_st = st.tuples(
    st.one_of(text_message, binary_message),
    st.lists(st.integers(0, 140000), max_size=4),  # fragment boundaries
    st.lists(  # control frames after each fragment
        st.tuples(st.sampled_from([0x9, 0xA]), st.binary(max_size=125)), max_size=2
    ),
)
close_st = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([1000, 1001, 1011, 1014, 3000, 4999]),
        st.text(max_size=20).filter(lambda r: len(r.encode()) <= 123),
    ),
)


@FUZZ
@given(
    messages=st.lists(message_st, max_size=5),
    close=close_st,
    mask_keys=st.lists(keys, min_size=1, max_size=5),
    max_size=st.sampled_from([1 << 20, 100, 70000]),
    cuts=st.lists(st.integers(0, 300000), max_size=8),
)
def test_fuzz_valid_frames_round_trip(
    messages: list[tuple[tuple[int, bytes], list[int], list[tuple[int, bytes]]]],
    close: tuple[int, str] | None,
    mask_keys: list[bytes],
    max_size: int,
    cuts: list[int],
) -> None:
    """Valid masked frames come back with their opcodes, fin and payloads (1009 past max)."""
    wire: list[bytes] = []
    expected: list[FrameTuple] = []
    error: int | None = None
    keys_used = 0
    for (opcode, body), bounds, controls in messages:
        # Fragment boundaries fall anywhere, also inside a UTF-8 character.
        points = sorted({b % (len(body) + 1) for b in bounds})
        starts, ends = [0, *points], [*points, len(body)]
        parts = [body[a:b] for a, b in zip(starts, ends, strict=True)]
        size = 0
        decoder = codecs.getincrementaldecoder("utf-8")()
        for i, part in enumerate(parts):
            fin = i == len(parts) - 1
            op = opcode if i == 0 else 0x0
            key = mask_keys[keys_used % len(mask_keys)]
            keys_used += 1
            wire.append(encode(op, part, fin=fin, key=key))
            size += len(part)
            if error is None and size > max_size:
                error = 1009
            if error is None:
                text = decoder.decode(part, fin) if opcode == 0x1 else None
                expected.append((op, fin, part, text, None, ""))
            for control, payload in controls:
                wire.append(encode(control, payload, key=key))
                if error is None:
                    expected.append((control, True, payload, None, None, ""))
    if close is not None:
        code, reason = close
        payload = struct.pack("!H", code) + reason.encode()
        wire.append(encode(0x8, payload, key=mask_keys[0]))
        if error is None:
            expected.append((0x8, True, payload, None, code, reason))
    data = b"".join(wire)
    whole = parse_whole(data, max_size, pad=3)
    assert whole == (expected, error)
    assert parse_chunks(split(data, cuts), max_size) == whole
    # The text of each frame joins up to the message that was sent.
    if error is None:
        frames = iter(f for f in whole[0] if f[0] < 0x8)
        for (opcode, body), bounds, _ in messages:
            count = len({b % (len(body) + 1) for b in bounds}) + 1
            got = [next(frames) for _ in range(count)]
            if opcode == 0x1:
                assert "".join(f[3] or "" for f in got) == body.decode()
            assert b"".join(f[2] for f in got) == body
