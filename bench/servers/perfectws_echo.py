"""perfectws echo: the EchoHandler of the Perfect example, without its print.

``/echo`` is the example's text echo (``read_string_message`` ->
``send_string_message``). ``/echo-bin`` is the same loop on bytes
(``read_bytes_message`` -> ``send_binary_message``), for the 64 KiB binary row:
a text read of random bytes would not decode. The loop is asyncio's unless
``--uvloop`` is given (``HTTPServer(use_uvloop=...)``); ``--processes N`` forks
N workers on the shared listening socket; ``--metrics`` serves with
``HTTPServer(metrics=ServerMetrics())``, to measure what counting costs.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

from _common import parse_args, raise_nofile, use_loop

try:
    from perfectws import GET, HTTPServer, Routes, WebSocketHandler
except ImportError as exc:  # the API is being written; say so plainly
    sys.exit(f"perfectws_echo: perfectws is not importable yet: {exc}")

if TYPE_CHECKING:
    from perfectws import HTTPRequest, OpcodeType, WebSocket

WEBROOT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "webroot"
)


class EchoHandler:
    socket_protocol = "echo"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_read(string: str | None, op: OpcodeType, fin: bool) -> None:
            if string is None:
                socket.close()
                return
            socket.send_string_message(
                string,
                final=True,
                callback=lambda: self.handle_session(request, socket),
            )

        socket.read_string_message(on_read)


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


def main() -> None:
    args = parse_args(__doc__ or "", processes=True, metrics=True)
    raise_nofile()
    use_loop(args.uvloop)
    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=lambda req, protocols: (
            EchoHandler() if "echo" in protocols else None
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
        document_root=os.path.normpath(WEBROOT),
        server_address=args.host,
        **options,
    )
    server.add_routes(routes)
    server.start()  # blocks until SIGINT/SIGTERM


if __name__ == "__main__":
    main()
