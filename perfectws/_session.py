"""The session engine under Perfect's ``WebSocket``: protocol, transport, callbacks.

A :class:`Session` joins the three lower layers for one connection. It feeds
the bytes its transport read to its :class:`~perfectws.protocol.ServerProtocol`
one frame at a time, as far as the handler reads; it hands data frames to the
pending read callback and writes what the protocol answers; it runs every
user callback on the trampoline; and it owns the session's timers (read
timeout, close timeout). :class:`~perfectws.websocket.WebSocket` is this class
with Perfect's API on top: it subclasses rather than wraps it, so that each API
call reaches the engine without one more Python call per message (a small
echo costs about 20 Python calls in all: docs/performance.md).

One message's way, and who calls whom, is drawn in docs/design.md.

Why over 450 lines (issue 10): most of the class runs once per message
(``data_received`` -> ``_dispatch`` -> ``_send`` -> ``_complete``), where a
32-byte echo costs about 20 Python calls in all (sys.setprofile over
bench/servers/perfectws_echo.py driven by ``bench/wsload echo --conns 50
--size 32``), so each Python call added by splitting it up costs about 1% of
an echo. It stays one class, and ``_dispatch`` one loop. The parts that do not
run per message (keepalive, close timers, overflow) are short methods that
read and write the same per-session state; the keepalive sweep, which visits
every session, is a function beside the class because it reads their state
inline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Iterable, MutableSet
from typing import TYPE_CHECKING, Any, Final

from ._stats import SessionStats
from ._timers import FixedDelayTimers, timers_for
from ._tls import TLSTransport
from ._trampoline import trampoline
from ._transport import GATHER_AT, SocketTransport
from .exceptions import ConcurrencyError
from .frames import CloseCode, Frame, OpcodeType
from .protocol import CloseReceived, Failure, Ping, ServerProtocol, State
from .settings import DEFAULT_SETTINGS

if TYPE_CHECKING:
    from .request import HTTPRequest

__all__ = ["SendCallback", "Session", "keepalive_sweep"]

logger = logging.getLogger("perfectws.websocket")

#: Swift's ``() -> ()`` completion
SendCallback = Callable[[], Any]

_OPEN: Final = State.OPEN
_CLOSING: Final = State.CLOSING
_CLOSED: Final = State.CLOSED

#: While no read is pending, stop reading from the socket once this much is
#: buffered: Perfect reads only when asked, and a peer must not make the
#: server buffer without bound.
PAUSE_AT: Final = 64 * 1024


class Session:
    """One connection's engine; see :class:`~perfectws.websocket.WebSocket`."""

    __slots__ = (
        "__weakref__",
        "_close_timers",
        "_dispatch_queued",
        "_heard",
        "_keepalive_timers",
        "_loop",
        "_pending_pong",
        "_protocol",
        "_quiet",
        "_read_callback",
        "_read_text",
        "_read_timer",
        "_sessions",
        "_settings",
        "_stats",
        "_transport",
        "_write_waiters",
        "close_timeout",
        "read_timeout_seconds",
        "request",
    )

    def __init__(
        self,
        request: HTTPRequest,
        *,
        max_message_size: int = 16 * 1024 * 1024,
        loop: asyncio.AbstractEventLoop | None = None,
        protocol: ServerProtocol | None = None,
    ) -> None:
        self.request = request
        #: Seconds a read waits for a frame before its callback gets ``None``;
        #: negative (the default, -1) waits forever. The connection stays open
        #: after a timeout, as in Perfect: the handler decides what to do.
        #: Swift: ``var readTimeoutSeconds: Double``
        self.read_timeout_seconds: float = -1.0
        self._loop = loop or asyncio.get_running_loop()
        context = request.server_context
        if context is None:
            self._sessions: MutableSet[Any] | None = None
            self._settings = DEFAULT_SETTINGS
        else:
            # The server's registry of open sessions, and its defaults.
            self._sessions = context.sessions
            self._settings = context.settings
        #: Seconds after a Close is sent or received (or the peer's FIN) by
        #: which the TCP connection is dropped, whatever the peer does.
        self.close_timeout: float = self._settings.close_timeout
        # A negotiated extension brings its own protocol (perfectws/_deflate.py).
        self._protocol = protocol or ServerProtocol(max_message_size)
        self._transport: SocketTransport | None = None
        self._read_callback: Callable[[Any, OpcodeType, bool], Any] | None = None
        self._read_text = False
        self._read_timer: asyncio.TimerHandle | None = None
        self._dispatch_queued = False
        self._write_waiters: list[SendCallback] | None = None
        self._stats: SessionStats | None = None
        # The fixed-delay timers this session waits in, if any (_timers.py).
        self._close_timers: FixedDelayTimers | None = None
        self._keepalive_timers: FixedDelayTimers | None = None
        # Keepalive (keepalive_sweep below): whether the peer sent anything
        # since the sweep last looked (the handshake counts), and whether it
        # was already silent at the sweep before.
        self._heard = True
        self._quiet = False
        # RFC 6455 5.5.3: while the peer does not read, only the latest ping
        # is answered, once the backlog drains.
        self._pending_pong: bytes | None = None

    def attach(self, sock: socket.socket, head: bytes, early: bytes) -> None:
        """Own ``sock`` from now on: send the 101 ``head``, keep the ``early`` bytes."""
        cap = self._settings.max_send_queue
        if isinstance(sock, ssl.SSLSocket):
            transport: SocketTransport = TLSTransport(sock, self, self._loop, cap)
        else:
            transport = SocketTransport(sock, self, self._loop, cap)
        self._transport = transport
        if self._sessions is not None:
            self._sessions.add(self)
        transport.write(head)
        if early:
            transport.feed(early)

    # ------------------------------------------------- from the transport

    def data_received(self) -> None:
        transport = self._transport
        assert transport is not None
        self._heard = True
        if self._protocol.state is _CLOSED:
            # Failed or answered: input only matters as the wait for EOF.
            transport.discard_input()
        elif not self._dispatch_queued:
            # (If a read already queued a dispatch, that one sees these bytes.)
            self._dispatch_queued = True
            trampoline.run(self, self._dispatch)

    def eof_received(self) -> None:
        """The peer closed its side: the session is over (with or without a Close)."""
        self._protocol.state = _CLOSED  # (its connection_lost(): a call less)
        self._fail_read()
        # Our last frames may still be waiting for a peer that reads no more.
        if self._close_timers is None:
            self._arm_close_timer()

    def connection_lost(self) -> None:
        """The transport is gone: release the timers, the registry, the waiters."""
        self._protocol.state = _CLOSED  # (its connection_lost(): a call less)
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        if self._close_timers is not None:
            self._close_timers.cancel(self)
            self._close_timers = None
        if self._keepalive_timers is not None:
            self._keepalive_timers.cancel(self)
            self._keepalive_timers = None
        self._pending_pong = None
        if self._sessions is not None:
            self._sessions.discard(self)
        self._release_write_waiters()
        if self._read_callback is not None:
            # Queued, not run: this may be reached from a send that failed
            # inside user code (a broadcast to a thousand peers that all just
            # left), where running the handler's reaction at once would nest
            # one failure inside the other (a RecursionError, measured).
            trampoline.soon(self, self._deliver_failure)

    def writing_resumed(self) -> None:
        if self._write_waiters:
            self._release_write_waiters()
            trampoline.drain()

    def output_drained(self) -> None:
        pong = self._pending_pong
        self._pending_pong = None
        if (
            pong is not None
            and self._transport is not None
            and self._protocol.state is _OPEN
        ):
            self._transport.write(pong)

    def send_queue_overflow(self) -> None:
        """The peer does not read: close with 1008 and forget its backlog."""
        limit = self._settings.max_send_queue
        logger.info(
            "closing WebSocket %s: over %d bytes unsent, the peer does not read",
            self.request.path,
            limit,
        )
        if self._protocol.state is _OPEN:
            trampoline.run(
                self,
                self._fail,
                CloseCode.POLICY_VIOLATION,
                f"send queue over {limit} bytes",
            )
        else:
            self.abort()

    # ---------------------------------------------------------- keepalive

    def _ping(self) -> None:
        """Silent for a whole ``ping_interval``: ping, and wait ``ping_timeout``.

        A session whose reading is paused (its handler is not reading, so the
        peer's Pong could not be seen) is left alone: its peer was heard
        recently enough to fill the buffer.
        """
        transport = self._transport
        if self._protocol.state is not _OPEN or transport is None:
            return
        if transport.read_paused:
            self._quiet = False
            return
        frame = self._protocol.send_control(OpcodeType.PING)
        if frame is not None:
            transport.write(frame)
        timers = self._keepalive_timers = timers_for(
            self._loop, self._settings.ping_timeout
        )
        timers.start(self, self._ping_timed_out)

    def _ping_timed_out(self) -> None:
        self._keepalive_timers = None
        if self._heard or self._protocol.state is not _OPEN:
            self._quiet = False  # answered: back to the sweep
            return
        logger.info(
            "closing WebSocket %s: no answer to a ping in %g s",
            self.request.path,
            self._settings.ping_timeout,
        )
        trampoline.run(
            self, self._fail, CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
        )

    def callback_failed(self) -> None:
        """A user callback raised: log it once and close this session with 1011."""
        logger.exception("WebSocket session handler failed on %s", self.request.path)
        if self._protocol.state is _OPEN:
            self._fail(CloseCode.INTERNAL_ERROR, "internal error")

    # ------------------------------------------------------------ reading

    def _begin_read(self, callback: Callable[..., Any], text: bool) -> None:
        if self._read_callback is not None:
            raise ConcurrencyError(
                "cannot read while another read is pending: call "
                "read_string_message/read_bytes_message again from its callback"
            )
        self._read_callback = callback
        self._read_text = text
        transport = self._transport
        if self._protocol.state is not _OPEN:
            self._fail_read()
        elif transport is not None and transport.end > transport.start:
            if not self._dispatch_queued:
                self._dispatch_queued = True
                trampoline.soon(self, self._dispatch)
        elif self.read_timeout_seconds >= 0 or (
            transport is not None and transport.read_paused
        ):
            self._wait_for_frame()

    def _wait_for_frame(self) -> None:
        """A read is pending and no whole frame is buffered: read from the socket."""
        transport = self._transport
        if transport is not None and transport.read_paused:
            transport.resume_reading()
        timeout = self.read_timeout_seconds
        if timeout >= 0 and self._read_timer is None:
            self._read_timer = self._loop.call_later(timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self._read_callback is not None:
            trampoline.run(self, self._deliver_failure)

    def _fail_read(self) -> None:
        """The pending read, if any, gets ``(None, INVALID, True)`` soon."""
        if self._read_callback is not None:
            trampoline.soon(self, self._deliver_failure)

    def _deliver_failure(self) -> None:
        callback = self._read_callback
        if callback is None:
            return
        self._read_callback = None
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        callback(None, OpcodeType.INVALID, True)

    def _dispatch(self) -> None:
        """Handle the buffered frames, in order, as far as the handler reads.

        Control frames are handled as soon as they are first in line; a data
        frame waits until a read is pending. So a Close that follows data in
        the same packet is answered only after that data was read and echoed.
        (One loop, not split up: it runs once per message and every call it
        saved counts; see docs/performance.md.)
        """
        self._dispatch_queued = False
        transport = self._transport
        if transport is None:
            return
        protocol = self._protocol
        buf = transport.buf
        while protocol.state is not _CLOSED:
            start = transport.start
            end = transport.end
            if start == end:
                break
            received = protocol.receive(
                buf, start, end, self._read_callback is not None
            )
            if received is None:
                transport.need = protocol.need
                break
            event, transport.start = received
            if type(event) is not Frame:
                if self._control(event):
                    return
                continue
            callback = self._read_callback
            if callback is None:
                continue  # closing: data frames are no longer delivered
            self._read_callback = None
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None
            if self._read_text:
                text = event.text
                if text is None:
                    text = event.payload.decode("utf-8", "replace")
                callback(text, event.opcode, event.fin)
            else:
                callback(event.payload, event.opcode, event.fin)
        if transport.start == transport.end:
            transport.start = transport.end = 0
        state = protocol.state
        if self._read_callback is not None and state is _OPEN:
            self._wait_for_frame()
        elif state is _CLOSING:
            transport.resume_reading()
        elif transport.end - transport.start >= PAUSE_AT:
            transport.pause_reading()

    def _control(self, event: Any) -> bool:
        """Act on a control event; True when the connection ended with it."""
        transport = self._transport
        assert transport is not None
        if type(event) is Ping:
            if event.reply is not None:
                if transport.backlogged:
                    self._pending_pong = event.reply  # answered once drained
                else:
                    transport.write(event.reply)
            return False
        if type(event) is CloseReceived or type(event) is Failure:
            if type(event) is Failure:
                logger.debug(
                    "failing WebSocket %s: %d %s",
                    self.request.path,
                    event.code,
                    event.reason,
                )
                transport.discard_input()
            if event.reply is not None:
                transport.write(event.reply)
            self._fail_read()
            self._close_socket()
            return True
        return False  # pongs are dropped: see WebSocket's docstring

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection: send Close with ``code``, stop reading, drop TCP."""
        logger.debug("failing WebSocket %s: %d %s", self.request.path, code, reason)
        frame = self._protocol.fail(code, reason)
        if frame is not None and self._transport is not None:
            self._transport.write(frame)
        self._fail_read()
        self._close_socket()

    def _close_socket(self) -> None:
        """Half-close once our frames are out; drop TCP after ``close_timeout``."""
        transport = self._transport
        if transport is None or transport.sock is None:
            return
        transport.shutdown_after_flush()
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self._close_timers is not None:
            return  # already due within close_timeout of the first Close or FIN
        timers = self._close_timers = timers_for(self._loop, self.close_timeout)
        timers.start(self, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection now, without (the rest of) a closing handshake.

        Swift: none. For a server's shutdown deadline and a close timeout; a
        pending read gets ``None``.
        """
        if self._transport is not None:
            self._transport.abort()

    # ------------------------------------------------------------ sending

    def _send(
        self,
        opcode: OpcodeType,
        payload: bytes,
        final: bool,
        callback: SendCallback | None,
    ) -> None:
        transport = self._transport
        # (compresses: permessage-deflate's hook, read only for large payloads)
        if len(payload) < GATHER_AT or self._protocol.compresses:
            frame = self._protocol.send_data(opcode, payload, final)
            if frame is not None and transport is not None:
                transport.write(frame)
        else:
            header = self._protocol.data_header(opcode, len(payload), final)
            if header is not None and transport is not None:
                transport.write_frame(header, payload)
        if callback is not None:
            self._complete(callback)

    def _send_control(
        self, opcode: OpcodeType, payload: bytes, callback: SendCallback | None
    ) -> None:
        frame = self._protocol.send_control(opcode, payload)
        if frame is not None and self._transport is not None:
            self._transport.write(frame)
        if callback is not None:
            self._complete(callback)

    def _complete(self, callback: SendCallback) -> None:
        transport = self._transport
        if (
            transport is not None
            and transport.write_paused
            and self._protocol.state is not _CLOSED
        ):
            # The peer reads slower than we write: hold the completion until the
            # socket drains, so a send loop cannot buffer without bound.
            if self._write_waiters is None:
                self._write_waiters = []
            self._write_waiters.append(callback)
        elif trampoline.running:
            trampoline.queue.append((self, callback, ()))
        else:
            trampoline.soon(self, callback)

    def _release_write_waiters(self) -> None:
        waiters = self._write_waiters
        if waiters:
            self._write_waiters = None
            for callback in waiters:
                trampoline.soon(self, callback)

    @property
    def stats(self) -> SessionStats | None:
        """Counters for metrics and the access log (perfectws/_stats.py).

        Made on first use (only metrics and the access log ask), so a session
        nobody counts pays nothing for them; ``None`` before the session owns
        its socket.
        """
        if self._stats is None and self._transport is not None:
            self._stats = SessionStats(self._protocol, self._transport)
        return self._stats

    def send_encoded(self, frame: bytes, payload_size: int, max_unsent: int) -> int:
        """Queue ``frame``, one whole message encoded once for many sessions.

        Returns 1 when queued, 0 when the session is closing or in the middle
        of a fragmented send, and -1 when more than ``max_unsent`` bytes
        already wait for this peer (perfectws/broadcast.py decides then).
        """
        transport = self._transport
        if transport is None or transport.sock is None:
            return 0
        if transport.unsent > max_unsent:
            return -1
        if not self._protocol.send_encoded(frame, payload_size):
            return 0
        transport.write(frame)
        return 1

    def _start_close(self, code: int, reason: str) -> None:
        frame = self._protocol.close(code, reason)
        if frame is None:
            return
        transport = self._transport
        if transport is None or transport.sock is None:
            self._protocol.connection_lost()  # never attached: nothing to tell
            return
        transport.write(frame)
        self._arm_close_timer()
        self._fail_read()
        # Keep reading so the peer's Close is seen; data frames are dropped now.
        transport.resume_reading()
        if transport.end > transport.start and not self._dispatch_queued:
            self._dispatch_queued = True
            trampoline.soon(self, self._dispatch)

    def _state_name(self) -> str:
        return ("open", "closing", "closed")[self._protocol.state]


def keepalive_sweep(sessions: Iterable[Session]) -> None:
    """Look at every open session; ping those silent for a whole ``ping_interval``.

    The server calls this every half ``ping_interval`` over its registry of
    open sessions (``HTTPServer._serve``, on a Tornado ``PeriodicCallback``),
    so a peer is pinged after one to one and a half intervals of silence and
    a dead one is closed (1011) at most ``1.5 * ping_interval + ping_timeout``
    after it was last heard. A sweep rather than a timer per session: a
    session then costs keepalive nothing when it opens, reads or closes (a
    ``data_received`` sets one flag), where a timer queue entry cost 4 Python
    calls of a handshake's 190 and a loop ``TimerHandle`` 10
    (docs/performance.md). Inline, not a method per session, because it
    visits every idle connection of the process.
    """
    for session in list(sessions):  # (a failed ping may remove one)
        if session._keepalive_timers is not None:
            continue  # a ping is out: its timeout decides
        if session._heard:
            session._heard = False
            session._quiet = False
        elif session._quiet:
            session._ping()
        else:
            session._quiet = True
