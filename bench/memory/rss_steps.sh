#!/usr/bin/env bash
# RSS of the server step by step, under an allocator setting given as environment assignments:
#   start -> 1 login -> 3 x 8 s of GET /api/auth/me (64 conns) -> 2 x 8 s of logins (4 conns) -> idle.
# Also prints the CPU time per login of the last login run.
#
#   bench/memory/rss_steps.sh LABEL [VAR=VALUE ...]
#   bench/memory/rss_steps.sh glibc-default
#   bench/memory/rss_steps.sh mmap-threshold MALLOC_MMAP_THRESHOLD_=131072
#   bench/memory/rss_steps.sh jemalloc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2   # apt-get install libjemalloc2
#   bench/memory/rss_steps.sh mimalloc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2   # apt-get install libmimalloc2.0
# Traffic to 127.0.0.1 only; ~45 s.
set -euo pipefail
label=${1:?label}
shift
. "$(dirname "${BASH_SOURCE[0]}")/serve.sh"
need wrk
serve "$@"
sleep 2
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$P/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$P/stat"; }
out="$label: start=$(rss)"
TOK=$(login)
sleep 1
out="$out 1login=$(rss)"
for r in 1 2 3; do
  wrk -t2 -c64 -d8s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$PORT/api/auth/me" >/dev/null
  out="$out me$r=$(rss)"
done
cat >"$D/l.lua" <<LUA
wrk.method = "POST"; wrk.body = '$BODY'; wrk.headers["Content-Type"] = "application/json"
LUA
for r in 1 2; do
  t0=$(ticks)
  wrk -t2 -c4 -d8s -s "$D/l.lua" "http://127.0.0.1:$PORT/api/auth/login" >"$D/w.txt"
  t1=$(ticks)
  out="$out login$r=$(rss)"
done
n=$(awk '/requests in/ {print $1}' "$D/w.txt")
sleep 5
out="$out idle=$(rss)"
sleep ${IDLE_AFTER:-0}
out="$out idle_later=$(rss) hwm=$(awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$P/status") MiB;"
out="$out logins/s=$(awk '/Requests\/sec/ {print $2}' "$D/w.txt") cpu_ms_per_login=$(awk -v c=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", c * 1000 / hz / n}')"
echo "$out (load $(cut -d' ' -f1-3 /proc/loadavg))"
