//! `spindle::thread`: std's names for fibers — scoped fibers (with borrowed data, panics and
//! shutdown), `thread_local!` per fiber with std's `LocalKey` methods, handles, and the
//! message of a spawn outside a runtime.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use spindle::thread;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn scoped_fibers_borrow_from_the_caller_and_are_all_joined() {
    spindle::run(|| {
        let mut counts = vec![0u32; 8];
        let text = String::from("shared");
        thread::scope(|s| {
            for (i, slot) in counts.iter_mut().enumerate() {
                let text = &text;
                s.spawn(move || {
                    thread::sleep(Duration::from_millis(1 + i as u64));
                    *slot = text.len() as u32 + i as u32;
                });
            }
        });
        // No join by hand: scope joined every fiber before returning.
        assert_eq!(counts, (6..14).collect::<Vec<u32>>());
        let h = thread::scope(|s| {
            let h = s.spawn(|| text.len());
            assert!(h.thread().name().is_none());
            h.join().unwrap()
        });
        assert_eq!(h, 6);
    });
}

#[test]
fn a_scoped_fibers_panic_reaches_the_scope_after_the_others_finish() {
    spindle::run(|| {
        let finished = Cell::new(false);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| panic!("child failed"));
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(20));
                    finished.set(true);
                });
            })
        }));
        let payload = outcome.expect_err("an unjoined panicked fiber makes scope panic");
        assert_eq!(panic_message(&*payload), "a scoped fiber panicked");
        assert!(
            finished.get(),
            "scope returned before its other fiber finished"
        );

        // A panic that was joined by hand is the caller's business.
        let joined = thread::scope(|s| s.spawn(|| panic!("seen")).join().is_err());
        assert!(joined);
    });
}

#[test]
fn a_panicking_scope_body_still_waits_for_its_fibers() {
    spindle::run(|| {
        let log = RefCell::new(Vec::new());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(20));
                    log.borrow_mut().push("child");
                });
                panic!("body failed");
            })
        }));
        log.borrow_mut().push("after scope");
        assert_eq!(
            panic_message(&*outcome.unwrap_err()),
            "body failed",
            "the body's own panic is re-raised"
        );
        assert_eq!(*log.borrow(), ["child", "after scope"]);
    });
}

/// A value that records its drop, and whether the `Borrowed` it points to was still alive.
struct Borrower<'a> {
    data: &'a Borrowed,
    log: Rc<RefCell<Vec<String>>>,
}

impl Drop for Borrower<'_> {
    fn drop(&mut self) {
        let alive = self.data.alive.get();
        self.log
            .borrow_mut()
            .push(format!("child dropped, borrowed data alive: {alive}"));
    }
}

struct Borrowed {
    alive: Cell<bool>,
    log: Rc<RefCell<Vec<String>>>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        self.alive.set(false);
        self.log.borrow_mut().push("borrowed data dropped".into());
    }
}

#[test]
fn shutdown_cancels_scoped_fibers_before_their_borrowed_data_goes() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    spindle::run(move || {
        let l2 = l.clone();
        // Detached: still inside its scope when the root returns.
        thread::spawn(move || {
            let data = Borrowed {
                alive: Cell::new(true),
                log: l2.clone(),
            };
            thread::scope(|s| {
                for _ in 0..3 {
                    let borrower = Borrower {
                        data: &data,
                        log: l2.clone(),
                    };
                    s.spawn(move || {
                        let _b = borrower;
                        thread::sleep(Duration::from_secs(3600));
                    });
                }
                thread::sleep(Duration::from_secs(3600));
            });
        });
        thread::sleep(Duration::from_millis(10));
        l.borrow_mut().push("root returns".into());
    });
    let log = log.borrow();
    assert_eq!(log[0], "root returns");
    assert_eq!(log.last().unwrap(), "borrowed data dropped", "{log:#?}");
    assert_eq!(log.len(), 5, "{log:#?}");
    for line in &log[1..4] {
        assert_eq!(line, "child dropped, borrowed data alive: true", "{log:#?}");
    }
}

