"""URL routing: Perfect-HTTP's ``Routes`` tree, and Perfect 1.x's ``Routing.Routes``.

Swift: ``Sources/PerfectHTTP/Routing.swift`` (``Route``, ``Routes``, ``RouteNode``,
``routeTrailingWildcardKey``) and Perfect 1.x ``PerfectLib/Routing.swift``
(``Routing.Routes``, ``RouteMap``).

This module is the public API and the checks that need it (methods, handlers,
duplicate routes); the pattern syntax, the tree and the matcher are in
``perfectws/_route_tree.py``.

Patterns are compiled into a tree of dicts when they are registered, and every
mistake in one raises :class:`~perfectws.exceptions.RouteError` there and then,
so a request never meets a half-built table. See ``docs/routing.md``.

Why about 460 lines (issue 10): it is Perfect's whole routing API, both
generations of it (``Routes`` and 1.x's ``Routing.Routes``), each method with
its ``Swift:`` line; the machinery is already in ``_route_tree.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar, NamedTuple, cast, overload

from ._route_tree import TRAILING_KEY, Entry, Forest, Pattern, format_pattern, parse
from .exceptions import ArgumentError, RouteError
from .method import HTTPMethod

if TYPE_CHECKING:
    from .request import HTTPRequest
    from .response import HTTPResponse

__all__ = [
    "ROUTE_TRAILING_WILDCARD_KEY",
    "RequestHandler",
    "Route",
    "RouteMatch",
    "Routes",
    "Routing",
]

ROUTE_TRAILING_WILDCARD_KEY = TRAILING_KEY
"""The ``url_variables`` key under which ``**`` stores the rest of the path.

Swift: ``public let routeTrailingWildcardKey = "_trailing_wildcard_"``
"""

RequestHandler = Callable[["HTTPRequest", "HTTPResponse"], None]
"""A route's handler: called with the request and the response.

