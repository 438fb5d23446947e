#!/usr/bin/env bash
# Authorized read throughput of the release server under an allocator setting, for comparing
# settings run after run (alternate them: this machine's speed drifts between minutes):
#   GET /api/auth/me with an access token, 16 connections, 10 s; prints req/s and p99.
#
#   bench/memory/read_ab.sh [VAR=VALUE ...]
#   for i in 1 2; do bench/memory/read_ab.sh; bench/memory/read_ab.sh MALLOC_ARENA_MAX=2; done
# Traffic to 127.0.0.1 only; ~12 s.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${AUTERITY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/auterity}
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 2; }
D=$(mktemp -d -t auterity-read.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PASS='Bench-Run!2025-xQ7z'
env "$@" AUTERITY_ADMIN_EMAIL=admin@bench.local AUTERITY_ADMIN_PASSWORD=$PASS AUTERITY_LOG_LEVEL=warn \
  "$BIN" serve --data-dir "$D" --listen "127.0.0.1:$PORT" >"$D/log" 2>&1 &
P=$!
trap 'kill -TERM $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
BODY="{\"email\":\"admin@bench.local\",\"password\":\"$PASS\"}"
TOK=$(curl -sf "127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' -d "$BODY" | jq -er .access_token)
wrk -t2 -c16 -d10s --latency -H "Authorization: Bearer $TOK" "http://127.0.0.1:$PORT/api/auth/me" >"$D/w.txt"
echo "${*:-default}: req/s=$(awk '/Requests\/sec/ {print $2}' "$D/w.txt") p99=$(awk '$1=="99%" {print $2}' "$D/w.txt") (load $(cut -d' ' -f1-3 /proc/loadavg))"
