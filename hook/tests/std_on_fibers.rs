//! std's blocking calls on fibers, with the hook linked: they park the fiber, not the thread.
//!
//! Every test runs its fibers on one thread (`spindle_core::run`). Where a test shows that the
//! calls overlap, the serial time would be many times the generous bound it asserts.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use spindle_core::fiber;

/// The kernel's file status flags of `fd`, bypassing the hook's `fcntl`.
fn kernel_flags(fd: i32) -> libc::c_long {
    // SAFETY: F_GETFL takes no argument; a bad fd is an error return.
    unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) }
}

/// The flags the program sees through (the hooked) libc `fcntl`.
fn libc_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL takes no argument.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

/// Counts ticks of a fiber that sleeps 1 ms in a loop until `stop` is set: proof that the
/// thread kept running fibers while another one "blocked".
fn ticker(stop: Rc<Cell<bool>>) -> fiber::JoinHandle<u32> {
    fiber::spawn(move || {
        let mut ticks = 0;
        while !stop.get() {
            fiber::sleep(Duration::from_millis(1));
            ticks += 1;
        }
        ticks
    })
}

#[test]
fn the_hook_is_linked_into_this_test() {
    assert!(spindle_hook::is_linked());
}

#[test]
fn std_net_clients_and_server_on_one_thread_run_concurrently() {
    const CLIENTS: usize = 100;
    let started = Instant::now();
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = fiber::spawn(move || {
            let mut handlers = Vec::new();
            for _ in 0..CLIENTS {
                let (mut conn, _) = listener.accept().unwrap();
                handlers.push(fiber::spawn(move || {
                    let mut buf = [0u8; 8];
                    conn.read_exact(&mut buf).unwrap();
                    // A slow answer: std's sleep, parked by the hook.
                    std::thread::sleep(Duration::from_millis(100));
                    conn.write_all(&buf).unwrap();
                }));
            }
            for h in handlers {
                h.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS as u64)
            .map(|i| {
                fiber::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.write_all(&i.to_le_bytes()).unwrap();
                    let mut buf = [0u8; 8];
                    s.read_exact(&mut buf).unwrap();
                    assert_eq!(u64::from_le_bytes(buf), i);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
    });
    // Serially: 100 × 100 ms = 10 s.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: the fibers did not overlap"
    );
}

#[test]
fn set_read_timeout_bounds_a_parked_read() {
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, _) = listener.accept().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Rc::new(Cell::new(false));
        let ticks = ticker(stop.clone());
        let started = Instant::now();
        let err = (&client).read(&mut [0u8; 4]).unwrap_err();
        let waited = started.elapsed();
        stop.set(true);
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
        assert!(
            waited >= Duration::from_millis(100),
            "returned after {waited:?}"
        );
        // The thread was free while the read waited.
        assert!(ticks.join().unwrap() >= 10);
        // The timeout reads back as set, and the socket still blocks for its user.
        assert_eq!(
            client.read_timeout().unwrap(),
            Some(Duration::from_millis(100))
        );
        assert_eq!(libc_flags(client.as_raw_fd()) & libc::O_NONBLOCK, 0);
    });
}

#[test]
fn a_thousand_fibers_in_std_sleep_finish_together() {
    let started = Instant::now();
    let slept = spindle_core::run(|| {
        let sleepers: Vec<_> = (0..1000)
            .map(|_| {
                fiber::spawn(|| {
                    let t = Instant::now();
                    std::thread::sleep(Duration::from_millis(100));
                    t.elapsed()
                })
            })
            .collect();
        sleepers
            .into_iter()
            .map(|h| h.join().unwrap())
            .min()
            .unwrap()
    });
    assert!(
        slept >= Duration::from_millis(100),
        "a sleep ended early: {slept:?}"
    );
    // Serially: 100 s.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn clock_nanosleep_absolute_parks_the_fiber() {
    spindle_core::run(|| {
        let stop = Rc::new(Cell::new(false));
        let ticks = ticker(stop.clone());
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let mut until = now;
        until.tv_nsec += 50_000_000;
        if until.tv_nsec >= 1_000_000_000 {
            until.tv_nsec -= 1_000_000_000;
            until.tv_sec += 1;
        }
        let t = Instant::now();
        // SAFETY: `until` is a valid timespec; `rem` may be null.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &until,
                std::ptr::null_mut(),
            )
        };
        stop.set(true);
        assert_eq!(r, 0);
        assert!(t.elapsed() >= Duration::from_millis(45));
        assert!(ticks.join().unwrap() >= 5);
    });
}

#[test]
fn a_socket_made_nonblocking_by_its_user_stays_nonblocking() {
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = client.as_raw_fd();
        assert_eq!(
            libc_flags(fd) & libc::O_NONBLOCK,
            0,
            "blocking for its user"
        );
        assert_ne!(
            kernel_flags(fd) & libc::O_NONBLOCK as libc::c_long,
            0,
            "managed"
        );

        client.set_nonblocking(true).unwrap();
        assert_ne!(libc_flags(fd) & libc::O_NONBLOCK, 0);
        let err = (&client).read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        listener.set_nonblocking(true).unwrap();
        let (_a, _) = listener.accept().unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

        client.set_nonblocking(false).unwrap();
        assert_eq!(libc_flags(fd) & libc::O_NONBLOCK, 0);
        assert_ne!(kernel_flags(fd) & libc::O_NONBLOCK as libc::c_long, 0);
    });
}

