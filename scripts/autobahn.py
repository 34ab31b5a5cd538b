#!/usr/bin/env python3
"""Run Autobahn|Testsuite's fuzzingclient against a WebSocket echo server; gate on it.

Usage (from the repository root, after ``scripts/install-autobahn.sh``)::

    python scripts/autobahn.py                    # 1.*-10.* against perfectws
    python scripts/autobahn.py --tls              # the same over wss://
    python scripts/autobahn.py --cases "5.*,7.*"  # a subset
    python scripts/autobahn.py --include-compression
    python scripts/autobahn.py --deflate          # 1.*-13.*, server with --deflate
    python scripts/autobahn.py --server-cmd "{python} my_server.py --port {port}"

It starts the server command, waits until its port accepts connections, writes the
fuzzingclient spec (``ws://127.0.0.1:PORT/echo``, or ``wss://`` with ``--tls``), runs ``wstest -m fuzzingclient``, stops the server (SIGTERM, then
SIGKILL), reads ``index.json`` and prints a per-category Markdown table (also written
to ``<report-dir>/summary.md``).

With ``--tls`` a throwaway CA and a certificate for 127.0.0.1 are made with trustme
into ``<report-dir>/tls/`` and ``--cert FILE --key FILE`` are added to the server
command. wstest does not verify the certificate: Autobahn's ``connectWS``
(autobahn/twisted/websocket.py in autobahn 0.10.9) connects with Twisted's
``ssl.ClientContextFactory()``, which sets no verification.

Exit status:
  0  every selected case ran and none failed;
  1  a case FAILED (``behavior`` FAILED, or ``behaviorClose`` FAILED/UNCLEAN), fewer
     cases ran than were selected (wstest stops at the first refused connection but
     still writes index.json), or the server exited by itself during the run;
  2  no run could be made (wstest not installed, port busy, server did not start,
     wstest timed out or wrote no index.json).
"""

from __future__ import annotations

import argparse
import ast
import collections
import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CASES = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*"
COMPRESSION_CASES = "12.*,13.*"
DEFAULT_SERVER_CMD = "{python} examples/conformance_server.py --port {port}"
DEFLATE_SERVER_CMD = DEFAULT_SERVER_CMD + " --deflate"
DEFAULT_AGENT = "perfectws"

# Cases per category in Autobahn|Testsuite 0.8.2 (categories 8 and 11 have none):
# 1.* to 10.* together are 301 cases, 12.* and 13.* another 216. Used only when
# wstest's own case list ("Cases = [...]", printed as a run starts) cannot be read.
KNOWN_CASE_COUNTS: dict[int, int] = {
    1: 16,
    2: 11,
    3: 7,
    4: 10,
    5: 20,
    6: 145,
    7: 37,
    9: 54,
    10: 1,
    12: 90,
    13: 126,
}

CATEGORY_NAMES: dict[int, str] = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved Bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 Handling",
    7: "Close Handling",
    9: "Limits/Performance",
    10: "Miscellaneous",
    12: "Compression (payloads)",
    13: "Compression (parameters)",
}

OK = "OK"
NON_STRICT = "NON-STRICT"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
FAILED = "FAILED"
COLUMNS: tuple[str, ...] = (OK, NON_STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED)

# behaviorClose values that fail a case. Autobahn's own HTML report shows FAILED and
# UNCLEAN as failures, "WRONG CODE" and "FAILED BY CLIENT" only as warnings (where the
# close code matters, e.g. 7.9.x, a wrong one also makes `behavior` FAILED).
FAILING_CLOSE = frozenset({"FAILED", "UNCLEAN"})
PASSING_BEHAVIOR = frozenset({OK, NON_STRICT, INFORMATIONAL, UNIMPLEMENTED})


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """One row of index.json for one agent."""

    case_id: str
    behavior: str
    behavior_close: str
    report_file: str

    @property
    def failed(self) -> bool:
        """True when this case fails the gate."""
        return (
            self.behavior not in PASSING_BEHAVIOR
            or self.behavior_close in FAILING_CLOSE
        )

    @property
    def outcome(self) -> str:
        """The table column this case is counted in."""
        return FAILED if self.failed else self.behavior

    @property
    def category(self) -> int:
        """The case's top-level category (7 for 7.9.1)."""
        return int(self.case_id.split(".", 1)[0])


