"""Production behaviour of the example server as a real process: signals, workers,
the fd limit, --host.

Every server here is ``examples/echo_server.py`` with its defaults, run as a
subprocess (tests/example_process.py) and driven by the ``websockets``
library or raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from perfectws.server import REPEAT_GAP
from tests.example_process import UNIT, ExampleProcess, run_example
from tests.rawws import handshake

#: Clients connected when SIGTERM arrives.
CLIENTS = 300


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def wait_for_workers(server: ExampleProcess, count: int) -> set[int]:
    deadline = time.monotonic() + 10 * UNIT
    while len(workers := children(server.proc.pid)) < count:
        assert time.monotonic() < deadline, f"workers: {workers}"
        time.sleep(0.02)
    return workers


def silent_client(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A WebSocket that completes its handshake, then never reads nor answers."""
    sock = socket.create_connection((host, port), timeout=5 * UNIT)
    sock.sendall(handshake())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def refuses(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=2 * UNIT).close()
    except ConnectionRefusedError:
        return True
    return False


async def echo_once(url: str, text: str) -> str | bytes:
    async with connect(url, subprotocols=["echo"], open_timeout=10 * UNIT) as ws:
        await ws.send(text)
        return await asyncio.wait_for(ws.recv(), 5 * UNIT)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_closes_hundreds_of_clients_with_1001_and_exits_0(
    tmp_path: Path,
) -> None:
    """SIGTERM: every client sees 1001 within a second, the port refuses new
    connections at once, a client that never answers is dropped after the
    close timeout, and the process exits 0."""
    with run_example("echo_server.py", tmp_path) as server:
        silent = silent_client(server.port)

        async def scenario() -> tuple[list[int | None], float, bool, bool]:
            clients: list[ClientConnection] = []
            for start in range(0, CLIENTS, 50):  # the listen backlog is 128
                clients += await asyncio.gather(
                    *(
                        connect(server.ws_url(), subprotocols=["echo"])
                        for _ in range(start, min(start + 50, CLIENTS))
                    )
                )
            for i, ws in enumerate(clients):
                await ws.send(f"m{i}")
            assert [await ws.recv() for ws in clients] == [
                f"m{i}" for i in range(CLIENTS)
            ]

            async def close_code(ws: ClientConnection) -> int | None:
                with contextlib.suppress(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5 * UNIT)
                await ws.wait_closed()
                return ws.close_code

            signalled = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(*(close_code(ws) for ws in clients))
            took = time.monotonic() - signalled
            loop = asyncio.get_running_loop()
            now_refused = await loop.run_in_executor(None, refuses, server.port)
            still_draining = server.proc.poll() is None
            return codes, took, now_refused, still_draining

        codes, took, now_refused, still_draining = asyncio.run(scenario())
        began = time.monotonic()
        assert {code: codes.count(code) for code in set(codes)} == {1001: CLIENTS}
        assert took < 1.0 * UNIT
        # The silent client keeps the drain going (up to its close timeout),
        # and meanwhile nothing accepts.
        assert still_draining and now_refused
        silent.settimeout(5 * UNIT)
        assert silent.recv(2) == b"\x88\x16"  # Close, 22 bytes: 1001 + reason
        assert server.proc.wait(timeout=10 * UNIT) == 0
        assert time.monotonic() - began < 6 * UNIT
        silent.close()
        assert "Traceback" not in server.errors()


@pytest.mark.parametrize(
    "script", ["echo_server.py", "perfect_template_launch.py"], ids=["start", "launch"]
)
def test_second_sigterm_exits_at_once(tmp_path: Path, script: str) -> None:
    """A second SIGTERM does not wait for the drain: exit 0 right away
    (HTTPServer.start() and HTTPServer.launch() alike)."""
    with run_example(script, tmp_path) as server:
        silent = silent_client(server.port)
        server.proc.send_signal(signal.SIGTERM)
        silent.settimeout(5 * UNIT)
        assert silent.recv(4) == b"\x88\x16\x03\xe9"  # Close 1001
        time.sleep(REPEAT_GAP + 0.2)
        assert server.proc.poll() is None  # draining: the peer never answers
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=5 * UNIT) == 0
        assert time.monotonic() - signalled < 1.0 * UNIT
        silent.close()


# ----------------------------------------------------------------- workers


def test_workers_stop_together_and_no_process_keeps_the_port(
    tmp_path: Path,
) -> None:
    """--processes 2, SIGTERM: new connections are refused at once (no process
    keeps the listening socket while the workers drain), every client sees 1001,
    the parent exits 0 after its workers, and none is left behind."""
    with run_example("echo_server.py", tmp_path, "--processes", "2") as server:
        workers = wait_for_workers(server, 2)
        # Enough silent peers that both workers are likely to hold one; one
        # is enough to keep the parent waiting.
        silent = [silent_client(server.port) for _ in range(8)]

        async def clients_then_sigterm() -> tuple[list[int | None], bool]:
            clients = await asyncio.gather(
                *(connect(server.ws_url(), subprotocols=["echo"]) for _ in range(40))
            )
            server.proc.send_signal(signal.SIGTERM)
            codes = []
            for ws in clients:
                with contextlib.suppress(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5 * UNIT)
                await ws.wait_closed()
                codes.append(ws.close_code)
            loop = asyncio.get_running_loop()
            return codes, await loop.run_in_executor(None, refuses, server.port)

        codes, now_refused = asyncio.run(clients_then_sigterm())
        assert codes == [1001] * 40
        assert server.proc.poll() is None  # still waiting for its workers
        assert now_refused
        assert server.proc.wait(timeout=10 * UNIT) == 0
        assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
        for sock in silent:
            sock.close()


