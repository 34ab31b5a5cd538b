"""Perfect 3's ``HTTPServer.launch``: several servers in one process, until stopped.

Swift: ``HTTPServer.launch(...)``, ``HTTPServer.LaunchContext``
(PerfectlySoft/Perfect-HTTPServer ``Sources/PerfectHTTPServer/HTTPServerEx.swift``)
and Perfect 1.x's ``PerfectServer.initializeServices()``.

``launch`` binds every server first (a port in use fails before anything is
served, as in Perfect), switches to ``runAs``'s user if asked, then serves
them all on one event loop until SIGINT or SIGTERM, or until every
server's context was terminated; then it stops them and returns the contexts.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import pwd
import signal
import socket
import sys
from collections.abc import Iterable
from typing import Any

from .config import Server, servers_from_configuration
from .exceptions import ConfigurationError, LaunchFailure
from .filters import HTTPFilterPriority, HTTPRequestFilter, HTTPResponseFilter
from .routing import Route, Routes
from .server import HTTPServer

__all__ = ["LaunchContext", "PerfectServer", "launch"]

logger = logging.getLogger(__name__)


class LaunchContext:
    """One launched server: its description, its ``HTTPServer``, whether it ended.

    Swift: ``class HTTPServer.LaunchContext`` (``server``, ``terminated``,
    ``terminate()``).
    """

    def __init__(self, server: Server, http_server: HTTPServer) -> None:
        #: Swift: ``let server: Server``
        self.server = server
        #: The running server (its ``server_port`` is the bound port).
        self.http_server = http_server
        #: Swift: ``var terminated: Bool``
        self.terminated = False
        self._stopped: asyncio.Event | None = None

    @property
    def id(self) -> str:
        """``name:port``, as Perfect's messages name a server."""
        return f"{self.server.name}:{self.server.port}"

    def terminate(self) -> LaunchContext:
        """Stop this server; ``launch`` returns once every server has stopped.

        Swift: ``func terminate() -> LaunchContext``. Call it on the loop's thread.
        """
        if self._stopped is not None:
            self._stopped.set()
        return self


class PerfectServer:
    """Perfect 1.x's process set-up.

    Swift: ``PerfectServer.initializeServices()`` and
    ``PerfectServer.switchTo(userName:)`` (PerfectLib).
    """

    __slots__ = ()

    @staticmethod
    def initialize_services() -> None:
        """Make the server's log lines visible, as Perfect's start-up prints them.

        Swift: ``static func initializeServices()``. Perfect 1.x also loaded
        modules from its library folder; Python imports them instead. Logging
        is configured only if the program has not done so (INFO to stderr).
        """
        root = logging.getLogger()
        if not root.handlers:
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(name)s: %(message)s"
            )
        if logging.getLogger("perfectws").getEffectiveLevel() > logging.INFO:
            logging.getLogger("perfectws").setLevel(logging.INFO)

    @staticmethod
    def switch_to(user_name: str) -> None:
        """Run as ``user_name`` from now on (the process must be root).

        Swift: ``static func switchTo(userName: String) throws``
        """
        try:
            entry = pwd.getpwnam(user_name)
        except KeyError:
            raise ConfigurationError(f"runAs: no user {user_name!r}") from None
        try:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
        except PermissionError as error:
            raise LaunchFailure(
                error.errno, f"runAs {user_name!r}: only root can switch user"
            ) from None


def launch(
    *servers: Server,
    name: str | None = None,
    port: int | None = None,
    routes: Routes | Iterable[Route] | None = None,
    document_root: str | None = None,
    request_filters: Iterable[tuple[HTTPRequestFilter, HTTPFilterPriority]] = (),
    response_filters: Iterable[tuple[HTTPResponseFilter, HTTPFilterPriority]] = (),
    configuration_data: dict[str, Any] | None = None,
    configuration_file: str | None = None,
    configuration_path: str | None = None,
) -> list[LaunchContext]:
    """Serve the servers described until SIGINT or SIGTERM. Blocks.

    Swift (``HTTPServer.launch``, also reachable as ``HTTPServer.launch``)::

        launch(name:port:routes:requestFilters:responseFilters:)
        launch(name:port:documentRoot:requestFilters:responseFilters:)
        launch(_ server: Server, _ servers: Server...)
        launch(configurationData:) / launch(configurationFile:) / launch(configurationPath:)

    Exactly one form per call. Routes may be a ``Routes`` or a list of
    ``Route``. ``configuration_file`` (or ``configuration_path``) is a JSON
    file of configuration data, with handlers and filters given by name.

    Raises:
        ConfigurationError: bad arguments or configuration data, naming the key.
        LaunchFailure: a port is in use or an address cannot be bound.

    Differs from Perfect: no ``wait: false`` (to serve in the background,
    use ``HTTPServer.listen()`` on a running loop); two TLS servers on one
    port are not multiplexed by SNI (the second fails to bind).
    """
    forms = [
        bool(servers),
        name is not None or port is not None,
        configuration_data is not None,
        configuration_file is not None,
        configuration_path is not None,
    ]
    if forms.count(True) != 1:
        raise ConfigurationError(
            "launch takes one of: servers, name=/port=, configuration_data=, "
            "configuration_file="
        )
    if servers:
        return _run(_checked_servers(servers), None)
    if name is not None or port is not None:
        if name is None or port is None:
            raise ConfigurationError("launch(name=, port=) needs both name and port")
        server = Server.server(
            name,
            port,
            routes,
            request_filters,
            response_filters,
            document_root=document_root,
        )
        return _run([server], None)
    if configuration_data is None:
        path = configuration_file or configuration_path
        assert path is not None
        configuration_data = _read_json(path)
    return _run(*servers_from_configuration(configuration_data))


