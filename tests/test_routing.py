"""Routing: Perfect's route tree, its precedence, and the errors raised at registration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from perfectws.exceptions import RouteError
from perfectws.method import GET, HEAD, POST, PUT, HTTPMethod
from perfectws.routing import (
    ROUTE_TRAILING_WILDCARD_KEY,
    Route,
    RouteMatch,
    Routes,
    Routing,
)

Handler = Callable[[object, object], None]


def handler(name: str) -> Handler:
    """A distinct, named handler that does nothing."""

    def handle(request: object, response: object) -> None:
        return None

    handle.__name__ = handle.__qualname__ = name
    return handle


def error(call: Callable[[], object]) -> str:
    """The message of the RouteError that ``call`` raises."""
    with pytest.raises(RouteError) as raised:
        call()
    return str(raised.value)


@pytest.fixture
def legacy() -> Iterator[Routes]:
    """A fresh process-wide ``Routing.Routes``, restored afterwards."""
    saved = Routing.Routes
    Routing.Routes = Routes()
    try:
        yield Routing.Routes
    finally:
        Routing.Routes = saved


static, echo, user, me, other = (
    handler(n) for n in ("static", "echo", "user", "me", "other")
)


# -- the echo example's routes["*"] -------------------------------------------


def test_star_matches_root_and_single_component_paths() -> None:
    """``routes["*"]`` answers ``/`` and ``/index.html`` for any method."""
    routes = Routes()
    routes["*"] = static
    assert routes.match(GET, "/") == RouteMatch(static, {})
    assert routes.match(GET, "/index.html") == RouteMatch(static, {})
    assert routes.match(POST, "/index.html") == RouteMatch(static, {})


def test_star_does_not_match_nested_paths_or_directories() -> None:
    """``*`` is one component: ``/css/site.css`` and ``/docs/`` are not matched."""
    routes = Routes()
    routes["*"] = static
    assert routes.match(GET, "/css/site.css") is None
    assert routes.match(GET, "/docs/") is None


def test_double_star_serves_a_whole_tree() -> None:
    """``routes["**"]`` answers every path, with the path as the trailing value."""
    routes = Routes()
    routes["**"] = static
    assert routes.match(GET, "/") == RouteMatch(
        static, {ROUTE_TRAILING_WILDCARD_KEY: "/"}
    )
    assert routes.match(GET, "/css/site.css") == RouteMatch(
        static, {ROUTE_TRAILING_WILDCARD_KEY: "/css/site.css"}
    )


def test_seed_routes_echo_beats_star() -> None:
    """The echo example's table: GET /echo goes to echo, everything else to static."""
    routes = Routes()
    routes["*"] = static
    routes[GET, "/echo"] = echo
    assert routes.match(GET, "/echo") == RouteMatch(echo, {})
    assert routes.match(POST, "/echo") == RouteMatch(static, {})
    assert routes.match(GET, "/") == RouteMatch(static, {})


# -- precedence and backtracking ----------------------------------------------


def test_variable_beats_literal() -> None:
    """At one level a variable is tried before the literal, as in Perfect."""
    routes = Routes()
    routes.add(method=GET, uri="/user/me", handler=me)
    routes.add(method=GET, uri="/user/{id}", handler=user)
    assert routes.match(GET, "/user/me") == RouteMatch(user, {"id": "me"})


def test_literal_beats_wildcard() -> None:
    """A literal is tried before ``*``."""
    routes = Routes()
    routes.add(uri="/files/*", handler=other)
    routes.add(uri="/files/readme", handler=me)
    assert routes.match(GET, "/files/readme") == RouteMatch(me, {})
    assert routes.match(GET, "/files/notes") == RouteMatch(other, {})


