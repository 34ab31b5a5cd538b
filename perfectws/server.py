"""The HTTP server: Perfect's ``HTTPServer`` on Tornado's HTTP/1.1 server.

Tornado parses requests and writes responses; perfectws routes each request
straight to a Perfect-style ``(request, response)`` handler. There is no
``tornado.web.Application`` in the path: a WebSocket upgrade costs one route
lookup and one handler call before the connection leaves Tornado.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl as _ssl
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

import tornado.httpserver
import tornado.netutil
from tornado import httputil
from tornado.ioloop import IOLoop

from .exceptions import ArgumentError
from .filters import (
    HTTPFilterPriority,
    HTTPRequestFilter,
    HTTPResponseFilter,
    group_by_priority,
    run_request_filters,
)
from .method import HTTPMethod
from .request import HTTPRequest, ServerContext
from .response import HTTPResponse, complete_text
from .routing import RequestHandler, Routes, Routing
from .settings import DEFAULT_SETTINGS, WebSocketSettings
from .static import StaticFileHandler
from .tls import DEFAULT_CIPHER_LIST, OpenSSLVerifyMode, make_ssl_context

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection

    from .config import Server as _Server
    from .launch import LaunchContext
    from .websocket import WebSocket

__all__ = ["HTTPServer"]

logger = logging.getLogger(__name__)


class HTTPServer:
    """Serves routes and the document root on one port.

    Swift: ``HTTPServer()`` with ``serverPort``, ``serverAddress``,
    ``documentRoot``, ``addRoutes(_:)``, ``start()`` and ``stop()``.

    ``start()`` blocks, as Perfect's does, until SIGINT or SIGTERM. To embed the
    server in a running IOLoop (or a test), call :meth:`listen`, which returns
    the port (``server_port=0`` picks a free one), and later :meth:`stop`.

    When no routes were added, the process-wide ``Routing.Routes`` registry of
    Perfect 1.x is served, so a port of the seed's ``Routing.Routes[...] = ...``
    lines works unchanged.

    ``start()`` runs on uvloop when it is installed (``pip install
    'perfectws[speed]'``) unless ``use_uvloop=False``; :meth:`listen` serves
    on whatever loop is running.

    Setting ``ssl = (ssl_cert, ssl_key)`` (paths or PEM text) serves https,
    with ``ca_cert``, ``cert_verify_mode`` and ``cipher_list`` as in Perfect.
    Assigning ``document_root`` after construction also serves static files
    from it for GET requests no route matches, as Perfect 2+'s ``documentRoot``
    setter adds a ``GET /**`` route. ``HTTPServer.launch(...)`` and
    ``HTTPServer.Server`` are Perfect 3's launch API (:mod:`perfectws.launch`).

    Differs from Perfect: ``processes=N`` forks N workers sharing the listening
    socket (Tornado's pre-fork model); Perfect runs one process.
    """

    #: Perfect 3's ``HTTPServer.Server`` (:class:`perfectws.config.Server`)
    #: and ``HTTPServer.launch(...)`` (:func:`perfectws.launch.launch`).
    #: perfectws/launch.py sets both when the package is imported: it sits
    #: above this module, which must not import it back.
    Server: ClassVar[type[_Server]]
    launch: ClassVar[Callable[..., list[LaunchContext]]]

    def __init__(
        self,
        server_port: int = 8181,
        document_root: str = "./webroot",
        server_address: str = "0.0.0.0",
        *,
        server_name: str = "",
        processes: int = 1,
        use_uvloop: bool = True,
        idle_connection_timeout: float = 60.0,
        body_timeout: float = 60.0,
        max_header_size: int = 16 * 1024,
        max_body_size: int = 16 * 1024 * 1024,
        ping_interval: float | None = DEFAULT_SETTINGS.ping_interval,
        ping_timeout: float = DEFAULT_SETTINGS.ping_timeout,
        close_timeout: float = DEFAULT_SETTINGS.close_timeout,
        max_send_queue: int = DEFAULT_SETTINGS.max_send_queue,
    ) -> None:
        #: Swift: ``var serverPort: UInt16``
        self.server_port = server_port
        # Swift's init does not run the documentRoot observer either.
        self._document_root = document_root
        self._serves_document_root = False
        #: Swift: ``var serverAddress: String``
        self.server_address = server_address
        #: Swift: ``var serverName: String``
        self.server_name = server_name
        #: Worker processes ``start()`` forks, all accepting on one port.
        self.processes = processes
        #: Whether ``start()`` runs on uvloop when it is installed
        #: (``pip install 'perfectws[speed]'``).
        self.use_uvloop = use_uvloop
        #: Seconds a connection may wait for (the rest of) a request's headers.
        self.idle_connection_timeout = idle_connection_timeout
        #: Seconds a request's declared body may take to arrive.
        self.body_timeout = body_timeout
        #: Bytes of request line and headers answered with 431 beyond this.
        #: Tornado itself reads up to _HEADER_READ_CAP and drops the
        #: connection without an answer past that.
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        #: WebSocket keepalive, timeouts and caps (:class:`WebSocketSettings`
        #: says what each does); read when the server starts listening.
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_send_queue = max_send_queue
        self._session_settings = DEFAULT_SETTINGS
        #: ``(ssl_cert, ssl_key)``, each a path or PEM text; set it to serve
        #: https. Swift: ``var ssl: (sslCert: String, sslKey: String)?``
        self.ssl: tuple[str, str] | None = None
        #: The CA for client certificates. Swift: ``var caCert: String?``
        self.ca_cert: str | None = None
        #: Swift: ``var certVerifyMode: OpenSSLVerifyMode?``
        self.cert_verify_mode: OpenSSLVerifyMode | None = None
        #: Swift: ``var cipherList: [String]``
        self.cipher_list: list[str] = list(DEFAULT_CIPHER_LIST)
        self._request_filters: list[list[HTTPRequestFilter]] = []
        self._response_filters: list[list[HTTPResponseFilter]] = []
        self._routes: Routes | None = None
        self._tornado_server: tornado.httpserver.HTTPServer | None = None
        self._websockets: set[WebSocket] = set()

    @property
    def document_root(self) -> str:
        """Where static files are looked up. Swift: ``var documentRoot: String``

        Assigning it, as in Perfect 2+, also serves its files for GET
        requests that no route matches (Perfect adds ``GET /**``), and
        creates the folder if it is missing.
        """
        return self._document_root

    @document_root.setter
    def document_root(self, value: str) -> None:
        self._document_root = value
        os.makedirs(value, exist_ok=True)
        self._serves_document_root = True

    def set_request_filters(
        self, request: Iterable[tuple[HTTPRequestFilter, HTTPFilterPriority]]
    ) -> HTTPServer:
        """Add request filters, each with its priority; high ones run first.

        Swift: ``func setRequestFilters(_ request: [(HTTPRequestFilter,
        HTTPFilterPriority)]) -> HTTPServer``

        Filters of equal priority keep the order given; a second call adds
        groups that run after those of the first, as in Perfect.
        """
        group_by_priority(request, self._request_filters)
        return self

    def set_response_filters(
        self, response: Iterable[tuple[HTTPResponseFilter, HTTPFilterPriority]]
    ) -> HTTPServer:
        """Add response filters, each with its priority; high ones run first.

        Swift: ``func setResponseFilters(_ response: [(HTTPResponseFilter,
        HTTPFilterPriority)]) -> HTTPServer``
        """
        group_by_priority(response, self._response_filters)
        return self

    def add_routes(self, routes: Routes) -> None:
        """Serve these routes (may be called more than once; routes merge).

        Swift: ``func addRoutes(_ routes: Routes)``
        """
        if self._routes is None:
            self._routes = Routes()
        self._routes.add(routes)

    @property
    def routes(self) -> Routes:
        """The routes served: those added, else the legacy ``Routing.Routes``."""
        return self._routes if self._routes is not None else Routing.Routes

    @property
    def websockets(self) -> frozenset[WebSocket]:
        """The WebSocket sessions open on this server right now."""
        return frozenset(self._websockets)

    def listen(self) -> int:
        """Start serving on the current IOLoop without blocking; return the port.

        Binds ``server_address:server_port`` (port 0 picks a free port, which
        is returned and stored in ``server_port``).
        """
        context = self._ssl_context()
        self._session_settings = self._websocket_settings()
        self._serve(self._bind(), context)
        return self.server_port

    def _bind(self) -> list[socket.socket]:
        # "::" is Perfect 3's default for launch(name:port:...): every
        # address, IPv4 and IPv6, which Tornado binds as two sockets.
        family = socket.AF_UNSPEC if self.server_address == "::" else socket.AF_INET
        return tornado.netutil.bind_sockets(
            self.server_port, self._bind_address(), family=family, reuse_port=False
        )

    def _websocket_settings(self) -> WebSocketSettings:
        return WebSocketSettings(
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
            max_send_queue=self.max_send_queue,
        )

    def _ssl_context(self) -> _ssl.SSLContext | None:
        if self.ssl is None:
            return None
        cert, key = self.ssl
        return make_ssl_context(
            cert, key, self.ca_cert, self.cert_verify_mode, self.cipher_list
        )

    def start(
        self,
        port: int | None = None,
        ssl_cert: str | None = None,
        ssl_key: str | None = None,
        bind_address: str | None = None,
    ) -> None:
        """Serve until SIGINT or SIGTERM, then stop cleanly. Blocks.

        Swift: ``func start() throws``, and Perfect 1.x's
        ``start(port:bindAddress:)`` and ``start(port:sslCert:sslKey:bindAddress:)``,
        which set ``server_port``, ``server_address`` and ``ssl`` first.
        """
        if port is not None:
            self.server_port = port
        if bind_address is not None:
            self.server_address = bind_address
        if (ssl_cert is None) != (ssl_key is None):
            raise ArgumentError("start() takes ssl_cert= and ssl_key= together")
        if ssl_cert is not None and ssl_key is not None:
            self.ssl = (ssl_cert, ssl_key)
        self._ssl_context()  # bad TLS material fails here, before binding
        self._session_settings = self._websocket_settings()
        sockets = self._bind()
        self.server_port = sockets[0].getsockname()[1]
        if self.processes > 1 and not _fork_workers(self.processes):
            return  # the supervising parent: every worker has exited
        with asyncio.Runner(loop_factory=self._loop_factory()) as runner:
            runner.run(self._run_until_signalled(sockets))

    def _loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """uvloop's loop if wanted and installed, else asyncio's default."""
        if not self.use_uvloop:
            return None
        try:
            import uvloop
        except ImportError:
            return None
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory

    async def _run_until_signalled(self, sockets: list[socket.socket]) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self._serve(sockets, self._ssl_context())
        logger.info(
            "serving %s %s on %s:%d (%s)",
            "https" if self.ssl is not None else "http",
            self.document_root,
            self.server_address,
            self.server_port,
            type(loop).__module__.split(".")[0],
        )
        await stop.wait()
        await self.stop()

    async def stop(self) -> None:
        """Stop listening, close every WebSocket with 1001 and every HTTP connection.

        Swift: ``func stop()``
        """
        server = self._tornado_server
        if server is None:
            return
        self._tornado_server = None
        server.stop()
        for ws in list(self._websockets):
            ws.close(1001, "server shutting down")
        await server.close_all_connections()
        deadline = IOLoop.current().time() + 5.0
        while self._websockets and IOLoop.current().time() < deadline:
            await asyncio.sleep(0.01)
        for ws in list(self._websockets):
            ws.abort()

    def _bind_address(self) -> str | None:
        if self.server_address in ("", "0.0.0.0", "::"):
            return None
        return self.server_address

    def _serve(
        self,
        sockets: Iterable[socket.socket],
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        sockets = list(sockets)
        self.server_port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(
            _Dispatcher(self),
            idle_connection_timeout=self.idle_connection_timeout,
            body_timeout=self.body_timeout,
            # Tornado closes without a word when headers overflow its limit;
            # reading a little further lets perfectws answer 431 instead.
            max_header_size=max(self.max_header_size, _HEADER_READ_CAP),
            max_body_size=self.max_body_size,
            ssl_options=ssl_context,
        )
        server.add_sockets(sockets)
        self._tornado_server = server


class _Dispatcher(httputil.HTTPServerConnectionDelegate):
    """Hands each request Tornado parses to an exchange bound to this server."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _Exchange(self._server, request_conn)  # type: ignore[arg-type]

    def on_close(self, server_conn: object) -> None:
        pass


class _Exchange(httputil.HTTPMessageDelegate):
    """One request/response pair on a connection."""

    __slots__ = ("_body", "_connection", "_headers", "_server", "_start_line")

    def __init__(self, server: HTTPServer, connection: HTTP1Connection) -> None:
        self._server = server
        self._connection = connection
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
            document_root=server.document_root,
            server_context=ServerContext(
                connection, server._websockets, server._session_settings
            ),
        )
        response = HTTPResponse(request, connection, server._response_filters)
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


# How far Tornado reads a request head before giving up silently: past
# HTTPServer.max_header_size and up to this, the answer is 431.
_HEADER_READ_CAP = 256 * 1024


def _head_size(
    start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
) -> int:
    """The size of the request line and headers as sent (give or take spaces)."""
    size = len(start_line.method) + len(start_line.path) + len(start_line.version) + 4
    for name, value in headers.get_all():
        size += len(name) + len(value) + 4
    return size


def _fork_workers(count: int) -> bool:
    """Fork ``count`` workers; True in a worker, False in the parent once all exit.

    Forked after binding, so every worker accepts on the same listening socket
    and the kernel spreads connections across them. Tornado's
    ``fork_processes`` is not used because its parent does not pass SIGTERM on:
    stopping the parent would orphan the workers. Here the parent forwards
    SIGINT and SIGTERM to every worker and waits for them all.
    """
    workers: set[int] = set()

    def forward(signum: int, frame: object) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    # Hold SIGINT/SIGTERM back while forking: one that arrived before the
    # parent forwards them would stop the parent alone and orphan the workers.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                # A worker stops on these by default until its loop handles them.
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                return True
            workers.add(pid)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    while workers:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        workers.discard(pid)
    return False
