"""Opt-in /healthz and /readyz: a load balancer's view of a node, over real sockets."""

from __future__ import annotations

import pytest

from perfectws import GET, HTTPRequest, HTTPResponse, Routes, testing

perfectws_serve = testing.perfectws_serve


def mine(request: HTTPRequest, response: HTTPResponse) -> None:
    response.set_body("the user's own").completed()


@pytest.mark.asyncio
async def test_live_and_ready_while_serving(perfectws_serve) -> None:
    """Both answer 200 with no-store while the server runs."""
    server = await perfectws_serve(Routes(), health_checks=True)
    for path in ("/healthz", "/readyz"):
        reply = await server.get(path)
        assert (reply.status, reply.body) == (200, b"ok\n")
        assert reply.headers["cache-control"] == "no-store"
    head = await server.request("HEAD", "/readyz")
    assert head.status == 200 and head.body == b""


@pytest.mark.asyncio
async def test_ready_turns_503_when_draining_and_live_stays_200(
    perfectws_serve,
) -> None:
    """Once a shutdown begins (draining), /readyz says 503 so traffic moves away."""
    server = await perfectws_serve(Routes(), health_checks=True)
    assert server.server.draining is False
    server.server.draining = True
    ready = await server.get("/readyz")
    assert (ready.status, ready.body) == (503, b"draining\n")
    assert (await server.get("/healthz")).status == 200


@pytest.mark.asyncio
async def test_stop_sets_draining(perfectws_serve) -> None:
    """HTTPServer.stop() marks the server draining before it closes anything."""
    served = await perfectws_serve(Routes(), health_checks=True)
    await served.server.stop()
    assert served.server.draining is True


@pytest.mark.asyncio
async def test_off_by_default_and_routes_keep_their_paths(perfectws_serve) -> None:
    """Without health_checks the paths are the application's own."""
    routes = Routes()
    routes[GET, "/healthz"] = mine
    server = await perfectws_serve(routes)
    reply = await server.get("/healthz")
    assert (reply.status, reply.body) == (200, b"the user's own")
    assert (await server.get("/readyz")).status == 404


@pytest.mark.asyncio
async def test_only_get_and_head_are_answered(perfectws_serve) -> None:
    """A POST to /healthz is routed like any request (here: no route, 404)."""
    server = await perfectws_serve(Routes(), health_checks=True)
    assert (await server.request("POST", "/healthz", body=b"x")).status == 404
