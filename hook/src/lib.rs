//! spindle-hook: the zero-rewrite mode. libc's blocking calls, interposed, so that code never
//! written for spindle — `std::net`, `std::thread::sleep`, crates that open their own
//! `TcpStream` — parks the fiber instead of the thread.
//!
//! Turn it on with the `hook` feature of the `spindle` package; there is nothing to call. This
//! crate defines `read`, `write`, `recv`, `connect`, `poll`, `nanosleep`, … with C linkage. A
//! symbol defined in the executable wins over the shared libc's, so every call the program's
//! Rust code (std included) makes to those names lands here. Each hook calls the real function
//! (found once with `dlsym(RTLD_NEXT, …)`) and, when it runs on a spindle fiber and the call
//! would block, parks the fiber on the reactor instead. `docs/hook.md` compares this with the
//! rewrite (spindle's own shims) and lists what the hook cannot catch.
//!
//! # The rules
//!
//! **Which fds are managed.** Sockets only: one created by `socket`, `socketpair`, `accept` or
//! `accept4` on a fiber, or any socket first used by a hooked call on a fiber. The hook makes a
//! managed socket `O_NONBLOCK` in the kernel and remembers the blocking mode its user wants.
//! Pipes, terminals, files, eventfds, sockets that only plain threads use, and fds 0–2 (stdio,
//! usually shared with other processes) are never touched: for them every hook is the libc
//! call plus one thread-local check.
//!
//! **Blocking mode.** A socket its user made non-blocking (`SOCK_NONBLOCK`, `fcntl(F_SETFL)`,
//! `ioctl(FIONBIO)`, std's `set_nonblocking`) stays non-blocking: `EAGAIN` goes back to the
//! caller. `fcntl(F_GETFL)` reports the mode the user set, not the kernel's.
//!
//! **Timeouts.** On a managed blocking socket, a wait is bounded by `SO_RCVTIMEO` (reads,
//! `accept`) or `SO_SNDTIMEO` (writes, `connect`) as read with `getsockopt` when the wait
//! begins; std's `set_read_timeout`/`set_write_timeout` set those. The hooked `setsockopt`
//! notes which sockets ever had one set (accepted sockets inherit their listener's), and
//! only their waits pay for the `getsockopt`. When it passes the call
//! fails with `EAGAIN` (std: `WouldBlock`), or `EINPROGRESS` for `connect`, as Linux does.
//!
//! **The fd table** ([`MAX_FDS`] entries; higher fds are never managed) follows `close`
//! (the entry and its reactor registration are dropped first), `dup`, `dup2`, `dup3` and
//! `fcntl(F_DUPFD*)` (the new fd shares the open file and so its `O_NONBLOCK`: it inherits the
//! entry). A blocking mode changed through one of two duplicates is recorded for that fd
//! only. After `fork` the child inherits the table with the fds; its file descriptions are
//! shared with the parent, so a managed socket stays internally non-blocking there and the
//! child's calls on it take the plain-thread path below; there `close` and `dup2` forget a
//! registration without removing it from the epoll instance the child shares with its parent.
//!
//! **Plain threads.** Off a fiber every hook behaves as the libc call, `errno` included. A
//! managed socket shared with a plain thread is non-blocking in the kernel, so there the hook
//! turns `EAGAIN` into `poll(2)` on the fd and retries: the thread blocks as it would have.
//!
//! **Signals.** A fiber parked in a hook is not woken by a signal: the wait resumes, as if
//! every handler had `SA_RESTART`, and `nanosleep` sleeps its whole duration. The plain-thread
//! `poll` fallback retries on `EINTR` likewise. When the runtime shuts down under a parked
//! fiber, the hooked call fails with `ECANCELED` (sleeps: `EINTR`), since a Rust panic may not
//! cross the C ABI, and the fiber's next park unwinds it.
//!
//! **Writes** on a managed socket may return a short count where a blocking socket would have
//! waited to send everything; POSIX allows it, and std's `write_all` loops.
//!
//! # What it cannot catch
//!
//! Calls that never reach these symbols: `std::sync::Mutex` and `Condvar` (futex through
//! `syscall(2)`), any direct `syscall(2)`, vDSO calls, statically linked C code and shared
//! libraries' own calls into libc (their calls bind inside libc or to their own copy), and
//! regular files, which block in the kernel and have no readiness. `docs/hook.md` says what the
//! stall detector reports for each.

mod dns;
mod fd;
mod io;
mod real;
mod sys;
mod table;
mod time;
mod wait;

pub use table::MAX_FDS;

/// Every hook, referenced from one `#[used]` static.
///
/// rustc hands the linker a reference to each `#[used]` static of every crate it links, so the
/// object holding this table is always linked, and its references pull in the object of every
/// hook, wherever rustc's codegen units put them. Without it, a hook whose symbol nothing
/// else had asked for by the time the linker read this crate would be left out, and the call
/// would go to libc's function.
#[used]
static HOOKS: Hooks = Hooks([
    io::read as *const (),
    io::write as *const (),
    io::readv as *const (),
    io::writev as *const (),
    io::recv as *const (),
    io::send as *const (),
    io::recvfrom as *const (),
    io::sendto as *const (),
    io::recvmsg as *const (),
    io::sendmsg as *const (),
    fd::socket as *const (),
    fd::socketpair as *const (),
    fd::accept as *const (),
    fd::accept4 as *const (),
    fd::connect as *const (),
    fd::close as *const (),
    fd::dup as *const (),
    fd::dup2 as *const (),
    fd::dup3 as *const (),
    fd::fcntl as *const (),
    fd::ioctl as *const (),
    fd::setsockopt as *const (),
    time::poll as *const (),
    time::nanosleep as *const (),
    time::clock_nanosleep as *const (),
    dns::getaddrinfo as *const (),
]);

/// The hooks' addresses (only ever read by the linker).
struct Hooks([*const (); 26]);

// SAFETY: the table is immutable and holds addresses of functions, never dereferenced here.
unsafe impl Sync for Hooks {}

/// Whether the hook is linked into this program (it is, wherever this function can be called).
///
/// The `spindle` facade calls it so that the linker keeps this crate; nobody else needs to.
#[inline(never)]
pub fn is_linked() -> bool {
    !std::hint::black_box(&HOOKS).0.is_empty() && real::resolved()
}
