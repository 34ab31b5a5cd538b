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
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.netutil
from tornado import httputil
from tornado.ioloop import IOLoop

from ._operations import Operations
from .method import HTTPMethod
from .request import HTTPRequest
from .response import HTTPResponse, complete_text
from .routing import Routes, Routing

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection

    from .metrics import ServerMetrics
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

    Differs from Perfect: ``processes=N`` forks N workers sharing the listening
    socket (Tornado's pre-fork model); Perfect runs one process.

    For operating it, none of which Perfect has (README "Running it"):
    ``proxy_headers=True`` takes the client's address and scheme from
    ``X-Forwarded-For``/``X-Forwarded-Proto``/``Forwarded`` sent by a peer in
    ``forwarded_allow_ips`` (addresses, networks or ``*``; 127.0.0.1 by
    default); ``health_checks=True`` answers ``GET /healthz`` (200 while
    running) and ``GET /readyz`` (503 once :attr:`draining`);
    ``metrics=perfectws.metrics.ServerMetrics()`` answers ``GET /metrics``.
    The ``perfectws.access`` logger gets one INFO line per request, upgrade
    and WebSocket close.
    """

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
        proxy_headers: bool = False,
        forwarded_allow_ips: str | Iterable[str] = "127.0.0.1",
        health_checks: bool = False,
        metrics: ServerMetrics | None = None,
    ) -> None:
        #: Swift: ``var serverPort: UInt16``
        self.server_port = server_port
        #: Swift: ``var documentRoot: String``
        self.document_root = document_root
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
        self._routes: Routes | None = None
        self._tornado_server: tornado.httpserver.HTTPServer | None = None
        self._websockets: set[WebSocket] = set()
        # Operating it (perfectws/_operations.py): proxy_headers trusts
        # X-Forwarded-*/Forwarded from forwarded_allow_ips; health_checks
        # answers /healthz and /readyz; metrics answers /metrics.
        #: True once a graceful shutdown has begun: ``/readyz`` answers 503 so
        #: a load balancer stops sending new clients here first.
        self.draining = False
        self._operations = Operations(
            self,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            health_checks=health_checks,
            metrics=metrics,
        )

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
        sockets = tornado.netutil.bind_sockets(
            self.server_port, self._bind_address(), family=socket.AF_INET
        )
        self._serve(sockets)
        return self.server_port

    def start(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop cleanly. Blocks.

        Swift: ``func start() throws``
        """
        sockets = tornado.netutil.bind_sockets(
            self.server_port,
            self._bind_address(),
            family=socket.AF_INET,
            reuse_port=False,
        )
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
        self._serve(sockets)
        logger.info(
            "serving %s on %s:%d (%s)",
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
        self.draining = True
        self._tornado_server = None
        server.stop()
        for ws in list(self._websockets):
            ws.close(1001, "server shutting down")
        await server.close_all_connections()
        deadline = IOLoop.current().time() + 5.0
        while self._websockets and IOLoop.current().time() < deadline:
            await asyncio.sleep(0.01)
        for ws in list(self._websockets):
            ws._abort()
        self._operations.stop()

    def _bind_address(self) -> str | None:
        return None if self.server_address in ("", "0.0.0.0") else self.server_address

    def _serve(self, sockets: Iterable[socket.socket]) -> None:
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
        )
        server.add_sockets(sockets)
        self._tornado_server = server
        self.draining = False
        self._operations.start()

    def _track(self, ws: WebSocket) -> None:
        self._websockets.add(ws)
        self._operations.session_opened(ws)

    def _untrack(self, ws: WebSocket) -> None:
        self._websockets.discard(ws)
        self._operations.session_closed(ws)


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
            connection=connection,
            document_root=server.document_root,
            server=server,
        )
        response = HTTPResponse(request, connection)
        if server._operations.begin(request, response):
            return
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
        match = server.routes.match(method, request.path)
        if match is None:
            complete_text(
                response, HTTPStatus.NOT_FOUND, "No matching route was found."
            )
            return
        request.url_variables = match.url_variables
        try:
            match.handler(request, response)
        except Exception:
            logger.exception("request handler failed for %s %s", method, request.uri)
            if response._headers_sent:
                # Part of a response is out: a 500 now would be appended to its
                # body. Dropping the connection tells the client it is truncated.
                if not response.is_completed:
                    connection.close()
            else:
                response.headers.clear()
                complete_text(
                    response, HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"
                )

    def on_connection_close(self) -> None:
        pass


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
