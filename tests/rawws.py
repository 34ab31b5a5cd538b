"""A deliberately minimal WebSocket client over raw sockets, for hostile input.

The ``websockets`` library refuses to send what these tests must send (bad
opcodes, unmasked frames, split UTF-8, pipelined handshakes), so this one writes
bytes exactly as told. It shares no code with perfectws: :func:`frame` is the
suite's one frame builder, used by the socket tests and, with fixed masking
keys, by the codec and protocol tests (``tests/test_frames.py``,
``tests/test_protocol.py``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct

from tests.helpers import timeout

KEY = base64.b64encode(b"0123456789abcdef").decode()


def handshake(
    path: str = "/echo",
    *,
    host: str = "127.0.0.1",
    protocol: str | None = "echo",
    extra: str = "",
    method: str = "GET",
    version: str = "13",
    key: str | None = KEY,
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    head = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    return head.encode()


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool | bytes = True,
    length: int | None = None,
) -> bytes:
    """A client frame, built byte by byte.

    ``mask`` is True for a random masking key, a 4-byte key to use that one
    (deterministic, for hypothesis), or False for an unmasked frame.
    ``length`` overrides the header's length field.
    """
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask is not False else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is False:
        return head + payload
    key = os.urandom(4) if mask is True else mask
    assert len(key) == 4, "a masking key is 4 bytes"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class RawClient:
    """A TCP connection that speaks just enough WebSocket to be hostile."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.status_line = b""
        self.headers: dict[str, str] = {}
        self.body = b""

    @classmethod
    async def connect(cls, port: int, request: bytes | None = None) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if request is not None:
            writer.write(request)
            await client.read_head()
        return client

    async def read_head(self) -> int:
        """Read an HTTP response head (and its body if it has a length); the status."""
        data = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout(5))
        lines = data.decode("latin-1").split("\r\n")
        self.status_line = lines[0].encode()
        self.headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                self.headers[name.strip().lower()] = value.strip()
        length = int(self.headers.get("content-length", "0"))
        self.body = await self.reader.readexactly(length) if length else b""
        return int(lines[0].split()[1])

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv_frame(self) -> tuple[int, bool, bytes]:
        """One server frame: ``(opcode, fin, payload)``."""
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout(5))
        opcode, fin = head[0] & 0x0F, bool(head[0] & 0x80)
        assert not head[1] & 0x80, "server frames must not be masked"
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        payload = await asyncio.wait_for(self.reader.readexactly(n), timeout(5))
        return opcode, fin, payload

    async def recv_close(self) -> tuple[int | None, bytes]:
        """Skip to the server's Close frame: ``(code, reason)``."""
        while True:
            opcode, _, payload = await self.recv_frame()
            if opcode == 0x8:
                if not payload:
                    return None, b""
                return struct.unpack("!H", payload[:2])[0], payload[2:]

    async def at_eof(self) -> bool:
        """Whether the server closed TCP (reads until EOF, within a timeout)."""
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout(5))
        except (ConnectionResetError, asyncio.IncompleteReadError):
            return True
        while data:
            data = await asyncio.wait_for(self.reader.read(65536), timeout(5))
        return True

    def close(self) -> None:
        self.writer.close()