def _checked_servers(servers: tuple[Server, ...]) -> list[Server]:
    # Typed callers cannot get this wrong; untyped ones can.
    for server in servers:
        if not isinstance(server, Server):
            raise ConfigurationError(
                f"launch takes HTTPServer.Server values, not {server!r}"
            )
    return list(servers)


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as error:
        raise ConfigurationError(
            f"configuration file {path!r}: {error.strerror}"
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"configuration file {path!r}: not JSON ({error})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"Data in {path} could not convert to a dictionary ({type(data).__name__})"
        )
    return data


def _run(servers: list[Server], run_as: str | None) -> list[LaunchContext]:
    contexts = [LaunchContext(s, s.http_server()) for s in servers]
    bound: list[tuple[LaunchContext, list[socket.socket]]] = []
    try:
        for ctx in contexts:
            http = ctx.http_server
            http._ssl_context()  # bad TLS material fails before any port is taken
            try:
                bound.append((ctx, http._bind()))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    message = (
                        f"Server {ctx.id} - Another server was already listening "
                        f"on the requested port {ctx.server.port}"
                    )
                else:
                    message = f"Server {ctx.id} - {error.errno}:{error.strerror}"
                raise LaunchFailure(error.errno, message) from None
        if run_as is not None:
            PerfectServer.switch_to(run_as)
    except BaseException:
        for _, sockets in bound:
            for sock in sockets:
                sock.close()
        raise
    factory = contexts[0].http_server._loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve_until_stopped(bound))
    return contexts


async def _serve_until_stopped(
    bound: list[tuple[LaunchContext, list[socket.socket]]],
) -> None:
    loop = asyncio.get_running_loop()
    everything = asyncio.Event()

    def on_signal() -> None:
        # The first signal starts every server's graceful shutdown, a second
        # one ends it at once (HTTPServer._signalled).
        for ctx, _ in bound:
            ctx.http_server._signalled()
        everything.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    waiters = []
    for ctx, sockets in bound:
        http = ctx.http_server
        ctx._stopped = asyncio.Event()
        http._serve(sockets, http._ssl_context())
        scheme = "HTTPS" if http.ssl is not None else "HTTP"
        logger.info(
            "Starting %s server %s on %s:%d",
            scheme,
            ctx.server.name,
            http.server_address,
            http.server_port,
        )
        waiters.append(asyncio.ensure_future(ctx._stopped.wait()))
    everything_waiter = asyncio.ensure_future(everything.wait())
    pending = set(waiters)
    while pending and not everything.is_set():
        done, pending = await asyncio.wait(
            pending | {everything_waiter}, return_when=asyncio.FIRST_COMPLETED
        )
        pending.discard(everything_waiter)
        for ctx, _ in bound:
            if ctx._stopped.is_set() and not ctx.terminated:  # type: ignore[union-attr]
                await ctx.http_server.stop()
                ctx.terminated = True
    for waiter in [*pending, everything_waiter]:
        waiter.cancel()
    for ctx, _ in bound:
        if not ctx.terminated:
            await ctx.http_server.stop()
            ctx.terminated = True
    sys.stdout.flush()


# Swift's ``HTTPServer.launch`` and ``HTTPServer.Server`` are static members of
# HTTPServer. They are attached here, where both are defined, because
# server.py sits below this module in the layers and must not import it.
HTTPServer.launch = staticmethod(launch)
HTTPServer.Server = Server
