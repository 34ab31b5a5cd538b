"""The three ported Perfect mains as users run them: subprocesses, real clients, http, https, ws."""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
import zlib
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect

from tests.example_process import run_example

EXAMPLES = [
    "websockets_server_1x.py",
    "perfect_template_launch.py",
    "perfect_template_config.py",
]


def tls_files(tmp_path: Path) -> tuple[trustme.CA, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, str(cert_path), str(key_path)


async def echo(url: str, context: ssl.SSLContext | None = None) -> list[str]:
    async with connect(url, subprotocols=["echo"], ssl=context) as ws:
        replies = []
        for message in ["hello", "x" * 100_000]:
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(reply, str)
            replies.append(reply)
        return replies


@pytest.mark.parametrize("script", EXAMPLES)
def test_http_and_ws(script: str, tmp_path: Path) -> None:
    """Each main serves the webroot over http and echoes over ws."""
    with run_example(script, tmp_path, "--host", "127.0.0.1") as server:
        assert asyncio.run(echo(server.ws_url())) == ["hello", "x" * 100_000]
        with urllib.request.urlopen(server.url + "index.html", timeout=5) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()


@pytest.mark.parametrize("script", EXAMPLES)
def test_https(script: str, tmp_path: Path) -> None:
    """With --cert/--key each main serves https on its port (trustme's CA)."""
    ca, cert, key = tls_files(tmp_path)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with run_example(script, tmp_path, "--cert", cert, "--key", key) as server:
        url = f"https://127.0.0.1:{server.port}/index.html"
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            assert response.status == 200
            assert b"<html" in response.read().lower()


@pytest.mark.parametrize("script", EXAMPLES)
def test_wss(script: str, tmp_path: Path) -> None:
    """With --cert/--key each main echoes over wss."""
    ca, cert, key = tls_files(tmp_path)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with run_example(script, tmp_path, "--cert", cert, "--key", key) as server:
        url = f"wss://127.0.0.1:{server.port}/echo"
        assert asyncio.run(echo(url, context)) == ["hello", "x" * 100_000]


def test_config_main_hello_and_compression(tmp_path: Path) -> None:
    """The configurationData main: its handler at /, deflate by its response filter."""
    with run_example("perfect_template_config.py", tmp_path) as server:
        request = urllib.request.Request(
            server.url, headers={"Accept-Encoding": "deflate"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Encoding"] == "deflate"
            assert b"Hello, world!" in zlib.decompress(response.read())


def test_launch_main_shortens_urls(tmp_path: Path) -> None:
    """The launch(name:port:routes:) main: /add redirects to /get/{key}, which answers JSON."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with run_example("perfect_template_launch.py", tmp_path) as server:
        with pytest.raises(urllib.error.HTTPError) as found:
            opener.open(server.url + "add", data=b"url=https://perfect.org", timeout=5)
        found.value.close()
        assert found.value.code == 302
        location = found.value.headers["Location"]
        assert location.startswith("/get/")
        with urllib.request.urlopen(server.url + location[1:], timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert b"https://perfect.org" in response.read()
