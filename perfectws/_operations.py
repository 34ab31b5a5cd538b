"""What an operator needs around the routes: proxies, health, access log, metrics.

Swift: none. Perfect leaves these to the person deploying it; here they are
opt-in ``HTTPServer`` settings (``proxy_headers``, ``forwarded_allow_ips``,
``health_checks``, ``metrics``) and the ``perfectws.access`` logger.

The server calls :meth:`Operations.begin` for each request before routing,
and :meth:`session_opened` / :meth:`session_closed` as WebSocket sessions
come and go. Nothing here runs per WebSocket frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from tornado.ioloop import PeriodicCallback

from ._proxy import TrustedProxies, forwarded_client
from .response import complete_text

if TYPE_CHECKING:
    from .metrics import ServerMetrics
    from .request import HTTPRequest
    from .response import HTTPResponse
    from .server import HTTPServer
    from .websocket import WebSocket

__all__: list[str] = []

#: One line per HTTP request and upgrade, and one per WebSocket close, at INFO.
access_logger = logging.getLogger("perfectws.access")

#: The paths of the opt-in health checks (Kubernetes' names).
LIVE_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"

#: How often a worker writes its live sessions' counts for the others to sum
#: (multiprocess metrics only).
FLUSH_SECONDS = 1.0


class Operations:
    """The operational side of one ``HTTPServer`` (package-internal)."""

    def __init__(
        self,
        server: HTTPServer,
        *,
        proxy_headers: bool,
        forwarded_allow_ips: str | Iterable[str],
        health_checks: bool,
        metrics: ServerMetrics | None,
    ) -> None:
        self._server = server
        self.trusted = TrustedProxies(forwarded_allow_ips) if proxy_headers else None
        self.health_checks = health_checks
        self.metrics = metrics
        self._opened: dict[WebSocket, float] = {}
        self._flusher: PeriodicCallback | None = None

    # ---------------------------------------------------------------- HTTP

    def begin(self, request: HTTPRequest, response: HTTPResponse) -> bool:
        """Before routing: True if the request was answered here."""
        if self.trusted is not None:
            address, scheme = forwarded_client(
                request.remote_address, request.headers, self.trusted
            )
            if address is not None:
                request.remote_address = address
            if scheme is not None:
                request.scheme = "https" if scheme in ("https", "wss") else "http"
        if self.metrics is not None or access_logger.isEnabledFor(logging.INFO):
            started = time.monotonic()
            response._on_done = lambda r, status: self._done(r, status, started)
        if request.method not in ("GET", "HEAD"):
            return False
        path = request.path
        if self.health_checks and path in (LIVE_PATH, READY_PATH):
            response.set_header("Cache-Control", "no-store")
            if path == READY_PATH and self._server.draining:
                complete_text(response, HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            else:
                complete_text(response, HTTPStatus.OK, "ok\n")
            return True
        if self.metrics is not None and path == METRICS_PATH:
            body, content_type = self.metrics.render()
            response.set_header("Content-Type", content_type)
            response.set_header("Cache-Control", "no-store")
            response.set_body(body)
            response.completed(HTTPStatus.OK)
            return True
        return False

    def _done(self, response: HTTPResponse, status: int, started: float) -> None:
        request = response.request
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        metrics = self.metrics
        if metrics is not None:
            metrics.http_request(status)
            if upgrade:
                metrics.handshake(status)
        if not access_logger.isEnabledFor(logging.INFO):
            return
        remote = _format_address(request.remote_address)
        subprotocol = (
            response.headers.get("Sec-WebSocket-Protocol") if upgrade else None
        )
        duration_ms = (time.monotonic() - started) * 1000.0
        access_logger.info(
            '%s - "%s %s %s" %d %.1fms%s',
            remote,
            request.method.value,
            request.uri,
            request.version,
            status,
            duration_ms,
            f" subprotocol={subprotocol}" if subprotocol else "",
            extra={
                "event": "http",
                "remote": remote,
                "method": request.method.value,
                "path": request.path,
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "subprotocol": subprotocol,
                "scheme": request.scheme,
            },
        )

    # ---------------------------------------------------------- WebSocket

    def tracks_sessions(self) -> bool:
        """Whether sessions coming and going matter here: metrics or the access log.

        Read when the server starts listening: without either, the server
        keeps its sessions in a plain set and pays nothing per session.
        """
        return self.metrics is not None or access_logger.isEnabledFor(logging.INFO)

    def session_opened(self, ws: WebSocket) -> None:
        """A session now owns its socket (``HTTPServer._track``)."""
        self._opened[ws] = time.monotonic()
        if self.metrics is not None:
            self.metrics.session_opened(getattr(ws, "stats", None))

    def session_closed(self, ws: WebSocket) -> None:
        """A session's socket is gone (``HTTPServer._untrack``)."""
        started = self._opened.pop(ws, None)
        if started is None:
            return
        stats = getattr(ws, "stats", None)
        if self.metrics is not None:
            self.metrics.session_closed(stats)
        if not access_logger.isEnabledFor(logging.INFO):
            return
        request = ws.request
        code = reason = messages_in = messages_out = None
        if stats is not None:
            code = stats.close_code_sent or stats.close_code_received
            reason = stats.close_reason
            messages_in, messages_out = stats.messages_in, stats.messages_out
        duration = time.monotonic() - started
        remote = _format_address(request.remote_address)
        access_logger.info(
            "%s - WebSocket %s closed: code %s %r after %.3fs, messages in %s out %s",
            remote,
            request.path,
            code,
            reason,
            duration,
            messages_in,
            messages_out,
            extra={
                "event": "websocket_close",
                "remote": remote,
                "path": request.path,
                "code": code,
                "reason": reason,
                "duration_s": round(duration, 6),
                "messages_in": messages_in,
                "messages_out": messages_out,
            },
        )

    # ----------------------------------------------------------- lifetime

    def start(self) -> None:
        """The server started listening on the running loop."""
        if self.metrics is None:
            return
        from .metrics import multiprocess_dir  # prometheus-client: only if used

        if multiprocess_dir() is not None:
            self._flusher = PeriodicCallback(self.metrics.flush, FLUSH_SECONDS * 1000)
            self._flusher.start()

    def stop(self) -> None:
        """The server stopped."""
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None
        if self.metrics is not None:
            self.metrics.flush()


def _format_address(address: tuple[str, int] | None) -> str:
    if address is None:
        return "-"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
