//! A short read or write on a stream socket waits for the reactor's next event before the
//! next try (`Source::do_stream_io`): no byte lost or stuck across many partial reads and
//! writes, pipelined requests, end of stream and urgent data after a drained read, Unix
//! stream reads (where a short read proves nothing) and non-blocking mode; and the would-block
//! system calls it saves, counted in `/proc/thread-self/io`.

mod util;

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::os::unix::net::UnixStream;
use util::{pattern, run};

/// How long a read may wait for bytes that are already there before the test calls it lost.
const STUCK: Duration = Duration::from_secs(10);

/// The calling thread's count of `read`-family and `write`-family system calls (`syscr`,
/// `syscw` of `/proc/thread-self/io`). `readv`/`writev` count there; `recvfrom`/`sendto`,
/// which spindle's plain TCP `read`/`write` use, do not. `None` without task I/O accounting.
fn io_calls() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some((field("syscr:")?, field("syscw:")?))
}

/// System calls counted by [`io_calls`] while `f` runs, less the reads `io_calls` makes.
fn count_calls(f: impl FnOnce()) -> Option<(u64, u64)> {
    // Two looks in a row: what the looks themselves add.
    let a = io_calls()?;
    let b = io_calls()?;
    let before = io_calls()?;
    f();
    let after = io_calls()?;
    let own = b.0 - a.0;
    Some((after.0 - before.0 - own, after.1 - before.1))
}

/// A connected pair: `accepted` on this runtime, `client` a std stream for a plain thread.
fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (accepted, client)
}

/// The first read of a test: sends on `start` (the peer then writes one byte) only once this
/// fiber waits in `read`, so the socket is registered with the reactor and the short read
/// that follows is recorded. Returns what `read` returned.
fn first_short_read(stream: &mut impl Read, start: mpsc::Sender<()>) -> usize {
    let signal = fiber::spawn(move || start.send(()).unwrap());
    let n = stream.read(&mut [0; 100]).unwrap();
    signal.join().unwrap();
    n
}

/// One `read` that must not wait for its deadline ([`STUCK`], set as the read timeout): bytes
/// or end of stream already there must be returned without a new readiness event. (After a
/// deadline spindle tries once more, so a read that waited for an event that never came
/// would still return them, late.)
fn read_soon(stream: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let start = Instant::now();
    let result = stream.read(buf);
    assert!(
        start.elapsed() < STUCK,
        "a read waited for its deadline ({STUCK:?}) although its bytes were there: {result:?}"
    );
    result
}

/// A small send buffer, so that writes stop short often.
fn shrink_send_buffer(stream: &TcpStream) {
    let size: libc::c_int = 64 << 10;
    // SAFETY: the fd is an open socket; `size` is a valid c_int for the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn many_partial_reads_and_writes_lose_nothing() {
    // 4 MiB each way through buffers of odd sizes; the client writes in bursts of odd sizes
    // from a plain thread while it reads, so the server sees full reads, short reads and short
    // writes in every mix.
    const TOTAL: usize = 4 << 20;
    let sent = pattern(TOTAL, 7);
    let expected = sent.clone();
    let echoed = run(move || {
        let (server, client) = tcp_pair();
        client.set_read_timeout(Some(STUCK)).unwrap();
        let mut reader = client.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let mut client = client;
            let mut at = 0;
            let mut burst = 1;
            while at < sent.len() {
                burst = (burst * 7 + 3) % 70_001 + 1;
                let end = (at + burst).min(sent.len());
                client.write_all(&sent[at..end]).unwrap();
                at = end;
            }
            client.shutdown(Shutdown::Write).unwrap();
        });
        let collector = thread::spawn(move || {
            let mut back = Vec::new();
            reader.read_to_end(&mut back).unwrap();
            back
        });
        let mut buf = vec![0; 100_000];
        let mut size = 1;
        let mut server = server;
        loop {
            size = (size * 13 + 5) % buf.len() + 1;
            let n = server.read(&mut buf[..size]).unwrap();
            if n == 0 {
                break;
            }
            // Half the chunks leave through `write_vectored`, in two slices.
            if n % 2 == 0 {
                let (a, b) = buf[..n].split_at(n / 3);
                let mut done = 0;
                while done < n {
                    let slices = if done < a.len() {
                        [IoSlice::new(&a[done..]), IoSlice::new(b)]
                    } else {
                        [IoSlice::new(&b[done - a.len()..]), IoSlice::new(&[])]
                    };
                    done += server.write_vectored(&slices).unwrap();
                }
            } else {
                server.write_all(&buf[..n]).unwrap();
            }
        }
        server.shutdown(Shutdown::Write).unwrap();
        writer.join().unwrap();
        collector.join().unwrap()
    });
    assert_eq!(echoed.len(), expected.len());
    assert!(
        echoed == expected,
        "the echoed bytes differ from those sent"
    );
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    // 2000 requests of one line each leave the client in a few large writes; the server reads
    // whatever has arrived (often ending mid-line) and answers each complete line.
    const REQUESTS: usize = 2000;
    let answers = run(|| {
        let (server, client) = tcp_pair();
        client.set_read_timeout(Some(STUCK)).unwrap();
        let serving = fiber::spawn(move || {
            let mut server = server;
            let mut pending = Vec::new();
            let mut buf = [0; 1500];
            loop {
                let n = server.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                let mut out = Vec::new();
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    out.extend_from_slice(b"ok ");
                    out.extend_from_slice(&line);
                }
                server.write_all(&out).unwrap();
            }
        });
        let client = thread::spawn(move || {
            let mut client = client;
            let requests: String = (0..REQUESTS).map(|i| format!("request {i}\n")).collect();
            for chunk in requests.as_bytes().chunks(7919) {
                client.write_all(chunk).unwrap();
            }
            client.shutdown(Shutdown::Write).unwrap();
            let mut answers = String::new();
            client.read_to_string(&mut answers).unwrap();
            answers
        });
        serving.join().unwrap();
        client.join().unwrap()
    });
    let expected: String = (0..REQUESTS).map(|i| format!("ok request {i}\n")).collect();
    assert_eq!(answers, expected);
}

