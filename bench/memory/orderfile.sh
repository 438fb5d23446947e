#!/usr/bin/env bash
# Regenerates crates/auterity/link-order.txt: the functions the release server executes when it
# starts and serves its common requests, which the linker then places together at the front of
# `.text` (crates/auterity/build.rs). Code is paged in by 64 KiB fault-around blocks, so without
# an order the start-up and the hot paths touch more than half of a 26 MB `.text`.
#
# Runs the release binary under callgrind (apt-get install -y valgrind) on a fresh SQLite data
# directory through: start-up, health and metrics, a login, token and API-key reads, workflow
# create and validate, manual runs of a workflow with transform, condition and parallel steps, a
# signed webhook delivery, the cron scheduler's ticks, then SIGTERM. The list is every function
# executed, hottest (by instructions) first. Symbols that a later build no longer has are ignored
# by the linker, and new ones go after the listed ones; regenerate after dependency upgrades.
#
#   bench/memory/orderfile.sh            # writes crates/auterity/link-order.txt
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serve.sh"
need valgrind
OUT=${OUT:-$ROOT/crates/auterity/link-order.txt}
PROFILE=$(mktemp -t auterity-callgrind.XXXXXX)
# The fixed mmap threshold is set here, so the binary does not re-execute itself (see malloc.rs)
# and callgrind follows the serving process.
SERVE_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$PROFILE --compress-strings=no --compress-pos=no \
  --dump-instr=no --demangle=no" serve MALLOC_MMAP_THRESHOLD_=131072
python3 "$ROOT/bench/memory/order_workload.py" "http://127.0.0.1:$PORT" admin@bench.local "$PASS"
kill -TERM $P
wait $P || true
nm --defined-only "$BIN" | awk '$2 ~ /^[tT]$/ {print $3}' >"$D/symbols.txt"
python3 - "$PROFILE" "$OUT" "$D/symbols.txt" <<'PY'
import collections, re, sys
# callgrind (uncompressed names): "fn=NAME" opens a function's cost lines "LINE COST".
cost = collections.Counter()
current = None
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("fn="):
        # `NAME'2`: a recursion level of NAME.
        current = re.sub(r"'[0-9]+$", "", line[3:].strip())
    elif current and line[:1].isdigit():
        parts = line.split()
        if len(parts) >= 2:
            cost[current] += int(parts[1])
# Only the binary's own functions: the linker cannot place the C library's.
ours = set(open(sys.argv[3]).read().split())
names = [n for n, _ in cost.most_common() if n in ours]
with open(sys.argv[2], "w") as out:
    out.write("\n".join(names) + "\n")
print(f"{len(names)} functions written to {sys.argv[2]}")
PY
rm -f "$PROFILE"
