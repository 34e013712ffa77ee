//! `spindle::fiber::LocalKey` (made by `fiber_local!`): one lazily created value per fiber,
//! dropped when that fiber ends however it ends; values touched while a fiber's values are
//! being dropped are created again and dropped too; on a plain thread the value is the
//! thread's, and once the thread's locals are gone `try_with` says so.
//!
//! (`tests/fiber.rs` and `tests/thread.rs` cover per-fiber values, drops at exit and std's
//! `LocalKey` methods.)

use std::cell::{Cell, RefCell};
use std::sync::mpsc;

use spindle::fiber;
use spindle::thread::AccessError;

/// What the values below did on this test's thread: (created, dropped).
fn counts() -> (u32, u32) {
    (CREATED.with(Cell::get), DROPPED.with(Cell::get))
}

thread_local! {
    static CREATED: Cell<u32> = const { Cell::new(0) };
    static DROPPED: Cell<u32> = const { Cell::new(0) };
}

/// A value that counts its creations and drops in the thread-locals above.
struct Counted(u32);

impl Counted {
    fn new(value: u32) -> Counted {
        CREATED.with(|c| c.set(c.get() + 1));
        Counted(value)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
    }
}

#[test]
fn the_initializer_runs_only_in_fibers_that_touch_the_key() {
    spindle::fiber_local! {
        static LAZY: RefCell<Counted> = RefCell::new(Counted::new(1));
    }
    spindle::run(|| {
        let fibers: Vec<_> = (0..6u32)
            .map(|i| {
                fiber::spawn(move || {
                    if i % 2 == 0 {
                        LAZY.with_borrow_mut(|v| v.0 += i);
                        fiber::yield_now();
                        // The same value again, not a second one.
                        LAZY.with_borrow(|v| v.0)
                    } else {
                        fiber::yield_now();
                        0
                    }
                })
            })
            .collect();
        let seen: Vec<u32> = fibers.into_iter().map(|f| f.join().unwrap()).collect();
        assert_eq!(seen, [1, 0, 3, 0, 5, 0]);
        assert_eq!(counts(), (3, 3), "three fibers touched the key");
    });
    assert_eq!(counts(), (3, 3), "the root never touched it");
}

#[test]
fn a_fiber_local_lives_while_its_fiber_is_parked_and_is_dropped_when_it_ends() {
    spindle::fiber_local! {
        static HELD: RefCell<Option<Counted>> = const { RefCell::new(None) };
    }
    spindle::run(|| {
        let fiber = fiber::spawn(|| {
            HELD.set(Some(Counted::new(7)));
            fiber::park();
            HELD.with_borrow(|v| v.as_ref().map(|c| c.0))
        });
        fiber::yield_now(); // it stores its value and parks
        assert_eq!(counts(), (1, 0));
        fiber::sleep(std::time::Duration::from_millis(5));
        assert_eq!(counts(), (1, 0), "dropped while its fiber was parked");
        fiber.fiber().unpark();
        // Dropped as the fiber ends, before its joiner runs again.
        assert_eq!(fiber.join().unwrap(), Some(7));
        assert_eq!(counts(), (1, 1));
    });
}

#[test]
fn a_panicking_fiber_drops_its_fiber_locals() {
    spindle::fiber_local! {
        static HELD: RefCell<Option<Counted>> = const { RefCell::new(None) };
    }
    spindle::run(|| {
        let fiber = fiber::spawn(|| {
            HELD.set(Some(Counted::new(1)));
            fiber::yield_now();
            panic!("the fiber fails with a fiber-local alive");
        });
        assert!(fiber.join().is_err());
        assert_eq!(counts(), (1, 1));
    });
}

#[test]
fn fibers_cancelled_at_shutdown_drop_their_fiber_locals() {
    spindle::fiber_local! {
        static HELD: RefCell<Option<Counted>> = const { RefCell::new(None) };
    }
    spindle::run(|| {
        for i in 0..3 {
            fiber::spawn(move || {
                HELD.set(Some(Counted::new(i)));
                loop {
                    fiber::park();
                }
            });
        }
        fiber::yield_now();
        assert_eq!(counts(), (3, 0));
        // The root returns with the three parked: they are unwound.
    });
    assert_eq!(counts(), (3, 3));
}

