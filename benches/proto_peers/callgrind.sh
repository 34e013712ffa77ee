#!/usr/bin/env bash
# User-space instructions per HTTP request of each server, at a fixed kind of work: the server
# runs under `valgrind --tool=callgrind` (all its threads counted), pinned to core 0, while
# `wrk -t1 -c$CONNS` (core 1) drives it for SHORT and then LONG seconds; the difference of the
# totals over the difference of the requests wrk completed cancels start-up and the connects.
# Needs valgrind and wrk (apt-get install valgrind wrk), and the release builds that run.py makes.
#
#   benches/proto_peers/callgrind.sh                          # spindle and may_minihttp, /plaintext
#   SERVERS="spindle hyper" ENDPOINT=json BREAKDOWN=25 benches/proto_peers/callgrind.sh
#
# BREAKDOWN=N also prints the N costliest functions per request (self cost), from
# `callgrind_annotate`. Outputs are kept in OUT (default a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-50}
ENDPOINT=${ENDPOINT:-plaintext}
SHORT=${SHORT:-4}
LONG=${LONG:-12}
SERVERS=${SERVERS:-"spindle may_minihttp"}
MAIN_TARGET=${MAIN_TARGET:-target}
PEERS_TARGET=${PEERS_TARGET:-benches/proto_peers/target}
OUT=${OUT:-$(mktemp -d)}

port=8700
for server in $SERVERS; do
  case $server in
    spindle) bin="$MAIN_TARGET/release/examples/http_server" ;;
    may_minihttp) bin="$PEERS_TARGET/release/may_http" ;;
    hyper) bin="$PEERS_TARGET/release/hyper_http" ;;
    *) echo "unknown server $server (spindle, may_minihttp, hyper)" >&2; exit 2 ;;
  esac
  declare -A ir=() reqs=()
  for secs in $SHORT $LONG; do
    port=$((port + 1))
    out="$OUT/$server-$secs.out"
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "127.0.0.1:$port" \
      >/dev/null 2>"$OUT/$server-$secs.log" &
    vg=$!
    for _ in $(seq 150); do
      sleep 0.2
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    done
    sleep 1
    reqs[$secs]=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${secs}s" "http://127.0.0.1:$port/$ENDPOINT" |
      awk '/requests in/ {print $1}')
    sleep 2
    kill -TERM "$vg"
    wait "$vg" 2>/dev/null || true
    ir[$secs]=$(grep -E "^(summary|totals):" "$out" | head -1 | awk '{print $2}')
  done
  awk -v s="$server" -v a="${ir[$SHORT]}" -v b="${ir[$LONG]}" -v ra="${reqs[$SHORT]}" \
    -v rb="${reqs[$LONG]}" 'BEGIN { printf "%-14s %.0f instructions per request (%d requests between the runs)\n", s, (b - a) / (rb - ra), rb - ra }'
  if [ -n "${BREAKDOWN:-}" ]; then
    python3 benches/callgrind_breakdown.py "$OUT/$server-$SHORT.out" "$OUT/$server-$LONG.out" \
      "$((reqs[$LONG] - reqs[$SHORT]))" "$BREAKDOWN"
  fi
done
echo "outputs in $OUT" >&2
