"""The transport for TLS sessions (wss://): same contract, an ``ssl.SSLSocket`` below.

A TLS socket cannot be read through its fd alone: OpenSSL decrypts whole
records, so one ``recv_into`` can leave decrypted bytes inside the SSL object
(``pending()``) while the kernel's buffer is empty and epoll stays silent.
This transport reads until nothing is pending, and looks again whenever
reading resumes. Writes may answer "want read/write" (OpenSSL's
``SSL_ERROR_WANT_*``) where a plain socket says ``EAGAIN``, and must then be
retried with the same bytes, which the base class's write queue already does;
``sendmsg`` does not exist on TLS sockets, so gathered writes are joined.
Everything else (the shared read buffer, coalescing, backpressure, the
closing) is :class:`~perfectws._transport.SocketTransport`'s.
"""

from __future__ import annotations

import asyncio
import ssl

from ._transport import SocketTransport, TransportUser

__all__ = ["TLSTransport"]


class TLSTransport(SocketTransport):
    """A :class:`~perfectws._transport.SocketTransport` over an ``ssl.SSLSocket``."""

    __slots__ = ()

    WOULD_BLOCK = (
        BlockingIOError,
        InterruptedError,
        ssl.SSLWantReadError,
        ssl.SSLWantWriteError,
    )

    def __init__(
        self,
        sock: ssl.SSLSocket,
        user: TransportUser,
        loop: asyncio.AbstractEventLoop,
        max_unsent: int,
    ) -> None:
        super().__init__(sock, user, loop, max_unsent)
        self._read_pending_soon()

    def on_readable(self) -> None:
        super().on_readable()
        sock = self.sock
        while sock is not None and not self.read_paused and sock.pending():  # type: ignore[attr-defined]
            super().on_readable()
            sock = self.sock

    def resume_reading(self) -> None:
        was_paused = self.read_paused
        super().resume_reading()
        if was_paused:
            self._read_pending_soon()

    def _read_pending_soon(self) -> None:
        """Bytes already decrypted will not wake epoll: read them on the next turn."""
        sock = self.sock
        if sock is not None and sock.pending():  # type: ignore[attr-defined]
            self._loop.call_soon(self.on_readable)

    def _send_gathered(self, parts: list[bytes]) -> None:
        self._send_now(b"".join(parts))
