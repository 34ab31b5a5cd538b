"""What every WebSocket session of a server shares: keepalive, caps, timeouts.

Perfect has none of these; they are the defaults a production service needs
(README, "Running in production"), set on :class:`~perfectws.HTTPServer` (or
in configuration data) and handed to each session through the request's
:class:`~perfectws.request.ServerContext`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import ConfigurationError

__all__ = ["WebSocketSettings"]


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """The session defaults of one server.

    Swift: none (Perfect pings only when the handler asks, never times a
    closing handshake out, and buffers unsent data without bound).

    * ``ping_interval``: seconds of silence from the peer after which the
      server pings it (any frame from the peer counts as life); ``None``
      turns keepalive off. websockets uses 20 s too. The server looks at all
      its sessions every half interval (``_session.keepalive_sweep``), so a
      peer is pinged after between one and one and a half intervals of
      silence.
    * ``ping_timeout``: seconds that ping may go unanswered (by a Pong or any
      other frame) before the connection is closed with 1011 and the
      pending read gets ``None``, as for any dead connection.
    * ``close_timeout``: seconds after a Close is sent or received (or the
      peer's FIN) by which the TCP connection is gone, whatever the peer does.
    * ``max_send_queue``: bytes of unsent output a connection may hold. A
      send to a peer whose backlog is already past it closes the connection
      with 1008 and frees the backlog (the peer is not reading). The default
      is ``max_message_size``'s, so a handler can always answer the largest
      message it may receive, and a peer that does not read costs at most
      about twice that until keepalive or the cap closes it.
    * ``max_message_size``: bytes a message may grow to (all its fragments,
      inflated) before 1009, for handlers that set none of their own
      (``WebSocketHandler(max_message_size=)`` wins).
    """

    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0
    max_send_queue: int = 16 * 1024 * 1024
    max_message_size: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("ping_timeout", "close_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be more than 0 seconds")
        if self.ping_interval is not None and self.ping_interval <= 0:
            raise ConfigurationError(
                "ping_interval must be more than 0 seconds, or None for no keepalive"
            )
        if self.max_message_size < 1:
            raise ConfigurationError("max_message_size must be at least 1 byte")
        if self.max_send_queue < 64 * 1024:
            raise ConfigurationError("max_send_queue must be at least 65536 bytes")


#: The defaults, for sessions whose request no server made (a unit test's).
DEFAULT_SETTINGS = WebSocketSettings()
