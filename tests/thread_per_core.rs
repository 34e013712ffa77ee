//! Thread-per-core: `Runtime::run_on_each`, `runtime::spawn_on`, and what crosses schedulers
//! (locks, channels, sockets, join handles), with nothing lost and no fiber ever moving.

use std::cell::Cell;
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::runtime::{self, Runtime};
use spindle::sync::{Mutex, mpsc};

fn runtime(threads: usize) -> Runtime {
    Runtime::builder().threads(threads).build().unwrap()
}

#[test]
fn each_scheduler_runs_the_root_with_its_index_on_its_own_thread() {
    let out = runtime(3).run_on_each(|index| {
        (
            index,
            runtime::scheduler_index(),
            runtime::schedulers(),
            thread::current().id(),
        )
    });
    assert_eq!(out.len(), 3);
    for (i, (index, seen, n, _)) in out.iter().enumerate() {
        assert_eq!((*index, *seen, *n), (i, Some(i), Some(3)));
    }
    assert_eq!(
        out[0].3,
        thread::current().id(),
        "the caller runs scheduler 0"
    );
    assert_ne!(out[1].3, out[2].3);
    assert_ne!(out[0].3, out[1].3);
}

#[test]
fn thread_local_addresses_never_change_under_a_fiber() {
    thread_local! {
        static SLOT: Cell<u64> = const { Cell::new(0) };
    }
    let moved = runtime(2).run_on_each(|_| {
        let fibers: Vec<_> = (0..50)
            .map(|i| {
                fiber::spawn(move || {
                    let addr = SLOT.with(|s| s as *const Cell<u64> as usize);
                    let thread = thread::current().id();
                    let mut moved = 0;
                    for round in 0..20 {
                        if round % 3 == 0 {
                            fiber::sleep(Duration::from_micros(100 + i));
                        } else {
                            fiber::yield_now();
                        }
                        SLOT.with(|s| s.set(s.get() + 1));
                        if SLOT.with(|s| s as *const Cell<u64> as usize) != addr
                            || thread::current().id() != thread
                        {
                            moved += 1;
                        }
                    }
                    moved
                })
            })
            .collect();
        fibers.into_iter().map(|f| f.join().unwrap()).sum::<u32>()
    });
    assert_eq!(moved, [0, 0]);
}

#[test]
fn spawn_on_runs_on_the_target_and_joins_from_anywhere() {
    let out = runtime(2).run_on_each(|index| {
        if index != 0 {
            // Scheduler 1 keeps running until scheduler 0 is done with it.
            fiber::sleep(Duration::from_millis(300));
            return None;
        }
        let remote = runtime::spawn_on(1, || (runtime::scheduler_index(), thread::current().id()));
        let (seen, thread) = remote.join().unwrap();
        // A handle joined from a plain thread.
        let handle = runtime::spawn_on(1, || 6 * 7);
        let from_thread = thread::spawn(move || handle.join().unwrap())
            .join()
            .unwrap();
        // A panic on the target comes back as the join's Err.
        let failed = runtime::spawn_on(1, || panic!("remote fiber fails on purpose")).join();
        Some((
            seen,
            thread != thread::current().id(),
            from_thread,
            failed.is_err(),
        ))
    });
    assert_eq!(out[0], Some((Some(1), true, 42, true)));
}

#[test]
fn spawn_on_reports_bad_indices_and_ended_schedulers() {
    let out = runtime(2).run_on_each(|index| {
        if index == 1 {
            return None; // ends at once
        }
        let bad = fiber::Builder::new().spawn_on(5, || ()).unwrap_err();
        // Wait until scheduler 1 has ended.
        let mut ended = None;
        for _ in 0..500 {
            match fiber::Builder::new().spawn_on(1, || ()) {
                Err(e) => {
                    ended = Some(e.to_string());
                    break;
                }
                Ok(handle) => {
                    let _ = handle.join();
                    fiber::sleep(Duration::from_millis(2));
                }
            }
        }
        Some((bad.to_string(), ended))
    });
    let (bad, ended) = out[0].clone().unwrap();
    assert!(bad.contains("no scheduler 5"), "{bad}");
    let ended = ended.expect("scheduler 1 never reported as ended");
    assert!(ended.contains("scheduler 1 has ended"), "{ended}");
    // On a one-scheduler runtime, index 0 is the runtime itself.
    let local = spindle::run(|| runtime::spawn_on(0, || 1).join().unwrap());
    assert_eq!(local, 1);
}

#[test]
fn a_panic_on_one_scheduler_is_reported_with_its_index_and_the_others_finish() {
    let finished = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&finished);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        runtime(2).run_on_each(move |index| {
            if index == 1 {
                panic!("scheduler one fails on purpose");
            }
            fiber::sleep(Duration::from_millis(50));
            seen.store(true, Ordering::SeqCst);
        })
    }));
    let payload = result.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(message.contains("scheduler 1 panicked"), "{message}");
    assert!(message.contains("fails on purpose"), "{message}");
    assert!(
        finished.load(Ordering::SeqCst),
        "scheduler 0 did not finish"
    );
}

