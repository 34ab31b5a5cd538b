"""The examples as users run them: real subprocesses, real clients."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.example_process import run_example, stop


def test_echo_server_echoes_prints_and_serves_the_demo(tmp_path: Path) -> None:
    """examples/echo_server.py echoes with `echo`, prints each message, serves webroot/."""

    async def talk(url: str) -> list[str | bytes]:
        async with connect(url, subprotocols=["echo"]) as ws:
            assert ws.subprotocol == "echo"
            await ws.send("hello")
            first = await ws.recv()
            await ws.send(["frag", "ment"])
            second = await ws.recv()
            third = await ws.recv()
            return [first, second, third]

    with run_example("echo_server.py", tmp_path) as server:
        # The example's handler echoes frame by frame with final=True, so a
        # fragmented message comes back as one message per frame.
        assert asyncio.run(talk(server.ws_url())) == ["hello", "frag", "ment"]
        server.wait_for_output("Read msg: hello op: text fin: True\n")
        server.wait_for_output("Read msg: frag op: text fin: False\n")
        server.wait_for_output("Read msg: ment op: continuation fin: False\n")
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"perfectws echo demo" in response.read()
        assert stop(server.proc, signal.SIGTERM) == 0


def test_echo_server_refuses_clients_without_the_echo_protocol(tmp_path: Path) -> None:
    """Without subprotocol `echo` the producer returns None: Perfect's 400."""

    async def refused(url: str) -> InvalidStatus:
        with pytest.raises(InvalidStatus) as raised:
            async with connect(url, subprotocols=["chat"]):
                pass
        return raised.value

    with run_example("echo_server.py", tmp_path) as server:
        error = asyncio.run(refused(server.ws_url()))
        assert error.response.status_code == 400
        assert error.response.body == b"WebSocket protocols not supported."


def test_conformance_server_echoes_frames_with_their_kind(tmp_path: Path) -> None:
    """examples/conformance_server.py echoes binary as binary and fragments as fragments."""

    async def talk(url: str) -> list[str | bytes]:
        async with connect(url, subprotocols=["echo"]) as ws:
            await ws.send(b"\x00\x01\xfe")
            binary = await ws.recv()
            await ws.send(["sn", "ow☃", "man"])
            text = await ws.recv()
            return [binary, text]

    with run_example("conformance_server.py", tmp_path) as server:
        assert asyncio.run(talk(server.ws_url())) == [b"\x00\x01\xfe", "snow☃man"]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_echo_server_with_two_processes_serves_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    """--processes 2 forks two workers on one port; SIGTERM stops all of them."""

    async def talk(url: str, count: int) -> list[str | bytes]:
        async def one(i: int) -> str | bytes:
            async with connect(url, subprotocols=["echo"]) as ws:
                await ws.send(f"m{i}")
                return await ws.recv()

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    with run_example("echo_server.py", tmp_path, "--processes", "2") as server:
        # The port accepts as soon as it is bound, which is before the forks.
        deadline = time.monotonic() + 5
        while len(workers := _children(server.proc.pid)) < 2:
            assert time.monotonic() < deadline, workers
            time.sleep(0.02)
        assert len(workers) == 2
        assert asyncio.run(talk(server.ws_url(), 20)) == [f"m{i}" for i in range(20)]
        assert stop(server.proc, signal.SIGTERM) == 0
        # The parent waits for its workers before it exits.
        assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []


@pytest.mark.parametrize(
    ("args", "loop"), [((), "uvloop"), (("--no-uvloop",), "asyncio")]
)
def test_echo_server_runs_on_uvloop_when_installed(
    tmp_path: Path, args: tuple[str, ...], loop: str
) -> None:
    """start() picks uvloop when installed; use_uvloop=False keeps asyncio's loop."""
    pytest.importorskip("uvloop")

    async def talk(url: str) -> str | bytes:
        async with connect(url, subprotocols=["echo"]) as ws:
            await ws.send("on " + loop)
            return await ws.recv()

    with run_example("echo_server.py", tmp_path, *args) as server:
        assert asyncio.run(talk(server.ws_url())) == "on " + loop
        assert stop(server.proc, signal.SIGTERM) == 0
        assert f"({loop})" in server.errors()
