"""Unit tests of scripts/autobahn.py: reading index.json, the gate and the summary."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "autobahn.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("autobahn_runner", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


ab = _load()


def row(behavior: str = "OK", close: str = "OK", case: str = "1.1.1") -> dict[str, Any]:
    report = "agent_case_" + case.replace(".", "_") + ".json"
    return {
        "behavior": behavior,
        "behaviorClose": close,
        "duration": 1,
        "remoteCloseCode": 1000,
        "reportfile": report,
    }


def index(**cases: tuple[str, str]) -> dict[str, Any]:
    """index.json for agent "agent"; keyword c1_1_1=("OK", "OK") is case 1.1.1."""
    out = {}
    for key, (behavior, close) in cases.items():
        case = key[1:].replace("_", ".")
        out[case] = row(behavior, close, case)
    return {"agent": out}


def test_clean_run_passes() -> None:
    """OK, NON-STRICT, INFORMATIONAL and UNIMPLEMENTED cases all pass the gate."""
    data = index(
        c1_1_1=("OK", "OK"),
        c6_4_1=("NON-STRICT", "OK"),
        c7_1_6=("INFORMATIONAL", "INFORMATIONAL"),
        c12_1_1=("UNIMPLEMENTED", "OK"),
    )
    results = ab.results_from_index(data, "agent")
    gate = ab.evaluate(results, ["1.1.1", "6.4.1", "7.1.6", "12.1.1"])
    assert gate.passed is True
    assert gate.problems == []
    assert gate.failed == []
    assert gate.missing == []
    assert (gate.ran, gate.expected_count) == (4, 4)


def test_failed_behavior_close_fails_gate() -> None:
    """A case whose behavior is OK but behaviorClose is FAILED fails the gate."""
    data = index(c1_1_1=("OK", "OK"), c7_3_1=("OK", "FAILED"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), ["1.1.1", "7.3.1"])
    assert gate.passed is False
    assert [r.case_id for r in gate.failed] == ["7.3.1"]
    assert gate.problems == ["1 case(s) FAILED"]


def test_unclean_close_fails_gate() -> None:
    """behaviorClose UNCLEAN (shown as a failure by Autobahn itself) fails the gate."""
    data = index(c5_1=("OK", "UNCLEAN"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), ["5.1"])
    assert [r.case_id for r in gate.failed] == ["5.1"]
    assert gate.passed is False


def test_failed_behavior_fails_gate() -> None:
    """behavior FAILED fails the gate whatever behaviorClose says."""
    data = index(c7_9_1=("FAILED", "WRONG CODE"), c7_9_2=("FAILED", "OK"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), ["7.9.1", "7.9.2"])
    assert [r.case_id for r in gate.failed] == ["7.9.1", "7.9.2"]
    assert gate.problems == ["2 case(s) FAILED"]


def test_unknown_behavior_fails_gate() -> None:
    """A behavior outside Autobahn's passing set (e.g. NO_CLOSE) fails the gate."""
    data = index(c2_1=("NO_CLOSE", "OK"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), ["2.1"])
    assert [r.outcome for r in gate.results] == ["FAILED"]
    assert gate.passed is False


def test_wrong_code_alone_is_a_warning() -> None:
    """behaviorClose WRONG CODE with behavior OK passes and is listed as a warning."""
    data = index(c7_5_1=("OK", "WRONG CODE"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), ["7.5.1"])
    assert gate.passed is True
    summary = ab.format_summary(gate, Path("/r"), "agent")
    assert "Close-behaviour warnings (not failures): 7.5.1 (WRONG CODE)" in summary


def test_short_run_fails_gate() -> None:
    """Cases missing from index.json (wstest stopped early) fail the gate."""
    data = index(c1_1_1=("OK", "OK"), c1_1_2=("OK", "OK"))
    expected = ["1.1.1", "1.1.2", "1.1.3", "2.1"]
    gate = ab.evaluate(ab.results_from_index(data, "agent"), expected)
    assert gate.passed is False
    assert gate.failed == []
    assert gate.missing == ["1.1.3", "2.1"]
    assert gate.problems == [
        "only 2 of 4 selected cases ran"
        " (wstest stops at the first refused connection: did the server die?)"
    ]


