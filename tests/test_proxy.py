"""Behind a proxy: X-Forwarded-For/-Proto and Forwarded, from trusted peers only.

Every request goes over a real socket. The whole of 127.0.0.0/8 is loopback on
Linux, so a client bound to 127.0.0.2 is a peer that is *not* the trusted
127.0.0.1: that is how the spoofing tests connect.
"""

from __future__ import annotations

import asyncio

import pytest

from perfectws import (
    GET,
    HTTPRequest,
    HTTPResponse,
    PerfectWSError,
    Routes,
    WebSocket,
    WebSocketHandler,
    testing,
)
from perfectws._proxy import ProxyConfigError
from tests.helpers import timeout

perfectws_serve = testing.perfectws_serve


def who(request: HTTPRequest, response: HTTPResponse) -> None:
    assert request.remote_address is not None
    host, port = request.remote_address
    response.set_body(f"{host} {port} {request.scheme}").completed()


class SaysWho:
    socket_protocol = "who"

    def handle_session(self, request: HTTPRequest, socket: WebSocket) -> None:
        assert request.remote_address is not None
        socket.send_string_message(f"{request.remote_address[0]} {request.scheme}")


def routes() -> Routes:
    r = Routes()
    r[GET, "/who"] = who
    r[GET, "/ws"] = WebSocketHandler(
        handler_producer=lambda request, protocols: SaysWho()
    ).handle_request
    return r


async def ask(port: int, headers: dict[str, str], source: str = "127.0.0.1") -> str:
    """GET /who from ``source`` with ``headers``; the body the server answers."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(source, 0)
    )
    try:
        lines = ["GET /who HTTP/1.1", "Host: x", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = await asyncio.wait_for(reader.read(), timeout(5))
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body.decode()


@pytest.mark.asyncio
async def test_x_forwarded_from_a_trusted_proxy(perfectws_serve) -> None:
    """The default trusted proxy 127.0.0.1 sets the client's address and scheme."""
    server = await perfectws_serve(routes(), proxy_headers=True)
    got = await ask(
        server.port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    )
    assert got == "203.0.113.7 0 https"


@pytest.mark.asyncio
async def test_rfc7239_forwarded(perfectws_serve) -> None:
    """Forwarded's for= (IPv6 with a port) and proto= are read, and win over X-*."""
    server = await perfectws_serve(routes(), proxy_headers=True)
    got = await ask(
        server.port,
        {
            "Forwarded": 'for="[2001:db8::1]:4711";proto=https;by=127.0.0.1',
            "X-Forwarded-For": "198.51.100.1",
        },
    )
    assert got == "2001:db8::1 4711 https"


@pytest.mark.asyncio
async def test_the_rightmost_untrusted_hop_is_the_client(perfectws_serve) -> None:
    """A client's own X-Forwarded-For entry is left of what its proxies append."""
    server = await perfectws_serve(
        routes(), proxy_headers=True, forwarded_allow_ips="127.0.0.1, 10.0.0.0/8"
    )
    # The client claims 6.6.6.6; the edge proxy saw it as 5.5.5.5; an inner
    # proxy (10.0.0.5, trusted) forwarded to us.
    got = await ask(server.port, {"X-Forwarded-For": "6.6.6.6, 5.5.5.5, 10.0.0.5"})
    assert got == "5.5.5.5 0 http"
    forwarded = "for=6.6.6.6;proto=https, for=5.5.5.5;proto=http, for=10.0.0.5"
    got = await ask(server.port, {"Forwarded": forwarded})
    assert got == "5.5.5.5 0 http"


@pytest.mark.asyncio
async def test_an_untrusted_peer_cannot_spoof(perfectws_serve) -> None:
    """A peer outside forwarded_allow_ips keeps its own address and scheme."""
    server = await perfectws_serve(routes(), proxy_headers=True)
    spoof = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "Forwarded": "for=203.0.113.8;proto=https",
    }
    got = await ask(server.port, spoof, source="127.0.0.2")
    host, _port, scheme = got.split()
    assert (host, scheme) == ("127.0.0.2", "http")


@pytest.mark.asyncio
async def test_headers_are_ignored_unless_proxy_headers(perfectws_serve) -> None:
    """Without proxy_headers even 127.0.0.1 cannot set the address."""
    server = await perfectws_serve(routes())
    got = await ask(server.port, {"X-Forwarded-For": "203.0.113.7"})
    assert got.split()[0] == "127.0.0.1"


@pytest.mark.asyncio
async def test_nonsense_values_change_nothing(perfectws_serve) -> None:
    """An unknown scheme or an empty list leaves the request as the socket says."""
    server = await perfectws_serve(routes(), proxy_headers=True)
    got = await ask(
        server.port, {"X-Forwarded-Proto": "javascript", "X-Forwarded-For": " , "}
    )
    assert got.split()[0] == "127.0.0.1" and got.split()[2] == "http"


@pytest.mark.asyncio
async def test_trust_everyone_with_star(perfectws_serve) -> None:
    """forwarded_allow_ips="*" trusts every peer (a proxy on a private network)."""
    server = await perfectws_serve(
        routes(), proxy_headers=True, forwarded_allow_ips="*"
    )
    got = await ask(server.port, {"X-Forwarded-For": "192.0.2.9"}, source="127.0.0.2")
    assert got.startswith("192.0.2.9 ")


@pytest.mark.asyncio
async def test_a_websocket_session_sees_the_forwarded_client(perfectws_serve) -> None:
    """The request a session handler gets carries the forwarded address too."""
    server = await perfectws_serve(routes(), proxy_headers=True)
    ws = await server.websocket(
        "/ws",
        protocols=["who"],
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    assert (await ws.read_frame()).text == "203.0.113.7 https"


def test_a_bad_trusted_list_is_refused_at_construction() -> None:
    """A typo in forwarded_allow_ips fails at once with a message, not at a request."""
    from perfectws import HTTPServer

    with pytest.raises(ProxyConfigError, match="not an IP address") as error:
        HTTPServer(proxy_headers=True, forwarded_allow_ips="127.0.0.1, localhostt")
    assert isinstance(error.value, ValueError)
    assert isinstance(error.value, PerfectWSError)
