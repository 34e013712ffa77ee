#!/usr/bin/env bash
# Thread-per-core echo: spindle's echo_server with --threads 2 (SO_REUSEPORT listeners), the
# same without yields before sleeping (`spindle2y0`: --yields-before-sleep 0) and --threads 1,
# against tokio's multi-thread runtime (2 workers), may (2 workers) and Go (GOMAXPROCS=2), all unpinned on a 2-core machine with the load generator (spindle's
# echo_client, one thread) sharing the cores. 64-byte messages, at 50 and 1000
# connections, RUNS rounds of SECS seconds, the servers interleaved within each round.
#
# Prints, per server and connection count, the median round by req/s, with the server's CPU
# time in that round (utime + stime from /proc/PID/stat) and req per server CPU-second, and
# req per server CPU-second over all rounds pooled (steadier than one round's).
#
#   benches/echo_peers/multicore.sh            # from the repository root
#   RUNS=5 SECS=5 CONNS="50" SERVERS="spindle2 tokio_mt" benches/echo_peers/multicore.sh
#
# PRIO=1 (as root) runs everything in a session of its own whose autogroup has nice -20, so that
# builds in other sessions of a shared machine take little CPU from the measured processes
# meanwhile (with autogroups, a plain `nice` only ranks processes within one session).
#
# Needs: cargo; Go (apt-get install golang-go) for the Go peer, skipped when `go` is absent.
set -euo pipefail
if [ -n "${PRIO:-}" ] && [ -z "${PRIO_SESSION:-}" ]; then
  export PRIO_SESSION=1
  exec setsid -w bash -c 'echo -20 >/proc/self/autogroup && exec "$0" "$@"' "$0" "$@"
fi
cd "$(dirname "$0")/../.."
SECS=${SECS:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"50 1000"}
SERVERS=${SERVERS:-"spindle2 spindle2y0 spindle1 tokio_mt may go"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/echo_peers/target}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --example echo_server --example echo_client --target-dir "$MAIN_TARGET" >&2
  cargo build --release --manifest-path benches/echo_peers/Cargo.toml --target-dir "$PEERS_TARGET" >&2
  if command -v go >/dev/null; then
    (cd benches/echo_peers/go && GOFLAGS=-mod=mod go build -o "../../../$PEERS_TARGET/go_echo" echo.go) >&2
  fi
fi
CLIENT="$MAIN_TARGET/release/examples/echo_client"
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

declare -A port pid
next=7400
for server in $SERVERS; do
  next=$((next + 1))
  addr="127.0.0.1:$next"
  case $server in
    spindle2) "$MAIN_TARGET/release/examples/echo_server" "$addr" --threads 2 >/dev/null 2>&1 & ;;
    spindle2y0) "$MAIN_TARGET/release/examples/echo_server" "$addr" --threads 2 \
      --yields-before-sleep 0 >/dev/null 2>&1 & ;;
    spindle1) "$MAIN_TARGET/release/examples/echo_server" "$addr" --threads 1 >/dev/null 2>&1 & ;;
    tokio_mt) WORKERS=2 "$PEERS_TARGET/release/tokio_echo" "$addr" >/dev/null 2>&1 & ;;
    may) WORKERS=2 "$PEERS_TARGET/release/may_echo" "$addr" >/dev/null 2>&1 & ;;
    go)
      if [ ! -x "$PEERS_TARGET/go_echo" ]; then echo "skipping go: not built" >&2; continue; fi
      GOMAXPROCS=2 "$PEERS_TARGET/go_echo" "$addr" >/dev/null 2>&1 & ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  pids+=($!)
  pid[$server]=$!
  port[$server]=$next
done
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for _ in $(seq "$RUNS"); do
  for conns in $CONNS; do
    for server in "${!port[@]}"; do
      before=$(cpu_ticks "${pid[$server]}")
      line=$("$CLIENT" --addr "127.0.0.1:${port[$server]}" --conns "$conns" --len 64 \
        --secs "$SECS" --warmup 0.5)
      after=$(cpu_ticks "${pid[$server]}")
      echo "$line cpu_s=$(echo "scale=2; ($after - $before) / $hz" | bc)" >>"$OUT/$server-$conns"
    done
  done
done

echo "| server | conns | req/s (median round) | server CPU s in that round | req per server CPU-second | the same, all rounds |"
echo "|---|---|---|---|---|---|"
for conns in $CONNS; do
  for server in $SERVERS; do
    [ -f "$OUT/$server-$conns" ] || continue
    # The median round by req/s (the 4th space-separated field), with its CPU time.
    median=$(sort -t' ' -k4,4n "$OUT/$server-$conns" | sed -n "$(( (RUNS + 1) / 2 ))p")
    rps=$(echo "$median" | awk '{print $4}')
    cpu=$(echo "$median" | sed 's/.*cpu_s=//')
    # CPU time covers the 0.5 s warm-up too, at about the same rate as the measured SECS.
    per_cpu=$(echo "scale=0; $rps * ($SECS + 0.5) / $cpu" | bc 2>/dev/null || echo "?")
    # All rounds pooled: their requests (warm-up included, as above) over their CPU time.
    per_cpu_all=$(awk -v secs="$SECS" '{ cpu = $NF; sub("cpu_s=", "", cpu);
        req += $4 * (secs + 0.5); total += cpu } END { if (total > 0) print int(req / total) }' \
      "$OUT/$server-$conns")
    echo "| $server | $conns | $rps | $cpu | $per_cpu | $per_cpu_all |"
  done
done
