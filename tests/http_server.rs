//! `examples/http_server.rs` under raw HTTP clients written here: keep-alive, pipelining,
//! malformed and oversized requests, slow clients. Answers are compared byte for byte, with the
//! `Date` header checked against the clock and then masked.
//!
//! The server runs in-process: the example file is included as a module and its `serve` runs on
//! a spindle runtime on a thread of its own; the clients are plain `std::net` threads.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/http_server.rs"]
mod http_server;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_server::{Config, HttpDate};

/// How long a client waits for any one read before the test is declared hung.
const HANG: Duration = Duration::from_secs(30);

fn start(config: Config) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || spindle::run(move || http_server::serve(listener.into(), config)));
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    s
}

/// The answer the server must give, with `<date>` standing for the date.
fn answer(status: &str, extra: &str, content_type: &str, body: &str, head: bool) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra}Server: spindle\r\nDate: <date>\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        if head { "" } else { body }
    )
}

/// `answer` with `Connection: close` as its last header.
fn closing(answer: &str) -> String {
    answer.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
}

fn plaintext() -> String {
    answer("200 OK", "", "text/plain", "Hello, World!", false)
}

fn json() -> String {
    answer(
        "200 OK",
        "",
        "application/json",
        r#"{"message":"Hello, World!"}"#,
        false,
    )
}

