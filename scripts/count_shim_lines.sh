#!/usr/bin/env bash
# Counts the lines of spindle's std shims, grouped by the std API family each one replaces,
# and prints a Markdown table (used by docs/cost-of-rewriting.md).
#
#   scripts/count_shim_lines.sh
#
# "code" counts non-blank lines that are not comments (`//`, `///`, `//!`, `/* */`), and stops
# at a top-level `#[cfg(test)]` (inline unit tests are not shim code). "docs+comments" counts
# the comment lines, doc comments (with their examples) included. The first row and the
# `unblock` row are parts of the runtime in core/, counted for scale; the others are the shims
# proper. Every .rs file under io/src and sync/src must belong to one family below; the script fails if one does not, so the
# table cannot silently miss a new file.
set -euo pipefail
cd "$(dirname "$0")/.."

# family|files (space-separated, relative to the repository root)
families=(
    "std::thread::{sleep, park, park_timeout, yield_now, spawn, Builder, JoinHandle}: the fiber API itself (core)|core/src/fiber.rs core/src/join.rs core/src/engine/timer.rs"
    "std::net::{TcpListener, TcpStream, UdpSocket}|io/src/net/mod.rs io/src/net/addr.rs io/src/net/tcp_listener.rs io/src/net/tcp_stream.rs io/src/net/udp_socket.rs"
    "std::os::unix::net::{UnixListener, UnixStream, UnixDatagram}|io/src/os/mod.rs io/src/os/unix/mod.rs io/src/os/unix/net/mod.rs io/src/os/unix/net/unix_listener.rs io/src/os/unix/net/unix_stream.rs io/src/os/unix/net/unix_datagram.rs"
    "I/O plumbing shared by the rows around it (the one wait loop, the one sys module)|io/src/source.rs io/src/sys.rs io/src/lib.rs"
    "std::net::ToSocketAddrs (DNS)|io/src/dns.rs"
    "std::fs (+ File::lock, os::unix::fs)|io/src/fs/mod.rs io/src/fs/file.rs io/src/fs/options.rs io/src/fs/dir.rs io/src/fs/lock.rs io/src/fs/cached.rs io/src/os/unix/fs.rs"
    "std::io::{stdin, stdout, stderr} (+ pipes, Fd)|io/src/io/mod.rs io/src/io/stdio.rs io/src/io/lock.rs io/src/io/pipe.rs io/src/io/fd.rs io/src/io/terminal.rs"
    "std::process::{Command, Child} (+ os::unix::process)|io/src/process/mod.rs io/src/process/command.rs io/src/process/child.rs io/src/os/unix/process.rs"
    "std::sync::Mutex|sync/src/mutex.rs sync/src/raw_mutex.rs"
    "std::sync::RwLock|sync/src/rwlock.rs sync/src/raw_rwlock.rs"
    "std::sync::Condvar|sync/src/condvar.rs"
    "std::sync::Barrier|sync/src/barrier.rs"
    "std::sync::mpsc|sync/src/mpsc.rs sync/src/chan.rs"
    "sync plumbing shared by the locks and channels (wait queue, spin lock, poison)|sync/src/waiter.rs sync/src/spin.rs sync/src/poison.rs sync/src/shim.rs sync/src/lib.rs"
    "spindle extras with no std counterpart (Semaphore, WaitGroup, mpmc)|sync/src/semaphore.rs sync/src/wait_group.rs sync/src/mpmc.rs"
    "anything else that blocks: spindle::unblock (blocking pool, in core)|core/src/blocking.rs"
)

# Prints "code comments" for one file.
count() {
    awk '
        /^#\[cfg\(test\)\]/ { intest = 1 }
        intest { next }
        /^[[:space:]]*$/ { next }
        inblock { comments++; if ($0 ~ /\*\//) inblock = 0; next }
        /^[[:space:]]*\/\*/ { comments++; if ($0 !~ /\*\//) inblock = 1; next }
        /^[[:space:]]*\/\// { comments++; next }
        { code++ }
        END { print code + 0, comments + 0 }
    ' "$1"
}

declare -A assigned=()
total_code=0
total_comments=0
echo "| std API family | spindle files | code | docs+comments |"
echo "|---|---|---:|---:|"
for entry in "${families[@]}"; do
    family=${entry%%|*}
    files=${entry#*|}
    code=0
    comments=0
    names=()
    for f in $files; do
        if [[ ! -f $f ]]; then
            echo "count_shim_lines.sh: $f is listed but missing; update the script" >&2
            exit 1
        fi
        assigned[$f]=1
        read -r c k < <(count "$f")
        code=$((code + c))
        comments=$((comments + k))
        names+=("${f#*/src/}")
    done
    total_code=$((total_code + code))
    total_comments=$((total_comments + comments))
    echo "| $family | ${names[*]} | $code | $comments |"
done
echo "| **total** | | **$total_code** | **$total_comments** |"

# The zero-rewrite mode replaces the rewrite instead of adding to it: its own row, after the
# total (docs/cost-of-rewriting.md, "rewrite vs interpose vs pool").
code=0
comments=0
names=()
for f in hook/src/*.rs; do
    read -r c k < <(count "$f")
    code=$((code + c))
    comments=$((comments + k))
    names+=("${f#*/src/}")
done
echo "| the zero-rewrite hook (spindle-hook, an alternative to the rows above: not in the total) | ${names[*]} | $code | $comments |"

missing=0
while IFS= read -r f; do
    if [[ -z ${assigned[$f]:-} ]]; then
        echo "count_shim_lines.sh: $f belongs to no family; add it to the script" >&2
        missing=1
    fi
done < <(find io/src sync/src -name '*.rs' | sort)
exit "$missing"
