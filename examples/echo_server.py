"""Perfect's WebSocket echo example, ported line by line.

Run ``python examples/echo_server.py`` and open http://localhost:8181/ for the
browser demo; ``--port`` picks another port and ``--host`` the address to bind
("::" for IPv4 and IPv6); ``--cert`` / ``--key`` serve it over https (and the
echo over wss) on that port. SIGTERM or Ctrl-C stops it gracefully (README,
"Running in production"). The Swift original is quoted in
the README beside this file's ``EchoHandler``.
"""

from __future__ import annotations

import argparse
import logging
import os

from perfectws import (
    GET,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    OpcodeType,
    Routing,
    StaticFileHandler,
    WebSocket,
    WebSocketHandler,
    WebSocketSessionHandler,
)

WEBROOT = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "webroot")
)


def add_websockets_handler() -> None:
    # Add the endpoint for the WebSocket example system
    def echo_route(request: HTTPRequest, response: HTTPResponse) -> None:
        # To add a WebSocket service, set the handler to WebSocketHandler.
        # Provide your closure which will return your service handler.
        def handler_producer(
            request: HTTPRequest, protocols: list[str]
        ) -> WebSocketSessionHandler | None:
            # Check to make sure the client is requesting our "echo" service.
            if "echo" not in protocols:
                return None
            # Return our service handler.
            return EchoHandler()

        WebSocketHandler(handler_producer=handler_producer).handle_request(
            request, response
        )

    Routing.Routes[GET, "/echo"] = echo_route


# A WebSocket service handler must implement the `WebSocketSessionHandler` protocol.
# This protocol requires the function `handle_session(request, socket)`.
# This function will be called once the WebSocket connection has been established,
# at which point it is safe to begin reading and writing messages.
#
# The initial `HTTPRequest` object which instigated the session is provided for
# reference. Messages are transmitted through the provided `WebSocket` object.
# Call `send_string_message` or `send_binary_message` to send data to the client.
# Call `read_string_message` or `read_bytes_message` to read data from the client.
# By default, reading waits indefinitely until a message arrives or a network
# error occurs. A read timeout can be set with `socket.read_timeout_seconds`.
# When the session is over call `socket.close()`.
class EchoHandler:
    # The name of the super-protocol we implement.
    # This is optional, but it should match whatever the client-side WebSocket is
    # initialized with.
    socket_protocol: str | None = "echo"

    # Not in Perfect's example: `EchoHandler(print_messages=False)` echoes
    # without the print below, for the test suite and the benchmark
    # (bench/servers/perfectws_echo.py), which import this handler instead of
    # keeping copies of it.
    def __init__(self, print_messages: bool = True) -> None:
        self.print_messages = print_messages

    # This function is called by the WebSocketHandler once the connection has been
    # established.
    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        # Read a message from the client as a string.
        # Alternatively we could call `read_bytes_message` to get binary data.
        def on_message(string: str | None, op: OpcodeType, fin: bool) -> None:
            # This callback is provided:
            #   the received data
            #   the message's op-code
            #   a boolean indicating if the message is complete (as opposed to
            #   fragmented)
            # The data parameter might be None here if either a timeout or a network
            # error, such as the client disconnecting, occurred.
            # By default there is no timeout.
            if string is None:
                # This block will be executed if, for example, the browser window
                # is closed.
                socket.close()
                return
            # Print some information to the console for informational purposes.
            if self.print_messages:
                print(f"Read msg: {string} op: {op} fin: {fin}")
            # Echo the data we received back to the client.
            # Pass True for final. This will usually be the case, but WebSockets
            # has the concept of fragmented messages.
            socket.send_string_message(
                string,
                final=True,
                # This callback is called once the message has been sent.
                # Recurse to read and echo new message.
                callback=lambda: self.handle_session(request, socket),
            )

        socket.read_string_message(on_message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181, help="default: 8181")
    parser.add_argument(
        "--host",
        default="0.0.0.0",
        help='address to bind: "::" for IPv4 and IPv6, a literal or a host name '
        "(default: 0.0.0.0, Perfect's)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds SIGTERM waits for clients to close before dropping them "
        "(default: 10)",
    )
    parser.add_argument(
        "--ping-interval",
        type=lambda v: None if v == "off" else float(v),
        default=20.0,
        help="seconds of silence before a keepalive ping; 'off' for none (default: 20)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=20.0,
        help="seconds a ping may go unanswered before 1011 (default: 20)",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="worker processes (default: 1)"
    )
    parser.add_argument("--cert", help="TLS certificate (path or PEM): serve https")
    parser.add_argument("--key", help="TLS private key (path or PEM)")
    parser.add_argument(
        "--no-uvloop",
        action="store_true",
        help="stay on asyncio's own loop even if uvloop is installed",
    )
    args = parser.parse_args()
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    # Set the static file handler for every other request: the browser demo.
    Routing.Routes["*"] = lambda request, response: StaticFileHandler().handle_request(
        request, response
    )
    add_websockets_handler()

    server = HTTPServer(
        server_port=args.port,
        server_address=args.host,
        document_root=WEBROOT,
        processes=args.processes,
        use_uvloop=not args.no_uvloop,
        shutdown_timeout=args.shutdown_timeout,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
    )
    if args.cert is not None:
        # Perfect's `server.ssl = (sslCert:, sslKey:)`: https and wss on this port.
        server.ssl = (args.cert, args.key)
    scheme = "https" if server.ssl is not None else "http"
    print(
        f"Serving the demo on {scheme}://localhost:{args.port}/ (Ctrl-C stops)",
        flush=True,
    )
    server.start()


if __name__ == "__main__":
    main()
