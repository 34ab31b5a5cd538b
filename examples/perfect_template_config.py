"""Perfect 3's ``HTTPServer.launch(configurationData:)`` main, ported line by line.

Ports PerfectlySoft/PerfectTemplate ``Sources/main.swift`` (commit 2393324):
a hello-world handler at ``/``, ``PerfectHTTPServer.HTTPHandler.staticFiles``
under ``/**`` and the ``PerfectHTTPServer.HTTPFilter.contentCompression``
response filter, all in one configuration dictionary. The ``/echo`` route is
a handler generator as in PerfectExamples/Perfect-Unscrambler-WebSocket
``Sources/main.swift`` (``socketHandler(data:)``).

Additions: ``--port``, ``--host``, and ``--cert`` / ``--key``, which add the
server's ``tlsConfig`` (``certPath``, ``keyPath``).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

# The /echo route is an addition to the Swift original: the echo example's own
# EchoHandler serves it (examples/ is on sys.path when a script here runs).
from echo_server import EchoHandler

from perfectws import (
    HTTPFilter,
    HTTPHandler,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    RequestHandler,
    WebSocketHandler,
    WebSocketSessionHandler,
)

WEBROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "webroot")


# An example request handler.
# This 'handler' function can be referenced directly in the configuration below.
def handler(request: HTTPRequest, response: HTTPResponse) -> None:
    # Respond with a simple message.
    response.set_header("Content-Type", "text/html")
    response.append_body(
        string="<html><title>Hello, world!</title><body>Hello, world!</body></html>"
    )
    # Ensure that response.completed() is called when your processing is done.
    response.completed()


def socket_handler(data: dict[str, Any]) -> RequestHandler:
    def handle(request: HTTPRequest, response: HTTPResponse) -> None:
        def producer(
            request: HTTPRequest, protocols: list[str]
        ) -> WebSocketSessionHandler | None:
            if "echo" not in protocols:
                return None
            return EchoHandler(print_messages=False)

        WebSocketHandler(handler_producer=producer).handle_request(request, response)

    return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--cert", help="TLS certificate file: serve https")
    parser.add_argument("--key", help="TLS private key file")
    args = parser.parse_args()

    # Configuration data for an example server.
    server: dict[str, Any] = {
        "name": "localhost",
        "address": args.host,
        "port": args.port,
        "routes": [
            {"method": "get", "uri": "/", "handler": handler},
            {"method": "get", "uri": "/echo", "handler": socket_handler},
            {
                "method": "get",
                "uri": "/**",
                "handler": HTTPHandler.static_files,
                "documentRoot": WEBROOT,
                "allowResponseFilters": True,
            },
        ],
        "filters": [
            {
                "type": "response",
                "priority": "high",
                "name": HTTPFilter.content_compression,
            }
        ],
    }
    if args.cert is not None:
        server["tlsConfig"] = {"certPath": args.cert, "keyPath": args.key}
    conf_data = {"servers": [server]}

    # Launch the servers based on the configuration data.
    HTTPServer.launch(configuration_data=conf_data)


if __name__ == "__main__":
    main()