def test_wildcard_beats_trailing_wildcard() -> None:
    """``*`` is tried before ``**``; ``**`` takes what ``*`` cannot."""
    routes = Routes()
    routes.add(uri="/a/**", handler=other)
    routes.add(uri="/a/*", handler=me)
    assert routes.match(GET, "/a/x") == RouteMatch(me, {})
    assert routes.match(GET, "/a/x/y") == RouteMatch(
        other, {ROUTE_TRAILING_WILDCARD_KEY: "/x/y"}
    )


def test_variable_dead_end_falls_back_to_literal() -> None:
    """A variable branch that leads nowhere backtracks to the literal branch."""
    routes = Routes()
    routes.add(method=GET, uri="/user/{id}/posts", handler=user)
    routes.add(method=GET, uri="/user/me/settings", handler=me)
    assert routes.match(GET, "/user/me/settings") == RouteMatch(me, {})
    assert routes.match(GET, "/user/7/posts") == RouteMatch(user, {"id": "7"})


def test_literal_dead_end_falls_back_to_wildcard() -> None:
    """A literal branch that leads nowhere backtracks to ``*``."""
    routes = Routes()
    routes.add(uri="/a/b/c", handler=me)
    routes.add(uri="/a/*/d", handler=other)
    assert routes.match(GET, "/a/b/d") == RouteMatch(other, {})


def test_backtracking_keeps_only_the_winning_branch_variables() -> None:
    """Variables of a branch that failed are not reported."""
    routes = Routes()
    routes.add(uri="/{x}/a", handler=me)
    routes.add(uri="/{y}/b", handler=other)
    assert routes.match(GET, "/1/b") == RouteMatch(other, {"y": "1"})


def test_variables_of_one_name_share_a_branch() -> None:
    """Two routes under the same ``{id}`` both stay reachable."""
    routes = Routes()
    routes.add(uri="/u/{id}/a", handler=me)
    routes.add(uri="/u/{id}/b", handler=other)
    assert routes.match(GET, "/u/3/a") == RouteMatch(me, {"id": "3"})
    assert routes.match(GET, "/u/4/b") == RouteMatch(other, {"id": "4"})


# -- literals, variables, wildcards, slashes --------------------------------


def test_literals_match_case_insensitively() -> None:
    """``/Echo`` matches ``/echo`` and ``/ECHO``."""
    routes = Routes()
    routes.add(method=GET, uri="/Echo", handler=echo)
    assert routes.match(GET, "/echo") == RouteMatch(echo, {})
    assert routes.match(GET, "/ECHO") == RouteMatch(echo, {})


def test_variable_values_keep_their_case_and_text() -> None:
    """Variable values are the path's components exactly, never decoded again."""
    routes = Routes()
    routes.add(uri="/a/{x}/b/{y}", handler=user)
    assert routes.match(GET, "/A/MiXed/B/a%20b") == RouteMatch(
        user, {"x": "MiXed", "y": "a%20b"}
    )


def test_trailing_wildcard_values() -> None:
    """``**`` stores the rest of the path, starting with ``/``, slash kept."""
    routes = Routes()
    routes.add(uri="/static/**", handler=static)
    key = ROUTE_TRAILING_WILDCARD_KEY
    assert routes.match(GET, "/static/css/site.css") == RouteMatch(
        static, {key: "/css/site.css"}
    )
    assert routes.match(GET, "/static/a/") == RouteMatch(static, {key: "/a/"})
    assert routes.match(GET, "/static/") == RouteMatch(static, {key: "/"})
    assert routes.match(GET, "/static") == RouteMatch(static, {key: "/"})
    assert routes.match(GET, "/other") is None


def test_trailing_wildcard_key_is_perfects() -> None:
    """The key is Swift's ``routeTrailingWildcardKey``."""
    assert ROUTE_TRAILING_WILDCARD_KEY == "_trailing_wildcard_"


def test_trailing_slash_is_its_own_component() -> None:
    """``/dir/`` and ``/dir`` are different routes and different paths."""
    routes = Routes()
    routes.add(uri="/dir/", handler=me)
    routes.add(uri="/file", handler=other)
    assert routes.match(GET, "/dir/") == RouteMatch(me, {})
    assert routes.match(GET, "/dir") is None
    assert routes.match(GET, "/file") == RouteMatch(other, {})
    assert routes.match(GET, "/file/") is None