def test_short_run_by_count_fails_gate() -> None:
    """Without wstest's case list, the fallback count (e.g. 301) still catches it."""
    data = index(c1_1_1=("OK", "OK"))
    gate = ab.evaluate(ab.results_from_index(data, "agent"), None, 301)
    assert gate.passed is False
    assert gate.expected_count == 301
    assert gate.problems[0].startswith("only 1 of 301 selected cases ran")


def test_unknown_expected_count_fails_gate() -> None:
    """When the expected number of cases is unknown, the gate refuses to pass."""
    gate = ab.evaluate(ab.results_from_index(index(c1_1_1=("OK", "OK")), "agent"))
    assert gate.problems == ["could not determine how many cases should have run"]


def test_empty_index_fails_gate() -> None:
    """An index.json without the agent (no case ran) fails the gate."""
    gate = ab.evaluate(ab.results_from_index({}, "agent"), [], 0)
    assert gate.problems == ["no case ran at all"]


def test_results_are_sorted_numerically() -> None:
    """Results come sorted by case id, numerically per component."""
    data = index(c7_9_10=("OK", "OK"), c7_9_9=("OK", "OK"), c10_1_1=("OK", "OK"))
    ids = [r.case_id for r in ab.results_from_index(data, "agent")]
    assert ids == ["7.9.9", "7.9.10", "10.1.1"]


def test_format_table() -> None:
    """The Markdown table counts outcomes per category and adds a total row."""
    data = index(
        c1_1_1=("OK", "OK"),
        c1_1_2=("OK", "OK"),
        c6_4_1=("NON-STRICT", "OK"),
        c7_1_6=("INFORMATIONAL", "INFORMATIONAL"),
        c7_9_1=("FAILED", "WRONG CODE"),
        c12_1_1=("UNIMPLEMENTED", "OK"),
    )
    table = ab.format_table(ab.results_from_index(data, "agent"))
    assert table == textwrap.dedent(
        """\
        | cat | name | OK | NON-STRICT | INFORMATIONAL | UNIMPLEMENTED | FAILED | total |
        |---|---|---:|---:|---:|---:|---:|---:|
        | 1 | Framing | 2 | 0 | 0 | 0 | 0 | 2 |
        | 6 | UTF-8 Handling | 0 | 1 | 0 | 0 | 0 | 1 |
        | 7 | Close Handling | 0 | 0 | 1 | 0 | 1 | 2 |
        | 12 | Compression (payloads) | 0 | 0 | 0 | 1 | 0 | 1 |
        | **total** | | **2** | **1** | **1** | **1** | **1** | **6** |"""
    )


def test_format_summary_lists_cases() -> None:
    """The summary names failed cases with behaviors and report path, and the notes."""
    data = index(
        c6_4_3=("NON-STRICT", "OK"),
        c7_1_6=("INFORMATIONAL", "INFORMATIONAL"),
        c7_9_1=("FAILED", "WRONG CODE"),
    )
    gate = ab.evaluate(
        ab.results_from_index(data, "agent"), ["6.4.3", "7.1.6", "7.9.1"]
    )
    summary = ab.format_summary(gate, Path("/reports"), "agent")
    lines = summary.splitlines()
    assert lines[0] == "# Autobahn|Testsuite: agent over ws://: FAILED"
    wss = ab.format_summary(gate, Path("/reports"), "agent", "wss")
    assert wss.splitlines()[0] == "# Autobahn|Testsuite: agent over wss://: FAILED"
    assert lines[2] == "3 of 3 selected cases ran."
    assert (
        "- 7.9.1: behavior=FAILED behaviorClose=WRONG CODE"
        " report=/reports/agent_case_7_9_1.json"
    ) in lines
    assert "- 1 case(s) FAILED" in lines
    assert "NON-STRICT: 6.4.3" in lines
    assert "INFORMATIONAL: 7.1.6" in lines


