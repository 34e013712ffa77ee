//! A Redis-protocol (RESP2) key-value server: one fiber per connection, a shared map behind
//! `spindle::sync::Mutex`.
//!
//! ```text
//! cargo run --release --example kv_server [ADDR]          # ADDR defaults to 127.0.0.1:6380
//! redis-cli -p 6380 set greeting hello
//! redis-benchmark -p 6380 -q -t ping,set,get,incr,mget -c 50 -n 100000 -P 16
//! ```
//!
//! Commands: `PING`, `ECHO`, `GET`, `SET key value [NX|XX] [EX s|PX ms|KEEPTTL] [GET]`, `DEL`,
//! `EXISTS`, `INCR`, `DECR`, `INCRBY`, `DECRBY`, `MGET`, `MSET`, `DBSIZE`, `FLUSHDB`,
//! `FLUSHALL`, `SELECT 0`, `QUIT`, and the parts of `CONFIG GET`, `COMMAND` and `INFO` that
//! `redis-cli` and `redis-benchmark` ask for when they start. Requests come as RESP arrays of
//! bulk strings, or as inline commands (`PING\r\n`, what `telnet` users type).
//!
//! Each connection reads, executes every complete command in its buffer, and writes all the
//! replies at once, so a pipeline of N commands that arrives in one read costs one `write`.
//! Errors in a command (`-ERR wrong number of arguments for 'get' command`, unknown commands,
//! bad integers) are replies and the connection goes on. Errors in the protocol itself (a
//! `*` count or `$` length that is not a number, a bulk longer than [`Config::max_bulk`] —
//! 512 MiB by default, as in Redis —, a bulk not followed by CRLF) are answered with
//! `-ERR Protocol error: …` and the connection is closed, as Redis does: the server can no
//! longer tell where the next command starts. A bulk's bytes are buffered as they arrive, never
//! reserved up front from the announced length.
//!
//! Keys live in [`SHARDS`] maps, each behind its own `spindle::sync::Mutex`, so that schedulers
//! on several threads would rarely meet on one lock. Expired keys are removed when touched and
//! by a sweeper fiber that every 100 ms removes up to [`SWEEP_BUDGET`] keys per shard whose
//! deadline has passed, soonest first (a heap of deadlines per shard, so a sweep never scans
//! the whole map).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::ops::Range;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::{Mutex, MutexGuard};

/// Limits of one server; [`Config::default`] is what `main` uses.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The longest bulk string accepted, in bytes (Redis's `proto-max-bulk-len`).
    pub max_bulk: usize,
    /// The most arguments one command may have.
    pub max_args: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_bulk: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
        }
    }
}

/// How many independently locked maps hold the keys.
pub const SHARDS: usize = 16;
/// The most expired keys one sweep removes from one shard.
pub const SWEEP_BUDGET: usize = 256;
/// The longest inline command, or `*`/`$` header line, before the CRLF (as in Redis).
const MAX_LINE: usize = 64 * 1024;
/// Read buffers start at this size and shrink back to it after holding a large command.
const BUF_SIZE: usize = 16 * 1024;
/// How long [`linger_close`] waits for the client to close, and how much it reads meanwhile.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

#[allow(dead_code)] // unused when the integration tests include this file as a module
fn main() {
    let addr = match std::env::args().nth(1) {
        Some(a) if a.starts_with('-') => {
            eprintln!("usage: kv_server [ADDR]   (ADDR defaults to 127.0.0.1:6380)");
            std::process::exit(2);
        }
        Some(a) => a,
        None => "127.0.0.1:6380".to_string(),
    };
    let served = spindle::run(move || {
        let listener = listen(&addr)?;
        println!("kv_server listening on {}", listener.local_addr()?);
        serve(listener, Config::default())
    });
    if let Err(e) = served {
        eprintln!("kv_server: {e}");
        std::process::exit(1);
    }
}