def test_sigterm_to_every_process_at_once_still_drains(tmp_path: Path) -> None:
    """systemd's default KillMode signals the parent and every worker at once:
    each worker gets SIGTERM twice (direct and passed on) and still drains
    gracefully rather than taking the second copy as "stop now"."""
    with run_example("echo_server.py", tmp_path, "--processes", "2") as server:
        workers = wait_for_workers(server, 2)
        silent = [silent_client(server.port) for _ in range(8)]
        signalled = time.monotonic()
        for pid in (server.proc.pid, *workers):
            os.kill(pid, signal.SIGTERM)
        time.sleep(1.0)
        # A silent peer holds its worker until the close timeout (5 s).
        assert server.proc.poll() is None
        assert server.proc.wait(timeout=10 * UNIT) == 0
        assert time.monotonic() - signalled >= 4.0
        for sock in silent:
            sock.close()


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(
    tmp_path: Path,
) -> None:
    """kill -9 on a worker: the parent starts another; clients are served throughout."""
    with run_example("echo_server.py", tmp_path, "--processes", "2") as server:
        workers = wait_for_workers(server, 2)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        url = server.ws_url()
        # The survivor serves while the replacement starts.
        assert asyncio.run(echo_once(url, "during")) == "during"
        deadline = time.monotonic() + 10 * UNIT
        while True:
            now = children(server.proc.pid)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        replacement = (now - workers).pop()

        async def many() -> list[str | bytes]:
            return list(
                await asyncio.gather(*(echo_once(url, f"m{i}") for i in range(30)))
            )

        assert asyncio.run(many()) == [f"m{i}" for i in range(30)]
        assert "was killed by SIGKILL; starting a new one" in server.stderr.read_text()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10 * UNIT) == 0
        assert not Path(f"/proc/{replacement}").exists()


# ------------------------------------------------------------ the fd limit

#: The server's RLIMIT_NOFILE in the fd test: what Python and the loop need,
#: plus a few dozen connections.
FD_LIMIT = 64


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_at_the_fd_limit_accepting_backs_off_and_resumes(tmp_path: Path) -> None:
    """At its fd limit the server neither spins nor floods its log; once fds
    free up, new clients are served within seconds."""
    with run_example("echo_server.py", tmp_path, preexec_fn=_limit_fds) as server:
        hogs = []
        for _ in range(FD_LIMIT + 30):  # more than the server can hold
            hogs.append(socket.create_connection(("127.0.0.1", server.port)))
        time.sleep(1.0)  # the server fills its table and backs off
        before = cpu_seconds(server.proc.pid)
        time.sleep(3.0)
        used = cpu_seconds(server.proc.pid) - before
        errors = server.errors()
        backoffs = errors.count("cannot accept connections: Too many open files")
        assert used < 0.3, f"{used:.2f} s of CPU in 3 s at the fd limit"
        assert 1 <= backoffs <= 6, errors[-1000:]
        assert "Traceback" not in errors
        for sock in hogs:
            sock.close()
        began = time.monotonic()
        assert asyncio.run(echo_once(server.ws_url(), "back")) == "back"
        assert time.monotonic() - began < 5 * UNIT


# -------------------------------------------------------------------- --host


@pytest.mark.parametrize(
    "script",
    [
        "echo_server.py",
        "conformance_server.py",
        "websockets_server_1x.py",
        "perfect_template_launch.py",
        "perfect_template_config.py",
    ],
)
def test_examples_take_host(tmp_path: Path, script: str) -> None:
    """Every example: --host :: serves IPv4 and IPv6; --host 127.0.0.1 only IPv4."""
    with run_example(script, tmp_path, "--host", "::") as server:
        for host in ("127.0.0.1", "[::1]"):
            url = f"ws://{host}:{server.port}/echo"
            assert asyncio.run(echo_once(url, host)) == host
    with run_example(script, tmp_path, "--host", "127.0.0.1") as server:
        assert asyncio.run(echo_once(server.ws_url(), "v4")) == "v4"
        assert refuses(server.port, "::1")


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL reaches the parent alone; the kernel then SIGTERMs every worker."""
    with run_example("echo_server.py", tmp_path, "--processes", "2") as server:
        workers = wait_for_workers(server, 2)
        server.proc.kill()
        server.proc.wait(timeout=5 * UNIT)
        deadline = time.monotonic() + 10 * UNIT
        while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers left behind: {workers}"
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its parent, init, reaps it)
