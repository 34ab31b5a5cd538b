"""From Tornado's parsed request to a Perfect handler: the dispatcher and one exchange.

:class:`Dispatcher` is the ``HTTPServerConnectionDelegate`` Tornado's HTTP
server calls for every request (there is no ``tornado.web.Application`` in
the path); :class:`Exchange` builds Perfect's ``HTTPRequest`` and
``HTTPResponse`` for one request and runs the filters and the route.

The dispatcher also knows each open HTTP connection and whether a request is
in flight on it, so that a draining server closes idle keep-alive
connections at once and the others as soon as their response is out
(Tornado's ``close_all_connections`` would cut requests in flight).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from tornado import httputil

from .filters import run_request_filters
from .method import HTTPMethod
from .request import HTTPRequest
from .response import HTTPResponse, complete_text
from .routing import RequestHandler
from .static import StaticFileHandler

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection, HTTP1ServerConnection

    from .server import HTTPServer

__all__ = ["HEADER_READ_CAP", "Dispatcher", "Exchange"]

logger = logging.getLogger("perfectws.server")

# How far Tornado reads a request head before giving up silently: past
# HTTPServer.max_header_size and up to this, the answer is 431.
HEADER_READ_CAP: Final = 256 * 1024


class Dispatcher(httputil.HTTPServerConnectionDelegate):
    """Hands each request Tornado parses to an exchange bound to this server."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        #: Open HTTP connections, each with whether a request is in flight on
        #: it (headers received, response not finished); a connection leaves
        #: when Tornado closes it (perfectws/_accept.py, ``on_close``).
        self.connections: dict[HTTP1ServerConnection, bool] = {}
        self._draining = False

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        conn: HTTP1ServerConnection = server_conn  # type: ignore[assignment]
        if self._draining:
            # Between two requests on a keep-alive connection: the previous
            # response is out, no new request is taken.
            conn.stream.close()
        else:
            self.connections[conn] = False
        return Exchange(self._server, request_conn, self, conn)  # type: ignore[arg-type]

    def drain(self) -> None:
        """Close idle connections now; the others once their response is out."""
        self._draining = True
        for conn, busy in list(self.connections.items()):
            if not busy:
                conn.stream.close()

    def abort(self) -> None:
        """Close every HTTP connection now, requests in flight or not."""
        self._draining = True
        for conn in list(self.connections):
            conn.stream.close()


class Exchange(httputil.HTTPMessageDelegate):
    """One request/response pair on a connection."""

    __slots__ = (
        "_body",
        "_connection",
        "_dispatcher",
        "_headers",
        "_server",
        "_server_conn",
        "_start_line",
    )

    def __init__(
        self,
        server: HTTPServer,
        connection: HTTP1Connection,
        dispatcher: Dispatcher,
        server_conn: HTTP1ServerConnection,
    ) -> None:
        self._server = server
        self._connection = connection
        self._dispatcher = dispatcher
        self._server_conn = server_conn
        self._start_line: httputil.RequestStartLine | None = None
        self._headers: httputil.HTTPHeaders | None = None
        self._body: list[bytes] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self._start_line = start_line
        self._headers = headers
        connections = self._dispatcher.connections
        if self._server_conn in connections:
            connections[self._server_conn] = True

    def data_received(self, chunk: bytes) -> None:
        self._body.append(chunk)

    def finish(self) -> None:
        start_line, headers = self._start_line, self._headers
        assert start_line is not None and headers is not None
        connection = self._connection
        server = self._server
        try:
            method = HTTPMethod(start_line.method)
        except ValueError:
            method = None
        context: Any = getattr(connection, "context", None)
        address = getattr(context, "address", None)
        request = HTTPRequest(
            method if method is not None else HTTPMethod.GET,
            start_line.path,
            headers,
            version=start_line.version,
            body=b"".join(self._body),
            remote_address=address if isinstance(address, tuple) else None,
            document_root=server._document_root,
            server_context=server._context,
            scheme="http" if server.ssl is None else "https",
        )
        response = HTTPResponse(request, connection, server._response_filters)
        if server._operations.begin(request, response):
            return  # a health check or /metrics, answered before the filters
        if _head_size(start_line, headers) > server.max_header_size:
            complete_text(
                response,
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"request headers over {server.max_header_size} bytes",
            )
            return
        if method is None:
            complete_text(
                response, HTTPStatus.NOT_IMPLEMENTED, "method not implemented"
            )
            return
        if server._request_filters:
            run_request_filters(
                server._request_filters, request, response, self._route, _fail
            )
        else:
            self._route(request, response)

    def _route(self, request: HTTPRequest, response: HTTPResponse) -> None:
        """Find the handler and run it; 404 if none, 500 if it raises."""
        server = self._server
        method = request.method
        match = server.routes.match(method, request.path)
        handler: RequestHandler
        if match is None:
            if server._serves_document_root and method is HTTPMethod.GET:
                handler = StaticFileHandler(server.document_root).handle_request
            else:
                complete_text(
                    response, HTTPStatus.NOT_FOUND, "No matching route was found."
                )
                return
        else:
            request.url_variables = match.url_variables
            handler = match.handler
        try:
            handler(request, response)
        except Exception:
            logger.exception("request handler failed for %s %s", method, request.uri)
            if response._headers_sent:
                # Part of a response is out: a 500 now would be appended to its
                # body. Dropping the connection tells the client it is truncated.
                if not response.is_completed:
                    response._abort()
            else:
                _fail(response)

    def on_connection_close(self) -> None:
        pass


def _fail(response: HTTPResponse) -> None:
    """Answer 500 in place of whatever the failed code left in ``response``."""
    response.headers.clear()
    response.is_streaming = False
    complete_text(response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")


def _head_size(
    start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
) -> int:
    """The size of the request line and headers as sent (give or take spaces)."""
    size = len(start_line.method) + len(start_line.path) + len(start_line.version) + 4
    for name, value in headers.get_all():
        size += len(name) + len(value) + 4
    return size
