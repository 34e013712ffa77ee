//! Scoped fibers: [`scope`], the fiber twin of `std::thread::scope`.
//!
//! A scoped fiber may borrow from the stack of the fiber that opened the scope, because
//! [`scope`] does not return — nor unwind past its frame — until every fiber spawned in it has
//! finished or has been dropped without running:
//!
//! ```text
//!   owner fiber                              child fibers (same thread)
//!   scope(|s| ...) ─┬─ running += 1 ───────▶ Task { f, packet, done } runs f
//!                   │   (one per spawn)      packet ← f's result; packet dropped
//!                   │                        done dropped: running -= 1, unpark owner at 0
//!                   ├─ f returns or unwinds (caught)
//!                   └─ park until running == 0, then return or resume the unwind
//! ```
//!
//! The decrement lives in a guard (`Done`) that the child's task owns, so it happens on every
//! path: `f` returned, `f` panicked (the panic is caught and kept in the packet), or the task
//! was dropped unrun — its fiber was spawned after the runtime began shutting down, or `spawn`
//! failed. At shutdown the owner is unwound like every other fiber, but its unwind is caught by
//! [`scope`], which first waits for the children (each of them cancelled too, so each finishes
//! soon) and only then resumes the unwind.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use crate::__private::current_waiter;
use crate::engine::fiber::Wait;
use crate::engine::scheduler::Scheduler;
use crate::fiber::{Fiber, park};
use crate::join::{self, JoinHandle};

/// A scope to spawn fibers that borrow from the caller's stack; see [`scope`].
///
/// Mirrors `std::thread::Scope`.
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariant in `'scope`, as std's: spawned closures may borrow for exactly `'scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What the owner and its children share.
#[derive(Debug)]
struct ScopeData {
    /// Children whose task has not yet been dropped.
    running: AtomicUsize,
    /// Set when a child's result was a panic that nobody joined.
    a_fiber_panicked: AtomicBool,
    /// The fiber (or thread) that opened the scope; a spindle-internal handle, so it does
    /// not stop the deadlock detector.
    owner: Fiber,
}

impl ScopeData {
    /// Parks the owner until every child's task is gone. Never unwinds for cancellation: it
    /// runs while the owner's own unwind is held in [`scope`].
    fn wait_all(&self) {
        while self.running.load(Ordering::Acquire) != 0 {
            Scheduler::with_on_fiber(|current| match current {
                Some(sched) => {
                    sched.note_wait(Wait::On("fiber::scope", self as *const _ as usize));
                    sched.park(None);
                }
                None => park(),
            })
        }
    }
}

/// An owned permission to join a scoped fiber, mirroring `std::thread::ScopedJoinHandle`.
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<()>,
    packet: Arc<ScopedPacket<T>>,
    scope: PhantomData<&'scope ()>,
}

/// Where a scoped fiber leaves its result.
struct ScopedPacket<T> {
    result: Mutex<Option<thread::Result<T>>>,
    scope: Arc<ScopeData>,
}

impl<T> Drop for ScopedPacket<T> {
    fn drop(&mut self) {
        let result = self
            .result
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(result, Some(Err(_))) {
            self.scope.a_fiber_panicked.store(true, Ordering::Relaxed);
        }
    }
}

/// Tells the owner a child is done; dropped last of a [`Task`]'s fields.
struct Done(Arc<ScopeData>);

impl Drop for Done {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.owner.unpark();
        }
    }
}

/// A scoped fiber's body. Fields drop in declaration order: the closure and its borrows, then
/// the result slot, and only then `_done`.
struct Task<F, T> {
    f: Option<F>,
    packet: Arc<ScopedPacket<T>>,
    _done: Done,
}

impl<F: FnOnce() -> T, T> Task<F, T> {
    fn run(mut self) {
        if let Some(f) = self.f.take() {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            *self
                .packet
                .result
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(result);
        }
    }
}

