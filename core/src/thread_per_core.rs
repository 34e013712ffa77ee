//! Thread-per-core: several independent 1:N schedulers, one per thread, that never move a
//! fiber.
//!
//! [`Runtime::run_on_each`](crate::Runtime::run_on_each) starts `n` threads (the caller is
//! scheduler 0), each running its own scheduler with the same root closure and its index.
//! Nothing migrates: `thread_local!` stays sound and a fiber's stack never changes thread.
//! The only traffic between schedulers is explicit: [`spawn_on`] queues a `Send` closure on
//! another scheduler, and wake-ups of fibers by objects they share (locks, channels, sockets
//! handed over) go through each scheduler's remote queue, as from any other thread.
//!
//! The schedulers of one `run_on_each` call form a [`Group`]; every scheduler of a group is
//! created and registered before any root closure runs, so `spawn_on` never finds a slot
//! empty that will later be filled.

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread;

use crate::engine::scheduler::{SchedShared, Scheduler};
use crate::engine::stats::Stats;
use crate::fiber::JoinHandle;
use crate::join;
use crate::runtime::{self, Config};

/// The schedulers started by one `run_on_each` call.
#[derive(Debug)]
pub(crate) struct Group {
    /// Each scheduler's shared part, by index.
    members: Vec<OnceLock<Arc<SchedShared>>>,
    /// How many members have registered (or failed to start); all wait for all.
    arrived: Mutex<usize>,
    all_arrived: Condvar,
}

/// A scheduler's place in its group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) group: Arc<Group>,
    pub(crate) index: usize,
}

impl Group {
    fn new(n: usize) -> Group {
        Group {
            members: (0..n).map(|_| OnceLock::new()).collect(),
            arrived: Mutex::new(0),
            all_arrived: Condvar::new(),
        }
    }

    /// Counts one member as arrived and waits for the others.
    fn arrive_and_wait(&self) {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        *arrived += 1;
        if *arrived == self.members.len() {
            self.all_arrived.notify_all();
        }
        while *arrived < self.members.len() {
            arrived = self
                .all_arrived
                .wait(arrived)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn member(&self, index: usize) -> Option<&Arc<SchedShared>> {
        self.members.get(index).and_then(OnceLock::get)
    }
}

impl Member {
    /// Registers the scheduler of the calling thread under its index, then waits until every
    /// scheduler of the group has done so (called by `run_root` before the root runs).
    pub(crate) fn register(&self, shared: &Arc<SchedShared>) {
        let _ = self.group.members[self.index].set(Arc::clone(shared));
        self.group.arrive_and_wait();
    }
}

thread_local! {
    /// The calling thread's place in its group, while it runs a scheduler of one.
    static MEMBER: std::cell::RefCell<Option<Member>> = const { std::cell::RefCell::new(None) };
}

/// Records `member` as the calling thread's place until the guard drops (for the life of
/// its scheduler; called by `runtime::run_root`).
pub(crate) fn enter(member: Member) -> MemberGuard {
    MEMBER.with(|m| *m.borrow_mut() = Some(member));
    MemberGuard(())
}

/// Clears the calling thread's [`Member`] on drop.
#[derive(Debug)]
pub(crate) struct MemberGuard(());

impl Drop for MemberGuard {
    fn drop(&mut self) {
        let _ = MEMBER.try_with(|m| m.borrow_mut().take());
    }
}

/// The calling thread's place in a thread-per-core group, if its scheduler is in one.
fn current_member() -> Option<Member> {
    MEMBER.with(|m| m.borrow().clone())
}

/// Arrives at the group's start line if its thread never got there (its scheduler could not
/// start), so the others do not wait for ever.
struct ArriveOnDrop {
    group: Arc<Group>,
    index: usize,
}

impl Drop for ArriveOnDrop {
    fn drop(&mut self) {
        if self.group.members[self.index].get().is_none() {
            self.group.arrive_and_wait();
        }
    }
}

/// The number of schedulers `run_on_each` starts when `Builder::threads` was not called: one
/// per core this process may run on.
pub(crate) fn default_threads() -> usize {
    thread::available_parallelism().map_or(1, usize::from)
}

/// Runs `f(index)` as the root fiber of `n` schedulers on `n` threads (the caller's is 0);
/// see [`Runtime::run_on_each`](crate::Runtime::run_on_each).
pub(crate) fn run_on_each<F, T>(
    config: Config,
    n: usize,
    pin: bool,
    f: F,
    caller: &'static Location<'static>,
) -> Vec<T>
where
    F: Fn(usize) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let group = Arc::new(Group::new(n));
    let f = Arc::new(f);
    let run_one = {
        let group = Arc::clone(&group);
        move |index: usize| {
            let _arrive = ArriveOnDrop {
                group: Arc::clone(&group),
                index,
            };
            if pin {
                // Pinning is a placement hint: a thread that cannot be pinned still runs.
                if let Err(e) = crate::sys::pin_to_cpu(index) {
                    eprintln!("spindle: cannot pin scheduler {index} to a CPU: {e}");
                }
            }
            let member = Member {
                group: Arc::clone(&group),
                index,
            };
            let f = Arc::clone(&f);
            runtime::run_root(config.clone(), move || f(index), caller, Some(member))
        }
    };
    let threads: Vec<_> = (1..n)
        .map(|index| {
            let run_one = run_one.clone();
            thread::Builder::new()
                .name(format!("spindle-{index}"))
                .spawn(move || run_one(index))
        })
        .collect();
    let mut results: Vec<thread::Result<T>> = Vec::with_capacity(n);
    results.push(panic::catch_unwind(AssertUnwindSafe(|| run_one(0))));
    for (index, thread) in threads.into_iter().enumerate() {
        results.push(match thread {
            Ok(handle) => handle.join(),
            Err(e) => Err(Box::new(format!(
                "spindle: cannot start the thread of scheduler {}: {e}",
                index + 1
            ))),
        });
    }
    let mut values = Vec::with_capacity(n);
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(value) => values.push(value),
            Err(payload) => resume_with_index(index, payload),
        }
    }
    values
}

