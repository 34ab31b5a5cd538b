"""Perfect 1.x's WebSocket server main, ported line by line.

Ports thinkaboutiter/Perfect-WebSocketsServer ``Sources/main.swift`` (the
Perfect 1.x era WebSocketsServer example: ``PerfectServer.initializeServices()``,
``addWebSocketsHandler()``, ``HTTPServer(documentRoot:).start(port:)``) and its
``Sources/WebSocketsHandler.swift`` (Perfect's echo routes).

Additions for testing and deployment: ``--port``, ``--host``, and ``--cert`` /
``--key``, which use Perfect 1.x's ``start(port:sslCert:sslKey:bindAddress:)``.
"""

from __future__ import annotations

import argparse
import os

from perfectws import (
    GET,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    OpcodeType,
    PerfectServer,
    Routing,
    StaticFileHandler,
    WebSocket,
    WebSocketHandler,
    WebSocketSessionHandler,
)


def add_websockets_handler() -> None:
    # Add a default route which lets us serve the static index.html file
    Routing.Routes["*"] = lambda request, response: StaticFileHandler().handle_request(
        request, response
    )

    # Add the endpoint for the WebSocket example system
    def echo(request: HTTPRequest, response: HTTPResponse) -> None:
        def handler_producer(
            request: HTTPRequest, protocols: list[str]
        ) -> WebSocketSessionHandler | None:
            # Check to make sure the client is requesting our "echo" service.
            if "echo" not in protocols:
                return None
            return EchoHandler()

        WebSocketHandler(handler_producer=handler_producer).handle_request(
            request, response
        )

    Routing.Routes[GET, "/echo"] = echo


class EchoHandler:
    socket_protocol: str | None = "echo"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_message(string: str | None, op: OpcodeType, fin: bool) -> None:
            if string is None:
                socket.close()
                return
            print(f"Read msg: {string} op: {op} fin: {fin}")
            socket.send_string_message(
                string,
                final=True,
                callback=lambda: self.handle_session(request, socket),
            )

        socket.read_string_message(on_message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--cert", help="TLS certificate (path or PEM): serve https")
    parser.add_argument("--key", help="TLS private key (path or PEM)")
    args = parser.parse_args()

    # Initialize base-level services
    PerfectServer.initialize_services()

    # Create our webroot
    web_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "webroot")
    os.makedirs(web_root, exist_ok=True)

    # Add our routes and such
    add_websockets_handler()

    # Launch the HTTP server on port 8181
    if args.cert is not None:
        HTTPServer(document_root=web_root).start(
            port=args.port, ssl_cert=args.cert, ssl_key=args.key, bind_address=args.host
        )
    else:
        HTTPServer(document_root=web_root).start(port=args.port, bind_address=args.host)


if __name__ == "__main__":
    main()
