"""Runs the ``perfectws`` command as a real subprocess for the CLI and log tests."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tests.helpers import timeout

ROOT = Path(__file__).resolve().parent.parent

#: The application a user would write, served by the command in the tests.
APP = textwrap.dedent(
    """
    from perfectws import GET, HTTPServer, Routes, Routing, WebSocketHandler


    class Echo:
        socket_protocol = "echo"

        def handle_session(self, request, socket):
            def on_message(text, op, fin):
                if text is None:
                    return
                if text == "bye":
                    socket.close()
                    return
                socket.send_string_message(
                    text, callback=lambda: self.handle_session(request, socket)
                )

            socket.read_string_message(on_message)


    def producer(request, protocols):
        return Echo() if "echo" in protocols else None


    routes = Routes()
    routes[GET, "/hello"] = lambda req, resp: resp.set_body("hello").completed()
    routes[GET, "/echo"] = WebSocketHandler(handler_producer=producer).handle_request


    def make_server():
        server = HTTPServer(server_port=0, server_address="127.0.0.1")
        server.add_routes(routes)
        return server


    def legacy():
        Routing.Routes[GET, "/legacy"] = lambda req, resp: resp.set_body("1.x").completed()


    config = {"servers": [{"name": "localhost", "port": 0, "routes": []}]}
    number = 42
    """
)

_SERVING = re.compile(r"serving .* on [\d.]+:(\d+)")


class Running:
    """A ``python -m perfectws ...`` process and the lines it wrote to stderr."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None):
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(ROOT)
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "perfectws", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = 0

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, seconds: float = 10) -> re.Match[str]:
        """The first stderr line (seen or to come) that matches ``pattern``."""
        regex = re.compile(pattern)
        for line in self.lines:
            if m := regex.search(line):
                return m
        deadline = time.monotonic() + timeout(seconds)
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"exited without {pattern!r}: {self.lines}")
            self.lines.append(line)
            if m := regex.search(line):
                return m
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}")

    def serving(self) -> int:
        """Wait for the start-up line; the port the server listens on."""
        self.port = int(self.wait_for(_SERVING.pattern).group(1))
        return self.port

    def stop(self) -> int:
        """SIGTERM, then the exit code (and every remaining stderr line)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout(15))
        while (line := self._queue.get(timeout=timeout(5))) is not None:
            self.lines.append(line)
        return code

    def finish(self) -> tuple[int, list[str]]:
        """Wait for a process that stops by itself: its exit code and stderr lines."""
        code = self.proc.wait(timeout(15))
        while (line := self._queue.get(timeout=timeout(5))) is not None:
            self.lines.append(line)
        return code, self.lines

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def write_app(directory: Path) -> Path:
    (directory / "app.py").write_text(APP)
    return directory
