#!/usr/bin/env bash
# Authorized read throughput of the release server under an allocator setting, for comparing
# settings run after run (alternate them: this machine's speed drifts between minutes):
#   GET /api/auth/me with an access token, 16 connections, 10 s; prints req/s and p99.
#
#   bench/memory/read_ab.sh [VAR=VALUE ...]
#   for i in 1 2; do bench/memory/read_ab.sh; bench/memory/read_ab.sh MALLOC_ARENA_MAX=2; done
# Traffic to 127.0.0.1 only; ~12 s.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serve.sh"
need wrk
serve "$@"
TOK=$(login)
wrk -t2 -c16 -d10s --latency -H "Authorization: Bearer $TOK" "http://127.0.0.1:$PORT/api/auth/me" >"$D/w.txt"
echo "${*:-default}: req/s=$(awk '/Requests\/sec/ {print $2}' "$D/w.txt") p99=$(awk '$1=="99%" {print $2}' "$D/w.txt") (load $(cut -d' ' -f1-3 /proc/loadavg))"
