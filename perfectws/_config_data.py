"""Configuration data's parts: routes, filters, TLS, handler and filter names.

Swift: ``Routes(data:)``, ``filtersFrom(data:)``, ``TLSConfiguration(data:)``
(PerfectlySoft/Perfect-HTTPServer ``Sources/PerfectHTTPServer/HTTPServerExConfig.swift``).

``perfectws/config.py`` keeps ``HTTPServer.Server`` and the server-level keys;
this module turns each nested dictionary into the object it describes, and
every mistake into a :class:`~perfectws.exceptions.ConfigurationError` naming
the key (``where`` is the path to it, ``servers[0].routes[1]``).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, cast

from .compression import HTTPFilter
from .exceptions import ConfigurationError, RouteError
from .filters import HTTPFilterPriority
from .http_handler import HTTPHandler
from .method import HTTPMethod
from .routing import RequestHandler, Route
from .tls import DEFAULT_CIPHER_LIST, OpenSSLVerifyMode, TLSConfiguration

# Perfect's own generators by the names Perfect configurations use.
_PERFECT_NAMES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "HTTPHandler.staticFiles": HTTPHandler.static_files,
    "HTTPHandler.redirect": HTTPHandler.redirect,
    "HTTPFilter.contentCompression": HTTPFilter.content_compression,
    "HTTPFilter.custom404": HTTPFilter.custom404,
}

_TLS_KEYS = (
    "certPath",
    "keyPath",
    "caCertPath",
    "verifyMode",
    "cipherList",
    "alpnSupport",
)
_PRIORITIES = {p.value: p for p in HTTPFilterPriority}


def no_unknown(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigurationError(
                f"{where}.{key}: unknown key; the keys are {', '.join(known)}"
            )


def list_at(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigurationError(f"{where}.{key}: a list, not {value!r}")
    return value


def route_from(data: object, where: str) -> Route:
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


def filter_from(
    data: object, where: str
) -> tuple[str, tuple[object, HTTPFilterPriority]]:
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


def tls_from(data: object, where: str) -> TLSConfiguration:
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where}: a dictionary, not {data!r}")
    no_unknown(data, _TLS_KEYS, where)
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
