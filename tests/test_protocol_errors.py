"""RFC 6455 violations: the exact close code on the wire, then TCP closed.

The socket tests send hostile frames with the raw client and read the server's
Close frame; a recording handler proves what a read callback did (and did not)
see. These prove the wiring (transport, session, protocol) over real sockets;
the same rules are checked without sockets in tests/test_protocol.py, and the
codec's fuzzing is in tests/test_frames.py.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from perfectws import GET, OpcodeType, WebSocketHandler
from tests.helpers import Recorder, Served, echo_routes, timeout
from tests.rawws import RawClient, close_payload, frame, handshake

aio = pytest.mark.asyncio

ECHO = [Subprotocol("echo")]


async def serve_recorder(
    serve: Callable[..., Any], **options: Any
) -> tuple[Served, Recorder]:
    """/echo runs the example's EchoHandler; /record runs a fresh Recorder."""
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