@dataclasses.dataclass
class GateResult:
    """What the gate decided, with everything needed to explain it."""

    results: list[CaseResult]
    expected_ids: list[str] | None
    expected_count: int | None
    failed: list[CaseResult]
    missing: list[str]
    problems: list[str]

    @property
    def passed(self) -> bool:
        """True when the run is clean: no FAILED case and no case missing."""
        return not self.problems

    @property
    def ran(self) -> int:
        """Number of cases that have a result in index.json."""
        return len(self.results)

    def with_status(self, status: str) -> list[CaseResult]:
        """The cases whose outcome is `status`."""
        return [r for r in self.results if r.outcome == status]


def case_sort_key(case_id: str) -> tuple[int, ...]:
    """Sort key for case ids, numerically per component ("7.9.10" after "7.9.9")."""
    return tuple(int(p) if p.isdigit() else -1 for p in case_id.split("."))


def split_patterns(text: str) -> list[str]:
    """Split a comma-separated case list ("1.*, 2.*") into patterns."""
    return [p.strip() for p in text.split(",") if p.strip()]


def build_spec(
    port: int,
    cases: Sequence[str],
    exclude: Sequence[str],
    outdir: Path,
    agent: str = DEFAULT_AGENT,
    scheme: str = "ws",
) -> dict[str, Any]:
    """The fuzzingclient spec for one server at {scheme}://127.0.0.1:{port}/echo."""
    if scheme not in ("ws", "wss"):
        raise ValueError(f"scheme must be 'ws' or 'wss', not {scheme!r}")
    return {
        "outdir": str(outdir),
        "servers": [
            {
                "agent": agent,
                "url": f"{scheme}://127.0.0.1:{port}/echo",
                "protocols": ["echo"],
            }
        ],
        "cases": list(cases),
        "exclude-cases": list(exclude),
        "exclude-agent-cases": {},
    }


def parse_case_list(output: str) -> list[str] | None:
    """The case ids wstest says it will run (its "Cases = [...]" line), or None."""
    match = re.search(r"^Cases = (\[.*\])\s*$", output, re.MULTILINE)
    if match is None:
        return None
    try:
        value = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return list(value)


def parse_case_count(output: str) -> int | None:
    """The count from wstest's "Ok, will run N test cases" line, or None."""
    match = re.search(r"will run (\d+) test cases", output)
    return int(match.group(1)) if match else None


def known_case_count(cases: Sequence[str], exclude: Sequence[str]) -> int | None:
    """Expected count for whole-category selections ("6.*"), from KNOWN_CASE_COUNTS."""
    if exclude:
        return None
    if list(cases) == ["*"]:
        return sum(KNOWN_CASE_COUNTS.values())
    cats: set[int] = set()
    for pattern in cases:
        match = re.fullmatch(r"(\d+)\.\*", pattern)
        if match is None:
            return None
        cats.add(int(match.group(1)))
    return sum(KNOWN_CASE_COUNTS.get(c, 0) for c in cats)


def results_from_index(index: Mapping[str, Any], agent: str) -> list[CaseResult]:
    """The results of `agent` in a parsed index.json, sorted by case id."""
    cases = index.get(agent, {})
    if not isinstance(cases, Mapping):
        raise ValueError(f"index.json: entry for agent {agent!r} is not an object")
    out = []
    for case_id, row in cases.items():
        if not isinstance(row, Mapping):
            raise ValueError(f"index.json: case {case_id} is not an object")
        out.append(
            CaseResult(
                case_id=str(case_id),
                behavior=str(row.get("behavior", "")),
                behavior_close=str(row.get("behaviorClose", "")),
                report_file=str(row.get("reportfile", "")),
            )
        )
    out.sort(key=lambda r: case_sort_key(r.case_id))
    return out


def evaluate(
    results: Sequence[CaseResult],
    expected_ids: Sequence[str] | None = None,
    expected_count: int | None = None,
) -> GateResult:
    """Decide the gate: fail on any failing case, and on fewer cases than expected.

    `expected_ids` (wstest's own case list) is preferred, `expected_count` is the
    fallback. With neither, completeness cannot be checked, which fails the gate too.
    """
    failed = [r for r in results if r.failed]
    problems: list[str] = []
    missing: list[str] = []
    ran_ids = {r.case_id for r in results}
    if expected_ids is not None:
        expected_count = len(expected_ids)
        missing = sorted(set(expected_ids) - ran_ids, key=case_sort_key)
    if failed:
        problems.append(f"{len(failed)} case(s) FAILED")
    if expected_count is None:
        problems.append("could not determine how many cases should have run")
    elif missing or len(results) < expected_count:
        problems.append(
            f"only {len(results)} of {expected_count} selected cases ran"
            " (wstest stops at the first refused connection: did the server die?)"
        )
    if not results:
        problems.append("no case ran at all")
    return GateResult(
        results=list(results),
        expected_ids=list(expected_ids) if expected_ids is not None else None,
        expected_count=expected_count,
        failed=failed,
        missing=missing,
        problems=problems,
    )


