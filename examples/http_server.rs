//! An HTTP/1.1 server: one fiber per connection, written in plain blocking style.
//!
//! ```text
//! cargo run --release --example http_server [ADDR] [--threads N] [--yields-before-sleep N]
//!                                            # ADDR defaults to 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/plaintext
//! wrk -t1 -c50 --latency http://127.0.0.1:8080/plaintext
//! ```
//!
//! The two TechEmpower endpoints are served: `GET /plaintext` answers `Hello, World!` as
//! `text/plain`, `GET /json` answers `{"message":"Hello, World!"}` serialised per request with
//! `serde_json`. `HEAD` works on both; other methods get `405`, other paths `404`.
//!
//! Each connection is a loop of "read, answer every complete request in the buffer, write all
//! the answers at once": keep-alive is the default for HTTP/1.1 (and for HTTP/1.0 with
//! `Connection: keep-alive`), and pipelined requests that arrive in one read are answered with
//! one `write`. Requests are parsed with `httparse`. What the server refuses, and how:
//!
//! | input                                               | answer, then close          |
//! |-----------------------------------------------------|-----------------------------|
//! | not HTTP/1.x, a bad header, HTTP/1.1 without `Host`, a bad `Content-Length` | `400 Bad Request` |
//! | head longer than the request buffer ([`Config::max_request`]) or over 32 headers | `431 Request Header Fields Too Large` |
//! | head + body longer than the request buffer          | `413 Content Too Large`     |
//! | `Transfer-Encoding` (chunked bodies are not decoded) | `501 Not Implemented`      |
//! | a request begun but not finished within [`Config::request_timeout`] (slowloris) | `408 Request Timeout` |
//! | no byte for [`Config::idle_timeout`] between requests | (closed silently)          |
//!
//! The `Date` header is formatted once a second per thread and reused in between.
//! `--threads N` runs N schedulers, one per thread (`Runtime::run_on_each`), each accepting
//! on its own `SO_REUSEPORT` listener bound to ADDR; the kernel spreads the connections.
//! `--yields-before-sleep N` sets how often a scheduler that runs out of work offers its CPU
//! before it sleeps (`runtime::Builder::yields_before_sleep`; 0: never), to measure what the
//! default buys.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};

/// Limits of one server; [`Config::default`] is what `main` uses.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// How long a connection may stay silent between requests before it is closed.
    pub idle_timeout: Duration,
    /// How long a client may take to send one whole request once its first byte arrived.
    pub request_timeout: Duration,
    /// The request buffer of each connection: the longest head plus body accepted.
    pub max_request: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            max_request: 16 * 1024,
        }
    }
}

/// The first pause after an out-of-descriptors `accept`; doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// More headers than this in one request is a `431`.
const MAX_HEADERS: usize = 32;
const SERVER: &[u8] = b"Server: spindle\r\n";
const PLAINTEXT: &[u8] = b"Hello, World!";
/// How long [`linger_close`] waits for the client to close, and how much it reads meanwhile.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

#[allow(dead_code)] // unused when the integration tests include this file as a module
fn main() {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut threads = 1usize;
    let mut builder = spindle::Runtime::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                threads = match args.next().map(|n| n.parse()) {
                    Some(Ok(n)) if n > 0 => n,
                    _ => usage("--threads needs a positive number"),
                }
            }
            "--yields-before-sleep" => match args.next().map(|n| n.parse()) {
                Some(Ok(n)) => builder = builder.yields_before_sleep(n),
                _ => usage("--yields-before-sleep needs a number, 0 or more"),
            },
            "-h" | "--help" => usage(""),
            _ if arg.starts_with('-') => usage(&format!("unknown option {arg}")),
            _ => addr = arg,
        }
    }
    let served = if threads == 1 {
        let runtime = builder.build().expect("these runtime settings are valid");
        runtime.run(move || {
            let listener = listen(&addr, false)?;
            println!("http_server listening on {}", listener.local_addr()?);
            serve(listener, Config::default())
        })
    } else {
        serve_on_each(builder.threads(threads), &addr, threads)
    };
    if let Err(e) = served {
        eprintln!("http_server: {e}");
        std::process::exit(1);
    }
}

