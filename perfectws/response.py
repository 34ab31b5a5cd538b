"""The response a handler fills in: Perfect's ``HTTPResponse`` over Tornado's writer."""

from __future__ import annotations

import builtins
import json as _json
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

from tornado.httputil import HTTPHeaders, ResponseStartLine

from .exceptions import ArgumentError
from .filters import HTTPResponseFilterResult

if TYPE_CHECKING:
    from tornado.http1connection import HTTP1Connection

    from .filters import HTTPResponseFilter
    from .request import HTTPRequest

__all__ = ["HTTPResponse", "WebResponse"]

logger = logging.getLogger(__name__)

bytes_ = builtins.bytes
# set_body(json=None) must encode null, so "no json" needs its own marker.
_NO_JSON: object = object()


def _one_body(
    name: str, data: object, string: object, raw: object
) -> builtins.bytes | bytearray | memoryview:
    given = [v for v in (data, string, raw) if v is not None]
    if len(given) != 1:
        raise ArgumentError(
            f"{name} takes exactly one of data, string= or bytes= (got {len(given)})"
        )
    if string is not None and not isinstance(string, str):
        raise ArgumentError(f"{name}(string=) takes a str, not {type(string).__name__}")
    if raw is not None and isinstance(raw, str):
        raise ArgumentError(f"{name}(bytes=) takes bytes, not str: use string=")
    value = given[0]
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (builtins.bytes, bytearray, memoryview)):
        return value
    raise ArgumentError(f"{name} takes str or bytes, not {type(value).__name__}")


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
        "_filters",
        "_finished",
        "_headers_sent",
        "_on_done",
        "_request",
        "body",
        "headers",
        "is_streaming",
        "status",
    )

    def __init__(
        self,
        request: HTTPRequest,
        connection: HTTP1Connection | None = None,
        filters: Sequence[Sequence[HTTPResponseFilter]] = (),
    ) -> None:
        self._request = request
        self._connection = connection
        #: Swift: ``var status: HTTPResponseStatus``
        self.status: int = HTTPStatus.OK
        self.headers = HTTPHeaders()
        #: Swift: ``var bodyBytes: [UInt8]``
        self.body = bytearray()
        #: Whether the body goes out in pieces (chunked) rather than with a
        #: ``Content-Length``: set by the first :meth:`push` when no length
        #: was given. Swift: ``var isStreaming: Bool``
        self.is_streaming = False
        self._filters = filters
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

    def append_body(
        self,
        data: builtins.bytes | bytearray | memoryview | str | None = None,
        *,
        string: str | None = None,
        bytes: builtins.bytes | bytearray | memoryview | None = None,
    ) -> HTTPResponse:
        """Append to the body.

        Swift: ``appendBody(string:)`` / ``appendBody(bytes:)``; also
        ``append_body(data)`` with a ``str`` (UTF-8 encoded) or bytes.
        """
        self.body += _one_body("append_body", data, string, bytes)
        return self

    def set_body(
        self,
        data: builtins.bytes | bytearray | memoryview | str | None = None,
        *,
        string: str | None = None,
        bytes: builtins.bytes | bytearray | memoryview | None = None,
        json: object = _NO_JSON,
        skip_content_type: bool = False,
    ) -> HTTPResponse:
        """Replace the body.

        Swift: ``setBody(string:)``, ``setBody(bytes:)``, ``setBody(json:
        skipContentType:) throws``; also ``set_body(data)`` with a ``str`` or bytes.

        ``json=`` encodes the value with :func:`json.dumps` and sets
        ``Content-Type: application/json`` unless ``skip_content_type``; a
        value JSON cannot encode raises ``TypeError`` (or ``ValueError``),
        as Perfect's ``setBody(json:)`` throws.
        """
        if json is not _NO_JSON:
            if data is not None or string is not None or bytes is not None:
                raise ArgumentError(
                    "set_body takes one of data, string=, bytes=, json="
                )
            encoded = _json.dumps(json, ensure_ascii=False, allow_nan=False)
            if not skip_content_type:
                self.headers["Content-Type"] = "application/json"
            self.body = bytearray(encoded.encode())
            return self
        self.body = bytearray(_one_body("set_body", data, string, bytes))
        return self

    def push(self, callback: Callable[[bool], None] | None = None) -> None:
        """Send the headers (the first time) and the body so far.

        Swift: ``func push(callback: @escaping (Bool) -> ())``

        ``callback(ok)`` runs once the data has been written (``False`` if the
        connection is gone). Without a ``Content-Length`` header an HTTP/1.1
        response is sent chunked (``is_streaming`` becomes true). For a HEAD
        request, or a status that has no body (1xx, 204, 304), the body is
        dropped and only headers are sent. Response filters run first.
        """
        connection = self._connection
        if connection is None or self._finished:
            if callback is not None:
                callback(False)
            return
        if not self._headers_sent and "Content-Length" not in self.headers:
            self.is_streaming = True
        self._filtered(final=False, then=lambda: self._write(callback))

    def completed(self, status: int | None = None) -> None:
        """Finish the response: send whatever is left and end the exchange.

        Swift: ``func completed()`` (and ``completed(status:)``)

        A second call does nothing, so an error path cannot send two responses.
        Unless a ``Content-Length`` was set, it is the body's length (after
        the response filters ran). A HEAD request, or a status that has no
        body (1xx, 204, 304), gets the headers only: a body set for it is
        dropped, so the connection stays in step.
        """
        if self._finished:
            return
        if status is not None:
            self.status = status
        connection = self._connection
        self._finished = True
        if connection is None:
            self._report(self.status)
            return
        # Perfect's HTTP11Response.flush marks the last push for the filters
        # in the scratch pad; perfectws keeps the key.
        self._request.scratch_pad["_flushing_"] = True
        auto_length = (
            not self._headers_sent
            and "Content-Length" not in self.headers
            and not _bodyless(self.status)
        )
        if auto_length:
            # Perfect sets the length before the filters see the headers.
            self.headers["Content-Length"] = str(len(self.body))

        def send() -> None:
            if auto_length and not self.is_streaming:
                self.headers["Content-Length"] = str(len(self.body))
            # Counted before the answer goes out, so a client that has it finds
            # it in the metrics, even when another worker serves /metrics.
            self._report(self.status)
            self._write(None)
            if self._connection is not None:
                self._connection.finish()

        self._filtered(final=True, then=send)

    def _write(self, callback: Callable[[bool], None] | None) -> None:
        connection = self._connection
        if connection is None:
            if callback is not None:
                callback(False)
            return
        chunk = bytes_(self.body) if self._sends_body() else b""
        self.body.clear()
        if not self._headers_sent:
            future = connection.write_headers(self._start_line(), self.headers, chunk)
            self._headers_sent = True
        elif chunk:
            future = connection.write(chunk)
        else:
            if callback is not None:
                callback(True)
            return
        if callback is not None:
            future.add_done_callback(lambda f: callback(f.exception() is None))

    def _filtered(self, final: bool, then: Callable[[], None]) -> None:
        """Run the response filters over this push, then ``then()``.

        Mirrors ``HTTP11Response.filterHeaders`` / ``filterBodyBytes``: the
        header filters run once, before the first bytes; the body filters
        on every push, the first included.
        """
        if not self._filters:
            then()
            return
        headers_pending = not self._headers_sent

        def body_pass() -> None:
            self._run_filters("filter_body", then)

        if headers_pending:
            self._run_filters("filter_headers", body_pass)
        else:
            body_pass()

    def _run_filters(self, method: str, then: Callable[[], None]) -> None:
        groups = self._filters

        def run(group_index: int, filter_index: int) -> None:
            if group_index >= len(groups):
                then()
                return
            group = groups[group_index]
            if filter_index >= len(group):
                run(group_index + 1, 0)
                return
            current = group[filter_index]
            called = False

            def callback(result: object) -> None:
                nonlocal called
                if called:
                    return
                called = True
                if result is HTTPResponseFilterResult.CONTINUE:
                    run(group_index, filter_index + 1)
                elif result is HTTPResponseFilterResult.DONE:
                    then()
                else:
                    if result is not HTTPResponseFilterResult.HALT:
                        logger.error(
                            "response filter %r answered %r, not an "
                            "HTTPResponseFilterResult",
                            current,
                            result,
                        )
                    self._abort()

            try:
                getattr(current, method)(self, callback)
            except Exception:
                logger.exception(
                    "response filter %r failed in %s for %s",
                    current,
                    method,
                    self._request.uri,
                )
                if not called:
                    called = True
                    self._filter_failed()

        run(0, 0)

    def _filter_failed(self) -> None:
        """A response filter raised: 500 if the headers are still ours, else cut."""
        if self._headers_sent or self._connection is None:
            self._abort()
            return
        self._filters = ()
        self.headers.clear()
        self.is_streaming = False
        self.status = HTTPStatus.INTERNAL_SERVER_ERROR
        self.headers["Content-Type"] = "text/plain; charset=utf-8"
        self.body = bytearray(b"internal error")
        self.headers["Content-Length"] = str(len(self.body))
        self._finished = True
        self._write(None)
        if self._connection is not None:
            self._connection.finish()

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

    def _detach(self) -> HTTP1Connection | None:
        """Mark the response done: the connection now speaks another protocol.

        Returns Tornado's connection, which the caller takes over (``None``
        for a response built by hand, which has none).
        """
        connection = self._connection
        self._finished = True
        self._headers_sent = True
        self._connection = None
        self._report(HTTPStatus.SWITCHING_PROTOCOLS)
        return connection

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
