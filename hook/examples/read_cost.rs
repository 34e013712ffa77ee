//! The hook's price when nothing waits: a 1-byte `write` then `read` on a Unix socket pair
//! with room and data ready, through the hooked symbols against glibc's own functions (found
//! with `dlsym(RTLD_NEXT, …)`), on a plain thread and on a fiber (where the socket is
//! managed).
//!
//! ```text
//! cargo run --release -p spindle-hook --example read_cost
//! ```
//!
//! Prints the median of 31 rounds of 50,000 pairs for each, interleaved, and the cost of the
//! check the hook adds to every call (`fiber::is_fiber`), alone in a loop.

use std::ffi::{CStr, c_int, c_void};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use spindle_hook as _;

type ReadFn = unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;
type WriteFn = unsafe extern "C" fn(c_int, *const c_void, usize) -> isize;

const PAIRS: u32 = 50_000;
const ROUNDS: usize = 31;

fn glibc<F>(name: &CStr) -> F {
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT from the executable finds libc's definition.
    let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(!addr.is_null(), "libc has no {name:?}");
    // SAFETY: the address of libc's function of that name, whose prototype `F` is.
    unsafe { std::mem::transmute_copy(&addr) }
}

fn pair() -> (OwnedFd, OwnedFd) {
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    (a.into(), b.into())
}

/// Nanoseconds per write+read pair through `write` and `read`.
fn round(a: &OwnedFd, b: &OwnedFd, write: WriteFn, read: ReadFn) -> f64 {
    let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
    let mut byte = 0u8;
    let started = Instant::now();
    for _ in 0..PAIRS {
        // SAFETY: `byte` is valid for one byte of reads; the fd is open.
        let written = unsafe { write(a, (&raw const byte).cast(), 1) };
        assert_eq!(written, 1);
        // SAFETY: `byte` is valid for one byte of writes; the fd is open.
        let read = unsafe { read(b, (&raw mut byte).cast(), 1) };
        assert_eq!(read, 1);
    }
    started.elapsed().as_nanos() as f64 / f64::from(PAIRS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure(label: &str, a: &OwnedFd, b: &OwnedFd) {
    let (real_read, real_write): (ReadFn, WriteFn) = (glibc(c"read"), glibc(c"write"));
    let (hooked_read, hooked_write): (ReadFn, WriteFn) = (libc::read, libc::write);
    let (mut hooked, mut real) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        hooked.push(round(a, b, hooked_write, hooked_read));
        real.push(round(a, b, real_write, real_read));
    }
    let (h, r) = (median(hooked), median(real));
    println!(
        "{label:<28} hooked {h:>6.0} ns   glibc {r:>6.0} ns   ratio {:.3}",
        h / r
    );
}

/// Nanoseconds per `is_fiber` check, the thread-local test every hooked call starts with.
fn check_cost(label: &str) {
    const CHECKS: u32 = 10_000_000;
    let started = Instant::now();
    for _ in 0..CHECKS {
        std::hint::black_box(spindle_core::fiber::is_fiber());
    }
    let ns = started.elapsed().as_nanos() as f64 / f64::from(CHECKS);
    println!("{label:<28} the check alone: {ns:.2} ns");
}

fn main() {
    let (a, b) = pair();
    measure("plain thread (unmanaged)", &a, &b);
    check_cost("plain thread");
    // The loops hold the thread on purpose: no stall reports.
    let rt = spindle_core::Runtime::builder()
        .stall_threshold(None)
        .build()
        .expect("runtime");
    rt.run(|| {
        let (a, b) = pair();
        measure("fiber (managed socket)", &a, &b);
        check_cost("fiber");
    });
}
