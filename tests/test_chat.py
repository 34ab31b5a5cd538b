"""examples/chat_server.py as subprocesses: the demo's protocol, across processes
through a real Redis, a Redis restart mid-chat, a client that never reads, and
the chat page in Chromium on two processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.example_process import UNIT, ExampleProcess, run_example, stop
from tests.rawws import frame, handshake
from tests.redis_process import RedisProcess, redis_server_fixture  # noqa: F401


@contextlib.contextmanager
def chat_server(tmp_path: Path, name: str, *args: str) -> Iterator[ExampleProcess]:
    """examples/chat_server.py on a free port, its output under tmp_path/name."""
    folder = tmp_path / name
    folder.mkdir()
    with run_example("chat_server.py", folder, "--host", "127.0.0.1", *args) as server:
        yield server


class ChatClient:
    """A user of the demo's protocol over a websockets connection."""

    def __init__(self, ws: ClientConnection, email: str, name: str) -> None:
        self.ws = ws
        self.user = {"email": email, "displayName": name, "avatar": ""}
        self.name = name
        self.seen: list[dict[str, str]] = []

    @classmethod
    async def join(cls, server: ExampleProcess, email: str, name: str) -> ChatClient:
        ws = await connect(server.ws_url("/chat"), subprotocols=["chat"])
        assert ws.subprotocol == "chat"
        client = cls(ws, email, name)
        await ws.send(json.dumps(client.user))
        # As in Swift, the joiner hears the Bot announce them too.
        await client.expect(f"Bot: {name} Joined")
        return client

    async def post(self, text: str) -> None:
        await self.ws.send(json.dumps({**self.user, "message": text}))

    async def expect(self, message: str, seconds: float = 5) -> dict[str, str]:
        """Read until ``message`` arrives (other messages are kept in ``seen``)."""
        deadline = time.monotonic() + seconds * UNIT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{self.name} never received {message!r}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                continue
            received = json.loads(raw)
            self.seen.append(received)
            if received["message"] == message:
                return received

    async def got_within(self, message: str, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.expect(message, 1000), seconds)
            return True
        except TimeoutError:
            return False

    def never_heard_themselves(self) -> bool:
        return all(m["user"] != self.name for m in self.seen)


async def crosses(
    sender: ChatClient, receiver: ChatClient, seconds: float = 5
) -> float:
    """Post probes until one reaches ``receiver``; the seconds it took."""
    started = time.monotonic()
    n = 0
    while True:
        n += 1
        text = f"probe {n} from {sender.name}"
        await sender.post(text)
        if await receiver.got_within(f"{sender.name}: {text}", 0.2):
            return time.monotonic() - started
        if time.monotonic() - started > seconds * UNIT:
            pytest.fail(f"no post from {sender.name} reached {receiver.name}")


@pytest.mark.asyncio
async def test_the_demo_protocol_in_one_process(tmp_path: Path) -> None:
    with chat_server(tmp_path, "one") as server:
        page = urllib.request.urlopen(server.url, timeout=5 * UNIT).read().decode()
        assert "chat.js" in page
        ann = await ChatClient.join(server, "ann@example.com", "Ann")
        bob = await ChatClient.join(server, "bob@example.com", "Bob")
        await ann.expect("Bot: Bob Joined")
        cy = await ChatClient.join(server, "cy@example.com", "Cy")
        await ann.expect("Bot: Cy Joined")
        await bob.expect("Bot: Cy Joined")

        # A post reaches every other user in the demo's shape, never its sender.
        await ann.post("hello")
        got = await bob.expect("Ann: hello")
        assert got == {"user": "Ann", "message": "Ann: hello", "avatar": ""}
        await cy.expect("Ann: hello")

        # Bad input is ignored and the session goes on reading.
        for bad in ["not json", "[1, 2]", '{"email": 1}']:
            await ann.ws.send(bad)
        await ann.ws.send(json.dumps({**ann.user, "message": "after bad input"}))
        await bob.expect("Ann: after bad input")

        # One connection's posts arrive in the order sent.
        for i in range(100):
            await cy.post(f"n{i}")
        for i in range(100):
            await bob.expect(f"Cy: n{i}", 1)
        await cy.expect("Ann: after bad input")
        assert not any(m["message"].startswith("Cy: n") for m in cy.seen)

        # Users are keyed by email: a post under Bob's email is not sent to Bob.
        await cy.ws.send(
            json.dumps(
                {
                    "email": "bob@example.com",
                    "displayName": "B2",
                    "avatar": "",
                    "message": "x",
                }
            )
        )
        await ann.expect("B2: x")
        await bob.ws.close()
        await ann.expect("Bot: Bob Left")
        assert all(m["message"] != "B2: x" for m in bob.seen)
        assert ann.never_heard_themselves() and cy.never_heard_themselves()
        await ann.ws.close()
        await cy.ws.close()
        assert stop(server.proc) == 0
    assert "Read msg: not json op: text fin: True" in server.output()
    assert "Failed to decode JSON from Received Socket Message" in server.output()


