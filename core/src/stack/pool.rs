//! Reuse of stacks: a per-scheduler pool of slabs, per stack size.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::ptr::NonNull;

use super::{Stack, discard_pages, install_guards, map_slab, sanitizer, unmap_slab, valgrind};
use crate::sys::page_size;

/// Address space a slab aims for; big enough that even a million stacks need few mappings.
const SLAB_TARGET: usize = 64 * 1024 * 1024;
/// Upper bound on stacks per slab, so small stacks do not reserve absurd slabs.
const SLAB_MAX_STACKS: usize = 1024;
/// Stacks prepared (guard installed) or discarded per batched syscall.
const BATCH: usize = 64;

/// Hands out stacks of any page-multiple size and takes them back.
///
/// Free stacks are kept in two lists per size, except the one taken back last, which is kept
/// apart for the next spawn: up to `hot_limit` keep their pages (the next fiber reuses them
/// without a single page fault), counting that last one; beyond that, a stack's pages are returned to
/// the kernel with `MADV_DONTNEED` before it is kept, so a burst of fibers does not pin memory
/// after it ends. Address space is only given back when the pool drops (at the end of `run`).
#[derive(Debug)]
pub(crate) struct StackPool {
    /// The stack taken back last, kept apart from the lists: when fibers are spawned and
    /// finish one after the other, it goes straight to the next spawn.
    last: Option<Stack>,
    classes: Vec<SizeClass>,
    slabs: Vec<(NonNull<u8>, usize)>,
    hot_limit: usize,
    /// Set once a fiber has been abandoned on one of these stacks: the slabs then stay mapped
    /// for the life of the process.
    keep_mapped: bool,
    /// Under valgrind, its record of each stack a fiber owns, by base address (kept here,
    /// not in `Stack`, so that a `Stack` is two words and moves in registers).
    registrations: HashMap<usize, valgrind::StackId, BuildHasherDefault<AddressHasher>>,
}

/// Hashes a stack's base address with one multiplication (valgrind's registrations are looked
/// up on every spawn and finish under valgrind; a keyed hash would be wasted on them).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads page-aligned addresses over all 64 bits.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Debug)]
struct SizeClass {
    /// Usable size of the stacks of this class.
    usable: usize,
    /// Free stacks whose pages are still resident.
    hot: Vec<Stack>,
    /// Free stacks beyond the hot limit, waiting to give their pages back in one batch.
    discard: Vec<Stack>,
    /// Free stacks whose pages were given back.
    cold: Vec<Stack>,
    /// Next uncarved stack of the newest slab, and how many remain in it.
    carve: Option<(NonNull<u8>, usize)>,
}

impl StackPool {
    /// A pool that keeps at most `hot_limit` free stacks resident per size.
    pub(crate) fn new(hot_limit: usize) -> StackPool {
        StackPool {
            last: None,
            classes: Vec::new(),
            slabs: Vec::new(),
            hot_limit,
            keep_mapped: false,
            registrations: HashMap::default(),
        }
    }

    /// A stack with `usable` bytes (a page multiple, from `round_stack_size`).
    #[inline]
    pub(crate) fn alloc(&mut self, usable: usize) -> io::Result<Stack> {
        let stack = match self.last.take_if(|last| last.usable == usable) {
            Some(stack) => stack,
            None => self.take_free(usable)?,
        };
        self.hand_out(&stack);
        Ok(stack)
    }

    /// Tells valgrind and AddressSanitizer (if they are watching) that a fiber is about to
    /// start on `stack`.
    #[inline]
    fn hand_out(&mut self, stack: &Stack) {
        sanitizer::forget_old_frames(stack.bottom(), stack.usable);
        if let Some(id) = valgrind::register_stack(stack.bottom(), stack.top(), true) {
            let old = self.registrations.insert(stack.base.as_ptr() as usize, id);
            debug_assert!(old.is_none(), "a stack registered twice with valgrind");
        }
    }

