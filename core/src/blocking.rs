//! The blocking pool behind [`unblock`]: OS threads for calls that cannot be made
//! non-blocking (files, name lookups, foreign libraries, CPU-heavy work).
//!
//! One pool serves every runtime of the process. It starts empty, grows by one thread whenever
//! a job arrives and no thread is idle (up to a limit, 64 by default), and a thread that has
//! waited for work longer than the keep-alive (10 s by default) retires. So an idle process
//! holds no pool threads, and nothing needs shutting down at exit: a thread is either running
//! a job (which the caller is waiting for) or about to retire.
//!
//! ```text
//!   fiber                               pool thread
//!   ─────                               ───────────
//!   slot = Arc<Slot { fiber: current() }>
//!   queue.push(job) ──── notify / spawn ──▶ job = queue.pop()
//!   loop {                                  result = catch_unwind(f)
//!     if slot has a result: break           slot.result = result
//!     park()        ◀──────── unpark ────── slot.fiber.unpark()
//!   }                                       in_flight -= 1
//!   result or resume_unwind(payload)
//! ```
//!
//! The pool is built only on the public fiber API: [`fiber::current`], [`fiber::park`] and
//! [`Fiber::unpark`], which is safe and cheap from another thread.
//!
//! ## Pool state
//!
//! All bookkeeping sits under one `Mutex<State>`; a thread waits for work on one `Condvar`.
//!
//! | field      | meaning                                                                   |
//! |------------|---------------------------------------------------------------------------|
//! | `queue`    | jobs not yet taken by a thread                                            |
//! | `threads`  | pool threads alive (running a job, or waiting for one)                    |
//! | `idle`     | threads waiting on the condvar that nobody has yet signalled              |
//! | `notified` | signals sent by `submit` and not yet consumed by a waking thread          |
//!
//! `submit` signals an idle thread if there is one (moving it from `idle` to `notified`),
//! otherwise spawns a thread if `threads < max_threads`, otherwise leaves the job queued for
//! the next thread that finishes. A waking thread consumes a signal if one is pending (a
//! spurious wake-up may consume another thread's signal; the signalled thread then sees none
//! and waits again, so exactly one thread is woken per signal); a thread that times out with no
//! signal pending retires.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use crate::engine::scheduler::OFFLOADED_JOBS;
use crate::fiber::{self, Fiber};

/// The default upper bound on pool threads.
const DEFAULT_MAX_THREADS: usize = 64;
/// The default time an idle pool thread waits for work before it retires.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `f` on the blocking pool and parks the calling fiber until it returns.
///
/// Use it for any call that blocks its thread and has no fiber-aware twin: a file or
/// directory operation, a name lookup, a foreign library call, a long computation. While `f`
/// runs on a pool thread, the other fibers of the caller's thread keep running.
///
/// On a plain thread (no spindle runtime) `unblock(f)` simply calls `f()` there.
///
/// The pool is shared by all runtimes of the process. It grows on demand up to a limit
/// (64 threads by default) and threads that stay idle longer than a keep-alive (10 s by
/// default) exit; both are set with
/// [`runtime::Builder::blocking_pool`](crate::runtime::Builder::blocking_pool). When every
/// pool thread is busy, jobs wait in a FIFO queue for the next free thread.
///
/// # Panics
///
/// If `f` panics, the panic is caught on the pool thread and resumed in the caller with the
/// same payload, as if `f` had run there.
///
/// # Notes
///
/// A round trip (park, run an empty closure on a pool thread, resume) costs a few
/// microseconds: two cross-thread wake-ups. Batch work into one call where you can, e.g. read
/// a whole file in one `unblock` rather than one per `read`.
///
/// If the caller's runtime shuts down while `f` is still running, the fiber is unwound as
/// usual; `f` runs to completion on its pool thread and its result is dropped there.
///
/// # Examples
///
/// ```
/// use spindle_core::{fiber, unblock};
/// use std::time::Duration;
///
/// spindle_core::run(|| {
///     let ticker = fiber::spawn(|| {
///         for _ in 0..5 {
///             fiber::sleep(Duration::from_millis(1));
///         }
///     });
///     // `std::thread::sleep` would stall the ticker; on the pool it does not.
///     let answer = unblock(|| {
///         std::thread::sleep(Duration::from_millis(20));
///         42
///     });
///     assert_eq!(answer, 42);
///     ticker.join().unwrap();
/// });
/// ```
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !fiber::is_fiber() {
        return f();
    }
    let slot = Arc::new(Slot {
        result: Mutex::new(None),
        fiber: fiber::current(),
    });
    let job_slot = Arc::clone(&slot);
    global().submit(Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        job_slot.fill(result);
    }));
    loop {
        if let Some(result) = slot.take() {
            return match result {
                Ok(value) => value,
                Err(payload) => panic::resume_unwind(payload),
            };
        }
        fiber::park();
    }
}

