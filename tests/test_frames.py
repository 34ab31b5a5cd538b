"""The frame codec's pure parts: encoding, masking, opcodes, close codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from perfectws import OpcodeType
from perfectws.frames import (
    FrameReader,
    apply_mask,
    apply_mask_python,
    encode_close,
    encode_frame,
    is_valid_close_code,
)


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
    """print(f"op: {op}") shows the Swift case name, as the seed's print does."""
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
