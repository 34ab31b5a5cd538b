"""Static files: Perfect's ``StaticFileHandler``.

Serves files under a document root with MIME types, ETag/304, single byte
ranges, HEAD, ``index.html`` for directories, and no way out of the root.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from http import HTTPStatus
from typing import TYPE_CHECKING, BinaryIO

from tornado.httputil import _parse_request_range

from .method import HTTPMethod

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = ["StaticFileHandler"]


class StaticFileHandler:
    """Serves the files under ``document_root``.

    Swift: ``StaticFileHandler(documentRoot: String, allowResponseFilters:
    Bool = false, chunkedBufferSize: Int)``; in Perfect 1.x (the seed),
    ``StaticFileHandler()`` with the server's document root.

    Without ``document_root`` it serves the root of the server that received
    the request (``HTTPServer(document_root=...)``), as the seed does.

    * ``GET /`` and any path ending in ``/`` serve that folder's ``index.html``;
      a folder asked for without the slash is redirected (301) to it.
    * ``Content-Type`` comes from the file's extension; text types get
      ``charset=utf-8``.
    * ``ETag`` is the SHA-1 of the path and modification time (as Perfect);
      ``If-None-Match`` with it answers 304.
    * One ``Range`` is served as 206; an unsatisfiable one gets 416.
    * Files larger than ``chunked_buffer_size`` are streamed in chunks of it.

    Safety: the path is resolved, symlinks included, and must stay inside the
    resolved document root, or the answer is 404; ``..``, encoded dots and
    slashes (decoded before this runs), absolute paths and NUL bytes cannot
    reach a file outside it.

    Differs from Perfect: Perfect does not resolve symlinks, so a link inside
    the root can serve a file outside it; perfectws refuses those (404).
    ``allow_response_filters`` is accepted and ignored (no filters exist here).
    """

    def __init__(
        self,
        document_root: str | None = None,
        allow_response_filters: bool = False,
        chunked_buffer_size: int = 200 * 1024,
    ) -> None:
        self.document_root = document_root
        self.allow_response_filters = allow_response_filters
        self.chunked_buffer_size = chunked_buffer_size

    def handle_request(self, request: HTTPRequest, response: HTTPResponse) -> None:
        """Answer ``request`` with a file, or 404/304/206/416.

        Swift: ``func handleRequest(request: HTTPRequest, response: HTTPResponse)``
        """
        if request.method not in (HTTPMethod.GET, HTTPMethod.HEAD):
            response.set_header("Allow", "GET, HEAD")
            _text(
                response, HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are served"
            )
            return
        path = request.path
        if path.endswith("/"):
            path += "index.html"
        filename = self._resolve(request.document_root, path)
        if filename is not None and os.path.isdir(filename):
            response.set_header("Location", request.path + "/")
            _text(response, HTTPStatus.MOVED_PERMANENTLY, "")
            return
        try:
            file = open(filename, "rb") if filename is not None else None
        except OSError:
            file = None
        if file is None or filename is None:
            _text(
                response,
                HTTPStatus.NOT_FOUND,
                f"The file {request.path} was not found.",
            )
            return
        try:
            self._serve(request, response, file, filename)
        except BaseException:
            file.close()
            raise

    def _resolve(self, request_root: str, path: str) -> str | None:
        """The real path of ``path`` under the root, or ``None`` if it leaves it."""
        if "\x00" in path:
            return None
        root = os.path.realpath(self.document_root or request_root)
        # lstrip: an absolute path must not replace the root in os.path.join.
        candidate = os.path.realpath(os.path.join(root, path.lstrip("/")))
        # The separator keeps /srv/www from also matching /srv/www-private.
        if candidate != root and not candidate.startswith(root + os.sep):
            return None
        return candidate

    def _serve(
        self,
        request: HTTPRequest,
        response: HTTPResponse,
        file: BinaryIO,
        filename: str,
    ) -> None:
        stat = os.fstat(file.fileno())
        size = stat.st_size
        etag = (
            '"' + hashlib.sha1(f"{filename}{stat.st_mtime}".encode()).hexdigest() + '"'
        )
        response.set_header("ETag", etag)
        response.set_header("Accept-Ranges", "bytes")
        if request.headers.get("If-None-Match") in (etag, etag.strip('"')):
            file.close()
            response.completed(HTTPStatus.NOT_MODIFIED)
            return
        response.set_header("Content-Type", _content_type(filename))
        start, end = 0, size
        range_header = request.headers.get("Range")
        if range_header is not None:
            parsed = _parse_request_range(range_header)
            if parsed is not None:
                first, last = parsed
                if first is None and last is not None:
                    first, last = max(size + last, 0), size  # "bytes=-N": the last N
                first = first or 0
                last = size if last is None else min(last, size)
                if first >= size or first >= last:
                    file.close()
                    response.set_header("Content-Range", f"bytes */{size}")
                    _text(response, HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "")
                    return
                start, end = first, last
                response.status = HTTPStatus.PARTIAL_CONTENT
                response.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        response.set_header("Content-Length", str(end - start))
        if request.method is HTTPMethod.HEAD or end == start:
            file.close()
            response.completed()
            return
        file.seek(start)
        self._stream(response, file, end - start)

    def _stream(self, response: HTTPResponse, file: BinaryIO, remaining: int) -> None:
        """Send the file in chunks, each after the previous one was written."""
        chunk = file.read(min(self.chunked_buffer_size, remaining))
        remaining -= len(chunk)
        response.append_body(chunk)
        if remaining <= 0 or not chunk:
            file.close()
            response.completed()
            return

        def next_chunk(ok: bool) -> None:
            if ok:
                self._stream(response, file, remaining)
            else:
                file.close()

        response.push(next_chunk)


def _content_type(filename: str) -> str:
    mime, encoding = mimetypes.guess_type(filename)
    if encoding == "gzip":
        return "application/gzip"
    if mime is None:
        return "application/octet-stream"
    if mime.startswith("text/") or mime in (
        "application/javascript",
        "application/json",
    ):
        return mime + "; charset=utf-8"
    return mime


def _text(response: HTTPResponse, status: int, text: str) -> None:
    response.set_header("Content-Type", "text/plain; charset=utf-8")
    response.set_body(text)
    response.completed(status)
