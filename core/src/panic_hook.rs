//! spindle's panic hook: marks the fiber a panic starts on, and names it in the message.
//!
//! std's default hook prints `thread 'main' panicked at …`: with many fibers on one thread,
//! that names the wrong thing. For a panic on a fiber of a runtime whose
//! [`name_panics`](crate::runtime::Builder::name_panics) is on (the default), this hook prints
//! `fiber 'name' (id) panicked at <location>:\n<message>` instead, followed by the backtrace
//! exactly when std's would have one (`RUST_BACKTRACE`, read through
//! [`Backtrace::capture`]).
//!
//! # Composing with a hook the program installed
//!
//! The hook is installed once per process, the first time a runtime starts, in front of the
//! hook in place then. std gives no way to ask whether that hook is its own default, but it
//! does hand out the default on request: `take_hook` returns it once no hook is set. So the
//! install takes the hook in place, takes again to get std's default, and compares the two
//! boxes' vtables.
//!
//! | hook in place when the first runtime starts | a fiber's panic prints |
//! |---|---|
//! | std's default | spindle's fiber-named message (std's default for panics off fibers) |
//! | one the program set | whatever that hook prints; spindle never suppresses it |
//! | a hook set *after* the first runtime started | that hook replaces spindle's (std's rule); `fiber::panicking` then falls back to its thread-wide guess |
//!
//! A program with its own hook can name fibers itself with `spindle::fiber::current()`.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::io::Write;
use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::scheduler::Scheduler;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Chains spindle's hook in front of the one in place, once per process.
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::thread::panicking() {
        // The hook cannot be changed from a panicking thread; a later `run` installs it.
        return;
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        // No hook is set now, so this is std's default hook, boxed the same way.
        let default = panic::take_hook();
        let previous_is_default = std::ptr::eq(
            &*previous as *const (dyn Fn(&PanicHookInfo<'_>) + Sync + Send),
            &*default as *const (dyn Fn(&PanicHookInfo<'_>) + Sync + Send),
        );
        drop(default);
        panic::set_hook(Box::new(move |info| {
            hook(info, &previous, previous_is_default)
        }));
    });
}

fn hook(info: &PanicHookInfo<'_>, previous: &Hook, previous_is_default: bool) {
    Scheduler::with_on_fiber(|current| {
        let Some(sched) = current else {
            return previous(info);
        };
        sched.note_panic();
        if !(previous_is_default && sched.names_panics()) {
            return previous(info);
        }
        let fiber = sched.current_fiber();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("Box<dyn Any>");
        let mut text = format!(
            "fiber '{}' ({}) panicked at ",
            fiber.name().unwrap_or("<unnamed>"),
            fiber.id.as_u64()
        );
        match info.location() {
            Some(location) => text.push_str(&location.to_string()),
            None => text.push_str("<unknown location>"),
        }
        text.push_str(":\n");
        text.push_str(message);
        text.push('\n');
        // Like std's hook: a backtrace when RUST_BACKTRACE asks for one, else a hint, once.
        static HINTED: AtomicBool = AtomicBool::new(false);
        let backtrace = Backtrace::capture();
        match backtrace.status() {
            BacktraceStatus::Captured => text.push_str(&format!("stack backtrace:\n{backtrace}\n")),
            BacktraceStatus::Disabled if !HINTED.swap(true, Ordering::Relaxed) => text.push_str(
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            ),
            _ => {}
        }
        // One write, so that panics of other threads do not interleave with it.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    })
}
