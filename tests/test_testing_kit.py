"""perfectws.testing: the pytest plugin a porter uses to test their handlers.

The plugin is run the way a user runs it: pytester writes a user's test file
into a fresh directory and runs pytest on it in a subprocess, with the plugin
loaded by its ``pytest11`` entry point when perfectws is installed with this
setup.cfg, else by ``-p perfectws.testing`` (a checkout not yet reinstalled).
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from perfectws import GET, OpcodeType, Routes, WebSocketHandler, testing
from perfectws.testing import HandshakeRefused, WebSocketTestClient

pytest_plugins = ["pytester"]

# The kit's fixture for this module's own tests, whether or not the pytest11
# entry point is installed (a second plugin registration would be an error).
perfectws_serve = testing.perfectws_serve

ROOT = Path(__file__).resolve().parent.parent

#: What a porter's test file looks like: a Perfect-style handler and tests in
#: Perfect's terms (frames with op and fin, fragments, ping, close codes).
USER_TESTS = '''
import pytest
from perfectws import GET, OpcodeType, Routes, WebSocketHandler


class FrameReporter:
    """Answers each frame with "op:fin:data"; "quit" closes with 1000."""

    socket_protocol = "report"

    def handle_session(self, request, socket):
        def on_frame(data, op, fin):
            if data is None:
                return
            if data == b"quit":
                socket.close()
                return
            socket.send_string_message(
                f"{op}:{fin}:{data.decode()}",
                final=True,
                callback=lambda: self.handle_session(request, socket),
            )

        socket.read_bytes_message(on_frame)


def routes():
    def producer(request, protocols):
        return FrameReporter() if "report" in protocols else None

    r = Routes()
    r[GET, "/ws"] = WebSocketHandler(handler_producer=producer).handle_request
    r[GET, "/hello"] = lambda req, resp: resp.set_body("hi").completed()
    return r


@pytest.mark.asyncio
async def test_one_frame_with_op_and_fin(perfectws_serve):
    server = await perfectws_serve(routes())
    ws = await server.websocket("/ws", protocols=["report"])
    assert ws.status == 101 and ws.subprotocol == "report"
    await ws.send_text("hello")
    frame = await ws.read_frame()
    assert (frame.op, frame.fin, frame.text) == (OpcodeType.TEXT, True, "text:True:hello")


@pytest.mark.asyncio
async def test_fragments(perfectws_serve):
    server = await perfectws_serve(routes())
    async with await server.websocket("/ws", protocols=["report"]) as ws:
        await ws.send_binary(b"ab", final=False)
        await ws.send_binary(b"cd")
        assert (await ws.read_frame()).text == "binary:False:ab"
        assert (await ws.read_frame()).text == "continuation:True:cd"


@pytest.mark.asyncio
async def test_ping_and_close_codes(perfectws_serve):
    server = await perfectws_serve(routes())
    ws = await server.websocket("/ws", protocols=["report"])
    await ws.ping(b"p1")
    assert await ws.read_frame() == (OpcodeType.PONG, True, b"p1")
    await ws.close(4000, "done")
    assert await ws.read_close() == (4000, "done")
    assert await ws.at_eof()


@pytest.mark.asyncio
async def test_server_closes(perfectws_serve):
    server = await perfectws_serve(routes())
    ws = await server.websocket("/ws", protocols=["report"])
    await ws.send_text("quit")
    assert (await ws.read_close())[0] == 1000
    assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_refused_and_http(perfectws_serve):
    from perfectws.testing import HandshakeRefused

    server = await perfectws_serve(routes())
    with pytest.raises(HandshakeRefused) as refused:
        await server.websocket("/ws", protocols=["chat"])
    assert refused.value.status == 400
    reply = await server.get("/hello")
    assert (reply.status, reply.body) == (200, b"hi")
'''


def _entry_point_installed() -> bool:
    return any(
        ep.value == "perfectws.testing"
        for ep in metadata.entry_points(group="pytest11")
    )


def run_user_tests(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    # A user's pytest.ini as pytest-asyncio 1.x asks for it.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    # The subprocess imports this checkout's perfectws, whatever is installed.
    pytester._monkeypatch.setenv("PYTHONPATH", str(ROOT))
    args = ["-p", "no:cacheprovider", "-W", "error"]
    if not _entry_point_installed():
        args += ["-p", "perfectws.testing"]
    return pytester.runpytest_subprocess(*args, timeout=120)


def test_setup_cfg_registers_the_pytest11_entry_point(tmp_path: Path) -> None:
    """setuptools reads the pytest11 entry point from setup.cfg as pytest needs it."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (info,) = tmp_path.glob("*.egg-info")
    parser = configparser.ConfigParser()
    parser.read(info / "entry_points.txt")
    assert parser["pytest11"]["perfectws"] == "perfectws.testing"


