"""perfectws echo: the EchoHandler of the Perfect example, without its print.

``/echo`` is examples/echo_server.py's own ``EchoHandler`` (imported, not copied),
made with ``print_messages=False``: the text echo (``read_string_message`` ->
``send_string_message``). ``/echo-bin`` is the same loop on bytes
(``read_bytes_message`` -> ``send_binary_message``), for the 64 KiB binary row:
a text read of random bytes would not decode. The loop is asyncio's unless
``--uvloop`` is given (``HTTPServer(use_uvloop=...)``); ``--processes N`` forks
N workers on the shared listening socket; ``--cert`` / ``--key`` serve wss
(``HTTPServer.ssl``); ``--metrics`` serves with
``HTTPServer(metrics=ServerMetrics())``, to measure what counting costs.

``/broadcast`` hands every message to ``perfectws.broadcast`` (framed once,
queued to every socket of the room). With ``--redis URL`` it also goes to
``FanOut.publish`` and each process broadcasts what the others publish (the
pattern of examples/chat_server.py); ``--port2 Q`` forks, before anything else
starts, a second server process on port Q, so that the fanout2p row has two
processes with receivers on each. ``--deflate`` serves ``/echo`` with
``WebSocketHandler(compression="deflate")``.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import parse_args, raise_nofile, use_loop

try:
    from perfectws import (
        GET,
        FanOut,
        HTTPServer,
        Routes,
        WebSocketHandler,
        broadcast,
    )
except ImportError as exc:  # the API is being written; say so plainly
    sys.exit(f"perfectws_echo: perfectws is not importable yet: {exc}")

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "examples"))
from echo_server import EchoHandler  # noqa: E402  (examples/ is not a package)

if TYPE_CHECKING:
    from perfectws import HTTPRequest, OpcodeType, WebSocket

WEBROOT = REPO / "webroot"


class BinaryEchoHandler:
    socket_protocol = "echo"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_read(data: bytes | None, op: OpcodeType, fin: bool) -> None:
            if data is None:
                socket.close()
                return
            socket.send_binary_message(
                data, final=True, callback=lambda: self.handle_session(request, socket)
            )

        socket.read_bytes_message(on_read)


class Room:
    """The sockets open on ``/broadcast``, and the fan-out between processes."""

    CHANNEL = "bench"

    def __init__(self, redis_url: str | None) -> None:
        self.sockets: set[WebSocket] = set()
        self.fanout = FanOut(redis_url) if redis_url else None
        if self.fanout is not None:
            self.fanout.subscribe(self.CHANNEL, self.received)

    def received(self, data: bytes) -> None:
        # A snapshot: a socket that fails while broadcast() writes to it leaves
        # the room from its read callback, inside the loop.
        broadcast(tuple(self.sockets), data, text=True)


class BroadcastHandler:
    socket_protocol = "echo"

    def __init__(self, room: Room) -> None:
        self.room = room

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        room = self.room
        room.sockets.add(socket)
        if room.fanout is not None:
            room.fanout.start()  # idempotent: connects on the first client

        def on_read(data: bytes | None, op: OpcodeType, fin: bool) -> None:
            if data is None:
                room.sockets.discard(socket)
                socket.close()
                return
            broadcast(tuple(room.sockets), data, text=True)
            if room.fanout is not None:
                room.fanout.publish(room.CHANNEL, data)
            socket.read_bytes_message(on_read)

        socket.read_bytes_message(on_read)


def main() -> None:
    args = parse_args(__doc__ or "", processes=True, metrics=True, fanout=True)
    if args.port2 and os.fork() == 0:
        args.port = args.port2  # the second process: same server, other port
    raise_nofile()
    use_loop(args.uvloop)
    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=lambda req, protocols: (
            EchoHandler(print_messages=False) if "echo" in protocols else None
        ),
        compression="deflate" if args.deflate else None,
    ).handle_request
    room = Room(args.redis)
    routes[GET, "/broadcast"] = WebSocketHandler(
        handler_producer=lambda req, protocols: (
            BroadcastHandler(room) if "echo" in protocols else None
        )
    ).handle_request
    routes[GET, "/echo-bin"] = WebSocketHandler(
        handler_producer=lambda req, protocols: (
            BinaryEchoHandler() if "echo" in protocols else None
        )
    ).handle_request
    # The loop is the variant's, never perfectws's default: HTTPServer picks
    # uvloop by itself when installed (bench/.env has it for the peers).
    options: dict[str, Any] = {"processes": args.processes}
    if "use_uvloop" in inspect.signature(HTTPServer).parameters:
        options["use_uvloop"] = args.uvloop
    if args.metrics:
        from perfectws.metrics import ServerMetrics

        options["metrics"] = ServerMetrics()
    server = HTTPServer(
        server_port=args.port,
        document_root=str(WEBROOT),
        server_address=args.host,
        **options,
    )
    if args.cert is not None:
        server.ssl = (args.cert, args.key)
    server.add_routes(routes)
    server.start()  # blocks until SIGINT/SIGTERM


if __name__ == "__main__":
    main()
