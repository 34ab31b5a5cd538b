"""URL routing: Perfect-HTTP's ``Routes`` tree, and Perfect 1.x's ``Routing.Routes``.

Swift: ``Sources/PerfectHTTP/Routing.swift`` (``Route``, ``Routes``, ``RouteNode``,
``routeTrailingWildcardKey``) and Perfect 1.x ``PerfectLib/Routing.swift``
(``Routing.Routes``, ``RouteMap``).

A route pattern is a list of path components. ``{name}`` is a variable, ``*``
matches one component, ``**`` matches the rest of the path (last component
only), a trailing ``/`` is a component of its own and anything else is a literal,
compared case-insensitively. At each level of the tree the matcher tries, with
backtracking: variables, then the literal, then ``*``, then ``**``.

Patterns are compiled into a tree of dicts when they are registered, and every
mistake in one raises :class:`~perfectws.exceptions.RouteError` there and then,
so a request never meets a half-built table. See ``docs/routing.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar, NamedTuple, cast, overload

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

ROUTE_TRAILING_WILDCARD_KEY = "_trailing_wildcard_"
"""The ``url_variables`` key under which ``**`` stores the rest of the path.

Swift: ``public let routeTrailingWildcardKey = "_trailing_wildcard_"``
"""

RequestHandler = Callable[["HTTPRequest", "HTTPResponse"], None]
"""A route's handler: called with the request and the response.