#[test]
fn locks_and_channels_shared_by_every_scheduler_and_plain_threads_lose_nothing() {
    const PER_FIBER: usize = 2_000;
    const FIBERS: usize = 8;
    let counter = Arc::new(Mutex::new(0usize));
    let (tx, rx) = mpsc::channel::<usize>();
    let received = Arc::new(AtomicUsize::new(0));
    // Two plain threads take part too.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (counter, tx) = (Arc::clone(&counter), tx.clone());
            thread::spawn(move || {
                for i in 0..PER_FIBER {
                    *counter.lock().unwrap() += 1;
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
    let total = {
        let (counter, received) = (Arc::clone(&counter), Arc::clone(&received));
        runtime(2).run_on_each(move |index| {
            let fibers: Vec<_> = (0..FIBERS)
                .map(|_| {
                    let (counter, tx) = (Arc::clone(&counter), tx.clone());
                    fiber::spawn(move || {
                        for i in 0..PER_FIBER {
                            *counter.lock().unwrap() += 1;
                            tx.send(i).unwrap();
                            if i % 64 == 0 {
                                fiber::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let mut sum = 0;
            if index == 1 {
                // Scheduler 1 drains the channel while everybody sends.
                let rx = rx.lock().unwrap().take().unwrap();
                let expected = (2 * FIBERS + 2) * PER_FIBER;
                for _ in 0..expected {
                    sum += rx.recv().unwrap();
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            for f in fibers {
                f.join().unwrap();
            }
            sum
        })
    };
    for t in threads {
        t.join().unwrap();
    }
    let per_sender: usize = (0..PER_FIBER).sum();
    assert_eq!(*counter.lock().unwrap(), (2 * FIBERS + 2) * PER_FIBER);
    assert_eq!(
        received.load(Ordering::Relaxed),
        (2 * FIBERS + 2) * PER_FIBER
    );
    assert_eq!(total[0] + total[1], (2 * FIBERS + 2) * per_sender);
}

#[test]
fn a_stream_moves_between_schedulers_mid_conversation() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0; 5];
        for _ in 0..6 {
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&buf).unwrap();
        }
    });
    let out = runtime(2).run_on_each(move |index| {
        if index == 1 {
            fiber::sleep(Duration::from_millis(500));
            return Vec::new();
        }
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut replies = Vec::new();
        for round in 0..3u8 {
            // A turn here...
            stream.write_all(&[b'a' + round; 5]).unwrap();
            let mut buf = [0; 5];
            stream.read_exact(&mut buf).unwrap();
            replies.push(buf[0]);
            // ...and one on scheduler 1, which hands the stream back.
            let (back, reply) = runtime::spawn_on(1, move || {
                stream.write_all(&[b'x' + round; 5]).unwrap();
                let mut buf = [0; 5];
                stream.read_exact(&mut buf).unwrap();
                (stream, buf[0])
            })
            .join()
            .unwrap();
            stream = back;
            replies.push(reply);
        }
        replies
    });
    server.join().unwrap();
    assert_eq!(out[0], b"axbycz".to_vec());
}

#[test]
fn listeners_bound_with_reuse_port_share_the_connections() {
    let probe = TcpListener::bind_reuse_port("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let served = Arc::new(AtomicUsize::new(0));
    let client = thread::spawn(move || {
        for _ in 0..40 {
            let mut stream = loop {
                match std::net::TcpStream::connect(addr) {
                    Ok(stream) => break stream,
                    // Not bound yet.
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            };
            let mut reply = [0; 2];
            stream.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"ok");
        }
    });
    let counts = {
        let served = Arc::clone(&served);
        runtime(2).run_on_each(move |_| {
            let listener = TcpListener::bind_reuse_port(addr).unwrap();
            listener.set_nonblocking(true).unwrap();
            let mut mine = 0;
            // Accept until all 40 connections were served by one scheduler or the other.
            while served.load(Ordering::SeqCst) < 40 {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.write_all(b"ok").unwrap();
                        mine += 1;
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        fiber::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            mine
        })
    };
    client.join().unwrap();
    assert_eq!(counts.len(), 2, "both schedulers bound the port");
    assert_eq!(counts.iter().sum::<usize>(), 40);
}

#[test]
fn stats_of_each_lists_every_scheduler() {
    let out = runtime(2).run_on_each(|index| {
        for _ in 0..(index + 1) * 100 {
            fiber::spawn(|| ()).join().unwrap();
        }
        // Let the other scheduler publish its figures.
        fiber::sleep(Duration::from_millis(50));
        runtime::stats_of_each().unwrap()
    });
    let seen_by_0 = &out[0];
    assert_eq!(seen_by_0.len(), 2);
    assert!(seen_by_0[0].fibers_spawned > 100, "{seen_by_0:?}");
    assert!(seen_by_0[1].fibers_spawned > 200, "{seen_by_0:?}");
    let total: spindle::Stats = seen_by_0.iter().copied().sum();
    assert_eq!(
        total.fibers_spawned,
        seen_by_0[0].fibers_spawned + seen_by_0[1].fibers_spawned
    );
}