/// A listener on `addr` with a backlog of 4096 (std's `bind` asks for 128), so a burst of a
/// thousand connects is queued rather than dropped and retried a second later.
fn listen(addr: &str) -> io::Result<TcpListener> {
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
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(TcpListener::from(std::net::TcpListener::from(socket)))
}
/// Accepts connections forever, each served by a fiber of its own on this thread, all sharing
/// one [`Store`].
///
/// # Errors
///
/// Only errors of the listener itself end the loop; a failed connection is logged and dropped.
pub fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    let store = Arc::new(Store::new());
    let sweeper = Arc::downgrade(&store);
    fiber::Builder::new()
        .name("kv expiry sweeper".to_string())
        .spawn(move || {
            while let Some(store) = sweeper.upgrade() {
                store.sweep(Instant::now());
                drop(store);
                fiber::sleep(Duration::from_millis(100));
            }
        })?;
    let mut backoff = MIN_BACKOFF;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                let store = Arc::clone(&store);
                let spawned = fiber::Builder::new()
                    .name(format!("kv {peer}"))
                    .spawn(move || {
                        // A peer that resets its connection is ordinary under load.
                        if let Err(e) = handle(stream, &store, &config)
                            && !matches!(
                                e.kind(),
                                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                            )
                        {
                            eprintln!("kv_server: connection {peer}: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    eprintln!("kv_server: connection {peer} dropped: {e}");
                }
                // No yield here: `accept` counts against the turn's budget, which bounds a burst
                // of connections (see the http_server example).
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                eprintln!("kv_server: accept: {e}; retrying in {backoff:?}");
                fiber::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // EINVAL: the socket is not listening, and waiting will not change that.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
            Err(e) => eprintln!("kv_server: accept: {e}"),
        }
    }
}

