#!/usr/bin/env bash
# The stream-hog case (issue 11): plain-thread clients stream 256 KiB writes to each echo
# server at full speed while a probe connection sends 64 B every 10 ms; prints the probe's
# round trips per server, measured in the same run, and the stall reports each server printed.
# Servers on core 0, the client on core 1.
#
#   benches/echo_peers/stream_hog.sh                       # from the repository root
#   STREAMS="1 4" SECS=5 benches/echo_peers/stream_hog.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${SECS:-5}
STREAMS=${STREAMS:-"1 2 4"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/echo_peers/target}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --example echo_server --target-dir "$MAIN_TARGET" >&2
  cargo build --release --manifest-path benches/echo_peers/Cargo.toml --target-dir "$PEERS_TARGET" >&2
fi
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

taskset -c 0 "$MAIN_TARGET/release/examples/echo_server" 127.0.0.1:7401 >/dev/null 2>"$OUT/spindle.err" &
pids+=($!)
taskset -c 0 "$MAIN_TARGET/release/examples/echo_server" 127.0.0.1:7402 --no-budget >/dev/null 2>"$OUT/nobudget.err" &
pids+=($!)
taskset -c 0 "$PEERS_TARGET/release/tokio_echo" 127.0.0.1:7403 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

for streams in $STREAMS; do
  echo "== $streams stream(s), ${SECS}s each"
  taskset -c 1 "$PEERS_TARGET/release/stream_hog" --streams "$streams" --secs "$SECS" \
    spindle=127.0.0.1:7401 tokio=127.0.0.1:7403 no-budget=127.0.0.1:7402
done
echo "== stall reports (connection fibers) printed by each spindle server"
echo "spindle:   $(grep -c "stall: fiber 'conn" "$OUT/spindle.err" || true)"
echo "no-budget: $(grep -c "stall: fiber 'conn" "$OUT/nobudget.err" || true)"
grep -m3 "stall: fiber 'conn" "$OUT/spindle.err" || true
