"""Run an example script as a real subprocess on a free port, for tests.

Output goes to files, not pipes: the echo server prints every message whole
(100,000 characters for the demo's long message) and a pipe nobody drains
would block it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: Seconds; every wait is a multiple of it (slow machines: PERFECTWS_TEST_TIMEOUT_FACTOR=3).
UNIT = float(os.environ.get("PERFECTWS_TEST_TIMEOUT_FACTOR") or 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ExampleProcess:
    proc: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def ws_url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-4000:]

    def wait_for_output(self, needle: str) -> None:
        deadline = time.monotonic() + 5 * UNIT
        while needle not in self.output():
            if time.monotonic() > deadline:
                tail = self.output()[-2000:]
                pytest.fail(
                    f"server never printed {needle[:80]!r}; stdout tail:\n{tail}"
                )
            time.sleep(0.05)


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    return False


@contextlib.contextmanager
def run_example(
    script: str,
    tmp_path: Path,
    *args: str,
    preexec_fn: Callable[[], object] | None = None,
) -> Iterator[ExampleProcess]:
    """Start ``examples/<script> --port <free> *args``; stop it by PID afterwards.

    ``preexec_fn`` runs in the child before the script (a resource limit).
    """
    path = EXAMPLES / script
    assert path.is_file(), f"{path} is missing"
    port = free_port()
    out, err = tmp_path / f"{script}.stdout", tmp_path / f"{script}.stderr"
    # This checkout's perfectws, not whichever one the venv installed (a git
    # worktree shares the venv of the main checkout).
    pythonpath = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath}
    with out.open("wb") as out_f, err.open("wb") as err_f:
        proc = subprocess.Popen(
            [sys.executable, str(path), "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out_f,
            stderr=err_f,
            preexec_fn=preexec_fn,
        )
    server = ExampleProcess(proc, port, out, err)
    try:
        deadline = time.monotonic() + 10 * UNIT
        while not _accepts(port):
            if proc.poll() is not None:
                pytest.fail(
                    f"{script} exited with {proc.returncode} before listening "
                    f"on port {port}; stderr:\n{server.errors()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{script} did not accept TCP connections on port {port} "
                    f"within {10 * UNIT:g} s; stderr:\n{server.errors()}"
                )
            time.sleep(0.05)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal this PID only; kill it if it does not exit in time. Its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            # A graceful stop may take up to the server's shutdown_timeout
            # (10 s) by design; on a quiet machine it takes well under 1 s.
            proc.wait(timeout=12 * UNIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5 * UNIT)
    return proc.returncode
