"""Request and response filters, content compression and the body setters, over real sockets."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse as ClientResponse
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from perfectws import (
    GET,
    HTTPFilter,
    HTTPFilterPriority,
    HTTPRequest,
    HTTPRequestFilterResult,
    HTTPResponse,
    HTTPResponseFilterResult,
    Routes,
)

# Type aliases only, for the annotations of the filters written below.
from perfectws.filters import RequestFilterCallback, ResponseFilterCallback
from tests.helpers import echo_routes

TEXT = "Perfect filters, ported line by line. " * 20


async def fetch(url: str, **options: Any) -> ClientResponse:
    options.setdefault("raise_error", False)
    options.setdefault("decompress_response", False)
    return await AsyncHTTPClient().fetch(url, **options)


def text_routes() -> Routes:
    routes = echo_routes()

    def text(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "text/plain")
        response.set_body(string=TEXT).completed()

    def small(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "text/plain")
        response.append_body(string="tiny").append_body(bytes=b"!").completed()

    def picture(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "image/png")
        response.set_body(bytes=b"\x89PNG" + b"\0" * 200).completed()

    def streamed(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_header("Content-Type", "text/plain")
        response.append_body(string=TEXT)
        response.push(lambda ok: response.append_body(string=TEXT).completed())

    def as_json(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_body(json={"ok": True, "n": [1, 2]}).completed()

    def boom(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_body(string="fine").completed()

    for uri, handler in [
        ("text", text),
        ("small", small),
        ("picture", picture),
        ("streamed", streamed),
        ("json", as_json),
        ("boom", boom),
    ]:
        routes.add(method=GET, uri=uri, handler=handler)
    return routes


class Guard:
    """A request filter that answers 401 unless the request carries a token."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def filter(
        self,
        request: HTTPRequest,
        response: HTTPResponse,
        callback: RequestFilterCallback,
    ) -> None:
        self.log.append("guard")
        if request.param("token") == "secret":
            callback(HTTPRequestFilterResult.continue_(request, response))
            return
        response.status = 401
        response.set_body(string="token required")
        callback(HTTPRequestFilterResult.halt(request, response))


class Named:
    def __init__(self, name: str, log: list[str], result: str = "continue_") -> None:
        self.name, self.log, self.result = name, log, result

    def filter(
        self,
        request: HTTPRequest,
        response: HTTPResponse,
        callback: RequestFilterCallback,
    ) -> None:
        self.log.append(self.name)
        make = getattr(HTTPRequestFilterResult, self.result)
        callback(make(request, response))


