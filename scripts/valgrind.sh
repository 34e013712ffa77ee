#!/usr/bin/env bash
# Runs a representative subset of spindle's tests, and the tour example, under valgrind's
# memcheck with no tuning flags; fails if valgrind reports any error.
#
#   scripts/valgrind.sh
#
# Skipped (exit 0, with a message) when valgrind is not installed. Uses the debug builds that
# `cargo test --workspace` makes, through cargo's target runner, so after the test step of
# .ci/run it compiles nothing; about 3 minutes on a 2-core machine.
#
# What runs, and what does not:
# - Unit tests of spindle-core (the context switch, stacks, scheduler), spindle-io and
#   spindle-sync; the stack tests (guard pages, overflow reports in child processes); and the
#   integration tests of fibers, TCP/UDP/Unix sockets, locks, condvars, channels, semaphores,
#   fs and unblock (the blocking pool), pipes, processes, stdio, DNS and the deadlock report.
# - The tour example: an echo server and 50 client fibers on two threads, then the hazards
#   table (std calls that block a fiber thread, next to their spindle twins).
# - Not run: core/tests/hazards.rs and tests/stall.rs, which assert that the stall detector
#   fires within thresholds a program 20-50x slower under valgrind does not keep;
#   tests/lint_preset.rs (runs clippy, not spindle); tests/valgrind.rs (it starts valgrind
#   itself, and runs in `cargo test`); the loom models.
# - Skipped tests: `hundred_thousand_guarded_stacks_alive_at_once` (valgrind keeps registered
#   stacks in a list it searches on every switch, so 100,000 live fibers take many minutes);
#   `bad_commands_give_std_error_kinds` (under valgrind, std's `Command::spawn` of a missing
#   program succeeds: valgrind runs glibc's posix_spawn without its exec-error report).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v valgrind >/dev/null; then
    echo "valgrind not installed: skipping the valgrind run (apt-get install valgrind)"
    exit 0
fi

host=$(rustc -vV | sed -n 's/^host: //p')
runner_var="CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER"
# -q: print only errors; --error-exitcode: make any error fail the run.
export "$runner_var"="valgrind -q --error-exitcode=9"

echo "== valgrind: unit tests of spindle-core, spindle-io, spindle-sync; stack tests"
cargo test -p spindle-core -p spindle-io -p spindle-sync --lib
cargo test -p spindle-core --test stack -- --skip hundred_thousand_guarded_stacks_alive_at_once

echo "== valgrind: integration tests"
tests=(fiber tcp_stream tcp_listener udp_socket unix_stream unix_listener unix_datagram net_util
       dns sync_mutex sync_rwlock sync_condvar sync_mpsc sync_semaphore sync_teardown
       fs unblock pipe process stdio deadlock)
cargo test -p spindle "${tests[@]/#/--test=}" -- --skip bad_commands_give_std_error_kinds

echo "== valgrind: the tour example"
cargo run --example tour

echo "valgrind: no errors"
