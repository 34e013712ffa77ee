#!/usr/bin/env bash
# What an idle server costs: starts BIN ADDR, waits 1 s, then over SECS seconds prints the
# CPU time of all its threads (from /proc/<pid>/task/*/schedstat, in ns) and the context
# switches of each thread (voluntary + involuntary: one per wake-up of a sleeping thread).
#
#   cargo build --release --example echo_server
#   scripts/idle_cost.sh target/release/examples/echo_server 127.0.0.1:7600 10
set -euo pipefail
BIN=$1
ADDR=$2
SECS=${3:-10}
"$BIN" "$ADDR" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 1
cpu_ns() { cat /proc/$pid/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
switches() {
  for t in /proc/$pid/task/*; do
    printf '%s=%s ' "$(tr ' ' _ <"$t/comm")" \
      "$(awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s }' "$t/status")"
  done
}
t0=$(cpu_ns)
s0=$(switches)
sleep "$SECS"
t1=$(cpu_ns)
s1=$(switches)
awk -v d=$((t1 - t0)) -v s="$SECS" \
  'BEGIN { printf "CPU %.3f ms in %s s = %.4f%% of a core\n", d / 1e6, s, 100 * d / 1e9 / s }'
echo "context switches per thread at start: $s0"
echo "context switches per thread at end:   $s1"
