"""The WebSocket session: Perfect's ``WebSocket`` class on the IOLoop.

After the upgrade the socket leaves Tornado's IOStream and the session drives
it itself, on the same event loop (Tornado's IOLoop: asyncio's, or uvloop's).
Why:

* Perfect reads one *frame* per call and only when the handler asks; Tornado's
  ``WebSocketHandler`` reassembles messages and reads with several awaits per
  frame (the slowest server measured, ``docs/performance.md``).
* The session reads into memory perfectws owns: one shared buffer for every
  connection, so an idle connection holds no read buffer, and the read path
  never asks malloc for 256 KiB per ``recv`` (the glibc mmap trap that makes a
  cold asyncio server three times slower).
* It skips the asyncio transport and watches every session's socket with one
  epoll (:class:`_ReadPoller`): per message that saves the Python calls that
  dominate a small echo's cost.

Callbacks run on a trampoline (:class:`_Trampoline`): a callback that sends,
whose completion reads, whose callback sends again (Perfect's EchoHandler
recursion) runs in constant stack depth, without a loop round trip per message.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .exceptions import ConcurrencyError
from .frames import (
    CloseCode,
    FrameReader,
    OpcodeType,
    ProtocolError,
    encode_close,
    encode_frame,
    encode_header,
)

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .server import HTTPServer

__all__ = [
    "BytesReadCallback",
    "SendCallback",
    "StringReadCallback",
    "WebSocket",
]

logger = logging.getLogger(__name__)

#: ``(data, op, fin)``: Swift's ``(String?, OpcodeType, Bool) -> ()``
StringReadCallback = Callable[[str | None, OpcodeType, bool], Any]
#: ``(data, op, fin)``: Swift's ``([UInt8]?, OpcodeType, Bool) -> ()``
BytesReadCallback = Callable[[bytes | None, OpcodeType, bool], Any]
#: Swift's ``() -> ()`` completion
SendCallback = Callable[[], Any]

_OPEN: Final = 0
_CLOSING: Final = 1  # our Close frame is sent; waiting for the peer's
_CLOSED: Final = 2

# One read buffer for every connection: reads happen one at a time on the loop,
# and whatever a read leaves unparsed is copied to the connection's own buffer.
_SHARED_SIZE: Final = 256 * 1024
_shared = bytearray(_SHARED_SIZE)
_shared_view = memoryview(_shared)

# While no read is pending, stop reading from the socket once this much is
# buffered: Perfect reads only when asked, and a peer must not make the server
# buffer without bound.
_PAUSE_AT: Final = 64 * 1024
_MIN_FREE: Final = 16 * 1024
# Above this much unsent output, send completions wait until it drains below
# the low mark (asyncio's transport defaults).
_WRITE_HIGH: Final = 64 * 1024
_WRITE_LOW: Final = 16 * 1024
# From this payload size on, a frame's header and payload are sent with one
# sendmsg() instead of being joined: copying costs more than the iovec.
_GATHER_AT: Final = 16 * 1024


class _Trampoline:
    """Runs callbacks one after another instead of inside one another.

    Everything perfectws calls back into user code goes through here. While a
    callback runs, new ones are queued and run after it returns, so recursion
    through completions (send -> completion -> read -> callback -> send ...)
    never deepens the stack. Entry points from the event loop (data arrived,
    connection lost, timer) drain the queue at once; a call made from outside
    any callback (a user's own timer) is drained on the next loop iteration,
    so a callback never runs before the call that scheduled it returns.
    """

    __slots__ = ("_queue", "_running", "_scheduled_on", "_unflushed")

    def __init__(self) -> None:
        self._queue: deque[tuple[WebSocket, Callable[..., Any], tuple[Any, ...]]] = (
            deque()
        )
        self._running = False
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        # Sessions that wrote while callbacks ran: their frames go out in one
        # send() when the queue is empty.
        self._unflushed: list[WebSocket] = []

    def run(self, ws: WebSocket, fn: Callable[..., Any], *args: Any) -> None:
        """From an event-loop entry point: run ``fn(*args)`` now, then what it queued."""
        if self._running or self._queue:
            # Keep first-in, first-out with what is already waiting.
            self._queue.append((ws, fn, args))
            self.drain()
            return
        self._running = True
        try:
            try:
                fn(*args)
            except Exception:
                ws._handler_failed()
            self._run_queue()
        finally:
            self._running = False
            if self._unflushed:
                self._flush()

    def soon(self, ws: WebSocket, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` to run after the current callback, never inside it."""
        self._queue.append((ws, fn, args))
        if self._running:
            return
        loop = ws._loop
        if self._scheduled_on is not loop:
            self._scheduled_on = loop
            loop.call_soon(self.drain)

    def drain(self) -> None:
        if self._running:
            return
        self._running = True
        self._scheduled_on = None
        try:
            self._run_queue()
        finally:
            self._running = False
            if self._unflushed:
                self._flush()

    def _run_queue(self) -> None:
        queue = self._queue
        while queue:
            ws, fn, args = queue.popleft()
            try:
                fn(*args)
            except Exception:
                ws._handler_failed()

    def _flush(self) -> None:
        # Flushing calls no user code (at most pause_writing), so the queue
        # stays empty.
        unflushed = self._unflushed
        for ws in unflushed:
            ws._flush()
        unflushed.clear()


_trampoline = _Trampoline()


class _ReadPoller:
    """One epoll for every session's socket, watched by the loop as one reader.

    asyncio spends about three Python calls per ready socket (a Handle, its
    context, the selector's bookkeeping) before the session sees it. Here
    the loop wakes one callback for the whole batch and this loop hands each
    ready socket straight to its session: one epoll_wait more per batch, a
    few calls fewer per message. Linux only; elsewhere sessions register
    with the loop one by one (:class:`_LoopReaders`).
    """

    __slots__ = ("_epoll", "_loop", "_sessions")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll = select.epoll()
        self._sessions: dict[int, WebSocket] = {}
        loop.add_reader(self._epoll.fileno(), self._poll)

    def add(self, fd: int, ws: WebSocket) -> None:
        self._epoll.register(fd, select.EPOLLIN)
        self._sessions[fd] = ws

    def pause(self, fd: int) -> None:
        self._epoll.modify(fd, 0)

    def resume(self, fd: int, ws: WebSocket) -> None:
        self._epoll.modify(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        # Before the socket closes: a closed fd number can be reused at once.
        self._sessions.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass
        if not self._sessions:
            # Idle: give the epoll back, so a loop that is closed later (a
            # test's) leaves nothing open behind it.
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            _pollers.pop(self._loop, None)

    def _poll(self) -> None:
        sessions = self._sessions
        for fd, _events in self._epoll.poll(0, 256):
            ws = sessions.get(fd)
            if ws is not None:
                ws._on_readable()


class _LoopReaders:
    """Sessions registered with the loop one by one, where there is no epoll."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def add(self, fd: int, ws: WebSocket) -> None:
        self._loop.add_reader(fd, ws._on_readable)

    def pause(self, fd: int) -> None:
        self._loop.remove_reader(fd)

    def resume(self, fd: int, ws: WebSocket) -> None:
        self._loop.add_reader(fd, ws._on_readable)

    def remove(self, fd: int) -> None:
        self._loop.remove_reader(fd)


_pollers: dict[asyncio.AbstractEventLoop, _ReadPoller] = {}


def _readers(loop: asyncio.AbstractEventLoop) -> _ReadPoller | _LoopReaders:
    if not hasattr(select, "epoll"):
        return _LoopReaders(loop)
    poller = _pollers.get(loop)
    if poller is None:
        poller = _pollers[loop] = _ReadPoller(loop)
    return poller


class WebSocket:
    """One WebSocket session, driven by callbacks.

    Swift: ``class WebSocket: Equatable``

    A session handler receives it in ``handle_session(request, socket)`` and
    drives it: each ``read_*_message`` delivers one frame to its callback as
    ``(data, op, fin)``; each ``send_*_message`` writes one frame and then
    calls its callback. ``data`` is ``None`` (with ``OpcodeType.INVALID`` and
    ``True``) when the read fails: the peer closed or vanished, the read timed
    out, or the peer broke the protocol (perfectws has then already sent the
    RFC 6455 Close code: 1002, 1007 or 1009).

    Differs from Perfect:

    * Pings are answered automatically and never delivered (as in Perfect);
      pongs are not delivered either (Perfect delivers them, which would make
      the EchoHandler echo an empty message for every unsolicited pong).
    * perfectws checks what Perfect does not: reserved bits and opcodes, masking,
      control-frame rules, fragmentation order, UTF-8 in text frames (checked
      as it arrives, so a frame with invalid UTF-8 is never delivered), close
      codes, and ``max_message_size``.
    * :meth:`close` sends code 1000 (Perfect sends an empty Close payload) and
      waits for the peer's Close, as RFC 6455 asks.
    * While no read is pending, perfectws stops reading from the socket once
      64 KiB are buffered, where Perfect would not read at all.
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_close_timer",
        "_dispatch_queued",
        "_close_when_flushed",
        "_end",
        "_fd",
        "_readers",
        "_loop",
        "_need",
        "_out",
        "_out_size",
        "_read_callback",
        "_read_paused",
        "_read_text",
        "_read_timer",
        "_reader",
        "_send_continues",
        "_server",
        "_shutdown_when_flushed",
        "_sock",
        "_start",
        "_state",
        "_wbuf",
        "_wbuf_size",
        "_write_paused",
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
    ) -> None:
        self.request = request
        #: Seconds a read waits for a frame before its callback gets ``None``;
        #: negative (the default, -1) waits forever. The connection stays open
        #: after a timeout, as in Perfect: the handler decides what to do.
        #: Swift: ``var readTimeoutSeconds: Double``
        self.read_timeout_seconds: float = -1.0
        #: Seconds :meth:`close` waits for the peer's Close before dropping TCP.
        self.close_timeout: float = 5.0
        self._loop = loop or asyncio.get_running_loop()
        self._server: HTTPServer | None = request._server
        self._sock: socket.socket | None = None
        self._fd = -1
        self._readers: _ReadPoller | _LoopReaders | None = None
        self._state = _OPEN
        self._reader = FrameReader(max_message_size)
        self._buf = _shared  # no buffer of its own until a frame spans reads
        self._start = 0
        self._end = 0
        self._need = 0
        self._read_callback: Callable[[Any, OpcodeType, bool], Any] | None = None
        self._read_text = False
        self._read_timer: asyncio.TimerHandle | None = None
        self._read_paused = False
        self._dispatch_queued = False
        self._send_continues = False
        self._write_paused = False
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._wbuf: deque[bytes | memoryview] | None = None
        self._wbuf_size = 0
        self._shutdown_when_flushed = False
        self._close_when_flushed = False
        self._write_waiters: list[SendCallback] | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ API

    @property
    def is_connected(self) -> bool:
        """Whether the session is open: no Close sent or received, TCP up.

        Swift: ``var isConnected: Bool``
        """
        return self._state == _OPEN and self._sock is not None

    def read_string_message(self, callback: StringReadCallback) -> None:
        """Read one frame and call ``callback(string, op, fin)``.

        Swift: ``func readStringMessage(continuation: @escaping (String?,
        OpcodeType, Bool) -> ())``

        One call, one frame: an unfragmented message arrives as
        ``(text, TEXT, True)``; a fragmented one as ``(part, TEXT, False)``,
        then ``(part, CONTINUATION, False)``... and the last with ``True``.
        A character split across frames is delivered whole, in the frame that
        completes it. A binary frame arrives as its bytes decoded as UTF-8
        with U+FFFD for invalid sequences, and op ``BINARY`` (Perfect decodes
        it too). ``(None, INVALID, True)`` means the session is over or the
        read timed out.

        Raises:
            ConcurrencyError: if another read is still pending.
        """
        self._begin_read(callback, True)

    def read_bytes_message(self, callback: BytesReadCallback) -> None:
        """Read one frame and call ``callback(data, op, fin)`` with its bytes.

        Swift: ``func readBytesMessage(continuation: @escaping ([UInt8]?,
        OpcodeType, Bool) -> ())``

        As :meth:`read_string_message`, with the payload as ``bytes`` (a text
        frame arrives as its UTF-8 bytes, op ``TEXT``, already validated).

        Raises:
            ConcurrencyError: if another read is still pending.
        """
        self._begin_read(callback, False)

    #: Perfect 1.x spelling (the seed's prose says ``readBinaryMessage``).
    read_binary_message = read_bytes_message

    def send_string_message(
        self, string: str, final: bool = True, callback: SendCallback | None = None
    ) -> None:
        """Send ``string`` as a text frame, then call ``callback()``.

        Swift: ``func sendStringMessage(string: String, final: Bool,
        completion: @escaping () -> ())``

        ``final=False`` starts (or continues) a fragmented message: the next
        sends go out as continuation frames until one has ``final=True``, so
        the peer receives one message. ``callback`` runs once the frame is
        handed to the socket (after it has drained, if the peer
        reads slowly), and also if the session is closed, as in Perfect.
        """
        self._send(OpcodeType.TEXT, string.encode(), final, callback)

    def send_binary_message(
        self,
        bytes: bytes | bytearray | memoryview,
        final: bool = True,
        callback: SendCallback | None = None,
    ) -> None:
        """Send ``bytes`` as a binary frame, then call ``callback()``.

        Swift: ``func sendBinaryMessage(bytes: [UInt8], final: Bool,
        completion: @escaping () -> ())``

        Fragmentation and the callback work as in :meth:`send_string_message`.
        """
        self._send(OpcodeType.BINARY, bytes, final, callback)

    def send_ping(self, callback: SendCallback | None = None) -> None:
        """Send a Ping with an empty payload. Swift: ``func sendPing(completion:)``"""
        self._send_control(OpcodeType.PING, b"", callback)

    def send_pong(self, callback: SendCallback | None = None) -> None:
        """Send an unsolicited Pong. Swift: ``func sendPong(completion:)``"""
        self._send_control(OpcodeType.PONG, b"", callback)

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake: send a Close frame with ``code``.

        Swift: ``func close()``

        Nothing more is sent after it; a pending read gets ``None``. The TCP
        connection closes when the peer answers with its Close, or after
        ``close_timeout`` seconds. Calling it again does nothing.

        Differs from Perfect: Perfect sends an empty Close payload (the peer
        sees 1005) and drops TCP without waiting for the answer.
        """
        if self._state != _OPEN:
            return
        if self._sock is None:
            self._state = _CLOSED  # never attached: nothing to tell the peer
            return
        self._write(encode_close(code, reason))
        self._state = _CLOSING
        self._close_timer = self._loop.call_later(self.close_timeout, self._abort)
        self._fail_read()
        # Keep reading so the peer's Close is seen; data frames are dropped now.
        self._resume_reading()
        if self._end > self._start:
            self._queue_dispatch()

    def __repr__(self) -> str:
        state = ("open", "closing", "closed")[self._state]
        return f"<WebSocket {self.request.path} {state}>"

    # ---------------------------------------------------------- reading

    def _begin_read(self, callback: Callable[..., Any], text: bool) -> None:
        if self._read_callback is not None:
            raise ConcurrencyError(
                "cannot read while another read is pending: call "
                "read_string_message/read_bytes_message again from its callback"
            )
        self._read_callback = callback
        self._read_text = text
        if self._state != _OPEN:
            self._fail_read()
        elif self._end > self._start:
            self._queue_dispatch()
        elif self._read_paused or self.read_timeout_seconds >= 0:
            self._wait_for_frame()

    def _queue_dispatch(self) -> None:
        if not self._dispatch_queued:
            self._dispatch_queued = True
            _trampoline.soon(self, self._dispatch)

    def _wait_for_frame(self) -> None:
        """A read is pending and no whole frame is buffered: read from the socket."""
        if self._read_paused:
            self._resume_reading()
        timeout = self.read_timeout_seconds
        if timeout >= 0 and self._read_timer is None:
            self._read_timer = self._loop.call_later(timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self._read_callback is not None:
            _trampoline.run(self, self._deliver_failure)

    def _fail_read(self) -> None:
        """The pending read, if any, gets ``(None, INVALID, True)`` soon."""
        if self._read_callback is not None:
            _trampoline.soon(self, self._deliver_failure)

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
        """
        self._dispatch_queued = False
        buf = self._buf
        reader = self._reader
        while self._state != _CLOSED:
            start = self._start
            end = self._end
            if start == end:
                break
            if (
                buf[start] & 0x08 == 0
                and self._read_callback is None
                and self._state == _OPEN
            ):
                break  # a data frame, and the handler is not reading: wait
            try:
                parsed = reader.read_frame(buf, start, end)
            except ProtocolError as exc:
                self._start = self._end = 0
                self._fail(exc.code, exc.reason)
                return
            if parsed is None:
                self._need = reader.frame_size(buf, start, end)
                break
            frame, self._start = parsed
            self._need = 0
            opcode = frame.opcode
            if opcode >= 0x8:
                if opcode is OpcodeType.PING:
                    if self._state == _OPEN:
                        self._write_control(OpcodeType.PONG, frame.payload)
                elif opcode is OpcodeType.CLOSE:
                    self._close_received(frame.close_code, frame.close_reason)
                    return
                continue  # pongs are dropped: see the class docstring
            callback = self._read_callback
            if self._state != _OPEN or callback is None:
                continue  # closing: data frames are no longer delivered
            self._read_callback = None
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None
            if self._read_text:
                text = frame.text
                if text is None:
                    text = frame.payload.decode("utf-8", "replace")
                callback(text, opcode, frame.fin)
            else:
                callback(frame.payload, opcode, frame.fin)
        if self._start == self._end:
            self._start = self._end = 0
        if self._read_callback is not None and self._state == _OPEN:
            self._wait_for_frame()
        elif self._state == _CLOSING:
            self._resume_reading()
        elif self._end - self._start >= _PAUSE_AT:
            self._pause_reading()

    def _close_received(self, code: int | None, reason: str) -> None:
        if self._state == _OPEN:
            # Echo the peer's code (RFC 6455 5.5.1); an empty Close gets one back.
            self._write(encode_close(code, reason if code else ""))
        self._state = _CLOSED
        self._fail_read()
        self._close_socket()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection: send Close with ``code``, stop reading, drop TCP."""
        logger.debug("failing WebSocket %s: %d %s", self.request.path, code, reason)
        if self._state == _OPEN and self._sock is not None:
            self._write(encode_close(code, reason))
        self._state = _CLOSED
        self._fail_read()
        self._close_socket()

    def _handler_failed(self) -> None:
        """A user callback raised: log it once and close this session with 1011."""
        logger.exception("WebSocket session handler failed on %s", self.request.path)
        if self._state == _OPEN:
            self._fail(CloseCode.INTERNAL_ERROR, "internal error")

    def _close_socket(self) -> None:
        """Half-close once our frames are out, then wait for the peer's FIN.

        Closing with unread input would send a RST that can overtake our Close
        frame, so the socket is shut for writing only, and closed when the peer
        closes too (or after ``close_timeout``).
        """
        if self._sock is None:
            return
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._flush()
        if self._wbuf:
            self._shutdown_when_flushed = True
        else:
            self._shutdown()
        self._resume_reading()
        self._close_timer = self._loop.call_later(self.close_timeout, self._abort)

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _abort(self) -> None:
        self._connection_lost(None)

    # ---------------------------------------------------------- sending

    def _send(
        self,
        opcode: OpcodeType,
        payload: bytes | bytearray | memoryview,
        final: bool,
        callback: SendCallback | None,
    ) -> None:
        if self._send_continues:
            opcode = OpcodeType.CONTINUATION
        self._send_continues = not final
        if self._state == _OPEN and self._sock is not None:
            data = bytes(payload)
            if len(data) < _GATHER_AT:
                self._write(encode_frame(opcode, data, final))
            elif _trampoline._running:
                # Header and payload go out in one sendmsg() at the flush,
                # without copying the payload behind the header.
                self._write(encode_header(opcode, len(data), final))
                self._write(data)
            else:
                self._send_gathered([encode_header(opcode, len(data), final), data])
        if callback is not None:
            self._complete(callback)

    def _send_control(
        self, opcode: OpcodeType, payload: bytes, callback: SendCallback | None
    ) -> None:
        if self._state == _OPEN:
            self._write_control(opcode, payload)
        if callback is not None:
            self._complete(callback)

    def _write_control(self, opcode: OpcodeType, payload: bytes) -> None:
        if self._sock is not None:
            self._write(encode_frame(opcode, payload))

    def _write(self, data: bytes) -> None:
        """Write now, or, while callbacks run, when the trampoline's queue is empty.

        A handler that answers several pipelined frames then costs one send()
        instead of one per frame; with one message in flight nothing changes.
        Past 64 KiB the frames go out at once, so that a full socket holds
        back the send completions (see _complete) instead of this list growing.
        """
        if _trampoline._running:
            out = self._out
            if out is None:
                self._out = [data]
                self._out_size = len(data)
                _trampoline._unflushed.append(self)
            else:
                out.append(data)
                self._out_size += len(data)
            if self._out_size >= _WRITE_HIGH:
                self._flush()
        else:
            self._send_now(data)

    def _flush(self) -> None:
        out = self._out
        self._out = None
        if not out:
            return
        if len(out) == 1:
            self._send_now(out[0])
        elif len(out) <= 16 and any(len(data) >= _GATHER_AT for data in out):
            # (Few buffers: sendmsg() refuses more than IOV_MAX, 1024 on Linux.)
            self._send_gathered(out)
        else:
            self._send_now(b"".join(out))

    def _complete(self, callback: SendCallback) -> None:
        if self._write_paused and self._state != _CLOSED:
            # The peer reads slower than we write: hold the completion until the
            # socket drains, so a send loop cannot buffer without bound.
            if self._write_waiters is None:
                self._write_waiters = []
            self._write_waiters.append(callback)
        elif _trampoline._running:
            _trampoline._queue.append((self, callback, ()))
        else:
            _trampoline.soon(self, callback)

    def _release_write_waiters(self) -> None:
        waiters = self._write_waiters
        if waiters:
            self._write_waiters = None
            for callback in waiters:
                _trampoline.soon(self, callback)

    # ---------------------------------------------------------- the socket
    #
    # The session drives its socket itself instead of through an asyncio
    # transport, which adds four Python calls per read (the selector callback,
    # get_buffer, buffer_updated and their wrappers) and two per write, a third
    # of what an echo costs here (docs/performance.md). Reads are watched by
    # one epoll for all sessions (_ReadPoller), writes that would block by the
    # loop's add_writer. The loop is still Tornado's IOLoop (asyncio or uvloop).

    def _attach(self, sock: socket.socket, head: bytes, early: bytes) -> None:
        """Own ``sock`` from now on: send the 101 ``head``, keep the ``early`` bytes."""
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a UNIX socket in someone's test): nothing to tune
        self._sock = sock
        self._fd = sock.fileno()
        self._readers = _readers(self._loop)
        self._readers.add(self._fd, self)
        if self._server is not None:
            self._server._track(self)
        self._send_now(head)
        if early:
            self._feed(early)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        if self._start == self._end:
            # Nothing pending: read into the shared buffer, parse in place.
            self._buf = _shared
            self._start = self._end = 0
            view = _shared_view
        else:
            view = self._room()
        try:
            nbytes = sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._connection_lost(exc)
            return
        finally:
            del view  # a view of our own buffer would pin its size
        if not nbytes:
            self._eof_received()
        elif self._state == _CLOSED:
            # Failed or answered: input only matters as the wait for EOF.
            self._start = self._end = 0
        else:
            self._end += nbytes
            if not self._dispatch_queued:
                # (If a read already queued a dispatch, that one sees these bytes.)
                self._dispatch_queued = True
                _trampoline.run(self, self._dispatch)
            if self._buf is _shared and self._start != self._end:
                self._keep_leftover()

    def _room(self) -> memoryview:
        """Free space after the pending bytes in this connection's own buffer."""
        buf = self._buf
        if buf is _shared:
            # Cannot happen: _on_readable copies leftovers out of _shared.
            raise RuntimeError("perfectws: pending data left in the shared buffer")
        start, end = self._start, self._end
        pending = end - start
        want = max(self._need, pending + _MIN_FREE)
        if len(buf) - end < _MIN_FREE or len(buf) < want:
            if start == 0 and len(buf) >= want:
                pass  # already compact and big enough
            elif len(buf) >= want:
                buf[:pending] = buf[start:end]
                self._start, self._end = 0, pending
            else:
                grown = bytearray(want)
                grown[:pending] = buf[start:end]
                self._buf = buf = grown
                self._start, self._end = 0, pending
        return memoryview(buf)[self._end :]

    def _feed(self, data: bytes) -> None:
        """Take bytes that arrived with the handshake, before this session read."""
        own = bytearray(len(data) + _MIN_FREE)
        own[: len(data)] = data
        self._buf = own
        self._start, self._end = 0, len(data)

    def _keep_leftover(self) -> None:
        """Copy what the shared buffer still holds into this connection's own."""
        start, end = self._start, self._end
        if start == end:
            self._start = self._end = 0
            return  # nothing left: the next read uses the shared buffer again
        pending = end - start
        own = bytearray(max(self._need, pending + _MIN_FREE))
        own[:pending] = _shared[start:end]
        self._buf = own
        self._start, self._end = 0, pending

    def _eof_received(self) -> None:
        """The peer closed its side: the session is over (with or without a Close)."""
        self._state = _CLOSED
        self._fail_read()
        if self._wbuf:
            self._close_when_flushed = True  # let our last frames out first
            self._pause_reading()
        else:
            self._connection_lost(None)

    def _send_now(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        wbuf = self._wbuf
        if wbuf:
            wbuf.append(data)
            self._wbuf_size += len(data)
            if self._wbuf_size > _WRITE_HIGH:
                self._write_paused = True
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._connection_lost(exc)
            return
        if sent < len(data):
            self._keep_unsent(memoryview(data)[sent:])

    def _send_gathered(self, parts: list[bytes]) -> None:
        """Send several buffers with one sendmsg(), copying none of them."""
        sock = self._sock
        if sock is None:
            return
        if self._wbuf:
            for data in parts:
                self._send_now(data)
            return
        try:
            sent = sock.sendmsg(parts)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._connection_lost(exc)
            return
        if sent < sum(map(len, parts)):
            # The socket filled up: one copy of what is left, then wait.
            self._keep_unsent(memoryview(b"".join(parts))[sent:])

    def _keep_unsent(self, rest: memoryview) -> None:
        """The socket is full: keep ``rest`` and send it when the socket drains."""
        self._wbuf = deque([rest])
        self._wbuf_size = len(rest)
        self._write_paused = self._wbuf_size > _WRITE_HIGH
        self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        sock, wbuf = self._sock, self._wbuf
        if sock is None or wbuf is None:
            return
        while wbuf:
            data = wbuf[0]
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._connection_lost(exc)
                return
            self._wbuf_size -= sent
            if sent < len(data):
                wbuf[0] = memoryview(data)[sent:]
                break
            wbuf.popleft()
        if not wbuf:
            self._wbuf = None
            self._loop.remove_writer(self._fd)
            if self._close_when_flushed:
                self._connection_lost(None)
                return
            if self._shutdown_when_flushed:
                self._shutdown_when_flushed = False
                self._shutdown()
        if self._write_paused and self._wbuf_size <= _WRITE_LOW:
            self._write_paused = False
            if self._write_waiters:
                self._release_write_waiters()
                _trampoline.drain()

    def _connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone (or we drop it): release everything, fail the read."""
        sock = self._sock
        if sock is None:
            return
        if exc is not None:
            logger.debug("WebSocket %s lost: %s", self.request.path, exc)
        self._sock = None
        self._state = _CLOSED
        loop = self._loop
        if self._readers is not None:
            self._readers.remove(self._fd)
            self._readers = None
        if self._wbuf is not None:
            loop.remove_writer(self._fd)
            self._wbuf = None
        sock.close()
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._buf is not _shared:
            self._buf = bytearray()
        self._start = self._end = 0
        self._out = None
        if self._server is not None:
            self._server._untrack(self)
        self._release_write_waiters()
        if self._read_callback is not None:
            _trampoline.run(self, self._deliver_failure)

    def _pause_reading(self) -> None:
        if not self._read_paused and self._readers is not None:
            self._read_paused = True
            self._readers.pause(self._fd)

    def _resume_reading(self) -> None:
        if self._read_paused and self._readers is not None:
            self._read_paused = False
            self._readers.resume(self._fd, self)
