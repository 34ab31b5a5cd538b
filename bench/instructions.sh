#!/usr/bin/env bash
# Instructions per operation of perfectws's bench server, counted by callgrind.
#
#   bench/instructions.sh [SECONDS] [WSLOAD MODE AND OPTIONS...]
#   bench/instructions.sh 60 handshake --parallel 16
#   bench/instructions.sh 30 echo --conns 50 --size 32
#   bench/instructions.sh 30 echo --conns 50 --size 65536 --binary --path /echo-bin
#
# Rates on a shared machine move by 10-20% between runs; instruction counts
# repeat to about 0.2% whatever else runs, so they compare two versions of the
# hot path (docs/performance.md, "Winning the handshake back"). Run it in two
# checkouts (a `git worktree` of the older commit, with its own
# `python setup.py build_ext --inplace`) and compare the last lines. Counting
# runs only while wsload does (--instr-atstart=no, callgrind_control -i); the
# server is ~50x slower under valgrind, so give it tens of seconds.
# Needs valgrind (apt-get install -y valgrind) and bench/wsload (make -C bench wsload).
set -euo pipefail

BENCH="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$BENCH")"
SECONDS_TO_RUN="${1:-30}"
shift || true
if [ $# -eq 0 ]; then set -- handshake --parallel 16; fi
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 2; }
[ -x "$BENCH/wsload" ] || make -s -C "$BENCH" wsload

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

cd "$BENCH/servers"
PYTHONPATH="$REPO" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$OUT/callgrind.out" \
    "$PYTHON" perfectws_echo.py --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 240); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.5
done
echo "warming up (2 s), then counting for ${SECONDS_TO_RUN} s: $*" >&2
"$BENCH/wsload" "$@" --port "$PORT" --duration 2 --warmup 0 >/dev/null
callgrind_control -i on "$SERVER" >/dev/null
RESULT="$("$BENCH/wsload" "$@" --port "$PORT" --duration "$SECONDS_TO_RUN" --warmup 0)"
callgrind_control -i off "$SERVER" >/dev/null
kill -INT "$SERVER"
wait "$SERVER" || true
TOTAL="$(callgrind_annotate "$OUT"/callgrind.out* | awk '/PROGRAM TOTALS/ && !seen {gsub(",", "", $1); print $1; seen = 1}')"
COUNT="$(printf '%s' "$RESULT" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["count"])')"
"$PYTHON" -c "print(f'{$COUNT} operations, {$TOTAL:,} instructions: {$TOTAL / $COUNT:,.0f} per operation')"
