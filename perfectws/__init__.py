"""perfectws: the API of Swift's Perfect WebSocket server, in Python, on Tornado.

Everything a port of a Perfect WebSocket service needs is importable from here;
the modules hold the same names (each module's ``__all__``).
"""

from __future__ import annotations

# .broadcast
from .broadcast import DEFAULT_MAX_PENDING, SlowPolicy, broadcast

# .compression
from .compression import HTTPFilter

# .config
from .config import Server

# .exceptions
from .exceptions import (
    ArgumentError,
    CloseFrameError,
    ConcurrencyError,
    ConfigurationError,
    FanOutError,
    LaunchFailure,
    MessageTypeError,
    MissingDependency,
    NotServedError,
    PerfectWSError,
    RouteError,
)

# .fanout
from .fanout import FanOut, FanOutCallback

# .filters
from .filters import (
    HTTPFilterPriority,
    HTTPRequestFilter,
    HTTPRequestFilterResult,
    HTTPResponseFilter,
    HTTPResponseFilterResult,
)

# .frames
from .frames import CloseCode, OpcodeType

# .handler
from .handler import (
    HandlerProducer,
    OriginCheck,
    PerMessageDeflate,
    WebSocketHandler,
    WebSocketSessionHandler,
)

# .http_handler
from .http_handler import HTTPHandler

# .launch
from .launch import LaunchContext, PerfectServer, launch

# .method
from .method import (
    CONNECT,
    DELETE,
    GET,
    HEAD,
    OPTIONS,
    PATCH,
    POST,
    PUT,
    TRACE,
    HTTPMethod,
)

# .request
from .request import HTTPRequest, WebRequest

# .response
from .response import HTTPResponse, WebResponse

# .routing
from .routing import (
    ROUTE_TRAILING_WILDCARD_KEY,
    RequestHandler,
    Route,
    RouteMatch,
    Routes,
    Routing,
)

# .server
from .server import HTTPServer

# .static
from .static import StaticFileHandler

# .tls
from .tls import OpenSSLVerifyMode, TLSConfiguration

# .websocket
from .websocket import BytesReadCallback, SendCallback, StringReadCallback, WebSocket

__version__ = "0.1.0"

__all__ = [
    # .broadcast
    "DEFAULT_MAX_PENDING",
    "SlowPolicy",
    "broadcast",
    # .compression
    "HTTPFilter",
    # .config
    "Server",
    # .exceptions
    "ArgumentError",
    "CloseFrameError",
    "ConcurrencyError",
    "ConfigurationError",
    "FanOutError",
    "LaunchFailure",
    "MessageTypeError",
    "MissingDependency",
    "NotServedError",
    "PerfectWSError",
    "RouteError",
    # .fanout
    "FanOut",
    "FanOutCallback",
    # .filters
    "HTTPFilterPriority",
    "HTTPRequestFilter",
    "HTTPRequestFilterResult",
    "HTTPResponseFilter",
    "HTTPResponseFilterResult",
    # .frames
    "CloseCode",
    "OpcodeType",
    # .handler
    "HandlerProducer",
    "OriginCheck",
    "PerMessageDeflate",
    "WebSocketHandler",
    "WebSocketSessionHandler",
    # .http_handler
    "HTTPHandler",
    # .launch
    "LaunchContext",
    "PerfectServer",
    "launch",
    # .method
    "CONNECT",
    "DELETE",
    "GET",
    "HEAD",
    "OPTIONS",
    "PATCH",
    "POST",
    "PUT",
    "TRACE",
    "HTTPMethod",
    # .request
    "HTTPRequest",
    "WebRequest",
    # .response
    "HTTPResponse",
    "WebResponse",
    # .routing
    "ROUTE_TRAILING_WILDCARD_KEY",
    "RequestHandler",
    "Route",
    "RouteMatch",
    "Routes",
    "Routing",
    # .server
    "HTTPServer",
    # .static
    "StaticFileHandler",
    # .tls
    "OpenSSLVerifyMode",
    "TLSConfiguration",
    # .websocket
    "BytesReadCallback",
    "SendCallback",
    "StringReadCallback",
    "WebSocket",
]
