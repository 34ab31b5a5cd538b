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
                  "shutdownTimeout": 10}]}

A route's ``handler`` is a ``RequestHandler`` ``(request, response)``, a
handler generator ``(data) -> RequestHandler`` that receives the route's
dictionary, or a name: Perfect's (``"PerfectHTTPServer.HTTPHandler.staticFiles"``)
or a Python one (``"package.module.function"``, as JSON files need). A
filter's ``name`` is a filter generator or a name, likewise.

``shutdownTimeout`` is perfectws's own key (Perfect stops at once): the
seconds a SIGTERM or SIGINT waits for closing handshakes and HTTP requests in
flight before dropping what is left (``HTTPServer.shutdown_timeout``, default
10; README "Running in production").

Differs from Perfect: every mistake raises
:class:`~perfectws.exceptions.ConfigurationError` naming the key
(``servers[0].routes[1].method: ...``). Perfect skips filters of an unknown
``type``, reads an unknown ``priority`` as high and an unknown
``verifyMode`` as none, ignores unknown keys, and launches nothing when
``servers`` is missing.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from .compression import HTTPFilter
from .exceptions import ArgumentError, ConfigurationError, RouteError
from .filters import HTTPFilterPriority, HTTPRequestFilter, HTTPResponseFilter
from .http_handler import HTTPHandler
from .method import HTTPMethod
from .routing import RequestHandler, Route, Routes
from .server import HTTPServer
from .tls import DEFAULT_CIPHER_LIST, OpenSSLVerifyMode, TLSConfiguration

__all__ = ["Server"]

RequestFilters = Iterable[tuple[HTTPRequestFilter, HTTPFilterPriority]]
ResponseFilters = Iterable[tuple[HTTPResponseFilter, HTTPFilterPriority]]

# Perfect's own generators by the names Perfect configurations use.
_PERFECT_NAMES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "HTTPHandler.staticFiles": HTTPHandler.static_files,
    "HTTPHandler.redirect": HTTPHandler.redirect,
    "HTTPFilter.contentCompression": HTTPFilter.content_compression,
    "HTTPFilter.custom404": HTTPFilter.custom404,
}

_SERVER_KEYS = (
    "name",
    "port",
    "address",
    "routes",
    "filters",
    "tlsConfig",
    "shutdownTimeout",
)
_TLS_KEYS = (
    "certPath",
    "keyPath",
    "caCertPath",
    "verifyMode",
    "cipherList",
    "alpnSupport",
)
_PRIORITIES = {p.value: p for p in HTTPFilterPriority}


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
    _no_unknown(data, ("servers", "runAs"), "configuration data")
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


def _no_unknown(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigurationError(
                f"{where}.{key}: unknown key; the keys are {', '.join(known)}"
            )


def _server(data: object, where: str) -> Server:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a dictionary, not {data!r}")
    _no_unknown(data, _SERVER_KEYS, where)
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
    routes = _list(data, "routes", where)
    filters = _list(data, "filters", where)
    request_filters: list[tuple[HTTPRequestFilter, HTTPFilterPriority]] = []
    response_filters: list[tuple[HTTPResponseFilter, HTTPFilterPriority]] = []
    for index, entry in enumerate(filters):
        kind, pair = _filter(entry, f"{where}.filters[{index}]")
        if kind == "request":
            request_filters.append(
                cast(tuple[HTTPRequestFilter, HTTPFilterPriority], pair)
            )
        else:
            response_filters.append(
                cast(tuple[HTTPResponseFilter, HTTPFilterPriority], pair)
            )
    tls_data = data.get("tlsConfig")
    tls = None if tls_data is None else _tls(tls_data, f"{where}.tlsConfig")
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
            [_route(r, f"{where}.routes[{i}]") for i, r in enumerate(routes)]
        ),
        request_filters=request_filters,
        response_filters=response_filters,
        tls_config=tls,
        shutdown_timeout=float(shutdown_timeout),
    )


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}.{key}: a list, not {value!r}")
    return value


def _route(data: object, where: str) -> Route:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a route dictionary, not {data!r}")
    uri = data.get("uri")
    if not isinstance(uri, str):
        raise ConfigurationError(f"{where}.uri: Route data did not contain a uri")
    if "handler" not in data:
        raise ConfigurationError(
            f"{where}.handler: missing; give a handler(request, response), a "
            "handler generator(data) or its name"
        )
    handler = _handler(data["handler"], data, f"{where}.handler")
    try:
        if "method" in data:
            method = data["method"]
            if not isinstance(method, str):
                raise ConfigurationError(f"{where}.method: a string, not {method!r}")
            return Route(
                method=_method(method, f"{where}.method"), uri=uri, handler=handler
            )
        if "methods" in data:
            methods = data["methods"]
            if not isinstance(methods, list):
                raise ConfigurationError(f"{where}.methods: a list, not {methods!r}")
            return Route(
                methods=[_method(m, f"{where}.methods") for m in methods],
                uri=uri,
                handler=handler,
            )
        return Route(uri=uri, handler=handler)
    except RouteError as error:
        raise ConfigurationError(f"{where}.uri: {error}") from None


def _method(value: object, where: str) -> HTTPMethod:
    if isinstance(value, str):
        try:
            return HTTPMethod(value.upper())
        except ValueError:
            pass
    names = ", ".join(m.value.lower() for m in HTTPMethod)
    raise ConfigurationError(f"{where}: unknown method {value!r}; use one of {names}")


