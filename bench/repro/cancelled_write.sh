#!/usr/bin/env bash
# Reproduces a wedged SQLite write path: requests cancelled mid-write (here: wrk closing its
# connections at the end of each 1-second burst) can leave a pooled connection inside a
# `BEGIN IMMEDIATE` transaction. It keeps SQLite's write lock, so every later write waits the 5 s
# busy_timeout and fails with "database is locked"; reusing that connection for a write fails with
# "attempted to call begin_with at non-zero transaction depth".
#
# Usage: bench/repro/cancelled_write.sh [BURSTS=40] [WAIT_AFTER=0]   (traffic to 127.0.0.1 only)
#   WAIT_AFTER: seconds to wait after the bursts before probing, to see whether it heals
# Exit status: 1 if the write path got wedged, 0 if not.
set -euo pipefail
BURSTS=${1:-40}
WAIT_AFTER=${2:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${AUTERITY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/auterity}
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 2; }
DATA=$(mktemp -d -t auterity-repro.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PASS='Bench-Run!2025-xQ7z'
AUTERITY_ADMIN_EMAIL=admin@bench.local AUTERITY_ADMIN_PASSWORD=$PASS AUTERITY_LOG_LEVEL=warn \
  "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
BASE=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf "$BASE/api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@bench.local\",\"password\":\"$PASS\"}" | jq -er .access_token)
cat >"$DATA/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"name":"p-%d-%d","provider_type":"local"}', math.random(1e9), n))
end
LUA
probe() { # one write, timed
  curl -s -o /dev/null -w '%{http_code} %{time_total}' "$BASE/api/ai/providers" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "{\"name\":\"probe-$RANDOM$RANDOM\",\"provider_type\":\"local\"}"
}
echo "before: write -> $(probe)"
for i in $(seq 1 "$BURSTS"); do
  wrk -t2 -c32 -d1s -s "$DATA/post.lua" -H "Authorization: Bearer $TOKEN" "$BASE/api/ai/providers" >/dev/null 2>&1 || true
  if grep -q "database is locked\|non-zero transaction depth" "$DATA/server.log"; then
    echo "burst $i: the server logged:"; sort -u <(sed 's/.*"detail":"\([^"]*\)".*/  \1/' "$DATA/server.log") | head -5
    break
  fi
done
sleep $((1 + WAIT_AFTER))
wedged=0
for n in 1 2 3; do
  result=$(probe)
  echo "after:  write -> $result (status, seconds)"
  [[ ${result%% *} == 201 ]] || wedged=1
done
echo "reads still work: GET /api/auth/me -> $(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/auth/me" -H "authorization: Bearer $TOKEN")"
if ((wedged)); then echo "WEDGED: writes fail after cancelled requests"; exit 1; fi
echo "not reproduced in $BURSTS bursts"