/// Creates a scope for spawning fibers that may borrow non-`'static` data, mirroring
/// `std::thread::scope`.
///
/// Every fiber spawned with [`Scope::spawn`] is joined before `scope` returns; the ones not
/// joined by hand are joined automatically.
///
/// # Panics
///
/// If `f` panics, after the children are joined, with `f`'s panic. If a child panicked and was
/// not joined by hand, with "a scoped fiber panicked". If the runtime shut down meanwhile, the
/// caller is unwound as a cancelled fiber instead.
///
/// # Notes
///
/// The children run on the caller's thread, like every fiber. When the runtime shuts down while
/// the scope is open, the owner's cancellation unwind is held until every child has finished
/// (the children are cancelled too), so no child outlives the borrowed data.
///
/// # Examples
///
/// ```
/// # extern crate spindle_core as spindle;
/// let total = spindle::run(|| {
///     let numbers = vec![1, 2, 3, 4];
///     let mut sum = 0;
///     spindle::fiber::scope(|s| {
///         s.spawn(|| assert_eq!(numbers.len(), 4));
///         let h = s.spawn(|| numbers.iter().sum::<i32>());
///         sum = h.join().unwrap();
///     });
///     sum
/// });
/// assert_eq!(total, 10);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            a_fiber_panicked: AtomicBool::new(false),
            owner: current_waiter(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // While an unwind is held here, the owner counts as unwinding: at shutdown it parks for
    // real until its children are gone (or is abandoned with them) instead of spinning.
    let held = Scheduler::with_on_fiber(|current| match current {
        Some(sched) if result.is_err() => Some(sched.hold_unwind()),
        _ => None,
    });
    scope.data.wait_all();
    Scheduler::with_on_fiber(|current| {
        let Some(sched) = current else { return };
        if let Some(was) = held {
            sched.release_unwind(was);
        }
        if result.is_ok() {
            // The runtime shut down while we waited: the children were cancelled, which is no
            // panic of theirs to report; unwind like any cancelled fiber.
            sched.check_cancelled();
        }
    });
    match result {
        Err(payload) => panic::resume_unwind(payload),
        Ok(_) if scope.data.a_fiber_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped fiber panicked")
        }
        Ok(value) => value,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a fiber that may borrow from outside the scope, mirroring
    /// `std::thread::Scope::spawn`.
    ///
    /// # Panics
    ///
    /// Outside a runtime, or when no stack can be mapped (see
    /// [`Builder::spawn_scoped`](crate::fiber::Builder::spawn_scoped)).
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        match spawn_in(self, f, None, None, Location::caller()) {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Spawns `f` as a child of `scope`; see [`Scope::spawn`].
pub(crate) fn spawn_in<'scope, F, T>(
    scope: &'scope Scope<'scope, '_>,
    f: F,
    name: Option<String>,
    stack_size: Option<usize>,
    spawned_at: &'static Location<'static>,
) -> io::Result<ScopedJoinHandle<'scope, T>>
where
    F: FnOnce() -> T + 'scope,
    T: 'scope,
{
    Scheduler::with_current(|current| {
        let Some(sched) = current else {
            return Err(crate::fiber::outside_runtime(
                "spindle::fiber::Scope::spawn",
                spawned_at,
            ));
        };
        let packet = Arc::new(ScopedPacket {
            result: Mutex::new(None),
            scope: Arc::clone(&scope.data),
        });
        scope.data.running.fetch_add(1, Ordering::AcqRel);
        let task = Task {
            f: Some(f),
            packet: Arc::clone(&packet),
            _done: Done(Arc::clone(&scope.data)),
        };
        let body: Box<dyn FnOnce() + 'scope> = Box::new(move || task.run());
        // SAFETY: only the lifetime changes (same layout: a boxed trait object). The box and
        // everything it borrows for 'scope are dropped before `Done` runs — on every path: run to
        // the end, dropped unrun by a cancelled fiber, or dropped by a failed spawn — and `scope`
        // does not return or unwind past its frame (which outlives 'scope) until every `Done` has
        // run. So the box is never used or dropped after 'scope ends.
        let body: Box<dyn FnOnce() + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + 'scope>, Box<dyn FnOnce() + 'static>>(body)
        };
        let handle = join::spawn_on(sched, body, name, stack_size, spawned_at)?;
        Ok(ScopedJoinHandle {
            handle,
            packet,
            scope: PhantomData,
        })
    })
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the fiber to finish and returns its result: `Err` with the panic payload if
    /// it panicked (or the runtime's cancellation payload if it never ran).
    pub fn join(self) -> thread::Result<T> {
        let ran = self.handle.join();
        let result = self
            .packet
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (result, ran) {
            (Some(result), _) => result,
            // Never started: the runtime was shutting down.
            (None, Err(payload)) => Err(payload),
            (None, Ok(())) => unreachable!("a scoped fiber ran without leaving its result"),
        }
    }

    /// A handle to the fiber, mirroring `std::thread::ScopedJoinHandle::thread`.
    pub fn thread(&self) -> &Fiber {
        self.handle.fiber()
    }

    /// Whether the fiber has finished. Does not block.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("fiber", self.handle.fiber())
            .finish_non_exhaustive()
    }
}
