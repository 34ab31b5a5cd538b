#!/usr/bin/env python3
"""Benchmark perfectws against its peers: ``make bench`` / ``python bench/run.py``.

The harness of docs/performance.md: every server runs alone, pinned to core 0,
and a compiled epoll client (bench/wsload.c, which masks every frame and
verifies every echoed byte) runs pinned to core 1. Each cell (server x row x
round) starts a fresh server process; rounds are interleaved (every server for
a row, then the next row; then the whole again) and each cell reports the
median of its rounds.

perfectws runs **cold**: nothing connects to it before the measured client's
own warm-up (readiness is read from /proc/net/tcp, not probed by connecting).
``perfectws_warm`` and every peer are first put in the steady state of a real
server: one client upgrades, echoes once and drops its TCP connection with a
reset (see "glibc" in docs/performance.md).

The ``wss50`` row is the echo50 row over TLS: the servers that take ``--cert`` /
``--key`` serve wss with a throwaway certificate made by trustme at run time
(``<out>/tls``), and wsload speaks TLS 1.3 with OpenSSL (``--tls``); servers
without TLS support are left out of that row.

The ``broadcast1k`` row (wsload ``broadcast``) opens 1,000 receivers and one
publisher on ``/broadcast``; each server sends every publication to all of them
with its own idiom (``perfectws.broadcast``, ``websockets.broadcast``, aiohttp's
and Node ws's loops). ``fanout2p`` and ``fanout2p_50k`` run the same through
Redis (``perfectws.FanOut``) across two perfectws processes on two ports, with
a redis-server started per cell on the client's core (so Redis and the client
share core 1). ``deflate4k`` echoes 4 KiB JSON with permessage-deflate
negotiated and used both ways (wsload links zlib) on the ``*_deflate`` servers.
The ``chat`` row (wsload ``chat``) runs examples/chat_server.py itself (one
process, no Redis) with 200 joined clients, one of which posts in a closed loop;
every post carries its sequence number and send time, found again in the JSON
the other 199 receive: posts/s in, deliveries/s out and p99 post-to-delivery.
Rows with a ``feature`` run only on the servers that serve it.

Peers are installed on first use into bench/.env (pip) and bench/node_modules
(npm), never into perfectws's own dependencies; perfectws comes from this
repository (``pip install -e ..``). The script re-executes itself under
bench/.env/bin/python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ENV = BENCH / ".env"
ENV_PY = ENV / "bin" / "python"
SERVERS_DIR = BENCH / "servers"
CLIENT = BENCH / "wsload"
SERVER_CPU = "0"
CLIENT_CPU = "1"

Result = dict[str, Any]


# --------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    """One server variant: how to start it and in what state to measure it."""

    name: str
    argv: tuple[str, ...]
    warm: bool = True  # drop one connection before measuring
    perfectws: bool = False
    processes: int = 1
    needs: str = "python"  # "python", "node" or "c"
    quick: bool = True  # part of the default --quick set
    tls: bool = False  # serves wss given --cert/--key (rows with tls=True)
    features: tuple[str, ...] = ()  # row features it serves (Row.feature)
    only_features: bool = False  # runs only the rows of its features
    fanout: bool = False  # takes --port2 Q --redis URL (two processes, Redis)

    def command(
        self,
        port: int,
        tls: TLSFiles | None = None,
        port2: int | None = None,
        redis_url: str | None = None,
    ) -> list[str]:
        cmd = [*self.argv, "--port", str(port)]
        if tls is not None:
            cmd += ["--cert", str(tls.cert), "--key", str(tls.key)]
        if port2 is not None:
            cmd += ["--port2", str(port2)]
        if redis_url is not None:
            cmd += ["--redis", redis_url]
        return cmd


@dataclass(frozen=True)
class TLSFiles:
    """The server certificate (chain) and key for the wss rows, as files."""

    cert: Path
    key: Path


def _py(script: str, *extra: str) -> tuple[str, ...]:
    return (str(ENV_PY), str(SERVERS_DIR / script), *extra)


BROADCAST = ("broadcast",)

SERVERS: tuple[Server, ...] = (
    Server("tornado", _py("tornado_echo.py"), tls=True),
    Server("tornado_uvloop", _py("tornado_echo.py", "--uvloop"), tls=True),
    Server("websockets", _py("websockets_echo.py"), tls=True, features=BROADCAST),
    Server("aiohttp", _py("aiohttp_echo.py"), tls=True, features=BROADCAST),
    Server("picows", _py("picows_echo.py")),
    Server("picows_uvloop", _py("picows_echo.py", "--uvloop")),
    Server(
        "node_ws",
        ("node", str(SERVERS_DIR / "node_ws_echo.js")),
        needs="node",
        features=BROADCAST,
    ),
    Server(
        "perfectws",
        _py("perfectws_echo.py"),
        warm=False,
        perfectws=True,
        tls=True,
        features=BROADCAST,
    ),
    Server("perfectws_warm", _py("perfectws_echo.py"), perfectws=True, tls=True),
    Server(
        "perfectws_uvloop",
        _py("perfectws_echo.py", "--uvloop"),
        warm=False,
        perfectws=True,
        tls=True,
        features=BROADCAST,
    ),
    # Counting costs (issue 14): compare with "perfectws" in the same run; in
    # --quick too, since the closing note of issue 14 needs the echo50 ratio.
    Server(
        "perfectws_metrics",
        _py("perfectws_echo.py", "--metrics"),
        warm=False,
        perfectws=True,
    ),
    Server(
        "perfectws_p2",
        _py("perfectws_echo.py", "--processes", "2"),
        warm=False,
        perfectws=True,
        processes=2,
        tls=True,
    ),
)
# Rows of one feature each (only_features): the same servers, other settings.
FEATURE_SERVERS: tuple[Server, ...] = (
    Server(
        "perfectws_fanout",
        _py("perfectws_echo.py"),
        warm=False,
        perfectws=True,
        features=("fanout",),
        only_features=True,
        fanout=True,
    ),
    Server(
        "perfectws_deflate",
        _py("perfectws_echo.py", "--deflate"),
        warm=False,
        perfectws=True,
        features=("deflate",),
        only_features=True,
    ),
    # The chat example as it ships (its prints go to the server log).
    Server(
        "perfectws_chat",
        (str(ENV_PY), str(REPO / "examples" / "chat_server.py"), "--host", "127.0.0.1"),
        warm=False,
        perfectws=True,
        features=("chat",),
        only_features=True,
    ),
    Server(
        "websockets_deflate",
        _py("websockets_echo.py", "--deflate"),
        features=("deflate",),
        only_features=True,
    ),
    Server(
        "aiohttp_deflate",
        _py("aiohttp_echo.py", "--deflate"),
        features=("deflate",),
        only_features=True,
    ),
)
SERVERS += FEATURE_SERVERS
SERVER_BY_NAME = {s.name: s for s in SERVERS}
# The loopback ceiling (shows the client's headroom); in full runs by default.
C_ECHO = Server("c_echo", (str(SERVERS_DIR / "c_echo"),), needs="c", quick=False)
SERVER_BY_NAME[C_ECHO.name] = C_ECHO


# ------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Config:
    rounds: int
    warmup: float
    duration: float
    idle_conns: int
    idle_hold: float
    nice: int = 0


FULL = Config(rounds=2, warmup=0.75, duration=2.5, idle_conns=5000, idle_hold=1.0)
QUICK = Config(rounds=1, warmup=0.3, duration=0.7, idle_conns=1000, idle_hold=0.5)


@dataclass(frozen=True)
class Row:
    """One measurement: a client invocation and the figure it yields."""

    key: str
    title: str
    mode: str
    args: Callable[[Config], list[str]]
    metric: str
    unit: str
    higher_is_better: bool = True
    tls: bool = False  # wss: only servers with tls=True run it
    feature: str | None = None  # only servers with this feature run it
    bases: tuple[str, ...] = ("tornado", "aiohttp")  # the ratio columns (0-2)
    base_row: str | None = None  # the bases' values from this row (else own)

    def runs_on(self, server: Server) -> bool:
        """Whether this row is measured on `server` (wss needs TLS support)."""
        if self.tls and not server.tls:
            return False
        if self.feature is not None:
            return self.feature in server.features
        return not server.only_features


def _echo_args(
    conns: int, size: int, binary: bool = False
) -> Callable[[Config], list[str]]:
    def args(cfg: Config) -> list[str]:
        out = ["--conns", str(conns), "--size", str(size)]
        out += ["--warmup", str(cfg.warmup), "--duration", str(cfg.duration)]
        if binary:
            out += ["--binary", "--path", "/echo-bin"]
        return out

    return args


def _broadcast_args(rate: float = 0.0) -> Callable[[Config], list[str]]:
    def args(cfg: Config) -> list[str]:
        out = ["--conns", "1000", "--size", "64", "--path", "/broadcast"]
        out += ["--warmup", str(cfg.warmup), "--duration", str(cfg.duration)]
        out += ["--parallel", "64", "--window", "4"]
        if rate:
            out += ["--rate", str(rate)]
        return out

    return args


def _chat_args(cfg: Config) -> list[str]:
    out = ["--conns", "200", "--path", "/chat", "--proto", "chat"]
    out += ["--warmup", str(cfg.warmup), "--duration", str(cfg.duration)]
    return out + ["--parallel", "64", "--window", "4"]


def _deflate_args(cfg: Config) -> list[str]:
    out = ["--conns", "10", "--size", "4096", "--json", "--deflate"]
    return out + ["--warmup", str(cfg.warmup), "--duration", str(cfg.duration)]


def _handshake_args(cfg: Config) -> list[str]:
    return [
        "--parallel",
        "16",
        "--warmup",
        str(cfg.warmup),
        "--duration",
        str(cfg.duration),
    ]


def _idle_args(cfg: Config) -> list[str]:
    return [
        "--conns",
        str(cfg.idle_conns),
        "--hold",
        str(cfg.idle_hold),
        "--parallel",
        "64",
    ]


ROWS: tuple[Row, ...] = (
    Row(
        "echo1",
        "echo round trips/s, 32 B text, 1 conn",
        "echo",
        _echo_args(1, 32),
        "rate",
        "/s",
    ),
    Row(
        "echo50",
        "echo round trips/s, 32 B text, 50 conns",
        "echo",
        _echo_args(50, 32),
        "rate",
        "/s",
    ),
    Row(
        "wss50",
        "wss echo round trips/s, 32 B text, 50 conns, TLS 1.3",
        "echo",
        _echo_args(50, 32),
        "rate",
        "/s",
        tls=True,
    ),
    Row(
        "echo500",
        "echo round trips/s, 32 B text, 500 conns",
        "echo",
        _echo_args(500, 32),
        "rate",
        "/s",
    ),
    Row(
        "bin64k",
        "MiB/s each way, 64 KiB binary, 10 conns",
        "echo",
        _echo_args(10, 65536, binary=True),
        "mib_s_each_way",
        "MiB/s",
    ),
    Row(
        "handshake",
        "handshakes/s (connect, upgrade, 1 echo, close), 16 parallel",
        "handshake",
        _handshake_args,
        "rate",
        "/s",
    ),
    Row(
        "idle",
        "server RSS per idle connection",
        "idle",
        _idle_args,
        "rss_per_conn_kib",
        "KiB",
        higher_is_better=False,
    ),
    Row(
        "broadcast1k",
        "broadcast deliveries/s, 64 B text to 1,000 clients, closed loop (4 in flight)",
        "broadcast",
        _broadcast_args(),
        "rate",
        "/s",
        feature="broadcast",
        bases=("websockets", "node_ws"),
    ),
    Row(
        "fanout2p",
        "deliveries/s through Redis, 2 perfectws processes, 1,000 clients, closed "
        "loop; ratios to broadcast1k",
        "broadcast",
        _broadcast_args(),
        "rate",
        "/s",
        feature="fanout",
        bases=("perfectws", "websockets"),
        base_row="broadcast1k",
    ),
    Row(
        "fanout2p_50k",
        "the same at an offered 50 publishes/s (50,000 deliveries/s): p99",
        "broadcast",
        _broadcast_args(rate=50),
        "p99_us",
        "us",
        higher_is_better=False,
        feature="fanout",
        bases=(),
    ),
    Row(
        "chat",
        "chat example deliveries/s, 200 joined clients, 1 posting, closed loop "
        "(4 posts in flight)",
        "chat",
        _chat_args,
        "rate",
        "/s",
        feature="chat",
        bases=(),
    ),
    Row(
        "deflate4k",
        "server CPU per echo, 4 KiB JSON, permessage-deflate, 10 conns",
        "echo",
        _deflate_args,
        "server_us_per_op",
        "us",
        higher_is_better=False,
        feature="deflate",
        bases=("websockets_deflate", "aiohttp_deflate"),
    ),
)
ROW_BY_KEY = {r.key: r for r in ROWS}


# --------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 60}:{seconds % 60:02d}"


def run_checked(cmd: Sequence[str], what: str, **kw: Any) -> None:
    log(f"setup: {what}: {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"setup failed: {what} (exit {proc.returncode})")


def env_can_import(module: str) -> bool:
    if not ENV_PY.exists():
        return False
    proc = subprocess.run(
        [str(ENV_PY), "-c", f"import {module}"], capture_output=True, cwd=SERVERS_DIR
    )
    return proc.returncode == 0


def ensure_environment(want_perfectws: bool, want_node: bool) -> dict[str, str]:
    """Install the peers, perfectws and the client where missing. Returns notes."""
    notes: dict[str, str] = {}
    install_peers()
    if want_perfectws:
        notes.update(install_perfectws())
    if want_node:
        notes.update(install_node_peers())
    build_binaries()
    return notes


def pip_install(*args: str) -> subprocess.CompletedProcess[str]:
    """``pip install -q ARGS`` into bench/.env."""
    cmd = [str(ENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True)


def install_peers() -> None:
    """bench/.env with requirements.txt, reinstalled when that file changes."""
    req = BENCH / "requirements.txt"
    stamp = ENV / ".requirements.sha256"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    if not ENV_PY.exists():
        run_checked([sys.executable, "-m", "venv", str(ENV)], "create bench/.env")
    if not stamp.exists() or stamp.read_text().strip() != digest:
        run_checked(
            [str(ENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + ["-r", str(req)],
            "install peers into bench/.env",
        )
        stamp.write_text(digest + "\n")


def install_perfectws() -> dict[str, str]:
    """perfectws from this repository into bench/.env; notes on what is missing."""
    notes: dict[str, str] = {}
    if not env_can_import("perfectws"):
        log("setup: pip install -e .. (perfectws from this repository)")
        proc = pip_install("--no-deps", "-e", str(REPO))
        if proc.returncode != 0 or not env_can_import("perfectws"):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            notes["perfectws"] = f"not installable/importable yet ({tail[0][:160]})"
            return notes
    if not env_can_import("perfectws._speedups"):
        notes["perfectws_speedups"] = (
            "perfectws._speedups not built (pure-Python masking)"
        )
    return notes


def install_node_peers() -> dict[str, str]:
    """bench/node_modules (ws) with npm; a note when node is not there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return {"node": "node/npm not found"}
    if not (BENCH / "node_modules" / "ws" / "package.json").exists():
        run_checked(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"],
            "npm install into bench/node_modules",
            cwd=BENCH,
        )
    return {}


