#!/usr/bin/env bash
# Measures spindle's echo_server against the peers in this directory with spindle's
# echo_client: server pinned to core 0, client to core 1, 64-byte messages, at 1, 50 and 1000
# connections, RUNS runs of SECS seconds each; prints the median req/s and its latencies.
#
#   benches/echo_peers/run.sh            # from the repository root
#   SECS=5 RUNS=3 SERVERS="spindle mio" benches/echo_peers/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${SECS:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"1 50 1000"}
SERVERS=${SERVERS:-"spindle mio tokio threads"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/echo_peers/target}

cargo build --release --example echo_server --example echo_client --target-dir "$MAIN_TARGET" >&2
cargo build --release --manifest-path benches/echo_peers/Cargo.toml --target-dir "$PEERS_TARGET" >&2
CLIENT="$MAIN_TARGET/release/examples/echo_client"

port=7300
for server in $SERVERS; do
  case $server in
    spindle) bin="$MAIN_TARGET/release/examples/echo_server" ;;
    mio) bin="$PEERS_TARGET/release/mio_echo" ;;
    tokio) bin="$PEERS_TARGET/release/tokio_echo" ;;
    threads) bin="$PEERS_TARGET/release/threads_echo" ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  for conns in $CONNS; do
    port=$((port + 1))
    taskset -c 0 "$bin" "127.0.0.1:$port" >/dev/null 2>&1 &
    pid=$!
    sleep 0.3
    results=()
    for _ in $(seq "$RUNS"); do
      results+=("$(taskset -c 1 "$CLIENT" --addr "127.0.0.1:$port" --conns "$conns" --len 64 \
        --secs "$SECS" --warmup 0.5)")
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    # Median by req/s (the 4th space-separated field).
    median=$(printf '%s\n' "${results[@]}" | sort -t' ' -k4,4n | sed -n "$(( (RUNS + 1) / 2 ))p")
    printf '%-8s %s\n' "$server" "$median"
  done
done
