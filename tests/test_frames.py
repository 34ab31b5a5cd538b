"""perfectws/frames.py, the codec: encoding, masking, opcodes, close codes, fuzzing.

No sockets. The fuzz tests drive :class:`perfectws.frames.FrameReader` (a
private module's own contract: the codec the protocol layer is built on):
whatever bytes arrive, it returns checked frames or raises ``ProtocolError``,
and how the bytes are chunked never changes the result. Client frames come
from the suite's one builder, ``tests.rawws.frame``, with fixed masking keys.
"""

from __future__ import annotations

import codecs
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from perfectws import OpcodeType
from perfectws.frames import (
    Frame,
    FrameReader,
    ProtocolError,
    apply_mask,
    apply_mask_python,
    encode_close,
    encode_frame,
    is_valid_close_code,
)
from tests.rawws import frame


def _pure_apply_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_opcode_values_are_perfects() -> None:
    """OpcodeType has Perfect's members and raw values; INVALID is 0xB."""
    assert {op.name: op.value for op in OpcodeType} == {
        "CONTINUATION": 0x0,
        "TEXT": 0x1,
        "BINARY": 0x2,
        "CLOSE": 0x8,
        "PING": 0x9,
        "PONG": 0xA,
        "INVALID": 0xB,
    }


def test_opcode_prints_like_swift() -> None:
    """print(f"op: {op}") shows the Swift case name, as the echo example's print does."""
    assert f"op: {OpcodeType.TEXT} {OpcodeType.CONTINUATION}" == "op: text continuation"


@pytest.mark.parametrize(
    ("size", "header"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)],
)
def test_encode_frame_uses_the_shortest_length_form(size: int, header: int) -> None:
    """Payload lengths 0-125, 126-65535 and larger use the 7, 16 and 64-bit forms."""
    data = encode_frame(OpcodeType.BINARY, b"x" * size)
    assert len(data) == header + size
    assert data[0] == 0x82
    assert data[1] & 0x80 == 0, "server frames are never masked"


def test_encode_frame_without_fin() -> None:
    """final=False clears the FIN bit and keeps the opcode."""
    assert encode_frame(OpcodeType.TEXT, b"a", fin=False) == b"\x01\x01a"


def test_encode_close() -> None:
    """A Close carries the code big-endian and the reason; no code, no payload."""
    assert encode_close(1000, "ok") == b"\x88\x04\x03\xe8ok"
    assert encode_close() == b"\x88\x00"
    with pytest.raises(ValueError, match="at most 123 bytes"):
        encode_close(1000, "x" * 124)


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (999, False),
        (1000, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1011, True),
        (1014, True),
        (1015, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
    ],
)
def test_close_codes_allowed_on_the_wire(code: int, valid: bool) -> None:
    """Registered codes, 3000-4999, and nothing reserved for reporting."""
    assert is_valid_close_code(code) is valid


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_the_definition(data: bytes, mask: bytes) -> None:
    """Both masking helpers (C when built, and the fallback) XOR byte i with mask[i % 4]."""
    assert apply_mask(data, mask) == _pure_apply_mask(data, mask)
    assert apply_mask_python(data, mask) == _pure_apply_mask(data, mask)


def test_apply_mask_accepts_buffer_slices() -> None:
    """Masking reads straight from a bytearray or memoryview slice."""
    buf = bytearray(b"--abcdef--")
    assert apply_mask(memoryview(buf)[2:8], b"\x01\x02\x03\x04") == _pure_apply_mask(
        b"abcdef", b"\x01\x02\x03\x04"
    )


def test_frame_reader_reports_the_size_of_a_partial_frame() -> None:
    """frame_size tells how big the frame at the head is, once its header is in."""
    reader = FrameReader(1 << 20)
    head = bytes((0x82, 0x80 | 126)) + (1000).to_bytes(2, "big") + b"mask"
    assert reader.read_frame(head, 0, len(head)) is None
    assert reader.frame_size(head, 0, len(head)) == 8 + 1000
    assert reader.frame_size(head, 0, 1) == 0


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAIL_CODES = {1002, 1007, 1009}
FrameTuple = tuple[int, bool, bytes, str | None, int | None, str]
Parsed = tuple[list[FrameTuple], int | None]


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
    frame,
    st.sampled_from([0, 1, 2, 8, 9, 10, 0, 1, 0, 3, 0xB, 0xF]),
    st.one_of(utf8ish, st.sampled_from([b"\x03\xe8", b"\x03\xe8ok", b"\x03"])),
    fin=st.booleans(),
    rsv=st.sampled_from([0] * 12 + [1, 4]),
    mask=st.one_of(keys, keys, keys, keys, st.just(False)),
)


@st.composite
def plausible_stream(draw: st.DrawFn) -> bytes:
    """Mostly well-formed frames (right fin and continuation order), then mutated."""
    wire = []
    for _ in range(draw(st.integers(0, 6))):
        opcode = draw(st.sampled_from([0x1, 0x1, 0x2, 0x8, 0x9, 0xA]))
        if opcode >= 0x8:
            wire.append(frame(opcode, draw(utf8ish)[:125], mask=draw(keys)))
            continue
        parts = draw(st.lists(utf8ish, min_size=1, max_size=4))
        for i, part in enumerate(parts):
            op = opcode if i == 0 else 0x0
            wire.append(frame(op, part, fin=i == len(parts) - 1, mask=draw(keys)))
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
            wire.append(frame(op, part, fin=fin, mask=key))
            size += len(part)
            if error is None and size > max_size:
                error = 1009
            if error is None:
                text = decoder.decode(part, fin) if opcode == 0x1 else None
                expected.append((op, fin, part, text, None, ""))
            for control, payload in controls:
                wire.append(frame(control, payload, mask=key))
                if error is None:
                    expected.append((control, True, payload, None, None, ""))
    if close is not None:
        code, reason = close
        payload = struct.pack("!H", code) + reason.encode()
        wire.append(frame(0x8, payload, mask=mask_keys[0]))
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
