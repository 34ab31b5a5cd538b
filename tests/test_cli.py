"""The ``perfectws`` command, run as a real process and reached by real clients."""

from __future__ import annotations

import configparser
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from perfectws import HTTPServer
from tests.cliproc import ROOT, Running, write_app
from tests.helpers import timeout
from tests.rawws import RawClient, frame, handshake


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path)


@pytest.fixture
def started(app_dir: Path) -> Iterator[list[Running]]:
    """Processes a test starts; any still running at the end are killed."""
    running: list[Running] = []
    yield running
    for proc in running:
        proc.kill()


def run(app_dir: Path, started: list[Running], *args: str, **kw) -> Running:
    proc = Running(app_dir, *args, **kw)
    started.append(proc)
    return proc


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}{path}", timeout=timeout(5)
        ) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def one_line_error(app_dir: Path, *args: str, env=None) -> str:
    """Run the command expecting a failure; its single stderr line."""
    proc = Running(app_dir, *args, env=env)
    code, lines = proc.finish()
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert not any("Traceback" in line for line in lines)
    assert lines[0].startswith("perfectws: error: ")
    return lines[0]


def test_serves_routes_over_http_and_websocket(app_dir, started) -> None:
    """perfectws app:routes serves HTTP and WebSocket routes; SIGTERM stops it with 0."""
    proc = run(app_dir, started, "app:routes", "--port", "0")
    port = proc.serving()
    assert get(port, "/hello") == (200, b"hello")
    with connect(f"ws://127.0.0.1:{port}/echo", subprotocols=["echo"]) as ws:
        ws.send("ping")
        assert ws.recv(timeout(5)) == "ping"
    assert proc.stop() == 0


def test_a_callable_that_returns_a_server_keeps_its_settings(app_dir, started) -> None:
    """app:make_server is called; its own port (0) and address stand unless flagged."""
    proc = run(app_dir, started, "app:make_server")
    port = proc.serving()
    assert get(port, "/hello") == (200, b"hello")


def test_a_callable_that_fills_routing_routes(app_dir, started) -> None:
    """A Perfect 1.x style setup function filling Routing.Routes and returning None."""
    proc = run(app_dir, started, "app:legacy", "--port", "0")
    assert get(proc.serving(), "/legacy") == (200, b"1.x")


def test_flags_come_from_the_environment(app_dir, started) -> None:
    """PERFECTWS_* variables set the target and the flags."""
    env = {
        "PERFECTWS_APP": "app:routes",
        "PERFECTWS_PORT": "0",
        "PERFECTWS_HEALTH_CHECKS": "1",
        "PERFECTWS_NO_UVLOOP": "true",
    }
    proc = run(app_dir, started, env=env)
    port = proc.serving()
    assert proc.wait_for(r"serving .*\(asyncio\)")
    assert get(port, "/healthz") == (200, b"ok\n")


def test_a_flag_beats_its_environment_variable(app_dir, started) -> None:
    """An explicit --log-level wins over PERFECTWS_LOG_LEVEL."""
    env = {"PERFECTWS_LOG_LEVEL": "error"}
    proc = run(
        app_dir, started, "app:routes", "--port", "0", "--log-level", "info", env=env
    )
    proc.serving()  # the INFO start-up line is there only at info


def test_bad_module_path_is_one_line(app_dir) -> None:
    assert "cannot import 'nosuch': no such module" in one_line_error(
        app_dir, "nosuch:routes"
    )


def test_missing_attribute_and_wrong_type_are_one_line(app_dir) -> None:
    assert "has no attribute 'nothere'" in one_line_error(app_dir, "app:nothere")
    assert "app:number is a int" in one_line_error(app_dir, "app:number")
    assert "is not MODULE:ATTRIBUTE" in one_line_error(app_dir, "app")