#[test]
fn builder_spawn_scoped_names_the_fiber() {
    spindle::run(|| {
        let local = 5;
        let name = thread::scope(|s| {
            thread::Builder::new()
                .name("scoped".into())
                .spawn_scoped(s, || {
                    assert_eq!(local, 5);
                    thread::current().name().map(str::to_owned)
                })
                .unwrap()
                .join()
                .unwrap()
        });
        assert_eq!(name.as_deref(), Some("scoped"));
    });
}

spindle::thread_local! {
    static COUNTER: Cell<u32> = Cell::new(100);
    static NAMES: RefCell<Vec<String>> = RefCell::new(vec!["init".into()]);
    static INITS: Cell<u32> = const { Cell::new(0) };
}

spindle::thread_local! {
    static TRACKED: Cell<u32> = {
        INITS.set(INITS.get() + 1);
        Cell::new(7)
    };
}

#[test]
fn thread_local_is_per_fiber_with_std_s_local_key_methods() {
    spindle::run(|| {
        COUNTER.set(1);
        let other = thread::spawn(|| {
            assert_eq!(COUNTER.get(), 100, "another fiber sees its own value");
            COUNTER.replace(2)
        });
        assert_eq!(other.join().unwrap(), 100);
        assert_eq!(COUNTER.get(), 1);
        assert_eq!(COUNTER.take(), 1);
        assert_eq!(COUNTER.get(), 0);
        assert_eq!(COUNTER.try_with(|c| c.get()), Ok(0));

        NAMES.with_borrow_mut(|v| v.push("two".into()));
        assert_eq!(NAMES.replace(vec!["x".into()]), ["init", "two"]);
        assert_eq!(NAMES.take(), ["x"]);
        NAMES.set(vec!["set".into()]);
        assert_eq!(NAMES.with_borrow(|v| v.clone()), ["set"]);

        // `set` on a value not yet created does not run the initializer.
        thread::spawn(|| {
            TRACKED.set(3);
            assert_eq!(TRACKED.get(), 3);
            assert_eq!(INITS.get(), 0, "set ran the initializer");
            NAMES.set(vec![]);
            assert!(NAMES.with_borrow(Vec::is_empty));
        })
        .join()
        .unwrap();
        thread::spawn(|| {
            assert_eq!(TRACKED.get(), 7);
            assert_eq!(INITS.get(), 1);
        })
        .join()
        .unwrap();
    });
}

#[test]
fn join_handle_thread_and_current_are_std_s_names() {
    spindle::run(|| {
        let h = thread::Builder::new()
            .name("named".into())
            .spawn(|| {
                thread::park_timeout(Duration::from_millis(1));
                thread::yield_now();
                let me: thread::Thread = thread::current();
                let id: thread::ThreadId = me.id();
                (me.name().map(str::to_owned), id)
            })
            .unwrap();
        let id = h.thread().id();
        assert_eq!(h.thread().name(), Some("named"));
        let (name, seen) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("named"));
        assert_eq!(seen, id);
        assert!(!thread::panicking());
        assert!(thread::available_parallelism().unwrap().get() >= 1);
        thread::sleep_until(std::time::Instant::now() + Duration::from_millis(1));
    });
}

#[test]
fn spawning_outside_a_runtime_names_the_callers_line() {
    let line = line!() + 1;
    let payload = catch_unwind(|| thread::spawn(|| ())).unwrap_err();
    let message = panic_message(&*payload);
    assert!(
        message.contains(&format!("{}:{line}", file!())),
        "the message does not name the caller: {message}"
    );
    assert!(message.contains("spindle::run"), "{message}");

    let err = thread::Builder::new().spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains(file!()), "{err}");
}

#[test]
fn a_scope_waiting_at_shutdown_unwinds_as_cancelled_not_as_a_child_panic() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    spindle::run(move || {
        thread::spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                thread::scope(|s| {
                    s.spawn(|| thread::sleep(Duration::from_secs(3600)));
                    // The closure returns; the scope then waits for its child.
                })
            }));
            let payload = outcome.expect_err("shutdown unwinds the scope's owner");
            l.borrow_mut().push(panic_message(&*payload));
            std::panic::resume_unwind(payload);
        });
        thread::sleep(Duration::from_millis(10));
    });
    assert_eq!(
        *log.borrow(),
        [String::new()],
        "the owner was unwound with a panic message, not the cancellation"
    );
}
