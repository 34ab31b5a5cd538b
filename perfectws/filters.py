"""Request and response filters: Perfect-HTTP's ``HTTPFilter.swift``.

Swift: ``protocol HTTPRequestFilter``, ``protocol HTTPResponseFilter``,
``enum HTTPFilterPriority``, ``enum HTTPRequestFilterResult``, ``enum
HTTPResponseFilterResult`` (PerfectlySoft/Perfect-HTTP
``Sources/PerfectHTTP/HTTPFilter.swift``), run the way Perfect-HTTPServer's
``HTTPServer.filterRequest`` and ``HTTP11Response.filterHeaders`` run them
(``Sources/PerfectHTTPServer/HTTPServer.swift``, ``HTTP11/HTTP11Response.swift``).

Filters are grouped by priority, high first; inside a group they run in the
order given. A request filter ends with ``continue_`` (the next filter),
``execute`` (skip the rest of its priority group) or ``halt`` (the response
is sent as the filter left it; no handler runs). A response filter ends with
``CONTINUE``, ``DONE`` (no more filters for this push) or ``HALT`` (the
connection is closed).

This module sits at the bottom of the stack with request and response: it
imports neither at run time.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

from .exceptions import ArgumentError

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = [
    "HTTPFilterPriority",
    "HTTPRequestFilter",
    "HTTPRequestFilterResult",
    "HTTPResponseFilter",
    "HTTPResponseFilterResult",
]

logger = logging.getLogger(__name__)

_F = TypeVar("_F")


class HTTPFilterPriority(enum.Enum):
    """When a filter runs: every HIGH filter before every MEDIUM one, then LOW.

    Swift: ``enum HTTPFilterPriority { case low, medium, high }``
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    low = LOW
    medium = MEDIUM
    high = HIGH


class HTTPRequestFilterResult(NamedTuple):
    """What a request filter decided, with the request and response to go on with.

    Swift: ``enum HTTPRequestFilterResult { case continue(HTTPRequest,
    HTTPResponse), halt(...), execute(...) }``

    Make one with :meth:`continue_` (``continue`` is a Python keyword),
    :meth:`execute` or :meth:`halt`.
    """

    action: str
    """``"continue"``, ``"execute"`` or ``"halt"``."""
    request: HTTPRequest
    """The request the next step sees (a filter may hand on another one)."""
    response: HTTPResponse
    """The response the next step fills in."""

    @classmethod
    def continue_(
        cls, request: HTTPRequest, response: HTTPResponse
    ) -> HTTPRequestFilterResult:
        """Go on with the next filter. Swift: ``.continue(request, response)``"""
        return cls("continue", request, response)

    @classmethod
    def execute(
        cls, request: HTTPRequest, response: HTTPResponse
    ) -> HTTPRequestFilterResult:
        """Skip the other filters of this priority. Swift: ``.execute(request, response)``"""
        return cls("execute", request, response)

    @classmethod
    def halt(
        cls, request: HTTPRequest, response: HTTPResponse
    ) -> HTTPRequestFilterResult:
        """Send the response as it is; no handler runs. Swift: ``.halt(request, response)``"""
        return cls("halt", request, response)


class HTTPResponseFilterResult(enum.Enum):
    """What a response filter decided.

    Swift: ``enum HTTPResponseFilterResult { case continue, done, halt }``
    """

    CONTINUE = "continue"
    DONE = "done"
    HALT = "halt"
    continue_ = CONTINUE
    done = DONE
    halt = HALT


RequestFilterCallback = Callable[[HTTPRequestFilterResult], None]
ResponseFilterCallback = Callable[[HTTPResponseFilterResult], None]


class HTTPRequestFilter(Protocol):
    """Runs after a request is read and before routing.

    Swift: ``protocol HTTPRequestFilter { func filter(request:response:callback:) }``

    Call ``callback`` exactly once, now or later (after a database lookup,
    say). A filter that raises gets the request answered with 500; the
    other requests are not affected.
    """

    def filter(
        self,
        request: HTTPRequest,
        response: HTTPResponse,
        callback: RequestFilterCallback,
    ) -> None:
        """Decide about ``request``. Swift: ``func filter(request:response:callback:)``"""


class HTTPResponseFilter(Protocol):
    """Sees every HTTP response before its headers, and each piece of its body.

    Swift: ``protocol HTTPResponseFilter { func filterHeaders(response:callback:);
    func filterBody(response:callback:) }``

    ``filter_headers`` runs once, when the headers are about to go (on the
    first ``push()`` or on ``completed()``); ``filter_body`` runs for each
    piece of body sent, with ``response.body`` holding that piece, which it
    may rewrite. The 101 of a WebSocket upgrade is not filtered.
    """

    def filter_headers(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        """Inspect or change status, headers and body. Swift: ``filterHeaders(response:callback:)``"""

    def filter_body(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        """Inspect or change ``response.body``. Swift: ``filterBody(response:callback:)``"""


def group_by_priority(
    filters: Iterable[tuple[_F, HTTPFilterPriority]],
    into: list[list[_F]],
) -> None:
    """Append ``filters`` to ``into`` as Perfect's ``setRequestFilters`` does.

    Each call adds up to three groups (high, medium, low), so filters set by
    a second call run after those of the first, as in Perfect.
    """
    pairs = list(filters)
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ArgumentError(
                f"filters are (filter, HTTPFilterPriority) pairs, not {pair!r}"
            )
        if not isinstance(pair[1], HTTPFilterPriority):
            raise ArgumentError(
                f"the priority of {pair[0]!r} must be an HTTPFilterPriority, "
                f"not {pair[1]!r}"
            )
    for priority in (
        HTTPFilterPriority.HIGH,
        HTTPFilterPriority.MEDIUM,
        HTTPFilterPriority.LOW,
    ):
        group = [f for f, p in pairs if p is priority]
        if group:
            into.append(group)


def run_request_filters(
    groups: Sequence[Sequence[HTTPRequestFilter]],
    request: HTTPRequest,
    response: HTTPResponse,
    route: Callable[[HTTPRequest, HTTPResponse], None],
    fail: Callable[[HTTPResponse], None],
) -> None:
    """Run the filters in order, then ``route``; ``fail`` if one raises.

    Mirrors ``HTTPServer.filterRequest(_:response:allFilters:prioFilters:)``.
    """

    def run(
        group_index: int, filter_index: int, req: HTTPRequest, res: HTTPResponse
    ) -> None:
        if group_index >= len(groups):
            route(req, res)
            return
        group = groups[group_index]
        if filter_index >= len(group):
            run(group_index + 1, 0, req, res)
            return
        current = group[filter_index]
        called = False

        def callback(result: object) -> None:
            nonlocal called
            if called:
                return  # a second answer from the same filter would send twice
            called = True
            if not isinstance(result, HTTPRequestFilterResult):
                logger.error(
                    "request filter %r answered %r, not an HTTPRequestFilterResult",
                    current,
                    result,
                )
                fail(res)
            elif result.action == "continue":
                run(group_index, filter_index + 1, result.request, result.response)
            elif result.action == "execute":
                run(group_index + 1, 0, result.request, result.response)
            else:
                result.response.completed()

        try:
            current.filter(req, res, callback)
        except Exception:
            logger.exception("request filter %r failed for %s", current, req.uri)
            if not called:
                called = True
                fail(res)

    run(0, 0, request, response)
