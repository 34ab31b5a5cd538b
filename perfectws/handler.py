"""The upgrade: Perfect's ``WebSocketHandler`` and ``WebSocketSessionHandler``.

``WebSocketHandler.handle_request`` checks the handshake exactly as Perfect
does, asks the producer for a session handler, writes ``101 Switching
Protocols`` and hands the socket from Tornado's IOStream to a
:class:`~perfectws.websocket.WebSocket` on the same event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from ._deflate import (
    Agreement,
    DeflateServerProtocol,
    PerMessageDeflate,
    compression_options,
    negotiate,
)
from ._takeover import take_socket
from ._trampoline import trampoline
from .exceptions import NotServedError
from .method import HTTPMethod
from .response import complete_text
from .websocket import WebSocket

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = [
    "HandlerProducer",
    "OriginCheck",
    "PerMessageDeflate",
    "WebSocketHandler",
    "WebSocketSessionHandler",
]

logger = logging.getLogger(__name__)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@runtime_checkable
class WebSocketSessionHandler(Protocol):
    """What a handler producer returns: it drives one session.

    Swift: ``protocol WebSocketSessionHandler { var socketProtocol: String?
    { get }; func handleSession(request: HTTPRequest, socket: WebSocket) }``

    A plain class attribute (``socket_protocol = "echo"``) satisfies the
    property. ``handle_session`` is called once, after the 101 response has
    been handed to the socket; from then on the handler drives the session.
    """

    @property
    def socket_protocol(self) -> str | None:
        """The subprotocol to answer with. Swift: ``var socketProtocol: String?``"""
        ...

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        """Drive the session. Swift: ``func handleSession(request:socket:)``"""
        ...


#: Swift: ``typealias HandlerProducer = (HTTPRequest, [String]) ->
#: WebSocketSessionHandler?``
HandlerProducer = Callable[["HTTPRequest", list[str]], WebSocketSessionHandler | None]

#: ``check_origin(origin, request) -> bool``
OriginCheck = Callable[[str, "HTTPRequest"], bool]


class WebSocketHandler:
    """Upgrades a request to a WebSocket session.

    Swift: ``WebSocketHandler(handlerProducer: HandlerProducer)`` and its
    ``handleRequest(request:response:)``.

    ``handle_request`` answers as Perfect does:

    * no ``Upgrade: websocket``, ``Connection: upgrade``, ``Sec-WebSocket-Key``
      or ``Sec-WebSocket-Version``: **400**;
    * a version other than 13: **400** with ``Sec-WebSocket-Version: 13`` and
      Perfect's body;
    * the producer returns ``None``: **400** ``WebSocket protocols not
      supported.``;
    * otherwise **101**, echoing the handler's ``socket_protocol``, then
      ``handle_session(request, socket)``.

    Differs from Perfect (each to follow RFC 6455 or to protect users):

    * the 400 answers carry a body that says what is missing (Perfect's is
      empty), and a ``Sec-WebSocket-Key`` that is not 16 bytes of base64 is
      refused too;
    * a method other than GET gets **405** (Perfect does not check);
    * ``socket_protocol`` is sent only if the client offered it (Perfect sends
      it even when not offered, which RFC 6455 forbids);
    * the ``Origin`` header is checked (**403**): browsers may connect from the
      server's own origin or one in ``allowed_origins``; clients that send no
      ``Origin`` (non-browsers) are allowed. ``check_origin`` replaces the
      policy; ``allowed_origins=["*"]`` allows every origin;
    * ``max_message_size`` closes a session with 1009 when a message grows
      past it (default: the server's ``max_message_size``, 16 MiB); Perfect
      has no limit.

    ``compression`` (Swift: none) turns on permessage-deflate (RFC 7692):
    ``None`` (the default, as in Perfect) never negotiates it, ``"deflate"``
    accepts a client's offer with :class:`PerMessageDeflate`'s defaults, and
    a :class:`PerMessageDeflate` sets the windows, context takeover and zlib
    levels. A string for the common case and an options object for the rest,
    rather than a row of ``deflate_*`` keywords here, keeps this signature
    Perfect's and leaves room for another extension. Off by default because it
    costs CPU per message and a compressor and inflater per connection
    (README, "Compression"). Sessions that negotiated it read and send exactly
    as without it: each read still delivers one frame (inflated), each send
    one frame (compressed); the inflated size counts for ``max_message_size``.
    """

    def __init__(
        self,
        handler_producer: HandlerProducer,
        *,
        max_message_size: int | None = None,
        allowed_origins: Iterable[str] = (),
        check_origin: OriginCheck | None = None,
        compression: str | PerMessageDeflate | None = None,
    ) -> None:
        self.handler_producer = handler_producer
        self.max_message_size = max_message_size
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.check_origin = check_origin or self._same_origin_or_allowed
        #: The permessage-deflate options, or ``None`` when it is off.
        self.compression = compression_options(compression)

    def handle_request(self, request: HTTPRequest, response: HTTPResponse) -> None:
        """Check the handshake and upgrade, or answer with an HTTP error.

        Swift: ``func handleRequest(request: HTTPRequest, response: HTTPResponse)``
        """
        # Each check refuses with its own status and text (tests/test_handshake.py
        # pins them), in Perfect's order: method, headers, version, key, origin.
        key = _checked_key(request, response)
        if key is None:
            return
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, request, response):
            return
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        handler = self.handler_producer(request, protocols)
        if handler is None:
            _refuse(
                response, HTTPStatus.BAD_REQUEST, "WebSocket protocols not supported."
            )
            return
        head, agreement = self._head(request, response, key, protocols, handler)
        _upgrade(request, response, handler, head, self.max_message_size, agreement)

    def _origin_ok(
        self, origin: str, request: HTTPRequest, response: HTTPResponse
    ) -> bool:
        """Whether ``origin`` passes ``check_origin``; refuse if not."""
        if self.check_origin(origin, request):
            return True
        logger.debug("refused WebSocket from origin %r on %s", origin, request.path)
        _refuse(
            response,
            HTTPStatus.FORBIDDEN,
            f"origin {origin} is not allowed: add it to "
            "WebSocketHandler(allowed_origins=...)",
        )
        return False

    def _head(
        self,
        request: HTTPRequest,
        response: HTTPResponse,
        key: str,
        protocols: list[str],
        handler: WebSocketSessionHandler,
    ) -> tuple[bytes, Agreement | None]:
        """The 101 response head, and the permessage-deflate agreement if any."""
        accept = base64.b64encode(hashlib.sha1(key.strip().encode() + _GUID).digest())
        lines = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
        ]
        chosen = handler.socket_protocol
        if chosen is not None and chosen in protocols:
            lines.append(b"Sec-WebSocket-Protocol: " + chosen.encode() + b"\r\n")
            # Not written from here (the 101 head above is): for the access log.
            response.set_header("Sec-WebSocket-Protocol", chosen)
        agreement = None
        if self.compression is not None:
            agreement = negotiate(
                request.headers.get_list("Sec-WebSocket-Extensions"), self.compression
            )
            if agreement is not None:
                lines.append(
                    b"Sec-WebSocket-Extensions: "
                    + agreement.response.encode()
                    + b"\r\n"
                )
        lines.append(b"\r\n")
        return b"".join(lines), agreement

    def _same_origin_or_allowed(self, origin: str, request: HTTPRequest) -> bool:
        normalized = origin.rstrip("/").lower()
        if "*" in self.allowed_origins or normalized in self.allowed_origins:
            return True
        host = request.headers.get("Host", "").lower()
        return bool(host) and urlsplit(normalized).netloc == host


def _checked_key(request: HTTPRequest, response: HTTPResponse) -> str | None:
    """The ``Sec-WebSocket-Key`` of an RFC 6455 upgrade, or ``None`` once refused."""
    if request.method is not HTTPMethod.GET:
        response.set_header("Allow", "GET")
        _refuse(
            response,
            HTTPStatus.METHOD_NOT_ALLOWED,
            "a WebSocket upgrade must be a GET request",
        )
        return None
    headers = request.headers
    key = headers.get("Sec-WebSocket-Key")
    version = headers.get("Sec-WebSocket-Version")
    if (
        key is None
        or version is None
        or headers.get("Upgrade", "").lower() != "websocket"
        # (the exact token, as browsers send it, before the general case)
        or (
            headers.get("Connection", "").lower() != "upgrade"
            and not _has_upgrade_token(headers.get("Connection", ""))
        )
    ):
        _refuse(
            response,
            HTTPStatus.BAD_REQUEST,
            "this is a WebSocket endpoint: the upgrade request lacks "
            + ", ".join(_missing_headers(request, key, version)),
        )
        return None
    if version.strip() != "13":
        response.set_header("Sec-WebSocket-Version", "13")
        _refuse(
            response,
            HTTPStatus.BAD_REQUEST,
            f"WebSocket protocol version {version} not supported. "
            "Supported protocol versions are: [13]",
        )
        return None
    if not _valid_key(key):
        _refuse(
            response,
            HTTPStatus.BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        )
        return None
    return key


def _has_upgrade_token(connection: str) -> bool:
    """Whether a ``Connection`` header lists ``upgrade`` (RFC 9110 7.6.1)."""
    return "upgrade" in [t.strip() for t in connection.lower().split(",")]


def _missing_headers(
    request: HTTPRequest, key: str | None, version: str | None
) -> list[str]:
    """The upgrade headers RFC 6455 section 4.2.1 requires that are absent or wrong."""
    upgrade = request.headers.get("Upgrade", "")
    return [
        header
        for header, ok in (
            ("Upgrade: websocket", upgrade.lower() == "websocket"),
            (
                "Connection: Upgrade",
                _has_upgrade_token(request.headers.get("Connection", "")),
            ),
            ("Sec-WebSocket-Key", key is not None),
            ("Sec-WebSocket-Version", version is not None),
        )
        if not ok
    ]


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def _refuse(response: HTTPResponse, status: int, text: str) -> None:
    # DEBUG, as Tornado logs bad handshakes: a hostile peer must not flood logs.
    logger.debug(
        "refused WebSocket upgrade of %s: %d %s", response.request.path, status, text
    )
    complete_text(response, status, text)


def _upgrade(
    request: HTTPRequest,
    response: HTTPResponse,
    handler: WebSocketSessionHandler,
    head: bytes,
    max_message_size: int | None,
    agreement: Agreement | None = None,
) -> None:
    """Write the 101, move the socket to a WebSocket session, start the session."""
    context = request.server_context
    connection = response._detach() if context is not None else None
    if context is None or connection is None:
        raise NotServedError(
            "handle_request needs a request received by perfectws.HTTPServer"
        )
    sock, early = take_socket(connection)
    if sock is None:
        return  # the client is already gone
    if max_message_size is None:
        max_message_size = context.settings.max_message_size
    protocol = None
    if agreement is not None:
        # permessage-deflate: the session's protocol compresses and inflates.
        protocol = DeflateServerProtocol(max_message_size, agreement)
    ws = WebSocket(request, max_message_size=max_message_size, protocol=protocol)
    ws.attach(sock, head, early)
    trampoline.run(ws, handler.handle_session, request, ws)
