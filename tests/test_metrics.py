"""Prometheus metrics: /metrics over real sockets, counted from real sessions."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from perfectws import (
    GET,
    HTTPRequest,
    Routes,
    WebSocket,
    WebSocketHandler,
    testing,
)
from perfectws.metrics import ServerMetrics

perfectws_serve = testing.perfectws_serve


class Echo:
    socket_protocol = "echo"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        def on_message(data: bytes | None, op: object, fin: bool) -> None:
            if data is None:
                return
            socket.send_binary_message(
                data, callback=lambda: self.handle_session(request, socket)
            )

        socket.read_bytes_message(on_message)


def routes() -> Routes:
    r = Routes()
    r[GET, "/ws"] = WebSocketHandler(
        handler_producer=lambda req, protocols: Echo() if "echo" in protocols else None
    ).handle_request
    r[GET, "/ok"] = lambda req, resp: resp.set_body("ok").completed()
    return r


async def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = await server.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


@pytest.mark.asyncio
async def test_http_requests_and_handshakes_by_status(perfectws_serve) -> None:
    """Each answer is counted by status; upgrades by result, accepted ones as 101."""
    server = await perfectws_serve(routes(), metrics=ServerMetrics())
    assert (await server.get("/ok")).status == 200
    assert (await server.get("/missing")).status == 404
    ws = await server.websocket("/ws", protocols=["echo"])
    with pytest.raises(testing.HandshakeRefused):
        await server.websocket("/ws", protocols=["chat"])
    with pytest.raises(testing.HandshakeRefused):
        await server.websocket(
            "/ws", protocols=["echo"], headers={"Origin": "http://evil"}
        )
    samples = await scrape(server)
    http = "perfectws_http_requests_total"
    hs = "perfectws_websocket_handshakes_total"
    assert samples[(http, (("status", "200"),))] == 1
    assert samples[(http, (("status", "404"),))] == 1
    assert samples[(http, (("status", "101"),))] == 1
    assert samples[(hs, (("result", "101"),))] == 1
    assert samples[(hs, (("result", "400"),))] == 1
    assert samples[(hs, (("result", "403"),))] == 1
    assert samples[("perfectws_websockets_open", ())] == 1
    await ws.close(1000)
    await ws.read_close()
    assert await ws.at_eof()
    await ws.aclose()  # the server holds its half-closed socket until ours closes
    for _ in range(100):
        samples = await scrape(server)
        if samples[("perfectws_websockets_open", ())] == 0:
            break
        await asyncio.sleep(0.02)
    assert samples[("perfectws_websockets_open", ())] == 0
    # The first scrape was counted once it was answered.
    assert samples[(http, (("status", "200"),))] >= 2


@pytest.mark.asyncio
async def test_metrics_off_by_default(perfectws_serve) -> None:
    """Without metrics=, /metrics is an ordinary path (here: 404)."""
    server = await perfectws_serve(routes())
    assert (await server.get("/metrics")).status == 404


@pytest.mark.asyncio
async def test_every_metric_is_defined_with_help(perfectws_serve) -> None:
    """The README's metrics table names exist on a fresh server's page."""
    server = await perfectws_serve(routes(), metrics=ServerMetrics())
    reply = await server.get("/metrics")
    names = {
        family.name for family in text_string_to_metric_families(reply.body.decode())
    }
    assert {
        "perfectws_http_requests",
        "perfectws_websocket_handshakes",
        "perfectws_websockets_open",
        "perfectws_websocket_messages",
        "perfectws_websocket_bytes",
        "perfectws_websocket_close_codes",
        "perfectws_websocket_send_queue_bytes",
        "perfectws_websocket_send_queue_high_water_bytes",
        "perfectws_fanout_publishes",
        "perfectws_fanout_lag_seconds",
    } <= names


@pytest.mark.asyncio
async def test_messages_bytes_and_close_codes(perfectws_serve) -> None:
    """Frames and bytes each way and close codes each way, from a real session."""
    server = await perfectws_serve(routes(), metrics=ServerMetrics())
    ws = await server.websocket("/ws", protocols=["echo"])
    for payload in (b"abc", b"defgh"):
        await ws.send_binary(payload)
        assert (await ws.read_frame()).payload == payload
    await ws.close(4001)
    assert (await ws.read_close())[0] == 4001
    assert await ws.at_eof()
    await ws.aclose()
    # Close codes are counted when the session's TCP connection is gone.
    for _ in range(200):
        if not server.server.websockets:
            break
        await asyncio.sleep(0.01)
    samples = await scrape(server)
    messages = "perfectws_websocket_messages_total"
    data = "perfectws_websocket_bytes_total"
    codes = "perfectws_websocket_close_codes_total"
    assert samples[(messages, (("direction", "in"),))] == 2
    assert samples[(messages, (("direction", "out"),))] == 2
    assert samples[(data, (("direction", "in"),))] == 8
    assert samples[(data, (("direction", "out"),))] == 8
    assert samples[(codes, (("code", "4001"), ("direction", "in")))] == 1
    assert samples[(codes, (("code", "4001"), ("direction", "out")))] == 1