def build_binaries() -> None:
    """wsload and c_echo, rebuilt when their source is newer."""
    for binary in (CLIENT, SERVERS_DIR / "c_echo"):
        src = binary.with_suffix(".c")
        if not binary.exists() or binary.stat().st_mtime < src.stat().st_mtime:
            target = str(binary.relative_to(BENCH))
            if shutil.which("make"):
                run_checked(["make", "-s", "-C", str(BENCH), target], f"build {target}")
            else:
                libs = ["-lssl", "-lcrypto", "-lz"] if binary == CLIENT else []
                run_checked(
                    ["cc", "-O2", "-o", str(binary), str(src), *libs], f"build {target}"
                )


def redis_server() -> str | None:
    """The redis-server executable (Debian puts it in /usr/bin), or None."""
    found = shutil.which("redis-server")
    return found or next(
        (p for p in ("/usr/bin/redis-server",) if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    """A free port below the ephemeral range, so no client socket can hold it."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:  # bind only: nothing connects anywhere
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not listening(port):
            return port
    raise SystemExit("no free port in 20000-32000")


def listening(port: int) -> bool:
    """Whether some socket is in LISTEN on ``port``, read from /proc/net/tcp*."""
    hexport = f"{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].rsplit(":", 1)[1] == hexport and parts[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry))
    return kids


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class CellError(Exception):
    pass


@dataclass
class Cell:
    server: str
    row: str
    round: int
    result: Result | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Bench:
    cfg: Config
    servers: list[Server]
    rows: list[Row]
    out: Path
    tls: TLSFiles | None = None  # set when a row has tls=True
    cells: list[Cell] = field(default_factory=list)

    def child_setup(self) -> None:
        """Runs in each server and client child (its own session) before exec."""
        raise_nofile()
        if self.cfg.nice:
            # With CONFIG_SCHED_AUTOGROUP, CFS shares the CPU between sessions
            # first, so a plain nice value would only count inside this session:
            # set the new session's autogroup nice as well.
            try:
                with open("/proc/self/autogroup", "w") as f:
                    f.write(str(self.cfg.nice))
            except OSError:
                pass
            os.setpriority(os.PRIO_PROCESS, 0, self.cfg.nice)

    def client(self, mode: str, port: int, args: list[str], pids: list[int]) -> Result:
        cmd = ["taskset", "-c", CLIENT_CPU, str(CLIENT), mode]
        cmd += ["--port", str(port)]
        cmd += args
        if pids:
            cmd += ["--pids", ",".join(map(str, pids))]
        limit = self.cfg.warmup + self.cfg.duration + self.cfg.idle_hold + 60
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=limit,
                start_new_session=True,
                preexec_fn=self.child_setup,
            )
        except subprocess.TimeoutExpired as exc:
            raise CellError(f"client timed out after {limit:.0f} s") from exc
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        result: Result = json.loads(lines[-1]) if lines else {}
        if proc.returncode != 0 or not result.get("ok"):
            reason = (
                result.get("error") or proc.stderr.strip() or f"exit {proc.returncode}"
            )
            raise CellError(f"client {mode}: {reason}")
        return result

    def run_cell(self, server: Server, row: Row, rnd: int) -> Cell:
        cell = Cell(server.name, row.key, rnd)
        t0 = time.monotonic()
        port = free_port()
        logdir = self.out / "logs"
        logdir.mkdir(parents=True, exist_ok=True)
        logfile = logdir / f"{server.name}.log"
        with open(logfile, "ab") as logf:
            logf.write(f"--- {row.key} round {rnd} port {port}\n".encode())
            logf.flush()
            tls = self.tls if row.tls else None
            if row.tls and tls is None:
                raise SystemExit(f"row {row.key} needs TLS files (Bench.tls)")
            port2: int | None = None
            redis: tuple[subprocess.Popen[bytes], int] | None = None
            redis_url: str | None = None
            if server.fanout:
                port2 = free_port()
                redis = self._start_redis(logf)
                redis_url = f"redis://127.0.0.1:{redis[1]}/0"
            proc = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    SERVER_CPU,
                    *server.command(port, tls, port2, redis_url),
                ],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                cwd=SERVERS_DIR,
                start_new_session=True,
                preexec_fn=self.child_setup,
            )
        try:
            self._wait_ready(proc, server, port, logfile)
            if port2 is not None:
                self._wait_ready(proc, server, port2, logfile)
            pids = [proc.pid, *children_of(proc.pid)]
            client_tls = ["--tls"] if row.tls else []
            if server.warm:
                self.client("drop", port, client_tls, [])
            args = [*row.args(self.cfg), *client_tls]
            if port2 is not None:
                args += ["--port2", str(port2)]
            cell.result = self.client(row.mode, port, args, pids)
        except CellError as exc:
            cell.error = str(exc)
        finally:
            self._stop(proc)
            if redis is not None:
                self._stop(redis[0])
        cell.seconds = time.monotonic() - t0
        return cell

    def _start_redis(self, logf: Any) -> tuple[subprocess.Popen[bytes], int]:
        """A redis-server for one fanout cell, on the client's core (they share it)."""
        binary = redis_server()
        if binary is None:
            raise CellError("no redis-server (apt-get install redis-server)")
        port = free_port()
        proc = subprocess.Popen(
            ["taskset", "-c", CLIENT_CPU, binary, "--port", str(port)]
            + ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--daemonize", "no", "--dir", str(self.out)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                self._stop(proc)
                raise CellError("redis-server did not start")
            time.sleep(0.01)
        return proc, port

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], server: Server, port: int, logfile: Path
    ) -> None:
        deadline = time.monotonic() + 30
        while not listening(port):
            if proc.poll() is not None:
                tail = logfile.read_text(errors="replace").strip().splitlines()[-3:]
                raise CellError(
                    f"server exited ({proc.returncode}): {' | '.join(tail)}"
                )
            if time.monotonic() > deadline:
                raise CellError("server did not listen within 30 s")
            time.sleep(0.01)
        while server.processes > 1 and len(children_of(proc.pid)) < server.processes:
            if time.monotonic() > deadline:
                raise CellError(f"{server.processes} workers did not start")
            time.sleep(0.01)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        # The server is the leader of a session this script created; signal that
        # process group (its pid), which holds the server and its own workers.
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers may outlive a leader that exited first.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def estimate(self, row: Row) -> float:
        done = [c.seconds for c in self.cells if c.row == row.key]
        if done:
            return statistics.mean(done)
        base = 0.8
        if row.mode == "idle":
            return base + self.cfg.idle_hold + self.cfg.idle_conns / 2000
        return base + self.cfg.warmup + self.cfg.duration

    def run(self) -> None:
        # Memory per idle connection hardly varies: the idle row runs in round 1.
        plan = [
            (rnd, row, server)
            for rnd in range(1, self.cfg.rounds + 1)
            for row in self.rows
            if rnd == 1 or row.mode != "idle"
            for server in self.servers
            if row.runs_on(server)
        ]
        start = time.monotonic()
        for i, (rnd, row, server) in enumerate(plan):
            remaining = sum(self.estimate(r) for _, r, _ in plan[i:])
            log(
                f"[{i + 1}/{len(plan)}] round {rnd}/{self.cfg.rounds} {row.key:<9} "
                f"{server.name:<17} elapsed {fmt_time(time.monotonic() - start)}, "
                f"ETA {fmt_time(remaining)}"
            )
            cell = self.run_cell(server, row, rnd)
            self.cells.append(cell)
            if cell.error:
                log(f"    ERROR {server.name} {row.key}: {cell.error}")
            elif cell.result is not None:
                log("    " + summarize(row, cell.result))


def summarize(row: Row, r: Result) -> str:
    if row.mode == "idle":
        return (
            f"{r['rss_per_conn_kib']:.1f} KiB/conn ({r['rss_before_kib']} -> "
            f"{r['rss_with_kib']} KiB with {r['conns']})"
        )
    val = r[row.metric]
    text = f"{val:,.0f} {row.unit}" if row.unit == "/s" else f"{val:,.1f} {row.unit}"
    if row.mode == "chat":
        text += (
            f" ({r['publishes_s']:,.0f} posts/s in, {r['rate']:,.0f} deliveries/s "
            f"out, missed {r['missed']}, lost {r['lost_publications']})"
        )
    if row.mode == "broadcast":
        text += (
            f" ({r['rate']:,.0f} deliveries/s, {r['publishes_s']:,.0f} publishes/s, "
            f"missed {r['missed']}, lost {r['lost_publications']})"
        )
    return (
        f"{text}  p50/p99 {r['p50_us']:.0f}/{r['p99_us']:.0f} us  "
        f"server CPU {r['server_cpu_share']:.0%} client {r['client_cpu_share']:.0%} "
        f"others {r['other_cpu_share']:.2f} cores"
    )


# ------------------------------------------------------------- reporting

NUMERIC = (
    "rate",
    "mib_s_each_way",
    "p50_us",
    "p99_us",
    "server_cpu_share",
    "client_cpu_share",
    "server_us_per_op",
    "other_cpu_share",
    "steal_share",
    "rss_per_conn_kib",
    "rss_before_kib",
    "rss_with_kib",
    "connect_s",
    "publishes_s",
    "missed",
    "lost_publications",
)


def medians(cells: list[Cell]) -> dict[str, dict[str, Result]]:
    out: dict[str, dict[str, Result]] = {}
    groups: dict[tuple[str, str], list[Result]] = {}
    for c in cells:
        if c.result is not None:
            groups.setdefault((c.server, c.row), []).append(c.result)
    for (server, row), results in groups.items():
        med: Result = {"rounds": len(results)}
        for key in NUMERIC:
            vals = [float(r[key]) for r in results if key in r]
            if vals:
                med[key] = statistics.median(vals)
        out.setdefault(server, {})[row] = med
    return out


def fmt_value(row: Row, v: float) -> str:
    if row.unit == "/s":
        return f"{v / 1000:,.1f}k" if v >= 10000 else f"{v:,.0f}"
    return f"{v:,.0f}" if v >= 1000 else f"{v:,.1f}"


def ratio(v: float | None, base: float | None) -> str:
    if v is None or not base:
        return "-"
    return f"{v / base:.2f}"


def value_of(med: dict[str, dict[str, Result]], server: str, row: Row) -> float | None:
    got = med.get(server, {}).get(row.key, {}).get(row.metric)
    return None if got is None else float(got)


def base_value(
    med: dict[str, dict[str, Result]], server: str, row: Row
) -> float | None:
    """A ratio base: `server`'s value in `row`, or in row.base_row's row."""
    return value_of(med, server, ROW_BY_KEY[row.base_row] if row.base_row else row)


BUSY = 0.25  # cores used by other processes in a window that flag a cell


def busy_mark(m: Result) -> str:
    return "*" if float(m.get("other_cpu_share", 0.0)) > BUSY else ""


def report(bench: Bench, med: dict[str, dict[str, Result]]) -> str:
    """The text report: one table per row, then the compact summary matrix."""
    lines: list[str] = []
    width = max(len(s.name) for s in bench.servers) + 2
    for row in bench.rows:
        lines += row_table(bench, med, row, width)
    lines += summary_matrix(bench, med, width)
    lines.append(
        f"* other processes used more than {BUSY} cores during that window (median "
        "of rounds): disturbed. 'srv us/op' (server CPU per echo) is the figure "
        "least affected."
    )
    return "\n".join(lines)


def row_table(
    bench: Bench, med: dict[str, dict[str, Result]], row: Row, width: int
) -> list[str]:
    """One row's table: value, ratios to tornado and aiohttp, CPU per server."""
    suffix = f", {bench.cfg.idle_conns:,} open" if row.mode == "idle" else ""
    lines = ["", f"{row.title}{suffix} ({row.unit}; median of {bench.cfg.rounds})"]
    head = f"  {'server':<{width}}{'value':>10}" + "".join(
        f" {'x ' + b:>{max(10, len(b) + 2)}}" for b in row.bases
    )
    if row.mode != "idle":
        head += f" {'srv CPU':>8} {'cli CPU':>8} {'srv us/op':>10} {'others':>7}"
    lines.append(head)
    bases = [base_value(med, b, row) for b in row.bases]
    for server in bench.servers:
        name = server.name
        if not row.runs_on(server):
            continue
        m = med.get(name, {}).get(row.key)
        if m is None:
            errs = [
                c.error for c in bench.cells if c.server == name and c.row == row.key
            ]
            lines.append(f"  {name:<{width}}{'ERR':>10}  {(errs or ['?'])[0]}")
            continue
        v = float(m[row.metric])
        line = f"  {name:<{width}}{fmt_value(row, v) + busy_mark(m):>10}" + "".join(
            f" {ratio(v, bv):>{max(10, len(b) + 2)}}"
            for b, bv in zip(row.bases, bases, strict=True)
        )
        if row.mode != "idle":
            line += (
                f" {m['server_cpu_share']:>8.0%} {m['client_cpu_share']:>8.0%} "
                f"{m['server_us_per_op']:>10.1f} {m['other_cpu_share']:>7.2f}"
            )
        lines.append(line)
    if row.key == "echo50":
        lines.append("")
        lines.append("latency at 50 conns, p50 / p99 (us; from the echo50 row)")
        for server in bench.servers:
            m = med.get(server.name, {}).get("echo50")
            if m is not None:
                lines.append(
                    f"  {server.name:<{width}}"
                    f"{m['p50_us']:>10,.0f} / {m['p99_us']:,.0f}"
                )
    if row.tls:
        lines.append(f"  TLS as negotiated: {tls_summary(bench, row)}")
    return lines


def summary_matrix(
    bench: Bench, med: dict[str, dict[str, Result]], width: int
) -> list[str]:
    """Compact matrix: value (x tornado, x aiohttp) per server and row."""
    cols = list(bench.rows)
    header = f"| {'server':<{width}}|" + "".join(f" {r.key} |" for r in cols)
    if any(r.key == "echo50" for r in cols):
        header += " p50/p99 us |"
    lines = ["", "summary: value (ratios to each row's bases, listed below)", header]
    lines.append("|" + "---|" * (len(cols) + 1 + (1 if "p50/p99" in header else 0)))
    for server in bench.servers:
        name = server.name
        cells_txt = []
        for r in cols:
            val = value_of(med, name, r)
            if not r.runs_on(server):
                cells_txt.append(" - |")
                continue
            if val is None:
                cells_txt.append(" ERR |")
                continue
            ratios = ", ".join(ratio(val, base_value(med, b, r)) for b in r.bases)
            cells_txt.append(
                f" {fmt_value(r, val)}{busy_mark(med[name][r.key])}"
                + (f" ({ratios})" if ratios else "")
                + " |"
            )
        if "p50/p99" in header:
            m = med.get(name, {}).get("echo50")
            if not ROW_BY_KEY["echo50"].runs_on(server):
                cells_txt.append(" - |")
            else:
                cells_txt.append(
                    f" {m['p50_us']:,.0f} / {m['p99_us']:,.0f} |" if m else " ERR |"
                )
        lines.append(f"| {name:<{width}}|" + "".join(cells_txt))
    lines.append("")
    for r in cols:
        if r.bases:
            where = f" in {r.base_row}" if r.base_row else ""
            lines.append(f"  {r.key}: ratios to {', '.join(r.bases)}{where}")
    return lines


def tls_summary(bench: Bench, row: Row) -> str:
    """The TLS versions and ciphers wsload reported for `row`, e.g. for fairness."""
    seen = sorted(
        {
            f"{c.result.get('tls_version', '?')} {c.result.get('tls_cipher', '?')}"
            for c in bench.cells
            if c.row == row.key and c.result is not None
        }
    )
    return ", ".join(seen) or "no result"


def chart(bench: Bench, med: dict[str, dict[str, Result]], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib missing: no chart"
    row = ROW_BY_KEY["echo50"]
    names = [s.name for s in bench.servers if value_of(med, s.name, row) is not None]
    if not names:
        return "no echo50 results: no chart"
    vals = [value_of(med, n, row) or 0.0 for n in names]
    base = value_of(med, "tornado", row)
    colors = ["#d62728" if n.startswith("perfectws") else "#4c72b0" for n in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 4.5))
    bars = ax.bar(names, [v / 1000 for v in vals], color=colors)
    for bar, v, name in zip(bars, vals, names, strict=True):
        label = f"{v / 1000:.1f}k{busy_mark(med[name]['echo50'])}"
        label += f"\n{v / base:.2f}x" if base else ""
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("round trips/s (thousands)")
    ax.set_title(
        "WebSocket echo, 32 B text, 50 connections (server core 0, client core 1)\n"
        f"median of {bench.cfg.rounds} round(s), {bench.cfg.duration} s windows; "
        "label: value, ratio to bare Tornado; * disturbed by other load",
        fontsize=9,
    )
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.margins(y=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {"python": platform.python_version()}
    for pkg in (
        "tornado",
        "aiohttp",
        "websockets",
        "picows",
        "aiofastnet",
        "uvloop",
        "perfectws",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    if shutil.which("node"):
        out["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip()
        for mod in ("ws", "bufferutil", "utf-8-validate"):
            pj = BENCH / "node_modules" / mod / "package.json"
            if pj.exists():
                out[f"npm:{mod}"] = json.loads(pj.read_text())["version"]
    return out


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 round, short windows, 1,000 idle connections (< 2 min)",
    )
    p.add_argument(
        "--servers",
        nargs="+",
        metavar="NAME",
        help=f"subset of: {' '.join(SERVER_BY_NAME)}",
    )
    p.add_argument(
        "--rows", nargs="+", metavar="ROW", help=f"subset of: {' '.join(ROW_BY_KEY)}"
    )
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="both",
        help="perfectws event loop variants to run (default both)",
    )
    p.add_argument("--no-p2", action="store_true", help="skip perfectws --processes 2")
    p.add_argument("--rounds", type=int, help="override the number of rounds")
    p.add_argument("--duration", type=float, help="override the window (s)")
    p.add_argument("--warmup", type=float, help="override the warm-up (s)")
    p.add_argument("--idle-conns", type=int, help="override the idle connections")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run server and client at this niceness, process and autogroup (e.g. "
        "-10, as root), to shield them from other load on the machine; default 0",
    )
    p.add_argument("--out", type=Path, default=BENCH / "out")
    return p.parse_args(argv)


def select_servers(args: argparse.Namespace) -> list[Server]:
    if args.servers:
        unknown = [n for n in args.servers if n not in SERVER_BY_NAME]
        if unknown:
            raise SystemExit(
                f"unknown server(s): {unknown}; known: {list(SERVER_BY_NAME)}"
            )
        chosen = [SERVER_BY_NAME[n] for n in args.servers]
    else:
        chosen = list(SERVERS) if args.quick else [*SERVERS, C_ECHO]
        if args.loop == "asyncio":
            chosen = [s for s in chosen if not (s.perfectws and "uvloop" in s.name)]
        elif args.loop == "uvloop":
            chosen = [s for s in chosen if not s.perfectws or "uvloop" in s.name]
        if args.no_p2:
            chosen = [s for s in chosen if s.processes == 1]
    return chosen


def preflight() -> None:
    if sys.platform != "linux":
        raise SystemExit("bench/run.py needs Linux (/proc, taskset, epoll)")
    if shutil.which("taskset") is None:
        raise SystemExit("taskset not found (util-linux)")
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 CPUs: server on core 0, client on core 1")


def prepare_environment(
    argv: list[str] | None, servers: list[Server]
) -> dict[str, str]:
    """Install what the servers need, then re-execute under bench/.env; its notes.

    The first run installs and re-executes itself with the notes in
    PERFECTWS_BENCH_NOTES; the re-executed run reads them back and returns.
    """
    if os.environ.get("PERFECTWS_BENCH_NOTES") is not None:
        notes: dict[str, str] = json.loads(os.environ["PERFECTWS_BENCH_NOTES"])
    else:
        notes = ensure_environment(
            any(s.perfectws for s in servers), any(s.needs == "node" for s in servers)
        )
    if Path(sys.prefix).resolve() != ENV.resolve():
        if os.environ.get("PERFECTWS_BENCH_NOTES") is not None:
            raise SystemExit("could not re-execute under bench/.env")
        os.environ["PERFECTWS_BENCH_NOTES"] = json.dumps(notes)
        os.execv(
            str(ENV_PY),
            [
                str(ENV_PY),
                str(Path(__file__).resolve()),
                *(argv if argv is not None else sys.argv[1:]),
            ],
        )
    return notes


def drop_unavailable(servers: list[Server], notes: dict[str, str]) -> list[Server]:
    """The servers that can run, after logging every setup note."""
    if "perfectws" in notes:
        log(f"note: skipping perfectws rows: perfectws {notes['perfectws']}")
        servers = [s for s in servers if not s.perfectws]
    if "node" in notes:
        log(f"note: skipping node_ws: {notes['node']}")
        servers = [s for s in servers if s.needs != "node"]
    if any(s.fanout for s in servers) and not redis_server():
        log("note: skipping perfectws_fanout: no redis-server (scripts/redis.sh)")
        servers = [s for s in servers if not s.fanout]
    for key, note in notes.items():
        if key not in ("perfectws", "node"):
            log(f"note: {note}")
    if not servers:
        raise SystemExit("no servers to run")
    return servers


def make_config(args: argparse.Namespace) -> Config:
    """--quick's or the full configuration, with the command line's overrides."""
    base = QUICK if args.quick else FULL
    return Config(
        rounds=args.rounds or base.rounds,
        warmup=args.warmup if args.warmup is not None else base.warmup,
        duration=args.duration or base.duration,
        idle_conns=args.idle_conns or base.idle_conns,
        idle_hold=base.idle_hold,
        nice=args.nice,
    )


def select_rows(args: argparse.Namespace) -> list[Row]:
    """The rows asked for with --rows (every row by default)."""
    unknown_rows = [k for k in args.rows or () if k not in ROW_BY_KEY]
    if unknown_rows:
        raise SystemExit(f"unknown row(s): {unknown_rows}; known: {list(ROW_BY_KEY)}")
    return list(ROWS) if not args.rows else [ROW_BY_KEY[k] for k in args.rows]


def make_tls_files(out: Path) -> TLSFiles:
    """A throwaway CA and a certificate for 127.0.0.1, made by trustme, as files.

    Nothing verifies it (wsload --tls does not): it exists so that the servers
    can serve wss; a fresh one per run keeps no key material in the repository.
    """
    import trustme

    folder = out / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")
    files = TLSFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(files.key))
    return files


def make_bench(args: argparse.Namespace, servers: list[Server]) -> Bench:
    """The Bench for these servers and the chosen rows, with a clean out folder."""
    cfg = make_config(args)
    rows = select_rows(args)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "logs", ignore_errors=True)
    tls = make_tls_files(out) if any(r.tls for r in rows) else None
    return Bench(cfg, servers, rows, out, tls)