    /// Tells valgrind (if it is watching) that no fiber runs on `stack` any more.
    #[inline]
    fn take_back(&mut self, stack: &Stack) {
        if !valgrind::running_on_valgrind() {
            return;
        }
        if let Some(id) = self.registrations.remove(&(stack.base.as_ptr() as usize)) {
            valgrind::deregister_stack(id);
            valgrind::mark_no_access(stack.bottom(), stack.usable);
        }
    }

    /// Whether valgrind knows the stack at `base` as a stack a fiber owns.
    #[cfg(test)]
    pub(crate) fn is_registered(&self, base: NonNull<u8>) -> bool {
        self.registrations.contains_key(&(base.as_ptr() as usize))
    }

    /// A free stack of `usable` bytes: reused, or carved from a slab.
    fn take_free(&mut self, usable: usize) -> io::Result<Stack> {
        let idx = match self.classes.iter().position(|c| c.usable == usable) {
            Some(idx) => idx,
            None => {
                self.classes.push(SizeClass {
                    usable,
                    hot: Vec::new(),
                    discard: Vec::new(),
                    cold: Vec::new(),
                    carve: None,
                });
                self.classes.len() - 1
            }
        };
        let class = &mut self.classes[idx];
        if let Some(stack) = class.hot.pop().or_else(|| class.discard.pop()) {
            return Ok(stack);
        }
        if let Some(stack) = class.cold.pop() {
            return Ok(stack);
        }
        // Carve a batch from the newest slab (or a new one), guards installed in one go.
        let stride = usable + page_size(); // cannot overflow: see round_stack_size
        let (next, left) = match class.carve {
            Some(carve) => carve,
            None => {
                let count = (SLAB_TARGET / stride).clamp(1, SLAB_MAX_STACKS);
                let len = count * stride;
                let slab = map_slab(len)?;
                self.slabs.push((slab, len));
                (slab, count)
            }
        };
        let take = left.min(BATCH);
        // SAFETY: the first `take` strides from `next` lie inside the slab (`left` remain).
        let bases: Vec<NonNull<u8>> = (0..take).map(|i| unsafe { next.add(i * stride) }).collect();
        install_guards(&bases)?;
        class.carve = (left > take).then(|| {
            // SAFETY: `left - take` more whole strides remain inside the slab.
            (unsafe { next.add(take * stride) }, left - take)
        });
        // Hand out the lowest; keep the rest for the next spawns (popped from the end).
        class.cold.extend(
            bases[1..]
                .iter()
                .rev()
                .map(|&base| Stack::free(base, usable)),
        );
        Ok(Stack::free(bases[0], usable))
    }

    /// Takes back a stack no fiber runs on any more.
    #[inline]
    pub(crate) fn release(&mut self, stack: Stack) {
        self.take_back(&stack);
        // `last` counts as one of the `hot_limit` stacks that keep their pages.
        if self.hot_limit == 0 {
            self.file(stack);
        } else if let Some(previous) = self.last.replace(stack) {
            self.file(previous);
        }
    }

    /// Puts a free stack in its size's lists.
    fn file(&mut self, stack: Stack) {
        let Some(class) = self.classes.iter_mut().find(|c| c.usable == stack.usable) else {
            debug_assert!(false, "stack of a size this pool never handed out");
            return;
        };
        // One of the `hot_limit` resident stacks may be `last`.
        if class.hot.len() + 1 < self.hot_limit {
            class.hot.push(stack);
        } else {
            class.discard.push(stack);
            if class.discard.len() == BATCH {
                discard_pages(&class.discard);
                class.cold.append(&mut class.discard);
            }
        }
    }
}

impl StackPool {
    /// Keeps every slab mapped when the pool drops: an abandoned fiber's stack lives on one.
    pub(crate) fn keep_mapped(&mut self) {
        self.keep_mapped = true;
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        if self.keep_mapped {
            return;
        }
        for &(ptr, len) in &self.slabs {
            // SAFETY: the pool is dropped when its scheduler ends, after every fiber finished
            // (none was abandoned, or `keep_mapped` returned above), so no context lives on
            // these slabs any more.
            unsafe { unmap_slab(ptr, len) };
        }
    }
}