@pytest.mark.asyncio
async def test_two_processes_on_two_ports_share_a_room_through_redis(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    redis = ("--redis", redis_server.url)
    with (
        chat_server(tmp_path, "a", *redis) as a,
        chat_server(tmp_path, "b", *redis) as b,
    ):
        ann = await ChatClient.join(a, "ann@example.com", "Ann")
        amy = await ChatClient.join(a, "amy@example.com", "Amy")
        bob = await ChatClient.join(b, "bob@example.com", "Bob")
        await crosses(ann, bob)
        await crosses(bob, ann)
        await ann.post("to everyone")
        await amy.expect("Ann: to everyone")
        await bob.expect("Ann: to everyone")
        await bob.post("back")
        await ann.expect("Bob: back")
        await amy.expect("Bob: back")
        await bob.ws.close()
        await ann.expect("Bot: Bob Left")
        assert ann.never_heard_themselves() and bob.never_heard_themselves()
        assert amy.never_heard_themselves()
        await ann.ws.close()
        await amy.ws.close()


def worker_of(server: ExampleProcess, client: ChatClient) -> int | None:
    """The worker PID the example logged for this client's connection."""
    port = client.ws.local_address[1]
    text = server.stderr.read_text(errors="replace")
    found = re.search(
        rf"chat connection from 127\.0\.0\.1:{port} on worker (\d+)", text
    )
    return int(found.group(1)) if found else None


@pytest.mark.asyncio
async def test_processes_2_on_one_port_with_redis(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    with chat_server(
        tmp_path, "workers", "--processes", "2", "--redis", redis_server.url
    ) as server:
        clients: list[ChatClient] = []
        workers: dict[int, ChatClient] = {}
        for i in range(40):
            client = await ChatClient.join(server, f"u{i}@example.com", f"U{i}")
            clients.append(client)
            pid = worker_of(server, client)
            assert pid is not None and pid != server.proc.pid
            workers.setdefault(pid, client)
            if len(workers) == 2:
                break
        assert len(workers) == 2, "the kernel put every connection on one worker"
        one, two = workers.values()
        await crosses(one, two)
        await crosses(two, one)
        await one.post("across workers")
        for client in clients:
            if client is not one:
                await client.expect(f"{one.name}: across workers")
        assert all(c.never_heard_themselves() for c in clients)
        for client in clients:
            await client.ws.close()
        assert stop(server.proc) == 0


@pytest.mark.asyncio
async def test_redis_killed_and_restarted_mid_chat(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    redis = ("--redis", redis_server.url)
    with (
        chat_server(tmp_path, "a", *redis) as a,
        chat_server(tmp_path, "b", *redis) as b,
    ):
        ann = await ChatClient.join(a, "ann@example.com", "Ann")
        amy = await ChatClient.join(a, "amy@example.com", "Amy")
        bob = await ChatClient.join(b, "bob@example.com", "Bob")
        bea = await ChatClient.join(b, "bea@example.com", "Bea")
        await crosses(ann, bob)
        await crosses(bob, ann)

        redis_server.kill()
        # Local users keep hearing each other, at once, on both sides.
        for i in range(20):
            await ann.post(f"down {i}")
            await bob.post(f"down {i}")
            await amy.expect(f"Ann: down {i}", 2)
            await bea.expect(f"Bob: down {i}", 2)
            await asyncio.sleep(0.05)

        redis_server.start()
        # Cross-process delivery resumes by itself, both ways, within 5 s.
        assert await crosses(ann, bob, 5) < 5 * UNIT
        assert await crosses(bob, ann, 5) < 5 * UNIT
        await ann.post("after the restart")
        await bea.expect("Ann: after the restart")
        await bob.expect("Ann: after the restart")

        # Nobody was disconnected; each process said once that Redis was gone.
        for client in (ann, amy, bob, bea):
            await client.ws.ping()
            assert client.never_heard_themselves()
            await client.ws.close()
        for server in (a, b):
            log = server.stderr.read_text(errors="replace")
            assert log.count("is unreachable") == 1, log[-3000:]
            assert "is back" in log


async def non_reading_member(port: int) -> socket.socket:
    """Joins the room over a raw socket with a tiny buffer, then never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, handshake("/chat", protocol="chat"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += await asyncio.wait_for(loop.sock_recv(sock, 1), 5 * UNIT)
    assert head.startswith(b"HTTP/1.1 101")
    join = {"email": "stuck@example.com", "displayName": "Stuck", "avatar": ""}
    await loop.sock_sendall(sock, frame(0x1, json.dumps(join).encode()))
    return sock


@pytest.mark.asyncio
async def test_a_client_that_never_reads_does_not_slow_a_busy_room(
    tmp_path: Path,
) -> None:
    with chat_server(tmp_path, "busy") as server:
        readers = [
            await ChatClient.join(server, f"r{i}@example.com", f"R{i}")
            for i in range(5)
        ]
        stuck = await non_reading_member(server.port)
        await readers[0].expect("Bot: Stuck Joined")
        poster = await ChatClient.join(server, "p@example.com", "P")
        text = "y" * 1000
        total = 2000  # 2 MB to the member that does not read
        started = time.monotonic()
        for i in range(total):
            await poster.post(f"{i} {text}")
        for reader in readers:
            for i in range(total):
                await reader.expect(f"P: {i} {text}", 10)
        elapsed = time.monotonic() - started
        assert elapsed < 20 * UNIT
        # The room still answers at once.
        await readers[0].post("still quick")
        assert await readers[1].got_within("R0: still quick", 1 * UNIT)
        stuck.close()
        await readers[1].expect("Bot: Stuck Left")
        for client in [*readers, poster]:
            await client.ws.close()
        assert stop(server.proc) == 0


# --------------------------------------------------------------- Chromium

from tests.test_browser import CHROMIUM_ARGS, chromium  # noqa: E402, F401


@pytest.mark.browser
def test_two_pages_on_two_processes_see_each_others_posts(
    chromium: str,  # noqa: F811
    tmp_path: Path,
    redis_server: RedisProcess,
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    ms = 10_000 * UNIT
    redis = ("--redis", redis_server.url)
    errors: list[str] = []

    def open_page(browser: Any, server: ExampleProcess, email: str, name: str) -> Page:
        page: Page = browser.new_page()
        page.set_default_timeout(ms)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.url)
        expect(page.locator("#state")).to_have_text("open")
        page.fill("#email", email)
        page.fill("#name", name)
        page.click("#join-button")
        expect(page.locator("#log li .text").last).to_have_text(f"Bot: {name} Joined")
        return page

    def post_until_seen(sender: Page, receiver: Page, name: str) -> None:
        # The first post may leave before the other process has subscribed.
        for n in range(1, 40):
            sender.fill("#message", f"hello {n} from {name}")
            sender.press("#message", "Enter")
            seen = receiver.locator("#log li", has_text=f"{name}: hello {n} from")
            try:
                expect(seen).to_have_count(1, timeout=500 * UNIT)
                return
            except AssertionError:
                continue
        pytest.fail(f"{name}'s posts never reached the other page")

    with (
        chat_server(tmp_path, "a", *redis) as a,
        chat_server(tmp_path, "b", *redis) as b,
    ):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                ann = open_page(browser, a, "ann@example.com", "Ann")
                bob = open_page(browser, b, "bob@example.com", "Bob")
                post_until_seen(ann, bob, "Ann")
                post_until_seen(bob, ann, "Bob")
                # The sender shows its own post once, from the page itself.
                expect(
                    ann.locator("#log li.mine", has_text="Ann: hello")
                ).not_to_have_count(0)
                expect(bob.locator("#log li[data-user='Ann']").first).to_be_visible()
            finally:
                browser.close()
        assert stop(a.proc, signal.SIGTERM) == 0
        assert stop(b.proc, signal.SIGTERM) == 0
    assert errors == []
