//! The engine: how fibers run. The public API modules (`fiber`, `join`, `local`, `scope`,
//! `blocking`, `watchdog`, `runtime`, `thread_per_core`, `stats`, `dump`) are built on it.
//!
//! | module      | what it holds |
//! |-------------|---------------|
//! | `fiber`     | the fiber control block, its states, and the handle the scheduler holds |
//! | `scheduler` | one scheduler per thread: run queue, switch-out/switch-in, remote queue, budget, shutdown, deadlock detection, backtrace capture |
//! | `timer`     | deadlines of sleeps and timeouts |
//! | `reactor`   | fd readiness turned into wake-ups (`Registration`, the poller behind `poller.rs`) |
//! | `monitor`   | what a scheduler publishes for the stall detector, and its hazard protocol |
//! | `stats`, `dump` | the counters and snapshots the API reports |
//! | `events`    | `tracing` events (feature `tracing`) |
//!
//! # The rule: imports point down
//!
//! Code under `engine/` imports only the engine itself, the base layer (`arch`, `stack`,
//! `sys`) and leaf utilities (`slab`, `trace`); never an API module. Where the engine needs
//! something of the layer above, it is handed a value when the scheduler starts (a
//! [`SchedConfig`](scheduler::SchedConfig), a function pointer) instead. `core/tests/layering.rs`
//! checks the rule.

pub(crate) mod dump;
pub(crate) mod events;
pub(crate) mod fiber;
pub(crate) mod monitor;
pub mod reactor;
pub(crate) mod scheduler;
pub(crate) mod stats;
pub(crate) mod timer;
