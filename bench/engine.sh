#!/usr/bin/env bash
# AutoMatrix engine benchmarks (issue 3's shapes): chain latency, concurrent throughput, 1,000-way
# fan-out + join, restart with thousands of runs asleep. Each prints `RESULT peer=auterity …` lines
# measured from the server's own timestamps; the server runs in-process on SQLite (WAL, fsync on) or
# a fresh schema of the local PostgreSQL. Peers: bench/peers/engine/run.sh.
#
#   bench/engine.sh                     # every shape, both backends, release build
#   SHAPES="chain fanout" BACKENDS=sqlite bench/engine.sh
#   BENCH_RESTART_RUNS=2000 bench/engine.sh
#
# PostgreSQL: AUTERITY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
shapes=${SHAPES:-chain throughput fanout restart}
backends=${BACKENDS:-sqlite postgres}
filter=""
for shape in $shapes; do
  for backend in $backends; do
    filter+="${filter:+ | }test(=engine_bench::${shape}_${backend})"
  done
done
cargo nextest run -p auterity-testkit --cargo-profile "${PROFILE:-release}" --run-ignored only --no-capture \
  --test-threads 1 -E "$filter" 2>&1 | grep -E '^RESULT|FAIL|panicked'