Swift: ``public typealias RequestHandler = (HTTPRequest, HTTPResponse) -> ()``
"""

# Every method Perfect's ``HTTPMethod.allMethods`` lists, in its order.
_ALL_METHODS: tuple[HTTPMethod, ...] = tuple(HTTPMethod)


def _check_handler(handler: object) -> RequestHandler:
    if not callable(handler):
        raise RouteError(
            f"handler must be callable as handler(request, response), "
            f"not {type(handler).__name__}"
        )
    return cast(RequestHandler, handler)


def _to_method(method: object) -> HTTPMethod:
    if isinstance(method, HTTPMethod):
        return method
    if isinstance(method, str):
        try:
            return HTTPMethod(method.upper())
        except ValueError:
            pass
    names = ", ".join(m.value for m in HTTPMethod)
    raise RouteError(f"unknown HTTP method {method!r}: use one of {names}")


class Route:
    """A pattern, the methods it answers and its handler.

    Swift: ``Route(method:uri:handler:)``, ``Route(methods:uri:handler:)``,
    ``Route(uri:handler:)`` (the last answers every method).

    The arguments are keyword-only, as Swift's labels are required::

        Route(method=GET, uri="/echo", handler=echo)
        Route(methods=[GET, POST], uri="/form", handler=form)
        Route(uri="/ping", handler=ping)          # every method

    The pattern is checked here: a malformed one raises
    :class:`~perfectws.exceptions.RouteError` at once.

    Differs from Perfect: ``uri`` holds the normalised pattern, always starting
    with ``/`` (``Route(uri="echo").uri == "/echo"``). A route made by the
    Perfect 1.x subscript without a method (``routes["*"] = h``) has empty
    ``methods``: it answers every method, but only after the method-specific
    routes have found nothing, as Perfect 1.x's method-less ``RouteMap`` root did.
    """

    __slots__ = ("_pattern", "handler", "methods", "uri")

    methods: tuple[HTTPMethod, ...]
    uri: str
    handler: RequestHandler

    def __init__(
        self,
        *,
        uri: str,
        handler: RequestHandler,
        method: HTTPMethod | str | None = None,
        methods: Iterable[HTTPMethod | str] | None = None,
    ) -> None:
        if method is not None and methods is not None:
            raise RouteError("pass either method= or methods=, not both")
        if method is not None:
            chosen: tuple[HTTPMethod, ...] = (_to_method(method),)
        elif methods is not None:
            if isinstance(methods, str):
                raise RouteError(
                    f"methods must be a list of methods, not the str {methods!r}: "
                    "use method= for a single one"
                )
            chosen = tuple(dict.fromkeys(_to_method(m) for m in methods))
            if not chosen:
                raise RouteError(
                    "methods is empty: list at least one method, "
                    "or omit it to answer every method"
                )
        else:
            chosen = _ALL_METHODS
        self._init(parse(uri), chosen, _check_handler(handler))

    def _init(
        self,
        pattern: Pattern,
        methods: tuple[HTTPMethod, ...],
        handler: RequestHandler,
    ) -> None:
        self._pattern = pattern
        self.methods = methods
        self.uri = format_pattern(pattern)
        self.handler = handler

    @classmethod
    def _make(
        cls,
        pattern: Pattern,
        methods: tuple[HTTPMethod, ...],
        handler: RequestHandler,
    ) -> Route:
        route = cls.__new__(cls)
        route._init(pattern, methods, handler)
        return route

    def _prefixed(self, base: Pattern) -> Route:
        if not base.tokens:
            return self
        pattern = Pattern(base.tokens + self._pattern.tokens, self._pattern.slash)
        # The base and the route may each name a variable; together they must
        # still be distinct, or one value would silently overwrite the other.
        parse(format_pattern(pattern))
        return Route._make(pattern, self.methods, self.handler)

    def __repr__(self) -> str:
        if not self.methods:
            methods = "ANY"  # Perfect 1.x's method-less fallback tree
        elif self.methods == _ALL_METHODS:
            methods = "ALL"
        else:
            methods = ",".join(m.value for m in self.methods)
        return f"<Route {methods} {self.uri} -> {self.handler!r}>"


class RouteMatch(NamedTuple):
    """The result of :meth:`Routes.match`: the handler and the path's variables.

    Swift: no counterpart; Perfect's ``RouteNavigator.findHandler(uri:webRequest:)``
    returns the handler and writes the variables into ``request.urlVariables``.
    """

    handler: RequestHandler
    """The route's handler."""
    url_variables: dict[str, str]
    """``{name}`` values, and the ``**`` rest under ``ROUTE_TRAILING_WILDCARD_KEY``."""


class _Unset(enum.Enum):
    UNSET = 0


