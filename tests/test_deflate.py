"""permessage-deflate (RFC 7692): negotiation, per-frame inflation, limits, memory.

Real sockets only: the ``websockets`` client (which implements RFC 7692 on its
own) for the negotiation matrix, raw sockets (tests/rawws.py) for odd offers,
hand-made compressed frames and hostile input, and a subprocess conformance
server for the compression bomb and the memory of idle compressed connections.
"""

from __future__ import annotations

import asyncio
import codecs
import gc
import os
import struct
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from perfectws import (
    GET,
    ConfigurationError,
    HTTPRequest,
    OpcodeType,
    PerMessageDeflate,
    Routes,
    WebSocket,
    WebSocketHandler,
)
from tests.example_process import run_example
from tests.helpers import Served, echo_routes, timeout
from tests.rawws import RawClient, close_payload, frame, handshake

pytestmark = pytest.mark.asyncio

TAIL = b"\x00\x00\xff\xff"
MESSAGES: list[str | bytes] = [
    "hello",
    "",
    "héllo wörld " * 500,  # compressible text past one frame's 125 bytes
    b"\x00" * 100_000,  # large (sent gathered without compression)
    os.urandom(70_000),  # incompressible
    '{"id": 1, "name": "x"}' * 200,
]


Raw = Callable[..., Awaitable[RawClient]]


@pytest_asyncio.fixture
async def raw(serve: Callable[..., Any]) -> AsyncIterator[Raw]:
    """``await raw(port, request)``: a RawClient that is closed after the test.

    (It depends on ``serve`` so that its clients are closed before the
    servers stop, which would otherwise wait for their closing handshakes.)
    """
    clients: list[RawClient] = []

    async def open_client(port: int, request: bytes | None = None) -> RawClient:
        client = await RawClient.connect(port, request)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
    await asyncio.sleep(0.01)  # let the transports finish closing


