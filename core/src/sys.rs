//! The doorway to the OS: spindle-core's calls into libc, each turned into an `io::Result`.
//!
//! What it provides:
//!
//! | item | wraps | used by |
//! |------|-------|---------|
//! | [`cvt`], `syscall!` | the `-1`-and-`errno` convention | this module |
//! | [`page_size`] | `sysconf(_SC_PAGESIZE)` | stacks |
//! | [`mmap_anonymous`], [`munmap`], [`madvise`], [`mprotect`] | memory mappings | stacks (slabs, guard pages) |
//! | [`pidfd_open_self`], [`process_madvise`] | batched advice | stacks |
//! | [`membarrier`] | `membarrier(2)` | the stall detector's hazard protocol (`engine::monitor`) |
//! | [`poll_one`] | `poll(2)` on one fd | the reactor's plain-thread wait |
//! | [`sigaction`], [`empty_sigset`], [`altstack`], [`set_altstack`] | signal handlers and their stack | the overflow report |
//! | [`write_stderr`], [`write_fd`], [`abort`], [`errno`], [`set_errno`] | async-signal-safe output, exit and `errno` | the signal handlers |
//! | [`pipe`], [`set_nonblocking`], [`read`] | the dump listener's pipe | `dump_signal` |
//! | [`current_sigaction`], [`this_thread`], [`signal_thread`], [`for_each_loaded_object`] | another thread's backtrace | `stall_trace` |
//! | [`is_main_thread`], [`thread_stack`] | the calling thread's stack | valgrind support |
//! | [`pin_to_cpu`] | `sched_{get,set}affinity` | thread-per-core |
//! | [`thread_cpu_clock`], [`clock_time`] | a thread's CPU clock | the stall detector |
//! | [`grow_descriptor_table`] | `getrlimit`, `fcntl(F_DUPFD_CLOEXEC)` | `descriptor_table` |
//!
//! Outside this module, spindle-core calls no libc function (it still names libc's types and
//! constants); valgrind's client requests are inline asm in `stack/valgrind.rs`.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// `libc::$fn(args…)`, its `-1` result turned into the `io::Error` for `errno`. Used only in
/// this module, each time inside a wrapper whose contract covers the call's arguments (a
/// comment above each use says why they are valid).
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each use below is preceded by a comment showing that the arguments meet
        // `$fn`'s contract (valid pointers and lengths, or memory the wrapper's caller vouches
        // for through the wrapper's `# Safety` section).
        let res = unsafe { libc::$fn($($arg),*) };
        cvt(res)
    }};
}

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

impl MinusOne for i64 {
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

/// Makes the kernel grow this process's descriptor table to hold at least `slots`
/// descriptors (or up to the soft `RLIMIT_NOFILE`, if that is lower), by duplicating a
/// descriptor of our own to the lowest free number at or above `slots - 1` and closing the
/// duplicate. `F_DUPFD` never replaces a descriptor in use, unlike `dup2`. The table never
/// shrinks, so the room stays. Blocks while the kernel waits for an RCU grace period: call it
/// off the scheduler threads.
pub(crate) fn grow_descriptor_table(slots: usize) -> io::Result<()> {
    let mut limit = std::mem::MaybeUninit::<libc::rlimit>::uninit();
    // SAFETY: `limit` is valid for writes of one `rlimit`, which `getrlimit` fills on success.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, limit.as_mut_ptr()))?;
    // SAFETY: `getrlimit` succeeded, so it initialised `limit`.
    let soft = unsafe { limit.assume_init() }.rlim_cur;
    let highest = (slots as u64).min(soft).saturating_sub(1);
    let Ok(highest) = libc::c_int::try_from(highest) else {
        return Ok(());
    };
    let (ours, _writer) = io::pipe()?;
    // SAFETY: `ours` is a live descriptor owned by this function; F_DUPFD_CLOEXEC takes the
    // lowest number to use as its third argument, a `c_int` below the soft limit.
    let dup = syscall!(fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&ours),
        libc::F_DUPFD_CLOEXEC,
        highest
    ))?;
    // SAFETY: `fcntl` just returned `dup`, a new descriptor that nothing else owns.
    drop(unsafe { OwnedFd::from_raw_fd(dup) });
    Ok(())
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
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: `me` is the calling thread, alive during the call; `clock` is a valid,
    // writable clockid_t.
    let rc = unsafe { libc::pthread_getcpuclockid(me, &mut clock) };
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