Swift: ``public typealias RequestHandler = (HTTPRequest, HTTPResponse) -> ()``
"""

# Every method Perfect's ``HTTPMethod.allMethods`` lists, in its order.
_ALL_METHODS: tuple[HTTPMethod, ...] = tuple(HTTPMethod)

# Pattern tokens. Literals are stored lower-cased, variables by name.
_WILDCARD = "*"
_TRAILING = "**"


class _Token(NamedTuple):
    kind: str  # "lit", "var", "*" or "**"
    text: str  # the component as written
    key: str  # a literal lower-cased, a variable's name, or the kind


class _Pattern(NamedTuple):
    tokens: tuple[_Token, ...]
    # Whether the pattern ends in "/", a component of its own. A pattern with no
    # tokens also sets it, as Perfect's ``baseUri + "/" + uri`` does: prefixed
    # by a base, ``""`` and ``"/"`` both mean ``"<base>/"``.
    slash: bool


def _parse(uri: object, *, what: str = "route") -> _Pattern:
    if not isinstance(uri, str):
        label = "route uri" if what == "route" else what
        hint = ""
        if what == "base_uri" and isinstance(uri, Iterable):
            # Swift's ``Routes(_ routes: [Route])`` takes the list first.
            hint = ": pass a list of routes as Routes(routes=[...])"
        raise RouteError(f"{label} must be a str, not {type(uri).__name__}{hint}")
    body = uri[1:] if uri.startswith("/") else uri
    if body.startswith("/"):
        raise RouteError(
            f"empty path component in {what} {uri!r}: remove the doubled '/'"
        )
    slash = body == "" or body.endswith("/")
    if body.endswith("/"):
        body = body[:-1]
    tokens: list[_Token] = []
    names: set[str] = set()
    parts = body.split("/") if body else []
    for index, part in enumerate(parts):
        token = _parse_component(uri, part, what)
        if token.kind == "**" and (index != len(parts) - 1 or slash):
            raise RouteError(
                f"'**' must be the last component of {what} {uri!r}: "
                "it matches the rest of the path, so nothing can follow it"
            )
        if token.kind in ("var", "**"):
            name = token.key if token.kind == "var" else ROUTE_TRAILING_WILDCARD_KEY
            if name in names:
                raise RouteError(
                    f"variable {name!r} appears twice in {what} {uri!r}: "
                    "give each variable its own name"
                )
            names.add(name)
        tokens.append(token)
    return _Pattern(tuple(tokens), slash)


def _parse_component(uri: str, part: str, what: str) -> _Token:
    if part == "":
        raise RouteError(
            f"empty path component in {what} {uri!r}: remove the doubled '/'"
        )
    if part == _WILDCARD or part == _TRAILING:
        return _Token(part, part, part)
    if "*" in part:
        raise RouteError(
            f"component {part!r} of {what} {uri!r} mixes '*' with other text: "
            "'*' and '**' only match whole components"
        )
    if part.startswith("{") and part.endswith("}") and len(part) >= 2:
        name = part[1:-1]
        if not name:
            raise RouteError(
                f"empty variable name '{{}}' in {what} {uri!r}: write '{{name}}'"
            )
        if "{" not in name and "}" not in name:
            return _Token("var", part, name)
    if "{" in part or "}" in part:
        raise RouteError(
            f"component {part!r} of {what} {uri!r} is not a variable: "
            "a variable is a whole component written '{name}'"
        )
    return _Token("lit", part, part.lower())


def _format(pattern: _Pattern) -> str:
    text = "/" + "/".join(token.text for token in pattern.tokens)
    if pattern.slash and pattern.tokens:
        text += "/"
    return text


def _shape(pattern: _Pattern) -> tuple[str, ...]:
    """The pattern as the matcher sees it: the key duplicates are found by."""
    shape: list[str] = []
    for kind, _, key in pattern.tokens:
        # Variable names are erased: "/a/{x}" and "/a/{y}" can never both match.
        shape.append("l" + key if kind == "lit" else kind)
    if pattern.slash and pattern.tokens:
        shape.append("/")
    return tuple(shape)


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
        self._init(_parse(uri), chosen, _check_handler(handler))

    def _init(
        self,
        pattern: _Pattern,
        methods: tuple[HTTPMethod, ...],
        handler: RequestHandler,
    ) -> None:
        self._pattern = pattern
        self.methods = methods
        self.uri = _format(pattern)
        self.handler = handler

    @classmethod
    def _make(
        cls,
        pattern: _Pattern,
        methods: tuple[HTTPMethod, ...],
        handler: RequestHandler,
    ) -> Route:
        route = cls.__new__(cls)
        route._init(pattern, methods, handler)
        return route

    def _prefixed(self, base: _Pattern) -> Route:
        if not base.tokens:
            return self
        pattern = _Pattern(base.tokens + self._pattern.tokens, self._pattern.slash)
        # The base and the route may each name a variable; together they must
        # still be distinct, or one value would silently overwrite the other.
        _parse(_format(pattern))
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


class _Node:
    """One level of the route tree (Swift: ``RouteNode`` and its subclasses)."""

    __slots__ = ("handler", "literals", "slash", "trailing", "variables", "wildcard")

    def __init__(self) -> None:
        self.handler: RequestHandler | None = None
        self.literals: dict[str, _Node] = {}
        # In registration order, as Perfect tries them; one node per name.
        self.variables: list[tuple[str, _Node]] = []
        self.wildcard: _Node | None = None
        # "**" and a trailing "/" end a pattern, so they need only a handler.
        self.trailing: RequestHandler | None = None
        self.slash: RequestHandler | None = None

    def insert(self, pattern: _Pattern, handler: RequestHandler) -> None:
        node = self
        for kind, _, key in pattern.tokens:
            if kind == "lit":
                child = node.literals.get(key)
                if child is None:
                    child = node.literals[key] = _Node()
                node = child
            elif kind == "var":
                for name, existing in node.variables:
                    if name == key:
                        node = existing
                        break
                else:
                    child = _Node()
                    node.variables.append((key, child))
                    node = child
            elif kind == "*":
                if node.wildcard is None:
                    node.wildcard = _Node()
                node = node.wildcard
            else:
                node.trailing = handler
                return
        if pattern.slash and pattern.tokens:
            node.slash = handler
        else:
            node.handler = handler


def _find(
    node: _Node,
    parts: list[str],
    index: int,
    slash: bool,
    variables: dict[str, str],
) -> RequestHandler | None:
    # Each tree node is tried at one index only (the depth it sits at), so even
    # with backtracking a lookup visits every node at most once.
    if index < len(parts):
        part = parts[index]
        for name, child in node.variables:
            found = _find(child, parts, index + 1, slash, variables)
            if found is not None:
                variables[name] = part
                return found
        child_or_none = node.literals.get(part.lower())
        if child_or_none is not None:
            found = _find(child_or_none, parts, index + 1, slash, variables)
            if found is not None:
                return found
        if node.wildcard is not None:
            found = _find(node.wildcard, parts, index + 1, slash, variables)
            if found is not None:
                return found
        if node.trailing is not None:
            rest = "/" + "/".join(parts[index:])
            variables[ROUTE_TRAILING_WILDCARD_KEY] = rest + "/" if slash else rest
            return node.trailing
        return None
    if slash:
        # The trailing "/" component: a pattern ending in "/" first. Variables
        # never take it as a value.
        if node.slash is not None:
            return node.slash
    elif node.handler is not None:
        return node.handler
    # Perfect lets "*", then "**", match an absent last component (or the
    # trailing "/"): this is how a "*" route answers "/".
    if node.wildcard is not None:
        found = _find(node.wildcard, parts, index, False, variables)
        if found is not None:
            return found
    if node.trailing is not None:
        variables[ROUTE_TRAILING_WILDCARD_KEY] = "/"
        return node.trailing
    return None


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

    __slots__ = ("_any", "_base", "_keys", "_roots", "_routes", "base_uri")

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
        base = _parse(base_uri, what="base_uri")
        if any(token.kind == "**" for token in base.tokens):
            raise RouteError(
                f"base_uri {base_uri!r} contains '**': "
                "nothing could follow it, so no route could be added"
            )
        self._base = _Pattern(base.tokens, False)
        #: The normalised prefix. Swift: ``let baseUri: String``
        self.base_uri = _format(self._base) if base.tokens else ""
        self._routes: list[Route] = []
        self._roots: dict[HTTPMethod, _Node] = {}
        # Perfect 1.x's method-less root, tried after the method's own tree.
        self._any = _Node()
        self._keys: dict[tuple[HTTPMethod | None, tuple[str, ...]], Route] = {}
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
        self._insert([Route._make(_parse(p), methods, checked) for p in patterns])

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
        parts = [part for part in path.split("/") if part]
        slash = bool(parts) and path.endswith("/")
        variables: dict[str, str] = {}
        root = self._roots.get(method)
        if root is not None:
            found = _find(root, parts, 0, slash, variables)
            if found is not None:
                return RouteMatch(found, variables)
        # A failed search writes nothing: values are set only on the way back
        # out of a successful branch, so no stale variable survives backtracking.
        found = _find(self._any, parts, 0, slash, variables)
        if found is not None:
            return RouteMatch(found, variables)
        return None

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
        # Check everything before touching the tree, so an error leaves the
        # table exactly as it was.
        pending: dict[tuple[HTTPMethod | None, tuple[str, ...]], Route] = {}
        for route in prefixed:
            shape = _shape(route._pattern)
            for method in route.methods or (None,):
                key = (method, shape)
                existing = self._keys.get(key) or pending.get(key)
                if existing is not None:
                    label = method.value if method is not None else "routes[...]"
                    raise RouteError(
                        f"duplicate route {label} {route.uri!r}: "
                        f"{existing.uri!r} already matches the same paths "
                        "for that method (variable names do not make routes "
                        "different); remove one or change its pattern"
                    )
                pending[key] = route
        for route in prefixed:
            if route.methods:
                for method in route.methods:
                    root = self._roots.get(method)
                    if root is None:
                        root = self._roots[method] = _Node()
                    root.insert(route._pattern, route.handler)
            else:
                self._any.insert(route._pattern, route.handler)
        self._keys.update(pending)
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