/// Panics with the message of `payload` prefixed by the scheduler's index (or re-raises a
/// payload that is not a message, after naming the index on stderr).
fn resume_with_index(index: usize, payload: Box<dyn Any + Send>) -> ! {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    match message {
        Some(message) => panic!("spindle: scheduler {index} panicked: {message}"),
        None => {
            eprintln!("spindle: scheduler {index} panicked (with a payload that is not a message)");
            panic::resume_unwind(payload)
        }
    }
}

/// Spawns `f` as a fiber of scheduler `index` of the calling fiber's runtime and returns its
/// handle, which any fiber or plain thread may join.
///
/// Within a runtime started by [`Runtime::run_on_each`](crate::Runtime::run_on_each), the
/// closure crosses threads, so it and its result must be `Send`. It is queued behind the
/// target's runnable fibers and starts when the target next polls its remote queue.
///
/// # Panics
///
/// Outside a runtime, when `index` is not a scheduler of the caller's runtime (a runtime
/// started by `spindle::run` or `Runtime::run` has one scheduler, index 0), or when that
/// scheduler has already ended. [`fiber::Builder::spawn_on`](crate::fiber::Builder::spawn_on)
/// returns these as errors instead.
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// let rt = spindle::Runtime::builder().threads(2).build()?;
/// let ids = rt.run_on_each(|index| {
///     if index == 0 {
///         let remote = spindle::runtime::spawn_on(1, || std::thread::current().id());
///         assert_ne!(remote.join().unwrap(), std::thread::current().id());
///     } else {
///         // A scheduler ends when its root returns: stay up while scheduler 0 uses this one.
///         spindle::fiber::sleep(std::time::Duration::from_millis(200));
///     }
///     spindle::runtime::scheduler_index()
/// });
/// assert_eq!(ids, [Some(0), Some(1)]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn spawn_on<F, T>(index: usize, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::fiber::Builder::new()
        .spawn_on(index, f)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`spawn_on`] with a name and stack size (`fiber::Builder::spawn_on` calls this).
pub(crate) fn spawn_on_with<F, T>(
    index: usize,
    f: F,
    name: Option<String>,
    stack_size: Option<usize>,
    spawned_at: &'static Location<'static>,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Scheduler::with_current(|current| {
        let Some(sched) = current else {
            return Err(io::Error::other(
                "spindle::runtime::spawn_on called outside a spindle runtime: call it from a fiber \
             of Runtime::run_on_each",
            ));
        };
        let target = match current_member() {
            Some(member) => member.group.member(index).cloned(),
            None => (index == 0).then(|| Arc::clone(sched.shared())),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "spindle::runtime::spawn_on: no scheduler {index} in this runtime (it has {}; \
                 indices start at 0)",
                    current_member().map_or(1, |m| m.group.len())
                ),
            ));
        };
        if target.id() == sched.id() {
            return join::spawn_on(sched, f, name, stack_size, spawned_at);
        }
        join::spawn_remote(&target, f, name, stack_size, spawned_at).map_err(|()| {
            io::Error::other(format!(
                "spindle::runtime::spawn_on: scheduler {index} has ended; it takes no more fibers"
            ))
        })
    })
}

/// The index of the calling fiber's scheduler within its runtime (0 for a runtime of one
/// scheduler), or `None` outside a runtime.
pub fn scheduler_index() -> Option<usize> {
    Scheduler::is_installed().then(|| current_member().map_or(0, |m| m.index))
}

/// The number of schedulers of the calling fiber's runtime, or `None` outside a runtime.
pub fn schedulers() -> Option<usize> {
    Scheduler::is_installed().then(|| current_member().map_or(1, |m| m.group.len()))
}

/// Statistics of every scheduler of the calling fiber's runtime, by index, or `None` outside
/// a runtime. Sum them (`Stats` implements `Sum`) for the whole runtime; compare them to see
/// how evenly the load is spread.
///
/// The caller's own entry is exact; the others are copies each scheduler refreshes every
/// 1024 switches and before it sleeps, so they may be a little behind. A scheduler that has
/// ended shows its last figures.
pub fn stats_of_each() -> Option<Vec<Stats>> {
    Scheduler::with_current(|sched| {
        let sched = sched?;
        let Some(member) = current_member() else {
            return Some(vec![Stats::of(sched)]);
        };
        Some(
            (0..member.group.len())
                .map(|index| match member.group.member(index) {
                    Some(shared) if shared.id() == sched.id() => Stats::of(sched),
                    Some(shared) => shared.published.get(),
                    None => Stats::default(),
                })
                .collect(),
        )
    })
}