class Routes:
    """A table of routes, compiled into a tree as routes are added.

    Swift: ``struct Routes``: ``Routes(_ routes: [Route])``, ``Routes(baseUri:)``,
    ``Routes(baseUri:routes:)``, ``routes.add(...)``; and Perfect 1.x's
    ``RouteMap`` subscripts.

    Every route added gets ``base_uri`` put in front of its pattern::

        api = Routes(base_uri="/api")
        api.add(method=GET, uri="/users/{id}", handler=user)   # GET /api/users/7
        routes = Routes()
        routes.add(api)                                          # merge
        routes[GET, "/echo"] = echo                              # Perfect 1.x
        routes["*"] = static                                     # Perfect 1.x

    Adding copies: a ``Routes`` merged into another is copied as it stands, as a
    Swift struct is, so routes added to it later do not reach the other one.

    Differs from Perfect: mistakes raise :class:`~perfectws.exceptions.RouteError`
    when the route is added. Perfect builds its tree lazily and, on an invalid
    route, silently serves an empty table (every request a 404); on a duplicate
    it keeps the last handler. There is no ``Routes(handler:)`` pre-handler
    chaining and no ``navigator``: :meth:`match` does the lookup.
    """

    __slots__ = ("_base", "_routes", "_tree", "base_uri")

    base_uri: str

    def __init__(
        self,
        routes_or_base: str | Iterable[Route] | None = "",
        /,
        routes: Iterable[Route] = (),
        *,
        base_uri: str | None | _Unset = _Unset.UNSET,
    ) -> None:
        if base_uri is _Unset.UNSET:
            if isinstance(routes_or_base, str):
                base_uri = routes_or_base
            elif isinstance(routes_or_base, Iterable):
                # Swift's Routes(_ routes: [Route]): the list alone, no base.
                if list(routes):
                    raise RouteError(
                        "Routes(routes_list) takes the list alone; with a base, "
                        "write Routes(base_uri=..., routes=[...])"
                    )
                routes, base_uri = routes_or_base, ""
            else:
                base_uri = routes_or_base
        elif routes_or_base != "":
            raise RouteError("pass the base either positionally or as base_uri=")
        base = parse(base_uri, what="base_uri")
        if any(token.kind == "**" for token in base.tokens):
            raise RouteError(
                f"base_uri {base_uri!r} contains '**': "
                "nothing could follow it, so no route could be added"
            )
        self._base = Pattern(base.tokens, False)
        #: The normalised prefix. Swift: ``let baseUri: String``
        self.base_uri = format_pattern(self._base) if base.tokens else ""
        self._routes: list[Route] = []
        self._tree: Forest[RequestHandler] = Forest()
        self._insert(self._collect(routes))

    @overload
    def add(
        self,
        routes: Route | Routes | Iterable[Route],
        /,
        *more: Route,
    ) -> None: ...

    @overload
    def add(
        self,
        /,
        *,
        uri: str,
        handler: RequestHandler,
        method: HTTPMethod | str | None = None,
        methods: Iterable[HTTPMethod | str] | None = None,
    ) -> None: ...

    @overload
    def add(
        self,
        /,
        *,
        uris: Iterable[str],
        handler: RequestHandler,
        method: HTTPMethod | str | None = None,
        methods: Iterable[HTTPMethod | str] | None = None,
    ) -> None: ...

    def add(
        self,
        routes: Route | Routes | Iterable[Route] | None = None,
        /,
        *more: Route,
        uri: str | None = None,
        uris: Iterable[str] | None = None,
        handler: RequestHandler | None = None,
        method: HTTPMethod | str | None = None,
        methods: Iterable[HTTPMethod | str] | None = None,
    ) -> None:
        """Add routes: one, several, another table's, or one built from keywords.

        Swift: ``add(_ route: Route, routes: Route...)``, ``add(_ routes: [Route])``,
        ``add(_ routes: Routes)``, ``add(method:uri:handler:)``,
        ``add(method:uris:handler:)``, ``add(uri:handler:)``, ``add(uris:handler:)``.

        ``methods=`` (several methods) is accepted with ``uri``/``uris`` too.
        Every route gets ``base_uri`` in front. The whole call is checked before
        anything is added, so a :class:`~perfectws.exceptions.RouteError` leaves
        the table as it was.

        Raises:
            RouteError: a malformed pattern, a handler that is not callable, an
                unknown method, or a route whose method and pattern are already
                registered (variable names do not tell patterns apart).
        """
        keywords = (uri, uris, handler, method, methods)
        if routes is not None or more:
            if any(value is not None for value in keywords):
                raise RouteError(
                    "pass either Route/Routes objects or uri=/handler= keywords, "
                    "not both"
                )
            self._insert(self._collect([routes, *more]))
            return
        if handler is None:
            raise RouteError("handler= is required: the function to call")
        if (uri is None) == (uris is None):
            raise RouteError("pass exactly one of uri= or uris=")
        if uris is not None and isinstance(uris, str):
            raise RouteError(
                f"uris must be a list of patterns, not the str {uris!r}: "
                "use uri= for a single one"
            )
        patterns = [uri] if uri is not None else list(uris or ())
        self._insert(
            [
                Route(uri=pattern, handler=handler, method=method, methods=methods)
                for pattern in patterns
            ]
        )

    def __setitem__(
        self,
        key: str | list[str] | tuple[HTTPMethod | str, str | list[str]],
        handler: RequestHandler,
    ) -> None:
        """Perfect 1.x's spelling: ``routes[GET, "/echo"] = h``, ``routes["*"] = h``.

        Swift: ``Routing.Routes[.Get, "/echo"] = handler``,
        ``Routing.Routes["*"] = handler``, and the list forms
        ``Routing.Routes[.Get, ["/", "index.html"]] = handler``.

        With a method, the route answers that method. Without one, it answers
        every method, but only where no route registered for the request's
        method matches: Perfect 1.x keeps such routes in a tree of their own
        and looks there second. ``routes["/x"] = a`` then ``routes[GET, "/x"] = b``
        is therefore not a duplicate: GET goes to ``b``, other methods to ``a``.

        Differs from Perfect: Perfect-HTTP 2+ kept the subscripts for
        compatibility but made the method-less one register GET only; perfectws
        follows Perfect 1.x, whose spelling these subscripts are. A duplicate
        raises :class:`~perfectws.exceptions.RouteError` instead of replacing.
        """
        checked = _check_handler(handler)
        methods: tuple[HTTPMethod, ...] = ()
        paths: object = key
        if isinstance(key, tuple):
            if len(key) != 2:
                raise RouteError(
                    f"routes[...] takes a path or (method, path), not {key!r}; "
                    "for several paths pass a list: routes[['/', '/index.html']]"
                )
            methods = (_to_method(key[0]),)
            paths = key[1]
        patterns = [paths] if isinstance(paths, str) else paths
        if not isinstance(patterns, list):
            raise RouteError(
                f"routes[...] takes a str path or a list of them, not {paths!r}"
            )
        self._insert([Route._make(parse(p), methods, checked) for p in patterns])

    def match(self, method: HTTPMethod, path: str) -> RouteMatch | None:
        """Find the handler for a request, or ``None`` (the server answers 404).

        Swift: ``routes.navigator.findHandler(uri:webRequest:)``.

        ``path`` is the request path, already percent-decoded, starting with
        ``/``. Empty components (``//``) are skipped, as Perfect's path
        splitting skips them; a trailing ``/`` is a component of its own.
        Never raises.

        Differs from Perfect: variable values are not percent-decoded a second
        time (Perfect decodes the already-decoded path again, so ``%2541``
        arrives as ``A``); ``**`` stores the rest exactly as it was in the path
        (Perfect doubles a trailing slash: ``//`` for ``/x/`` on ``/x/**``).
        """
        found = self._tree.match(method, path)
        # (tuple.__new__: a NamedTuple's own __new__ is one more Python call
        # per request)
        return None if found is None else tuple.__new__(RouteMatch, found)

    def __len__(self) -> int:
        """The number of routes added (a route with several methods counts once)."""
        return len(self._routes)

    def __iter__(self) -> Iterator[Route]:
        """The routes in the order they were added, with ``base_uri`` applied."""
        return iter(self._routes)

    def __repr__(self) -> str:
        shown = ", ".join(repr(route) for route in self._routes)
        return f"<Routes base_uri={self.base_uri!r} [{shown}]>"

    def _collect(self, items: Iterable[object]) -> list[Route]:
        routes: list[Route] = []
        for item in items:
            if isinstance(item, Route):
                routes.append(item)
            elif isinstance(item, Routes):
                routes.extend(item._routes)
            elif isinstance(item, str):
                raise RouteError(
                    f"expected a Route or Routes, not the str {item!r}: "
                    "to add a pattern, call add(uri=..., handler=...)"
                )
            elif isinstance(item, Iterable):
                routes.extend(self._collect(item))
            else:
                raise RouteError(
                    f"expected a Route or Routes, not {type(item).__name__}"
                )
        return routes

    def _insert(self, routes: list[Route]) -> None:
        prefixed = [route._prefixed(self._base) for route in routes]
        self._tree.add(
            [Entry(r.methods, r._pattern, r.uri, r.handler) for r in prefixed]
        )
        self._routes.extend(prefixed)


_RoutesTable = Routes


class Routing:
    """Perfect 1.x's process-wide route registry.

    Swift: ``public struct Routing { static public var Routes = RouteMap() }``

    Perfect 1.x's echo example registers its routes here::

        Routing.Routes["*"] = static_files            # every method
        Routing.Routes[GET, "/echo"] = echo_upgrade

    and ``HTTPServer`` serves this table when no routes were added to it.
    Assign ``Routing.Routes = Routes()`` to start afresh (tests do).
    """

    __slots__ = ()

    Routes: ClassVar[_RoutesTable] = _RoutesTable()

    def __init__(self) -> None:
        raise ArgumentError("Routing is a namespace: use Routing.Routes")
