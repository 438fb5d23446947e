#!/usr/bin/env bash
# Webhook-to-run-recorded throughput of the release binary, driven by wrk (the in-process
# bench/webhook_starts.sh shares its runtime and cores with a Rust HTTP client; this one measures
# the server as deployed). The server runs with the `api` role only, so runs are recorded, not
# executed; each 202 is answered once its run and the signature's replay receipt are committed.
# Every delivery is distinct and signed (bench/webhook/deliveries.py), so none is a replay; the
# recorded runs are counted afterwards: each accepted delivery must be one (plus at most the
# deliveries in flight when wrk stopped).
#
#   bench/webhook_wrk.sh                         # SQLite then PostgreSQL, 32 connections, 10 s
#   BACKENDS=postgres CONNS=64 DURATION=15 bench/webhook_wrk.sh
#
# PostgreSQL: AUTERITY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), in a
# fresh schema dropped afterwards. Needs wrk, curl, jq, python3, psql (for PostgreSQL).
set -euo pipefail
BACKENDS=${BACKENDS:-"sqlite postgres"}
CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
PG_URL=${AUTERITY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/memory/serve.sh"
need wrk

for backend in $BACKENDS; do
  (
    env=(AUTERITY_ROLES='["api"]')
    if [[ $backend == postgres ]]; then
      schema=bench_hook_$$_$RANDOM
      env+=(AUTERITY_DATABASE_URL="$PG_URL" AUTERITY_STORAGE__DATABASE_SCHEMA="$schema")
    fi
    serve "${env[@]}"
    if [[ $backend == postgres ]]; then  # serve's trap, plus the schema
      trap 'kill -TERM $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$D"; psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null' EXIT
    fi
    count=$((DURATION * 8000 + 20000))
    path=$(python3 "$HERE/webhook/deliveries.py" "http://127.0.0.1:$PORT" admin@bench.local "$PASS" "$count" "$D/deliveries.tsv")
    t0=$(awk '{print $14 + $15}' "/proc/$P/stat")
    WRK_DELIVERIES="$D/deliveries.tsv" WRK_PATH="$path" WRK_THREADS=$THREADS WRK_LABEL="webhook-$backend-c$CONNS" \
      wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$HERE/webhook/deliver.lua" "http://127.0.0.1:$PORT" >"$D/wrk.txt"
    t1=$(awk '{print $14 + $15}' "/proc/$P/stat")
    result=$(grep '^RESULT' "$D/wrk.txt")
    accepted=$(sed -E 's/.* accepted=([0-9]+).*/\1/' <<<"$result")
    if [[ $backend == postgres ]]; then
      recorded=$(psql -Atq "$PG_URL" -c "SELECT count(*) FROM $schema.workflow_runs")
    else
      recorded=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM workflow_runs").fetchone()[0])' "$D/auterity.db")
    fi
    # Deliveries still in flight when wrk stops are recorded but not counted as accepted.
    if ((recorded < accepted || recorded > accepted + CONNS)); then
      echo "webhook_wrk.sh: $accepted deliveries accepted but $recorded runs recorded" >&2
      exit 1
    fi
    cpu_us=$(awk -v c=$((t1 - t0)) -v n="$accepted" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", c * 1e6 / hz / (n > 0 ? n : 1)}')
    echo "$result recorded=$recorded server_cpu_us_per_start=$cpu_us load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
  )
done