def deflate_message(data: bytes, wbits: int = 15) -> bytes:
    """One message compressed as a client does: sync flush, tail stripped."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def offer(extensions: str) -> bytes:
    return handshake(extra=f"Sec-WebSocket-Extensions: {extensions}\r\n")


async def recv_raw(client: RawClient) -> tuple[int, bytes]:
    """One server frame with its first byte: ``(b0, payload)``."""
    head = await asyncio.wait_for(client.reader.readexactly(2), timeout(5))
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await client.reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await client.reader.readexactly(8))[0]
    return head[0], await client.reader.readexactly(n)


async def serve_deflate(
    serve: Callable[..., Any], compression: Any = "deflate", **options: Any
) -> Served:
    served: Served = await serve(echo_routes(compression=compression, **options))
    return served


class Recorder:
    """A session handler that records every frame it reads, and echoes nothing."""

    socket_protocol = "echo"

    def __init__(self, text: bool) -> None:
        self.text = text
        self.frames: list[tuple[Any, OpcodeType, bool]] = []
        self.done = asyncio.get_running_loop().create_future()

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_frame(data: Any, op: OpcodeType, fin: bool) -> None:
            self.frames.append((data, op, fin))
            if data is None:
                if not self.done.done():
                    self.done.set_result(None)
                return
            self.handle_session(request, socket)

        if self.text:
            socket.read_string_message(on_frame)
        else:
            socket.read_bytes_message(on_frame)


async def serve_recorder(
    serve: Callable[..., Any], text: bool, **options: Any
) -> tuple[Served, list[Recorder]]:
    recorders: list[Recorder] = []

    def producer(request: HTTPRequest, protocols: list[str]) -> Recorder:
        recorders.append(Recorder(text))
        return recorders[-1]

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        producer, compression="deflate", **options
    ).handle_request
    served: Served = await serve(routes)
    return served, recorders


# ------------------------------------------------------------- negotiation


@pytest.mark.parametrize(
    ("server", "client", "expected"),
    [
        (
            "deflate",
            "deflate",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        ("deflate", None, None),
        (None, "deflate", None),
        (None, None, None),
        (
            PerMessageDeflate(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=10,
                client_max_window_bits=9,
            ),
            "deflate",
            "permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=10; "
            "client_max_window_bits=9",
        ),
        (
            PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=None),
            "deflate",
            "permessage-deflate",
        ),
        (
            "deflate",
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=8,
                client_max_window_bits=9,
            ),
            "permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=8; "
            "client_max_window_bits=9",
        ),
        (
            "deflate",
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
            "permessage-deflate; server_max_window_bits=12",
        ),
    ],
)
async def test_negotiation_matrix_with_websockets(
    serve: Callable[..., Any], server: Any, client: Any, expected: str | None
) -> None:
    """Every combination negotiates as RFC 7692 says and echoes every message."""
    served = await serve_deflate(serve, server)
    if isinstance(client, ClientPerMessageDeflateFactory):
        options: dict[str, Any] = {"extensions": [client], "compression": None}
    else:
        options = {"compression": client}
    async with connect(
        served.ws_url(), subprotocols=["echo"], max_size=None, **options
    ) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") == expected
        assert bool(ws.protocol.extensions) == (expected is not None)
        for message in MESSAGES * 2:  # twice: context taken over between messages
            text = message.decode("latin-1") if isinstance(message, bytes) else message
            await ws.send(text)
            assert await ws.recv() == text
        # Perfect's EchoHandler answers each frame of a fragmented message
        # with a message of its own: one read, one frame, inflated.
        await ws.send(["a" * 10, "b" * 20_000, "c"])
        for part in ("a" * 10, "b" * 20_000, "c"):
            assert await ws.recv() == part


async def test_binary_messages_round_trip_compressed(
    serve: Callable[..., Any],
) -> None:
    """Binary frames read with read_bytes_message are inflated before delivery."""

    class BinaryEcho:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            def on_frame(data: bytes | None, op: OpcodeType, fin: bool) -> None:
                if data is None:
                    return
                socket.send_binary_message(
                    data, fin, lambda: self.handle_session(request, socket)
                )

            socket.read_bytes_message(on_frame)

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        lambda request, protocols: BinaryEcho(), compression="deflate"
    ).handle_request
    served = await serve(routes)
    async with connect(
        served.ws_url(), subprotocols=["echo"], compression="deflate", max_size=None
    ) as ws:
        for message in MESSAGES:
            data = message if isinstance(message, bytes) else message.encode()
            await ws.send(data)
            assert await ws.recv() == data


@pytest.mark.parametrize(
    ("extensions", "expected"),
    [
        ("permessage-deflate; foo=1", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits=7", None),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; client_max_window_bits=08", None),
        ("permessage-deflate; client_no_context_takeover=1", None),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            None,
        ),
        ('permessage-deflate; server_max_window_bits="1,0"', None),
        ("permessage-deflate; server_max_window_bits=1 0", None),
        (';;;, ,=,"', None),
        ("x-webkit-deflate-frame", None),
        (
            'permessage-deflate; server_max_window_bits="10"',
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate; foo, "
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=8",
        ),
        (
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        ),
        (
            "permessage-deflate ; client_max_window_bits = 10",
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
        ),
        (
            "permessage-deflate; server_no_context_takeover, permessage-deflate",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
        ),
    ],
)
async def test_raw_offers_are_accepted_or_declined_cleanly(
    raw: Raw, serve: Callable[..., Any], extensions: str, expected: str | None
) -> None:
    """Odd offers are declined (no header, still 101); good ones get a working session."""
    served = await serve_deflate(serve)
    client = await raw(served.port)
    client.send(offer(extensions))
    assert await client.read_head() == 101
    assert client.headers.get("sec-websocket-extensions") == expected
    data = "hé " * 300
    if expected is None:
        client.send(frame(0x1, data.encode()))
        b0, payload = await recv_raw(client)
        assert (b0, payload) == (0x81, data.encode())
    else:
        bits = 8 if "server_max_window_bits=8" in expected else 15
        client.send(frame(0x1, deflate_message(data.encode()), rsv=4))
        b0, payload = await recv_raw(client)
        assert b0 == 0xC1  # FIN, RSV1, text: the reply is compressed
        inflater = zlib.decompressobj(-bits)
        assert inflater.decompress(payload + TAIL) == data.encode()
    client.send(frame(0x8, close_payload(1000)))
    assert await client.recv_close() == (1000, b"")


async def test_two_header_lines_are_one_list(
    raw: Raw, serve: Callable[..., Any]
) -> None:
    served = await serve_deflate(serve)
    client = await raw(served.port)
    client.send(
        handshake(
            extra="Sec-WebSocket-Extensions: permessage-deflate; foo\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n"
        )
    )
    assert await client.read_head() == 101
    assert client.headers["sec-websocket-extensions"] == (
        "permessage-deflate; server_max_window_bits=9"
    )


async def test_bad_options_are_configuration_errors() -> None:
    for bad in (
        {"server_max_window_bits": 8},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 7},
        {"mem_level": 0},
        {"compress_level": 10},
    ):
        with pytest.raises(ConfigurationError):
            PerMessageDeflate(**bad)
    with pytest.raises(ValueError, match="compression must be"):
        WebSocketHandler(lambda r, p: None, compression="gzip")


# ----------------------------------------------------- frame-by-frame reads


async def test_fragmented_compressed_message_is_read_frame_by_frame(
    raw: Raw,
    serve: Callable[..., Any],
) -> None:
    """Each frame is inflated as it arrives: its share, split UTF-8 held over."""
    served, recorders = await serve_recorder(serve, text=True)
    client = await raw(served.port, offer("permessage-deflate"))
    assert client.headers["sec-websocket-extensions"].startswith("permessage-deflate")
    encoded = ("a" * 200 + "b\xe9" + "c" * 80 + "\u20ac").encode()
    # The first frame ends inside "é", the last one holds all of "€".
    pieces = [encoded[:202], encoded[202:250], encoded[250:]]
    decoder = codecs.getincrementaldecoder("utf-8")()
    shares = [decoder.decode(p, i == 2) for i, p in enumerate(pieces)]
    assert shares[0] == "a" * 200 + "b"
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = [
        compressor.compress(p) + compressor.flush(zlib.Z_SYNC_FLUSH) for p in pieces
    ]
    wire[-1] = wire[-1][:-4]
    client.send(frame(0x1, wire[0], fin=False, rsv=4))
    client.send(frame(0x9, b"mid"))  # a control frame between fragments
    assert await recv_raw(client) == (0x8A, b"mid")
    client.send(frame(0x0, wire[1], fin=False))
    client.send(frame(0x0, wire[2], fin=True))
    client.send(frame(0x8, close_payload(1000)))
    await asyncio.wait_for(recorders[0].done, timeout(5))
    frames = recorders[0].frames
    assert [(op, fin) for _, op, fin in frames[:3]] == [
        (OpcodeType.TEXT, False),
        (OpcodeType.CONTINUATION, False),
        (OpcodeType.CONTINUATION, True),
    ]
    assert [data for data, _, _ in frames[:3]] == shares
    assert frames[3] == (None, OpcodeType.INVALID, True)


async def test_server_fragments_are_compressed_across_frames(
    raw: Raw,
    serve: Callable[..., Any],
) -> None:
    """A fragmented send: RSV1 on the first frame only; each frame inflates at once."""

    class Fragmenter:
        socket_protocol = "echo"

        def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
            socket.send_string_message("one " * 100, final=False)
            socket.send_string_message("two " * 100, final=False)
            socket.send_string_message("three", final=True)
            socket.send_ping()

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        lambda request, protocols: Fragmenter(), compression="deflate"
    ).handle_request
    served = await serve(routes)
    client = await raw(served.port, offer("permessage-deflate"))
    inflater = zlib.decompressobj(-12)
    b0, payload = await recv_raw(client)
    assert b0 == 0x41  # RSV1, text, not final
    assert inflater.decompress(payload) == b"one " * 100  # without waiting for more
    b0, payload = await recv_raw(client)
    assert b0 == 0x00
    assert inflater.decompress(payload) == b"two " * 100
    b0, payload = await recv_raw(client)
    assert b0 == 0x80
    assert inflater.decompress(payload + TAIL) == b"three"
    assert await recv_raw(client) == (0x89, b"")  # control frames: no RSV1

    async with connect(
        served.ws_url(), subprotocols=["echo"], compression="deflate"
    ) as ws:
        assert await ws.recv() == "one " * 100 + "two " * 100 + "three"


async def test_uncompressed_messages_stay_readable_on_a_compressed_session(
    raw: Raw,
    serve: Callable[..., Any],
) -> None:
    """RSV1 is per message: a client may send some messages uncompressed."""
    served = await serve_deflate(serve)
    client = await raw(served.port, offer("permessage-deflate"))
    client.send(frame(0x1, b"plain"))
    client.send(frame(0x1, deflate_message(b"packed"), rsv=4))
    client.send(frame(0x1, b"pla", fin=False))
    client.send(frame(0x0, b"in"))
    inflater = zlib.decompressobj(-12)
    for expected in (b"plain", b"packed", b"pla"):
        b0, payload = await recv_raw(client)
        assert b0 == 0xC1
        assert inflater.decompress(payload + TAIL) == expected
    assert inflater.decompress((await recv_raw(client))[1] + TAIL) == b"in"


# ------------------------------------------------------- protocol errors


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        # RSV1 on a continuation frame, on a control frame, RSV2 and RSV3.
        (
            [
                frame(0x1, deflate_message(b"ab"), fin=False, rsv=4),
                frame(0x0, b"x", rsv=4),
            ],
            1002,
        ),
        ([frame(0x9, b"", rsv=4)], 1002),
        ([frame(0x1, deflate_message(b"ab"), rsv=6)], 1002),
        ([frame(0x2, deflate_message(b"ab"), rsv=5)], 1002),
        # Bytes that are not deflate data; invalid UTF-8 once inflated.
        ([frame(0x1, b"\xff\xff\xff\xff", rsv=4)], 1007),
        ([frame(0x1, deflate_message(b"ok \xc3\x28"), rsv=4)], 1007),
        # A stream that ended (BFINAL) with more data behind it.
        ([frame(0x1, zlib.compress(b"x")[2:-4] + b"junk", rsv=4)], 1007),
    ],
)
async def test_bad_compressed_frames_fail_the_connection(
    raw: Raw, serve: Callable[..., Any], frames: list[bytes], code: int
) -> None:
    served = await serve_deflate(serve)
    client = await raw(served.port, offer("permessage-deflate"))
    for data in frames:
        client.send(data)
    assert (await client.recv_close())[0] == code
    assert await client.at_eof()


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_rsv1_without_negotiation_is_a_protocol_error(
    raw: Raw, serve: Callable[..., Any], compression: str | None
) -> None:
    """No offer (or compression off): RSV1 is reserved, 1002 as before."""
    served = await serve_deflate(serve, compression)
    client = await raw(served.port, offer("x-unknown"))
    assert "sec-websocket-extensions" not in client.headers
    client.send(frame(0x1, deflate_message(b"hello"), rsv=4))
    assert (await client.recv_close())[0] == 1002
    assert await client.at_eof()


async def test_inflated_size_counts_against_max_message_size(
    serve: Callable[..., Any],
) -> None:
    """A fragmented compressed message is measured inflated, as it grows: 1009."""
    served = await serve_deflate(serve, max_message_size=10_000)
    async with connect(
        served.ws_url(), subprotocols=["echo"], compression="deflate", max_size=None
    ) as ws:
        await ws.send("x" * 10_000)  # exactly the limit: fine
        assert await ws.recv() == "x" * 10_000
        # 6,000 inflated bytes per frame, each frame a few dozen on the wire.
        await ws.send(["y" * 6_000, "y" * 6_000])
        assert await ws.recv() == "y" * 6_000  # the first frame, echoed
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


# ------------------------------------------- a bomb and memory, measured


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def test_compression_bomb_is_1009_with_bounded_memory(
    raw: Raw, tmp_path: Path
) -> None:
    """200 MB of zeros in a 200 KB frame: 1009, and the server's peak RSS stays flat."""
    bomb = deflate_message(b"\x00" * 200_000_000)
    assert len(bomb) < 1_000_000
    with run_example(
        "conformance_server.py",
        tmp_path,
        "--deflate",
        "--max-message-size",
        str(1 << 20),
    ) as server:
        pid = server.proc.pid
        # Warm up (imports, buffers) with a legitimate message of the same size.
        async with connect(
            server.ws_url(), subprotocols=["echo"], compression="deflate"
        ) as ws:
            await ws.send(b"\x00" * (1 << 20))
            assert len(await ws.recv()) == 1 << 20
        before = rss_kib(pid, "VmHWM")
        client = await raw(server.port, offer("permessage-deflate"))
        client.send(frame(0x2, bomb, rsv=4))
        assert (await client.recv_close())[0] == 1009
        assert await client.at_eof()
        after = rss_kib(pid, "VmHWM")
    print(f"\nbomb: peak RSS {before} KiB -> {after} KiB (+{after - before} KiB)")
    # An unbounded inflate would add about 195,000 KiB.
    assert after - before < 8 * 1024