def test_variable_never_takes_the_trailing_slash() -> None:
    """``/user/{id}`` does not match ``/user/`` (Perfect would set id to "/")."""
    routes = Routes()
    routes.add(uri="/user/{id}", handler=user)
    assert routes.match(GET, "/user/") is None
    assert routes.match(GET, "/user") is None


def test_wildcard_matches_an_absent_or_slash_last_component() -> None:
    """``/dir/*`` answers ``/dir`` and ``/dir/``, as in Perfect."""
    routes = Routes()
    routes.add(uri="/dir/*", handler=static)
    assert routes.match(GET, "/dir") == RouteMatch(static, {})
    assert routes.match(GET, "/dir/") == RouteMatch(static, {})
    assert routes.match(GET, "/dir/x/") is None


def test_trailing_slash_route_beats_wildcard() -> None:
    """A pattern ending in ``/`` is tried before ``*`` for a trailing slash."""
    routes = Routes()
    routes.add(uri="/dir/*", handler=static)
    routes.add(uri="/dir/", handler=me)
    assert routes.match(GET, "/dir/") == RouteMatch(me, {})


def test_root_route() -> None:
    """``/`` (or ``""``) matches only the root."""
    routes = Routes()
    routes.add(uri="/", handler=me)
    assert routes.match(GET, "/") == RouteMatch(me, {})
    assert routes.match(GET, "/x") is None
    assert error(lambda: routes.add(uri="", handler=other)) == (
        "duplicate route OPTIONS '/': '/' already matches the same paths for "
        "that method (variable names do not make routes different); remove one "
        "or change its pattern"
    )


def test_empty_path_components_are_skipped() -> None:
    """``/a//b`` is matched as ``/a/b``, as Perfect splits paths."""
    routes = Routes()
    routes.add(uri="/a/b", handler=me)
    assert routes.match(GET, "//a//b") == RouteMatch(me, {})


def test_match_never_raises_on_odd_paths() -> None:
    """Paths without a leading slash, or only slashes, just find what they find."""
    routes = Routes()
    routes.add(uri="/", handler=me)
    routes.add(uri="/x", handler=other)
    assert routes.match(GET, "") == RouteMatch(me, {})
    assert routes.match(GET, "////") == RouteMatch(me, {})
    assert routes.match(GET, "x") == RouteMatch(other, {})
    assert routes.match(GET, "*") is None


# -- methods -----------------------------------------------------------------


def test_get_route_does_not_match_post() -> None:
    """A GET route answers GET only."""
    routes = Routes()
    routes.add(method=GET, uri="/echo", handler=echo)
    assert routes.match(POST, "/echo") is None
    assert routes.match(HEAD, "/echo") is None


def test_methods_list() -> None:
    """``methods=[GET, POST]`` answers both and nothing else."""
    routes = Routes()
    routes.add(methods=[GET, POST], uri="/form", handler=me)
    assert routes.match(GET, "/form") == RouteMatch(me, {})
    assert routes.match(POST, "/form") == RouteMatch(me, {})
    assert routes.match(PUT, "/form") is None
    assert list(routes)[0].methods == (GET, POST)


def test_route_without_method_answers_every_method() -> None:
    """``Route(uri=, handler=)`` is registered for all of ``HTTPMethod``."""
    routes = Routes(routes=[Route(uri="/ping", handler=me)])
    assert [routes.match(m, "/ping") for m in HTTPMethod] == [RouteMatch(me, {})] * len(
        HTTPMethod
    )
    assert list(routes)[0].methods == tuple(HTTPMethod)


def test_method_names_as_strings() -> None:
    """A method may be given as its name, in any case."""
    route = Route(method="get", uri="/x", handler=me)
    assert route.methods == (GET,)


