"""An echo service for Autobahn|Testsuite, written with perfectws's public API.

It reads each frame with ``read_bytes_message`` and sends it straight back with
the same kind (text or binary) and the same ``fin``, so fragmented messages are
echoed as fragments. (Perfect's EchoHandler answers every frame as text, so it
cannot pass the binary cases; it stays as it is in echo_server.py.)

    python examples/conformance_server.py --port 9001
    python examples/conformance_server.py --port 9001 --cert cert.pem --key key.pem

With ``--cert`` / ``--key`` it serves wss (``HTTPServer.ssl``, Perfect's
``server.ssl = (sslCert:, sslKey:)``): ``scripts/autobahn.py --tls`` runs the
suite that way.

``--deflate`` accepts permessage-deflate (RFC 7692: Autobahn's 12.* and 13.*)::

    python examples/conformance_server.py --port 9001 --deflate
"""

from __future__ import annotations

import argparse
import codecs
import logging

from perfectws import (
    GET,
    HTTPRequest,
    HTTPServer,
    OpcodeType,
    Routes,
    WebSocket,
    WebSocketHandler,
    WebSocketSessionHandler,
)


class FrameEchoHandler:
    """Echoes every frame as it comes: same kind, same fin."""

    socket_protocol: str | None = "echo"

    def __init__(self) -> None:
        # A continuation frame carries no kind of its own: it continues the
        # message whose first frame set this.
        self.message_kind = OpcodeType.TEXT
        # A text frame may end inside a character; the decoder keeps the split
        # bytes for the next frame (perfectws has already checked the UTF-8).
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_frame(data: bytes | None, op: OpcodeType, fin: bool) -> None:
            if data is None:
                socket.close()
                return
            if op is not OpcodeType.CONTINUATION:
                self.message_kind = op

            def read_next() -> None:
                self.handle_session(request, socket)

            if self.message_kind is OpcodeType.TEXT:
                text = self.decoder.decode(data, fin)
                socket.send_string_message(text, final=fin, callback=read_next)
            else:
                socket.send_binary_message(data, final=fin, callback=read_next)

        socket.read_bytes_message(on_frame)


def main() -> None:
    parser = argparse.ArgumentParser(description="perfectws echo for Autobahn")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--cert", help="TLS certificate (path or PEM): serve wss")
    parser.add_argument("--key", help="TLS private key (path or PEM)")
    parser.add_argument(
        "--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)"
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="accept permessage-deflate (RFC 7692; Autobahn cases 12.* and 13.*)",
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=16 * 1024 * 1024,
        help="close with 1009 when a message (inflated) grows past this many bytes",
    )
    args = parser.parse_args()
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    logging.basicConfig(level=logging.WARNING)

    def producer(
        request: HTTPRequest, protocols: list[str]
    ) -> WebSocketSessionHandler | None:
        return FrameEchoHandler()

    routes = Routes()
    routes[GET, "/echo"] = WebSocketHandler(
        handler_producer=producer,
        max_message_size=args.max_message_size,
        compression="deflate" if args.deflate else None,
    ).handle_request
    server = HTTPServer(server_port=args.port, server_address=args.host)
    if args.cert is not None:
        server.ssl = (args.cert, args.key)
    server.add_routes(routes)
    server.start()


if __name__ == "__main__":
    main()
