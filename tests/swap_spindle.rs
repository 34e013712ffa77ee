//! The program of `tests/swap_std.rs`, ported to spindle by changing `std::` to `spindle::` in
//! its `use` lines and nothing else; the test below checks that this is all that differs.
//!
//! Only the entry above the marker line differs: the program runs inside `spindle::run`.

#[test]
fn the_program_runs() {
    spindle::run(program).unwrap();
}

#[test]
fn the_program_differs_from_its_std_twin_only_in_use_lines() {
    const MARKER: &str =
        "// ---- the program: only its `use` lines differ between the two files ----\n";
    let program_of = |file: &'static str| file.split_once(MARKER).expect("the marker line").1;
    let std_program = program_of(include_str!("swap_std.rs"));
    let spindle_program = program_of(include_str!("swap_spindle.rs"));
    let swapped: String = std_program
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with("use ") {
                line.replace("std::", "spindle::")
            } else {
                assert!(
                    !line.contains("std::"),
                    "a `std::` path outside the use lines, which the swap would miss: {line}"
                );
                line.to_owned()
            }
        })
        .collect();
    if swapped != spindle_program {
        let first = swapped
            .lines()
            .zip(spindle_program.lines())
            .position(|(a, b)| a != b);
        panic!(
            "tests/swap_spindle.rs is not tests/swap_std.rs with `std::` -> `spindle::` in its use \
             lines (first differing line of the program: {first:?}); regenerate it from swap_std.rs"
        );
    }
}

// ---- the program: only its `use` lines differ between the two files ----

use spindle::cell::Cell;
use spindle::env;
use spindle::fs::{self, File, OpenOptions};
use spindle::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use spindle::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use spindle::println;
use spindle::process::{self, Command, Stdio};
use spindle::sync::atomic::{AtomicUsize, Ordering};
use spindle::sync::{Arc, Barrier, Condvar, Mutex, RwLock, mpsc};
use spindle::thread::{self, JoinHandle};
use spindle::thread_local;
use spindle::time::{Duration, Instant};

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
