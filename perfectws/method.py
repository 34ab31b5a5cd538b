"""HTTP methods, as Perfect's ``HTTPMethod`` enum names them."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
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
]


class HTTPMethod(StrEnum):
    """An HTTP request method.

    Swift: ``enum HTTPMethod { case options, get, head, post, patch, put, delete,
    trace, connect, custom(String) }``

    Differs from Perfect: there is no ``custom`` case; a request with another
    method gets 501 Not Implemented before routing (Tornado's HTTP parser accepts
    any token, perfectws routes only the methods listed here).
    """

    OPTIONS = "OPTIONS"
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PATCH = "PATCH"
    PUT = "PUT"
    DELETE = "DELETE"
    TRACE = "TRACE"
    CONNECT = "CONNECT"


# Module-level aliases so a port reads ``routes[GET, "/echo"]`` as Swift reads
# ``routes[.get, "/echo"]`` (the websockets ``OPEN = State.OPEN`` idiom).
OPTIONS = HTTPMethod.OPTIONS
GET = HTTPMethod.GET
HEAD = HTTPMethod.HEAD
POST = HTTPMethod.POST
PATCH = HTTPMethod.PATCH
PUT = HTTPMethod.PUT
DELETE = HTTPMethod.DELETE
TRACE = HTTPMethod.TRACE
CONNECT = HTTPMethod.CONNECT
