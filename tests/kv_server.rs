//! `examples/kv_server.rs` under raw RESP clients written here: every command, pipelines,
//! inline commands, expiry, bad RESP and oversized bulks. Replies are compared byte for byte.
//!
//! The server runs in-process: the example file is included as a module and its `serve` runs on
//! a spindle runtime on a thread of its own; the clients are plain `std::net` threads.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/kv_server.rs"]
mod kv_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use kv_server::Config;

const HANG: Duration = Duration::from_secs(30);

fn start(config: Config) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || spindle::run(move || kv_server::serve(listener.into(), config)));
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    s
}

/// A command as a RESP array of bulk strings.
fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A command from space-separated words.
fn c(line: &str) -> Vec<u8> {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    cmd(&words)
}

/// Sends `request` and checks that exactly `expected` comes back: the reply is read to its
/// length, then a `PING` must answer `+PONG` next, so nothing extra was sent in between.
fn exchange(s: &mut TcpStream, request: &[u8], expected: &[u8]) {
    s.write_all(request).unwrap();
    let mut got = vec![0; expected.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "for {:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)])
    );
    s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut pong = [0; 7];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n", "extra bytes after the reply");
}

/// Sends `request` and expects `expected`, then the end of the connection.
fn exchange_then_closed(s: &mut TcpStream, request: &[u8], expected: &[u8]) {
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn every_command_byte_for_byte() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    let cases: &[(&str, &[u8])] = &[
        ("PING", b"+PONG\r\n"),
        ("PING hi", b"$2\r\nhi\r\n"),
        ("ECHO hello", b"$5\r\nhello\r\n"),
        ("GET missing", b"$-1\r\n"),
        ("SET k v1", b"+OK\r\n"),
        ("GET k", b"$2\r\nv1\r\n"),
        ("SET k value2", b"+OK\r\n"),
        ("GET k", b"$6\r\nvalue2\r\n"),
        ("SET k v3 GET", b"$6\r\nvalue2\r\n"),
        ("SET k v4 NX", b"$-1\r\n"),
        ("SET k v5 XX", b"+OK\r\n"),
        ("SET other v XX", b"$-1\r\n"),
        ("SET other v NX", b"+OK\r\n"),
        ("SET k v NX XX", b"-ERR syntax error\r\n"),
        ("SET k v EX", b"-ERR syntax error\r\n"),
        (
            "SET k v EX ten",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            "SET k v EX 0",
            b"-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k v EX 10 PX 10", b"-ERR syntax error\r\n"),
        ("GET k", b"$2\r\nv5\r\n"),
        ("EXISTS k other missing k", b":3\r\n"),
        ("DEL k missing", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("INCR n", b":1\r\n"),
        ("INCR n", b":2\r\n"),
        ("INCRBY n 40", b":42\r\n"),
        ("DECR n", b":41\r\n"),
        ("DECRBY n 50", b":-9\r\n"),
        ("GET n", b"$2\r\n-9\r\n"),
        (
            "INCR other",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        ("SET big 9223372036854775807", b"+OK\r\n"),
        (
            "INCR big",
            b"-ERR increment or decrement would overflow\r\n",
        ),
        ("MSET a 1 b 22 c 333", b"+OK\r\n"),
        (
            "MGET a b nothing c",
            b"*4\r\n$1\r\n1\r\n$2\r\n22\r\n$-1\r\n$3\r\n333\r\n",
        ),
        (
            "MSET a 1 b",
            b"-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (
            "GET",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            "get a b",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        ("get a", b"$1\r\n1\r\n"),
        (
            "FROB x y",
            b"-ERR unknown command 'FROB', with args beginning with: 'x' 'y'\r\n",
        ),
        ("SELECT 0", b"+OK\r\n"),
        ("SELECT 1", b"-ERR DB index is out of range\r\n"),
        ("CONFIG GET save", b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        (
            "CONFIG GET appendonly",
            b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
        ),
        ("CONFIG GET nosuch", b"*0\r\n"),
        ("COMMAND DOCS", b"*0\r\n"),
        ("DBSIZE", b":6\r\n"),
        ("FLUSHALL", b"+OK\r\n"),
        ("DBSIZE", b":0\r\n"),
    ];
    for (line, expected) in cases {
        exchange(&mut s, &c(line), expected);
    }
    // Binary-safe keys and values, and an empty value.
    exchange(&mut s, &cmd(&[b"SET", b"\r\n\0", b"\xff\r\n"]), b"+OK\r\n");
    exchange(&mut s, &cmd(&[b"GET", b"\r\n\0"]), b"$3\r\n\xff\r\n\r\n");
    exchange(&mut s, &cmd(&[b"SET", b"e", b""]), b"+OK\r\n");
    exchange(&mut s, &cmd(&[b"GET", b"e"]), b"$0\r\n\r\n");
    // An empty array is skipped, as Redis does.
    exchange(&mut s, b"*0\r\n", b"");
    exchange_then_closed(&mut s, &c("QUIT"), b"+OK\r\n");
}

#[test]
fn inline_commands() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    exchange(&mut s, b"PING\r\n", b"+PONG\r\n");
    exchange(&mut s, b"set  k   v\n", b"+OK\r\n");
    exchange(&mut s, b"GET k\r\nGET k\r\n", b"$1\r\nv\r\n$1\r\nv\r\n");
    exchange(&mut s, b"\r\n", b"");
}

#[test]
fn expiry_with_ex_px_and_keepttl() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    exchange(&mut s, &c("SET short v PX 100"), b"+OK\r\n");
    exchange(&mut s, &c("SET long v EX 100"), b"+OK\r\n");
    exchange(&mut s, &c("SET kept v PX 100"), b"+OK\r\n");
    exchange(&mut s, &c("SET kept w KEEPTTL"), b"+OK\r\n");
    exchange(&mut s, &c("SET counter 5 PX 100"), b"+OK\r\n");
    exchange(&mut s, &c("INCR counter"), b":6\r\n");
    exchange(&mut s, &c("GET short"), b"$1\r\nv\r\n");
    thread::sleep(Duration::from_millis(300));
    exchange(&mut s, &c("GET short"), b"$-1\r\n");
    exchange(&mut s, &c("EXISTS short long kept"), b":1\r\n");
    exchange(&mut s, &c("GET kept"), b"$-1\r\n");
    // INCR kept the TTL, so the counter expired and starts again.
    exchange(&mut s, &c("INCR counter"), b":1\r\n");
    // SET without KEEPTTL drops the TTL.
    exchange(&mut s, &c("SET long v2"), b"+OK\r\n");
    exchange(&mut s, &c("GET long"), b"$2\r\nv2\r\n");
}

/// 2000 × (SET, SET, GET, INCR hits) and their replies, the counter starting after `hits`.
fn pipeline(hits: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut requests, mut expected) = (Vec::new(), Vec::new());
    for i in 0..2000 {
        let (key, value) = (format!("key:{i}"), format!("value {i}"));
        requests.extend(c(&format!("SET {key} x")));
        requests.extend(cmd(&[b"SET", key.as_bytes(), value.as_bytes()]));
        requests.extend(c(&format!("GET {key}")));
        requests.extend(c("INCR hits"));
        expected.extend_from_slice(b"+OK\r\n+OK\r\n");
        expected
            .extend(format!("${}\r\n{value}\r\n:{}\r\n", value.len(), hits + i + 1).into_bytes());
    }
    (requests, expected)
}

/// Sends `DBSIZE` and returns its whole reply line.
fn dbsize(s: &mut TcpStream) -> String {
    s.write_all(&c("DBSIZE")).unwrap();
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        let mut byte = [0; 1];
        s.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Keys nobody touches again are removed by the sweeper: `DBSIZE` counts stored keys, expired
/// or not, so it drops only when they are gone. A key overwritten without a TTL survives its
/// old deadline.
#[test]
fn sweeper_removes_expired_keys_nobody_reads() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    let mut requests = Vec::new();
    for i in 0..1000 {
        requests.extend(c(&format!("SET temp:{i} v PX 50")));
    }
    requests.extend(c("SET kept v PX 50"));
    requests.extend(c("SET kept v2"));
    requests.extend(c("SET forever v"));
    let sent = std::time::Instant::now();
    exchange(&mut s, &requests, &b"+OK\r\n".repeat(1003));
    let size = dbsize(&mut s);
    // Within their 50 ms every key is still stored. A reply that comes later (a loaded
    // machine) may already miss some the sweeper took: only its range is checked then.
    if sent.elapsed() < Duration::from_millis(50) {
        assert_eq!(size, ":1002\r\n");
    } else {
        let n: usize = size.trim_start_matches(':').trim_end().parse().unwrap();
        assert!((2..=1002).contains(&n), "DBSIZE {size:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // Read to the end of the line: a count of 3 to 9 is as long as ":2\r\n".
        if dbsize(&mut s) == ":2\r\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expired keys were never swept"
        );
        thread::sleep(Duration::from_millis(50));
    }
    exchange(&mut s, &c("GET kept"), b"$2\r\nv2\r\n");
    exchange(&mut s, &c("GET forever"), b"$1\r\nv\r\n");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    let (requests, expected) = pipeline(0);
    exchange(&mut s, &requests, &expected);
    // The same commands dribbled in small pieces, cut anywhere, while the replies are read.
    let (requests, expected) = pipeline(2000);
    let mut writer = s.try_clone().unwrap();
    let dribbler = thread::spawn(move || {
        for chunk in requests.chunks(61) {
            writer.write_all(chunk).unwrap();
        }
    });
    let mut got = vec![0; expected.len()];
    s.read_exact(&mut got).unwrap();
    dribbler.join().unwrap();
    assert!(got == expected, "dribbled pipeline answered differently");
}

#[test]
fn bad_resp_is_a_protocol_error_and_closes() {
    let addr = start(Config::default());
    let cases: &[(&[u8], &[u8])] = &[
        (b"*1\r\n:5\r\n", b"-ERR Protocol error: expected '$'\r\n"),
        (
            b"*x\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*99999999999\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-3\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$3x\r\nabc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$4\r\nPINGxx",
            b"-ERR Protocol error: bulk string not followed by CRLF\r\n",
        ),
        (
            b"*1\n",
            b"-ERR Protocol error: header line not ended by CRLF\r\n",
        ),
    ];
    for (request, expected) in cases {
        let mut s = connect(addr);
        // A good command first: its reply comes before the error's.
        let mut bytes = c("ECHO ok");
        bytes.extend_from_slice(request);
        let mut with_ok = b"$2\r\nok\r\n".to_vec();
        with_ok.extend_from_slice(expected);
        exchange_then_closed(&mut s, &bytes, &with_ok);
    }
}

#[test]
fn huge_bulk_lengths_and_lines_are_refused() {
    let config = Config {
        max_bulk: 1024 * 1024,
        ..Config::default()
    };
    let addr = start(config);
    // Announced lengths past the limit are refused before any of the bulk arrives.
    for len in ["1048577", "536870912", "99999999999999999999"] {
        let mut s = connect(addr);
        let request = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${len}\r\n");
        exchange_then_closed(
            &mut s,
            request.as_bytes(),
            b"-ERR Protocol error: invalid bulk length\r\n",
        );
    }
    // A bulk at the limit is stored and returned whole.
    let mut s = connect(addr);
    let value: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    exchange(&mut s, &cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let mut reply = b"$1048576\r\n".to_vec();
    reply.extend_from_slice(&value);
    reply.extend_from_slice(b"\r\n");
    exchange(&mut s, &cmd(&[b"GET", b"big"]), &reply);
    // Lines with no end: an inline command, a count.
    let mut s = connect(addr);
    exchange_then_closed(
        &mut s,
        &vec![b'a'; 70_000],
        b"-ERR Protocol error: too big inline request\r\n",
    );
    let mut s = connect(addr);
    let mut count = b"*".to_vec();
    count.extend(vec![b'1'; 70_000]);
    exchange_then_closed(
        &mut s,
        &count,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
}

#[test]
fn many_clients_share_one_store() {
    let addr = start(Config::default());
    let clients: Vec<_> = (0..32)
        .map(|t| {
            thread::spawn(move || {
                let mut s = connect(addr);
                let mut requests = Vec::new();
                for i in 0..200 {
                    requests.extend(c("INCR shared"));
                    requests.extend(c(&format!("SET own:{t}:{i} {i}")));
                }
                s.write_all(&requests).unwrap();
                let mut got = Vec::new();
                let mut buf = [0; 4096];
                // 200 integers and 200 `+OK`; count them as they arrive.
                let (mut ints, mut oks) = (0, 0);
                while ints < 200 || oks < 200 {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "server closed early");
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    ints = text.matches(':').count();
                    oks = text.matches("+OK").count();
                }
                for i in (0..200).step_by(37) {
                    exchange(
                        &mut s,
                        &c(&format!("GET own:{t}:{i}")),
                        format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
                    );
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let mut s = connect(addr);
    exchange(&mut s, &c("GET shared"), b"$4\r\n6400\r\n");
}
