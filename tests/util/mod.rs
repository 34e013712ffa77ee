//! Helpers shared by the networking tests (`tcp_*`, `udp_socket`, `unix_*`, `all_sockets`).
//!
//! Each test file uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use spindle::fiber;

/// How long a test may run before it is declared hung. Generous: the machine is shared.
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Runs `f` as the root fiber of a fresh runtime on its own thread, and fails the test if it
/// has not finished within [`HANG_LIMIT`] instead of hanging the test binary.
pub(crate) fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    on_thread(move || spindle::run(f))
}

/// Runs `f` on a new plain thread (no runtime), failing the test on a hang like [`run`].
pub(crate) fn on_thread<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG_LIMIT) {
        Ok(value) => {
            handle.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The thread panicked: re-raise its panic here.
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for {HANG_LIMIT:?}"),
    }
}

/// Deterministic bytes that differ from position to position, so a reordered or duplicated
/// chunk does not compare equal.
pub(crate) fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A `std` thread-per-connection echo server on 127.0.0.1; serves `conns` connections, then
/// its thread ends. Returns its address.
pub(crate) fn std_echo_server(conns: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut workers = Vec::new();
        for stream in listener.incoming().take(conns) {
            let mut stream = stream.unwrap();
            workers.push(thread::spawn(move || {
                let mut buf = [0; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
    });
    addr
}

/// Copies everything from `stream` back into it until end of stream.
pub(crate) fn echo<S>(mut stream: S) -> std::io::Result<u64>
where
    S: Read + Write,
{
    let mut buf = [0; 4096];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A fiber that counts ticks every `period` until stopped: proof that the thread was not
/// stalled while another fiber waited on I/O.
#[derive(Debug)]
pub(crate) struct Ticker {
    ticks: Rc<Cell<u64>>,
    stop: Rc<Cell<bool>>,
    handle: Option<fiber::JoinHandle<()>>,
}

impl Ticker {
    /// Spawns the ticking fiber. Must be called on a fiber.
    pub(crate) fn start(period: Duration) -> Ticker {
        let ticks = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let handle = fiber::spawn(move || {
            while !s.get() {
                fiber::sleep(period);
                t.set(t.get() + 1);
            }
        });
        Ticker {
            ticks,
            stop,
            handle: Some(handle),
        }
    }

    /// Ticks so far.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.get()
    }

    /// Stops the fiber and returns the final count.
    pub(crate) fn stop(mut self) -> u64 {
        self.stop.set(true);
        self.handle.take().unwrap().join().unwrap();
        self.ticks.get()
    }
}

/// A work item for a [`RuntimeThread`].
type Job = Box<dyn FnOnce() + Send>;

/// A runtime on a thread of its own that runs each closure it is given in a fiber of its own,
/// so that a test can use one socket from two runtimes, in turn or at the same time.
#[derive(Debug)]
pub(crate) struct RuntimeThread {
    jobs: Option<spindle::sync::mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RuntimeThread {
    /// Starts the runtime. Its deadlock detector is off: it idles between jobs by design.
    pub(crate) fn start() -> RuntimeThread {
        let (jobs, rx) = spindle::sync::mpsc::channel::<Job>();
        let thread = thread::spawn(move || {
            let runtime = spindle::Runtime::builder()
                .deadlock_timeout(None)
                .build()
                .unwrap();
            runtime.run(move || {
                let fibers: Vec<_> = rx.into_iter().map(fiber::spawn).collect();
                for f in fibers {
                    f.join().unwrap();
                }
            });
        });
        RuntimeThread {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `f` in a new fiber of this runtime; its result arrives on the returned channel.
    pub(crate) fn spawn<T, F>(&self, f: F) -> mpsc::Receiver<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs
            .as_ref()
            .unwrap()
            .send(job)
            .expect("the runtime thread has ended (a job panicked)");
        rx
    }

    /// Runs `f` in a new fiber of this runtime and returns its result.
    pub(crate) fn exec<T, F>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f)
            .recv_timeout(HANG_LIMIT)
            .expect("the job panicked or hung")
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        let result = self.thread.take().unwrap().join();
        if let Err(panic) = result
            && !thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The number of descriptor slots the kernel has allocated for this process (`FDSize`).
pub(crate) fn table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("FDSize:"))
        .expect("/proc/self/status has an FDSize line")
        .trim()
        .parse()
        .unwrap()
}

/// The highest descriptor open in this process.
pub(crate) fn highest_open() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

/// Asserts that at least `opened` descriptors are open and that the descriptor table has room
/// for 8 times the highest, which a thread of spindle's asks for in the background (waited
/// for; the bound only detects a hang). Without spindle's help the kernel grows the table only
/// when a new descriptor does not fit.
#[track_caller]
pub(crate) fn assert_table_grown_ahead(opened: i32) {
    let highest = highest_open();
    assert!(highest >= opened, "only up to descriptor {highest} open");
    let wanted = 8 * highest as usize;
    let start = std::time::Instant::now();
    while table_size() < wanted && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let size = table_size();
    assert!(
        size >= wanted,
        "the table holds {size} slots with descriptor {highest} open: it was not grown ahead"
    );
}
