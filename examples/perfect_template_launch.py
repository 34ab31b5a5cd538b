"""Perfect 3's ``HTTPServer.launch(name:port:routes:)`` main, ported line by line.

Ports PerfectlySoft/PerfectTemplate ``Sources/PerfectTemplate/main.swift``
(commit 1778d08): a tiny URL shortener with ``/add``, ``/get/{key}`` and
static files under ``/**``, launched with ``HTTPServer.launch(name:port:routes:)``.
The SQLite table (Perfect-CRUD) becomes a dict and the Mustache page a JSON
body; the routes, statuses and redirects are the template's.

Additions: Perfect's echo example's ``/echo`` WebSocket route, ``--port``, ``--host``, and
``--cert`` / ``--key``, which launch
``HTTPServer.Server.secure_server(TLSConfiguration(...), ...)`` instead.
"""

from __future__ import annotations

import argparse
import os
import secrets

# The /echo route is an addition to the Swift original: the echo example's own
# EchoHandler serves it (examples/ is on sys.path when a script here runs).
from echo_server import EchoHandler

from perfectws import (
    GET,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    Routes,
    StaticFileHandler,
    TLSConfiguration,
    WebSocketHandler,
    WebSocketSessionHandler,
)

WEBROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "webroot")

# TinyURL's table: key -> url.
urls: dict[str, str] = {}


def add_url(request: HTTPRequest, response: HTTPResponse) -> None:
    form = dict(
        pair.split("=", 1) for pair in request.body.decode().split("&") if "=" in pair
    )
    url = form.get("url", "")
    if not url.startswith(("http://", "https://")):
        response.add_header("Location", "/").completed(status=302)
        return
    key = secrets.token_urlsafe(6)
    urls[key] = url
    response.add_header("Location", f"/get/{key}").completed(status=302)


def fetch_url(request: HTTPRequest, response: HTTPResponse) -> None:
    key = request.url_variables.get("key")
    if key is None or key not in urls:
        response.add_header("Location", "/").completed(status=302)
        return
    response.set_body(json={"key": key, "url": urls[key]}).completed()


def echo_producer(
    request: HTTPRequest, protocols: list[str]
) -> WebSocketSessionHandler | None:
    return EchoHandler(print_messages=False) if "echo" in protocols else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--cert", help="TLS certificate (path or PEM): serve https")
    parser.add_argument("--key", help="TLS private key (path or PEM)")
    args = parser.parse_args()

    routes = Routes()
    routes.add(uri="/add", handler=add_url)
    routes.add(uri="/get/{key}", handler=fetch_url)
    routes.add(
        method=GET,
        uri="/echo",
        handler=WebSocketHandler(handler_producer=echo_producer).handle_request,
    )
    routes.add(
        uri="/**", handler=StaticFileHandler(document_root=WEBROOT).handle_request
    )
    if args.cert is not None:
        tls = TLSConfiguration(cert_path=args.cert, key_path=args.key)
        HTTPServer.launch(
            HTTPServer.Server(
                name="localhost",
                address=args.host,
                port=args.port,
                routes=routes,
                tls_config=tls,
            )
        )
    elif args.host in ("0.0.0.0", "::"):
        # Perfect's launch(name:port:routes:) listens on every address ("::").
        HTTPServer.launch(name="localhost", port=args.port, routes=routes)
    else:
        HTTPServer.launch(
            HTTPServer.Server(
                name="localhost", address=args.host, port=args.port, routes=routes
            )
        )


if __name__ == "__main__":
    main()
