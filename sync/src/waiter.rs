//! The wait queue under every primitive: an intrusive FIFO of parked waiters.
//!
//! A waiter is a [`Waiter`] pinned on the waiting fiber's (or thread's) own stack, so
//! waiting allocates nothing. Its node is linked into a [`List`] that lives inside a
//! primitive's [`SpinLock`]; the primitive decides under that lock whether to wait, links
//! the node, releases the lock and parks. A notifier, under the same lock, unlinks the
//! head node, may read or write its payload (a channel message, a reader/writer tag),
//! takes the waiter's [`Fiber`] handle out and finally sets the node's `notified` flag.
//! It unparks the fiber only after releasing the lock.
//!
//! # The node's life
//!
//! | owner state  | `linked` | `notified` | who may touch the node                         |
//! |--------------|----------|------------|------------------------------------------------|
//! | idle         | false    | false      | the owner only (never enqueued)                 |
//! | queued       | true     | false      | whoever holds the list's lock                   |
//! | notified     | false    | true       | the owner only: `notified` is the notifier's last write |
//! | cancelled    | false    | false      | the owner only (it unlinked itself under the lock) |
//!
//! `notified` is set with `Release` after every other write the notifier makes, and read
//! with `Acquire`, so a waiter that sees it owns its node again — including the payload —
//! and may return, which frees the node. A waiter that gives up (timeout, or a panic
//! unwinding out of `park`, which is how a runtime tears down leftover fibers) takes the
//! lock and unlinks itself if it is still queued; [`Waiter`]'s `Drop` does this as a
//! backstop, so no list ever points into a dead stack frame.
//!
//! Wake-ups are spurious-tolerant: [`Waiter::park`] loops until `notified` is set or the
//! deadline passes, because a fiber's park token may hold a stale unpark from earlier.

use crate::shim::{AtomicBool, Fiber, Ordering, current, park, park_timeout, waiting_on};
use crate::spin::{SpinGuard, SpinLock};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;
use std::time::Instant;

/// One waiter's links, fiber handle, payload and notification flag.
struct Node<P> {
    prev: Cell<*const Node<P>>,
    next: Cell<*const Node<P>>,
    linked: Cell<bool>,
    fiber: Cell<Option<Fiber>>,
    payload: UnsafeCell<P>,
    notified: AtomicBool,
}

/// A FIFO of waiters. Lives inside a [`SpinLock`]; every method runs under that lock.
pub(crate) struct List<P> {
    head: *const Node<P>,
    tail: *const Node<P>,
    len: usize,
}

// SAFETY: the list holds pointers to nodes whose payloads and fiber handles are handed
// to whichever thread holds the list's lock; that moves `P` and `Fiber` (which is `Send`)
// across threads, nothing more.
unsafe impl<P: Send> Send for List<P> {}

impl<P> List<P> {
    /// An empty list.
    pub(crate) const fn new() -> List<P> {
        List {
            head: ptr::null(),
            tail: ptr::null(),
            len: 0,
        }
    }

    /// Whether no waiter is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many waiters are queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many waiters at the head of the queue, in a row, satisfy `pred`.
    pub(crate) fn count_front_while(&self, mut pred: impl FnMut(&P) -> bool) -> usize {
        let mut count = 0;
        let mut node = self.head;
        // SAFETY: linked nodes are alive and ours while we hold the lock (see `front`).
        while let Some(n) = unsafe { node.as_ref() } {
            // SAFETY: as above.
            if !pred(unsafe { &*n.payload.get() }) {
                break;
            }
            count += 1;
            node = n.next.get();
        }
        count
    }

    /// The payload of the longest waiter, if any.
    pub(crate) fn front(&self) -> Option<&P> {
        // SAFETY: a linked node is alive (its owner unlinks it under this list's lock
        // before its frame ends), so `head` is null or points at a live node.
        let head = unsafe { self.head.as_ref() }?;
        // SAFETY: while we hold the lock, nobody else touches a linked node's payload.
        Some(unsafe { &*head.payload.get() })
    }