def test_format_summary_lists_missing_cases() -> None:
    """A short run's summary lists the cases that did not run."""
    gate = ab.evaluate(
        ab.results_from_index(index(c1_1_1=("OK", "OK")), "agent"), ["1.1.1", "2.1"]
    )
    lines = ab.format_summary(gate, Path("/r"), "agent").splitlines()
    assert lines[lines.index("## Cases that did not run") + 2] == "2.1"
    assert "NON-STRICT: none" in lines


def test_parse_case_list() -> None:
    """wstest's "Cases = [...]" line is parsed into ids (u'' prefixes included)."""
    out = (
        "Ok, will run 3 test cases against 1 servers\n"
        "Cases = ['1.1.1', u'1.1.2', '2.1']\n"
        "Servers = [u'ws://127.0.0.1:9001/echo']\n"
    )
    assert ab.parse_case_list(out) == ["1.1.1", "1.1.2", "2.1"]
    assert ab.parse_case_count(out) == 3
    assert ab.parse_case_list("no such line\n") is None
    assert ab.parse_case_count("no such line\n") is None


def test_known_case_count() -> None:
    """The hard-coded fallback: 301 cases for 1.*-10.*, 517 with 12.*/13.*."""
    default = ab.split_patterns(ab.DEFAULT_CASES)
    assert ab.known_case_count(default, []) == 301
    both = default + ab.split_patterns(ab.COMPRESSION_CASES)
    assert ab.known_case_count(both, []) == 517
    assert ab.known_case_count(["*"], []) == 517
    assert ab.known_case_count(["7.*", "9.*"], []) == 91
    assert ab.known_case_count(["7.9.*"], []) is None
    assert ab.known_case_count(default, ["9.*"]) is None


def test_build_spec() -> None:
    """The spec targets /echo on 127.0.0.1 with the "echo" subprotocol."""
    spec = ab.build_spec(9001, ["1.*"], ["1.1.2"], Path("/out"), "perfectws")
    assert spec == {
        "outdir": "/out",
        "servers": [
            {
                "agent": "perfectws",
                "url": "ws://127.0.0.1:9001/echo",
                "protocols": ["echo"],
            }
        ],
        "cases": ["1.*"],
        "exclude-cases": ["1.1.2"],
        "exclude-agent-cases": {},
    }


def test_build_spec_wss() -> None:
    """With scheme "wss" the fuzzingclient connects with TLS; other schemes are refused."""
    spec = ab.build_spec(9001, ["1.*"], [], Path("/out"), "perfectws", "wss")
    assert spec["servers"][0]["url"] == "wss://127.0.0.1:9001/echo"
    with pytest.raises(ValueError, match="scheme"):
        ab.build_spec(9001, ["1.*"], [], Path("/out"), "perfectws", "http")


def test_server_argv() -> None:
    """The server command is split first, then {python} and {port} are filled in."""
    argv = ab.server_argv("{python} examples/x.py --port {port} --name 'a b'", 9123)
    assert argv == [sys.executable, "examples/x.py", "--port", "9123", "--name", "a b"]


# --- main() end to end, with a fake wstest and a plain HTTP server (no Autobahn) ------