def test_a_users_test_file_passes_through_the_plugin(pytester: pytest.Pytester):
    """The plugin's fixture and client drive a Perfect handler in a user's tests."""
    result = run_user_tests(pytester, USER_TESTS)
    result.assert_outcomes(passed=5)


def readme_example() -> str:
    """The complete test file README.md shows under "Testing your handlers"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Testing your handlers", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester):
    """The README's example test file passes, unchanged, through the plugin."""
    result = run_user_tests(pytester, readme_example())
    result.assert_outcomes(passed=1)


def test_the_readme_example_can_fail(pytester: pytest.Pytester):
    """A handler that does not echo fin faithfully fails the README's test."""
    broken = readme_example().replace("final=fin", "final=True")
    assert broken != readme_example()
    result = run_user_tests(pytester, broken)
    result.assert_outcomes(failed=1)


def test_a_failing_expectation_fails_the_users_test(pytester: pytest.Pytester):
    """A handler that breaks a test's expectation shows as a failure, not a pass."""
    source = USER_TESTS.replace('"text:True:hello"', '"text:False:hello"')
    result = run_user_tests(pytester, source)
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*test_one_frame_with_op_and_fin*"])


def test_a_server_that_never_answers_times_out(pytester: pytest.Pytester):
    """A read that gets no frame fails within the kit's timeout instead of hanging."""
    source = (
        USER_TESTS
        + """

@pytest.mark.asyncio
async def test_silence(perfectws_serve):
    import asyncio
    server = await perfectws_serve(routes())
    ws = await server.websocket("/ws", protocols=["report"])
    with pytest.raises(asyncio.TimeoutError):
        await ws.read_frame(timeout=0.2)
"""
    )
    result = run_user_tests(pytester, source)
    result.assert_outcomes(passed=6)


class SilentHandler:
    """Reads one frame and then closes with 1011 if it was binary."""

    socket_protocol = "silent"

    def handle_session(self, request, socket) -> None:
        def on_frame(data, op, fin) -> None:
            if data is not None and op is OpcodeType.BINARY:
                socket.close(1011, "no binary here")

        socket.read_bytes_message(on_frame)


def silent_routes() -> Routes:
    routes = Routes()
    routes[GET, "/s"] = WebSocketHandler(
        handler_producer=lambda request, protocols: SilentHandler()
    ).handle_request
    return routes


@pytest.mark.asyncio
async def test_kit_sees_the_servers_close_code(perfectws_serve) -> None:
    """read_close returns the code and reason the handler closed with."""
    server = await perfectws_serve(silent_routes())
    ws = await server.websocket("/s", protocols=["silent"])
    assert ws.subprotocol == "silent"
    await ws.send_binary(b"\x00")
    assert await ws.read_close() == (1011, "no binary here")


@pytest.mark.asyncio
async def test_kit_reports_a_refusal_with_status_and_body(perfectws_serve) -> None:
    """An upgrade of a route that is not a WebSocket endpoint raises HandshakeRefused."""
    server = await perfectws_serve(Routes())
    with pytest.raises(HandshakeRefused) as refused:
        await WebSocketTestClient.connect(server.port, "/nowhere")
    assert refused.value.status == 404
    assert b"No matching route" in refused.value.body
    assert isinstance(refused.value, AssertionError)


@pytest.mark.asyncio
async def test_unmasked_frame_gets_1002(perfectws_serve) -> None:
    """send_frame writes exactly what it is told, even frames RFC 6455 forbids."""
    server = await perfectws_serve(silent_routes())
    ws = await server.websocket("/s", protocols=["silent"])
    await ws.send_frame(OpcodeType.TEXT, b"x", mask=False)
    assert (await ws.read_close())[0] == 1002
