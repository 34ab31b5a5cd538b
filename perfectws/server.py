"""The HTTP server: Perfect's ``HTTPServer`` on Tornado's HTTP/1.1 server.

Tornado parses requests and writes responses; perfectws routes each request
straight to a Perfect-style ``(request, response)`` handler. There is no
``tornado.web.Application`` in the path: a WebSocket upgrade costs one route
lookup and one handler call before the connection leaves Tornado.

Why over 450 lines (issue 10): it is one class, ``HTTPServer``, with Perfect's
properties and methods; its ``__init__`` alone is about 90 lines, most of them
the ``#:`` docs of each attribute, each naming its Swift counterpart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl as _ssl
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Final

import tornado.netutil
from tornado.ioloop import PeriodicCallback

from ._accept import Acceptor, TornadoHTTPServer
from ._drain import close_sessions, drain, settle_tasks
from ._exchange import HEADER_READ_CAP, Dispatcher
from ._operations import Operations
from ._session import keepalive_sweep
from ._workers import supervise, unblock_stop_signals
from .exceptions import ArgumentError
from .filters import (
    HTTPFilterPriority,
    HTTPRequestFilter,
    HTTPResponseFilter,
    group_by_priority,
)
from .request import ServerContext
from .routing import Routes, Routing
from .settings import DEFAULT_SETTINGS, WebSocketSettings
from .tls import DEFAULT_CIPHER_LIST, OpenSSLVerifyMode, make_ssl_context

if TYPE_CHECKING:
    from .config import Server as _Server
    from .launch import LaunchContext
    from .metrics import ServerMetrics
    from .websocket import WebSocket

__all__ = ["HTTPServer"]

#: Seconds after a stop signal within which another one counts as the same.
REPEAT_GAP: Final = 0.5

logger = logging.getLogger(__name__)


class HTTPServer:
    """Serves routes and the document root on one port.

    Swift: ``HTTPServer()`` with ``serverPort``, ``serverAddress``,
    ``documentRoot``, ``addRoutes(_:)``, ``start()`` and ``stop()``.

    ``start()`` blocks, as Perfect's does, until SIGINT or SIGTERM. To embed the
    server in a running IOLoop (or a test), call :meth:`listen`, which returns
    the port (``server_port=0`` picks a free one), and later :meth:`stop`.

    When no routes were added, the process-wide ``Routing.Routes`` registry of
    Perfect 1.x is served, so a port of Perfect 1.x's ``Routing.Routes[...] = ...``
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
        idle_connection_timeout: float = 30.0,
        body_timeout: float = 60.0,
        max_header_size: int = 16 * 1024,
        max_body_size: int = 16 * 1024 * 1024,
        ping_interval: float | None = DEFAULT_SETTINGS.ping_interval,
        ping_timeout: float = DEFAULT_SETTINGS.ping_timeout,
        close_timeout: float = DEFAULT_SETTINGS.close_timeout,
        max_send_queue: int = DEFAULT_SETTINGS.max_send_queue,
        max_message_size: int = DEFAULT_SETTINGS.max_message_size,
        shutdown_timeout: float = 10.0,
        proxy_headers: bool = False,
        forwarded_allow_ips: str | Iterable[str] = "127.0.0.1",
        health_checks: bool = False,
        metrics: ServerMetrics | None = None,
    ) -> None:
        # Long (issue 10), but each statement sets one documented attribute;
        # split up, the docs would be scattered away from the names.
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
        #: Seconds from a connection's start (or the end of its previous
        #: response) until a request's headers are complete: one deadline,
        #: not reset by each byte that arrives, so a client trickling its
        #: headers (slowloris) is closed as surely as an idle keep-alive one.
        self.idle_connection_timeout = idle_connection_timeout
        #: Seconds a request's declared body may take to arrive.
        self.body_timeout = body_timeout
        #: Bytes of request line and headers answered with 431 beyond this.
        #: Tornado itself reads up to HEADER_READ_CAP and drops the
        #: connection without an answer past that.
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        #: WebSocket keepalive, timeouts and caps (:class:`WebSocketSettings`
        #: says what each does); read when the server starts listening.
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_send_queue = max_send_queue
        self.max_message_size = max_message_size
        self._session_settings = DEFAULT_SETTINGS
        #: Seconds a shutdown waits for closing handshakes and responses in
        #: flight before it drops what is left (perfectws/_drain.py).
        self.shutdown_timeout = shutdown_timeout
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
        self._acceptor: Acceptor | None = None
        self._dispatcher: Dispatcher | None = None
        # Operating it (perfectws/_operations.py): proxy_headers trusts
        # X-Forwarded-*/Forwarded from forwarded_allow_ips; health_checks
        # answers /healthz and /readyz; metrics answers /metrics.
        self._operations = Operations(
            self,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            health_checks=health_checks,
            metrics=metrics,
        )
        self._websockets: set[WebSocket] = _Sessions(self._operations)
        # What every request's handlers may use of this server (request.py),
        # and the keepalive sweep over its sessions; both made by _serve.
        self._context: ServerContext | None = None
        self._keepalive: PeriodicCallback | None = None
        self._draining = False
        self._signalled_at = 0.0
        self._force = asyncio.Event()

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

    @property
    def draining(self) -> bool:
        """True from the moment a shutdown begins: a readiness check should fail.

        Swift: none; Perfect stops at once. A load balancer that polls a
        readiness route reading this stops sending new clients while the
        open ones are closed (1001) and the requests in flight finish.

        Setting it to True without stopping makes ``/readyz`` fail ahead of
        a deploy, so the load balancer moves traffic away first; the server
        serves on until it is stopped.
        """
        return self._draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self._draining = value

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
        address = self.server_address.strip()
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]  # "[::1]", as in a URL
        if address in ("", "0.0.0.0"):
            # Perfect's default: every IPv4 address, as Perfect binds it.
            host, family = None, socket.AF_INET
        elif address == "::":
            # Perfect 3's default for launch(name:port:...): every address,
            # IPv4 and IPv6, which Tornado binds as two sockets (v6 only on
            # the second, so neither shadows the other).
            host, family = None, socket.AF_UNSPEC
        else:
            # An IPv4 or IPv6 literal, or a name: every address it resolves
            # to ("localhost": 127.0.0.1 and ::1), on one port.
            host, family = address, socket.AF_UNSPEC
        return tornado.netutil.bind_sockets(
            self.server_port, host, family=family, reuse_port=False
        )

    def _websocket_settings(self) -> WebSocketSettings:
        return WebSocketSettings(
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
            max_send_queue=self.max_send_queue,
            max_message_size=self.max_message_size,
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
        if self.processes > 1 and not supervise(self.processes, sockets):
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

        def on_signal() -> None:
            self._signalled()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        # A worker holds them blocked since its fork; one that came meanwhile
        # is handled now.
        unblock_stop_signals()
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
        if not await settle_tasks(self._force):
            # The sessions are closed and the responses sent; what is left is
            # application tasks stuck in their clean-up, which asyncio.Runner
            # would wait for forever. Exit 0 as a completed shutdown does.
            logging.shutdown()
            os._exit(0)

    def _signalled(self) -> None:
        """SIGINT or SIGTERM: begin the shutdown; a later one ends it at once.

        A repeat within REPEAT_GAP of the first is the same stop request
        arriving twice, not a second one: a terminal's Ctrl-C and systemd's
        default KillMode signal every process of the group, and a worker's
        parent passes the signal on as well.
        """
        now = time.monotonic()
        if not self._draining:
            self._signalled_at = now
            self._begin_shutdown()
        elif now - self._signalled_at >= REPEAT_GAP:
            self._force.set()

    def _begin_shutdown(self) -> None:
        """Refuse new connections and send every WebSocket Close 1001, now."""
        self._draining = True
        if self._acceptor is not None:
            self._acceptor.close()
            self._acceptor = None
        close_sessions(self._websockets)

    async def stop(self) -> None:
        """Shut down gracefully: refuse new connections at once, close every
        WebSocket with 1001, let HTTP requests in flight finish, wait up to
        ``shutdown_timeout`` for all of it, then drop what is left.

        Swift: ``func stop()``. Differs from Perfect: Perfect closes the
        listening socket and drops every connection.
        """
        dispatcher = self._dispatcher
        if dispatcher is None:
            return
        self._dispatcher = None
        self._begin_shutdown()
        await drain(dispatcher, self._websockets, self.shutdown_timeout, self._force)
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        self._operations.stop()

    def _serve(
        self,
        sockets: Iterable[socket.socket],
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        sockets = list(sockets)
        self.server_port = sockets[0].getsockname()[1]
        dispatcher = Dispatcher(self)
        server = TornadoHTTPServer(
            dispatcher,
            idle_connection_timeout=self.idle_connection_timeout,
            body_timeout=self.body_timeout,
            # Tornado closes without a word when headers overflow its limit;
            # reading a little further lets perfectws answer 431 instead.
            max_header_size=max(self.max_header_size, HEADER_READ_CAP),
            max_body_size=self.max_body_size,
            ssl_options=ssl_context,
        )
        self._draining = False
        self._signalled_at = 0.0
        self._force = asyncio.Event()
        self._dispatcher = dispatcher
        self._acceptor = Acceptor(
            sockets, server, ssl_context, asyncio.get_running_loop()
        )
        if not self._operations.tracks_sessions() and not self._websockets:
            # Nobody counts or logs sessions: a plain set costs no Python
            # call per session (a handshake makes about 190 in all).
            self._websockets = set()
        self._context = ServerContext(self._websockets, self._session_settings)
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        interval = self._session_settings.ping_interval
        if interval is not None:
            # Every half interval: a peer is pinged after 1 to 1.5 intervals
            # of silence (perfectws/_session.py, keepalive_sweep).
            self._keepalive = PeriodicCallback(
                lambda: keepalive_sweep(self._websockets), interval * 500
            )
            self._keepalive.start()
        self._operations.start()


class _Sessions(set["WebSocket"]):
    """The server's open WebSockets, which sessions join and leave themselves.

    Passed down in each request's ServerContext, so sessions need not know
    the server; it tells the operations layer (access log, metrics) as they
    come and go.
    """

    __slots__ = ("_operations",)

    def __init__(self, operations: Operations) -> None:
        super().__init__()
        self._operations = operations

    def add(self, ws: WebSocket) -> None:
        super().add(ws)
        self._operations.session_opened(ws)

    def discard(self, ws: object) -> None:
        if ws in self:
            super().discard(ws)
            self._operations.session_closed(ws)  # type: ignore[arg-type]
