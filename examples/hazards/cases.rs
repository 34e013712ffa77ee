//! The runs of the hazards table: the blocking calls, their spindle twins, and the child
//! process that holds the std versions that hang.

use std::cell::Cell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::panic::resume_unwind;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use spindle::fiber;

use super::{
    BLOCK, Case, DEADLOCK_TIMEOUT, FIBERS, HANG_LIMIT, Outcome, Run, STALL_THRESHOLD, measure,
    ticker,
};

/// Spawns `FIBERS` fibers named `worker-<i>` running `f(i)` and joins them.
fn workers<F>(f: F)
where
    F: Fn(usize) + 'static,
{
    let f = Rc::new(f);
    let handles: Vec<_> = (0..FIBERS)
        .map(|i| {
            let f = f.clone();
            fiber::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || f(i))
                .expect("spawn a worker")
        })
        .collect();
    for h in handles {
        if let Err(payload) = h.join() {
            resume_unwind(payload);
        }
    }
}

/// A plain-thread TCP server that answers each connection's one-byte request after `BLOCK`.
fn slow_server(connections: usize) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the slow server");
    let addr = listener.local_addr().expect("local_addr");
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            std::thread::spawn(move || {
                let mut req = [0u8; 1];
                if conn.read_exact(&mut req).is_ok() {
                    std::thread::sleep(BLOCK);
                    let _ = conn.write_all(&req);
                }
            });
        }
    });
    addr
}

/// One FIFO per worker, each with a plain-thread writer that opens it, waits `BLOCK` and
/// writes. Returns the paths; the directory is removed when the returned guard drops.
fn slow_fifos() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<PathBuf> = (0..FIBERS)
        .map(|i| dir.path().join(format!("fifo-{i}")))
        .collect();
    for path in &paths {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        let path = path.clone();
        std::thread::spawn(move || {
            // Opening for writing waits for the reader to open, like a disk that answers late.
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
                std::thread::sleep(BLOCK);
                let _ = f.write_all(b"slow data");
            }
        });
    }
    (dir, paths)
}