/// Serves one connection until the peer closes it, sends `QUIT`, or breaks the protocol.
fn handle(mut stream: TcpStream, store: &Store, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF_SIZE];
    let (mut start, mut filled) = (0usize, 0usize);
    let mut args: Vec<Range<usize>> = Vec::new();
    let mut out = Vec::with_capacity(BUF_SIZE);
    loop {
        let mut close = false;
        while filled > start {
            args.clear();
            match parse(&buf[start..filled], config, &mut args) {
                Ok(Parsed::Command(len)) => {
                    let input = &buf[start..start + len];
                    let argv: Args<'_> = Args {
                        input,
                        ranges: &args,
                    };
                    start += len;
                    if !args.is_empty() && execute(&argv, store, &mut out) == Flow::Quit {
                        close = true;
                        break;
                    }
                }
                Ok(Parsed::Incomplete { need }) => {
                    // Grow the buffer to hold the whole command when its size is known.
                    let need = need.unwrap_or(filled - start + 1);
                    if start + need > buf.len() {
                        buf.copy_within(start..filled, 0);
                        (start, filled) = (0, filled - start);
                        if need > buf.len() {
                            buf.resize(need.max(buf.len() * 2), 0);
                        }
                    }
                    break;
                }
                Err(message) => {
                    out.extend_from_slice(b"-ERR Protocol error: ");
                    out.extend_from_slice(message.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
            if out.capacity() > 4 * BUF_SIZE {
                out.shrink_to(BUF_SIZE);
            }
        }
        if close {
            linger_close(&stream);
            return Ok(());
        }
        if start == filled {
            (start, filled) = (0, 0);
            if buf.len() > BUF_SIZE {
                buf.truncate(BUF_SIZE);
                buf.shrink_to_fit();
            }
        } else if filled == buf.len() {
            buf.copy_within(start..filled, 0);
            (start, filled) = (0, filled - start);
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Ends a connection the server chose to end, so that its last reply arrives.
///
/// Closing a socket whose receive queue still holds bytes (the rest of a rejected bulk, commands
/// pipelined after `QUIT`) makes the kernel send a reset, which can destroy the reply before the
/// client reads it. So the server half-closes first and drops what still comes, until the
/// client closes too, [`LINGER`] passes, or [`LINGER_BYTES`] arrived.
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

/// The outcome of parsing the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A whole command of this many bytes; its arguments were pushed as ranges of the buffer
    /// (none for an empty inline line or `*0`, which Redis ignores too).
    Command(usize),
    /// More bytes are needed; `need` is the length of the whole command when already known.
    Incomplete { need: Option<usize> },
}

/// Parses one command at the start of `input`, pushing the byte ranges of its arguments to
/// `args`. An error is a protocol error: the message to send before closing.
fn parse(
    input: &[u8],
    config: &Config,
    args: &mut Vec<Range<usize>>,
) -> Result<Parsed, &'static str> {
    if input[0] != b'*' {
        return parse_inline(input, args);
    }
    let Some((count, mut pos)) = header_line(input, 0, "too big mbulk count string")? else {
        return Ok(Parsed::Incomplete { need: None });
    };
    let count = parse_int(count).ok_or("invalid multibulk length")?;
    if count <= 0 {
        return Ok(Parsed::Command(pos));
    }
    if count as u64 > config.max_args as u64 {
        return Err("invalid multibulk length");
    }
    for _ in 0..count {
        if pos == input.len() {
            return Ok(Parsed::Incomplete { need: None });
        }
        if input[pos] != b'$' {
            return Err("expected '$'");
        }
        let Some((len, body)) = header_line(input, pos, "too big bulk count string")? else {
            return Ok(Parsed::Incomplete { need: None });
        };
        let len = parse_int(len)
            .filter(|&l| l >= 0 && l as u64 <= config.max_bulk as u64)
            .ok_or("invalid bulk length")? as usize;
        let end = body + len;
        if input.len() < end + 2 {
            // Ask for room for this bulk and the next header at least.
            return Ok(Parsed::Incomplete {
                need: Some(end + 2 + 64),
            });
        }
        if &input[end..end + 2] != b"\r\n" {
            return Err("bulk string not followed by CRLF");
        }
        args.push(body..end);
        pos = end + 2;
    }
    Ok(Parsed::Command(pos))
}

/// Reads the `*N` or `$N` line starting at `at`: the digits after the type byte and where the
/// next line starts, or `None` if the CRLF has not arrived.
fn header_line<'a>(
    input: &'a [u8],
    at: usize,
    too_long: &'static str,
) -> Result<Option<(&'a [u8], usize)>, &'static str> {
    let rest = &input[at..];
    match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
        Some(nl) if nl >= 1 && rest[nl - 1] == b'\r' => Ok(Some((&rest[1..nl - 1], at + nl + 1))),
        Some(_) => Err("header line not ended by CRLF"),
        None if rest.len() >= MAX_LINE => Err(too_long),
        None => Ok(None),
    }
}

/// An inline command: words separated by spaces, up to LF (a CR before it is dropped).
fn parse_inline(input: &[u8], args: &mut Vec<Range<usize>>) -> Result<Parsed, &'static str> {
    let Some(nl) = input.iter().take(MAX_LINE).position(|&b| b == b'\n') else {
        if input.len() >= MAX_LINE {
            return Err("too big inline request");
        }
        return Ok(Parsed::Incomplete { need: None });
    };
    let line_end = if nl > 0 && input[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let mut i = 0;
    while i < line_end {
        if input[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let word = i;
        while i < line_end && !input[i].is_ascii_whitespace() {
            i += 1;
        }
        args.push(word..i);
    }
    Ok(Parsed::Command(nl + 1))
}

/// A decimal integer as RESP writes them: an optional `-` and at least one digit, nothing else.
fn parse_int(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

/// The arguments of one command, as slices of the connection's buffer.
struct Args<'a> {
    input: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    fn len(&self) -> usize {
        self.ranges.len()
    }

    fn get(&self, i: usize) -> &'a [u8] {
        &self.input[self.ranges[i].clone()]
    }

    fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|r| &self.input[r.clone()])
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Runs one command and appends its reply to `out`.
fn execute(args: &Args<'_>, store: &Store, out: &mut Vec<u8>) -> Flow {
    let name = args.get(0);
    let n = args.len();
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    // (minimum argument count including the name, maximum or usize::MAX)
    let arity = |min: usize, max: usize| n >= min && n <= max;
    if is("GET") && arity(2, 2) {
        let now = Instant::now();
        let mut shard = store.shard(args.get(1));
        match live(&mut shard, args.get(1), now) {
            Some(entry) => bulk(out, &entry.value),
            None => nil(out),
        }
    } else if is("SET") && arity(3, usize::MAX) {
        set(args, store, out);
    } else if is("PING") && arity(1, 2) {
        if n == 1 {
            out.extend_from_slice(b"+PONG\r\n");
        } else {
            bulk(out, args.get(1));
        }
    } else if is("INCR") && arity(2, 2) {
        incr_by(store, args.get(1), 1, out);
    } else if is("DECR") && arity(2, 2) {
        incr_by(store, args.get(1), -1, out);
    } else if (is("INCRBY") || is("DECRBY")) && arity(3, 3) {
        match parse_int(args.get(2)) {
            Some(by) if is("INCRBY") => incr_by(store, args.get(1), by, out),
            Some(by) if by != i64::MIN => incr_by(store, args.get(1), -by, out),
            _ => error(out, "value is not an integer or out of range"),
        }
    } else if is("MGET") && arity(2, usize::MAX) {
        let now = Instant::now();
        array(out, n - 1);
        for key in args.iter().skip(1) {
            match live(&mut store.shard(key), key, now) {
                Some(entry) => bulk(out, &entry.value),
                None => nil(out),
            }
        }
    } else if is("MSET") && n >= 3 && n % 2 == 1 {
        for i in (1..n).step_by(2) {
            let entry = Entry {
                value: args.get(i + 1).to_vec(),
                expires: None,
            };
            store.shard(args.get(i)).insert(args.get(i), entry);
        }
        out.extend_from_slice(b"+OK\r\n");
    } else if (is("DEL") || is("EXISTS")) && arity(2, usize::MAX) {
        let now = Instant::now();
        let mut count = 0;
        for key in args.iter().skip(1) {
            let mut shard = store.shard(key);
            if is("DEL") {
                count += i64::from(shard.remove(key).is_some_and(|e| !e.expired(now)));
            } else {
                count += i64::from(live(&mut shard, key, now).is_some());
            }
        }
        integer(out, count);
    } else if is("ECHO") && arity(2, 2) {
        bulk(out, args.get(1));
    } else if is("DBSIZE") && arity(1, 1) {
        let keys = (0..SHARDS).map(|i| store.lock(i).len()).sum::<usize>();
        integer(out, keys as i64);
    } else if (is("FLUSHDB") || is("FLUSHALL")) && arity(1, 2) {
        (0..SHARDS).for_each(|i| store.lock(i).clear());
        out.extend_from_slice(b"+OK\r\n");
    } else if is("SELECT") && arity(2, 2) {
        if args.get(1) == b"0" {
            out.extend_from_slice(b"+OK\r\n");
        } else {
            error(out, "DB index is out of range");
        }
    } else if is("CONFIG") && n >= 2 {
        config(args, out);
    } else if is("COMMAND") {
        // redis-cli asks for `COMMAND DOCS` to show hints; it copes with knowing none.
        if n >= 2 && args.get(1).eq_ignore_ascii_case(b"COUNT") {
            integer(out, COMMANDS.len() as i64);
        } else {
            array(out, 0);
        }
    } else if is("INFO") {
        bulk(
            out,
            b"# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n",
        );
    } else if is("QUIT") {
        out.extend_from_slice(b"+OK\r\n");
        return Flow::Quit;
    } else if COMMANDS.iter().any(|c| is(c)) {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        error(
            out,
            &format!("wrong number of arguments for '{lower}' command"),
        );
    } else {
        unknown_command(args, out);
    }
    Flow::Continue
}

/// Every command name this server knows, for `COMMAND COUNT` and the arity error.
const COMMANDS: &[&str] = &[
    "GET", "SET", "PING", "INCR", "DECR", "INCRBY", "DECRBY", "MGET", "MSET", "DEL", "EXISTS",
    "ECHO", "DBSIZE", "FLUSHDB", "FLUSHALL", "SELECT", "CONFIG", "COMMAND", "INFO", "QUIT",
];

fn unknown_command(args: &Args<'_>, out: &mut Vec<u8>) {
    let mut message = format!(
        "unknown command '{}', with args beginning with:",
        printable(args.get(0))
    );
    for arg in args.iter().skip(1).take(8) {
        message.push_str(&format!(" '{}'", printable(arg)));
    }
    error(out, &message);
}

/// An argument quoted in an error line: at most 128 bytes, no CR or LF (they would end the
/// reply early), lossily decoded.
fn printable(arg: &[u8]) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(128)])
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// `SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL] [GET]`.
fn set(args: &Args<'_>, store: &Store, out: &mut Vec<u8>) {
    let (mut nx, mut xx, mut keep_ttl, mut get) = (false, false, false, false);
    let mut ttl: Option<Duration> = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("NX") && !xx {
            nx = true;
        } else if is("XX") && !nx {
            xx = true;
        } else if is("GET") {
            get = true;
        } else if is("KEEPTTL") && ttl.is_none() {
            keep_ttl = true;
        } else if (is("EX") || is("PX")) && ttl.is_none() && !keep_ttl && i + 1 < args.len() {
            let Some(amount) = parse_int(args.get(i + 1)) else {
                return error(out, "value is not an integer or out of range");
            };
            if amount <= 0 {
                return error(out, "invalid expire time in 'set' command");
            }
            ttl = Some(if is("EX") {
                Duration::from_secs(amount as u64)
            } else {
                Duration::from_millis(amount as u64)
            });
            i += 1;
        } else {
            return error(out, "syntax error");
        }
        i += 1;
    }
    let now = Instant::now();
    let key = args.get(1);
    let mut shard = store.shard(key);
    let old = live(&mut shard, key, now);
    let (exists, old_expires) = (old.is_some(), old.and_then(|e| e.expires));
    if get {
        match &old {
            Some(entry) => bulk(out, &entry.value),
            None => nil(out),
        }
    }
    if (nx && exists) || (xx && !exists) {
        if !get {
            nil(out);
        }
        return;
    }
    let expires = match ttl {
        Some(ttl) => Some(
            now.checked_add(ttl)
                .unwrap_or(now + Duration::from_secs(1 << 40)),
        ),
        None if keep_ttl => old_expires,
        None => None,
    };
    let value = args.get(2).to_vec();
    shard.insert(key, Entry { value, expires });
    if !get {
        out.extend_from_slice(b"+OK\r\n");
    }
}

