"""Moving a session's bytes: the socket, the shared read buffer, the write queue.

After the upgrade a WebSocket's socket leaves Tornado's IOStream and a
transport drives it on the same event loop. Why not an asyncio transport: it
adds four Python calls per read (the selector callback, ``get_buffer``,
``buffer_updated`` and their wrappers) and two per write, a third of what an
echo costs here (docs/design.md has the A/B figures). Instead:

* **Reads** are watched by one epoll for every session's socket, which the
  loop watches as a single reader (perfectws/_poller.py), and go into one
  256 KiB buffer shared by all sessions (:data:`SHARED`): reads happen one at a
  time on the loop, complete frames are parsed in place, and only what a read
  leaves unparsed is copied into the session's own buffer. An idle session
  holds no read buffer.
* **Writes** go straight to ``send``. While callbacks run on the trampoline
  they are coalesced and sent once the trampoline's queue is empty; only when
  the kernel's buffer is full is the rest kept and ``add_writer`` asked for.
* **Backpressure**: the session pauses reading (the socket leaves the epoll's
  interest set) and learns from :attr:`SocketTransport.write_paused` when its
  output outgrows :data:`WRITE_HIGH`.

The transport knows its session only through :class:`TransportUser`, and
holds no protocol state. :class:`~perfectws._tls.TLSTransport` serves TLS
sockets, whose raw fd cannot be read, with the same contract.

Why about 480 lines, unsplit (issue 10): every read and every write of every
message passes through here, where a 32-byte echo costs about 20 Python calls
in all (sys.setprofile over bench/servers/perfectws_echo.py driven by
``bench/wsload echo --conns 50 --size 32``); a helper call added on that path
costs about 1% of an echo (``bench/instructions.sh`` shows it), so the read
and write paths keep their steps inline.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import Final, Protocol

from ._poller import readers_for
from ._trampoline import trampoline

__all__ = ["SHARED", "SocketTransport", "TransportUser"]

logger = logging.getLogger(__name__)

#: One read buffer for every connection: reads happen one at a time on the
#: loop, and whatever a read leaves unparsed is copied to the connection's own.
SHARED_SIZE: Final = 256 * 1024
SHARED = bytearray(SHARED_SIZE)
_shared_view = memoryview(SHARED)

#: Free space a session's own buffer keeps after its pending bytes.
MIN_FREE: Final = 16 * 1024
#: Above this much unsent output, send completions wait until it drains below
#: WRITE_LOW (asyncio's transport defaults); coalesced output is sent at once.
WRITE_HIGH: Final = 64 * 1024
WRITE_LOW: Final = 16 * 1024
#: From this payload size on, a frame's header and payload leave with one
#: sendmsg() instead of being joined: copying costs more than the iovec.
GATHER_AT: Final = 16 * 1024


class TransportUser(Protocol):
    """The session above a transport, as the transport sees it."""

    def data_received(self) -> None:
        """New bytes are in ``transport.buf[transport.start:transport.end]``."""

    def eof_received(self) -> None:
        """The peer closed its side; the transport closes once its output is out."""

    def connection_lost(self) -> None:
        """The socket is closed and released; nothing more comes or goes."""

    def writing_resumed(self) -> None:
        """Unsent output fell below ``WRITE_LOW`` after ``write_paused``."""

    def output_drained(self) -> None:
        """Everything kept back because the socket was full has been sent."""

    def send_queue_overflow(self) -> None:
        """A write found ``max_unsent`` bytes already waiting; they were dropped."""

    def callback_failed(self) -> None:
        """A callback the transport ran on the trampoline raised."""


class _Gone:
    """The user of a transport whose connection is gone: hears nothing more."""

    __slots__ = ()

    def _nothing(self) -> None:
        pass

    data_received = eof_received = connection_lost = _nothing
    writing_resumed = output_drained = send_queue_overflow = callback_failed = _nothing


_GONE: Final = _Gone()


class SocketTransport:
    """A plain TCP (or UNIX) socket driven on the loop.

    Input contract: ``buf[start:end]`` holds the bytes read and not yet
    consumed; the session advances ``start`` as it parses and sets ``need`` to
    the size of an incomplete frame so the next read makes room for it.
    """

    __slots__ = (
        "_close_when_flushed",
        "_fd",
        "_loop",
        "_out",
        "_out_size",
        "_readers",
        "_shutdown_when_flushed",
        "_user",
        "_wbuf",
        "_wbuf_size",
        "buf",
        "end",
        "max_unsent",
        "need",
        "read_paused",
        "sock",
        "start",
        "unsent_high",
        "write_paused",
    )

    #: What a non-blocking read or write raises when it must wait.
    WOULD_BLOCK: tuple[type[OSError], ...] = (BlockingIOError, InterruptedError)

    def __init__(
        self,
        sock: socket.socket,
        user: TransportUser,
        loop: asyncio.AbstractEventLoop,
        max_unsent: int,
    ) -> None:
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a UNIX socket in someone's test): nothing to tune
        #: The socket, or ``None`` once the connection is gone.
        self.sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._user = user
        self._loop = loop
        self.buf = SHARED  # no buffer of its own until a frame spans reads
        self.start = 0
        self.end = 0
        self.need = 0
        self.read_paused = False
        self.write_paused = False
        #: A write that finds more than this already unsent drops the backlog
        #: and reports :meth:`TransportUser.send_queue_overflow` instead.
        self.max_unsent = max_unsent
        #: The most bytes ever kept back for this peer (for metrics).
        self.unsent_high = 0
        self._out: list[bytes] | None = None
        self._out_size = 0
        self._wbuf: deque[bytes | memoryview] | None = None
        self._wbuf_size = 0
        self._shutdown_when_flushed = False
        self._close_when_flushed = False
        self._readers = readers_for(loop)
        self._readers.add(self._fd, self)

    def feed(self, data: bytes) -> None:
        """Take bytes that were read before the transport existed (the handshake's)."""
        own = bytearray(len(data) + MIN_FREE)
        own[: len(data)] = data
        self.buf = own
        self.start, self.end = 0, len(data)

    @property
    def unsent(self) -> int:
        """Bytes written and not yet accepted by the kernel."""
        return self._wbuf_size + self._out_size

    @property
    def backlogged(self) -> bool:
        """Whether output is waiting for the socket to drain (the peer is slow)."""
        return self._wbuf is not None

    # -------------------------------------------------------------- reading

    def on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        if self.start == self.end:
            # Nothing pending: read into the shared buffer, parse in place.
            self.buf = SHARED
            self.start = self.end = 0
            view = _shared_view
        else:
            view = self._room()
        try:
            nbytes = sock.recv_into(view)
        except self.WOULD_BLOCK:
            return
        except OSError as exc:
            self.connection_lost(exc)
            return
        finally:
            del view  # a view of our own buffer would pin its size
        if not nbytes:
            self._eof()
            return
        self.end += nbytes
        self._user.data_received()
        if self.buf is SHARED and self.start != self.end:
            self._keep_leftover()

    def discard_input(self) -> None:
        """Forget what was read and not consumed (after a failure or a Close)."""
        self.start = self.end = 0

    def _room(self) -> memoryview:
        """Free space after the pending bytes in this connection's own buffer."""
        buf = self.buf
        start, end = self.start, self.end
        pending = end - start
        want = max(self.need, pending + MIN_FREE)
        if len(buf) - end < MIN_FREE or len(buf) < want:
            if start == 0 and len(buf) >= want:
                pass  # already compact and big enough
            elif len(buf) >= want:
                buf[:pending] = buf[start:end]
                self.start, self.end = 0, pending
            else:
                grown = bytearray(want)
                grown[:pending] = buf[start:end]
                self.buf = buf = grown
                self.start, self.end = 0, pending
        return memoryview(buf)[self.end :]

    def _keep_leftover(self) -> None:
        """Copy what the shared buffer still holds into this connection's own."""
        start, end = self.start, self.end
        pending = end - start
        own = bytearray(max(self.need, pending + MIN_FREE))
        own[:pending] = SHARED[start:end]
        self.buf = own
        self.start, self.end = 0, pending

    def _eof(self) -> None:
        self._user.eof_received()
        if self._wbuf:
            self._close_when_flushed = True  # let our last frames out first
            self.pause_reading()
        else:
            self.connection_lost(None)

    def pause_reading(self) -> None:
        if not self.read_paused and self.sock is not None:
            self.read_paused = True
            self._readers.pause(self._fd)

    def resume_reading(self) -> None:
        if self.read_paused and self.sock is not None:
            self.read_paused = False
            self._readers.resume(self._fd, self)

    # -------------------------------------------------------------- writing

    def write(self, data: bytes) -> None:
        """Write now, or, while callbacks run, when the trampoline's queue is empty.

        A handler that answers several pipelined frames then costs one send()
        instead of one per frame; with one message in flight nothing changes.
        Past WRITE_HIGH the frames go out at once, so that a full socket holds
        back the send completions instead of this list growing.
        """
        if trampoline.running:
            out = self._out
            if out is None:
                self._out = [data]
                self._out_size = len(data)
                trampoline.unflushed.append(self)
            else:
                out.append(data)
                self._out_size += len(data)
            if self._out_size >= WRITE_HIGH:
                self.flush()
        else:
            self._send_now(data)

    def write_frame(self, header: bytes, payload: bytes) -> None:
        """Write a large frame: header and payload leave together, uncopied."""
        if trampoline.running and len(payload) < WRITE_HIGH:
            # Both go out in one sendmsg() at the flush, with what else is held.
            self.write(header)
            self.write(payload)
            return
        # A frame past WRITE_HIGH would be flushed at once anyway: it skips the
        # hold (3 Python calls of a 64 KiB echo's 31), after what was held.
        if self._out is not None:
            self.flush()
        self._send_gathered([header, payload])

    def flush(self) -> None:
        """Send what :meth:`write` coalesced."""
        out = self._out
        self._out = None
        self._out_size = 0
        if not out:
            return
        if len(out) == 1:
            self._send_now(out[0])
        elif len(out) <= 16 and any(len(data) >= GATHER_AT for data in out):
            # (Few buffers: sendmsg() refuses more than IOV_MAX, 1024 on Linux.)
            self._send_gathered(out)
        else:
            self._send_now(b"".join(out))

    def _send_now(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        if self._wbuf:
            if self._wbuf_size <= self.max_unsent:
                self._queue_unsent(data)
            else:
                self._overflow()
            return
        try:
            sent = sock.send(data)
        except self.WOULD_BLOCK:
            sent = 0
        except OSError as exc:
            self.connection_lost(exc)
            return
        if sent < len(data):
            self._keep_unsent(memoryview(data)[sent:])

    def _send_gathered(self, parts: list[bytes]) -> None:
        """Send several buffers with one sendmsg(), copying none of them."""
        sock = self.sock
        if sock is None:
            return
        if self._wbuf:
            if self._wbuf_size <= self.max_unsent:
                for data in parts:
                    self._queue_unsent(data)
            else:
                self._overflow()
            return
        try:
            sent = sock.sendmsg(parts)
        except self.WOULD_BLOCK:
            sent = 0
        except OSError as exc:
            self.connection_lost(exc)
            return
        if sent < sum(map(len, parts)):
            # The socket filled up: one copy of what is left, then wait.
            self._keep_unsent(memoryview(b"".join(parts))[sent:])

    def _overflow(self) -> None:
        """Drop the backlog of a peer that does not read, and say so."""
        if self._wbuf is not None:
            self._loop.remove_writer(self._fd)
        self._wbuf = None
        self._wbuf_size = 0
        self._shutdown_when_flushed = False
        self.write_paused = False
        self._user.send_queue_overflow()

    def _queue_unsent(self, data: bytes | memoryview) -> None:
        assert self._wbuf is not None
        self._wbuf.append(data)
        self._wbuf_size += len(data)
        if self._wbuf_size > WRITE_HIGH:
            self.write_paused = True
        if self._wbuf_size > self.unsent_high:
            self.unsent_high = self._wbuf_size

    def _keep_unsent(self, rest: memoryview) -> None:
        """The socket is full: keep ``rest`` and send it when the socket drains."""
        self._wbuf = deque([rest])
        self._wbuf_size = len(rest)
        if self._wbuf_size > self.unsent_high:
            self.unsent_high = self._wbuf_size
        self.write_paused = self._wbuf_size > WRITE_HIGH
        self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        sock, wbuf = self.sock, self._wbuf
        if sock is None or wbuf is None:
            return
        while wbuf:
            data = wbuf[0]
            try:
                sent = sock.send(data)
            except self.WOULD_BLOCK:
                break
            except OSError as exc:
                self.connection_lost(exc)
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
                self.connection_lost(None)
                return
            self._user.output_drained()
            if self.backlogged:
                return  # it wrote again, and the socket is full again
            if self._shutdown_when_flushed:
                self._shutdown_when_flushed = False
                self._shutdown()
        if self.write_paused and self._wbuf_size <= WRITE_LOW:
            self.write_paused = False
            self._user.writing_resumed()

    # -------------------------------------------------------------- closing

    def shutdown_after_flush(self) -> None:
        """Half-close once our frames are out, and keep reading until the peer's FIN.

        Closing with unread input would send a RST that can overtake our last
        frame, so the socket is shut for writing only, and closed when the
        peer closes too (or when the session aborts it).
        """
        if self.sock is None:
            return
        self.flush()
        if self._wbuf:
            self._shutdown_when_flushed = True
        else:
            self._shutdown()
        self.resume_reading()

    def _shutdown(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def abort(self) -> None:
        """Drop the connection now, whatever is unsent."""
        self.connection_lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """Close and release the socket, then tell the session (once)."""
        sock = self.sock
        if sock is None:
            return
        if exc is not None:
            logger.debug("WebSocket connection lost: %s", exc)
        self.sock = None
        self._readers.remove(self._fd)
        if self._wbuf is not None:
            self._loop.remove_writer(self._fd)
            self._wbuf = None
            self._wbuf_size = 0
        sock.close()
        if self.buf is not SHARED:
            self.buf = bytearray()
        self.start = self.end = 0
        self._out = None
        self._out_size = 0
        self.write_paused = False
        user = self._user
        # Forget the session: the two refer to each other, and a cycle would
        # leave every closed session to the cycle collector (measured: 13
        # objects per connection, about 2% of a handshake's CPU in GC passes).
        self._user = _GONE
        user.connection_lost()
