"""Drive the demo page (webroot/) in headless Chromium against examples/echo_server.py.

The same page runs twice: over http with ws://, and over https with wss:// (the
example's ``--cert`` / ``--key``, a certificate from a trustme CA that Chromium
does not know, hence ``--ignore-certificate-errors``).

Chromium comes from Debian (`apt-get install -y chromium`, or scripts/chromium.sh),
never from `playwright install`. Playwright's sync API is used from a plain sync test
(it must not run inside a running asyncio loop).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import trustme
from playwright.sync_api import (
    ConsoleMessage,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from tests.example_process import UNIT, ExampleProcess, run_example

CHROMIUM_HINT = "apt-get install -y chromium, or set PERFECTWS_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Must match longPayload() in webroot/app.js.
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
LONG_TEXT = (_ALPHABET * (100_000 // len(_ALPHABET) + 1))[:100_000]


def _missing_chromium(reason: str) -> NoReturn:
    message = f"{reason}: {CHROMIUM_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def chromium() -> str:
    """The Chromium executable: $PERFECTWS_CHROMIUM, /usr/bin/chromium, PATH."""
    configured = os.environ.get("PERFECTWS_CHROMIUM")
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        pytest.fail(f"PERFECTWS_CHROMIUM={configured!r} is not an executable file")
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _missing_chromium("no Chromium found")


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[ExampleProcess]:
    with run_example("echo_server.py", tmp_path) as server:
        yield server


@pytest.fixture
def tls_echo_server(tmp_path: Path) -> Iterator[ExampleProcess]:
    """examples/echo_server.py serving https and wss with a trustme certificate."""
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key_path))
    args = ("--cert", str(cert_path), "--key", str(key_path))
    with run_example("echo_server.py", tmp_path, *args) as server:
        yield server


def on_console(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


def last_echo(page: Page) -> Locator:
    return page.locator("#log li.echo").last


@pytest.mark.browser
def test_demo_page_in_chromium(
    chromium: str, echo_server: ExampleProcess, tmp_path: Path
) -> None:
    run_demo(
        chromium,
        echo_server,
        page_url=echo_server.url,
        ws_url=f"ws://127.0.0.1:{echo_server.port}/echo",
        shot=tmp_path / "demo.png",
    )


@pytest.mark.browser
def test_demo_page_over_https_in_chromium(
    chromium: str, tls_echo_server: ExampleProcess, tmp_path: Path
) -> None:
    """The page comes over https and its echo runs over wss, on the same port."""
    port = tls_echo_server.port
    run_demo(
        chromium,
        tls_echo_server,
        page_url=f"https://127.0.0.1:{port}/",
        ws_url=f"wss://127.0.0.1:{port}/echo",
        shot=tmp_path / "demo-https.png",
        extra_args=["--ignore-certificate-errors"],
    )


def run_demo(
    chromium: str,
    server: ExampleProcess,
    *,
    page_url: str,
    ws_url: str,
    shot: Path,
    extra_args: list[str] | None = None,
) -> None:
    """Open the demo, echo text, binary and 100,000 chars, reconnect; check the DOM."""
    ms = 10_000 * UNIT
    message = "hello from Chromium"
    page_errors: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=[*CHROMIUM_ARGS, *(extra_args or [])]
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 860})
            page.set_default_timeout(ms)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.on("console", lambda m: on_console(m, page_errors))
            page.goto(page_url)
            expect(page).to_have_url(page_url)

            # Connected with the negotiated subprotocol, on the scheme's own URL.
            expect(page.locator("#state")).to_have_text("open", timeout=ms)
            expect(page.locator("#proto")).to_have_text("echo")
            expect(page.locator("#url")).to_have_text(ws_url)

            # Text: Enter sends, the echo comes back and matches.
            page.fill("#msg", message)
            page.press("#msg", "Enter")
            expect(page.locator("#log li.sent").last).to_contain_text(message)
            echo = last_echo(page)
            expect(echo).to_contain_text(message, timeout=ms)
            expect(echo).to_have_attribute("data-type", "text")
            expect(echo).to_have_attribute("data-match", "true")
            expect(page.locator("#msg")).to_have_value("")

            # The Send button works too.
            page.fill("#msg", "second, via the button")
            page.click("#send")
            expect(last_echo(page)).to_contain_text("second, via the button")

            # Binary: 8 ASCII bytes; EchoHandler answers every frame as text.
            page.click("#binary")
            sent = page.locator("#log li.sent").last
            expect(sent).to_have_attribute("data-type", "binary")
            expect(sent).to_contain_text("62 69 6e 61 72 79 21 21")
            echo = last_echo(page)
            expect(echo).to_contain_text("binary!!", timeout=ms)
            expect(echo.locator(".type")).to_have_text("text")
            expect(echo).to_have_attribute("data-match", "true")

            # Long: 100,000 chars, echoed whole.
            page.click("#long")
            echo = last_echo(page)
            expect(echo).to_contain_text("100,000 chars", timeout=ms)
            expect(echo).to_have_attribute("data-match", "true")
            expect(echo.locator(".match")).to_have_text(re.compile("matches"))
            expect(page.locator("#log li.sent")).to_have_count(4)
            expect(page.locator("#log li.echo")).to_have_count(4)

            # Disconnect shows the close code; Connect opens a new connection.
            page.click("#connect")
            expect(page.locator("#state")).to_have_text(
                re.compile(r"^closed \(code 1000\b"), timeout=ms
            )
            expect(page.locator("#send")).to_be_disabled()
            expect(page.locator("#connect")).to_have_text("Connect")
            page.click("#connect")
            expect(page.locator("#state")).to_have_text("open", timeout=ms)
            expect(page.locator("#connect")).to_have_text("Disconnect")

            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if keep := os.environ.get("PERFECTWS_DEMO_SCREENSHOT"):
                shutil.copyfile(shot, keep)
        finally:
            browser.close()

    assert page_errors == []
    # The handler printed what it read (Perfect's `Read msg: ... op: ...` line).
    server.wait_for_output(f"Read msg: {message} op: ")
    server.wait_for_output("Read msg: binary!! op: ")
    server.wait_for_output(f"Read msg: {LONG_TEXT} op: ")