async def test_idle_compressed_connection_memory(tmp_path: Path) -> None:
    """RSS per idle connection after one echo, with and without compression."""
    n = 200
    costs: dict[str | None, float] = {}
    for compression in (None, "deflate"):
        args = ["--deflate"] if compression else []
        with run_example("conformance_server.py", tmp_path, *args) as server:
            pid = server.proc.pid
            clients = []
            async with connect(server.ws_url(), subprotocols=["echo"]) as ws:
                await ws.send("warm-up")
                await ws.recv()
            gc.collect()
            before = rss_kib(pid)
            for _ in range(n):
                ws = await connect(
                    server.ws_url(), subprotocols=["echo"], compression=compression
                )
                await ws.send('{"id": 1, "name": "a chat message"}')
                await ws.recv()
                clients.append(ws)
            await asyncio.sleep(0.2)
            costs[compression] = (rss_kib(pid) - before) / n
            await asyncio.gather(*(ws.close() for ws in clients))
    print(
        f"\nRSS per idle connection: {costs[None]:.1f} KiB plain, "
        f"{costs['deflate']:.1f} KiB with permessage-deflate (defaults)"
    )
    # zlib's state for windows of 2**12 and memLevel 5 is about 45 KiB.
    assert 20 < costs["deflate"] - costs[None] < 120


