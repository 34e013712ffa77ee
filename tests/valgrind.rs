//! Running under valgrind: a small program with fibers, TCP, timers, locks, channels, the
//! blocking pool and a second runtime thread reports no memcheck errors.
//!
//! The test re-runs this binary under `valgrind --error-exitcode=9` with one test selected and
//! an environment variable that makes it run the workload. It is skipped (with a message) when
//! `valgrind` is not installed. Plain `valgrind`, with no tuning flags, is the point: spindle
//! registers its stacks and keeps valgrind's stack walker out of its guard pages by itself.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::{Arc, Condvar, Mutex, RwLock, mpsc};

const CHILD_VAR: &str = "SPINDLE_VALGRIND_CHILD";

/// What the program under valgrind does: a bit of every kind of switch and wait.
fn workload() -> u64 {
    // The root of a runtime on this thread; a second runtime on another thread below.
    let local = spindle::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = fiber::spawn(move || {
            let conns: Vec<_> = listener
                .incoming()
                .take(4)
                .map(|stream| {
                    let mut stream = stream.unwrap();
                    fiber::spawn(move || {
                        let mut buf = [0u8; 64];
                        loop {
                            let n = stream.read(&mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            stream.write_all(&buf[..n]).unwrap();
                        }
                    })
                })
                .collect();
            for c in conns {
                c.join().unwrap();
            }
        });
        let counter = Arc::new(Mutex::new(0u64));
        let table = Arc::new(RwLock::new(vec![0u64; 4]));
        let (tx, rx) = mpsc::channel();
        let clients: Vec<_> = (0..4u64)
            .map(|i| {
                let (counter, table, tx) = (counter.clone(), table.clone(), tx.clone());
                fiber::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let mut echoed = 0u64;
                    for round in 0..8u64 {
                        let msg = [(i * 8 + round) as u8; 32];
                        stream.write_all(&msg).unwrap();
                        let mut back = [0u8; 32];
                        stream.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg);
                        echoed += u64::from(back[0]);
                        *counter.lock().unwrap() += 1;
                        table.write().unwrap()[i as usize] += 1;
                        let _sum: u64 = table.read().unwrap().iter().sum();
                        fiber::sleep(Duration::from_millis(1));
                    }
                    tx.send(echoed).unwrap();
                })
            })
            .collect();
        drop(tx);
        let echoed: u64 = rx.iter().sum();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
        // A condvar hand-off, a timed park and the blocking pool.
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = {
            let pair = pair.clone();
            fiber::spawn(move || {
                let (lock, cvar) = &*pair;
                let mut ready = lock.lock().unwrap();
                while !*ready {
                    ready = cvar.wait(ready).unwrap();
                }
            })
        };
        fiber::park_timeout(Duration::from_millis(2));
        *pair.0.lock().unwrap() = true;
        pair.1.notify_all();
        waiter.join().unwrap();
        let from_pool = spindle::unblock(|| 7u64);
        let total = *counter.lock().unwrap();
        assert_eq!(total, 32);
        // Left parked on purpose: the shutdown unwinds it.
        fiber::spawn(|| fiber::sleep(Duration::from_secs(3600)));
        echoed + from_pool
    });
    // A runtime on a thread of its own, many short fibers, stacks reused from the pool.
    let remote = std::thread::spawn(|| {
        spindle::run(|| {
            (0..200u64)
                .map(|i| {
                    fiber::spawn(move || {
                        fiber::yield_now();
                        i
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum::<u64>()
        })
    })
    .join()
    .unwrap();
    local + remote
}

#[test]
fn workload_runs_clean_under_valgrind() {
    if std::env::var_os(CHILD_VAR).is_some() {
        let expected: u64 = (0..32u64).sum::<u64>() + 7 + (0..200u64).sum::<u64>();
        assert_eq!(workload(), expected);
        return;
    }
    if cfg!(spindle_asan) {
        println!("skipped: an AddressSanitizer build cannot run under valgrind");
        return;
    }
    let found = Command::new("valgrind").arg("--version").output();
    if !found.is_ok_and(|out| out.status.success()) {
        println!("skipped: valgrind is not installed (apt-get install valgrind to run this test)");
        return;
    }
    let out = Command::new("valgrind")
        .arg("--error-exitcode=9")
        .arg(std::env::current_exe().unwrap())
        .args([
            "workload_runs_clean_under_valgrind",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "valgrind found errors (exit {:?}):\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "no clean error summary from valgrind:\n{stderr}"
    );
    assert!(
        !stderr.contains("switching stacks"),
        "valgrind did not recognise a stack switch:\n{stderr}"
    );
}
