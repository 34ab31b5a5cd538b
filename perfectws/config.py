"""Server descriptions: Perfect's ``HTTPServer.Server`` and its configuration data.

Swift: ``HTTPServer.Server`` (PerfectlySoft/Perfect-HTTPServer
``Sources/PerfectHTTPServer/HTTPServerEx.swift``) and
``HTTPServer.Server(data:)``, ``Routes(data:)``, ``filtersFrom(data:)``,
``TLSConfiguration(data:)`` (``HTTPServerExConfig.swift``).

Configuration data is Perfect's dictionary, keys spelt as in Perfect::

    {"servers": [{"name": "localhost", "port": 8181,
                  "routes": [{"method": "get", "uri": "/**",
                              "handler": HTTPHandler.static_files,
                              "documentRoot": "./webroot"}],
                  "filters": [{"type": "response", "priority": "high",
                               "name": HTTPFilter.content_compression}],
                  "tlsConfig": {"certPath": "cert.pem", "keyPath": "key.pem"},
                  "shutdownTimeout": 10, "pingInterval": 20, "pingTimeout": 20,
                  "closeTimeout": 5, "maxSendQueue": 16777216}]}

A route's ``handler`` is a ``RequestHandler`` ``(request, response)``, a
handler generator ``(data) -> RequestHandler`` that receives the route's
dictionary, or a name: Perfect's (``"PerfectHTTPServer.HTTPHandler.staticFiles"``)
or a Python one (``"package.module.function"``, as JSON files need). A
filter's ``name`` is a filter generator or a name, likewise.

``shutdownTimeout`` is perfectws's own key (Perfect stops at once): the
seconds a SIGTERM or SIGINT waits for closing handshakes and HTTP requests in
flight before dropping what is left (``HTTPServer.shutdown_timeout``, default
10; README "Running in production"). So are the WebSocket session defaults
(:class:`~perfectws.settings.WebSocketSettings`): ``pingInterval`` (seconds,
or ``null`` for no keepalive), ``pingTimeout``, ``closeTimeout``,
``maxSendQueue`` and ``maxMessageSize`` (bytes).

Differs from Perfect: every mistake raises
:class:`~perfectws.exceptions.ConfigurationError` naming the key
(``servers[0].routes[1].method: ...``). Perfect skips filters of an unknown
``type``, reads an unknown ``priority`` as high and an unknown
``verifyMode`` as none, ignores unknown keys, and launches nothing when
``servers`` is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._config_data import filter_from, list_at, no_unknown, route_from, tls_from
from .exceptions import ArgumentError, ConfigurationError
from .filters import HTTPFilterPriority, HTTPRequestFilter, HTTPResponseFilter
from .http_handler import HTTPHandler
from .method import HTTPMethod
from .routing import Route, Routes
from .server import HTTPServer
from .settings import DEFAULT_SETTINGS, WebSocketSettings
from .tls import TLSConfiguration

__all__ = ["Server"]

RequestFilters = Iterable[tuple[HTTPRequestFilter, HTTPFilterPriority]]
ResponseFilters = Iterable[tuple[HTTPResponseFilter, HTTPFilterPriority]]

#: perfectws's own server keys for the session defaults, and their fields.
_SETTINGS_KEYS = {
    "pingInterval": "ping_interval",
    "pingTimeout": "ping_timeout",
    "closeTimeout": "close_timeout",
    "maxSendQueue": "max_send_queue",
    "maxMessageSize": "max_message_size",
}

_SERVER_KEYS = (
    "name",
    "port",
    "address",
    "routes",
    "filters",
    "tlsConfig",
    "shutdownTimeout",
    *_SETTINGS_KEYS,
)


class Server:
    """One server for :func:`perfectws.launch.launch`: name, port, routes, filters, TLS.

    Swift: ``struct HTTPServer.Server`` with ``static func server(name:port:
    routes:requestFilters:responseFilters:)``, ``server(name:port:documentRoot:
    ...)`` and ``secureServer(_ tlsConfig:name:port:routes:...)``; reach it as
    ``HTTPServer.Server``.
    """

    __slots__ = (
        "address",
        "name",
        "port",
        "request_filters",
        "response_filters",
        "routes",
        "shutdown_timeout",
        "tls_config",
        "websocket_settings",
    )

    def __init__(
        self,
        *,
        name: str,
        address: str,
        port: int,
        routes: Routes | Iterable[Route],
        request_filters: RequestFilters = (),
        response_filters: ResponseFilters = (),
        tls_config: TLSConfiguration | None = None,
        shutdown_timeout: float = 10.0,
        websocket_settings: WebSocketSettings = DEFAULT_SETTINGS,
    ) -> None:
        if (
            not isinstance(port, int)
            or isinstance(port, bool)
            or not 0 <= port <= 65535
        ):
            raise ConfigurationError(f"port: an integer 0-65535, not {port!r}")
        #: Swift: ``let name: String``
        self.name = name
        #: Swift: ``let address: String``
        self.address = address
        #: Swift: ``let port: Int``
        self.port = port
        #: Swift: ``let routes: Routes``
        self.routes = routes if isinstance(routes, Routes) else Routes(list(routes))
        #: Swift: ``let requestFilters: [(HTTPRequestFilter, HTTPFilterPriority)]``
        self.request_filters = list(request_filters)
        #: Swift: ``let responseFilters: [(HTTPResponseFilter, HTTPFilterPriority)]``
        self.response_filters = list(response_filters)
        #: Swift: ``let tlsConfig: TLSConfiguration?``
        self.tls_config = tls_config
        #: Seconds a shutdown waits before dropping what is left. Swift: none
        #: (Perfect stops at once); ``HTTPServer.shutdown_timeout``.
        self.shutdown_timeout = shutdown_timeout
        #: Keepalive, close timeout and send cap of its WebSocket sessions.
        #: Swift: none (README "Running in production").
        self.websocket_settings = websocket_settings

    @classmethod
    def server(
        cls,
        name: str,
        port: int,
        routes: Routes | Iterable[Route] | None = None,
        request_filters: RequestFilters = (),
        response_filters: ResponseFilters = (),
        *,
        document_root: str | None = None,
    ) -> Server:
        """A plain HTTP server on every address (``"::"``).

        Swift: ``static func server(name:port:routes:requestFilters:responseFilters:)``
        and ``server(name:port:documentRoot:requestFilters:responseFilters:)``,
        which serves ``GET``/``HEAD /**`` from the folder.
        """
        if (routes is None) == (document_root is None):
            raise ArgumentError(
                "Server.server takes routes= or document_root=, not both"
            )
        if document_root is not None:
            static = HTTPHandler.static_files(
                {
                    "documentRoot": document_root,
                    "allowResponseFilters": bool(
                        list(request_filters) or list(response_filters)
                    ),
                }
            )
            routes = Routes(
                [
                    Route(method=HTTPMethod.GET, uri="/**", handler=static),
                    Route(method=HTTPMethod.HEAD, uri="/**", handler=static),
                ]
            )
        assert routes is not None
        return cls(
            name=name,
            address="::",
            port=port,
            routes=routes,
            request_filters=request_filters,
            response_filters=response_filters,
        )

    @classmethod
    def secure_server(
        cls,
        tls_config: TLSConfiguration,
        name: str,
        port: int,
        routes: Routes | Iterable[Route],
        request_filters: RequestFilters = (),
        response_filters: ResponseFilters = (),
    ) -> Server:
        """An https (and wss) server on every address (``"::"``).

        Swift: ``static func secureServer(_ tlsConfig: TLSConfiguration, name:port:routes:...)``
        """
        if not isinstance(tls_config, TLSConfiguration):
            raise ArgumentError(
                f"secure_server takes a TLSConfiguration first, not {tls_config!r}"
            )
        return cls(
            name=name,
            address="::",
            port=port,
            routes=routes,
            request_filters=request_filters,
            response_filters=response_filters,
            tls_config=tls_config,
        )

    def http_server(self) -> HTTPServer:
        """The ``HTTPServer`` this describes. Swift: ``var server: HTTPServer``"""
        http = HTTPServer(server_port=self.port, server_address=self.address)
        http.server_name = self.name
        http.shutdown_timeout = self.shutdown_timeout
        settings = self.websocket_settings
        http.ping_interval = settings.ping_interval
        http.ping_timeout = settings.ping_timeout
        http.close_timeout = settings.close_timeout
        http.max_send_queue = settings.max_send_queue
        http.max_message_size = settings.max_message_size
        http.add_routes(self.routes)
        http.set_request_filters(self.request_filters)
        http.set_response_filters(self.response_filters)
        tls = self.tls_config
        if tls is not None:
            http.ssl = (tls.cert_path, tls.key_path or tls.cert_path)
            http.ca_cert = tls.ca_cert_path
            http.cert_verify_mode = tls.cert_verify_mode
            http.cipher_list = list(tls.cipher_list)
        return http

    def __repr__(self) -> str:
        scheme = "https" if self.tls_config is not None else "http"
        return f"<Server {self.name!r} {scheme} {self.address}:{self.port}>"


def servers_from_configuration(
    data: Mapping[str, Any],
) -> tuple[list[Server], str | None]:
    """The servers and the ``runAs`` user that configuration data describes.

    Swift: ``HTTPServer.launch(configurationData:)`` up to the launch.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"configuration data: a dictionary with a 'servers' list, not {data!r}"
        )
    no_unknown(data, ("servers", "runAs"), "configuration data")
    run_as = data.get("runAs")
    if run_as is not None and not isinstance(run_as, str):
        raise ConfigurationError(f"runAs: a user name, not {run_as!r}")
    servers = data.get("servers")
    if not isinstance(servers, list) or not servers:
        raise ConfigurationError(
            f"servers: a non-empty list of server dictionaries, not {servers!r}"
        )
    parsed = [_server(entry, f"servers[{i}]") for i, entry in enumerate(servers)]
    return parsed, run_as


def _server(data: object, where: str) -> Server:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a dictionary, not {data!r}")
    no_unknown(data, _SERVER_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str):
        raise ConfigurationError(
            f"{where}.name: Server data did not contain a name (a string)"
        )
    port = data.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigurationError(
            f"{where}.port: Server data did not contain an integer port "
            f"(0-65535), got {port!r}"
        )
    address = data.get("address", "0.0.0.0")
    if not isinstance(address, str):
        raise ConfigurationError(f"{where}.address: a string, not {address!r}")
    routes = list_at(data, "routes", where)
    filters = list_at(data, "filters", where)
    request_filters: list[tuple[HTTPRequestFilter, HTTPFilterPriority]] = []
    response_filters: list[tuple[HTTPResponseFilter, HTTPFilterPriority]] = []
    for index, entry in enumerate(filters):
        kind, pair = filter_from(entry, f"{where}.filters[{index}]")
        if kind == "request":
            request_filters.append(
                cast(tuple[HTTPRequestFilter, HTTPFilterPriority], pair)
            )
        else:
            response_filters.append(
                cast(tuple[HTTPResponseFilter, HTTPFilterPriority], pair)
            )
    tls_data = data.get("tlsConfig")
    tls = None if tls_data is None else tls_from(tls_data, f"{where}.tlsConfig")
    shutdown_timeout = data.get("shutdownTimeout", 10.0)
    if (
        not isinstance(shutdown_timeout, (int, float))
        or isinstance(shutdown_timeout, bool)
        or not 0 <= shutdown_timeout < float("inf")
    ):
        raise ConfigurationError(
            f"{where}.shutdownTimeout: seconds (a number >= 0), "
            f"not {shutdown_timeout!r}"
        )
    return Server(
        name=name,
        address=address,
        port=port,
        routes=Routes(
            [route_from(r, f"{where}.routes[{i}]") for i, r in enumerate(routes)]
        ),
        request_filters=request_filters,
        response_filters=response_filters,
        tls_config=tls,
        shutdown_timeout=float(shutdown_timeout),
        websocket_settings=_websocket_settings(data, where),
    )


def _websocket_settings(data: Mapping[str, Any], where: str) -> WebSocketSettings:
    """The session defaults among a server's keys (``pingInterval`` ...)."""
    values: dict[str, Any] = {}
    for key, field in _SETTINGS_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number or (value is None and key == "pingInterval")):
            allowed = (
                "a number, or null for no keepalive"
                if key == "pingInterval"
                else "a number"
            )
            raise ConfigurationError(f"{where}.{key}: {allowed}, not {value!r}")
        values[field] = value
    try:
        return WebSocketSettings(**values)
    except ConfigurationError as error:
        key = next(k for k, f in _SETTINGS_KEYS.items() if str(error).startswith(f))
        raise ConfigurationError(f"{where}.{key}: {error}") from None
