"""perfectws/_takeover.py's own contract: the Tornado internals it reads exist.

This is the only test that looks inside Tornado. When a Tornado release moves
one of IOStream's private fields, it fails here, naming the field, instead of
as a mysterious hand-over bug (tests/test_handshake.py proves the hand-over
itself over real sockets).
"""

from __future__ import annotations

import asyncio
import socket

import pytest
import tornado
from tornado.iostream import IOStream, SSLIOStream

from perfectws._takeover import IOSTREAM_FIELDS, TESTED_TORNADO

pytestmark = pytest.mark.asyncio


async def test_the_installed_tornado_is_one_the_fields_were_read_in() -> None:
    major_minor = ".".join(tornado.version.split(".")[:2])
    assert major_minor in TESTED_TORNADO, (
        f"Tornado {tornado.version} is not in _takeover.TESTED_TORNADO "
        f"{TESTED_TORNADO}: run this file against it, check each field in "
        "IOSTREAM_FIELDS, and add the version"
    )


@pytest.mark.parametrize("field", sorted(IOSTREAM_FIELDS))
async def test_iostream_has_each_private_field(field: str) -> None:
    """Every field _takeover.take_socket reads or writes exists on a live stream.

    (SSLIOStream, which serves TLS requests, inherits them from IOStream.)
    """
    assert issubclass(SSLIOStream, IOStream)
    left, right = socket.socketpair()
    try:
        stream = IOStream(left)
        assert hasattr(stream, field), (
            f"tornado {tornado.version} moved IOStream.{field} "
            f"({IOSTREAM_FIELDS[field]}): perfectws/_takeover.py must follow it"
        )
        stream.close()
        await asyncio.sleep(0)
    finally:
        right.close()


async def test_the_read_buffer_holds_what_was_read_past_the_request() -> None:
    """_read_buffer[:_read_buffer_size] is the unread input, as take_socket assumes."""
    left, right = socket.socketpair()
    stream = IOStream(left)
    try:
        right.sendall(b"GET / HTTP/1.1\r\n\r\nEXTRA")
        head = await asyncio.wait_for(stream.read_until(b"\r\n\r\n"), 5)
        assert head == b"GET / HTTP/1.1\r\n\r\n"
        size: int = stream._read_buffer_size
        assert bytes(stream._read_buffer[:size]) == b"EXTRA"
    finally:
        stream.close()
        right.close()