#[allow(dead_code)]
fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("http_server: {problem}");
    }
    eprintln!(
        "usage: http_server [ADDR] [--threads N] [--yields-before-sleep N]   \
         (ADDR defaults to 127.0.0.1:8080)"
    );
    std::process::exit(2);
}

/// Thread-per-core: `threads` schedulers, each serving its own `SO_REUSEPORT` listener.
#[allow(dead_code)]
fn serve_on_each(builder: spindle::runtime::Builder, addr: &str, threads: usize) -> io::Result<()> {
    // Bound up front, so that port 0 means one port for all, and errors come out here.
    let first = listen(addr, true)?;
    let local = first.local_addr()?;
    let mut listeners = vec![Some(first)];
    for _ in 1..threads {
        listeners.push(Some(listen(&local.to_string(), true)?));
    }
    println!("http_server listening on {local} with {threads} schedulers");
    let listeners = std::sync::Mutex::new(listeners);
    let runtime = builder.build()?;
    let served = runtime.run_on_each(move |index| {
        let listener = listeners.lock().unwrap()[index].take();
        serve(
            listener.expect("one listener per scheduler"),
            Config::default(),
        )
    });
    served.into_iter().collect()
}

/// A listener on `addr` with a backlog of 4096 (std's `bind` asks for 128), so a burst of a
/// thousand connects is queued rather than dropped and retried a second later; with
/// `SO_REUSEPORT` when `reuse_port` (one listener per scheduler).
fn listen(addr: &str, reuse_port: bool) -> io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr}: no address to listen on"),
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(TcpListener::from(std::net::TcpListener::from(socket)))
}
/// Accepts connections forever, each served by a fiber of its own on this thread.
///
/// # Errors
///
/// Only errors of the listener itself end the loop; a failed connection is logged and dropped.
pub fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    let mut backoff = MIN_BACKOFF;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                let spawned = fiber::Builder::new()
                    .name(format!("http {peer}"))
                    .spawn(move || {
                        // A peer that resets its connection is ordinary under load.
                        if let Err(e) = handle(stream, &config)
                            && !matches!(
                                e.kind(),
                                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                            )
                        {
                            eprintln!("http_server: connection {peer}: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    eprintln!("http_server: connection {peer} dropped: {e}");
                }
                // No yield here: `accept` counts against the turn's budget like every operation
                // that does not wait, so a burst of connections gives the thread back after 128
                // accepts or 1 ms. Yielding after each one made the last connection of a burst
                // of 1000 wait for about 1000 turns of the others (wrk's p99 at c=1000 on a
                // fresh server: 66-72 ms against 25-28 ms without).
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                eprintln!("http_server: accept: {e}; retrying in {backoff:?}");
                fiber::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // EINVAL: the socket is not listening, and waiting will not change that.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
            // ECONNABORTED and friends concern one connection, not the listener.
            Err(e) => eprintln!("http_server: accept: {e}"),
        }
    }
}

/// What one parsed request asks for, copied out of the buffer it was parsed from.
struct Request {
    route: Route,
    head: bool,
    keep_alive: bool,
    http10: bool,
    body_len: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Plaintext,
    Json,
    MethodNotAllowed,
    NotFound,
}

/// Why a request is refused; every refusal closes the connection after its answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refusal {
    BadRequest,
    HeadTooLarge,
    BodyTooLarge,
    Timeout,
    TransferEncoding,
}

impl Refusal {
    fn status_line(self) -> &'static [u8] {
        match self {
            Refusal::BadRequest => b"HTTP/1.1 400 Bad Request\r\n",
            Refusal::HeadTooLarge => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            Refusal::BodyTooLarge => b"HTTP/1.1 413 Content Too Large\r\n",
            Refusal::Timeout => b"HTTP/1.1 408 Request Timeout\r\n",
            Refusal::TransferEncoding => b"HTTP/1.1 501 Not Implemented\r\n",
        }
    }
}

