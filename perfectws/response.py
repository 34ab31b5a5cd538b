"""The response a handler fills in: Perfect's ``HTTPResponse`` over Tornado's writer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from tornado.httputil import HTTPHeaders, ResponseStartLine

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection

    from .request import HTTPRequest

__all__ = ["HTTPResponse", "WebResponse"]

logger = logging.getLogger(__name__)


class HTTPResponse:
    """The response to one request.

    Swift: ``protocol HTTPResponse`` (``WebResponse`` in Perfect 1.x).

    Set ``status``, add headers and body, then call :meth:`completed` once.
    :meth:`push` sends what is there so far (headers first) for streaming.

    Differs from Perfect: ``status`` takes an ``int`` or an ``http.HTTPStatus``
    (Swift's ``HTTPResponseStatus`` cases map to the same numbers).
    """

    __slots__ = (
        "_connection",
        "_finished",
        "_headers_sent",
        "_on_done",
        "_request",
        "body",
        "headers",
        "status",
    )

    def __init__(
        self, request: HTTPRequest, connection: HTTP1Connection | None = None
    ) -> None:
        self._request = request
        self._connection = connection
        #: Swift: ``var status: HTTPResponseStatus``
        self.status: int = HTTPStatus.OK
        self.headers = HTTPHeaders()
        #: Swift: ``var bodyBytes: [UInt8]``
        self.body = bytearray()
        self._headers_sent = False
        self._finished = False
        #: Called once with ``(response, status)`` when the response is done
        #: (completed, aborted, or 101 and handed over): the access log and
        #: metrics (perfectws/_operations.py). None costs one test.
        self._on_done: Callable[[HTTPResponse, int], None] | None = None

    @property
    def request(self) -> HTTPRequest:
        """The request this responds to. Swift: ``var request: HTTPRequest``"""
        return self._request

    @property
    def is_completed(self) -> bool:
        """Whether :meth:`completed` has run (or the connection was taken over)."""
        return self._finished

    def set_header(self, name: str, value: str) -> HTTPResponse:
        """Set header ``name``, replacing any value. Swift: ``setHeader(_:value:)``"""
        self.headers[name] = value
        return self

    def add_header(self, name: str, value: str) -> HTTPResponse:
        """Add a value for header ``name``. Swift: ``addHeader(_:value:)``"""
        self.headers.add(name, value)
        return self

    def header(self, name: str) -> str | None:
        """The value of response header ``name``, or ``None``."""
        return self.headers.get(name)

    def append_body(self, data: bytes | bytearray | memoryview | str) -> HTTPResponse:
        """Append to the body. Swift: ``appendBody(string:)`` / ``appendBody(bytes:)``"""
        self.body += data.encode() if isinstance(data, str) else data
        return self

    def set_body(self, data: bytes | str) -> HTTPResponse:
        """Replace the body. Swift: ``setBody(string:)`` / ``setBody(bytes:)``"""
        self.body = bytearray(data.encode() if isinstance(data, str) else data)
        return self

    def push(self, callback: Callable[[bool], None] | None = None) -> None:
        """Send the headers (the first time) and the body so far.

        Swift: ``func push(callback: @escaping (Bool) -> ())``

        ``callback(ok)`` runs once the data has been written (``False`` if the
        connection is gone). Without a ``Content-Length`` header an HTTP/1.1
        response is sent chunked. For a HEAD request, or a status that has no
        body (1xx, 204, 304), the body is dropped and only headers are sent.
        """
        connection = self._connection
        if connection is None or self._finished:
            if callback is not None:
                callback(False)
            return
        chunk = bytes(self.body) if self._sends_body() else b""
        self.body.clear()
        if not self._headers_sent:
            future = connection.write_headers(self._start_line(), self.headers, chunk)
            self._headers_sent = True
        else:
            future = connection.write(chunk)
        if callback is not None:
            future.add_done_callback(lambda f: callback(f.exception() is None))

    def completed(self, status: int | None = None) -> None:
        """Finish the response: send whatever is left and end the exchange.

        Swift: ``func completed()`` (and ``completed(status:)``)

        A second call does nothing, so an error path cannot send two responses.
        Unless a ``Content-Length`` was set, it is the body's length. A HEAD
        request, or a status that has no body (1xx, 204, 304), gets the headers
        only: a body set for it is dropped, so the connection stays in step.
        """
        if self._finished:
            return
        if status is not None:
            self.status = status
        connection = self._connection
        if connection is None:
            self._finished = True
            self._report(self.status)
            return
        # Counted before the answer goes out, so a client that has it finds it
        # in the metrics, even when another worker serves /metrics.
        self._report(self.status)
        if not self._headers_sent:
            if "Content-Length" not in self.headers and not _bodyless(self.status):
                self.headers["Content-Length"] = str(len(self.body))
            body = bytes(self.body) if self._sends_body() else b""
            connection.write_headers(self._start_line(), self.headers, body)
            self._headers_sent = True
        elif self.body and self._sends_body():
            connection.write(bytes(self.body))
        self.body.clear()
        self._finished = True
        connection.finish()

    def _sends_body(self) -> bool:
        # Tornado counts body bytes against the framing it chose: for HEAD and
        # 304 it expects none and raises HTTPOutputError (closing the
        # connection); for 204 it would write them raw into the keep-alive
        # stream, where the client reads them as the next response.
        return self._request.method != "HEAD" and not _bodyless(self.status)

    def _start_line(self) -> ResponseStartLine:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        return ResponseStartLine("HTTP/1.1", int(self.status), reason)

    def _abort(self) -> None:
        """Drop the connection mid-response: the client sees the body cut short.

        For a response whose promised length can no longer be met; what was
        already written stays written.
        """
        connection = self._connection
        self._finished = True
        self._connection = None
        if connection is not None:
            connection.close()
        self._report(self.status)

    def _detach(self) -> None:
        """Mark the response done because the connection now speaks another protocol."""
        self._finished = True
        self._headers_sent = True
        self._connection = None
        self._report(HTTPStatus.SWITCHING_PROTOCOLS)

    def _report(self, status: int) -> None:
        hook = self._on_done
        if hook is not None:
            self._on_done = None
            hook(self, int(status))


def complete_text(response: HTTPResponse, status: int, text: str) -> None:
    """Finish ``response`` with ``status`` and a plain-text body (package-internal)."""
    response.set_header("Content-Type", "text/plain; charset=utf-8")
    response.set_body(text)
    response.completed(status)


def _bodyless(status: int) -> bool:
    return status < 200 or status in (204, 304)


#: Perfect 1.x spelling, kept so a line-by-line port of old code imports.
WebResponse = HTTPResponse