    /// Unlinks the longest waiter, lets `f` read or fill its payload, and marks it
    /// notified. Returns `f`'s result and the [`Wake`] to deliver after the lock is
    /// released.
    pub(crate) fn pop_front_with<R>(&mut self, f: impl FnOnce(&mut P) -> R) -> Option<(R, Wake)> {
        let node = self.head;
        if node.is_null() {
            return None;
        }
        // SAFETY: `node` is linked, hence alive, and ours while we hold the lock.
        let node = unsafe { &*node };
        self.unlink(node);
        // SAFETY: as above; the owner reads the payload only after seeing `notified`.
        let result = f(unsafe { &mut *node.payload.get() });
        let fiber = node.fiber.take().expect("queued waiter without a fiber");
        // Last touch of the node: from here on its owner may free it.
        node.notified.store(true, Ordering::Release);
        Some((result, Wake { fiber }))
    }

    /// Notifies every queued waiter, letting `f` see each payload, and puts the wake-ups
    /// into `batch`.
    pub(crate) fn drain_with(&mut self, batch: &mut WakeBatch, mut f: impl FnMut(&mut P)) {
        while let Some(((), wake)) = self.pop_front_with(&mut f) {
            batch.push(wake);
        }
    }

    fn push_back(&mut self, node: &Node<P>) {
        debug_assert!(!node.linked.get());
        node.prev.set(self.tail);
        node.next.set(ptr::null());
        // SAFETY: `tail`, when non-null, is a linked node, alive while we hold the lock.
        match unsafe { self.tail.as_ref() } {
            Some(tail) => tail.next.set(node),
            None => self.head = node,
        }
        self.tail = node;
        node.linked.set(true);
        self.len += 1;
    }

    fn unlink(&mut self, node: &Node<P>) {
        debug_assert!(node.linked.get());
        let (prev, next) = (node.prev.get(), node.next.get());
        // SAFETY: neighbours of a linked node are linked nodes, alive under the lock.
        match unsafe { prev.as_ref() } {
            Some(prev) => prev.next.set(next),
            None => self.head = next,
        }
        // SAFETY: as above.
        match unsafe { next.as_ref() } {
            Some(next) => next.prev.set(prev),
            None => self.tail = prev,
        }
        node.linked.set(false);
        self.len -= 1;
    }
}

impl<P> fmt::Debug for List<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List").field("len", &self.len).finish()
    }
}

/// A notified waiter's fiber, to unpark once the queue's lock is released.
#[must_use = "a Wake must be delivered with `wake`"]
pub(crate) struct Wake {
    fiber: Fiber,
}

impl Wake {
    /// Unparks the waiter (routed to its scheduler if it is a fiber of another thread).
    pub(crate) fn wake(self) {
        self.fiber.unpark();
    }
}

const BATCH: usize = 16;

/// Wake-ups collected under a lock and delivered after it. When more than fit are
/// collected, the extra ones are delivered at once (still correct, only slower); any left
/// when the batch is dropped are delivered then.
pub(crate) struct WakeBatch {
    fibers: [Option<Fiber>; BATCH],
    len: usize,
}

impl WakeBatch {
    pub(crate) const fn new() -> WakeBatch {
        WakeBatch {
            fibers: [const { None }; BATCH],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, wake: Wake) {
        if self.len == BATCH {
            wake.wake();
        } else {
            self.fibers[self.len] = Some(wake.fiber);
            self.len += 1;
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        for fiber in self.fibers[..self.len].iter_mut().filter_map(Option::take) {
            fiber.unpark();
        }
    }
}

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const DETACHED: u8 = 2;

/// A waiter pinned on the waiting fiber's stack; see the module docs for its protocol.
pub(crate) struct Waiter<'a, S, P> {
    /// What the waiter waits on, for spindle's deadlock report ("Mutex", "Condvar", ...).
    kind: &'static str,
    lock: &'a SpinLock<S>,
    list: fn(&mut S) -> &mut List<P>,
    node: Node<P>,
    /// Owner-only progress: [`IDLE`], [`QUEUED`] or [`DETACHED`].
    stage: Cell<u8>,
    _pinned: PhantomPinned,
}

impl<'a, S, P> Waiter<'a, S, P> {
    /// A waiter for the list that `list` picks out of the state behind `lock`.
    pub(crate) fn new(
        kind: &'static str,
        lock: &'a SpinLock<S>,
        list: fn(&mut S) -> &mut List<P>,
        payload: P,
    ) -> Self {
        Waiter {
            kind,
            lock,
            list,
            node: Node {
                prev: Cell::new(ptr::null()),
                next: Cell::new(ptr::null()),
                linked: Cell::new(false),
                fiber: Cell::new(None),
                payload: UnsafeCell::new(payload),
                notified: AtomicBool::new(false),
            },
            stage: Cell::new(IDLE),
            _pinned: PhantomPinned,
        }
    }