/// Serves one connection until the peer closes it, a request asks to close, a request is
/// refused, or a timeout expires.
fn handle(mut stream: TcpStream, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut timeout = config.idle_timeout;
    stream.set_read_timeout(Some(timeout))?;
    // Requests are parsed in place from `buf[start..filled]`; answers collect in `out` and
    // leave in one write per batch of reads.
    let mut buf = vec![0u8; config.max_request];
    let (mut start, mut filled) = (0usize, 0usize);
    let mut out = Vec::with_capacity(4096);
    let mut json = Vec::with_capacity(64);
    // When the first byte of the request now in the buffer arrived.
    let mut begun: Option<Instant> = None;
    loop {
        let mut close = None;
        if filled > start {
            DATE.with_borrow_mut(HttpDate::refresh);
        }
        while filled > start {
            match parse(&buf[start..filled], buf.len()) {
                Ok(Some((len, request))) => {
                    respond(&request, &mut out, &mut json);
                    start += len;
                    if !request.keep_alive {
                        close = Some(None);
                        break;
                    }
                }
                Ok(None) => break,
                Err(refusal) => {
                    close = Some(Some(refusal));
                    break;
                }
            }
        }
        if start > 0 {
            // A request ended: the timeout of the next one starts with its first byte.
            begun = None;
        }
        if start == filled {
            (start, filled) = (0, 0);
        } else if start > 0 {
            buf.copy_within(start..filled, 0);
            (start, filled) = (0, filled - start);
        }
        if close.is_none() && filled == buf.len() {
            // The buffer holds part of one request and nothing more fits: were the head
            // complete, `parse` would have answered 413 already.
            close = Some(Some(Refusal::HeadTooLarge));
        }
        if close.is_none() && filled > 0 {
            let since = *begun.get_or_insert_with(Instant::now);
            let left = config.request_timeout.saturating_sub(since.elapsed());
            if left.is_zero() {
                close = Some(Some(Refusal::Timeout));
            } else if left.min(config.idle_timeout) != timeout {
                timeout = left.min(config.idle_timeout);
                stream.set_read_timeout(Some(timeout))?;
            }
        } else if timeout != config.idle_timeout {
            timeout = config.idle_timeout;
            stream.set_read_timeout(Some(timeout))?;
        }
        if let Some(Some(refusal)) = close {
            refuse(refusal, &mut out);
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if close.is_some() {
            linger_close(&stream);
            return Ok(());
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(()),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if filled > 0 {
                    DATE.with_borrow_mut(HttpDate::refresh);
                    refuse(Refusal::Timeout, &mut out);
                    stream.write_all(&out)?;
                    linger_close(&stream);
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Ends a connection the server chose to end, so that its last answer arrives.
///
/// Closing a socket whose receive queue still holds bytes (the rest of a refused request,
/// requests pipelined after `Connection: close`) makes the kernel send a reset, and a reset can
/// destroy the answer before the client reads it. So the server first half-closes (the client
/// reads the answer, then end of stream) and reads and drops what still comes, until the client
/// closes too, [`LINGER`] passes, or [`LINGER_BYTES`] arrived.
fn linger_close(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&mut &*stream).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Parses the request at the start of `bytes`: `Ok(None)` if it is not complete yet, else its
/// length (head and body) and what it asks for. `capacity` is the size of the request buffer.
fn parse(bytes: &[u8], capacity: usize) -> Result<Option<(usize, Request)>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::BadRequest),
    };
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut host = false;
    let mut body_len: Option<usize> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(Refusal::BadRequest)?;
            // Two different lengths would let two parsers disagree about where the body ends.
            if body_len.is_some_and(|l| l != len) {
                return Err(Refusal::BadRequest);
            }
            body_len = Some(len);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::TransferEncoding);
        } else if h.name.eq_ignore_ascii_case("host") {
            host = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        }
    }
    if !http10 && !host {
        return Err(Refusal::BadRequest);
    }
    let body_len = body_len.unwrap_or(0);
    if head_len.saturating_add(body_len) > capacity {
        return Err(Refusal::BodyTooLarge);
    }
    if bytes.len() < head_len + body_len {
        return Ok(None);
    }
    let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head = method == "HEAD";
    let route = match path {
        "/plaintext" | "/json" if method != "GET" && !head => Route::MethodNotAllowed,
        "/plaintext" => Route::Plaintext,
        "/json" => Route::Json,
        _ => Route::NotFound,
    };
    let request = Request {
        route,
        head,
        keep_alive,
        http10,
        body_len,
    };
    Ok(Some((head_len + request.body_len, request)))
}

