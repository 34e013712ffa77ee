//! Fibers still parked on a lock or channel when `run` returns are unwound by the runtime;
//! they must leave every wait queue on the way out, so that later operations from other
//! threads never touch a dead fiber's stack.

use spindle::fiber;
use spindle::sync::{Arc, Condvar, Mutex, RwLock, Semaphore, mpmc, mpsc};
use std::thread;

#[test]
fn receiver_parked_at_teardown_is_removed_and_dropped() {
    let (tx, rx) = mpsc::channel::<u32>();
    spindle::run(move || {
        fiber::spawn(move || {
            let _ = rx.recv();
            unreachable!("nothing is ever sent during the run");
        });
        fiber::yield_now();
    });
    // The unwound fiber dropped the receiver: the channel is disconnected, and the send
    // did not write into the dead fiber's node.
    assert_eq!(tx.send(1), Err(mpsc::SendError(1)));
}

#[test]
fn sender_parked_at_teardown_is_removed() {
    let (tx, rx) = mpmc::bounded::<u32>(1);
    tx.send(0).unwrap();
    {
        let tx = tx.clone();
        spindle::run(move || {
            fiber::spawn(move || {
                let _ = tx.send(1);
                unreachable!("the channel stays full during the run");
            });
            fiber::yield_now();
        });
    }
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(
        rx.try_recv(),
        Err(mpmc::TryRecvError::Empty),
        "the unwound sender's message leaked in"
    );
    tx.send(2).unwrap();
    assert_eq!(rx.recv(), Ok(2));
}

#[test]
fn condvar_and_rwlock_and_semaphore_waiters_at_teardown_are_removed() {
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let lock = Arc::new(RwLock::new(0));
    let sem = Arc::new(Semaphore::new(0));
    let writer = lock.write().unwrap();
    {
        let (pair, lock, sem) = (pair.clone(), lock.clone(), sem.clone());
        spindle::run(move || {
            {
                let pair = pair.clone();
                fiber::spawn(move || {
                    let (m, c) = &*pair;
                    let _g = c.wait(m.lock().unwrap());
                    unreachable!("never notified during the run");
                });
            }
            {
                let lock = lock.clone();
                fiber::spawn(move || {
                    let _r = lock.read();
                    unreachable!("the write lock is held during the run");
                });
            }
            fiber::spawn(move || {
                let _p = sem.acquire();
                unreachable!("no permit during the run");
            });
            fiber::yield_now();
        });
    }
    // Every operation below would hand something to an unwound waiter if it had stayed
    // queued.
    pair.1.notify_all();
    assert!(
        pair.0.try_lock().is_ok(),
        "the condvar waiter left its mutex locked"
    );
    drop(writer);
    assert_eq!(*lock.try_write().unwrap(), 0);
    sem.release();
    assert_eq!(
        sem.available_permits(),
        1,
        "the permit went to an unwound waiter"
    );
    let t = thread::spawn(move || sem.acquire().forget());
    t.join().unwrap();
}
