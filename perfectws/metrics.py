"""Prometheus metrics for a perfectws server (``pip install 'perfectws[metrics]'``).

Swift: none. Perfect has no metrics; this is what an operator's dashboard
reads, with prometheus-client, the library Prometheus maintains for Python.

Pass ``HTTPServer(metrics=ServerMetrics())`` (the ``perfectws --metrics``
command does) and the server answers ``GET /metrics`` in Prometheus' text
format. Counting costs the WebSocket hot path nothing but ``int`` increments
on the session's ``SessionStats`` (perfectws/_stats.py): they are turned into
samples when a session closes and when ``/metrics`` is scraped.

With ``--processes N``, prometheus-client's multiprocess mode keeps each
worker's samples in files under ``PROMETHEUS_MULTIPROC_DIR`` (which must be set
before this module is imported: the command does it) and any worker's
``/metrics`` answers with the sum over all of them. Live sessions' counts are
then flushed to the files once a second as well, since a worker cannot see the
others' sessions at scrape time.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ._stats import SessionStats

__all__ = ["ServerMetrics"]


def multiprocess_dir() -> str | None:
    """The multiprocess directory prometheus-client writes to, if that mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServerMetrics:
    """The metrics of one server process, and their ``/metrics`` page.

    Swift: none (Perfect has no metrics).

    The names, all prefixed ``perfectws_`` (README "Observing it"):

    * ``http_requests_total{status}``: every HTTP answer, upgrades as 101;
    * ``websocket_handshakes_total{result}``: upgrade requests by answer
      (101, 400, 403, 404, 405, ...);
    * ``websockets_open``: sessions open now;
    * ``websocket_messages_total{direction}`` and
      ``websocket_bytes_total{direction}``: data frames and payload bytes,
      ``direction`` ``in`` or ``out``;
    * ``websocket_close_codes_total{direction,code}``: Close frames sent
      (``out``) and received (``in``) by code;
    * ``websocket_send_queue_bytes`` and
      ``websocket_send_queue_high_water_bytes``: bytes waiting for sockets now,
      and the most one session has had waiting;
    * ``fanout_publishes_total`` and ``fanout_lag_seconds``: messages published
      to other processes (Redis) and how late they arrived.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Long (issue 10), but it is a list: one metric per statement, each with
        # its name and help text as Prometheus shows them.
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "perfectws_http_requests",
            "HTTP requests answered, by status (101 for upgrades).",
            ["status"],
            registry=r,
        )
        self.handshakes = Counter(
            "perfectws_websocket_handshakes",
            "WebSocket upgrade requests, by the status they were answered with.",
            ["result"],
            registry=r,
        )
        self.open = Gauge(
            "perfectws_websockets_open",
            "WebSocket sessions open now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.messages = Counter(
            "perfectws_websocket_messages",
            "WebSocket data frames, in (received) and out (sent).",
            ["direction"],
            registry=r,
        )
        self.bytes = Counter(
            "perfectws_websocket_bytes",
            "WebSocket data payload bytes, in (received) and out (sent).",
            ["direction"],
            registry=r,
        )
        self.close_codes = Counter(
            "perfectws_websocket_close_codes",
            "Close frames by code, in (received) and out (sent).",
            ["direction", "code"],
            registry=r,
        )
        self.send_queue = Gauge(
            "perfectws_websocket_send_queue_bytes",
            "Bytes queued for WebSocket sockets and not yet written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.send_queue_high = Gauge(
            "perfectws_websocket_send_queue_high_water_bytes",
            "The most bytes one session has had queued.",
            registry=r,
            multiprocess_mode="max",
        )
        self.fanout_publishes = Counter(
            "perfectws_fanout_publishes",
            "Messages published to the other processes (Redis fan-out).",
            registry=r,
        )
        self.fanout_lag = Histogram(
            "perfectws_fanout_lag_seconds",
            "Seconds from a fan-out publish to its delivery here.",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
        )
        # What has been counted of each live session, so a flush adds deltas.
        self._counted: dict[SessionStats, tuple[int, int, int, int]] = {}
        self._high = 0

    # ---- called by the server (perfectws/_operations.py)

    def http_request(self, status: int) -> None:
        """One HTTP answer with ``status`` went out."""
        self.http_requests.labels(str(status)).inc()

    def handshake(self, status: int) -> None:
        """An upgrade request was answered with ``status`` (101: accepted)."""
        self.handshakes.labels(str(status)).inc()

    def session_opened(self, stats: SessionStats | None) -> None:
        """A WebSocket session opened."""
        self.open.inc()
        if stats is not None:
            self._counted[stats] = (0, 0, 0, 0)

    def session_closed(self, stats: SessionStats | None) -> None:
        """A WebSocket session ended: count what it did since the last flush."""
        self.open.dec()
        if stats is None:
            return
        self._flush_one(stats)
        del self._counted[stats]
        if stats.close_code_sent is not None:
            self.close_codes.labels("out", str(stats.close_code_sent)).inc()
        if stats.close_code_received is not None:
            self.close_codes.labels("in", str(stats.close_code_received)).inc()

    def fanout_published(self, lag_seconds: float | None = None) -> None:
        """A message was published to the other processes; ``lag`` when delivered.

        The hook for the Redis fan-out: call it on publish, and with the
        delivery lag when a published message arrives here.
        """
        if lag_seconds is None:
            self.fanout_publishes.inc()
        else:
            self.fanout_lag.observe(lag_seconds)

    def flush(self) -> None:
        """Add the live sessions' counts since the last flush; set the queue gauges."""
        queued = 0
        for stats in list(self._counted):
            self._flush_one(stats)
            queued += stats.send_queue_bytes
            self._high = max(self._high, stats.send_queue_high)
        self.send_queue.set(queued)
        self.send_queue_high.set(self._high)

    def _flush_one(self, stats: SessionStats) -> None:
        m_in, m_out, b_in, b_out = self._counted.get(stats, (0, 0, 0, 0))
        now = (stats.messages_in, stats.messages_out, stats.bytes_in, stats.bytes_out)
        if now[0] > m_in:
            self.messages.labels("in").inc(now[0] - m_in)
        if now[1] > m_out:
            self.messages.labels("out").inc(now[1] - m_out)
        if now[2] > b_in:
            self.bytes.labels("in").inc(now[2] - b_in)
        if now[3] > b_out:
            self.bytes.labels("out").inc(now[3] - b_out)
        self._high = max(self._high, stats.send_queue_high)
        self._counted[stats] = now

    def render(self) -> tuple[bytes, str]:
        """The ``/metrics`` page and its content type (all workers' sum if multiprocess)."""
        self.flush()
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        # prometheus-client leaves these two untyped.
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def mark_process_dead(self, pid: int | None = None) -> None:
        """Drop a gone worker's live gauges (multiprocess mode; a no-op otherwise)."""
        path = multiprocess_dir()
        if path is not None:
            dead = pid if pid is not None else os.getpid()
            multiprocess.mark_process_dead(dead, path)  # type: ignore[no-untyped-call]
