//! Growing the process's descriptor table before it fills, off the scheduler threads.
//!
//! Linux keeps a process's descriptors in one table that starts with 64 slots and is
//! replaced by one twice as large (or more) when a new descriptor does not fit. In a process
//! of several threads the replacement waits for an RCU grace period (`expand_fdtable` calls
//! `synchronize_rcu`), and the thread whose `accept4` or `socket` needed the slot sleeps
//! meanwhile: 4.8 ms for the 256th descriptor and 12.7 ms for the 512th, measured with
//! `strace -T` on `http_server` here under `wrk -c1000`. On a scheduler thread that sleep
//! freezes every fiber of the thread, and the stall detector reports it from `accept4`.
//!
//! So the table is grown ahead of need, on a short-lived thread of its own: every socket that
//! spindle-io wraps, every `spindle::fs` file (and the descriptor of an inline `fs::read`), and
//! every socket the hook sees created on a fiber reports its descriptor number ([`note`]), and
//! when one reaches an eighth of the room already asked for, a thread asks the kernel for room
//! for 16 times as many (at least [`FIRST_ASK`]; see [`sys::grow_descriptor_table`]), so the
//! grace period passes while the schedulers go on. The first ask comes at the 8th descriptor, usually before a server
//! takes its first connection, and is large because a burst of connections outruns a grace
//! period: 1000 connects arrive in a few milliseconds. A server with 1000 connections starts
//! two such threads (at its 8th and 512th descriptor) and ends with a table of 16384 slots
//! (128 KiB of kernel memory).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sys;

/// How many slots have been asked for so far; the kernel's initial table holds 64.
static ASKED: AtomicUsize = AtomicUsize::new(64);

/// The least room the first ask is for: 32 KiB of kernel memory.
const FIRST_ASK: usize = 4096;

/// Notes a new descriptor: grows the table in the background when `fd` reaches an eighth of
/// the room asked for so far. One atomic load when there is room.
#[inline]
pub fn note(fd: RawFd) {
    let Ok(fd) = usize::try_from(fd) else {
        return;
    };
    let asked = ASKED.load(Ordering::Relaxed);
    if fd >= asked / 8 {
        grow(fd, asked);
    }
}

#[cold]
fn grow(fd: usize, asked: usize) {
    let want = fd
        .saturating_add(1)
        .saturating_mul(16)
        .next_power_of_two()
        .max(FIRST_ASK);
    // Several threads may see the same descriptor count; one of them grows the table.
    if want <= asked
        || ASKED
            .compare_exchange(asked, want, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // Best effort: if no thread can be started (or the kernel refuses), the table grows as
    // before, in whichever call needs the slot.
    let _ = std::thread::Builder::new()
        .name("spindle-fd-table".into())
        .stack_size(64 * 1024)
        .spawn(move || sys::grow_descriptor_table(want));
}