# -- Perfect 1.x subscripts --------------------------------------------------


def test_methodless_subscript_is_a_fallback_tree() -> None:
    """A method-specific route wins over a method-less one, as in Perfect 1.x."""
    routes = Routes()
    routes["/{name}"] = other
    routes[GET, "/echo"] = echo
    assert routes.match(GET, "/echo") == RouteMatch(echo, {})
    assert routes.match(POST, "/echo") == RouteMatch(other, {"name": "echo"})


def test_add_without_method_shares_the_method_trees() -> None:
    """``add(uri=...)`` joins each method's tree, so its variable wins (Perfect 2)."""
    routes = Routes()
    routes.add(uri="/{name}", handler=other)
    routes.add(method=GET, uri="/echo", handler=echo)
    assert routes.match(GET, "/echo") == RouteMatch(other, {"name": "echo"})


def test_methodless_and_method_subscripts_are_not_duplicates() -> None:
    """``routes["/x"]`` then ``routes[GET, "/x"]``: GET to the second, others to the first."""
    routes = Routes()
    routes["/x"] = other
    routes[GET, "/x"] = me
    assert routes.match(GET, "/x") == RouteMatch(me, {})
    assert routes.match(PUT, "/x") == RouteMatch(other, {})


def test_subscript_list_forms() -> None:
    """``routes[["/", "/index.html"]]`` and ``routes[GET, [...]]`` register each path."""
    routes = Routes()
    routes[["/", "/index.html"]] = me
    routes["POST", ["/a", "/b"]] = other
    assert routes.match(PUT, "/index.html") == RouteMatch(me, {})
    assert routes.match(POST, "/b") == RouteMatch(other, {})
    assert routes.match(GET, "/b") is None
    assert [r.uri for r in routes] == ["/", "/index.html", "/a", "/b"]


def test_subscript_bad_keys() -> None:
    """A tuple key must be (method, path); a path must be a str or a list."""
    routes = Routes()
    assert error(lambda: routes.__setitem__(("/", "/index.html"), me)) == (
        "unknown HTTP method '/': use one of OPTIONS, GET, HEAD, POST, PATCH, "
        "PUT, DELETE, TRACE, CONNECT"
    )
    three: Any = (GET, "/a", "/b")
    assert error(lambda: routes.__setitem__(three, me)) == (
        "routes[...] takes a path or (method, path), not "
        "(<HTTPMethod.GET: 'GET'>, '/a', '/b'); for several paths pass a list: "
        "routes[['/', '/index.html']]"
    )
    number: Any = (GET, 7)
    assert error(lambda: routes.__setitem__(number, me)) == (
        "routes[...] takes a str path or a list of them, not 7"
    )
    nothing: Any = None
    assert error(lambda: routes.__setitem__("/x", nothing)) == (
        "handler must be callable as handler(request, response), not NoneType"
    )
    assert len(routes) == 0


def test_legacy_registry(legacy: Routes) -> None:
    """``Routing.Routes`` is one process-wide ``Routes`` the echo example writes into."""
    Routing.Routes["*"] = static
    Routing.Routes[GET, "/echo"] = echo
    assert Routing.Routes is legacy
    assert legacy.match(GET, "/echo") == RouteMatch(echo, {})
    assert legacy.match(GET, "/") == RouteMatch(static, {})
    assert [r.methods for r in legacy] == [(), (GET,)]


def test_legacy_registry_starts_empty(legacy: Routes) -> None:
    """The fixture gives each test an empty registry."""
    assert len(Routing.Routes) == 0


def test_routing_is_not_instantiable() -> None:
    """``Routing`` is a namespace, as Swift's has a private init."""
    with pytest.raises(TypeError, match="^Routing is a namespace: use Routing.Routes$"):
        Routing()


# -- base_uri and merging ------------------------------------------------------


