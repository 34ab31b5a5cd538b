"""TLS: https on the server's own port from Perfect's settings; wss once the TLS transport lands."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from tornado.httpclient import AsyncHTTPClient
from websockets.asyncio.client import connect

from perfectws import (
    GET,
    ConfigurationError,
    HTTPRequest,
    HTTPResponse,
    HTTPServer,
    OpenSSLVerifyMode,
    TLSConfiguration,
)
from tests.helpers import echo_routes, timeout


class Certs:
    """A CA made by trustme, a server certificate for 127.0.0.1, as files and PEM."""

    def __init__(self, tmp_path: Path) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert_pem = b"".join(b.bytes() for b in cert.cert_chain_pems).decode()
        self.key_pem = cert.private_key_pem.bytes().decode()
        self.cert_path = tmp_path / "cert.pem"
        self.key_path = tmp_path / "key.pem"
        self.cert_path.write_text(self.cert_pem)
        self.key_path.write_text(self.key_pem)
        self.ca_path = tmp_path / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


def routes() -> Any:
    table = echo_routes()

    def hello(request: HTTPRequest, response: HTTPResponse) -> None:
        response.set_body(string="hello over tls").completed()

    table.add(method=GET, uri="hello", handler=hello)
    return table


async def https_get(port: int, certs: Certs, path: str = "/hello") -> Any:
    return await AsyncHTTPClient().fetch(
        f"https://127.0.0.1:{port}{path}",
        ssl_options=certs.client_context(),
        raise_error=False,
        request_timeout=timeout(5),
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("form", ["paths", "pem"])
async def test_https_from_server_ssl(certs: Certs, form: str, log_guard: Any) -> None:
    """server.ssl = (cert, key), as paths or PEM text, serves https on its port."""
    log_guard.expect("tornado", "SSL Error")  # the plain-HTTP attempt below
    server = HTTPServer(server_port=0, server_address="127.0.0.1")
    server.add_routes(routes())
    if form == "paths":
        server.ssl = (str(certs.cert_path), str(certs.key_path))
    else:
        server.ssl = (certs.cert_pem, certs.key_pem)
    port = server.listen()
    try:
        response = await https_get(port, certs)
        assert response.code == 200 and response.body == b"hello over tls"
        with pytest.raises(OSError):
            # Plain HTTP on the TLS port is not served.
            await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{port}/hello", request_timeout=timeout(2)
            )
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_client_certificates_required(certs: Certs, log_guard: Any) -> None:
    """certVerifyMode failIfNoPeerCert with caCert: a client without one is refused."""
    log_guard.expect("tornado", "SSL Error")
    server = HTTPServer(server_port=0, server_address="127.0.0.1")
    server.add_routes(routes())
    server.ssl = (str(certs.cert_path), str(certs.key_path))
    server.ca_cert = str(certs.ca_path)
    server.cert_verify_mode = (
        OpenSSLVerifyMode.SSL_VERIFY_PEER_WITH_FAIL_IF_NO_PEER_CERT
    )
    port = server.listen()
    try:
        with pytest.raises(OSError):
            await AsyncHTTPClient().fetch(
                f"https://127.0.0.1:{port}/hello",
                ssl_options=certs.client_context(),
                request_timeout=timeout(3),
            )
        client_cert = certs.ca.issue_cert("client@example.com")
        context = certs.client_context()
        client_cert.configure_cert(context)
        response = await AsyncHTTPClient().fetch(
            f"https://127.0.0.1:{port}/hello", ssl_options=context
        )
        assert response.body == b"hello over tls"
    finally:
        await server.stop()


def test_bad_tls_material_is_a_configuration_error(
    certs: Certs, tmp_path: Path
) -> None:
    """A missing file, a key that does not match, no usable cipher: clear errors."""
    server = HTTPServer(server_port=0, server_address="127.0.0.1")
    server.ssl = (str(tmp_path / "nope.pem"), str(certs.key_path))
    with pytest.raises(ConfigurationError, match="no such file"):
        server.listen()
    other = trustme.CA().issue_cert("127.0.0.1").private_key_pem.bytes().decode()
    server.ssl = (certs.cert_pem, other)
    with pytest.raises(ConfigurationError, match="could not be loaded"):
        server.listen()
    server.ssl = (certs.cert_pem, certs.key_pem)
    server.cipher_list = ["NOT-A-CIPHER"]
    with pytest.raises(ValueError, match="^cipherList"):
        server.listen()
    tls = TLSConfiguration(
        cert_path=str(certs.cert_path),
        cert_verify_mode=OpenSSLVerifyMode.SSL_VERIFY_PEER,
    )
    with pytest.raises(ConfigurationError, match="needs caCert"):
        tls.ssl_context()


@pytest.mark.asyncio
async def test_wss_echo(certs: Certs) -> None:
    """The websockets client over wss:// with the trustme CA echoes."""
    server = HTTPServer(server_port=0, server_address="127.0.0.1")
    server.add_routes(routes())
    server.ssl = (str(certs.cert_path), str(certs.key_path))
    port = server.listen()
    try:
        async with connect(
            f"wss://127.0.0.1:{port}/echo",
            subprotocols=["echo"],
            ssl=certs.client_context(),
            open_timeout=timeout(3),
            close_timeout=timeout(1),
        ) as ws:
            # Small and large messages, several in flight: large frames leave
            # with sendmsg() on the plain path, and TLS records can hold more
            # than one frame, so both must be right for this to pass.
            messages = ["secure", "x" * 200_000, "y" * 70_000, "last"]
            for message in messages:
                await ws.send(message)
            for message in messages:
                assert await asyncio.wait_for(ws.recv(), timeout(3)) == message
    finally:
        await server.stop()
