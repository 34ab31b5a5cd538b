"""A real redis-server for tests, started by the test on a free port.

No fakeredis, no mocks: the fan-out is tested against Debian's redis-server
(`scripts/redis.sh` installs it). The fixture can kill Redis and start it again
on the same port, to test what the fan-out does while it is gone; it kills what
it started by PID at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.example_process import UNIT, free_port

REDIS_HINT = "run scripts/redis.sh as root (apt-get install -y redis-server)"


def redis_server_binary() -> str:
    """The redis-server executable; skip (fail under CI=true) if there is none."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )
    if found:
        return found
    message = f"no redis-server found: {REDIS_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class RedisProcess:
    """One redis-server on 127.0.0.1:port, in the foreground, no persistence."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10 * UNIT
        while not self._answers_ping():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"redis-server exited with {self.proc.returncode}:\n"
                    + self.log.read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as a crash: clients see their connections reset."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5 * UNIT)

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw reply (for CLIENT LIST, PUBSUB)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2 * UNIT) as s:
            s.sendall(" ".join(args).encode() + b"\r\n")
            s.settimeout(0.3 * UNIT)
            reply = b""
            with contextlib.suppress(TimeoutError):
                while chunk := s.recv(65536):
                    reply += chunk
            return reply

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisProcess]:
    """A fresh redis-server on a free port; ``.kill()`` / ``.start()`` it at will."""
    server = RedisProcess(redis_server_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