#[test]
fn end_of_stream_right_behind_the_last_bytes_is_seen() {
    // The server waits in `read` first, so its socket is registered and the reactor reports
    // the bytes and the FIN, often in one event. A read then returns the bytes, stopping
    // short at the FIN: the next read must return 0 at once, although no event will follow.
    for round in 0..20u32 {
        let got = run(move || {
            let (mut server, client) = tcp_pair();
            server.set_read_timeout(Some(STUCK)).unwrap();
            let writer = thread::spawn(move || {
                let mut client = client;
                thread::sleep(Duration::from_millis(u64::from(round % 4) * 5));
                client
                    .write_all(&pattern(100 + round as usize, round))
                    .unwrap();
                client.shutdown(Shutdown::Write).unwrap();
                // Keep the socket open: only the FIN says the stream ended.
                thread::sleep(STUCK + Duration::from_secs(1));
            });
            let mut got = Vec::new();
            let mut buf = [0; 4096];
            loop {
                match read_soon(&mut server, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        panic!("round {round}: end of stream not seen within {STUCK:?}")
                    }
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            drop(writer);
            got
        });
        assert_eq!(got, pattern(100 + round as usize, round), "round {round}");
    }
}

#[test]
fn urgent_data_behind_a_short_read_is_not_left_waiting() {
    // A TCP read stops at the urgent (out-of-band) mark with bytes still queued after it:
    // that short read proves nothing, and the reactor, told by `EPOLLPRI`, must not let it
    // make the next read wait for an event that never comes.
    let got = run(|| {
        let (mut server, client) = tcp_pair();
        server.set_read_timeout(Some(STUCK)).unwrap();
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        let writer = thread::spawn(move || {
            let mut client = client;
            start_rx.recv().unwrap();
            client.write_all(b"x").unwrap();
            go_rx.recv().unwrap();
            client.write_all(b"abc").unwrap();
            // SAFETY: `client` is an open socket; the buffer is valid for 1 byte.
            let n =
                unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(n, 1, "send(MSG_OOB): {}", std::io::Error::last_os_error());
            client.write_all(b"def").unwrap();
            sent_tx.send(()).unwrap();
            // Keep the connection open: no FIN to make the socket readable again.
            thread::sleep(STUCK + Duration::from_secs(1));
        });
        let got = short_read_then_the_rest(&mut server, start_tx, go_tx, sent_rx, 6);
        drop(writer);
        got
    });
    // The urgent byte is not inline (`SO_OOBINLINE` is off): the stream is the rest.
    assert_eq!(got, b"abcdef");
}

#[test]
fn unix_stream_reads_end_at_passed_descriptors_and_still_see_the_rest() {
    // A Unix stream read stops after a message that carried descriptors, with the next
    // message queued: why spindle does not trust short reads on Unix streams.
    let got = run(|| {
        let (mut server, client) = UnixStream::pair().unwrap();
        let client = std::os::unix::net::UnixStream::from(client);
        server.set_read_timeout(Some(STUCK)).unwrap();
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        let writer = thread::spawn(move || {
            let mut client = client;
            start_rx.recv().unwrap();
            client.write_all(b"x").unwrap();
            go_rx.recv().unwrap();
            send_with_fd(&client, b"abc");
            client.write_all(b"def").unwrap();
            sent_tx.send(()).unwrap();
            thread::sleep(STUCK + Duration::from_secs(1));
        });
        let got = short_read_then_the_rest(&mut server, start_tx, go_tx, sent_rx, 6);
        drop(writer);
        got
    });
    assert_eq!(got, b"abcdef");
}

/// A short read of the writer's first byte (after it, the next read would wait for an event),
/// then, once the writer has sent the rest (`go` lets it start, `sent` says it is done) and the
/// reactor has had time to see every segment, reads until `len` bytes have come.
fn short_read_then_the_rest(
    stream: &mut impl Read,
    start: mpsc::Sender<()>,
    go: mpsc::Sender<()>,
    sent: mpsc::Receiver<()>,
    len: usize,
) -> Vec<u8> {
    assert_eq!(first_short_read(stream, start), 1);
    go.send(()).unwrap();
    while sent.try_recv().is_err() {
        fiber::sleep(Duration::from_millis(5));
    }
    fiber::sleep(Duration::from_millis(50));
    let mut buf = [0; 100];
    let mut got = Vec::new();
    while got.len() < len {
        match read_soon(stream, &mut buf) {
            Ok(0) => panic!("unexpected end of stream after {got:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("after {:?}: {e}", String::from_utf8_lossy(&got)),
        }
    }
    got
}

/// Sends `data` on `stream` with a duplicate of stdin's descriptor attached (`SCM_RIGHTS`).
fn send_with_fd(stream: &std::os::unix::net::UnixStream, data: &[u8]) {
    let fd: libc::c_int = 0;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` has a control buffer of `space` bytes, room for one header.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    assert!(!cmsg.is_null());
    // SAFETY: CMSG_LEN only computes a size.
    let cmsg_len = unsafe { libc::CMSG_LEN(size_of::<libc::c_int>() as u32) } as usize;
    let header = libc::cmsghdr {
        cmsg_len: cmsg_len as _,
        cmsg_level: libc::SOL_SOCKET,
        cmsg_type: libc::SCM_RIGHTS,
    };
    // SAFETY: `cmsg` points into `control`, with room for a header (`CMSG_SPACE` above).
    unsafe { cmsg.write_unaligned(header) };
    // SAFETY: `cmsg` is a valid header in `control`; its data part lies within the buffer.
    let fd_at = unsafe { libc::CMSG_DATA(cmsg) };
    // SAFETY: `fd_at` has room for one c_int (`CMSG_SPACE` above).
    unsafe { fd_at.cast::<libc::c_int>().write_unaligned(fd) };
    // SAFETY: `msg` and what it points to stay valid for the call.
    let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, 0) };
    assert_eq!(
        n,
        data.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn non_blocking_reads_after_a_short_read_still_try_the_socket() {
    // With `set_nonblocking(true)` the caller polls the socket itself: after a short read, new
    // bytes are returned as soon as the kernel has them, without a reactor poll in between.
    let got = run(|| {
        let (mut server, client) = tcp_pair();
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        let writer = thread::spawn(move || {
            let mut client = client;
            start_rx.recv().unwrap();
            client.write_all(b"x").unwrap();
            go_rx.recv().unwrap();
            client.write_all(b"yz").unwrap();
            sent_tx.send(()).unwrap();
            thread::sleep(Duration::from_secs(1));
        });
        let mut buf = [0; 100];
        assert_eq!(first_short_read(&mut server, start_tx), 1);
        server.set_nonblocking(true).unwrap();
        server.set_read_timeout(Some(STUCK)).unwrap();
        // Nothing there: the answer is WouldBlock, now, not a wait.
        let e = read_soon(&mut server, &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        go_tx.send(()).unwrap();
        // Busy-wait on the thread, no yield: the reactor does not run meanwhile.
        sent_rx.recv().unwrap();
        let n = loop {
            match server.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        };
        drop(writer);
        buf[..n].to_vec()
    });
    assert_eq!(got, b"yz");
}

#[test]
fn a_drained_socket_is_not_read_again_before_the_next_event() {
    // Request/response rounds; the server reads with `read_vectored` (`readv`, counted in
    // `syscr`), the client with `read` (`recvfrom`, not counted). Without the record of a
    // drained socket, each round costs the server one `readv` that says EAGAIN.
    const ROUNDS: u64 = 200;
    let calls = run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = fiber::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let mut back = [0; 64];
            for round in 0..ROUNDS {
                c.write_all(&pattern(64, round as u32)).unwrap();
                c.read_exact(&mut back).unwrap();
                assert_eq!(back[..], pattern(64, round as u32)[..]);
            }
            c.shutdown(Shutdown::Write).unwrap();
        });
        let (mut server, _) = listener.accept().unwrap();
        let mut buf = [0; 4096];
        let mut reads = 0;
        let counted = count_calls(|| {
            loop {
                let n = server
                    .read_vectored(&mut [IoSliceMut::new(&mut buf)])
                    .unwrap();
                reads += 1;
                if n == 0 {
                    break;
                }
                server.write_all(&buf[..n]).unwrap();
            }
        });
        client.join().unwrap();
        counted.map(|(syscr, _)| (syscr, reads))
    });
    let Some((syscr, reads)) = calls else {
        eprintln!("no /proc/thread-self/io (task I/O accounting is off): not counted");
        return;
    };
    assert_eq!(reads, ROUNDS + 1);
    let would_block = syscr - reads;
    eprintln!("{reads} reads returned, {syscr} readv calls, {would_block} said EAGAIN");
    if cfg!(feature = "polling") {
        // The `polling` backend cannot see a half-close, so reads are not tracked there.
        return;
    }
    assert!(
        would_block <= ROUNDS / 10,
        "{would_block} of {syscr} readv calls said EAGAIN in {ROUNDS} rounds"
    );
}

#[test]
fn a_full_send_buffer_is_not_written_again_before_the_next_event() {
    // The server pushes 16 MiB with `write_vectored` (`writev`, counted in `syscw`) to a
    // reader that drains slowly, so most writes stop short on a full buffer. Without the
    // record, each short write is followed by a `writev` that says EAGAIN.
    const TOTAL: usize = 16 << 20;
    let calls = run(|| {
        let (mut server, client) = tcp_pair();
        shrink_send_buffer(&server);
        let reader = thread::spawn(move || {
            let mut client = client;
            client.set_read_timeout(Some(STUCK)).unwrap();
            let mut buf = vec![0; 16 << 10];
            let mut total = 0;
            let mut check = Vec::new();
            loop {
                let n = client.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                // The stream repeats `data`: keep its first copy to compare.
                let room = (1 << 20) - check.len();
                check.extend_from_slice(&buf[..n.min(room)]);
                if total % 7 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
            (total, check)
        });
        let data = pattern(1 << 20, 3);
        let mut writes = 0u64;
        let mut short = 0u64;
        let counted = count_calls(|| {
            let mut sent = 0;
            while sent < TOTAL {
                let at = sent % data.len();
                let (a, b) = data[at..].split_at((data.len() - at) / 2);
                let n = server
                    .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
                    .unwrap();
                writes += 1;
                short += u64::from(n < a.len() + b.len());
                sent += n;
            }
        });
        server.shutdown(Shutdown::Write).unwrap();
        let (total, check) = reader.join().unwrap();
        assert_eq!(total, TOTAL);
        assert!(
            check[..] == data[..check.len()],
            "the bytes read differ from those sent"
        );
        counted.map(|(_, syscw)| (syscw, writes, short))
    });
    let Some((syscw, writes, short)) = calls else {
        eprintln!("no /proc/thread-self/io (task I/O accounting is off): not counted");
        return;
    };
    let would_block = syscw - writes;
    eprintln!(
        "{writes} writes returned ({short} short), {syscw} writev calls, {would_block} said EAGAIN"
    );
    assert!(
        short >= 20,
        "only {short} short writes: the test did not fill the buffer"
    );
    assert!(
        would_block <= short / 10,
        "{would_block} writev calls said EAGAIN after {short} short writes"
    );
}