FAKE_WSTEST = """\
import json, sys
spec = json.load(open(sys.argv[sys.argv.index("-s") + 1]))
rows = json.loads({rows!r})
print("Ok, will run %d test cases against 1 servers" % {expected})
print("Cases = %r" % ({ids!r},))
agent = spec["servers"][0]["agent"]
json.dump({{agent: rows}}, open(spec["outdir"] + "/index.json", "w"))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_main(
    tmp_path: Path,
    rows: dict[str, Any],
    ids: list[str],
    *,
    check: str = "",
    extra: tuple[str, ...] = (),
    server_cmd: str = "{python} -m http.server {port} --bind 127.0.0.1",
) -> int:
    wstest = tmp_path / "wstest"
    body = FAKE_WSTEST.format(rows=json.dumps(rows), expected=len(ids), ids=ids)
    wstest.write_text(f"#!{sys.executable}\n{check}{body}")
    wstest.chmod(0o755)
    return int(
        ab.main(
            [
                "--wstest",
                str(wstest),
                "--port",
                str(_free_port()),
                "--report-dir",
                str(tmp_path / "reports"),
                "--agent",
                "agent",
                "--server-cmd",
                server_cmd,
                *extra,
            ]
        )
    )


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns 0 for a clean run, 1 for a FAILED case, and writes summary.md."""
    clean = {"1.1.1": row("OK", "OK", "1.1.1")}
    assert _run_main(tmp_path, clean, ["1.1.1"]) == 0
    assert "PASSED" in (tmp_path / "reports" / "summary.md").read_text()
    bad = {"7.9.1": row("FAILED", "WRONG CODE", "7.9.1")}
    assert _run_main(tmp_path, bad, ["7.9.1"]) == 1
    out = capsys.readouterr().out
    assert "- 7.9.1: behavior=FAILED behaviorClose=WRONG CODE" in out


def test_main_short_run_exit_code(tmp_path: Path) -> None:
    """main() returns 1 when index.json has fewer cases than wstest listed."""
    rows = {"1.1.1": row("OK", "OK", "1.1.1")}
    assert _run_main(tmp_path, rows, ["1.1.1", "1.1.2"]) == 1


def test_main_without_wstest(tmp_path: Path) -> None:
    """main() returns 2 when wstest is not installed."""
    assert ab.main(["--wstest", str(tmp_path / "missing")]) == 2


# A TLS server for --tls: it must be started with --cert/--key that load, and it
# answers a TLS handshake on its port.
TLS_SERVER = """\
import argparse, http.server, ssl
p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--cert")
p.add_argument("--key")
a = p.parse_args()
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(a.cert, a.key)
server = http.server.HTTPServer(("127.0.0.1", a.port), http.server.BaseHTTPRequestHandler)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""

# Run by the fake wstest before it writes index.json: the spec says wss, and the
# server at that URL speaks TLS.
CHECK_WSS = """\
import json, socket, ssl, sys
url = json.load(open(sys.argv[sys.argv.index("-s") + 1]))["servers"][0]["url"]
assert url.startswith("wss://127.0.0.1:"), url
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
port = int(url.split(":")[2].split("/")[0])
with socket.create_connection(("127.0.0.1", port)) as raw:
    with context.wrap_socket(raw) as tls:
        assert tls.version() is not None
"""


def test_main_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--tls: trustme files go to the server as --cert/--key, the spec says wss://."""
    server = tmp_path / "tls_server.py"
    server.write_text(TLS_SERVER)
    clean = {"1.1.1": row("OK", "OK", "1.1.1")}
    status = _run_main(
        tmp_path,
        clean,
        ["1.1.1"],
        check=CHECK_WSS,
        extra=("--tls",),
        server_cmd=f"{{python}} {server} --port {{port}}",
    )
    assert status == 0
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert summary.startswith("# Autobahn|Testsuite: agent over wss://: PASSED")
    assert (tmp_path / "reports" / "tls" / "cert.pem").is_file()
    # Without the TLS check passing, the fake wstest writes no index: exit 2.
    server.write_text(TLS_SERVER.replace("server.socket = ", "_ = "))
    assert (
        _run_main(
            tmp_path,
            clean,
            ["1.1.1"],
            check=CHECK_WSS,
            extra=("--tls",),
            server_cmd=f"{{python}} {server} --port {{port}}",
        )
        == 2
    )
