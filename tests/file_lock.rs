//! `spindle::fs::File::lock` and its family: a contended lock parks the fiber (the other
//! fibers of the thread keep running) and is taken once the holder unlocks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle::fs::{File, TryLockError};
use spindle::thread;

#[test]
fn a_contended_lock_parks_the_fiber_not_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    spindle::run(move || {
        let holder = File::create(&path).unwrap();
        let waiter = File::open(&path).unwrap();
        holder.lock().unwrap();
        assert!(matches!(waiter.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(matches!(
            waiter.try_lock_shared(),
            Err(TryLockError::WouldBlock)
        ));

        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = thread::spawn(move || {
            for _ in 0..20 {
                thread::sleep(Duration::from_millis(5));
                t.set(t.get() + 1);
            }
        });
        let unlocked_at = Rc::new(Cell::new(None));
        let u = unlocked_at.clone();
        let unlocker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(60));
            u.set(Some(Instant::now()));
            holder.unlock().unwrap();
            holder
        });
        let before = ticks.get();
        waiter.lock().unwrap();
        let locked_at = Instant::now();
        let ticked = ticks.get() - before;
        assert!(
            unlocked_at.get().is_some_and(|u| u <= locked_at),
            "the lock was taken before the holder released it"
        );
        assert!(
            ticked >= 3,
            "the ticker fiber ticked {ticked} times while another fiber waited for the lock"
        );
        let holder = unlocker.join().unwrap();
        assert!(matches!(holder.try_lock(), Err(TryLockError::WouldBlock)));
        waiter.unlock().unwrap();
        ticker.join().unwrap();

        // Shared locks coexist; an exclusive one waits for them.
        holder.lock_shared().unwrap();
        waiter.lock_shared().unwrap();
        let third = File::open(&path).unwrap();
        assert!(matches!(third.try_lock(), Err(TryLockError::WouldBlock)));
        holder.unlock().unwrap();
        waiter.unlock().unwrap();
        third.try_lock().unwrap();
        let err: std::io::Error = holder.try_lock().unwrap_err().into();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    });
}

#[test]
fn locks_work_on_a_plain_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let a = File::create(&path).unwrap();
    let b = File::open(&path).unwrap();
    a.lock().unwrap();
    assert!(matches!(b.try_lock(), Err(TryLockError::WouldBlock)));
    a.unlock().unwrap();
    b.lock().unwrap();
    b.unlock().unwrap();
}