/// Maps `len` bytes of private anonymous memory with `prot` and the extra `flags` (besides
/// `MAP_PRIVATE | MAP_ANONYMOUS`), at an address the kernel picks.
pub(crate) fn mmap_anonymous(
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with a null hint touches no existing memory; the
    // result is checked against MAP_FAILED.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned a null mapping"))
}

/// Unmaps `ptr..ptr + len`.
///
/// # Safety
///
/// The range is whole pages of mappings this process owns, and nothing uses them any more.
pub(crate) unsafe fn munmap(ptr: NonNull<u8>, len: usize) -> io::Result<()> {
    // The caller vouches for the range (see `# Safety`).
    syscall!(munmap(ptr.as_ptr().cast(), len)).map(drop)
}

/// Gives the kernel `advice` about `ptr..ptr + len`.
///
/// # Safety
///
/// The range lies in mappings this process owns, and `advice` is one whose effect on their
/// contents the caller accepts (`MADV_DONTNEED` zeroes them, guard advice makes them fault).
pub(crate) unsafe fn madvise(ptr: *mut u8, len: usize, advice: libc::c_int) -> io::Result<()> {
    // The caller vouches for the range and the advice (see `# Safety`).
    syscall!(madvise(ptr.cast(), len, advice)).map(drop)
}

/// Sets the protection of `ptr..ptr + len` to `prot`.
///
/// # Safety
///
/// The range is whole pages of mappings this process owns, and no live reference points into
/// them while they are made inaccessible.
pub(crate) unsafe fn mprotect(ptr: *mut u8, len: usize, prot: libc::c_int) -> io::Result<()> {
    // The caller vouches for the range (see `# Safety`).
    syscall!(mprotect(ptr.cast(), len, prot)).map(drop)
}

/// A pidfd for this process, for [`process_madvise`].
pub(crate) fn pidfd_open_self() -> io::Result<OwnedFd> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // pidfd_open takes a pid and flags and touches no memory of ours.
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
    // SAFETY: a non-negative result is a fresh fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Gives the kernel `advice` about every range of `iov` in one call; returns the bytes
/// advised.
///
/// # Safety
///
/// As [`madvise`], for every range of `iov`; `pidfd` is this process's.
pub(crate) unsafe fn process_madvise(
    pidfd: BorrowedFd<'_>,
    iov: &[libc::iovec],
    advice: libc::c_int,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // `iov` is a valid array of `iov.len()` ranges, which the caller vouches for.
    let done = syscall!(syscall(
        libc::SYS_process_madvise,
        pidfd.as_raw_fd(),
        iov.as_ptr(),
        iov.len(),
        advice,
        0
    ))?;
    Ok(done as usize)
}

/// `membarrier(2)` with `cmd` (flags 0): a command, not a memory access of ours.
pub(crate) fn membarrier(cmd: libc::c_int) -> io::Result<()> {
    // membarrier takes (cmd, flags, cpu_id) and touches no memory of ours.
    syscall!(syscall(libc::SYS_membarrier, cmd, 0, 0)).map(drop)
}

/// Waits up to `timeout_ms` (-1: forever) for `fd` to report one of `events`; returns whether
/// it did (false: the timeout passed).
pub(crate) fn poll_one(
    fd: RawFd,
    events: libc::c_short,
    timeout_ms: libc::c_int,
) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // `pfd` is a valid pollfd array of length 1 for the duration of the call.
    syscall!(poll(&mut pfd, 1, timeout_ms)).map(|n| n > 0)
}

/// Installs `new` for `sig`, storing the action it replaces in `old` (if not null).
///
/// # Safety
///
/// `new`'s handler, if it is a function, has the signature its flags announce and is safe to
/// run whenever `sig` arrives; `old` is null or valid for a write of a `sigaction`.
pub(crate) unsafe fn sigaction(
    sig: libc::c_int,
    new: &libc::sigaction,
    old: *mut libc::sigaction,
) -> io::Result<()> {
    // `new` is a valid action (the caller vouches for its handler), `old` null or writable.
    syscall!(sigaction(sig, new, old)).map(drop)
}

/// An empty signal set.
pub(crate) fn empty_sigset() -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set it is given.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: initialised by sigemptyset just above.
    unsafe { set.assume_init() }
}

/// The calling thread's alternate signal stack (`ss_flags` has `SS_DISABLE` if none).
pub(crate) fn altstack() -> io::Result<libc::stack_t> {
    let mut old = libc::stack_t {
        ss_sp: std::ptr::null_mut(),
        ss_flags: 0,
        ss_size: 0,
    };
    // A null new stack only queries the current one into `old`, a valid, writable stack_t.
    syscall!(sigaltstack(std::ptr::null(), &mut old))?;
    Ok(old)
}

