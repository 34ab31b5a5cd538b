"""Property tests: no request path, however spelled, reaches a byte outside the root.

Paths are built from traversal atoms (``..``, ``.``, ``%2e``, ``%2f``, ``\\``,
``%5c``, ``%00``...), names of real files and folders inside and next to the
root, and random names, each maybe percent-encoded once or twice. The pure test
runs them through ``HTTPRequest`` (the server's decoding) and
``StaticFileHandler._resolve``; a smaller run sends them to a real server.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Served
from hypothesis import HealthCheck, given, settings, strategies as st
from test_static import FILES, SENTINELS, fetch, make_site

from perfectws import GET, HTTPRequest, Routes, StaticFileHandler

ATOMS = [
    "..",
    ".",
    "...",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%c0%ae",
    "%2f",
    "%2F",
    "\\",
    "%5c",
    "%5C",
    "%00",
    "",
    "~",
    "secret",
    "outside",
    "inner.txt",
    "root",
    "root-private",
    "leak.txt",
    "link_out",
    "link_out_relative",
    "dirlink_out",
    "link_in",
    "dirlink_in",
    "sub",
    "deeper",
    "index.html",
    "hello.txt",
    "page.html",
    "etc",
    "passwd",
]
NAMES = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=8
)
SEPARATORS = st.sampled_from(["/", "/", "/", "//", "%2f", "%2F", "\\", "%5c"])
INSIDE = set(FILES.values())


def percent(text: str, which: list[bool]) -> str:
    return "".join(
        f"%{ord(c):02X}" if i < len(which) and which[i] else c
        for i, c in enumerate(text)
    )


@st.composite
def segments(draw: st.DrawFn) -> str:
    """One path segment, plain, partly or wholly percent-encoded, or encoded twice."""
    segment = draw(st.one_of(st.sampled_from(ATOMS), NAMES))
    how = draw(st.sampled_from(["plain", "plain", "some", "all", "twice"]))
    if how == "plain":
        return segment
    if how == "some":
        return percent(segment, draw(st.lists(st.booleans(), max_size=len(segment))))
    once = percent(segment, [True] * len(segment))
    return once if how == "all" else once.replace("%", "%25")


@st.composite
def targets(draw: st.DrawFn) -> str:
    """A request target: / then segments joined by separators, maybe a trailing /."""
    parts = draw(st.lists(segments(), min_size=1, max_size=8))
    target = "/" + parts[0]
    for part in parts[1:]:
        target += draw(SEPARATORS) + part
    if draw(st.booleans()):
        target += "/"
    return target


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("site"))


def inside(path: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


@settings(max_examples=200, deadline=None, database=None)
@given(target=targets())
def test_resolve_never_leaves_the_root(root: Path, target: str) -> None:
    """_resolve of any decoded path is None or a real path inside the root; files there are inside files."""
    request = HTTPRequest(GET, target)
    path = request.path + ("index.html" if request.path.endswith("/") else "")
    for handler in (StaticFileHandler(), StaticFileHandler(document_root=str(root))):
        resolved = handler._resolve(str(root), path)
        if resolved is None:
            continue
        assert inside(resolved, root), (target, resolved)
        if os.path.isfile(resolved):
            content = Path(resolved).read_bytes()
            assert content in INSIDE, (target, resolved)
            assert not any(s in content for s in SENTINELS)


@st.composite
def detours(draw: st.DrawFn) -> tuple[str, str]:
    """A file's path with '.', 'sub/..' and encoded dots mixed in: (target, name)."""
    name = draw(st.sampled_from(sorted(FILES)))
    pieces: list[str] = []
    for part in name.split("/"):
        for _ in range(draw(st.integers(0, 2))):
            pieces.append(
                draw(st.sampled_from([".", "%2e", "sub/..", "nowhere/%2e%2e"]))
            )
        pieces.append(part)
    return "/" + "/".join(pieces), name


@settings(max_examples=100, deadline=None, database=None)
@given(case=detours())
def test_resolve_finds_files_reached_by_detours(
    root: Path, case: tuple[str, str]
) -> None:
    """A path that wanders but ends inside resolves to exactly that file."""
    target, name = case
    resolved = StaticFileHandler()._resolve(str(root), HTTPRequest(GET, target).path)
    assert resolved == os.path.realpath(root / name), target


@pytest.mark.asyncio
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(target=targets())
async def test_server_never_sends_outside_bytes(
    serve: Callable[..., Any], root: Path, target: str
) -> None:
    """Over HTTP, any target answers 200 with an inside file, a local 301, or 400/403/404."""
    routes = Routes()
    routes["/**"] = StaticFileHandler().handle_request
    served: Served = await serve(routes, document_root=str(root))
    reply = await fetch(served.port, target)
    assert reply.status in (200, 301, 400, 403, 404), (target, reply.status)
    for sentinel in SENTINELS:
        assert sentinel not in reply.raw, target
    if reply.status == 200:
        assert reply.body in INSIDE, target
    if reply.status == 301:
        location = reply.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location
        assert "\\" not in location