#[test]
fn a_destructor_that_touches_fiber_locals_gets_fresh_values_which_are_dropped_too() {
    spindle::fiber_local! {
        static FIRST: RefCell<Option<TouchesOthers>> = const { RefCell::new(None) };
        static UNTOUCHED: RefCell<Counted> = RefCell::new(Counted::new(100));
    }
    /// What the destructor read: (UNTOUCHED's value, whether FIRST was empty).
    type Seen = (Result<u32, AccessError>, Result<bool, AccessError>);
    thread_local! {
        static SEEN: Cell<Option<Seen>> = const { Cell::new(None) };
    }
    /// Reads `UNTOUCHED` (never used by the fiber before) and `FIRST` (its own key, whose
    /// value is being dropped) from its destructor.
    struct TouchesOthers;
    impl Drop for TouchesOthers {
        fn drop(&mut self) {
            let fresh = UNTOUCHED.try_with(|v| v.borrow().0);
            let empty = FIRST.try_with(|v| v.borrow().is_none());
            SEEN.set(Some((fresh, empty)));
        }
    }
    spindle::run(|| {
        fiber::spawn(|| FIRST.set(Some(TouchesOthers)))
            .join()
            .unwrap();
        // A fresh UNTOUCHED, and a new empty value for the key being dropped.
        assert_eq!(SEEN.get(), Some((Ok(100), Ok(true))));
        assert_eq!(
            counts(),
            (1, 1),
            "the value made during the drop was not dropped"
        );
    });
}

#[test]
fn values_that_recreate_each_other_while_dropped_end_without_hanging_the_fiber() {
    spindle::fiber_local! {
        static PING: RefCell<Option<Recreates>> = const { RefCell::new(None) };
    }
    /// Puts a new `Recreates` back into its own key each time it is dropped.
    struct Recreates;
    impl Drop for Recreates {
        fn drop(&mut self) {
            DROPPED.with(|d| d.set(d.get() + 1));
            PING.set(Some(Recreates));
        }
    }
    spindle::run(|| {
        fiber::spawn(|| PING.set(Some(Recreates))).join().unwrap();
        // Each round drops one and makes the next; after a bounded number of rounds the
        // last one is leaked (with a message on stderr).
        let (_, rounds) = counts();
        assert!(rounds > 1, "the re-created value was never dropped");
        assert!(rounds <= 1000, "{rounds} rounds");
        // The fiber ended and the thread goes on.
        assert_eq!(fiber::spawn(|| 5).join().unwrap(), 5);
    });
}

#[test]
fn the_root_fiber_and_its_thread_outside_the_runtime_hold_different_values() {
    spindle::fiber_local! {
        static WHERE: Cell<&'static str> = const { Cell::new("new") };
    }
    let on_thread = std::thread::spawn(|| {
        WHERE.set("thread");
        let in_root = spindle::run(|| {
            let seen = WHERE.get();
            WHERE.set("root");
            seen
        });
        (in_root, WHERE.get())
    })
    .join()
    .unwrap();
    assert_eq!(on_thread, ("new", "thread"));
}

#[test]
fn after_a_plain_thread_s_locals_are_destroyed_try_with_is_an_access_error() {
    spindle::fiber_local! {
        static VALUE: Cell<u32> = const { Cell::new(0) };
    }
    /// Reads `VALUE` from a thread-local destructor and sends what it got.
    struct ReadsOnDrop(mpsc::Sender<Result<u32, AccessError>>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(VALUE.try_with(Cell::get));
        }
    }
    thread_local! {
        static READER: RefCell<Option<ReadsOnDrop>> = const { RefCell::new(None) };
    }
    // Thread-local destructors run in the reverse order of first use.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        VALUE.set(3); // the fiber-local table of this thread comes first …
        READER.with(|r| *r.borrow_mut() = Some(ReadsOnDrop(tx))); // … so it goes last
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv().unwrap(), Ok(3), "read before the table went away");

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        READER.with(|r| *r.borrow_mut() = Some(ReadsOnDrop(tx)));
        VALUE.set(3); // the table comes second, so it goes first
    })
    .join()
    .unwrap();
    let err = rx.recv().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "already destroyed");
}