def test_port_in_use_is_one_line(app_dir) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(app_dir, "app:routes", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line


def test_unreadable_certificate_is_one_line(app_dir, tmp_path) -> None:
    """A missing certificate file and one that is not a certificate both say so."""
    line = one_line_error(app_dir, "app:routes", "--ssl-certfile", "/nonexistent.pem")
    assert "cannot use certificate /nonexistent.pem" in line
    assert "No such file or directory" in line
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    line = one_line_error(app_dir, "app:routes", "--ssl-certfile", str(junk))
    assert f"cannot use certificate {junk}" in line


def test_tls_flags_with_a_good_certificate(app_dir, started, tmp_path) -> None:
    """A valid certificate is served when HTTPServer has TLS, else refused in one line."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    args = ["app:routes", "--port", "0", "--ssl-certfile", str(certfile)]
    args += ["--ssl-keyfile", str(keyfile)]
    if not hasattr(HTTPServer(), "ssl"):
        assert "--ssl-certfile is not available" in one_line_error(app_dir, *args)
        return
    import ssl

    proc = run(app_dir, started, *args)
    port = proc.serving()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with urllib.request.urlopen(
        f"https://127.0.0.1:{port}/hello", context=context, timeout=timeout(5)
    ) as reply:
        assert reply.read() == b"hello"


@pytest.mark.asyncio
async def test_keepalive_flags_close_a_silent_peer(app_dir, started) -> None:
    """--ping-interval/--ping-timeout: a peer that answers nothing gets 1011."""
    proc = run(
        app_dir, started, "app:routes", "--port", "0",
        "--ping-interval", "0.2", "--ping-timeout", "0.3",
    )  # fmt: skip
    port = proc.serving()
    client = await RawClient.connect(port, handshake())
    assert (await client.recv_frame())[0] == 0x9
    assert await client.recv_close() == (1011, b"keepalive ping timeout")
    client.close()


@pytest.mark.asyncio
async def test_max_message_size_flag_answers_1009(app_dir, started) -> None:
    proc = run(
        app_dir, started, "app:routes", "--port", "0", "--max-message-size", "100"
    )
    port = proc.serving()
    client = await RawClient.connect(port, handshake())
    client.send(frame(0x1, b"x" * 101))
    assert (await client.recv_close())[0] == 1009
    client.close()


def test_redis_flag_is_the_url_of_fanout_without_one(app_dir, started) -> None:
    """--redis URL reaches the app before it is imported: FanOut() uses it."""
    (app_dir / "fan.py").write_text(
        "from perfectws import FanOut, GET, Routes\n"
        "fanout = FanOut()\n"
        "routes = Routes()\n"
        "routes[GET, '/url'] = lambda req, resp: resp.set_body(fanout.url).completed()\n"
    )
    proc = run(
        app_dir,
        started,
        "fan:routes",
        "--port",
        "0",
        "--redis",
        "redis://10.9.8.7:6390/2",
    )
    port = proc.serving()
    assert get(port, "/url") == (200, b"redis://10.9.8.7:6390/2")
    line = one_line_error(app_dir, "fan:routes", "--port", "0")
    assert "FanOut() needs a Redis URL" in line and "--redis" in line


def test_configuration_data(app_dir, started) -> None:
    """A configuration dict is launched as Perfect's launch(configurationData:)."""
    (app_dir / "conf.py").write_text(
        "from perfectws import GET, Routes\n"
        "def hello(data):\n"
        "    return lambda req, resp: resp.set_body('from config').completed()\n"
        "config = {'servers': [{'name': 'localhost', 'port': 0, 'address': '127.0.0.1',\n"
        "    'routes': [{'method': 'get', 'uri': '/hello', 'handler': hello}]}]}\n"
    )
    proc = run(app_dir, started, "conf:config")
    port = int(proc.wait_for(r"Starting HTTP server \S+ on [\d.]+:(\d+)").group(1))
    assert get(port, "/hello") == (200, b"from config")


def test_bad_settings_are_one_line(app_dir) -> None:
    assert "not an IP address" in one_line_error(
        app_dir, "app:routes", "--proxy-headers", "--forwarded-allow-ips", "proxy.lan"
    )
    assert "unknown log level" in one_line_error(
        app_dir, "app:routes", env={"PERFECTWS_LOG_LEVEL": "loud"}
    )
    assert "--processes must be 1 or more" in one_line_error(
        app_dir, "app:routes", "--processes", "0"
    )
    assert "say what to serve" in one_line_error(app_dir)


def test_metrics_add_up_across_processes(app_dir, started) -> None:
    """With --processes 2 --metrics, any worker's /metrics counts every worker's requests."""
    proc = run(
        app_dir, started, "app:routes", "--port", "0", "--processes", "2", "--metrics"
    )
    port = proc.serving()
    proc.wait_for(r"serving .*", 10)
    for _ in range(20):
        assert get(port, "/hello") == (200, b"hello")
    status, page = get(port, "/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page.decode())
        for s in family.samples
    }
    # Summed over both workers' files (each worker saw only some of them).
    assert samples[("perfectws_http_requests_total", (("status", "200"),))] == 20
    assert proc.stop() == 0


def test_setup_cfg_installs_the_command(tmp_path: Path) -> None:
    """setuptools reads the perfectws console script from setup.cfg."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (info,) = tmp_path.glob("*.egg-info")
    parser = configparser.ConfigParser()
    parser.read(info / "entry_points.txt")
    assert parser["console_scripts"]["perfectws"] == "perfectws.cli:main"


def test_help_names_every_flag_and_its_variable(app_dir) -> None:
    """--help is something a newcomer can act on: flags, variables, an example."""
    out = subprocess.run(
        [sys.executable, "-m", "perfectws", "--help"],
        cwd=app_dir,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--host", "--port", "--processes", "--document-root", "--ssl-certfile",
        "--ssl-keyfile", "--ping-interval", "--ping-timeout", "--max-message-size",
        "--redis", "--log-level", "--log-format", "--proxy-headers",
        "--forwarded-allow-ips", "--metrics", "--no-uvloop",
    ):  # fmt: skip
        assert flag in out
        variable = "PERFECTWS_" + flag[2:].upper().replace("-", "_")
        assert f"[{variable}]" in out.replace("\n", " ").replace("  ", " ") or (
            variable in out
        )
    assert "perfectws chat:routes --port 8181" in out


DEPLOY = ROOT / "deploy"


def _parse_with_env(monkeypatch, argv: list[str], env: dict[str, str]):
    from perfectws.cli import build_parser

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return build_parser().parse_args(argv)


def test_systemd_unit_is_valid_and_its_command_parses(monkeypatch, tmp_path) -> None:
    """deploy/perfectws.service: systemd-analyze finds nothing wrong; flags parse."""
    import shlex
    import shutil

    text = (DEPLOY / "perfectws.service").read_text()
    lines = [line for line in text.splitlines() if "=" in line and line[0] != "#"]
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[0].endswith("/bin/perfectws")
    env = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in lines
        if line.startswith("Environment=")
    )
    args = _parse_with_env(monkeypatch, argv[1:], env)
    assert (args.target, args.port, args.processes) == ("app:routes", 8181, 2)
    assert args.metrics and args.health_checks and args.proxy_headers
    assert args.log_format == "json"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here to verify the unit")
    # Verify a copy whose paths and user exist on this machine.
    unit = tmp_path / "perfectws.service"
    unit.write_text(
        text.replace("/srv/app/.venv/bin/perfectws", "/bin/true")
        .replace("/srv/app", str(tmp_path))
        .replace("User=perfectws", "User=root")
        .replace("Group=perfectws", "Group=root")
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=timeout(30),
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_command_parses(monkeypatch) -> None:
    """deploy/Dockerfile (untested here: no Docker daemon): its CMD and ENV parse."""
    import json
    import shlex

    text = (DEPLOY / "Dockerfile").read_text()
    cmd = next(line for line in text.splitlines() if line.startswith("CMD "))
    argv = json.loads(cmd.removeprefix("CMD "))
    assert argv[0] == "perfectws"
    env_block = text.split("\nENV ", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    env = dict(item.split("=", 1) for item in shlex.split(env_block))
    args = _parse_with_env(monkeypatch, argv[1:], env)
    assert (args.host, args.port, args.processes) == ("0.0.0.0", 8181, 2)
    assert args.health_checks and args.metrics and args.proxy_headers


def test_a_task_stuck_in_its_clean_up_does_not_hold_the_shutdown(
    app_dir, started
) -> None:
    """SIGTERM with an application task that ignores cancellation: exit 0 anyway.

    asyncio.Runner waits forever for such a task (found when a Redis client
    hung in its close at shutdown); the server gives its tasks a bounded time.
    """
    (app_dir / "stuck.py").write_text(
        "import asyncio\n"
        "from perfectws import GET, Routes\n"
        "async def stubborn():\n"
        "    while True:\n"
        "        try:\n"
        "            await asyncio.sleep(3600)\n"
        "        except asyncio.CancelledError:\n"
        "            continue\n"
        "tasks = []\n"
        "def spawn(req, resp):\n"
        "    tasks.append(asyncio.ensure_future(stubborn()))\n"
        "    resp.set_body('spawned').completed()\n"
        "routes = Routes()\n"
        "routes[GET, '/spawn'] = spawn\n"
    )
    proc = run(app_dir, started, "stuck:routes", "--port", "0")
    port = proc.serving()
    assert get(port, "/spawn") == (200, b"spawned")
    assert proc.stop() == 0
    assert any("did not finish" in line for line in proc.lines), proc.lines
