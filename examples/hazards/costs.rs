//! The last column of the hazards table: one call of each spindle twin and of std when
//! nothing has to wait. Indicative only (short loops, best of three, on a possibly busy
//! machine); the criterion benches of each crate are the reference.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use spindle::fiber;

use super::Case;

/// Nanoseconds per call of `f`, best of three loops of `iters` calls.
fn ns_per_call(iters: u32, mut f: impl FnMut()) -> f64 {
    f();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs `f` on a runtime whose stall detector is off: the cost loops run for many ms
/// without yielding on purpose.
fn run_quiet<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    spindle::Runtime::builder()
        .stall_threshold(None)
        .build()
        .expect("runtime settings are valid")
        .run(f)
}

/// One call of the twin and of std when nothing has to wait: `(spindle_ns, std_ns)`.
/// Indicative only; the criterion benches are the reference.
pub(crate) fn costs(case: Case) -> Option<(f64, f64)> {
    const ITERS: u32 = 10_000;
    match case {
        Case::CpuLoop => None,
        Case::Sleep => Some(run_quiet(|| {
            (
                ns_per_call(ITERS, || fiber::sleep(Duration::ZERO)),
                ns_per_call(ITERS, || std::thread::sleep(Duration::ZERO)),
            )
        })),
        Case::SocketRead => Some(run_quiet(|| {
            let pair = || {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let mut w = std::net::TcpStream::connect(l.local_addr().unwrap()).expect("connect");
                let (r, _) = l.accept().expect("accept");
                // Data for every read of the three loops and the warm-up, ready in advance.
                w.write_all(&vec![7u8; 4 * ITERS as usize + 4])
                    .expect("prefill");
                (w, r)
            };
            let (_w1, std_reader) = pair();
            let (_w2, reader) = pair();
            let mut spindle_reader = spindle::net::TcpStream::from(reader);
            let mut std_reader = std_reader;
            let mut byte = [0u8; 1];
            (
                ns_per_call(ITERS, || {
                    spindle_reader.read_exact(&mut byte).expect("read");
                }),
                ns_per_call(ITERS, || {
                    std_reader.read_exact(&mut byte).expect("read");
                }),
            )
        })),
        Case::MutexAcrossSwitch | Case::LockOrder => Some(run_quiet(|| {
            let s = spindle::sync::Mutex::new(0u64);
            let m = StdMutex::new(0u64);
            (
                ns_per_call(ITERS * 10, || *black_box(&s).lock().unwrap() += 1),
                ns_per_call(ITERS * 10, || *black_box(&m).lock().unwrap() += 1),
            )
        })),
        Case::Dns => Some(run_quiet(|| {
            (
                ns_per_call(ITERS, || {
                    black_box(
                        spindle::net::ToSocketAddrs::to_socket_addrs(black_box("127.0.0.1:80"))
                            .unwrap(),
                    );
                }),
                ns_per_call(ITERS, || {
                    black_box(
                        std::net::ToSocketAddrs::to_socket_addrs(black_box("127.0.0.1:80"))
                            .unwrap(),
                    );
                }),
            )
        })),
        Case::FileRead => {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("small");
            std::fs::write(&path, [1u8; 64]).expect("write the file");
            Some(run_quiet(move || {
                (
                    ns_per_call(ITERS / 10, || {
                        black_box(spindle::fs::read(&path).unwrap());
                    }),
                    ns_per_call(ITERS / 10, || {
                        black_box(std::fs::read(&path).unwrap());
                    }),
                )
            }))
        }
    }
}
