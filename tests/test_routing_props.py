"""Property tests for routing: what holds for every pattern and every path."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from perfectws.exceptions import RouteError
from perfectws.method import GET, HTTPMethod
from perfectws.routing import ROUTE_TRAILING_WILDCARD_KEY, RouteMatch, Routes

BOUNDED = settings(max_examples=200, deadline=None)


def handle(request: object, response: object) -> None:
    """A handler that does nothing."""


# A literal component: any text without the characters that mean something in
# a pattern ("/" separates, "{" "}" make variables, "*" wildcards).
literal = st.text(
    st.characters(exclude_characters="/{}*", exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
)
ascii_literal = st.text(
    st.sampled_from("abcXYZ019-_.~"),
    min_size=1,
    max_size=8,
)
# A value a variable can take: one non-empty path component.
value = st.text(
    st.characters(exclude_characters="/", exclude_categories=["Cs"]),
    min_size=1,
    max_size=8,
)
methods = st.sampled_from(list(HTTPMethod))


@BOUNDED
@given(st.lists(literal, min_size=1, max_size=6), st.booleans())
def test_literal_route_matches_its_own_path(parts: list[str], slash: bool) -> None:
    """A route of literals matches the path it spells, with no variables."""
    path = "/" + "/".join(parts) + ("/" if slash else "")
    routes = Routes()
    routes.add(method=GET, uri=path, handler=handle)
    assert routes.match(GET, path) == RouteMatch(handle, {})


@BOUNDED
@given(st.lists(ascii_literal, min_size=1, max_size=6))
def test_literal_match_ignores_case(parts: list[str]) -> None:
    """Swapping the case of every letter in the path still matches."""
    path = "/" + "/".join(parts)
    routes = Routes()
    routes.add(uri=path, handler=handle)
    assert routes.match(GET, path.swapcase()) == RouteMatch(handle, {})


@BOUNDED
@given(st.data())
def test_variables_come_back_exactly(data: st.DataObject) -> None:
    """A route mixing literals and variables yields exactly the values put in."""
    shape = data.draw(st.lists(st.booleans(), min_size=1, max_size=6))
    pattern: list[str] = []
    path: list[str] = []
    expected: dict[str, str] = {}
    for index, is_variable in enumerate(shape):
        if is_variable:
            name = f"v{index}"
            pattern.append("{" + name + "}")
            expected[name] = data.draw(value)
            path.append(expected[name])
        else:
            text = data.draw(literal)
            pattern.append(text)
            path.append(text)
    routes = Routes()
    routes.add(uri="/" + "/".join(pattern), handler=handle)
    assert routes.match(GET, "/" + "/".join(path)) == RouteMatch(handle, expected)


@BOUNDED
@given(st.lists(value, max_size=6), st.booleans())
def test_trailing_wildcard_is_the_rest_of_the_path(
    rest: list[str], slash: bool
) -> None:
    """``/p/**`` stores everything after ``/p``, starting with ``/``."""
    tail = "/" + "/".join(rest) + ("/" if slash and rest else "")
    routes = Routes()
    routes.add(uri="/p/**", handler=handle)
    assert routes.match(GET, "/p" + tail) == RouteMatch(
        handle, {ROUTE_TRAILING_WILDCARD_KEY: tail}
    )


@BOUNDED
@given(st.lists(ascii_literal, min_size=1, max_size=4), st.lists(value, max_size=4))
def test_base_uri_is_a_plain_prefix(base: list[str], parts: list[str]) -> None:
    """Under a base, base + path matches just as path does without the base."""
    prefix = "/" + "/".join(base)
    inner = Routes()
    inner.add(uri="/{a}/x/**", handler=handle)
    outer = Routes(base_uri=prefix)
    outer.add(uri="/{a}/x/**", handler=handle)
    path = "/" + "/".join(parts)
    assert outer.match(GET, prefix + path) == inner.match(GET, path)


@BOUNDED
@given(st.lists(st.one_of(ascii_literal, st.just("*"), st.just("{v}")), max_size=5))
def test_same_pattern_twice_is_refused(parts: list[str]) -> None:
    """Registering a pattern twice raises and leaves the table as it was."""
    uri = "/" + "/".join(f"{{v{i}}}" if p == "{v}" else p for i, p in enumerate(parts))
    routes = Routes()
    routes.add(method=GET, uri=uri, handler=handle)
    try:
        routes.add(method=GET, uri=uri.upper(), handler=handle)
    except RouteError:
        pass
    else:
        raise AssertionError(f"no RouteError for {uri!r} registered twice")
    assert len(routes) == 1


seed = Routes()
seed["*"] = handle
seed[GET, "/echo"] = handle
seed.add(uri="/api/{version}/users/{id}", handler=handle)
seed.add(uri="/static/**", handler=handle)
seed.add(uri="/a/*/b/", handler=handle)
seed.add(methods=["POST", "PUT"], uri="/{x}/{y}/{z}", handler=handle)


@settings(max_examples=300, deadline=None)
@given(methods, st.text(max_size=40))
def test_match_never_raises(method: HTTPMethod, path: str) -> None:
    """Any text as a path gives a match or None, never an exception."""
    found = seed.match(method, path)
    assert found is None or found.handler is handle


@settings(max_examples=300, deadline=None)
@given(methods, st.lists(st.sampled_from(["a", "b", "echo", "x", ""]), max_size=8))
def test_match_never_raises_on_slashy_paths(
    method: HTTPMethod, parts: list[str]
) -> None:
    """Paths built from a few components, empty ones included, never raise."""
    found = seed.match(method, "/" + "/".join(parts))
    assert found is None or set(found.url_variables) <= {
        "version",
        "id",
        "x",
        "y",
        "z",
        ROUTE_TRAILING_WILDCARD_KEY,
    }
