//! A program written against std: threads, time, io, net, sync, fs, process, and a scope that
//! lends local data to its threads. `tests/swap_spindle.rs` is this file with `std::` changed to
//! `spindle::` in the program's `use` lines, and nothing else; its test checks that.
//!
//! Only the entry above the marker line differs (std runs the program on the test thread,
//! spindle inside `spindle::run`).

#[test]
fn the_program_runs() {
    program().unwrap();
}

// ---- the program: only its `use` lines differ between the two files ----

use std::cell::Cell;
use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::println;
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock, mpsc};
use std::thread::{self, JoinHandle};
use std::thread_local;
use std::time::{Duration, Instant};

thread_local! {
    static SERVED: Cell<u32> = const { Cell::new(0) };
}

fn serve(listener: TcpListener, clients: usize) -> io::Result<u32> {
    let mut handlers: Vec<JoinHandle<io::Result<()>>> = Vec::new();
    for stream in listener.incoming().take(clients) {
        let mut stream = stream?;
        SERVED.with(|s| s.set(s.get() + 1));
        handlers.push(thread::spawn(move || {
            let mut line = String::new();
            BufReader::new(stream.try_clone()?).read_line(&mut line)?;
            stream.write_all(line.to_uppercase().as_bytes())?;
            stream.shutdown(Shutdown::Write)
        }));
    }
    for h in handlers {
        h.join().expect("handler panicked")?;
    }
    Ok(SERVED.with(|s| s.get()))
}

fn program() -> io::Result<()> {
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    assert!(
        ("localhost", addr.port())
            .to_socket_addrs()?
            .next()
            .is_some()
    );
    let server = thread::Builder::new()
        .name("server".into())
        .spawn(move || serve(listener, 4))?;
    assert_eq!(server.thread().name(), Some("server"));

    let (tx, rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(4));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (tx, barrier) = (tx.clone(), barrier.clone());
            thread::spawn(move || -> io::Result<()> {
                barrier.wait();
                let mut stream = TcpStream::connect(addr)?;
                writeln!(stream, "hello {i}")?;
                let mut reply = String::new();
                stream.read_to_string(&mut reply)?;
                tx.send(reply).expect("receiver alive");
                Ok(())
            })
        })
        .collect();
    drop(tx);
    for c in clients {
        c.join().expect("client panicked")?;
    }
    let mut replies: Vec<String> = rx.iter().collect();
    replies.sort();
    assert_eq!(
        replies,
        ["HELLO 0\n", "HELLO 1\n", "HELLO 2\n", "HELLO 3\n"]
    );
    assert_eq!(server.join().expect("server panicked")?, 4);

    // Locks and a condition variable.
    let state = Arc::new((Mutex::new(0), Condvar::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let table = RwLock::new(vec![1, 2, 3]);
    let s2 = state.clone();
    let h2 = hits.clone();
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        *s2.0.lock().unwrap() = 1;
        h2.fetch_add(1, Ordering::SeqCst);
        s2.1.notify_all();
    });
    let mut ready = state.0.lock().unwrap();
    while *ready == 0 {
        ready = state.1.wait(ready).unwrap();
    }
    drop(ready);
    waker.join().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Scoped threads borrowing local data.
    let words = ["alpha", "beta", "gamma"];
    let mut lengths = Vec::new();
    thread::scope(|s| {
        let handles: Vec<_> = words.iter().map(|w| s.spawn(|| w.len())).collect();
        lengths = handles.into_iter().map(|h| h.join().unwrap()).collect();
        s.spawn(|| table.write().unwrap().push(4));
    });
    assert_eq!(lengths, [5, 4, 5]);
    assert_eq!(*table.read().unwrap(), [1, 2, 3, 4]);

    // Files.
    let dir = env::temp_dir().join(format!(
        "swap-{}-{}",
        process::id(),
        started.elapsed().as_nanos()
    ));
    fs::create_dir_all(&dir)?;
    let path = dir.join("notes.txt");
    File::create(&path)?.write_all(b"one\n")?;
    OpenOptions::new()
        .append(true)
        .open(&path)?
        .write_all(b"two\n")?;
    assert_eq!(fs::read_to_string(&path)?, "one\ntwo\n");
    let count = BufReader::new(File::open(&path)?).lines().count();
    fs::remove_dir_all(&dir)?;

    // A child process with a pipe.
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"through cat")?;
    let output = child.wait_with_output()?;
    assert_eq!(output.stdout, b"through cat");

    let _interactive = io::stdin().is_terminal();
    io::stderr().flush()?;
    println!(
        "swap program: {count} lines, {} replies, in {:?}",
        replies.len(),
        started.elapsed()
    );
    Ok(())
}