/// Sets the pool's limits: at most `max_threads` threads, and an idle thread retires after
/// `keep_alive` without work.
///
/// Takes effect at once, for every runtime of the process: threads beyond a lowered limit
/// retire as soon as they are idle, and idle threads re-read the keep-alive when they next
/// wait. Called by [`runtime::Builder::build`](crate::runtime::Builder::build) when
/// [`blocking_pool`](crate::runtime::Builder::blocking_pool) was set.
///
/// # Panics
///
/// If `max_threads` is zero.
pub(crate) fn set_blocking_pool_limits(max_threads: usize, keep_alive: Duration) {
    global().set_limits(max_threads, keep_alive);
}

/// The process-wide pool, created on first use.
fn global() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(DEFAULT_MAX_THREADS, DEFAULT_KEEP_ALIVE))
}

/// Where a pool thread leaves the result of one call for the parked fiber.
struct Slot<T> {
    result: Mutex<Option<thread::Result<T>>>,
    fiber: Fiber,
}

impl<T> Slot<T> {
    /// Stores the result and wakes the caller. Runs on the pool thread.
    fn fill(&self, result: thread::Result<T>) {
        *lock(&self.result) = Some(result);
        self.fiber.unpark();
    }

    /// The result, once the pool thread has stored it.
    fn take(&self) -> Option<thread::Result<T>> {
        lock(&self.result).take()
    }
}

/// A unit of work for a pool thread.
type Job = Box<dyn FnOnce() + Send>;

/// A pool of OS threads that grows on demand up to a limit and shrinks when idle.
struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

/// The pool's bookkeeping; see the module docs for the meaning of each field.
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    notified: usize,
    max_threads: usize,
    keep_alive: Duration,
}

impl Pool {
    const fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                max_threads,
                keep_alive,
            }),
            work: Condvar::new(),
        }
    }

    fn set_limits(&self, max_threads: usize, keep_alive: Duration) {
        assert!(
            max_threads > 0,
            "the blocking pool needs at least one thread"
        );
        let mut state = lock(&self.state);
        state.max_threads = max_threads;
        state.keep_alive = keep_alive;
        drop(state);
        // Idle threads re-check the limits: the surplus retires, the rest re-arm their timer.
        self.work.notify_all();
    }

    /// Queues `job` and makes sure a thread will run it.
    fn submit(&'static self, job: Job) {
        OFFLOADED_JOBS.fetch_add(1, Ordering::AcqRel);
        let job = Box::new(move || {
            job();
            // After the job has stored its result and unparked its fiber, never before.
            OFFLOADED_JOBS.fetch_sub(1, Ordering::AcqRel);
        });
        let mut state = lock(&self.state);
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.work.notify_one();
        } else if state.threads < state.max_threads {
            state.threads += 1;
            drop(state);
            self.spawn_thread();
        }
    }

    /// Starts one pool thread (already counted in `threads`).
    fn spawn_thread(&'static self) {
        let spawned = thread::Builder::new()
            .name("spindle-blocking".into())
            .spawn(move || self.worker());
        if let Err(err) = spawned {
            let mut state = lock(&self.state);
            state.threads -= 1;
            if state.threads > 0 {
                // A running thread takes the job when it finishes its own.
                return;
            }
            // No thread can run the queued jobs: run them here, on the caller's thread,
            // rather than leaving their fibers parked forever.
            let jobs: Vec<Job> = state.queue.drain(..).collect();
            drop(state);
            eprintln!("spindle: cannot start a blocking-pool thread ({err}); running inline");
            for job in jobs {
                job();
            }
        }
    }

    /// The body of a pool thread: take jobs until none comes within the keep-alive.
    fn worker(&self) {
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = lock(&self.state);
                continue;
            }
            if state.threads > state.max_threads {
                state.threads -= 1;
                return;
            }
            state.idle += 1;
            let keep_alive = state.keep_alive;
            let (guard, wait) = self
                .work
                .wait_timeout(state, keep_alive)
                .unwrap_or_else(|poison| poison.into_inner());
            state = guard;
            if state.notified > 0 {
                // Woken for a job (`submit` already moved us out of `idle`).
                state.notified -= 1;
            } else {
                state.idle -= 1;
                if wait.timed_out() && state.queue.is_empty() {
                    state.threads -= 1;
                    return;
                }
            }
        }
    }

    #[cfg(test)]
    fn threads(&self) -> usize {
        lock(&self.state).threads
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Pool")
            .field("queued", &state.queue.len())
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("max_threads", &state.max_threads)
            .field("keep_alive", &state.keep_alive)
            .finish()
    }
}

