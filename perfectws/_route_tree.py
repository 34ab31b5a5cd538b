"""The route tree: pattern parsing and the backtracking matcher behind ``Routes``.

Swift: ``Sources/PerfectHTTP/Routing.swift`` (``RouteNode`` and its subclasses,
``RouteNavigator.findHandler``).

Pure data, no HTTP: a pattern is parsed into tokens once, inserted into a tree of
dicts, and a path is matched against it. ``perfectws.routing`` keeps the public
API (``Route``, ``Routes``, ``Routing``) and the checks that need it (methods,
handlers, duplicates); this module knows nothing of requests or responses. The
handler type is a parameter, so it imports nothing from ``routing``.

A pattern is a list of path components. ``{name}`` is a variable, ``*``
matches one component, ``**`` matches the rest of the path (last component
only), a trailing ``/`` is a component of its own and anything else is a literal,
compared case-insensitively. At each level of the tree the matcher tries, with
backtracking: variables, then the literal, then ``*``, then ``**``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, NamedTuple, TypeVar

from .exceptions import RouteError
from .method import HTTPMethod

H = TypeVar("H")

TRAILING_KEY = "_trailing_wildcard_"
"""The variable ``**`` stores the rest under (``routing.ROUTE_TRAILING_WILDCARD_KEY``)."""

# Pattern tokens. Literals are stored lower-cased, variables by name.
_WILDCARD = "*"
_TRAILING = "**"


class Token(NamedTuple):
    kind: str  # "lit", "var", "*" or "**"
    text: str  # the component as written
    key: str  # a literal lower-cased, a variable's name, or the kind


class Pattern(NamedTuple):
    tokens: tuple[Token, ...]
    # Whether the pattern ends in "/", a component of its own. A pattern with no
    # tokens also sets it, as Perfect's ``baseUri + "/" + uri`` does: prefixed
    # by a base, ``""`` and ``"/"`` both mean ``"<base>/"``.
    slash: bool


def parse(uri: object, *, what: str = "route") -> Pattern:
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
    tokens: list[Token] = []
    names: set[str] = set()
    parts = body.split("/") if body else []
    for index, part in enumerate(parts):
        token = parse_component(uri, part, what)
        if token.kind == "**" and (index != len(parts) - 1 or slash):
            raise RouteError(
                f"'**' must be the last component of {what} {uri!r}: "
                "it matches the rest of the path, so nothing can follow it"
            )
        if token.kind in ("var", "**"):
            name = token.key if token.kind == "var" else TRAILING_KEY
            if name in names:
                raise RouteError(
                    f"variable {name!r} appears twice in {what} {uri!r}: "
                    "give each variable its own name"
                )
            names.add(name)
        tokens.append(token)
    return Pattern(tuple(tokens), slash)


def parse_component(uri: str, part: str, what: str) -> Token:
    if part == "":
        raise RouteError(
            f"empty path component in {what} {uri!r}: remove the doubled '/'"
        )
    if part == _WILDCARD or part == _TRAILING:
        return Token(part, part, part)
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
            return Token("var", part, name)
    if "{" in part or "}" in part:
        raise RouteError(
            f"component {part!r} of {what} {uri!r} is not a variable: "
            "a variable is a whole component written '{name}'"
        )
    return Token("lit", part, part.lower())


def format_pattern(pattern: Pattern) -> str:
    text = "/" + "/".join(token.text for token in pattern.tokens)
    if pattern.slash and pattern.tokens:
        text += "/"
    return text


def shape_of(pattern: Pattern) -> tuple[str, ...]:
    """The pattern as the matcher sees it: the key duplicates are found by."""
    shape: list[str] = []
    for kind, _, key in pattern.tokens:
        # Variable names are erased: "/a/{x}" and "/a/{y}" can never both match.
        shape.append("l" + key if kind == "lit" else kind)
    if pattern.slash and pattern.tokens:
        shape.append("/")
    return tuple(shape)


class Node(Generic[H]):
    """One level of the route tree (Swift: ``RouteNode`` and its subclasses)."""

    __slots__ = ("handler", "literals", "slash", "trailing", "variables", "wildcard")

    def __init__(self) -> None:
        self.handler: H | None = None
        self.literals: dict[str, Node[H]] = {}
        # In registration order, as Perfect tries them; one node per name.
        self.variables: list[tuple[str, Node[H]]] = []
        self.wildcard: Node[H] | None = None
        # "**" and a trailing "/" end a pattern, so they need only a handler.
        self.trailing: H | None = None
        self.slash: H | None = None

    def insert(self, pattern: Pattern, handler: H) -> None:
        node = self
        for kind, _, key in pattern.tokens:
            if kind == "lit":
                child = node.literals.get(key)
                if child is None:
                    child = node.literals[key] = Node()
                node = child
            elif kind == "var":
                for name, existing in node.variables:
                    if name == key:
                        node = existing
                        break
                else:
                    child = Node()
                    node.variables.append((key, child))
                    node = child
            elif kind == "*":
                if node.wildcard is None:
                    node.wildcard = Node()
                node = node.wildcard
            else:
                node.trailing = handler
                return
        if pattern.slash and pattern.tokens:
            node.slash = handler
        else:
            node.handler = handler


def find(
    node: Node[H],
    parts: list[str],
    index: int,
    slash: bool,
    variables: dict[str, str],
) -> H | None:
    # Each tree node is tried at one index only (the depth it sits at), so even
    # with backtracking a lookup visits every node at most once.
    if index < len(parts):
        part = parts[index]
        for name, child in node.variables:
            found = find(child, parts, index + 1, slash, variables)
            if found is not None:
                variables[name] = part
                return found
        child_or_none = node.literals.get(part.lower())
        if child_or_none is not None:
            found = find(child_or_none, parts, index + 1, slash, variables)
            if found is not None:
                return found
        if node.wildcard is not None:
            found = find(node.wildcard, parts, index + 1, slash, variables)
            if found is not None:
                return found
        if node.trailing is not None:
            rest = "/" + "/".join(parts[index:])
            variables[TRAILING_KEY] = rest + "/" if slash else rest
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
        found = find(node.wildcard, parts, index, False, variables)
        if found is not None:
            return found
    if node.trailing is not None:
        variables[TRAILING_KEY] = "/"
        return node.trailing
    return None


class Entry(NamedTuple, Generic[H]):
    """A route as the tree stores it (``routing.Route`` without its checks)."""

    methods: tuple[HTTPMethod, ...]  # empty: the method-less tree
    pattern: Pattern
    uri: str  # the normalised pattern, for error messages
    handler: H


class Forest(Generic[H]):
    """One tree per method, and Perfect 1.x's method-less tree, looked in second."""

    __slots__ = ("_any", "_keys", "_roots")

    def __init__(self) -> None:
        self._roots: dict[HTTPMethod, Node[H]] = {}
        self._any: Node[H] = Node()
        # (method or None, shape) -> the uri that took it, to name in errors.
        self._keys: dict[tuple[HTTPMethod | None, tuple[str, ...]], str] = {}

    def add(self, entries: Sequence[Entry[H]]) -> None:
        """Insert every entry, or none: a duplicate raises ``RouteError`` first."""
        # Check everything before touching the tree, so an error leaves the
        # table exactly as it was.
        pending: dict[tuple[HTTPMethod | None, tuple[str, ...]], str] = {}
        for methods, pattern, uri, _ in entries:
            shape = shape_of(pattern)
            for method in methods or (None,):
                key = (method, shape)
                existing = self._keys.get(key) or pending.get(key)
                if existing is not None:
                    label = method.value if method is not None else "routes[...]"
                    raise RouteError(
                        f"duplicate route {label} {uri!r}: "
                        f"{existing!r} already matches the same paths "
                        "for that method (variable names do not make routes "
                        "different); remove one or change its pattern"
                    )
                pending[key] = uri
        for methods, pattern, _, handler in entries:
            self._insert(methods, pattern, handler)
        self._keys.update(pending)

    def _insert(
        self, methods: tuple[HTTPMethod, ...], pattern: Pattern, handler: H
    ) -> None:
        # No methods: Perfect 1.x's method-less tree.
        if not methods:
            self._any.insert(pattern, handler)
            return
        for method in methods:
            root = self._roots.get(method)
            if root is None:
                root = self._roots[method] = Node()
            root.insert(pattern, handler)

    def match(self, method: HTTPMethod, path: str) -> tuple[H, dict[str, str]] | None:
        """The handler for ``path`` and its variables, or ``None``."""
        parts = [part for part in path.split("/") if part]
        slash = bool(parts) and path.endswith("/")
        variables: dict[str, str] = {}
        root = self._roots.get(method)
        if root is not None:
            found = find(root, parts, 0, slash, variables)
            if found is not None:
                return found, variables
        # A failed search writes nothing: values are set only on the way back
        # out of a successful branch, so no stale variable survives backtracking.
        found = find(self._any, parts, 0, slash, variables)
        if found is not None:
            return found, variables
        return None
