"""Bounded load on loopback: many sessions at once, and connection churn.

Client (``websockets``) and server share this process and its event loop, so
``/proc/self/fd`` and RSS count both sides. Two consequences:

* the connect phase runs in batches (``CONNECT_BATCH`` handshakes in flight at
  a time): the listening socket's backlog is Tornado's 128, and a connect storm
  from the same loop that must also accept would overflow it and stall on SYN
  retransmits. Every session then stays open until all are connected, so the
  message phase really is concurrent.
* every count and wait is bounded; each test stops by itself.

The short versions run by default; the full ones are ``@pytest.mark.slow``
(``pytest -m slow``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.helpers import Served, timeout
from tests.rawws import RawClient, frame, handshake

pytestmark = pytest.mark.asyncio

ECHO = [Subprotocol("echo")]

CONNECT_BATCH = 100
# No proxy lookup (websockets reads the environment on every connect) and no
# permessage-deflate offer (the server does not negotiate extensions).
CLIENT: dict[str, Any] = {"subprotocols": ECHO, "compression": None, "proxy": None}


def open_fds() -> int:
    """File descriptors open in this process (client and server sides)."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def nofile() -> Iterator[int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one for the test; restore it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def message(session: int, i: int) -> str:
    # Every 10th message is 8 KiB, so some span several reads.
    body = f"{session}:{i}"
    return body * (8192 // len(body)) if i % 10 == 9 else body


async def run_sessions(served: Served, sessions: int, messages: int) -> int:
    """Open ``sessions`` at once, pipeline ``messages`` each, check every echo in order.

    Returns how many sessions the server had open at the peak.
    """
    url = served.ws_url()
    gate = asyncio.Semaphore(CONNECT_BATCH)
    connected = 0
    all_open = asyncio.Event()
    peak = 0

    async def session(n: int) -> list[str | bytes]:
        nonlocal connected, peak
        async with gate:
            ws = await connect(url, open_timeout=timeout(30), **CLIENT)
        async with ws:
            connected += 1
            if connected == sessions:
                peak = len(served.server.websockets)
                all_open.set()
            await all_open.wait()
            sent = [message(n, i) for i in range(messages)]
            for text in sent:
                await ws.send(text)
            received = [await ws.recv() for _ in sent]
            assert received == sent
            return received

    results = await asyncio.gather(*(session(n) for n in range(sessions)))
    assert [len(r) for r in results] == [messages] * sessions
    return peak


async def run_cycles(served: Served, cycles: int, parallel: int) -> None:
    """``cycles`` connect / echo / close, ``parallel`` of them at a time."""
    url = served.ws_url()
    done = 0

    async def worker(w: int) -> None:
        nonlocal done
        for c in range(w, cycles, parallel):
            async with connect(url, **CLIENT) as ws:
                await ws.send(f"cycle {c}")
                assert await ws.recv() == f"cycle {c}"
            assert ws.close_code == 1000
            done += 1

    await asyncio.gather(*(worker(w) for w in range(parallel)))
    assert done == cycles


async def settle(served: Served, fds: int | None = None) -> int:
    """Wait (bounded) until the server has no sessions and the fds are back to ``fds``."""
    deadline = time.monotonic() + timeout(10)
    while time.monotonic() < deadline:
        if not served.server.websockets and (fds is None or open_fds() <= fds):
            break
        await asyncio.sleep(0.02)
    return open_fds()


async def baseline(served: Served) -> int:
    """The fd count with the server listening, after one warm-up cycle."""
    await run_cycles(served, 1, 1)
    return await settle(served)


# ------------------------------------------------------------------ short


async def test_200_concurrent_sessions_lose_and_reorder_nothing(
    echo_server: Served, nofile: int
) -> None:
    """200 sessions open at once, 20 pipelined messages each: all echoed in order."""
    fds = await baseline(echo_server)
    async with asyncio.timeout(timeout(60)):
        peak = await run_sessions(echo_server, 200, 20)
    assert peak == 200
    assert await settle(echo_server, fds) == fds


async def test_1000_cycles_return_fds_to_baseline(
    echo_server: Served, nofile: int
) -> None:
    """1,000 connect/echo/close cycles (20 at a time) leave no fd and no session behind."""
    fds = await baseline(echo_server)
    async with asyncio.timeout(timeout(60)):
        await run_cycles(echo_server, 1000, 20)
    assert await settle(echo_server, fds) == fds
    assert echo_server.server.websockets == frozenset()


@pytest.mark.parametrize("ending", ["reset", "eof", "close-then-reset"])
async def test_300_abrupt_disconnects_return_fds_to_baseline(
    echo_server: Served, nofile: int, ending: str
) -> None:
    """300 sessions that end without a closing handshake (20 at a time) leak nothing."""
    fds = await baseline(echo_server)

    async def abrupt(n: int) -> None:
        client = await RawClient.connect(echo_server.port, handshake())
        client.send(frame(0x1, b"%d" % n))
        assert await client.recv_frame() == (0x1, True, b"%d" % n)
        if ending == "eof":
            client.writer.write_eof()
            assert await client.at_eof()
            client.close()
            return
        if ending == "close-then-reset":
            client.send(frame(0x8, b"\x03\xe8"))
        client.writer.transport.abort()

    async with asyncio.timeout(timeout(60)):
        for batch in range(0, 300, 20):
            await asyncio.gather(*(abrupt(n) for n in range(batch, batch + 20)))
    assert await settle(echo_server, fds) == fds
    assert echo_server.server.websockets == frozenset()


# ------------------------------------------------------------------ full


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_2000_concurrent_sessions_lose_and_reorder_nothing(
    echo_server: Served, nofile: int
) -> None:
    """2,000 sessions open at once, 100 pipelined messages each: all echoed in order."""
    if nofile < 4500:
        pytest.skip(f"RLIMIT_NOFILE hard limit {nofile} < 4500 (two fds per session)")
    fds = await baseline(echo_server)
    async with asyncio.timeout(timeout(240)):
        peak = await run_sessions(echo_server, 2000, 100)
    assert peak == 2000
    assert await settle(echo_server, fds) == fds


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_20000_cycles_return_fds_and_rss_to_baseline(
    echo_server: Served, nofile: int
) -> None:
    """20,000 cycles: fds back to baseline, RSS within 4 MiB of its value after 2,000."""
    fds = await baseline(echo_server)
    async with asyncio.timeout(timeout(240)):
        await run_cycles(echo_server, 2000, 20)
        assert await settle(echo_server, fds) == fds
        gc.collect()
        rss_after_warmup = rss_bytes()
        await run_cycles(echo_server, 18000, 20)
    assert await settle(echo_server, fds) == fds
    gc.collect()
    growth = rss_bytes() - rss_after_warmup
    assert growth < 4 * 1024 * 1024, f"RSS grew {growth / 2**20:.1f} MiB"
