"""Static files: Perfect's ``StaticFileHandler``.

Serves files under a document root with MIME types, RFC 9110 validators and
conditional requests (ETag, Last-Modified, 304, 412, If-Range), single byte
ranges, HEAD, ``index.html`` for directories, and no way out of the root.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import stat as stat_module
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import quote

from ._conditional import if_range_holds, precondition_status
from ._http_dates import format_http_date
from ._ranges import ByteRange, parse_range
from .exceptions import ConfigurationError
from .method import HTTPMethod
from .response import complete_text

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = ["StaticFileHandler"]

logger = logging.getLogger(__name__)


class StaticFileHandler:
    """Serves the files under ``document_root``.

    Swift: ``StaticFileHandler(documentRoot: String, allowResponseFilters:
    Bool = false, chunkedBufferSize: Int)``; in Perfect 1.x,
    ``StaticFileHandler()`` with the server's document root.

    Without ``document_root`` it serves the root of the server that received
    the request (``HTTPServer(document_root=...)``), as Perfect 1.x does.

    * ``GET /`` and any path ending in ``/`` serve that folder's ``index.html``;
      a folder asked for without the slash is redirected (301) to it, query
      kept. The ``Location`` is percent-encoded and always a path on this
      host (never ``//host`` or ``/\\host``, which browsers follow off-site).
    * ``Content-Type`` comes from the file's extension (a fixed table for the
      common web types, then :mod:`mimetypes`); text types get ``charset=utf-8``.
    * Every file answer carries a strong ``ETag`` (the SHA-1 of the path,
      modification time and size), ``Last-Modified`` (the modification
      time, never later than now) and ``Cache-Control: no-cache``, so that
      browsers revalidate (a 304 when nothing changed) instead of guessing a
      lifetime from ``Last-Modified``.
    * Conditional requests follow RFC 9110 13.2.2: ``If-Match`` and
      ``If-Unmodified-Since`` that fail answer 412; ``If-None-Match`` (quoted
      entity-tags compared weakly, lists, ``*``) or, without it,
      ``If-Modified-Since`` answer 304 with ``ETag`` and ``Last-Modified``
      and no body. A header whose date is no HTTP-date is ignored.
    * One ``Range`` on a GET is served as 206 (``bytes=a-b``, ``a-`` or the
      suffix ``-n``); an unsatisfiable one gets 416 with ``Content-Range:
      bytes */N``. Several ranges, another unit, a malformed value, a HEAD,
      or an ``If-Range`` that names an older file (an entity-tag that does not
      match strongly, a date other than the ``Last-Modified``) get the whole
      file (200).
    * Files larger than ``chunked_buffer_size`` are streamed in chunks of it,
      each read after the previous one was written.

    Safety: the path is resolved, symlinks included, and must stay inside the
    resolved document root, or the answer is 404; ``..``, encoded dots and
    slashes (decoded before this runs), absolute paths and NUL bytes cannot
    reach a file outside it. Only regular files are served: a FIFO or device
    inside the root is a 404 (it is opened non-blocking, so a FIFO cannot
    stall the server).

    Differs from Perfect: Perfect does not resolve symlinks, so a link inside
    the root can serve a file outside it; perfectws refuses those (404).
    Perfect compares ``If-None-Match`` with the ETag as one string, sends no
    ``Last-Modified``, answers several ranges or a malformed ``Range`` with
    400 or 500 (RFC 9110 asks for neither), and has no folder redirect. Its
    ETag is unquoted and hashes the path and time only.
    ``allow_response_filters`` is accepted and ignored (no filters exist here).

    Raises:
        ConfigurationError: ``chunked_buffer_size`` is not a positive ``int``
            (also a ``ValueError``).
    """

    def __init__(
        self,
        document_root: str | None = None,
        allow_response_filters: bool = False,
        chunked_buffer_size: int = 200 * 1024,
    ) -> None:
        if not isinstance(chunked_buffer_size, int) or chunked_buffer_size < 1:
            raise ConfigurationError(
                f"chunked_buffer_size must be a positive number of bytes, "
                f"not {chunked_buffer_size!r}"
            )
        self.document_root = document_root
        self.allow_response_filters = allow_response_filters
        self.chunked_buffer_size = chunked_buffer_size

    def handle_request(self, request: HTTPRequest, response: HTTPResponse) -> None:
        """Answer ``request`` with a file, or 404/304/206/416.

        Swift: ``func handleRequest(request: HTTPRequest, response: HTTPResponse)``
        """
        if request.method not in (HTTPMethod.GET, HTTPMethod.HEAD):
            response.set_header("Allow", "GET, HEAD")
            complete_text(
                response, HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are served"
            )
            return
        path = request.path
        if path.endswith("/"):
            path += "index.html"
        filename = self._resolve(request.document_root, path)
        file, is_dir = (
            _open_regular(filename) if filename is not None else (None, False)
        )
        if is_dir:
            _redirect_to_folder(request, response)
            return
        if file is None or filename is None:
            complete_text(
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
        # The separator keeps /srv/www from also matching /srv/www-private (and
        # a root of "/" already ends with it).
        prefix = root if root.endswith(os.sep) else root + os.sep
        if candidate != root and not candidate.startswith(prefix):
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
        now = time.time()
        # Size and nanoseconds too: If-Range trusts this tag as strong, so a
        # rewrite within one clock tick must still change it.
        etag = (
            '"'
            + hashlib.sha1(f"{filename}{stat.st_mtime_ns}:{size}".encode()).hexdigest()
            + '"'
        )
        # RFC 9110 8.8.2.1: never a Last-Modified later than the response. Not
        # before 1970 either: the HTTP-date of an absurd mtime may not format.
        last_modified = max(min(stat.st_mtime_ns // 10**9, int(now)), 0)
        response.set_header("ETag", etag)
        response.set_header("Last-Modified", format_http_date(last_modified))
        # With Last-Modified and no Cache-Control, browsers cache heuristically
        # (RFC 9111 4.2.2: often a tenth of the file's age) and show an edited
        # file late. no-cache keeps what they did before Last-Modified was
        # sent: revalidate each time, which the ETag makes a cheap 304.
        response.set_header("Cache-Control", "no-cache")
        response.set_header("Accept-Ranges", "bytes")
        refusal = precondition_status(request.headers, etag, last_modified, now)
        if refusal is not None:
            file.close()
            if refusal is HTTPStatus.NOT_MODIFIED:
                response.completed(refusal)
            else:
                complete_text(response, refusal, "")
            return
        response.set_header("Content-Type", _content_type(filename))
        span = self._range(request, size, etag, last_modified, now)
        if span is None:
            start, end = 0, size
        elif isinstance(span, ByteRange):
            start, end = span
            response.status = HTTPStatus.PARTIAL_CONTENT
            response.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            file.close()
            response.set_header("Content-Range", f"bytes */{size}")
            complete_text(response, HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "")
            return
        response.set_header("Content-Length", str(end - start))
        if request.method is HTTPMethod.HEAD or end == start:
            file.close()
            response.completed()
            return
        file.seek(start)
        self._stream(response, file, end - start)

    @staticmethod
    def _range(
        request: HTTPRequest, size: int, etag: str, last_modified: int, now: float
    ) -> ByteRange | Literal["unsatisfiable"] | None:
        """The one range to send as 206, ``"unsatisfiable"`` for 416, ``None`` for 200.

        RFC 9110 14.2: ranges are defined for GET only (HEAD of a range is the
        file's 200 headers), and an ``If-Range`` that does not name the current
        file turns the ``Range`` off. Several ranges are served whole (200)
        rather than as multipart/byteranges, which RFC 9110 allows; so is a
        suffix of an empty file, since no Content-Range can describe it.
        """
        value = request.headers.get("Range")
        if value is None or request.method is not HTTPMethod.GET:
            return None
        if_range = request.headers.get("If-Range")
        if if_range is not None and not if_range_holds(
            if_range, etag, last_modified, now
        ):
            return None
        ranges = parse_range(value, size)
        if ranges is None or len(ranges) != 1:
            return None
        span = ranges[0]
        if span is None:
            return "unsatisfiable"
        return span if span.start < span.stop else None

    def _stream(self, response: HTTPResponse, file: BinaryIO, remaining: int) -> None:
        """Send the file in chunks, each after the previous one was written."""
        try:
            chunk = file.read(min(self.chunked_buffer_size, remaining))
        except OSError:
            chunk = b""
        if not chunk:
            # The file shrank (or a read failed) after its Content-Length went
            # out. Finishing would make Tornado raise in a write callback; a
            # cut connection is the only honest end: the client sees it short.
            logger.debug(
                "file ended %d bytes early; dropping the connection", remaining
            )
            file.close()
            response._abort()
            return
        remaining -= len(chunk)
        response.append_body(chunk)
        if remaining <= 0:
            file.close()
            response.completed()
            return

        def next_chunk(ok: bool) -> None:
            if ok:
                self._stream(response, file, remaining)
            else:
                file.close()

        response.push(next_chunk)


def _open_regular(filename: str) -> tuple[BinaryIO | None, bool]:
    """Open ``filename`` if it is a regular file: ``(file, False)``.

    ``(None, True)`` for a folder, ``(None, False)`` for anything else (missing,
    unreadable, FIFO, device, socket).
    """
    # O_NONBLOCK: open() of a FIFO with no writer would block the event loop
    # for good. Regular files ignore the flag. O_NOFOLLOW: _resolve already
    # resolved every link, so a link here was swapped in after it looked.
    flags = os.O_RDONLY | _O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC
    try:
        fd = os.open(filename, flags)
    except OSError:
        # Some systems cannot open a folder for reading; still say it is one.
        return None, os.path.isdir(filename) and not os.path.islink(filename)
    try:
        mode = os.fstat(fd).st_mode
        if not stat_module.S_ISREG(mode):
            os.close(fd)
            return None, stat_module.S_ISDIR(mode)
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), False
    except BaseException:
        os.close(fd)
        raise


_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)


def _redirect_to_folder(request: HTTPRequest, response: HTTPResponse) -> None:
    """301 from ``/folder`` to ``/folder/``, keeping the query."""
    # request.path is decoded, so it must be encoded again: a raw CR/LF would
    # break the header. Leading slashes collapse to one, and quote() turns "\"
    # into %5C: "//host/..." or "/\host/..." would send a browser off-site.
    location = "/" + quote(request.path.lstrip("/"), safe="/") + "/"
    if request.query_string:
        location += "?" + request.query_string
    response.set_header("Location", location)
    complete_text(response, HTTPStatus.MOVED_PERMANENTLY, "")


#: Types for the usual web files, so they do not depend on the machine's
#: mime.types (which maps .js to application/javascript on some systems).
_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".pdf": "application/pdf",
}


def _content_type(filename: str) -> str:
    mime: str | None = _TYPES.get(os.path.splitext(filename)[1].lower())
    encoding = None
    if mime is None:
        mime, encoding = mimetypes.guess_type(filename)
    if encoding == "gzip":
        return "application/gzip"
    if mime is None:
        return "application/octet-stream"
    if mime.startswith("text/") or mime in (
        "application/javascript",
        "application/json",
        "application/xml",
    ):
        return mime + "; charset=utf-8"
    return mime