def format_table(results: Iterable[CaseResult]) -> str:
    """Per-category Markdown table of outcomes, with a total row."""
    per: dict[int, collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    for r in results:
        per[r.category][r.outcome] += 1
    header = "| cat | name | " + " | ".join(COLUMNS) + " | total |"
    sep = "|---|---|" + "---:|" * (len(COLUMNS) + 1)
    lines = [header, sep]
    total: collections.Counter[str] = collections.Counter()
    for cat in sorted(per):
        counts = per[cat]
        total.update(counts)
        cells = " | ".join(str(counts[c]) for c in COLUMNS)
        name = CATEGORY_NAMES.get(cat, "")
        lines.append(f"| {cat} | {name} | {cells} | {sum(counts.values())} |")
    cells = " | ".join(f"**{total[c]}**" for c in COLUMNS)
    lines.append(f"| **total** | | {cells} | **{sum(total.values())}** |")
    return "\n".join(lines)


def _ids(results: Sequence[CaseResult]) -> str:
    return ", ".join(r.case_id for r in results) if results else "none"


def format_summary(
    gate: GateResult, report_dir: Path, agent: str, scheme: str = "ws"
) -> str:
    """The full Markdown summary: verdict, table, failed/missing/noted case lists."""
    verdict = "PASSED" if gate.passed else "FAILED"
    expected = "?" if gate.expected_count is None else str(gate.expected_count)
    lines = [
        f"# Autobahn|Testsuite: {agent} over {scheme}://: {verdict}",
        "",
        f"{gate.ran} of {expected} selected cases ran.",
        "",
        format_table(gate.results),
        "",
    ]
    if gate.problems:
        lines += ["## Problems", ""] + [f"- {p}" for p in gate.problems] + [""]
    if gate.failed:
        lines += [
            "## FAILED cases",
            "",
            "(each JSON report has an .html twin beside it)",
            "",
        ]
        for r in gate.failed:
            path = report_dir / r.report_file if r.report_file else report_dir
            lines.append(
                f"- {r.case_id}: behavior={r.behavior}"
                f" behaviorClose={r.behavior_close} report={path}"
            )
        lines.append("")
    if gate.missing:
        shown = gate.missing[:20]
        more = (
            f" (and {len(gate.missing) - len(shown)} more)" if gate.missing[20:] else ""
        )
        lines += [
            "## Cases that did not run",
            "",
            ", ".join(shown) + more,
            "",
        ]
    lines += [
        f"NON-STRICT: {_ids(gate.with_status(NON_STRICT))}",
        "",
        f"INFORMATIONAL: {_ids(gate.with_status(INFORMATIONAL))}",
        "",
    ]
    odd_close = [
        r
        for r in gate.results
        if not r.failed and r.behavior_close not in ("OK", INFORMATIONAL, "")
    ]
    if odd_close:
        lines += [
            "Close-behaviour warnings (not failures): "
            + ", ".join(f"{r.case_id} ({r.behavior_close})" for r in odd_close),
            "",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- running


class RunError(Exception):
    """The run could not be made (not a conformance failure)."""


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"autobahn: {msg}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a text file ("" if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_argv(template: str, port: int) -> list[str]:
    """Split the server command, then fill {python} and {port} in each word."""
    return [
        word.format(python=sys.executable, port=port) for word in shlex.split(template)
    ]


def start_server(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the server with stdout and stderr going to `log_path`."""
    # The checkout's perfectws (as tests/example_process.py does), not the one
    # the venv has installed: a worktree must test its own code.
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    with log_path.open("wb") as out:
        try:
            return subprocess.Popen(
                argv,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RunError(f"cannot start the server {argv!r}: {exc}") from exc


def wait_for_port(
    proc: subprocess.Popen[bytes], port: int, timeout: float, log_path: Path
) -> None:
    """Wait until the port accepts connections; fail early if the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(
                f"the server exited with code {proc.returncode} before accepting"
                f" connections on port {port}. Last lines of {log_path}:\n"
                + (tail(log_path) or "(no output)")
            )
        if port_open(port):
            return
        time.sleep(0.1)
    raise RunError(
        f"the server did not accept connections on 127.0.0.1:{port} within"
        f" {timeout:g} s. Last lines of {log_path}:\n"
        + (tail(log_path) or "(no output)")
    )


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> str:
    """SIGTERM the process by PID, SIGKILL it after `timeout` s; say what happened."""
    if proc.poll() is not None:
        return f"had already exited with code {proc.returncode}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return f"stopped (exit code {proc.returncode})"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"did not stop within {timeout:g} s of SIGTERM; killed with SIGKILL"


def _pump(stream: TextIO, log_file: TextIO, lines: list[str]) -> None:
    """Copy wstest's output to the log, keep it, and print a line per category."""
    category = None
    for line in stream:
        log_file.write(line)
        log_file.flush()
        lines.append(line)
        match = re.match(r"Running test case ID (\d+)\.", line)
        if match:
            if match.group(1) != category:
                category = match.group(1)
                log(f"wstest: running category {category}.*")
        elif line.startswith("Cases = "):
            continue
        elif line.strip():
            print(f"  wstest| {line.rstrip()}", file=sys.stderr, flush=True)


def run_wstest(wstest: Path, spec_path: Path, log_path: Path, timeout: float) -> str:
    """Run the fuzzingclient; return its combined output."""
    env = dict(os.environ, PYTHONWARNINGS="ignore:Python 2 is no longer supported")
    lines: list[str] = []
    with log_path.open("w") as log_file:
        try:
            proc = subprocess.Popen(
                [str(wstest), "-m", "fuzzingclient", "-s", str(spec_path)],
                cwd=spec_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
        except OSError as exc:
            raise RunError(f"cannot run {wstest}: {exc}") from exc
        assert proc.stdout is not None
        pump = threading.Thread(
            target=_pump, args=(proc.stdout, log_file, lines), daemon=True
        )
        pump.start()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc, 5)
            raise RunError(
                f"wstest did not finish within {timeout:g} s (see {log_path});"
                " raise --timeout (12.*/13.* with compression take ~8 min)"
            ) from None
        except BaseException:
            stop_process(proc, 5)
            raise
        finally:
            pump.join(5)
            proc.stdout.close()
    if proc.returncode != 0:
        log(f"wstest exited with code {proc.returncode} (see {log_path})")
    return "".join(lines)


def make_tls_files(folder: Path) -> tuple[Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 (trustme), as (cert, key) files."""
    try:
        import trustme
    except ImportError as exc:
        raise RunError(
            f"--tls needs trustme in {sys.executable} (pip install trustme)"
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    issued = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def clean_report_dir(report_dir: Path) -> None:
    """Remove the files an earlier run left, so a stale index.json is never read."""
    patterns = ("index.json", "index.html", "*_case_*.json", "*_case_*.html")
    for pattern in patterns:
        for path in report_dir.glob(pattern):
            path.unlink()
    for name in ("summary.md", "spec.json", "wstest.log", "server.log"):
        (report_dir / name).unlink(missing_ok=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite (fuzzingclient) against a server and gate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--cases", default=DEFAULT_CASES, help="comma-separated case patterns"
    )
    p.add_argument("--exclude", default="", help="comma-separated patterns to skip")
    p.add_argument(
        "--include-compression",
        action="store_true",
        help=f"also run {COMPRESSION_CASES} (permessage-deflate; ~8 min if negotiated)",
    )
    p.add_argument(
        "--deflate",
        action="store_true",
        help=f"run the conformance server with permessage-deflate on and add "
        f"{COMPRESSION_CASES} (~8 min); --agent defaults to perfectws-deflate",
    )
    p.add_argument(
        "--server-cmd",
        default=DEFAULT_SERVER_CMD,
        help="server command, run from the repository root; {python} is this"
        " interpreter, {port} the port",
    )
    p.add_argument("--port", type=int, default=9001)
    p.add_argument(
        "--tls",
        action="store_true",
        help="run over wss://: a trustme certificate, --cert/--key added to the"
        " server command",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="where reports go (default: reports/autobahn, or reports/autobahn-wss"
        " with --tls, in the repository)",
    )
    p.add_argument(
        "--wstest",
        type=Path,
        default=None,
        help="wstest executable (default: .autobahn/wstest in the repository)",
    )
    p.add_argument("--agent", default=DEFAULT_AGENT, help="agent name in the reports")
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=20.0,
        help="seconds to wait for the server's port",
    )
    p.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed for wstest"
    )
    p.add_argument(
        "--stop-timeout",
        type=float,
        default=5.0,
        help="seconds between SIGTERM and SIGKILL",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; return the exit status (0 pass, 1 gate failure, 2 no run)."""
    args = parse_args(argv)
    if args.deflate:
        args.include_compression = True
        if args.server_cmd == DEFAULT_SERVER_CMD:
            args.server_cmd = DEFLATE_SERVER_CMD
        if args.agent == DEFAULT_AGENT:
            args.agent = DEFAULT_AGENT + "-deflate"
    default_dir = ROOT / "reports" / ("autobahn-wss" if args.tls else "autobahn")
    report_dir: Path = (args.report_dir or default_dir).resolve()
    wstest: Path = (args.wstest or ROOT / ".autobahn" / "wstest").resolve()
    cases = split_patterns(args.cases)
    if args.include_compression:
        cases += [c for c in split_patterns(COMPRESSION_CASES) if c not in cases]
    exclude = split_patterns(args.exclude)
    try:
        gate = _run(args, report_dir, wstest, cases, exclude)
    except RunError as exc:
        log(f"error: {exc}")
        return 2
    scheme = "wss" if args.tls else "ws"
    summary = format_summary(gate, report_dir, args.agent, scheme)
    (report_dir / "summary.md").write_text(summary + "\n")
    print(summary)
    log(f"summary written to {report_dir / 'summary.md'}")
    if not gate.passed:
        log("FAILED: " + "; ".join(p.splitlines()[0] for p in gate.problems))
        return 1
    log(f"PASSED: {gate.ran} cases, none FAILED")
    return 0


def _run(
    args: argparse.Namespace,
    report_dir: Path,
    wstest: Path,
    cases: list[str],
    exclude: list[str],
) -> GateResult:
    """Start the server, run wstest, stop the server, read the index."""
    if not (wstest.is_file() and os.access(wstest, os.X_OK)):
        raise RunError(
            f"wstest not found at {wstest}: run scripts/install-autobahn.sh first"
            " (or pass --wstest PATH)"
        )
    if port_open(args.port):
        raise RunError(
            f"something already listens on 127.0.0.1:{args.port}; stop it or pass"
            " --port with a free port"
        )
    report_dir.mkdir(parents=True, exist_ok=True)
    clean_report_dir(report_dir)
    spec_path = report_dir / "spec.json"
    scheme = "wss" if args.tls else "ws"
    spec = build_spec(args.port, cases, exclude, report_dir, args.agent, scheme)
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")

    argv = server_argv(args.server_cmd, args.port)
    if args.tls:
        cert, key = make_tls_files(report_dir / "tls")
        argv += ["--cert", str(cert), "--key", str(key)]
    server_log = report_dir / "server.log"
    log(f"starting server: {shlex.join(argv)} (log: {server_log})")
    proc = start_server(argv, server_log)
    server_note = ""
    t0 = time.monotonic()
    try:
        wait_for_port(proc, args.port, args.startup_timeout, server_log)
        log(f"server pid {proc.pid} listens on 127.0.0.1:{args.port}")
        log(
            f"running wstest on cases {','.join(cases)}"
            + (f" minus {','.join(exclude)}" if exclude else "")
        )
        output = run_wstest(wstest, spec_path, report_dir / "wstest.log", args.timeout)
        log(f"wstest finished in {time.monotonic() - t0:.1f} s")
        if proc.poll() is not None:
            server_note = (
                f"the server exited by itself during the run (code {proc.returncode})."
                f" Last lines of {server_log}:\n" + (tail(server_log) or "(no output)")
            )
    finally:
        how = stop_process(proc, args.stop_timeout)
        log(f"server pid {proc.pid} {how}")

    index_path = report_dir / "index.json"
    if not index_path.is_file():
        raise RunError(
            f"wstest wrote no {index_path}; see {report_dir / 'wstest.log'}"
            + (f"\nAlso: {server_note}" if server_note else "")
        )
    try:
        index = json.loads(index_path.read_text())
        results = results_from_index(index, args.agent)
    except (ValueError, OSError) as exc:
        raise RunError(f"cannot read {index_path}: {exc}") from exc
    expected_ids = parse_case_list(output)
    expected_count = parse_case_count(output)
    if expected_count is None:
        expected_count = known_case_count(cases, exclude)
    gate = evaluate(results, expected_ids, expected_count)
    if server_note:
        gate.problems.append(server_note)
    return gate


if __name__ == "__main__":
    sys.exit(main())
