"""Logs: the access log (requests, upgrades, closes) as text and as JSON lines.

The command runs as a real process; its stderr is what a log shipper reads.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from perfectws import testing
from perfectws._operations import access_logger
from tests.cliproc import Running, write_app
from tests.helpers import timeout

perfectws_serve = testing.perfectws_serve


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path)


@pytest.fixture
def started() -> Iterator[list[Running]]:
    running: list[Running] = []
    yield running
    for proc in running:
        proc.kill()


def traffic(port: int) -> None:
    """One GET, one 404 and one WebSocket session that the server closes."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=timeout(5)):
        pass
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=timeout(5))
    except urllib.error.HTTPError as error:
        assert error.code == 404
    with connect(f"ws://127.0.0.1:{port}/echo", subprotocols=["echo"]) as ws:
        ws.send("a")
        assert ws.recv(timeout(5)) == "a"
        ws.send("bye")  # the server closes with 1000
        with pytest.raises(Exception, match="1000"):
            ws.recv(timeout(5))


def test_json_lines_for_requests_upgrades_and_closes(app_dir, started) -> None:
    """--log-format json: every stderr line is one JSON object with the access fields."""
    proc = Running(app_dir, "app:routes", "--port", "0", "--log-format", "json")
    started.append(proc)
    port = proc.serving()
    traffic(port)
    proc.wait_for(r'"event": "websocket_close"')
    assert proc.stop() == 0
    records = [json.loads(line) for line in proc.lines]  # each line is JSON
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
    access = [r for r in records if r["logger"] == "perfectws.access"]
    by_path = {(r["event"], r["path"]): r for r in access}
    hello = by_path[("http", "/hello")]
    assert hello["level"] == "INFO"
    assert hello["method"] == "GET" and hello["status"] == 200
    assert re.fullmatch(r"127\.0\.0\.1:\d+", hello["remote"])
    assert isinstance(hello["duration_ms"], float) and hello["duration_ms"] >= 0
    assert by_path[("http", "/nope")]["status"] == 404
    upgrade = by_path[("http", "/echo")]
    assert upgrade["status"] == 101
    assert "subprotocol" in upgrade
    closed = by_path[("websocket_close", "/echo")]
    assert closed["duration_s"] > 0
    assert {"code", "reason", "messages_in", "messages_out"} <= closed.keys()


def test_text_lines_read_like_uvicorns(app_dir, started) -> None:
    """The default text format: time, level, logger, then the request line."""
    proc = Running(app_dir, "app:routes", "--port", "0")
    started.append(proc)
    port = proc.serving()
    traffic(port)
    line = proc.wait_for(r'"GET /hello HTTP/1.1" 200').string
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO perfectws\.access: "
        r'127\.0\.0\.1:\d+ - "GET /hello HTTP/1\.1" 200 \d+\.\dms',
        line,
    ), line
    proc.wait_for(r"WebSocket /echo closed")


def test_no_access_log(app_dir, started) -> None:
    """--no-access-log keeps the rest of the log and drops the request lines."""
    proc = Running(app_dir, "app:routes", "--port", "0", "--no-access-log")
    started.append(proc)
    traffic(proc.serving())
    assert proc.stop() == 0
    assert not [line for line in proc.lines if "perfectws.access" in line]
    assert [line for line in proc.lines if "perfectws.server" in line]


def test_json_needs_its_formatter_installed(app_dir) -> None:
    """Without python-json-logger the command says what to install (simulated by a
    module that shadows it on sys.path)."""
    shadow = app_dir / "pythonjsonlogger"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    proc = Running(app_dir, "app:routes", "--log-format", "json")
    code, lines = proc.finish()
    assert code == 1
    assert lines == [
        "perfectws: error: --log-format json needs python-json-logger: "
        "pip install 'perfectws[jsonlog]'"
    ]


@pytest.mark.asyncio
async def test_the_upgrade_line_names_the_subprotocol(perfectws_serve, caplog) -> None:
    """An accepted upgrade is logged as 101 with the subprotocol the server chose."""
    from tests.helpers import echo_routes

    server = await perfectws_serve(echo_routes())
    with caplog.at_level(logging.INFO, logger=access_logger.name):
        ws = await server.websocket("/echo", protocols=["chat", "echo"])
        assert ws.subprotocol == "echo"
    (record,) = [r for r in caplog.records if r.name == "perfectws.access"]
    assert record.status == 101 and record.path == "/echo"
    assert record.subprotocol == "echo"
    assert "subprotocol=echo" in record.getMessage()
