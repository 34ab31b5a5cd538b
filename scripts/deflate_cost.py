#!/usr/bin/env python3
"""Server CPU per echo, with and without permessage-deflate.

Starts ``examples/conformance_server.py`` (this checkout's perfectws) with and
without ``--deflate``, echoes ``--messages`` 4 KiB JSON messages over
``--conns`` ``websockets`` connections, and reads the server's CPU time
(utime + stime in /proc/PID/stat) around the run. The client is Python, so
only the server-side figure means anything; it is what the README's
"Compression" section quotes (memory per connection is measured by
tests/test_deflate.py). Linux only.

    python scripts/deflate_cost.py [--messages 4000] [--conns 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def message() -> str:
    """About 4 KiB of JSON, as a chat or dashboard update looks."""
    items = [
        {
            "id": i,
            "user": f"user{i % 17}",
            "text": "hello there " * (i % 5 + 1),
            "ts": 1700000000 + i * 37,
            "tags": ["a", "b", "c"][: i % 3 + 1],
        }
        for i in range(40)
    ]
    text = json.dumps({"type": "update", "items": items})
    return text[:4096]


async def run(port: int, compression: str | None, conns: int, messages: int) -> None:
    data = message()
    sockets = [
        await connect(
            f"ws://127.0.0.1:{port}/echo",
            subprotocols=["echo"],
            compression=compression,
        )
        for _ in range(conns)
    ]

    async def one(ws: ClientConnection, n: int) -> None:
        for _ in range(n):
            await ws.send(data)
            assert await ws.recv() == data

    await asyncio.gather(*(one(ws, messages // conns) for ws in sockets))
    await asyncio.gather(*(ws.close() for ws in sockets))


def measure(deflate: bool, conns: int, messages: int) -> tuple[float, float]:
    port = free_port()
    argv = [sys.executable, "examples/conformance_server.py", "--port", str(port)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        argv + (["--deflate"] if deflate else []), cwd=ROOT, env=env
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        compression = "deflate" if deflate else None
        asyncio.run(run(port, compression, conns, conns))  # warm-up
        cpu0 = cpu_seconds(proc.pid)
        asyncio.run(run(port, compression, conns, messages))
        cpu_per_echo = (cpu_seconds(proc.pid) - cpu0) / messages * 1e6
        return cpu_per_echo, len(message().encode())
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--conns", type=int, default=20)
    args = parser.parse_args()
    for deflate in (False, True):
        us, size = measure(deflate, args.conns, args.messages)
        label = "permessage-deflate" if deflate else "no compression"
        print(f"{label:20} {size} B JSON echo: {us:.1f} us server CPU per echo")


if __name__ == "__main__":
    main()