/// `INCR`, `DECR`, `INCRBY`, `DECRBY`: the value must be a decimal `i64`; the TTL is kept.
fn incr_by(store: &Store, key: &[u8], by: i64, out: &mut Vec<u8>) {
    let now = Instant::now();
    let mut shard = store.shard(key);
    let current = match live(&mut shard, key, now) {
        Some(entry) => match parse_int(&entry.value) {
            Some(v) => v,
            None => return error(out, "value is not an integer or out of range"),
        },
        None => 0,
    };
    let Some(next) = current.checked_add(by) else {
        return error(out, "increment or decrement would overflow");
    };
    let mut digits = Vec::with_capacity(20);
    append_int(&mut digits, next);
    match shard.map.get_mut(key) {
        Some(entry) => entry.value = digits,
        None => shard.insert(
            key,
            Entry {
                value: digits,
                expires: None,
            },
        ),
    }
    integer(out, next);
}

/// `CONFIG GET name`: `redis-benchmark` asks for `save` and `appendonly` before it starts.
fn config(args: &Args<'_>, out: &mut Vec<u8>) {
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"GET") && args.len() >= 3 {
        let known: &[(&[u8], &[u8])] =
            &[(b"save", b""), (b"appendonly", b"no"), (b"databases", b"1")];
        let found: Vec<_> = args
            .iter()
            .skip(2)
            .filter_map(|p| known.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)))
            .collect();
        array(out, found.len() * 2);
        for (k, v) in found {
            bulk(out, k);
            bulk(out, v);
        }
    } else if sub.eq_ignore_ascii_case(b"RESETSTAT") {
        out.extend_from_slice(b"+OK\r\n");
    } else {
        error(out, "CONFIG supports only GET and RESETSTAT here");
    }
}