/// Installs `new` as the calling thread's alternate signal stack (or disables it, with
/// `SS_DISABLE`).
///
/// # Safety
///
/// The memory `new` describes stays mapped, and is used for nothing else, until the stack is
/// replaced or disabled; the caller does not run on the stack being replaced.
pub(crate) unsafe fn set_altstack(new: &libc::stack_t) -> io::Result<()> {
    // `new` is a valid stack_t; the caller vouches for the memory it describes.
    syscall!(sigaltstack(new, std::ptr::null_mut())).map(drop)
}

/// Writes `buf` to stderr with one `write(2)`, ignoring errors. Async-signal-safe.
pub(crate) fn write_stderr(buf: &[u8]) {
    // SAFETY: stderr stays open for the process (the standard streams are never closed by
    // spindle), and a report is what it is for.
    let _ = unsafe { write_fd(libc::STDERR_FILENO, buf) };
}

/// Ends the process with `SIGABRT`. Async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions and is async-signal-safe.
    unsafe { libc::abort() }
}

/// Writes `buf` to `fd` with one `write(2)`; async-signal-safe.
///
/// # Safety
///
/// `fd` is open for the duration of the call, and writing to it is what its owner intends.
pub(crate) unsafe fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // `buf` is valid for `buf.len()` bytes; the caller vouches for `fd`.
    syscall!(write(fd, buf.as_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: __errno_location has no preconditions.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: it points at this thread's errno, valid and aligned for the thread's life.
    unsafe { *errno }
}

/// Sets the calling thread's `errno` (a signal handler restores the value it interrupted).
pub(crate) fn set_errno(value: libc::c_int) {
    // SAFETY: __errno_location has no preconditions.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: it points at this thread's errno, valid and aligned for the thread's life.
    unsafe { *errno = value };
}

/// A pipe whose ends close on exec: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // `fds` is a writable array of two ints, as pipe2 requires.
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
    // SAFETY: pipe2 succeeded: the read end is a fresh fd that we now own.
    let reader = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: and so is the write end.
    let writer = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((reader, writer))
}

/// Puts `fd` in non-blocking mode (its other status flags are cleared).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // fcntl on an open fd, with an int argument.
    syscall!(fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK)).map(drop)
}

/// Reads into `buf` with one `read(2)`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // `buf` is writable for its length; `fd` is open while borrowed.
    syscall!(read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// The action installed for `sig`.
pub(crate) fn current_sigaction(sig: libc::c_int) -> io::Result<libc::sigaction> {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // A null new action only reads the current one into `old`, valid for a write.
    syscall!(sigaction(sig, std::ptr::null(), old.as_mut_ptr()))?;
    // SAFETY: all-zero is a valid sigaction, and sigaction filled it in.
    Ok(unsafe { old.assume_init() })
}

/// The calling thread's pthread handle.
pub(crate) fn this_thread() -> libc::pthread_t {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() }
}

/// Sends `sig` to `thread`.
///
/// # Safety
///
/// `thread` is alive for the duration of the call, and `sig` has a handler (or an action)
/// that the thread can take at any point.
pub(crate) unsafe fn signal_thread(thread: libc::pthread_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: the caller vouches for `thread` and `sig`.
    match unsafe { libc::pthread_kill(thread, sig) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

/// Calls `each(info, data)` for every object loaded in the process (`dl_iterate_phdr(3)`),
/// until it returns non-zero.
///
/// # Safety
///
/// `each` only reads the `dl_phdr_info` it is given, for the duration of that call, and uses
/// `data` as the caller intends.
pub(crate) unsafe fn for_each_loaded_object(
    each: unsafe extern "C" fn(
        *mut libc::dl_phdr_info,
        libc::size_t,
        *mut libc::c_void,
    ) -> libc::c_int,
    data: *mut libc::c_void,
) {
    // SAFETY: the caller vouches for `each` and `data`.
    unsafe { libc::dl_iterate_phdr(Some(each), data) };
}

/// Whether the caller runs on the process's main thread.
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: gettid has no preconditions.
    pid == unsafe { libc::gettid() }
}

/// The lowest address and size of the calling thread's stack, as pthreads reports them.
pub(crate) fn thread_stack() -> Option<(*mut u8, usize)> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread (`me`, alive) and
    // reports failure by its return value.
    if unsafe { libc::pthread_getattr_np(me, attr.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut addr: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; both out-pointers are valid locals.
    let ret = unsafe { libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) };
    // SAFETY: `attr` was initialised by pthread_getattr_np and is destroyed once.
    unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
    (ret == 0 && !addr.is_null()).then_some((addr.cast(), size))
}
