#!/usr/bin/env bash
# Runs a representative subset of spindle's tests, and the tour example, under valgrind's
# memcheck with no tuning flags; fails if valgrind reports any error.
#
#   scripts/valgrind.sh
#
# Skipped (exit 0, with a message) when valgrind is not installed. Uses the debug builds that
# `cargo test --workspace` makes, through cargo's target runner, so after the test step of
# .ci/run it compiles nothing; 3-4 minutes on a loaded 2-core machine.
#
# What runs, and what does not:
# - Unit tests of spindle-core (the context switch, stacks, scheduler), spindle-io and
#   spindle-sync; the stack tests (guard pages, overflow reports in child processes); and the
#   integration test files listed in `tests` below: fibers, shutdown, thread-per-core, TCP/UDP/
#   Unix sockets, locks, condvars, channels, semaphores, fs and unblock (the blocking pool),
#   pipes, processes, stdio, DNS, the deadlock report, scoped fibers and std's swap.
# - The tour example: an echo server and 50 client fibers on two threads, then the hazards
#   table (std calls that block a fiber thread, next to their spindle twins).
# - Not run: core/tests/hazards.rs and the files not in the list (the stall detector's, the
#   fairness and idle-watchdog tests, the servers' and TLS/WebSocket tests), which assert
#   timings or loads a program 20-50x slower under valgrind does not keep (and stall
#   backtraces are off under valgrind: their stack scan reads slots nobody wrote);
#   tests/lint_preset.rs (runs clippy, not spindle); tests/valgrind.rs (it starts valgrind
#   itself, and runs in `cargo test`); the loom models.
# - Skipped tests (the `skip` list below): those that count the ticks of a "ticker" fiber during
#   a real-time window (to show a wait parks only its fiber), or bound a wait in real time, and
#   need the program to run at near native speed; `hundred_thousand_guarded_stacks_alive_at_once` (valgrind keeps
#   registered stacks in a list it searches on every switch: 100,000 live fibers take minutes);
#   the two large-write tests (megabytes through a socket in small steps: a minute each);
#   `bad_commands_give_std_error_kinds` (under valgrind, std's `Command::spawn` of a missing
#   program succeeds: valgrind runs glibc's posix_spawn without its exec-error report).
# - --test-threads is left at its default: tests on several threads, each with its own
#   scheduler, are part of what must run clean.
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

skip=(
    # Timing windows (a ticker fiber must tick N times while another fiber waits).
    plain_threads_unpark_parked_fibers
    a_slow_file_open_and_read_stall_only_their_fiber
    tcp_udp_and_unix_waits_share_one_thread
    connect_resolves_host_names
    an_empty_pipe_parks_only_the_reader
    fd_makes_an_eventfd_fiber_aware
    a_childs_output_is_streamed_while_other_fibers_run
    waiting_parks_only_the_fiber
    stdin_lines_park_only_the_reading_fiber
    stdout_to_a_slow_pipe_parks_only_the_writer
    wait_timeout_times_out_in_a_fiber_while_others_run
    fiber_waits_for_a_lock_held_by_a_plain_thread_without_blocking_its_thread
    accept_parks_only_the_accepting_fiber
    read_timeout_gives_would_block_and_other_fibers_keep_running
    connect_timeout_expires_against_a_full_backlog
    a_waiting_read_does_not_stall_the_other_fibers
    converting_one_clone_to_std_keeps_the_other_parking_not_blocking
    recv_timeout_is_would_block_and_does_not_stall_the_thread
    a_blocking_call_on_the_pool_stalls_only_its_fiber
    std_thread_sleep_on_the_fiber_would_stall_the_ticker
    recv_timeout_and_ticker
    send_to_an_unconnected_full_receiver_waits_until_it_drains
    accept_parks_only_its_fiber
    read_timeout_is_would_block_and_the_ticker_keeps_ticking
    connect_waits_while_the_listener_backlog_is_full
    a_contended_lock_parks_the_fiber_not_the_thread
    other_fibers_run_while_a_job_blocks
    # Real-time bounds: 40 pool sleeps of 100 ms within 3 s; a scheduler that lives 500 ms
    # while another fiber talks over TCP and hands it a stream.
    many_fibers_block_concurrently_on_the_pool
    a_stream_moves_between_schedulers_mid_conversation
    # Too slow under valgrind: 100,000 live fibers (see above); megabytes pushed through a
    # socket pair in small steps (a minute each, and other tests cover the same paths).
    hundred_thousand_guarded_stacks_alive_at_once
    a_large_write_completes_across_many_wakeups
    pair_large_write_across_many_wakeups
    # std's spawn does not report exec errors under valgrind; see above.
    bad_commands_give_std_error_kinds
)
skip_args=()
for name in "${skip[@]}"; do
    skip_args+=(--skip "$name")
done

echo "== valgrind: unit tests of spindle-core, spindle-io, spindle-sync; stack tests"
cargo test -p spindle-core -p spindle-io -p spindle-sync --lib -- "${skip_args[@]}"
cargo test -p spindle-core --test stack -- "${skip_args[@]}"

echo "== valgrind: integration tests"
tests=()
for name in fiber shutdown thread_per_core deadlock thread os_unix swap_spindle \
    tcp_stream tcp_listener udp_socket unix_stream unix_listener unix_datagram dns \
    sync_mutex sync_rwlock sync_condvar sync_barrier sync_mpsc sync_mpmc sync_semaphore \
    sync_wait_group sync_teardown \
    fs file_lock unblock pipe fd process stdio; do
    tests+=("--test=$name")
done
cargo test -p spindle "${tests[@]}" -- "${skip_args[@]}"

echo "== valgrind: the tour example"
cargo run --example tour

echo "valgrind: no errors"
