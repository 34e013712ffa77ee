//! What a stalled fiber's thread is doing, as the watchdog sees it from outside: the likely
//! cause named in a stall report.
//!
//! `/proc/self/task/<tid>/syscall` says whether the scheduler's thread is *running* (on the CPU,
//! or ready to be) or *blocked* in a system call, and which one. A fiber that holds its thread
//! while the thread runs is computing or doing I/O calls that all complete at once (a loop of
//! reads and writes on ready sockets never waits, so it never lets the other fibers run); one
//! whose thread sits in `nanosleep`, `read` or `futex` made a call that really blocks.

use std::fmt;

/// The likely cause of a stall, read when it is first reported; see
/// [`StallReport::cause`](crate::StallReport::cause).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StallCause {
    /// The thread was blocked in this system call: a call that really blocks (std's sleep,
    /// socket or file I/O, a std lock or channel, a foreign library).
    Blocked {
        /// The system call's name, or `syscall <number>` for one not named here.
        syscall: String,
    },
    /// The thread was running: a CPU loop, or a run of calls that each completed at once
    /// without ever waiting (ready I/O, uncontended locks, a busy channel).
    Running,
    /// The thread's state could not be read.
    Unknown,
}

impl StallCause {
    /// What the watchdog can see of thread `tid` right now.
    pub(crate) fn probe(tid: i32) -> StallCause {
        let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
            return StallCause::Unknown;
        };
        match text.split_whitespace().next() {
            Some("running") => StallCause::Running,
            Some(number) => match number.parse::<libc::c_long>() {
                Ok(n) => StallCause::Blocked {
                    syscall: syscall_name(n).map_or_else(|| format!("syscall {n}"), str::to_owned),
                },
                Err(_) => StallCause::Unknown,
            },
            None => StallCause::Unknown,
        }
    }
}

/// Names of the system calls a blocking std call usually waits in.
fn syscall_name(n: libc::c_long) -> Option<&'static str> {
    Some(match n {
        libc::SYS_read => "read",
        libc::SYS_write => "write",
        libc::SYS_readv => "readv",
        libc::SYS_writev => "writev",
        libc::SYS_pread64 => "pread64",
        libc::SYS_pwrite64 => "pwrite64",
        libc::SYS_nanosleep => "nanosleep",
        libc::SYS_clock_nanosleep => "clock_nanosleep",
        libc::SYS_futex => "futex",
        libc::SYS_poll => "poll",
        libc::SYS_ppoll => "ppoll",
        libc::SYS_select => "select",
        libc::SYS_pselect6 => "pselect6",
        libc::SYS_epoll_wait => "epoll_wait",
        libc::SYS_epoll_pwait => "epoll_pwait",
        libc::SYS_accept => "accept",
        libc::SYS_accept4 => "accept4",
        libc::SYS_connect => "connect",
        libc::SYS_recvfrom => "recvfrom",
        libc::SYS_recvmsg => "recvmsg",
        libc::SYS_sendto => "sendto",
        libc::SYS_sendmsg => "sendmsg",
        libc::SYS_wait4 => "wait4",
        libc::SYS_waitid => "waitid",
        libc::SYS_openat => "openat",
        libc::SYS_fsync => "fsync",
        libc::SYS_fdatasync => "fdatasync",
        libc::SYS_flock => "flock",
        libc::SYS_fcntl => "fcntl",
        _ => return None,
    })
}

impl fmt::Display for StallCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StallCause::Blocked { syscall } => write!(
                f,
                "its thread is blocked in the system call `{syscall}`: a call that really \
                 blocks (a std sleep, socket, file, lock or channel call?); use its spindle \
                 twin, or spindle::unblock"
            ),
            StallCause::Running => f.write_str(
                "its thread is running, not blocked: a CPU loop, or many calls in a row that \
                 each completed at once without waiting (ready I/O, uncontended locks); call \
                 fiber::yield_now in the loop, or move the work to spindle::unblock",
            ),
            StallCause::Unknown => f.write_str(
                "a blocking std call or a CPU loop? use the spindle twin, spindle::unblock, or \
                 fiber::yield_now",
            ),
        }
    }
}