/// A CPU loop of `iters` rounds of xorshift.
fn spin(iters: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// CPU time this thread has used. The CPU loop counts CPU time, not wall time, so that it
/// does the same work however busy the machine is.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs no setup.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Computes for `cpu` of this thread's CPU time, in slices of about `slice`, calling
/// `between` after each slice.
fn compute_for(cpu: Duration, slice: Duration, mut between: impl FnMut()) {
    let mut used = Duration::ZERO;
    while used < cpu {
        let start = thread_cpu_time();
        let mut spent = Duration::ZERO;
        while spent < slice {
            spin(2_000);
            spent = thread_cpu_time() - start;
        }
        used += spent;
        between();
    }
}

/// How many lookups of "localhost" take `BLOCK` on this machine, measured once.
pub(crate) fn calibrate_lookups() -> u32 {
    let start = Instant::now();
    let mut lookups = 0u32;
    while start.elapsed() < BLOCK && lookups < 5_000 {
        let _ = std::net::ToSocketAddrs::to_socket_addrs("localhost:80");
        lookups += 1;
    }
    lookups.max(1)
}

/// Runs one case with the std call (`std == true`) or the spindle twin, in this process.
pub(crate) fn run_in_process(case: Case, std: bool, lookups: u32) -> Run {
    let long = Duration::from_secs(30);
    match (case, std) {
        (Case::Sleep, true) => measure(case, std, long, || workers(|_| std::thread::sleep(BLOCK))),
        (Case::Sleep, false) => measure(case, std, long, || workers(|_| fiber::sleep(BLOCK))),
        (Case::SocketRead, _) => {
            let addr = slow_server(FIBERS);
            measure(case, std, long, move || {
                workers(move |_| {
                    let mut answer = [0u8; 1];
                    if std {
                        let mut s = std::net::TcpStream::connect(addr).expect("connect");
                        s.write_all(b"?").expect("write");
                        s.read_exact(&mut answer).expect("read");
                    } else {
                        let mut s = spindle::net::TcpStream::connect(addr).expect("connect");
                        s.write_all(b"?").expect("write");
                        s.read_exact(&mut answer).expect("read");
                    }
                    assert_eq!(&answer, b"?");
                })
            })
        }
        (Case::MutexAcrossSwitch, _) => {
            assert!(!std, "the std version runs in a child");
            measure(case, std, long, || {
                mutex_across_switch!(spindle::sync::Mutex)
            })
        }
        (Case::Dns, _) => measure(case, std, long, move || {
            workers(move |_| {
                for _ in 0..lookups {
                    let n = if std {
                        std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
                            .map(Iterator::count)
                    } else {
                        spindle::net::ToSocketAddrs::to_socket_addrs("localhost:80")
                            .map(Iterator::count)
                    };
                    // A failed lookup (no "localhost" in this machine's hosts database)
                    // blocks for as long as a successful one: only the time matters here.
                    black_box(n.ok());
                }
            })
        }),
        (Case::FileRead, _) => {
            let (_dir, paths) = slow_fifos();
            let paths = Rc::new(paths);
            measure(case, std, long, move || {
                workers(move |i| {
                    let data = if std {
                        std::fs::read(&paths[i])
                    } else {
                        spindle::fs::read(&paths[i])
                    };
                    assert_eq!(data.expect("read the FIFO"), b"slow data");
                })
            })
        }
        (Case::CpuLoop, _) => measure(case, std, long, move || {
            workers(move |_| {
                if std {
                    compute_for(BLOCK, BLOCK, || {});
                } else {
                    compute_for(BLOCK, Duration::from_micros(50), fiber::yield_now);
                }
            })
        }),
        (Case::LockOrder, _) => {
            assert!(!std, "runs in a child");
            // The ticker stops after 30 ms: its timer would otherwise keep the runtime from
            // ever being idle with nothing to wake a fiber.
            measure(case, std, Duration::from_millis(30), || {
                lock_order!(spindle::sync::Mutex)
            })
        }
    }
}

/// `FIBERS` workers each lock one mutex of type `$mutex` (a path) and sleep (a fiber switch) while
/// holding it. With std's Mutex the second worker's `lock` blocks the thread, and the holder
/// can never run again to unlock: the thread hangs.
macro_rules! mutex_across_switch {
    ($($mutex:ident)::+) => {{
        let m = Rc::new($($mutex)::+::new(0u32));
        workers(move |_| {
            let mut guard = m.lock().unwrap();
            fiber::sleep(BLOCK);
            *guard += 1;
        })
    }};
}
use mutex_across_switch;

/// Two fibers take two mutexes of type `$mutex` (a path) in opposite orders, with a switch in
/// between. spindle's mutexes park both fibers (a deadlock the runtime reports); std's block
/// the thread in the second `lock` (a hang).
macro_rules! lock_order {
    ($($mutex:ident)::+) => {{
        let m1 = Rc::new($($mutex)::+::new(1));
        let m2 = Rc::new($($mutex)::+::new(2));
        let (a1, a2) = (m1.clone(), m2.clone());
        let a = fiber::Builder::new()
            .name("lock-a".into())
            .spawn(move || {
                let g1 = a1.lock().unwrap();
                fiber::sleep(Duration::from_millis(1));
                let g2 = a2.lock().unwrap();
                *g1 + *g2
            })
            .expect("spawn");
        let b = fiber::Builder::new()
            .name("lock-b".into())
            .spawn(move || {
                let g2 = m2.lock().unwrap();
                fiber::sleep(Duration::from_millis(1));
                let g1 = m1.lock().unwrap();
                *g1 + *g2
            })
            .expect("spawn");
        let _ = (a.join(), b.join());
    }};
}
use lock_order;

/// The std versions that hang their thread, run in this (child) process. Stall reports go
/// to stdout, one per line, for the parent to count.
pub(crate) fn child_main(arg: &str) -> ! {
    let rt = spindle::Runtime::builder()
        .stall_threshold(Some(STALL_THRESHOLD))
        .on_stall(|r| println!("stall\t{:?}\t{r}", r.phase))
        .deadlock_timeout(Some(DEADLOCK_TIMEOUT))
        .build()
        .expect("runtime settings are valid");
    match arg {
        "mutex" => rt.run(|| {
            let late = Arc::new(StdMutex::new(Vec::new()));
            let stop = Rc::new(Cell::new(false));
            fiber::spawn(move || ticker(stop, Duration::from_secs(30), late));
            mutex_across_switch!(StdMutex)
        }),
        "lock-order" => rt.run(|| lock_order!(StdMutex)),
        other => {
            eprintln!("hazards: unknown child case {other:?}");
            std::process::exit(2)
        }
    }
    println!("done");
    std::process::exit(0)
}

/// If this process was started as a hazard child (`--hazard-child CASE`), runs it and exits.
pub(crate) fn run_child_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--hazard-child") {
        let case = args.get(pos + 1).map_or("", String::as_str);
        child_main(case);
    }
}

/// Runs the std version of a hanging case in a child process and kills it after
/// `HANG_LIMIT`.
pub(crate) fn run_in_child(case: Case, arg: &str) -> Run {
    let exe = std::env::current_exe().expect("current_exe");
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["--hazard-child", arg])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child process");
    let mut exited = false;
    while started.elapsed() < HANG_LIMIT {
        if child.try_wait().expect("try_wait").is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    if !exited {
        child.kill().expect("kill the hung child");
    }
    let status = child.wait().expect("reap the child");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut out)
        .expect("read the child's output");
    let ongoing: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("stall\tOngoing\t"))
        .collect();
    let outcome = if !exited {
        Outcome::Hung(elapsed)
    } else if status.success() && out.lines().any(|l| l == "done") {
        Outcome::Done(elapsed)
    } else {
        panic!("hazard child {arg} failed: {status}\n{out}")
    };
    Run {
        case,
        std: true,
        outcome,
        ticks: None,
        stalls: ongoing.len() as u32,
        first_stall: ongoing.first().map(|s| (*s).to_owned()),
        deadlock: None,
        cost_ns: None,
    }
}