async def test_zlib_state_per_connection_by_options(
    raw: Raw, serve: Callable[..., Any]
) -> None:
    """tracemalloc: what _deflate.py keeps per idle connection, by option."""
    results: dict[str, float] = {}
    n = 20
    for name, options in (
        ("defaults", PerMessageDeflate()),
        (
            "windows 15, memLevel 8",
            PerMessageDeflate(
                server_max_window_bits=15, client_max_window_bits=15, mem_level=8
            ),
        ),
        (
            "no context takeover",
            PerMessageDeflate(
                server_no_context_takeover=True, client_no_context_takeover=True
            ),
        ),
    ):
        served = await serve_deflate(serve, options)
        clients = []
        tracemalloc.start()
        try:
            for _ in range(n):
                client = await raw(
                    served.port, offer("permessage-deflate; client_max_window_bits")
                )
                client.send(frame(0x1, deflate_message(b"hello " * 20, 12), rsv=4))
                await recv_raw(client)
                clients.append(client)
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "*/perfectws/_deflate.py")]
            )
        finally:
            tracemalloc.stop()
        results[name] = sum(s.size for s in snapshot.statistics("filename")) / n / 1024
    print(
        "\nzlib state per idle connection:",
        {k: f"{v:.1f} KiB" for k, v in results.items()},
    )
    assert results["no context takeover"] < 1
    assert 20 < results["defaults"] < results["windows 15, memLevel 8"]