fn bulk(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'$');
    append_int(out, value.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    append_int(out, n);
    out.extend_from_slice(b"\r\n");
}

fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    append_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

fn error(out: &mut Vec<u8>, message: &str) {
    out.extend_from_slice(b"-ERR ");
    out.extend_from_slice(message.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn append_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut n = n.unsigned_abs();
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

/// One value and when it expires.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

/// The keys behind one lock, and the deadlines of those that expire, soonest first.
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Vec<u8>, Entry>,
    /// `(deadline, key)` for every value stored with a TTL. An item whose key was overwritten or
    /// deleted since is stale: the sweeper finds the entry's deadline changed and skips it.
    deadlines: BinaryHeap<Reverse<(Instant, Vec<u8>)>>,
}

impl Shard {
    fn insert(&mut self, key: &[u8], entry: Entry) {
        if let Some(at) = entry.expires {
            self.deadlines.push(Reverse((at, key.to_vec())));
        }
        match self.map.get_mut(key) {
            Some(old) => *old = entry,
            None => {
                self.map.insert(key.to_vec(), entry);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.map.remove(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
    }

    /// Removes up to `budget` keys whose deadline has passed, soonest first: the work per call
    /// is bounded however many keys the shard holds.
    fn sweep(&mut self, now: Instant, budget: usize) {
        for _ in 0..budget {
            match self.deadlines.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => return,
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                return;
            };
            if self.map.get(&key).is_some_and(|e| e.expires == Some(at)) {
                self.map.remove(&key);
            }
        }
    }
}

/// The live entry of `key`, removing it first if it has expired.
fn live<'s>(shard: &'s mut Shard, key: &[u8], now: Instant) -> Option<&'s Entry> {
    if shard.map.get(key)?.expired(now) {
        shard.map.remove(key);
        return None;
    }
    shard.map.get(key)
}

/// The keys and values, in [`SHARDS`] maps each behind its own lock.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Locks the map that holds `key`.
    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        // FNV-1a: cheap, and only has to spread keys over a few maps.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.lock((h % SHARDS as u64) as usize)
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Shard> {
        // A panic while a shard was locked left no half-done update behind: every change to a
        // map is one insert or remove.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes expired keys, at most [`SWEEP_BUDGET`] per shard.
    fn sweep(&self, now: Instant) {
        for i in 0..SHARDS {
            self.lock(i).sweep(now, SWEEP_BUDGET);
        }
    }
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}
