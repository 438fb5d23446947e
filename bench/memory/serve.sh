# Sourced by the memory benches: starts the release server on a fresh SQLite data directory and
# a free port, under the environment assignments given, and waits until it answers.
#   . bench/memory/serve.sh; serve [VAR=VALUE ...]   # sets D, PORT, P, PASS, BODY; stops it on exit
#   SERVE_WRAPPER="valgrind …" serve …               # runs the server under a tool
#   TOK=$(login)                                     # an access token of the bench admin
#   need wrk                                         # exits unless the Debian package's command is there
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${AUTERITY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/auterity}
need() { command -v "$1" >/dev/null || { echo "install $1: apt-get install -y $1" >&2; exit 2; }; }
PASS='Bench-Run!2025-xQ7z'
BODY="{\"email\":\"admin@bench.local\",\"password\":\"$PASS\"}"

serve() {
  D=$(mktemp -d -t auterity-bench.XXXXXX)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # shellcheck disable=SC2086 # the wrapper is a command line
  env "$@" AUTERITY_ADMIN_EMAIL=admin@bench.local AUTERITY_ADMIN_PASSWORD=$PASS AUTERITY_LOG_LEVEL=warn \
    ${SERVE_WRAPPER:-} "$BIN" serve --data-dir "$D" --listen "127.0.0.1:$PORT" >"$D/log" 2>&1 &
  P=$!
  trap 'kill -TERM $P 2>/dev/null; wait $P 2>/dev/null; rm -rf "$D"' EXIT
  for _ in $(seq 600); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
}

login() {
  curl -sf "127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' -d "$BODY" | jq -er .access_token
}
