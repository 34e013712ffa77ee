//! A fiber's life at its two ends: [`Scheduler::spawn`] writes the body on a fresh stack and
//! queues it; the body runs from [`fiber_entry`]; [`Scheduler::finish`] leaves the stack for
//! good and the next context reclaims it.

use std::io;
use std::ptr;

use super::{AbortOnUnwind, Scheduler};
use crate::arch;
use crate::engine::fiber::{FiberBlock, FiberRef, State};
use crate::stack::{self, Stack, round_stack_size};

/// A closure bigger than this is boxed instead of being written onto the fiber's stack.
const MAX_INLINE_CLOSURE: usize = 1024;

impl Scheduler {
    /// Gives `fiber` a stack on which it will run `body(cancelled)`, and queues it.
    pub(crate) fn spawn<B>(
        &self,
        fiber: FiberRef,
        body: B,
        stack_size: Option<usize>,
    ) -> io::Result<()>
    where
        B: FnOnce(bool) + 'static,
    {
        let usable = round_stack_size(stack_size.unwrap_or(self.config.stack_size));
        let stack = self.stacks.borrow_mut().alloc(usable)?;
        let sp = if size_of::<B>() <= MAX_INLINE_CLOSURE {
            place_body(&stack, body)
        } else {
            let boxed = Box::new(body);
            place_body(&stack, move |cancelled: bool| boxed(cancelled))
        };
        let shared: *const FiberBlock = fiber.block();
        let slot = self.fibers.borrow_mut().insert(fiber);
        // SAFETY: the fiber table now owns the cell `shared` points into.
        let shared = unsafe { &*shared };
        let local = shared.owned(self);
        local.sp.set(sp);
        local.install_stack(stack);
        local.cancelled.set(self.shutting_down.get());
        local.slot.set(slot);
        self.run_queue.push(self, shared);
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        crate::engine::events::fiber_spawned(shared, self.id);
        Ok(())
    }

    /// Ends the running fiber: marks it finished and leaves its stack for good.
    pub(crate) fn finish(&self) -> ! {
        let me = self.current_fiber();
        crate::engine::events::fiber_finished(me, self.id);
        me.owned(self).state.set(State::Finished);
        // The next context to run reclaims this stack, once we are off it.
        self.finished.set(me);
        self.leave_for_good(me)
    }

    /// Frees the stack and slot of the fiber that just finished (called by the context that
    /// runs after it).
    #[inline]
    pub(super) fn reclaim_finished(&self) {
        let ptr = self.finished.get();
        if !ptr.is_null() {
            self.reclaim(ptr);
        }
    }

    #[inline(never)]
    pub(super) fn reclaim(&self, ptr: *const FiberBlock) {
        self.finished.set(ptr::null());
        // SAFETY: a finished fiber is still held by `self.fibers` until removed below.
        let fiber = unsafe { &*ptr };
        let local = fiber.owned(self);
        if let Some(stack) = local.take_stack() {
            self.stacks.borrow_mut().release(stack);
        }
        let slot = local.slot.get();
        if ptr::eq(ptr, self.root.get()) {
            self.root_done.set(true);
        }
        if ptr::eq(self.previous.get(), ptr) {
            self.previous.set(ptr::null());
        }
        if self.config.watched {
            self.shared.monitor.before_free(ptr);
        }
        let removed = self.fibers.borrow_mut().remove(slot);
        drop(removed);
    }
}

/// Writes `body` at the top of `stack` and prepares the stack to start in [`fiber_entry`].
pub(super) fn place_body<B: FnOnce(bool) + 'static>(stack: &Stack, body: B) -> *mut u8 {
    let align = align_of::<B>().max(arch::STACK_ALIGN);
    let addr = (stack.top() as usize - size_of::<B>()) & !(align - 1);
    debug_assert!(addr - (stack.bottom() as usize) > stack.usable() / 2);
    let slot = addr as *mut B;
    // SAFETY: `slot` lies within the top MAX_INLINE_CLOSURE + alignment bytes of a fresh
    // stack of at least MIN_STACK_SIZE bytes, is aligned for B, and nothing else uses it.
    unsafe { slot.write(body) };
    // SAFETY: `addr` is 16-aligned with the stack's free space below it; `fiber_entry::<B>`
    // never returns; its argument is the B just written.
    unsafe { arch::init_stack(addr as *mut u8, fiber_entry::<B>, addr as *mut u8) }
}

/// First Rust frame of every fiber: runs the body written by [`place_body`], then finishes.
pub(super) unsafe extern "C" fn fiber_entry<B: FnOnce(bool)>(arg: *mut u8) -> ! {
    stack::fiber_started();
    Scheduler::with_current(|current| {
        let Some(sched) = current else {
            std::process::abort()
        };
        // A fiber that just finished may have switched straight here.
        sched.reclaim_finished();
        // SAFETY: `arg` points at the B that `place_body` wrote on this stack; it is read exactly
        // once, here.
        let body = unsafe { arg.cast::<B>().read() };
        let local = sched.current_fiber().owned(sched);
        local.started.set(true);
        let cancelled = local.cancelled.get();
        // `body` catches the fiber's panics; one escaping it could only unwind into the scheduler.
        let abort = AbortOnUnwind("a fiber's entry");
        body(cancelled);
        std::mem::forget(abort);
        sched.finish()
    })
}