def test_base_uri_prefixes_every_route() -> None:
    """``Routes(base_uri="api/")`` puts ``/api`` in front of each route."""
    routes = Routes(base_uri="api/")
    routes.add(method=GET, uri="users/{id}", handler=user)
    assert routes.base_uri == "/api"
    assert routes.match(GET, "/api/users/7") == RouteMatch(user, {"id": "7"})
    assert routes.match(GET, "/users/7") is None
    assert [r.uri for r in routes] == ["/api/users/{id}"]


def test_base_uri_with_root_route_means_trailing_slash() -> None:
    """Under a base, ``"/"`` is ``<base>/``, as Perfect joins ``base + "/" + uri``."""
    routes = Routes(base_uri="/api")
    routes.add(uri="/", handler=me)
    assert routes.match(GET, "/api/") == RouteMatch(me, {})
    assert routes.match(GET, "/api") is None


def test_merge_applies_both_bases() -> None:
    """Adding a ``Routes`` to another puts the outer base before the inner."""
    inner = Routes(base_uri="/api")
    inner.add(method=GET, uri="/x", handler=me)
    outer = Routes(base_uri="/v1")
    outer.add(inner)
    assert outer.match(GET, "/v1/api/x") == RouteMatch(me, {})
    assert [r.uri for r in outer] == ["/v1/api/x"]


def test_merge_copies() -> None:
    """Routes added to the inner table after the merge do not reach the outer one."""
    inner = Routes()
    outer = Routes()
    outer.add(inner)
    inner.add(uri="/late", handler=me)
    assert outer.match(GET, "/late") is None


def test_merge_keeps_methodless_fallback() -> None:
    """A merged ``routes["*"]`` stays a fallback behind method routes."""
    inner = Routes()
    inner["/{name}"] = other
    outer = Routes()
    outer[GET, "/echo"] = echo
    outer.add(inner)
    assert outer.match(GET, "/echo") == RouteMatch(echo, {})
    assert [r.methods for r in outer] == [(GET,), ()]


def test_add_forms() -> None:
    """``add`` takes Routes, several Routes, a list, or uris= with a handler."""
    routes = Routes()
    routes.add(Route(uri="/a", handler=me), Route(uri="/b", handler=me))
    routes.add([Route(method=GET, uri="/c", handler=me)])
    routes.add(uris=["/d", "/e"], method=POST, handler=other)
    assert [r.uri for r in routes] == ["/a", "/b", "/c", "/d", "/e"]
    assert routes.match(POST, "/e") == RouteMatch(other, {})
    assert len(routes) == 5


def test_iteration_and_repr() -> None:
    """``iter`` yields routes in order; the repr lists methods and patterns."""
    routes = Routes(base_uri="/api")
    routes.add(method=GET, uri="/x", handler=me)
    routes.add(uri="/y", handler=me)
    routes["/z"] = me
    first = next(iter(routes))
    assert (first.methods, first.uri, first.handler) == ((GET,), "/api/x", me)
    text = repr(me)
    assert repr(routes) == (
        f"<Routes base_uri='/api' [<Route GET /api/x -> {text}>, "
        f"<Route ALL /api/y -> {text}>, <Route ANY /api/z -> {text}>]>"
    )


# -- registration errors ----------------------------------------------------