/// Locks `mutex`, ignoring poison: no code panics while holding these locks (jobs run
/// outside them, and their panics are caught).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn leak(pool: Pool) -> &'static Pool {
        Box::leak(Box::new(pool))
    }

    #[test]
    fn grows_to_the_limit_and_queues_beyond_it() {
        let pool = leak(Pool::new(2, Duration::from_secs(5)));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for i in 0..3 {
            let started_tx = started_tx.clone();
            let release_rx = Arc::clone(&release_rx);
            pool.submit(Box::new(move || {
                started_tx.send(i).unwrap();
                let _ = release_rx.lock().unwrap().recv();
            }));
        }
        // Two jobs start; the third waits for a free thread.
        let first = started_rx.recv().unwrap();
        let second = started_rx.recv().unwrap();
        assert_ne!(first, second);
        assert_eq!(pool.threads(), 2);
        assert!(started_rx.recv_timeout(Duration::from_millis(100)).is_err());
        release_tx.send(()).unwrap();
        assert_eq!(started_rx.recv().unwrap(), 2);
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
    }

    #[test]
    fn idle_threads_retire_after_the_keep_alive() {
        let pool = leak(Pool::new(4, Duration::from_millis(50)));
        let (tx, rx) = mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            pool.submit(Box::new(move || {
                thread::sleep(Duration::from_millis(20));
                tx.send(()).unwrap();
            }));
        }
        for _ in 0..4 {
            rx.recv().unwrap();
        }
        assert!(pool.threads() >= 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.threads() > 0 {
            assert!(Instant::now() < deadline, "pool threads never retired");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn an_idle_thread_is_reused() {
        let pool = leak(Pool::new(8, Duration::from_secs(5)));
        let (tx, rx) = mpsc::channel();
        let mut ids = Vec::new();
        for _ in 0..20 {
            let tx = tx.clone();
            pool.submit(Box::new(move || tx.send(thread::current().id()).unwrap()));
            ids.push(rx.recv().unwrap());
            // Let the thread get back to waiting (a loaded machine may be slow to).
            let deadline = Instant::now() + Duration::from_secs(10);
            while pool.state.lock().unwrap().idle == 0 {
                assert!(Instant::now() < deadline, "the pool thread never went idle");
                thread::sleep(Duration::from_millis(1));
            }
        }
        // Each job found the previous job's thread idle and ran there.
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(pool.threads(), 1, "{pool:?}");
    }

    #[test]
    fn lowering_the_limit_retires_the_surplus() {
        let pool = leak(Pool::new(4, Duration::from_secs(30)));
        let (tx, rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..4 {
            let tx = tx.clone();
            let release_rx = Arc::clone(&release_rx);
            pool.submit(Box::new(move || {
                tx.send(()).unwrap();
                let _ = release_rx.lock().unwrap().recv();
            }));
        }
        for _ in 0..4 {
            rx.recv().unwrap();
        }
        pool.set_limits(1, Duration::from_secs(30));
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.threads() > 1 {
            assert!(Instant::now() < deadline, "surplus threads never retired");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn on_a_plain_thread_unblock_calls_f_here() {
        let here = thread::current().id();
        assert_eq!(unblock(move || thread::current().id()), here);
    }

    #[test]
    fn a_fiber_gets_the_result_from_a_pool_thread() {
        let here = thread::current().id();
        let there = crate::run(|| unblock(|| thread::current().id()));
        assert_ne!(there, here);
        // The count drops just after the unpark; other tests' jobs may still be in flight.
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::engine::scheduler::jobs_in_flight() > 0 {
            assert!(
                Instant::now() < deadline,
                "jobs_in_flight never dropped to 0"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_panic_resumes_in_the_caller() {
        let caught = crate::run(|| {
            panic::catch_unwind(|| unblock(|| -> u32 { panic::panic_any(7_u8) })).unwrap_err()
        });
        assert_eq!(caught.downcast_ref::<u8>(), Some(&7));
    }

    #[test]
    fn other_fibers_run_while_a_job_blocks() {
        let ticks = crate::run(|| {
            let ticker = fiber::spawn(|| {
                let mut ticks = 0;
                for _ in 0..10 {
                    fiber::sleep(Duration::from_millis(5));
                    ticks += 1;
                }
                ticks
            });
            unblock(|| thread::sleep(Duration::from_millis(300)));
            ticker.is_finished()
        });
        assert!(ticks, "the ticker stalled while a job blocked");
    }
}