def _resolve(name: str, where: str) -> Callable[..., Any]:
    """Perfect's stock names, or a Python ``module.attr`` / ``module:attr`` path."""
    for prefix in ("PerfectHTTPServer.", ""):
        if name.startswith(prefix) and name[len(prefix) :] in _PERFECT_NAMES:
            return _PERFECT_NAMES[name[len(prefix) :]]
    module_name, colon, attrs = name.partition(":")
    candidates: list[tuple[str, list[str]]] = []
    if colon:
        candidates.append((module_name, attrs.split(".")))
    else:
        parts = name.split(".")
        candidates = [
            (".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)
        ]
    for module_path, attr_path in candidates:
        try:
            obj: Any = importlib.import_module(module_path)
        except ImportError:
            continue
        try:
            for attr in attr_path:
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        if callable(obj):
            return cast(Callable[..., Any], obj)
    raise ConfigurationError(
        f"{where}: could not find {name!r}; ensure it is spelt correctly and "
        "fully qualified with its module (package.module.function), or use one "
        f"of Perfect's: {', '.join('PerfectHTTPServer.' + n for n in _PERFECT_NAMES)}"
    )


def _positional_count(func: Callable[..., Any]) -> int | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if (
            param.kind
            in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
            and param.default is inspect.Parameter.empty
        ):
            count += 1
    return count


def _handler(value: object, data: Mapping[str, Any], where: str) -> RequestHandler:
    func = _resolve(value, where) if isinstance(value, str) else value
    if not callable(func):
        raise ConfigurationError(
            f"{where}: No valid handler was provided: {value!r} is not callable"
        )
    arity = _positional_count(func)
    if arity == 2:
        return cast(RequestHandler, func)  # a RequestHandler itself
    if arity != 1:
        raise ConfigurationError(
            f"{where}: {value!r} must take (request, response) or (data)"
        )
    try:
        handler = func(dict(data))
    except ConfigurationError as error:
        raise ConfigurationError(f"{where.rsplit('.', 1)[0]}.{error}") from None
    if not callable(handler):
        raise ConfigurationError(
            f"{where}: the generator {value!r} returned {handler!r}, "
            "not a handler(request, response)"
        )
    return cast(RequestHandler, handler)


def _filter(data: object, where: str) -> tuple[str, tuple[object, HTTPFilterPriority]]:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a filter dictionary, not {data!r}")
    kind = data.get("type")
    if kind not in ("request", "response"):
        raise ConfigurationError(f"{where}.type: 'request' or 'response', not {kind!r}")
    priority_name = data.get("priority", "high")
    priority = (
        _PRIORITIES.get(priority_name) if isinstance(priority_name, str) else None
    )
    if priority is None:
        raise ConfigurationError(
            f"{where}.priority: 'high', 'medium' or 'low', not {priority_name!r}"
        )
    if "name" not in data:
        raise ConfigurationError(
            f"{where}.name: missing; the filter generator or its name"
        )
    value = data["name"]
    generator = _resolve(value, f"{where}.name") if isinstance(value, str) else value
    if not callable(generator):
        raise ConfigurationError(
            f"{where}.name: The indicated filter could not be found: {value!r}"
        )
    try:
        made = generator(dict(data))
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}.{error}") from None
    needed = ("filter",) if kind == "request" else ("filter_headers", "filter_body")
    if not all(callable(getattr(made, attr, None)) for attr in needed):
        raise ConfigurationError(
            f"{where}.name: {value!r} made {made!r}, which has no "
            f"{' / '.join(needed)}: not an HTTP{kind.capitalize()}Filter"
        )
    return kind, (made, priority)


def _tls(data: object, where: str) -> TLSConfiguration:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a dictionary, not {data!r}")
    _no_unknown(data, _TLS_KEYS, where)
    strings: dict[str, str | None] = {}
    for key in ("certPath", "keyPath", "caCertPath", "verifyMode"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{where}.{key}: a string, not {value!r}")
        strings[key] = value
    cert = strings["certPath"]
    if cert is None:
        raise ConfigurationError(f"{where}.certPath: missing; the certificate file")
    mode = None
    if strings["verifyMode"] is not None:
        try:
            mode = OpenSSLVerifyMode(strings["verifyMode"])
        except ValueError:
            names = ", ".join(m.value for m in OpenSSLVerifyMode)
            raise ConfigurationError(
                f"{where}.verifyMode: unknown {strings['verifyMode']!r}; use one of {names}"
            ) from None
    ciphers = data.get("cipherList", list(DEFAULT_CIPHER_LIST))
    if not isinstance(ciphers, list) or not all(isinstance(c, str) for c in ciphers):
        raise ConfigurationError(f"{where}.cipherList: a list of cipher names")
    alpn = data.get("alpnSupport", ["http/1.1"])
    if not isinstance(alpn, list) or any(a != "http/1.1" for a in alpn):
        raise ConfigurationError(
            f"{where}.alpnSupport: only ['http/1.1'] is served (no HTTP/2), not {alpn!r}"
        )
    return TLSConfiguration(
        cert_path=cert,
        key_path=strings["keyPath"],
        ca_cert_path=strings["caCertPath"],
        cert_verify_mode=mode,
        cipher_list=tuple(ciphers),
    )
