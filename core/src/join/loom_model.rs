//! loom models of the join protocol: [`Packet`]'s state word, result slot and waiter slot,
//! between the fiber that completes it and a joiner (or a dropped handle) on another thread,
//! under every interleaving loom finds. The result and waiter slots are loom cells
//! (`crate::shim::UnsafeCell`), so an access not ordered after the previous one fails the
//! model. Run with:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-core --release --lib join::loom_model`
//!
//! What is not modelled: a joiner on the same scheduler (`Joiner::Local`), which is woken
//! with plain memory operations on one thread and has no interleaving to explore.

use super::{DONE, Packet};
use crate::fiber::Fiber;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::sync::OnceLock;

/// A packet shared between loom threads the way a `FiberWithResult` shares it between a fiber and
/// its handle.
struct Shared<T>(Packet<T>);

// SAFETY: the state protocol under test is what makes concurrent use sound; loom's cells
// report any access it fails to order.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; the packet only moves `T` to the thread that takes it.
unsafe impl<T: Send> Send for Shared<T> {}

/// The fiber handle `Packet::wait` wants for the deadlock report. Off a runtime it is a plain
/// thread's handle and is never used; made once, outside any model.
fn joined_fiber() -> &'static Fiber {
    static FIBER: OnceLock<Fiber> = OnceLock::new();
    FIBER.get_or_init(crate::fiber::current)
}

/// A result that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_joiner_on_another_thread_gets_the_result() {
    let fiber = joined_fiber();
    loom::model(move || {
        let packet = Arc::new(Shared(Packet::new()));
        let completer = {
            let packet = Arc::clone(&packet);
            thread::spawn(move || packet.0.complete(Ok(7u32)))
        };
        packet.0.wait(fiber);
        assert!(packet.0.is_done());
        assert_eq!(packet.0.take().unwrap().unwrap(), 7);
        completer.join().unwrap();
    });
}

#[test]
fn a_panic_payload_reaches_the_joiner() {
    let fiber = joined_fiber();
    loom::model(move || {
        let packet = Arc::new(Shared(Packet::<u32>::new()));
        let completer = {
            let packet = Arc::clone(&packet);
            thread::spawn(move || packet.0.complete(Err(Box::new("boom"))))
        };
        packet.0.wait(fiber);
        let payload = packet.0.take().unwrap().unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        completer.join().unwrap();
    });
}

#[test]
fn a_dropped_handle_and_the_completing_fiber_drop_the_result_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let packet = Arc::new(Shared(Packet::new()));
        let completer = {
            let (packet, drops) = (Arc::clone(&packet), Arc::clone(&drops));
            thread::spawn(move || packet.0.complete(Ok(Counted(drops))))
        };
        packet.0.detach();
        completer.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        // Nothing is left in the slot for the cell's destructor (which may run on any thread).
        drop(packet);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn polling_is_finished_then_joining_sees_the_result() {
    let fiber = joined_fiber();
    loom::model(move || {
        let packet = Arc::new(Shared(Packet::new()));
        let completer = {
            let packet = Arc::clone(&packet);
            thread::spawn(move || packet.0.complete(Ok(1u8)))
        };
        if packet.0.is_done() {
            assert_eq!(packet.0.state.load(Ordering::Relaxed), DONE);
        }
        packet.0.wait(fiber);
        assert_eq!(packet.0.take().unwrap().unwrap(), 1);
        completer.join().unwrap();
    });
}