def warn_if_disturbed(cells: list[Cell]) -> None:
    """Say so when other processes took a noticeable share of the machine."""
    busy = [
        c.result["other_cpu_share"]
        for c in cells
        if c.result and "other_cpu_share" in c.result
    ]
    if busy and max(busy) > 0.15:
        log(
            f"\nwarning: other processes used up to {max(busy):.2f} cores during some "
            "windows (median {:.2f}); those numbers are disturbed.".format(
                statistics.median(busy)
            )
        )


def results_document(
    bench: Bench,
    med: dict[str, dict[str, Result]],
    notes: dict[str, str],
    quick: bool,
    elapsed: float,
) -> dict[str, Any]:
    """Everything results.json holds: the run's settings, medians and cells."""
    return {
        "meta": {
            "started": time.strftime(
                "%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() - elapsed)
            ),
            "elapsed_s": round(elapsed, 1),
            "quick": quick,
            "config": asdict(bench.cfg),
            "server_cpu": SERVER_CPU,
            "client_cpu": CLIENT_CPU,
            "machine": {
                "kernel": platform.release(),
                "cpus": os.cpu_count(),
                "model": cpu_model(),
            },
            "versions": versions(),
            "notes": notes,
            "cold": [s.name for s in bench.servers if not s.warm],
        },
        "servers": [asdict(s) for s in bench.servers],
        "rows": [
            {
                "key": r.key,
                "title": r.title,
                "metric": r.metric,
                "unit": r.unit,
                "higher_is_better": r.higher_is_better,
                "tls": r.tls,
            }
            for r in bench.rows
        ],
        "median": med,
        "cells": [asdict(c) for c in bench.cells],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every cell produced a result, 1 otherwise."""
    args = parse_args(argv)
    preflight()
    servers = select_servers(args)
    notes = prepare_environment(argv, servers)
    servers = drop_unavailable(servers, notes)
    raise_nofile()
    bench = make_bench(args, servers)
    cfg = bench.cfg
    log(
        f"bench: {len(servers)} servers x {len(bench.rows)} rows x {cfg.rounds} "
        f"round(s); warm-up {cfg.warmup} s, window {cfg.duration} s; "
        f"server on core {SERVER_CPU}, client on core {CLIENT_CPU}"
    )
    t0 = time.monotonic()
    bench.run()
    elapsed = time.monotonic() - t0
    med = medians(bench.cells)
    print(report(bench, med), flush=True)
    warn_if_disturbed(bench.cells)
    chart_note = chart(bench, med, bench.out / "echo50.png")
    document = results_document(bench, med, notes, args.quick, elapsed)
    (bench.out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    log(
        f"\nwrote {bench.out / 'results.json'}"
        + (f"; {chart_note}" if chart_note else f" and {bench.out / 'echo50.png'}")
    )
    log(f"total {fmt_time(elapsed)} for {len(bench.cells)} cells")
    return 1 if any(c.error for c in bench.cells) else 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