/// The answer to a refused request: no body, and the connection closes.
fn refusal(status: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: spindle\r\nDate: <date>\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Replaces every `Date` value with `<date>` after checking that it names the current second
/// (give or take a few, for a slow machine).
fn mask_dates(text: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let near: Vec<String> = (now - 5..=now + 1)
        .map(|s| String::from_utf8(HttpDate::at(s).as_bytes().to_vec()).unwrap())
        .collect();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("Date: ") {
        let (before, after) = rest.split_at(i + 6);
        out.push_str(before);
        let date = &after[..29.min(after.len())];
        assert!(
            near.iter().any(|d| d == date),
            "Date header {date:?} is not near now ({near:?})"
        );
        out.push_str("<date>");
        rest = &after[date.len()..];
    }
    out.push_str(rest);
    out
}

/// Reads exactly `len` bytes (or fails the test).
fn read_len(s: &mut TcpStream, len: usize) -> String {
    let mut buf = vec![0; len];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Reads until the server closes the connection.
fn read_to_end(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Sends `request` and checks that the server answers exactly `expected` (masked dates).
fn exchange(s: &mut TcpStream, request: &str, expected: &str) {
    s.write_all(request.as_bytes()).unwrap();
    // A masked date is as long as a real one: "<date>" is 6 bytes for 29.
    let got = read_len(s, expected.len() + 23 * expected.matches("<date>").count());
    assert_eq!(mask_dates(&got), expected);
}

const GET_PLAINTEXT: &str = "GET /plaintext HTTP/1.1\r\nHost: test\r\n\r\n";
const GET_JSON: &str = "GET /json HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn date_header_format() {
    assert_eq!(
        HttpDate::at(784_111_777).as_bytes(),
        b"Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        HttpDate::at(951_782_400).as_bytes(),
        b"Tue, 29 Feb 2000 00:00:00 GMT"
    );
    assert_eq!(HttpDate::at(0).as_bytes(), b"Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(
        HttpDate::at(4_102_444_799).as_bytes(),
        b"Thu, 31 Dec 2099 23:59:59 GMT"
    );
}

#[test]
fn plaintext_and_json_on_one_keep_alive_connection() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    for _ in 0..3 {
        exchange(&mut s, GET_PLAINTEXT, &plaintext());
        exchange(&mut s, GET_JSON, &json());
    }
    exchange(
        &mut s,
        "HEAD /json HTTP/1.1\r\nHost: test\r\n\r\n",
        &answer(
            "200 OK",
            "",
            "application/json",
            r#"{"message":"Hello, World!"}"#,
            true,
        ),
    );
    exchange(
        &mut s,
        "GET /plaintext?x=1 HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n",
        &plaintext(),
    );
    exchange(
        &mut s,
        "GET /nothing HTTP/1.1\r\nHost: test\r\n\r\n",
        &answer("404 Not Found", "", "text/plain", "Not Found\n", false),
    );
    // A body is read and skipped: the next request on the connection is still found.
    exchange(
        &mut s,
        "POST /json HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello",
        &answer(
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "text/plain",
            "Method Not Allowed\n",
            false,
        ),
    );
    exchange(&mut s, GET_PLAINTEXT, &plaintext());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let addr = start(Config::default());
    let mut s = connect(addr);
    let (mut requests, mut expected) = (String::new(), String::new());
    for i in 0..200 {
        if i % 3 == 0 {
            requests.push_str(GET_JSON);
            expected.push_str(&json());
        } else {
            requests.push_str(GET_PLAINTEXT);
            expected.push_str(&plaintext());
        }
    }
    // In one write, and again cut at awkward places (mid-line, between CR and LF).
    exchange(&mut s, &requests, &expected);
    let bytes = requests.as_bytes();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let bytes = bytes.to_vec();
        thread::spawn(move || {
            for chunk in bytes.chunks(997) {
                s.write_all(chunk).unwrap();
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let got = read_len(&mut s, expected.len() + 23 * 200);
    assert_eq!(mask_dates(&got), expected);
    writer.join().unwrap();
}

#[test]
fn connection_close_and_http10_end_the_connection() {
    let addr = start(Config::default());
    let closing = closing(&plaintext());

    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(mask_dates(&read_to_end(&mut s)), closing);

    // Requests pipelined after `Connection: close` are not answered.
    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\nGET /json HTTP/1.0\r\n\r\n")
        .unwrap();
    assert_eq!(mask_dates(&read_to_end(&mut s)), closing);

    let mut s = connect(addr);
    let kept = plaintext().replace("\r\n\r\n", "\r\nConnection: keep-alive\r\n\r\n");
    exchange(
        &mut s,
        "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &kept,
    );
    exchange(
        &mut s,
        "GET /plaintext HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        &kept,
    );
}

/// Sends `request` on a fresh connection and expects `status`, then the end of the connection.
fn refused(addr: SocketAddr, request: &[u8], status: &str) {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    assert_eq!(
        mask_dates(&read_to_end(&mut s)),
        refusal(status),
        "for {:?}",
        String::from_utf8_lossy(request)
    );
}

#[test]
fn malformed_requests_get_400_and_close() {
    let addr = start(Config::default());
    refused(addr, b"GARBAGE\r\n\r\n", "400 Bad Request");
    refused(
        addr,
        b"GET /plaintext HTTP/2.0\r\nHost: t\r\n\r\n",
        "400 Bad Request",
    );
    refused(
        addr,
        b"GET /plaintext HTTP/1.1\r\nBad Header\r\n\r\n",
        "400 Bad Request",
    );
    refused(addr, b"GET /plaintext HTTP/1.1\r\n\r\n", "400 Bad Request"); // no Host
    refused(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
        "400 Bad Request",
    );
    refused(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        "400 Bad Request",
    );
    refused(
        addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "400 Bad Request",
    );
    refused(
        addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "501 Not Implemented",
    );
    // Good requests before a bad one are answered first, in the same stream.
    let mut s = connect(addr);
    s.write_all(format!("{GET_PLAINTEXT}{GET_JSON}\x01\x02\r\n\r\n{GET_PLAINTEXT}").as_bytes())
        .unwrap();
    let expected = format!("{}{}{}", plaintext(), json(), refusal("400 Bad Request"));
    assert_eq!(mask_dates(&read_to_end(&mut s)), expected);
}

#[test]
fn oversized_requests_are_refused() {
    let config = Config {
        max_request: 1024,
        ..Config::default()
    };
    let addr = start(config);
    // A head longer than the buffer, never finished.
    let mut long = format!(
        "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Long: {}",
        "a".repeat(2000)
    );
    refused(addr, long.as_bytes(), "431 Request Header Fields Too Large");
    long.push_str("\r\n\r\n");
    refused(addr, long.as_bytes(), "431 Request Header Fields Too Large");
    // More headers than the parser takes.
    let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
    let request = format!("GET /plaintext HTTP/1.1\r\nHost: t\r\n{many}\r\n");
    refused(
        addr,
        request.as_bytes(),
        "431 Request Header Fields Too Large",
    );
    // A body announced longer than the buffer: refused before it is sent.
    refused(
        addr,
        b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
        "413 Content Too Large",
    );
    // Just under the limit is fine.
    let mut s = connect(addr);
    let pad = "b".repeat(1024 - GET_PLAINTEXT.len() - "X-Pad: \r\n".len());
    let request = format!("GET /plaintext HTTP/1.1\r\nHost: test\r\nX-Pad: {pad}\r\n\r\n");
    assert_eq!(request.len(), 1024);
    exchange(&mut s, &request, &plaintext());
}

/// Requests `/plaintext` over and over on one connection until `until`, checking each answer;
/// returns how many were answered.
fn keep_requesting(addr: SocketAddr, until: Instant) -> usize {
    let mut s = connect(addr);
    let mut answered = 0;
    while Instant::now() < until {
        exchange(&mut s, GET_PLAINTEXT, &plaintext());
        answered += 1;
        thread::sleep(Duration::from_millis(5));
    }
    answered
}

#[test]
fn slowloris_is_disconnected_while_others_are_served() {
    let config = Config {
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(900),
        ..Config::default()
    };
    let addr = start(config);
    let busy =
        thread::spawn(move || keep_requesting(addr, Instant::now() + Duration::from_secs(2)));

    // One byte, then silence longer than the idle timeout: 408 and the end.
    let started = Instant::now();
    let mut slow = connect(addr);
    slow.write_all(b"G").unwrap();
    assert_eq!(
        mask_dates(&read_to_end(&mut slow)),
        refusal("408 Request Timeout")
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}, before the idle timeout"
    );

    // A byte every 50 ms never trips the idle timeout, but the whole request must arrive
    // within `request_timeout`.
    let started = Instant::now();
    let mut trickle = connect(addr);
    let mut writer = trickle.try_clone().unwrap();
    let dripper = thread::spawn(move || {
        for byte in GET_PLAINTEXT.as_bytes().iter().cycle().take(200) {
            if writer.write_all(&[*byte]).is_err() {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    });
    let mut got = Vec::new();
    match trickle.read_to_end(&mut got) {
        Ok(_) => assert_eq!(
            mask_dates(&String::from_utf8(got).unwrap()),
            refusal("408 Request Timeout")
        ),
        // A byte that crossed the server's close turns it into a reset, which may drop the 408.
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}, before the request timeout"
    );
    assert!(dripper.join().unwrap(), "the slow writer was never cut off");

    assert!(
        busy.join().unwrap() > 10,
        "the other client was not served meanwhile"
    );
}

#[test]
fn idle_connection_is_closed_silently() {
    let config = Config {
        idle_timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let addr = start(config);
    let mut s = connect(addr);
    exchange(&mut s, GET_PLAINTEXT, &plaintext());
    let started = Instant::now();
    assert_eq!(read_to_end(&mut s), "");
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn many_connections_pipelining_at_once() {
    let addr = start(Config::default());
    let clients: Vec<_> = (0..64)
        .map(|_| {
            thread::spawn(move || {
                let mut s = connect(addr);
                for _ in 0..10 {
                    let requests = format!("{GET_PLAINTEXT}{GET_JSON}{GET_PLAINTEXT}");
                    let expected = format!("{}{}{}", plaintext(), json(), plaintext());
                    exchange(&mut s, &requests, &expected);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}
