"""Perfect's stock response filters: ``HTTPFilter.contentCompression`` and ``custom404``.

Swift: ``HTTPFilter.contentCompression(data:)``
(PerfectlySoft/Perfect-HTTPServer ``Sources/PerfectHTTPServer/HTTPContentCompression.swift``)
and ``HTTPFilter.custom404(data:)`` (``HTTPServerExConfig.swift``). Both are
filter generators: they take a route-style ``data`` dictionary, so they can
be named in ``launch(configuration_data=...)``'s ``filters``.
"""

from __future__ import annotations

import mimetypes
import posixpath
import zlib
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigurationError
from .filters import HTTPResponseFilter, HTTPResponseFilterResult

if TYPE_CHECKING:
    from .response import HTTPResponse

__all__ = ["HTTPFilter"]

# Perfect: responseMinSizeNoCompression. Smaller bodies are sent as they are.
_MIN_SIZE = 24
_STREAM_KEY = "zlib-stream"

ResponseFilterCallback = Callable[[HTTPResponseFilterResult], None]


class HTTPFilter:
    """Namespace of Perfect's stock filter generators.

    Swift: ``public struct HTTPFilter`` with ``static func
    contentCompression(data:)`` and ``static func custom404(data:)``.
    """

    __slots__ = ()

    @staticmethod
    def content_compression(data: Mapping[str, Any]) -> HTTPResponseFilter:
        """A response filter that compresses bodies the client accepts compressed.

        Swift: ``static func contentCompression(data: [String:Any]) throws
        -> HTTPResponseFilter``

        ``data["compressTypes"]`` (default ``["*/*"]``) and
        ``data["ignoreTypes"]`` (default ``["image/*", "video/*",
        "audio/*"]``) are MIME types or ``type/*``. As in Perfect: HEAD and
        304 responses, bodies under 24 bytes, and requests whose
        ``scratch_pad["no-compression"]`` is true are left alone; the
        Content-Type header, else the path's extension, gives the MIME type;
        a streamed (chunked) body is compressed piece by piece.

        Differs from Perfect: ``Accept-Encoding`` is parsed (``deflate;q=0``
        refuses deflate); ``gzip`` is used when the client takes gzip but
        not deflate (Perfect compresses only for clients naming deflate);
        ``Vary: Accept-Encoding`` is added; a body that already has a
        ``Content-Encoding``, or a fixed-length body sent in pieces (a file
        with its Content-Length), is not compressed.
        """
        compress = _mime_list(data, "compressTypes", ["*/*"])
        ignore = _mime_list(data, "ignoreTypes", ["image/*", "video/*", "audio/*"])
        return _CompressResponse(compress, ignore)

    @staticmethod
    def custom404(data: Mapping[str, Any]) -> HTTPResponseFilter:
        """A response filter that gives every 404 the body of the file ``data["path"]``.

        Swift: ``static func custom404(data: [String:Any]) throws -> HTTPResponseFilter``

        Differs from Perfect: a missing ``path`` raises ConfigurationError
        (Perfect stops the process with ``fatalError``).
        """
        path = data.get("path")
        if not isinstance(path, str):
            raise ConfigurationError(
                f"path: HTTPFilter.custom404 needs the path of the 404 page "
                f"as a string, not {path!r}"
            )
        return _Custom404(path)


def _mime_list(data: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = data.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"{key}: a list of MIME types such as ['text/*'], not {value!r}"
        )
    return [v.strip().lower() for v in value]


def _mime_matches(mime: str, patterns: list[str]) -> bool:
    kind = mime.split("/", 1)[0]
    for pattern in patterns:
        if pattern in ("*/*", "*", mime) or pattern == kind + "/*":
            return True
    return False


def _accepted(accept_encoding: str) -> str | None:
    """The coding to use: deflate (Perfect's), else gzip, else None."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name:
            qualities[name] = q
    star = qualities.get("*", 0.0)
    for coding in ("deflate", "gzip"):
        if qualities.get(coding, star) > 0:
            return coding
    return None


class _CompressResponse:
    """Swift: ``struct CompressResponse: HTTPResponseFilter``."""

    def __init__(self, compress_types: list[str], ignore_types: list[str]) -> None:
        self.compress_types = compress_types
        self.ignore_types = ignore_types

    def filter_headers(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        request = response.request
        pad = request.scratch_pad
        if (
            request.method == "HEAD"
            or response.status == HTTPStatus.NOT_MODIFIED
            or response.header("Content-Encoding") is not None
            or pad.get("no-compression") is True
        ):
            return callback(HTTPResponseFilterResult.CONTINUE)
        if not response.is_streaming:
            if len(response.body) < _MIN_SIZE:
                return callback(HTTPResponseFilterResult.CONTINUE)
            if not pad.get("_flushing_"):
                # Headers with a fixed Content-Length ahead of the rest of
                # the body: the length cannot change any more.
                return callback(HTTPResponseFilterResult.CONTINUE)
        coding = _accepted(request.header("Accept-Encoding") or "")
        mime = self._content_type(response)
        if coding is None or mime is None:
            return callback(HTTPResponseFilterResult.CONTINUE)
        if not _mime_matches(mime, self.compress_types) or _mime_matches(
            mime, self.ignore_types
        ):
            return callback(HTTPResponseFilterResult.CONTINUE)
        stream = zlib.compressobj(wbits=31 if coding == "gzip" else 15)
        response.set_header("Content-Encoding", coding)
        response.add_header("Vary", "Accept-Encoding")
        if response.is_streaming:
            pad[_STREAM_KEY] = stream
        else:
            body = stream.compress(bytes(response.body)) + stream.flush()
            response.body = bytearray(body)
            response.set_header("Content-Length", str(len(body)))
        return callback(HTTPResponseFilterResult.CONTINUE)

    def filter_body(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        pad = response.request.scratch_pad
        stream = pad.get(_STREAM_KEY)
        if not response.is_streaming or stream is None:
            return callback(HTTPResponseFilterResult.CONTINUE)
        body = stream.compress(bytes(response.body))
        if pad.get("_flushing_"):
            body += stream.flush()
            del pad[_STREAM_KEY]
        response.body = bytearray(body)
        return callback(HTTPResponseFilterResult.CONTINUE)

    @staticmethod
    def _content_type(response: HTTPResponse) -> str | None:
        header = response.header("Content-Type")
        if header is not None:
            return header.split(";", 1)[0].strip().lower()
        guessed, _ = mimetypes.guess_type(posixpath.basename(response.request.path))
        return guessed


class _Custom404:
    """Swift: ``struct Filter404: HTTPResponseFilter``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def filter_headers(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        if response.status == HTTPStatus.NOT_FOUND:
            try:
                with open(self.path, "rb") as file:
                    response.set_body(bytes=file.read())
            except OSError:
                response.set_body(
                    string="An error occurred but I could not find the error file. "
                    f"{response.status}"
                )
            response.set_header("Content-Length", str(len(response.body)))
        callback(HTTPResponseFilterResult.CONTINUE)

    def filter_body(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        callback(HTTPResponseFilterResult.CONTINUE)