    /// Links this waiter at the back of its list. `guard` must hold this waiter's lock.
    ///
    /// # Panics
    ///
    /// If `guard` holds another lock, or the waiter was enqueued before.
    pub(crate) fn enqueue(self: Pin<&Self>, guard: &mut SpinGuard<'a, S>) {
        assert!(
            guard.holds(self.lock),
            "waiter enqueued under a foreign lock"
        );
        assert_eq!(self.stage.get(), IDLE, "waiter enqueued twice");
        self.node.fiber.set(Some(current()));
        (self.list)(guard).push_back(&self.node);
        self.stage.set(QUEUED);
    }

    /// Parks until notified (returns `true`) or until `deadline` passes (`false`; the
    /// waiter is still queued and must be [`cancel`](Self::cancel)led). Spurious wake-ups
    /// are absorbed here.
    pub(crate) fn park(self: Pin<&Self>, deadline: Option<Instant>) -> bool {
        debug_assert_eq!(self.stage.get(), QUEUED);
        loop {
            if self.node.notified.load(Ordering::Acquire) {
                self.stage.set(DETACHED);
                return true;
            }
            waiting_on(self.kind, ptr::from_ref(self.lock).cast());
            match deadline {
                None => park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    park_timeout(deadline - now);
                }
            }
        }
    }

    /// Takes this waiter out of its list under `guard`. Returns `true` when it was still
    /// queued (it gave up first), `false` when a notifier got to it first.
    pub(crate) fn cancel(self: Pin<&Self>, guard: &mut SpinGuard<'a, S>) -> bool {
        assert!(
            guard.holds(self.lock),
            "waiter cancelled under a foreign lock"
        );
        if self.stage.get() != QUEUED {
            return false;
        }
        self.stage.set(DETACHED);
        if self.node.linked.get() {
            (self.list)(guard).unlink(&self.node);
            true
        } else {
            // The lock orders us after the notifier, whose last write was `notified`.
            debug_assert!(self.node.notified.load(Ordering::Relaxed));
            false
        }
    }

    /// Whether a notifier has dequeued this waiter.
    pub(crate) fn is_notified(&self) -> bool {
        self.node.notified.load(Ordering::Acquire)
    }

    /// Takes the payload out (leaving `P::default()`), once the waiter is out of the list
    /// (notified or cancelled).
    ///
    /// # Panics
    ///
    /// While the waiter is still queued.
    pub(crate) fn take_payload(&self) -> P
    where
        P: Default,
    {
        assert!(
            self.stage.get() != QUEUED || self.is_notified(),
            "payload of a queued waiter"
        );
        self.stage.set(DETACHED);
        // SAFETY: the node is out of every list: the notifier's last access happened
        // before `notified` (acquired above or by `park`), or we unlinked it ourselves
        // under the lock. Only this owner reaches it now (`Waiter` is `!Sync`), and the
        // `&mut` lives only for this `take`.
        std::mem::take(unsafe { &mut *self.node.payload.get() })
    }
}

impl<S, P> Drop for Waiter<'_, S, P> {
    fn drop(&mut self) {
        if self.stage.get() == QUEUED && !self.node.notified.load(Ordering::Acquire) {
            let mut guard = self.lock.lock();
            if self.node.linked.get() {
                (self.list)(&mut guard).unlink(&self.node);
            }
        }
    }
}

impl<S, P> fmt::Debug for Waiter<'_, S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("stage", &self.stage.get())
            .field("notified", &self.is_notified())
            .finish_non_exhaustive()
    }
}

/// Runs a closure if dropped during a panic, i.e. when a parked waiter is unwound.
pub(crate) struct OnUnwind<F: FnMut()>(pub(crate) F);

impl<F: FnMut()> OnUnwind<F> {
    /// The wait ended normally: do not run the closure.
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}
