#!/usr/bin/env bash
# User-space instructions per request of each echo server at a fixed amount of work: every
# server runs under `valgrind --tool=callgrind --separate-threads=yes`, pinned to core 0, while
# spindle's echo_client (core 1) makes CONNS connections do K1 round trips each, and again K2;
# the difference of the server thread's totals over the difference of requests cancels start-up
# and the connects and closes. Needs valgrind (apt-get install valgrind).
#
#   benches/echo_peers/callgrind.sh                       # spindle, mio, tokio at c = 1000
#   SERVERS="spindle spindle-before" BEFORE=/tmp/old BREAKDOWN=20 benches/echo_peers/callgrind.sh
#
# BREAKDOWN=N also prints the N costliest functions per request (self cost, inlined code counted
# where it lands), from `callgrind_annotate`. Outputs are kept in OUT (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-1000}
K1=${K1:-5}
K2=${K2:-25}
SERVERS=${SERVERS:-"spindle mio tokio"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/echo_peers/target}
OUT=${OUT:-$(mktemp -d)}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --example echo_server --example echo_client --target-dir "$MAIN_TARGET" >&2
  cargo build --release --manifest-path benches/echo_peers/Cargo.toml --target-dir "$PEERS_TARGET" >&2
fi
CLIENT="$MAIN_TARGET/release/examples/echo_client"

# The total of the first thread's (the scheduler's, or the loop's) instructions in one output.
total() { grep -E "^(summary|totals):" "$1-01" | head -1 | awk '{print $2}'; }

port=7950
for server in $SERVERS; do
  case $server in
    spindle) bin="$MAIN_TARGET/release/examples/echo_server" ;;
    spindle-before) bin="${BEFORE:?BEFORE=dir of an older echo_server}/echo_server" ;;
    mio) bin="$PEERS_TARGET/release/mio_echo" ;;
    tokio) bin="$PEERS_TARGET/release/tokio_echo" ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  declare -A ir=() reqs=()
  for k in $K1 $K2; do
    port=$((port + 1))
    out="$OUT/$server-$k.out"
    rm -f "$out"-*
    taskset -c 0 valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
      "$bin" "127.0.0.1:$port" >/dev/null 2>"$OUT/$server-$k.log" &
    vg=$!
    for _ in $(seq 150); do
      sleep 0.2
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    done
    sleep 0.5
    reqs[$k]=$(taskset -c 1 "$CLIENT" --addr "127.0.0.1:$port" --conns "$CONNS" --requests "$k" |
      sed -E 's/.*\(([0-9]+) requests\).*/\1/')
    # Let the server see every close before it is stopped, in both runs alike.
    sleep 3
    kill -TERM "$vg"
    wait "$vg" 2>/dev/null || true
    ir[$k]=$(total "$out")
  done
  awk -v s="$server" -v a="${ir[$K1]}" -v b="${ir[$K2]}" -v ra="${reqs[$K1]}" -v rb="${reqs[$K2]}" \
    'BEGIN { printf "%-15s %.0f instructions per request (%d requests between the runs)\n", s, (b - a) / (rb - ra), rb - ra }'
  if [ -n "${BREAKDOWN:-}" ]; then
    python3 benches/callgrind_breakdown.py "$OUT/$server-$K1.out-01" "$OUT/$server-$K2.out-01" \
      "$((reqs[$K2] - reqs[$K1]))" "$BREAKDOWN"
  fi
done
echo "outputs in $OUT" >&2
