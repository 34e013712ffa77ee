#!/usr/bin/env bash
# Measures spindle's echo_server against the peers in this directory with spindle's
# echo_client: every server pinned to core 0, the client to core 1, 64-byte messages, at 1,
# 50 and 1000 connections, RUNS rounds of SECS seconds each. The servers are measured in
# turn within each round (interleaved, so a burst of load elsewhere on the machine does not
# land on one server only); prints each one's median round by req/s.
#
#   benches/echo_peers/run.sh            # from the repository root
#   SECS=5 RUNS=3 SERVERS="spindle mio" CONNS="50" benches/echo_peers/run.sh
#   SERVERS="spindle std_hook" benches/echo_peers/run.sh   # std::net + the hook (docs/hook.md)
#   SKIP_BUILD=1 MAIN_TARGET=/path PEERS_TARGET=/path benches/echo_peers/run.sh   # prebuilt
#   SERVERS="spindle spindle-nobudget" CONNS=50 RUNS=5 benches/echo_peers/run.sh  # the budget's cost
#   SERVERS="spindle spindle-polling" CONNS=50 benches/echo_peers/run.sh   # the two reactor backends
#
#   BEFORE=/tmp/old SERVERS="spindle spindle-before mio" benches/echo_peers/run.sh
#       # spindle-before: the echo_server binary in /tmp/old (a build from before a change)
#
# `spindle-polling` is spindle's echo_server built with the reactor on the `polling` crate
# (feature `polling`), in its own target directory POLLING_TARGET.
#
# Each line ends with the server's CPU time over the measured window (utime + stime from
# /proc/PID/stat, read when the warm-up ends and when the client exits) and the requests per
# server CPU-second: steadier than req/s on a loaded machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${SECS:-3}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"1 50 1000"}
SERVERS=${SERVERS:-"spindle mio tokio threads"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/echo_peers/target}
POLLING_TARGET=${POLLING_TARGET:-target/polling}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --example echo_server --example echo_client --target-dir "$MAIN_TARGET" >&2
  case " $SERVERS " in
    *" std_hook "*) cargo build --release -p spindle-hook --example std_echo_server \
                      --target-dir "$MAIN_TARGET" >&2 ;;
  esac
  cargo build --release --manifest-path benches/echo_peers/Cargo.toml --target-dir "$PEERS_TARGET" >&2
  case " $SERVERS " in
    *" spindle-polling "*)
      cargo build --release --features polling --example echo_server \
        --target-dir "$POLLING_TARGET" >&2 ;;
  esac
fi
CLIENT="$MAIN_TARGET/release/examples/echo_client"
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

declare -A port pid
next=7300
for server in $SERVERS; do
  extra=()
  case $server in
    spindle) bin="$MAIN_TARGET/release/examples/echo_server" ;;
    std_hook) bin="$MAIN_TARGET/release/examples/std_echo_server" ;;
    spindle-nobudget) bin="$MAIN_TARGET/release/examples/echo_server"; extra=(--no-budget) ;;
    spindle-polling) bin="$POLLING_TARGET/release/examples/echo_server" ;;
    spindle-before) bin="${BEFORE:?BEFORE=dir of an older echo_server}/echo_server" ;;
    mio) bin="$PEERS_TARGET/release/mio_echo" ;;
    tokio) bin="$PEERS_TARGET/release/tokio_echo" ;;
    threads) bin="$PEERS_TARGET/release/threads_echo" ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
  esac
  next=$((next + 1))
  port[$server]=$next
  taskset -c 0 "$bin" "127.0.0.1:$next" "${extra[@]}" >/dev/null 2>&1 &
  pids+=($!)
  pid[$server]=$!
done
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for _ in $(seq "$RUNS"); do
  for conns in $CONNS; do
    for server in $SERVERS; do
      taskset -c 1 "$CLIENT" --addr "127.0.0.1:${port[$server]}" --conns "$conns" --len 64 \
        --secs "$SECS" --warmup 0.5 >"$OUT/last" &
      client=$!
      sleep 0.5
      t0=$(cpu_ticks "${pid[$server]}")
      wait "$client"
      t1=$(cpu_ticks "${pid[$server]}")
      requests=$(sed -E 's/.*\(([0-9]+) requests\).*/\1/' "$OUT/last")
      awk -v t="$((t1 - t0))" -v hz="$hz" -v r="$requests" '{
        cpu = t / hz; printf "%s cpu %.2f s, %.0f req per CPU-s\n", $0, cpu, (cpu > 0 ? r / cpu : 0)
      }' "$OUT/last" >>"$OUT/$server-$conns"
    done
  done
done

for conns in $CONNS; do
  for server in $SERVERS; do
    # The median round by req/s (the 4th space-separated field).
    median=$(sort -t' ' -k4,4n "$OUT/$server-$conns" | sed -n "$(( (RUNS + 1) / 2 ))p")
    # The median of req per CPU-s over all rounds (not only the median round's).
    per_cpu=$(sed -E 's/.* ([0-9]+) req per CPU-s$/\1/' "$OUT/$server-$conns" | sort -n |
      sed -n "$(( (RUNS + 1) / 2 ))p")
    printf '%-15s %s; median of rounds %s req per CPU-s\n' "$server" "$median" "$per_cpu"
  done
done