def test_route_error_is_a_value_error() -> None:
    """Callers may catch ``ValueError``."""
    assert issubclass(RouteError, ValueError)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "/a/**/b",
            "'**' must be the last component of route '/a/**/b': it matches the "
            "rest of the path, so nothing can follow it",
        ),
        (
            "/a/**/",
            "'**' must be the last component of route '/a/**/': it matches the "
            "rest of the path, so nothing can follow it",
        ),
        (
            "/user/{id",
            "component '{id' of route '/user/{id' is not a variable: a variable "
            "is a whole component written '{name}'",
        ),
        (
            "/user/id}",
            "component 'id}' of route '/user/id}' is not a variable: a variable "
            "is a whole component written '{name}'",
        ),
        (
            "/user/x{id}",
            "component 'x{id}' of route '/user/x{id}' is not a variable: a "
            "variable is a whole component written '{name}'",
        ),
        (
            "/user/{a}{b}",
            "component '{a}{b}' of route '/user/{a}{b}' is not a variable: a "
            "variable is a whole component written '{name}'",
        ),
        ("/user/{}", "empty variable name '{}' in route '/user/{}': write '{name}'"),
        ("/a//b", "empty path component in route '/a//b': remove the doubled '/'"),
        ("//", "empty path component in route '//': remove the doubled '/'"),
        (
            "/*.html",
            "component '*.html' of route '/*.html' mixes '*' with other text: "
            "'*' and '**' only match whole components",
        ),
        (
            "/{id}/{id}",
            "variable 'id' appears twice in route '/{id}/{id}': give each "
            "variable its own name",
        ),
        (
            "/{_trailing_wildcard_}/**",
            "variable '_trailing_wildcard_' appears twice in route "
            "'/{_trailing_wildcard_}/**': give each variable its own name",
        ),
    ],
)
def test_bad_patterns(uri: str, message: str) -> None:
    """Each malformed pattern raises at once, saying what to fix."""
    assert error(lambda: Route(uri=uri, handler=me)) == message
    routes = Routes()
    assert error(lambda: routes.__setitem__(uri, me)) == message
    assert len(routes) == 0


def test_duplicate_route() -> None:
    """The same method and pattern twice is an error."""
    routes = Routes()
    routes.add(method=GET, uri="/x", handler=me)
    assert error(lambda: routes.add(method=GET, uri="/x", handler=other)) == (
        "duplicate route GET '/x': '/x' already matches the same paths for that "
        "method (variable names do not make routes different); remove one or "
        "change its pattern"
    )


def test_duplicates_ignore_case_and_variable_names() -> None:
    """``/Echo`` duplicates ``/echo``; ``/a/{y}`` duplicates ``/a/{x}``."""
    routes = Routes()
    routes.add(uri="/echo", handler=me)
    routes.add(uri="/a/{x}", handler=me)
    assert error(lambda: routes.add(method=GET, uri="/Echo", handler=me)) == (
        "duplicate route GET '/Echo': '/echo' already matches the same paths for "
        "that method (variable names do not make routes different); remove one "
        "or change its pattern"
    )
    assert error(lambda: routes.add(method=PUT, uri="/a/{y}", handler=me)) == (
        "duplicate route PUT '/a/{y}': '/a/{x}' already matches the same paths "
        "for that method (variable names do not make routes different); remove "
        "one or change its pattern"
    )


def test_duplicate_methodless_subscript() -> None:
    """``routes["*"]`` twice is a duplicate too (Perfect kept the last)."""
    routes = Routes()
    routes["*"] = static
    assert error(lambda: routes.__setitem__("/*", other)) == (
        "duplicate route routes[...] '/*': '/*' already matches the same paths "
        "for that method (variable names do not make routes different); remove "
        "one or change its pattern"
    )


def test_same_pattern_for_different_methods_is_fine() -> None:
    """GET /x and POST /x are two routes."""
    routes = Routes()
    routes.add(method=GET, uri="/x", handler=me)
    routes.add(method=POST, uri="/x", handler=other)
    assert routes.match(POST, "/x") == RouteMatch(other, {})


def test_failed_add_changes_nothing() -> None:
    """A duplicate within one ``add`` call leaves the table as it was."""
    routes = Routes()
    routes.add(method=POST, uri="/x", handler=me)
    batch = [
        Route(method=GET, uri="/new", handler=other),
        Route(methods=[GET, POST], uri="/x", handler=other),
    ]
    assert error(lambda: routes.add(batch)).startswith("duplicate route POST '/x'")
    assert routes.match(GET, "/new") is None
    assert routes.match(GET, "/x") is None
    assert len(routes) == 1