class Stamp:
    """A response filter that records what it saw and marks the response."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bytes]] = []
        self.bodies: list[bytes] = []

    def filter_headers(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        self.seen.append((response.status, bytes(response.body)))
        response.set_header("X-Filtered", "yes")
        callback(HTTPResponseFilterResult.CONTINUE)

    def filter_body(
        self, response: HTTPResponse, callback: ResponseFilterCallback
    ) -> None:
        self.bodies.append(bytes(response.body))
        callback(HTTPResponseFilterResult.CONTINUE)


class Raises:
    def __init__(self, when: str) -> None:
        self.when = when

    def filter(
        self, request: HTTPRequest, response: HTTPResponse, callback: Any
    ) -> None:
        if request.path == self.when:
            raise RuntimeError("filter bug")
        callback(HTTPRequestFilterResult.continue_(request, response))

    def filter_headers(self, response: HTTPResponse, callback: Any) -> None:
        if response.request.path == self.when:
            raise RuntimeError("filter bug")
        callback(HTTPResponseFilterResult.CONTINUE)

    def filter_body(self, response: HTTPResponse, callback: Any) -> None:
        callback(HTTPResponseFilterResult.CONTINUE)


@pytest.mark.asyncio
async def test_request_filter_refuses_a_websocket_upgrade_with_401(serve: Any) -> None:
    """A request filter runs before routing: no token, no upgrade; with it, echo."""
    served = await serve(text_routes())
    log: list[str] = []
    served.server.set_request_filters([(Guard(log), HTTPFilterPriority.HIGH)])
    with pytest.raises(InvalidStatus) as refused:
        async with connect(served.ws_url(), subprotocols=["echo"]):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.body == b"token required"
    async with connect(
        served.ws_url("/echo?token=secret"), subprotocols=["echo"]
    ) as ws:
        await ws.send("through")
        assert await ws.recv() == "through"
    assert log == ["guard", "guard"]


@pytest.mark.asyncio
async def test_request_filters_run_by_priority_and_execute_skips_the_group(
    serve: Any,
) -> None:
    """High before medium before low, given order within; execute ends its group."""
    served = await serve(text_routes())
    log: list[str] = []
    served.server.set_request_filters(
        [
            (Named("low", log), HTTPFilterPriority.LOW),
            (Named("high1", log, "execute"), HTTPFilterPriority.HIGH),
            (Named("medium", log), HTTPFilterPriority.MEDIUM),
            (Named("high2", log), HTTPFilterPriority.HIGH),
        ]
    )
    response = await fetch(served.http_url("/small"))
    assert response.code == 200 and response.body == b"tiny!"
    assert log == ["high1", "medium", "low"]


@pytest.mark.asyncio
async def test_response_filter_sees_headers_and_body(serve: Any) -> None:
    """filter_headers sees status and body before they go; filter_body each piece."""
    served = await serve(text_routes())
    stamp = Stamp()
    served.server.set_response_filters([(stamp, HTTPFilterPriority.HIGH)])
    response = await fetch(served.http_url("/small"))
    assert response.headers["X-Filtered"] == "yes"
    assert response.body == b"tiny!"
    assert stamp.seen == [(200, b"tiny!")]
    assert stamp.bodies == [b"tiny!"]
    missing = await fetch(served.http_url("/nothing-here"))
    assert missing.code == 404 and missing.headers["X-Filtered"] == "yes"


@pytest.mark.asyncio
async def test_a_filter_that_raises_answers_500_for_that_request_only(
    serve: Any, log_guard: Any
) -> None:
    """The failing request gets 500; the next request and a WebSocket are served."""
    log_guard.expect("perfectws", "filter")
    served = await serve(text_routes())
    served.server.set_request_filters([(Raises("/boom"), HTTPFilterPriority.HIGH)])
    served.server.set_response_filters([(Raises("/small"), HTTPFilterPriority.HIGH)])
    failed = await fetch(served.http_url("/boom"))
    assert failed.code == 500 and failed.body == b"internal error"
    failed = await fetch(served.http_url("/small"))
    assert failed.code == 500 and failed.body == b"internal error"
    fine = await fetch(served.http_url("/text"))
    assert fine.code == 200 and fine.body == TEXT.encode()
    async with connect(served.ws_url(), subprotocols=["echo"]) as ws:
        await ws.send("still here")
        assert await ws.recv() == "still here"
    assert log_guard.matching("perfectws", "filter")


@pytest.mark.asyncio
async def test_content_compression_deflate_gzip_and_perfects_rules(serve: Any) -> None:
    """deflate as Perfect; gzip when only gzip is taken; small, image, unasked untouched."""
    served = await serve(text_routes())
    served.server.set_response_filters(
        [(HTTPFilter.content_compression({}), HTTPFilterPriority.HIGH)]
    )
    url = served.http_url
    deflated = await fetch(url("/text"), headers={"Accept-Encoding": "gzip, deflate"})
    assert deflated.headers["Content-Encoding"] == "deflate"
    assert deflated.headers["Vary"] == "Accept-Encoding"
    assert int(deflated.headers["Content-Length"]) == len(deflated.body)
    assert zlib.decompress(deflated.body) == TEXT.encode()
    gzipped = await fetch(
        url("/text"), headers={"Accept-Encoding": "gzip, deflate;q=0"}
    )
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gzipped.body) == TEXT.encode()
    streamed = await fetch(url("/streamed"), headers={"Accept-Encoding": "deflate"})
    assert streamed.headers["Content-Encoding"] == "deflate"
    assert zlib.decompress(streamed.body) == (TEXT * 2).encode()
    for path, accept in [
        ("/text", "identity"),
        ("/small", "deflate"),
        ("/picture", "deflate"),
    ]:
        plain = await fetch(url(path), headers={"Accept-Encoding": accept})
        assert "Content-Encoding" not in plain.headers, path
    head = await fetch(
        url("/text"), method="HEAD", headers={"Accept-Encoding": "deflate"}
    )
    assert "Content-Encoding" not in head.headers


def test_content_compression_rejects_bad_data() -> None:
    """compressTypes must be a list of MIME types; the error names the key."""
    with pytest.raises(ValueError, match="^compressTypes: a list of MIME types"):
        HTTPFilter.content_compression({"compressTypes": "text/*"})


@pytest.mark.asyncio
async def test_set_body_json_and_labels(serve: Any) -> None:
    """set_body(json=) encodes and sets application/json; labels are exclusive."""
    served = await serve(text_routes())
    response = await fetch(served.http_url("/json"))
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"ok": True, "n": [1, 2]}
    request = HTTPRequest(GET, "/")
    with pytest.raises(TypeError, match="exactly one"):
        HTTPResponse(request).set_body(string="a", bytes=b"b")
    with pytest.raises(TypeError, match="use string="):
        HTTPResponse(request).append_body(bytes="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        HTTPResponse(request).set_body(json=object())
