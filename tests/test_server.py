"""HTTPServer over real HTTP: listen/stop, routing, errors, requests and responses."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from perfectws import (
    GET,
    HEAD,
    POST,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    RouteError,
    Routes,
    Routing,
    StaticFileHandler,
    WebRequest,
    WebResponse,
)
from tests.helpers import LogGuard, Served, timeout
from tests.rawhttp import fetch, read_reply, request_bytes

pytestmark = pytest.mark.asyncio


def text(body: str, status: int = 200) -> Callable[[HTTPRequest, HTTPResponse], None]:
    """A handler answering ``body`` with ``status``."""

    def handler(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "text/plain; charset=utf-8")
        response.set_body(body)
        response.completed(status)

    return handler


def echo_request(request: HTTPRequest, response: HTTPResponse) -> None:
    """Answers with the request as JSON: method, path, variables, params, body."""
    response.set_header("Content-Type", "application/json")
    response.set_body(
        json.dumps(
            {
                "method": request.method.value,
                "path": request.path,
                "uri": request.uri,
                "url_variables": request.url_variables,
                "params": {
                    name: request.param(name)
                    for name in ("name", "empty", "space", "missing")
                },
                "body": request.body.decode("latin-1"),
            }
        )
    )
    response.completed()


async def get_json(port: int, target: str, **kwargs: Any) -> dict[str, Any]:
    reply = await fetch(port, target, **kwargs)
    assert reply.status == 200, (reply.status, reply.body)
    result: dict[str, Any] = json.loads(reply.body)
    return result


@pytest.fixture
def legacy_routes() -> Iterator[Routes]:
    """A fresh process-wide Routing.Routes, restored after the test."""
    saved = Routing.Routes
    Routing.Routes = Routes()
    try:
        yield Routing.Routes
    finally:
        Routing.Routes = saved


# -- listen, defaults, stop -----------------------------------------------------


async def test_listen_on_port_0_returns_and_stores_the_port(tmp_path: Path) -> None:
    """listen() with server_port=0 binds a free port, returns it and stores it in server_port."""
    server = HTTPServer(
        server_port=0, document_root=str(tmp_path), server_address="127.0.0.1"
    )
    routes = Routes()
    routes[GET, "/"] = text("up")
    server.add_routes(routes)
    try:
        port = server.listen()
        assert port == server.server_port
        assert port != 0
        reply = await fetch(port, "/")
        assert (reply.status, reply.body) == (200, b"up")
    finally:
        await server.stop()


async def test_defaults_are_perfects() -> None:
    """HTTPServer() defaults to port 8181, ./webroot, 0.0.0.0, and Routing.Routes."""
    server = HTTPServer()
    assert server.server_port == 8181
    assert server.document_root == "./webroot"
    assert server.server_address == "0.0.0.0"
    assert server.routes is Routing.Routes
    assert server.websockets == frozenset()


async def test_stop_closes_the_listener(serve: Callable[..., Any]) -> None:
    """After stop() the port refuses connections."""
    routes = Routes()
    routes[GET, "/"] = text("up")
    served: Served = await serve(routes)
    assert (await fetch(served.port, "/")).status == 200
    await served.server.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", served.port)


async def test_stop_closes_open_websockets_with_1001(echo_server: Served) -> None:
    """stop() closes every open WebSocket with 1001 (going away)."""
    async with (
        connect(echo_server.ws_url(), subprotocols=["echo"]) as first,
        connect(echo_server.ws_url(), subprotocols=["echo"]) as second,
    ):
        await first.send("hi")
        assert await first.recv() == "hi"
        assert len(echo_server.server.websockets) == 2
        await asyncio.wait_for(echo_server.server.stop(), timeout(10))
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as raised:
                await asyncio.wait_for(ws.recv(), timeout(5))
            assert raised.value.rcvd is not None
            assert raised.value.rcvd.code == 1001
    assert echo_server.server.websockets == frozenset()


async def test_stop_closes_idle_keep_alive_connections(
    serve: Callable[..., Any],
) -> None:
    """stop() closes an idle keep-alive HTTP connection (the client reads EOF)."""
    routes = Routes()
    routes[GET, "/"] = text("up")
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request_bytes("/", close=False))
        assert (await read_reply(reader)).body == b"up"
        await asyncio.wait_for(served.server.stop(), timeout(10))
        assert await asyncio.wait_for(reader.read(), timeout(5)) == b""
    finally:
        writer.close()


# -- errors ---------------------------------------------------------------------


async def test_handler_that_raises_is_500_and_logged_once(
    serve: Callable[..., Any], log_guard: LogGuard
) -> None:
    """A handler that raises answers 500, logs one ERROR, and the server keeps serving."""
    log_guard.expect("perfectws.server", "request handler failed")

    def broken(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("X-Half-Done", "yes")
        response.set_body("half a body")
        raise RuntimeError("boom")

    routes = Routes()
    routes[GET, "/broken"] = broken
    routes[GET, "/ok"] = text("fine")
    served: Served = await serve(routes)
    reply = await fetch(served.port, "/broken")
    assert reply.status == 500
    assert reply.body == b"internal error"
    assert "X-Half-Done" not in reply.headers
    records = log_guard.matching("perfectws.server", "request handler failed")
    assert [r.levelno for r in records] == [logging.ERROR]
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)
    reply = await fetch(served.port, "/ok")
    assert (reply.status, reply.body) == (200, b"fine")


async def test_handler_that_raises_after_completing_keeps_its_response(
    serve: Callable[..., Any], log_guard: LogGuard
) -> None:
    """A handler that raises after completed() keeps its response; one ERROR is logged."""
    log_guard.expect("perfectws.server", "request handler failed")

    def late(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_body("done")
        response.completed()
        raise RuntimeError("after the fact")

    routes = Routes()
    routes[GET, "/late"] = late
    served: Served = await serve(routes)
    reply = await fetch(served.port, "/late")
    assert (reply.status, reply.body) == (200, b"done")
    assert len(log_guard.matching("perfectws.server", "request handler failed")) == 1


async def test_handler_that_raises_after_push_truncates_the_response(
    serve: Callable[..., Any], log_guard: LogGuard
) -> None:
    """A handler that raises after push() leaves a visibly truncated response, not a wrong body."""
    log_guard.expect("perfectws.server", "request handler failed")

    def streaming_then_broken(request: HTTPRequest, response: HTTPResponse) -> None:
        response.append_body("partial ")
        response.push()
        raise RuntimeError("mid-stream")

    routes = Routes()
    routes[GET, "/s"] = streaming_then_broken
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request_bytes("/s"))
        data = await asyncio.wait_for(reader.read(), timeout(5))
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"internal error" not in data
    assert not data.endswith(b"0\r\n\r\n")  # no terminating chunk: truncated


async def test_no_route_is_404(serve: Callable[..., Any]) -> None:
    """A path no route matches answers 404 with a short text body."""
    routes = Routes()
    routes[GET, "/only"] = text("only")
    served: Served = await serve(routes)
    for target, method in (("/elsewhere", "GET"), ("/only", "POST")):
        reply = await fetch(served.port, target, method)
        assert reply.status == 404
        assert reply.body == b"No matching route was found."
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_unknown_method_is_501(serve: Callable[..., Any]) -> None:
    """A method perfectws does not know (BREW) answers 501 before routing."""
    routes = Routes()
    routes["/**"] = text("any method")
    served: Served = await serve(routes)
    reply = await fetch(served.port, "/", "BREW")
    assert reply.status == 501
    assert reply.body == b"method not implemented"
    assert (await fetch(served.port, "/", "DELETE")).body == b"any method"


# -- routes ---------------------------------------------------------------------


async def test_legacy_routing_routes_is_served(
    legacy_routes: Routes, tmp_path: Path
) -> None:
    """With no routes added, the server serves the process-wide Routing.Routes (Perfect 1.x)."""
    (tmp_path / "index.html").write_text("legacy static")
    Routing.Routes["*"] = StaticFileHandler().handle_request
    Routing.Routes[GET, "/hello"] = text("legacy hello")
    server = HTTPServer(
        server_port=0, document_root=str(tmp_path), server_address="127.0.0.1"
    )
    port = server.listen()
    try:
        assert server.routes is legacy_routes
        assert (await fetch(port, "/hello")).body == b"legacy hello"
        assert (await fetch(port, "/index.html")).body == b"legacy static"
    finally:
        await server.stop()


async def test_added_routes_replace_the_legacy_registry(
    legacy_routes: Routes, serve: Callable[..., Any]
) -> None:
    """Once routes are added, Routing.Routes is no longer consulted."""
    Routing.Routes[GET, "/legacy"] = text("legacy")
    routes = Routes()
    routes[GET, "/new"] = text("new")
    served: Served = await serve(routes)
    assert (await fetch(served.port, "/new")).body == b"new"
    assert (await fetch(served.port, "/legacy")).status == 404


async def test_add_routes_twice_merges(serve: Callable[..., Any]) -> None:
    """Two add_routes calls serve both tables; a duplicate raises RouteError and changes nothing."""
    first = Routes()
    first[GET, "/a"] = text("a")
    served: Served = await serve(first)
    second = Routes(base_uri="/api")
    second.add(method=POST, uri="/b", handler=text("b"))
    served.server.add_routes(second)
    with pytest.raises(RouteError):
        served.server.add_routes(first)
    assert (await fetch(served.port, "/a")).body == b"a"
    assert (await fetch(served.port, "/api/b", "POST", body=b"x")).body == b"b"
    assert (await fetch(served.port, "/api/b")).status == 404


async def test_url_variables_reach_the_handler(serve: Callable[..., Any]) -> None:
    """{id} and the trailing ** fill request.url_variables, percent-decoded once."""
    routes = Routes()
    routes[GET, "/user/{id}"] = echo_request
    routes[GET, "/files/**"] = echo_request
    served: Served = await serve(routes)
    assert (await get_json(served.port, "/user/42"))["url_variables"] == {"id": "42"}
    assert (await get_json(served.port, "/user/a%20b"))["url_variables"] == {
        "id": "a b"
    }
    assert (await get_json(served.port, "/files/x/y.txt"))["url_variables"] == {
        "_trailing_wildcard_": "/x/y.txt"
    }


async def test_query_params_via_param(serve: Callable[..., Any]) -> None:
    """request.param gives the first value, '' for a blank one, None when absent."""
    routes = Routes()
    routes[GET, "/q"] = echo_request
    served: Served = await serve(routes)
    result = await get_json(served.port, "/q?name=x&name=y&empty=&space=a+b%21")
    assert result["params"] == {
        "name": "x",
        "empty": "",
        "space": "a b!",
        "missing": None,
    }
    assert result["path"] == "/q"
    assert result["uri"] == "/q?name=x&name=y&empty=&space=a+b%21"


async def test_post_body_reaches_the_handler(serve: Callable[..., Any]) -> None:
    """A POST body, by Content-Length or chunked, arrives whole in request.body."""
    routes = Routes()
    routes[POST, "/echo-body"] = echo_request
    served: Served = await serve(routes)
    body = bytes(range(256)) * 400
    result = await get_json(served.port, "/echo-body", method="POST", body=body)
    assert result["method"] == "POST"
    assert result["body"].encode("latin-1") == body
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(
            request_bytes(
                "/echo-body",
                "POST",
                headers=[("Transfer-Encoding", "chunked")],
            )
            + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        reply = await read_reply(reader)
    finally:
        writer.close()
    assert json.loads(reply.body)["body"] == "hello world"


async def test_aliases_are_the_same_classes() -> None:
    """WebRequest and WebResponse (Perfect 1.x names) are HTTPRequest and HTTPResponse."""
    assert WebRequest is HTTPRequest
    assert WebResponse is HTTPResponse


# -- responses: push and bodyless statuses --------------------------------------


async def test_push_streams_before_completion(serve: Callable[..., Any]) -> None:
    """push() sends the headers and body so far at once (chunked); completed() ends it."""
    release = asyncio.Event()
    results: list[bool] = []

    def streaming(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "text/plain")
        response.append_body("first;")
        response.push(results.append)

        async def rest() -> None:
            await release.wait()
            response.append_body("second;")
            response.push(results.append)
            response.append_body("last")
            response.completed()

        asyncio.ensure_future(rest())

    routes = Routes()
    routes[GET, "/stream"] = streaming
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request_bytes("/stream"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout(5))
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Transfer-Encoding: chunked\r\n" in head
        first = await asyncio.wait_for(reader.readuntil(b"first;\r\n"), timeout(5))
        assert first == b"6\r\nfirst;\r\n"
        release.set()
        rest = await asyncio.wait_for(reader.read(), timeout(5))
    finally:
        writer.close()
    assert rest == b"7\r\nsecond;\r\n4\r\nlast\r\n0\r\n\r\n"
    assert results == [True, True]


async def test_push_callback_reports_a_gone_client(serve: Callable[..., Any]) -> None:
    """push(callback) gets False once the client has disconnected."""
    outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def endless(request: HTTPRequest, response: HTTPResponse) -> None:
        sent = 0

        def more(ok: bool) -> None:
            nonlocal sent
            if not ok:
                outcome.set_result(sent)
                return
            sent += 1
            response.append_body(b"x" * 65536)
            response.push(more)

        more(True)

    routes = Routes()
    routes[GET, "/endless"] = endless
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(request_bytes("/endless"))
    await asyncio.wait_for(reader.readexactly(200_000), timeout(5))
    writer.transport.abort()
    assert await asyncio.wait_for(outcome, timeout(5)) >= 3


async def test_push_on_head_sends_no_body(serve: Callable[..., Any]) -> None:
    """A streaming handler answering HEAD sends headers only; the connection stays usable."""

    def streaming(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Length", "10")
        response.append_body("01234")
        response.push()
        response.append_body("56789")
        response.completed()

    routes = Routes()
    routes["/s"] = streaming
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request_bytes("/s", "HEAD", close=False))
        head = await read_reply(reader, head=True)
        assert (head.status, head.headers["Content-Length"]) == (200, "10")
        writer.write(request_bytes("/s", close=False))
        get = await read_reply(reader)
        assert (get.status, get.body) == (200, b"0123456789")
    finally:
        writer.close()


@pytest.mark.parametrize("status", [204, 304])
async def test_bodyless_status_drops_the_body(
    serve: Callable[..., Any], status: int
) -> None:
    """completed(204 or 304) sends no body even if one was set; keep-alive stays in step."""
    routes = Routes()
    routes[GET, "/nobody"] = text("this must not be sent", status)
    routes[GET, "/next"] = text("next")
    served: Served = await serve(routes)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request_bytes("/nobody", close=False))
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (status, b"")
        assert "Content-Length" not in reply.headers
        writer.write(request_bytes("/next", close=False))
        reply = await read_reply(reader)
        assert (reply.status, reply.body) == (200, b"next")
    finally:
        writer.close()


async def test_head_route_answers_with_get_length(serve: Callable[..., Any]) -> None:
    """A handler's full body on HEAD gives its Content-Length and sends no bytes of it."""
    routes = Routes()
    routes[HEAD, "/h"] = text("twelve bytes")
    served: Served = await serve(routes)
    reply = await fetch(served.port, "/h", "HEAD")
    assert (reply.status, reply.headers["Content-Length"], reply.body) == (
        200,
        "12",
        b"",
    )


# -- request parsing ------------------------------------------------------------


async def test_double_slash_target_keeps_its_first_segment(
    serve: Callable[..., Any],
) -> None:
    """GET //a/b.txt has request.path //a/b.txt (origin-form), not /b.txt."""
    routes = Routes()
    routes["/**"] = echo_request
    served: Served = await serve(routes)
    assert (await get_json(served.port, "//a/b.txt"))["path"] == "//a/b.txt"
