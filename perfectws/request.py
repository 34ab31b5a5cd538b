"""The request a handler receives: Perfect's ``HTTPRequest`` over Tornado's parser."""

from __future__ import annotations

from collections.abc import MutableSet
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tornado.httputil import HTTPHeaders

from .method import HTTPMethod
from .settings import WebSocketSettings

__all__ = ["HTTPRequest", "WebRequest"]


class ServerContext:
    """What the server that received a request lends the handlers it runs.

    Swift: none. ``sessions`` is the server's registry of open WebSockets,
    which a session joins when it starts and leaves when its connection is
    gone (the server's keepalive sweep and its shutdown walk it); ``settings``
    are the server's session defaults (keepalive, caps, timeouts). One per
    server, shared by all its requests. The server owns both; nothing here
    refers back to the server, so the request layer imports nothing above it.
    """

    __slots__ = ("sessions", "settings")

    def __init__(self, sessions: MutableSet[Any], settings: WebSocketSettings) -> None:
        self.sessions = sessions
        self.settings = settings


class HTTPRequest:
    """One HTTP request, as a route handler sees it.

    Swift: ``protocol HTTPRequest`` (``WebRequest`` in Perfect 1.x).

    Tornado has already parsed the request line and headers; this is a thin,
    Perfect-shaped view of them. ``url_variables`` is filled by the router with
    the values of ``{name}`` components and the trailing ``**`` wildcard.
    """

    __slots__ = (
        "_query_params",
        "body",
        "document_root",
        "headers",
        "method",
        "path",
        "query_string",
        "remote_address",
        "scratch_pad",
        "scheme",
        "server_address",
        "server_context",
        "uri",
        "url_variables",
        "version",
    )

    def __init__(
        self,
        method: HTTPMethod,
        uri: str,
        headers: HTTPHeaders | None = None,
        *,
        version: str = "HTTP/1.1",
        body: bytes = b"",
        remote_address: tuple[str, int] | None = None,
        server_address: tuple[str, int] | None = None,
        document_root: str = "./webroot",
        server_context: ServerContext | None = None,
        scheme: str = "http",
    ) -> None:
        self.method = method
        #: The request target exactly as sent (path and query, still encoded).
        self.uri = uri
        if uri.startswith(("http://", "https://")):
            # The absolute form (RFC 9112 3.2.2), as proxies send it.
            parts = urlsplit(uri)
            raw_path, query = parts.path, parts.query
        else:
            # Not urlsplit: it would read "//a/b" as a host "a" and a path "/b".
            raw_path, _, query = uri.partition("#")[0].partition("?")
        #: The path, percent-decoded. Swift: ``var path: String``.
        self.path = unquote(raw_path) or "/"
        self.query_string = query
        self.headers = headers if headers is not None else HTTPHeaders()
        self.version = version
        #: Swift: ``var postBodyBytes: [UInt8]?``
        self.body = body
        #: Swift: ``var remoteAddress: (host: String, port: UInt16)``
        self.remote_address = remote_address
        #: Swift: ``var serverAddress: (host: String, port: UInt16)``
        self.server_address = server_address
        #: ``"http"`` or ``"https"``: as the client connected, which behind a
        #: trusted proxy is what ``X-Forwarded-Proto``/``Forwarded`` say.
        #: Swift: none (Perfect serves TLS itself, so it is always its own).
        self.scheme = scheme
        #: Swift: ``var urlVariables: [String: String]``
        self.url_variables: dict[str, str] = {}
        #: The server's document root. Swift: ``var documentRoot: String``
        self.document_root = document_root
        #: ``None`` for a request built by hand (a unit test's).
        self.server_context = server_context
        #: Per-request storage shared by filters and handlers.
        #: Swift: ``var scratchPad: [String:Any]``
        self.scratch_pad: dict[str, Any] = {}
        self._query_params: list[tuple[str, str]] | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``.

        Swift: ``func header(_ named: HTTPRequestHeader.Name) -> String?``
        """
        return self.headers.get(name)

    @property
    def query_params(self) -> list[tuple[str, str]]:
        """The query string's name/value pairs, in order.

        Swift: ``var queryParams: [(String, String)]``
        """
        if self._query_params is None:
            self._query_params = parse_qsl(self.query_string, keep_blank_values=True)
        return self._query_params

    def param(self, name: str) -> str | None:
        """The first query parameter called ``name``, or ``None``.

        Swift: ``func param(name: String) -> String?``
        """
        for key, value in self.query_params:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        return f"<HTTPRequest {self.method.value} {self.uri}>"


#: Perfect 1.x spelling, kept so a line-by-line port of old code imports.
WebRequest = HTTPRequest