#[test]
fn poll_on_many_fds_parks_until_one_is_ready() {
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let servers: Vec<_> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        let mut writer = servers[1].try_clone().unwrap();
        let stop = Rc::new(Cell::new(false));
        let ticks = ticker(stop.clone());
        fiber::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            writer.write_all(b"x").unwrap();
        });
        let mut fds: Vec<_> = clients
            .iter()
            .map(|c| libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let t = Instant::now();
        // SAFETY: `fds` is a valid array of pollfds of the length passed.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5_000) };
        stop.set(true);
        assert_eq!(n, 1);
        assert_eq!(fds[1].revents & libc::POLLIN, libc::POLLIN);
        assert!(t.elapsed() >= Duration::from_millis(45));
        assert!(
            ticks.join().unwrap() >= 10,
            "the thread was blocked in poll"
        );

        // A timeout with nothing ready: 0 after the timeout.
        let mut one = [libc::pollfd {
            fd: clients[0].as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let t = Instant::now();
        // SAFETY: as above.
        let n = unsafe { libc::poll(one.as_mut_ptr(), 1, 30) };
        assert_eq!(n, 0);
        assert!(t.elapsed() >= Duration::from_millis(30));
        drop(servers);
    });
}

#[test]
fn connect_timeout_and_udp_recv_park_the_fiber() {
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        assert!(s.peer_addr().is_ok());

        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = a.local_addr().unwrap();
        fiber::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            b.send_to(b"ping", to).unwrap();
        });
        let stop = Rc::new(Cell::new(false));
        let ticks = ticker(stop.clone());
        let mut buf = [0u8; 8];
        let (n, _) = a.recv_from(&mut buf).unwrap();
        stop.set(true);
        assert_eq!(&buf[..n], b"ping");
        assert!(ticks.join().unwrap() >= 5);
    });
}

#[test]
fn getaddrinfo_on_a_fiber_goes_to_the_pool_and_answers() {
    spindle_core::run(|| {
        let addrs: Vec<_> = ("localhost", 80).to_socket_addrs().unwrap().collect();
        assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
        assert!(!addrs.is_empty());
        let err = ("no-such-host.invalid", 80).to_socket_addrs();
        assert!(err.is_err());
    });
}

#[test]
fn set_write_timeout_bounds_a_parked_write() {
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_unread, _) = listener.accept().unwrap();
        client
            .set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let started = Instant::now();
        // The peer never reads: the buffers fill, then the write waits out its timeout.
        let err = loop {
            match client.write(&chunk) {
                Ok(n) => assert!(
                    n > 0 && started.elapsed() < Duration::from_secs(5),
                    "never filled"
                ),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
        assert!(started.elapsed() >= Duration::from_millis(50));
    });
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

#[test]
fn a_signal_does_not_interrupt_a_parked_read_or_sleep() {
    // A handler without SA_RESTART: a blocking read on a plain thread would fail with EINTR.
    // SAFETY: `sigaction` is plain integers, masks and a handler address, for which all-zero
    // is a valid value (no handler, empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigusr1 as *const () as usize;
    // SAFETY: `action` is initialised; the handler is an extern "C" fn(c_int) that does
    // nothing, which is async-signal-safe; a null old-action pointer asks for nothing back.
    let installed = unsafe { libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) };
    assert_eq!(installed, 0);
    spindle_core::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        let signaller = std::thread::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(10));
                // SAFETY: `me` is the runtime's thread, alive until the test joins this one.
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
            }
            std::thread::sleep(Duration::from_millis(20));
            server.write_all(b"done").unwrap();
            server
        });
        // libc's calls themselves, not std's wrappers (which retry on EINTR).
        let sleeper = fiber::spawn(|| {
            let t = Instant::now();
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 60_000_000,
            };
            // SAFETY: `ts` is a valid timespec; the remainder may be null.
            let r = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
            (r, t.elapsed())
        });
        let mut buf = [0u8; 4];
        // SAFETY: `buf` is valid for 4 bytes of writes.
        let n = unsafe { libc::read(client.as_raw_fd(), buf.as_mut_ptr().cast(), 4) };
        assert!(n > 0, "read: {}", std::io::Error::last_os_error());
        assert_eq!(&buf[..n as usize], &b"done"[..n as usize]);
        let (r, slept) = sleeper.join().unwrap();
        assert_eq!(r, 0, "nanosleep: {}", std::io::Error::last_os_error());
        assert!(slept >= Duration::from_millis(60));
        drop(signaller.join().unwrap());
    });
}

#[test]
fn a_runtime_ending_under_a_parked_read_fails_the_read_instead_of_unwinding_through_libc() {
    let seen: Rc<Cell<Option<i32>>> = Rc::default();
    let record = seen.clone();
    let started = Instant::now();
    spindle_core::run(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        fiber::spawn(move || {
            let _keep = server;
            // Parked for ever: the root returns without writing.
            let r = (&client).read(&mut [0u8; 1]);
            record.set(r.err().and_then(|e| e.raw_os_error()));
        });
        fiber::yield_now();
    });
    assert_eq!(seen.get(), Some(libc::ECANCELED));
    assert!(started.elapsed() < Duration::from_secs(5));
}
