//! The one place in spindle-core that chooses between the real world and loom's model of it.
//!
//! Normal builds use `std`'s atomics and cells and spindle's own park/unpark. Under
//! `RUSTFLAGS="--cfg loom"` the same names come from `loom`, so that the join protocol
//! (`join::Packet`: a state word, a result slot and a waiter slot) can be model-checked by
//! `join::loom_model` against a joiner on another thread. Only the join protocol goes through
//! this module today; the scheduler, reactor and stacks cannot run under loom (they switch
//! stacks and call the OS), and keep `std`'s types.

#[cfg(not(loom))]
pub(crate) use crate::__private::current_waiter;
#[cfg(not(loom))]
pub(crate) use crate::fiber::{Fiber as Unparker, park};
#[cfg(not(loom))]
pub(crate) use std::cell::UnsafeCell;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread as Unparker, current as current_waiter, park};

/// `std::cell::UnsafeCell`'s `new`/`get` over loom's cell, which checks that every access is
/// ordered after the previous one (a race is reported with both places).
///
/// `get` records an exclusive access at the moment it is called; the caller uses the pointer
/// at once, before any other atomic operation, so the record matches the real access.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(loom::cell::UnsafeCell::new(value))
    }

    pub(crate) fn get(&self) -> *mut T {
        self.0.with_mut(|ptr| ptr)
    }
}