def test_duplicate_inside_one_call() -> None:
    """Two equal routes in one ``add`` call are caught before either is added."""
    routes = Routes()
    message = error(lambda: routes.add(uris=["/a", "/A"], method=GET, handler=me))
    assert message.startswith("duplicate route GET '/A': '/a' already matches")
    assert len(routes) == 0


def test_base_and_route_variable_clash() -> None:
    """A variable named in both the base and the route is an error."""
    routes = Routes(base_uri="/{id}")
    assert error(lambda: routes.add(uri="/x/{id}", handler=me)) == (
        "variable 'id' appears twice in route '/{id}/x/{id}': give each "
        "variable its own name"
    )


@pytest.mark.parametrize(
    ("base", "message"),
    [
        (
            "/files/**",
            "base_uri '/files/**' contains '**': nothing could follow it, so no "
            "route could be added",
        ),
        ("/a//b", "empty path component in base_uri '/a//b': remove the doubled '/'"),
        (None, "base_uri must be a str, not NoneType"),
        (
            [],
            "base_uri must be a str, not list: pass a list of routes as "
            "Routes(routes=[...])",
        ),
    ],
)
def test_bad_base_uri(base: object, message: str) -> None:
    """A malformed base is refused when the table is made."""
    assert error(lambda: Routes(base_uri=base)) == message  # type: ignore[arg-type]


def test_handler_not_callable() -> None:
    """A handler that cannot be called is refused, naming its type."""
    text: Any = "index"
    assert error(lambda: Routes().add(uri="/", handler=text)) == (
        "handler must be callable as handler(request, response), not str"
    )


def test_bad_route_arguments() -> None:
    """Route's argument mistakes each get their own message."""
    assert error(lambda: Route(uri=7, handler=me)) == (  # type: ignore[arg-type]
        "route uri must be a str, not int"
    )
    assert error(lambda: Route(method=GET, methods=[GET], uri="/", handler=me)) == (
        "pass either method= or methods=, not both"
    )
    assert error(lambda: Route(methods=[], uri="/", handler=me)) == (
        "methods is empty: list at least one method, or omit it to answer every method"
    )
    assert error(lambda: Route(methods="GET", uri="/", handler=me)) == (
        "methods must be a list of methods, not the str 'GET': use method= for a "
        "single one"
    )
    assert error(lambda: Route(method="FETCH", uri="/", handler=me)) == (
        "unknown HTTP method 'FETCH': use one of OPTIONS, GET, HEAD, POST, PATCH, "
        "PUT, DELETE, TRACE, CONNECT"
    )


def test_bad_add_arguments() -> None:
    """``add``'s argument mistakes each get their own message."""
    routes = Routes()
    route = Route(uri="/", handler=me)
    assert error(lambda: routes.add(route, uri="/x")) == (  # type: ignore[call-overload]
        "pass either Route/Routes objects or uri=/handler= keywords, not both"
    )
    assert error(lambda: routes.add(uri="/x")) == (  # type: ignore[call-overload]
        "handler= is required: the function to call"
    )
    assert error(lambda: routes.add(uri="/x", uris=["/y"], handler=me)) == (  # type: ignore[call-overload]
        "pass exactly one of uri= or uris="
    )
    assert error(lambda: routes.add(uris="/x", handler=me)) == (
        "uris must be a list of patterns, not the str '/x': use uri= for a single one"
    )
    assert error(lambda: routes.add(42)) == (  # type: ignore[call-overload]
        "expected a Route or Routes, not int"
    )
    pattern: Any = "/x"
    assert error(lambda: routes.add(pattern)) == (
        "expected a Route or Routes, not the str '/x': to add a pattern, call "
        "add(uri=..., handler=...)"
    )
    assert len(routes) == 0


def test_route_uri_is_normalised() -> None:
    """``Route(uri="echo")`` reads back as ``/echo``; a trailing slash is kept."""
    assert Route(uri="echo", handler=me).uri == "/echo"
    assert Route(uri="dir/", handler=me).uri == "/dir/"
    assert Route(uri="", handler=me).uri == "/"
