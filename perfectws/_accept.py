"""Accepting connections, and backing off when the process runs out of descriptors.

Tornado's ``netutil.add_accept_handler`` lets ``accept()``'s ``EMFILE``
("too many open files") escape to the event loop, which logs it with a
traceback and calls the handler again at once, because the listening socket is
still readable: at the fd limit a server burns a whole core and writes
megabytes of tracebacks a second. asyncio's own servers do what this module
does instead (``selector_events._accept_connection``): on ``EMFILE``,
``ENFILE``, ``ENOBUFS`` or ``ENOMEM`` stop watching the listening sockets,
log once, and watch them again after :data:`RETRY_DELAY`; connections wait in
the kernel's accept queue meanwhile.

Accepted sockets are handed to Tornado's HTTP server through its public
``handle_stream``, wrapped as ``TCPServer`` would wrap them (TLS without the
handshake, which the stream does on its first read).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import ssl
from collections.abc import Sequence
from typing import Any, Final

import tornado.httpserver
from tornado.iostream import IOStream, SSLIOStream
from tornado.netutil import ssl_wrap_socket

__all__ = ["RETRY_DELAY", "Acceptor", "TornadoHTTPServer"]

logger = logging.getLogger("perfectws.server")

#: Seconds between back-off and the next try (asyncio's ACCEPT_RETRY_DELAY).
RETRY_DELAY: Final = 1.0
#: Connections accepted per readiness event at most, as Tornado does, so a
#: burst of connections does not starve the sessions already open.
BATCH: Final = 128
#: ``accept()`` errors that mean "out of resources, try later" (asyncio's list).
_RESOURCE_ERRNOS: Final = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
)


class TornadoHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, telling its delegate when a connection ends.

    ``tornado.httpserver.HTTPServer.on_close`` keeps the news to itself;
    the dispatcher needs it to know which connections are still open while
    the server drains.
    """

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        # (the dispatcher's own record, without one more call per connection)
        self.request_callback.connections.pop(server_conn, None)  # type: ignore[union-attr]


class Acceptor:
    """Accepts on listening sockets for one Tornado HTTP server, with back-off."""

    def __init__(
        self,
        sockets: Sequence[socket.socket],
        server: tornado.httpserver.HTTPServer,
        ssl_context: ssl.SSLContext | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sockets = list(sockets)
        self._server = server
        self._ssl = ssl_context
        self._loop = loop
        self._retry: asyncio.TimerHandle | None = None
        #: How many times accepting backed off (for logs and tests).
        self.back_offs = 0
        self._watch()

    def _watch(self) -> None:
        self._retry = None
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unwatch(self) -> None:
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())

    def close(self) -> None:
        """Stop accepting and close the listening sockets: new connections are refused."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        else:
            self._unwatch()
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(BATCH):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:
                if error.errno not in _RESOURCE_ERRNOS:
                    raise
                self._back_off(error)
                return
            self._handle(conn, address)

    def _back_off(self, error: OSError) -> None:
        self.back_offs += 1
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        logger.warning(
            "cannot accept connections: %s (open file limit %d); "
            "retrying in %g s, new clients wait in the kernel's queue",
            error.strerror,
            soft,
            RETRY_DELAY,
        )
        self._unwatch()
        self._retry = self._loop.call_later(RETRY_DELAY, self._watch)

    def _handle(self, conn: socket.socket, address: Any) -> None:
        """What ``TCPServer._handle_connection`` does, with public calls only."""
        server = self._server
        if self._ssl is not None:
            try:
                conn = ssl_wrap_socket(
                    conn, self._ssl, server_side=True, do_handshake_on_connect=False
                )
            except (ssl.SSLError, OSError):
                # Gone before the wrap (a port scan): nothing to serve.
                conn.close()
                return
            stream: IOStream = SSLIOStream(
                conn,
                max_buffer_size=server.max_buffer_size,
                read_chunk_size=server.read_chunk_size,
            )
        else:
            stream = IOStream(
                conn,
                max_buffer_size=server.max_buffer_size,
                read_chunk_size=server.read_chunk_size,
            )
        server.handle_stream(stream, address)
