"""Perfect's stock handler generators: ``HTTPHandler.staticFiles`` and ``redirect``.

Swift: ``public struct HTTPHandler`` (PerfectlySoft/Perfect-HTTPServer
``Sources/PerfectHTTPServer/HTTPServerExConfig.swift``). Each takes a route's
``data`` dictionary and returns the route's handler, so it can be named as a
route's ``handler`` in ``launch(configuration_data=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError
from .routing import RequestHandler
from .static import StaticFileHandler

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = ["HTTPHandler"]


class HTTPHandler:
    """Namespace of Perfect's stock handler generators.

    Swift: ``public struct HTTPHandler`` with ``staticFiles(data:)`` and
    ``redirect(data:)``.
    """

    __slots__ = ()

    @staticmethod
    def static_files(data: Mapping[str, Any]) -> RequestHandler:
        """A handler serving files from ``data["documentRoot"]`` (default ``./webroot``).

        Swift: ``static func staticFiles(data: [String:Any]) throws -> RequestHandler``

        ``data["allowResponseFilters"]`` (default false) is handed to
        :class:`~perfectws.StaticFileHandler`.
        """
        root = data.get("documentRoot", "./webroot")
        if not isinstance(root, str):
            raise ConfigurationError(
                f"documentRoot: the folder to serve, as a string, not {root!r}"
            )
        allow = data.get("allowResponseFilters", False)
        if not isinstance(allow, bool):
            raise ConfigurationError(
                f"allowResponseFilters: true or false, not {allow!r}"
            )
        return StaticFileHandler(
            document_root=root, allow_response_filters=allow
        ).handle_request

    @staticmethod
    def redirect(data: Mapping[str, Any]) -> RequestHandler:
        """A handler answering 301 to ``data["base"]`` followed by the request's URI.

        Swift: ``static func redirect(data: [String:Any]) throws -> RequestHandler``

        Differs from Perfect: a missing ``base`` raises ConfigurationError
        (Perfect stops the process with ``fatalError``).
        """
        base = data.get("base")
        if not isinstance(base, str):
            raise ConfigurationError(
                f"base: HTTPHandler.redirect needs the URL to redirect to, "
                f"as a string, not {base!r}"
            )

        def handler(request: HTTPRequest, response: HTTPResponse) -> None:
            response.status = HTTPStatus.MOVED_PERMANENTLY
            response.set_header("Location", base + request.uri)
            response.completed()

        return handler