/// The body of `GET /json`, serialised per request as TechEmpower asks.
struct Message {
    message: &'static str,
}

impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Message", 1)?;
        s.serialize_field("message", self.message)?;
        s.end()
    }
}

/// Appends the answer to `request` to `out`; `json` is scratch space for the JSON body.
fn respond(request: &Request, out: &mut Vec<u8>, json: &mut Vec<u8>) {
    let (status, content_type, body): (&[u8], &[u8], &[u8]) = match request.route {
        Route::Plaintext => (b"HTTP/1.1 200 OK\r\n", b"text/plain", PLAINTEXT),
        Route::Json => {
            json.clear();
            serde_json::to_writer(
                &mut *json,
                &Message {
                    message: "Hello, World!",
                },
            )
            .expect("serialising a struct of one string into a Vec cannot fail");
            (b"HTTP/1.1 200 OK\r\n", b"application/json", json)
        }
        Route::MethodNotAllowed => (
            b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n",
            b"text/plain",
            b"Method Not Allowed\n",
        ),
        Route::NotFound => (b"HTTP/1.1 404 Not Found\r\n", b"text/plain", b"Not Found\n"),
    };
    out.extend_from_slice(status);
    out.extend_from_slice(SERVER);
    DATE.with_borrow(|date| date.append_header(out));
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\nContent-Length: ");
    append_decimal(out, body.len());
    out.extend_from_slice(b"\r\n");
    if !request.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if request.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !request.head {
        out.extend_from_slice(body);
    }
}

/// Appends the answer for a refused request, which also closes the connection.
fn refuse(refusal: Refusal, out: &mut Vec<u8>) {
    out.extend_from_slice(refusal.status_line());
    out.extend_from_slice(SERVER);
    DATE.with_borrow(|date| date.append_header(out));
    out.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");
}

fn append_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

thread_local! {
    /// This thread's `Date` header, reformatted when the second changes.
    static DATE: RefCell<HttpDate> = const { RefCell::new(HttpDate { secs: u64::MAX, text: [0; 29] }) };
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) and the second it names.
#[derive(Debug)]
pub struct HttpDate {
    secs: u64,
    text: [u8; 29],
}

impl HttpDate {
    /// Reformats the date if the clock has moved to another second since the last call.
    fn refresh(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.secs {
            *self = HttpDate::at(now);
        }
    }

    /// The date `secs` seconds after the Unix epoch.
    pub fn at(secs: u64) -> HttpDate {
        const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let days = secs / 86_400;
        let (year, month, day) = civil_from_days(days);
        let rem = secs % 86_400;
        let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
        let mut text = [0u8; 29];
        text[..3].copy_from_slice(DAYS[(days % 7) as usize]);
        text[3..5].copy_from_slice(b", ");
        two_digits(&mut text[5..7], day);
        text[7] = b' ';
        text[8..11].copy_from_slice(MONTHS[month as usize - 1]);
        text[11] = b' ';
        two_digits(&mut text[12..14], year / 100);
        two_digits(&mut text[14..16], year % 100);
        text[16] = b' ';
        two_digits(&mut text[17..19], h);
        text[19] = b':';
        two_digits(&mut text[20..22], m);
        text[22] = b':';
        two_digits(&mut text[23..25], s);
        text[25..29].copy_from_slice(b" GMT");
        HttpDate { secs, text }
    }

    /// The formatted date.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    fn append_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&self.text);
        out.extend_from_slice(b"\r\n");
    }
}

fn two_digits(dst: &mut [u8], n: u64) {
    dst[0] = b'0' + (n / 10 % 10) as u8;
    dst[1] = b'0' + (n % 10) as u8;
}

/// Year, month (1–12) and day (1–31) of the proleptic Gregorian calendar for a count of days
/// since 1970-01-01 (H. Hinnant's `civil_from_days`, for days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
