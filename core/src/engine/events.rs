//! `tracing` events, with the cargo feature `tracing` (each function is empty without it).
//!
//! | target            | level | when                                   | fields |
//! |-------------------|-------|----------------------------------------|--------|
//! | `spindle::fiber`  | TRACE | a fiber is spawned / finishes           | `fiber`, `name`, `spawned_at`, `scheduler` |
//! | `spindle::stall`  | WARN  | a stall is reported, and when it ends (sent by `crate::watchdog`) | `fiber`, `name`, `spawned_at`, `held_ms`, `cpu_ms`, `phase`, `cause`, `backtrace` |
//! | `spindle::deadlock` | ERROR | a deadlock is detected                | `scheduler`, `fibers`, `report` |
//!
//! A stack overflow is reported from a signal handler right before the process aborts, where
//! `tracing` cannot run (it is not async-signal-safe): that report goes to stderr only.

use super::fiber::FiberBlock;

/// A fiber was given a stack and queued.
#[inline]
pub(crate) fn fiber_spawned(_fiber: &FiberBlock, _scheduler: u32) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        target: "spindle::fiber",
        fiber = _fiber.id.as_u64().get(),
        name = _fiber.name().unwrap_or(""),
        spawned_at = %_fiber.spawned_at,
        scheduler = _scheduler,
        "fiber spawned"
    );
}

/// A fiber's body returned (or unwound) and the fiber is about to leave its stack.
#[inline]
pub(crate) fn fiber_finished(_fiber: &FiberBlock, _scheduler: u32) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        target: "spindle::fiber",
        fiber = _fiber.id.as_u64().get(),
        name = _fiber.name().unwrap_or(""),
        spawned_at = %_fiber.spawned_at,
        scheduler = _scheduler,
        "fiber finished"
    );
}

/// A deadlock was detected; `report` is the text `run` panics with.
pub(crate) fn deadlock(_scheduler: u32, _fibers: usize, _report: &str) {
    #[cfg(feature = "tracing")]
    tracing::error!(
        target: "spindle::deadlock",
        scheduler = _scheduler,
        fibers = _fibers,
        report = _report,
        "spindle: deadlock detected"
    );
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use std::fmt::{self, Write};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing::field::{Field, Visit};
    use tracing::{Event, Metadata, Subscriber, span};

    /// Collects every event as (target, "field=value ..."), from every thread.
    #[derive(Default, Clone)]
    struct Collect(Arc<Mutex<Vec<(String, String)>>>);

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    impl Subscriber for Collect {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            let target = event.metadata().target().to_owned();
            self.0.lock().unwrap().push((target, fields.0));
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    #[inline(never)]
    fn blocks_the_thread() {
        std::thread::sleep(Duration::from_millis(100));
    }

    #[test]
    fn spawn_exit_and_stall_reports_are_tracing_events() {
        let collect = Collect::default();
        // Global: the stall event is emitted on the stall-report thread.
        tracing::subscriber::set_global_default(collect.clone()).unwrap();
        let rt = crate::Runtime::builder()
            .stall_threshold(Some(Duration::from_millis(20)))
            .on_stall(|_| {})
            .build()
            .unwrap();
        rt.run(|| {
            crate::fiber::Builder::new()
                .name("sleepy".into())
                .spawn(blocks_the_thread)
                .unwrap()
                .join()
                .unwrap();
        });
        let events = collect.0.lock().unwrap().clone();
        let find = |target: &str, text: &str| {
            events
                .iter()
                .any(|(t, fields)| t == target && fields.contains(text))
        };
        assert!(find("spindle::fiber", "fiber spawned"), "{events:?}");
        assert!(find("spindle::fiber", "fiber finished"), "{events:?}");
        assert!(find("spindle::fiber", "name=\"sleepy\""), "{events:?}");
        assert!(find("spindle::stall", "phase=Ongoing"), "{events:?}");
        // (This test's own frames count as spindle's and are folded; the sleep is shown.)
        assert!(find("spindle::stall", "backtrace=\""), "{events:?}");
        assert!(find("spindle::stall", "nanosleep"), "{events:?}");
        assert!(find("spindle::stall", "held_ms="), "{events:?}");
    }
}
