//! The doorway to libc: turns C return conventions into `io::Result`.

use std::io;

/// Return values of syscalls that report failure as `-1` with `errno` set.
pub(crate) trait MinusOne: Copy + PartialEq {
    const MINUS_ONE: Self;
}

impl MinusOne for i32 {
    const MINUS_ONE: Self = -1;
}

impl MinusOne for isize {
    const MINUS_ONE: Self = -1;
}

/// Converts a syscall's `-1` result into the `io::Error` for the current `errno`.
pub(crate) fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no memory-safety preconditions.
            let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let size = if size > 0 { size as usize } else { 4096 };
            PAGE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

/// Pins the calling thread to the `index`-th CPU (modulo their number) of those this process
/// may run on. Returns the CPU's number.
pub(crate) fn pin_to_cpu(index: usize) -> io::Result<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = size_of::<libc::cpu_set_t>();
    // SAFETY: `allowed` is a writable cpu_set_t of `size` bytes; pid 0 is the calling thread.
    cvt(unsafe { libc::sched_getaffinity(0, size, &mut allowed) })?;
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &allowed) })
        .collect();
    let Some(&cpu) = cpus.get(index % cpus.len().max(1)) else {
        return Err(io::Error::other("this thread may run on no CPU"));
    };
    // SAFETY: as above, all-zero is the empty set.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: `one` is a readable cpu_set_t of `size` bytes; pid 0 is the calling thread.
    cvt(unsafe { libc::sched_setaffinity(0, size, &one) })?;
    Ok(cpu)
}

/// The CPU-time clock of the calling thread, which other threads of the process may read
/// with [`clock_time`] for as long as this thread lives.
pub(crate) fn thread_cpu_clock() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is the calling thread, alive during the call; `clock` is a
    // valid, writable clockid_t.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    (rc == 0).then_some(clock)
}

/// Reads `clock`; `None` if it cannot be read (a thread CPU clock of a thread that ended).
pub(crate) fn clock_time(clock: libc::clockid_t) -> Option<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id is reported as EINVAL.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
