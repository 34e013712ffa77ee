//! A JSON request/response server and its clients, all fibers on one thread, with
//! `serde_json`'s reader-based deserializer and `std::io::{BufReader, BufWriter}` — unmodified —
//! over `spindle::net::TcpStream`.
//!
//! ```text
//! cargo run --release --example json_lines [CLIENTS]     # 100 clients by default
//! ```
//!
//! Requests are JSON objects `{"id": 1, "method": "sum", "params": [1, 2.5]}` (methods `sum`,
//! `max`, `concat`); each gets one line `{"id":1,"result":3.5}` back, or
//! `{"id":1,"error":"…"}`. The server reads requests with
//! `serde_json::Deserializer::from_reader(BufReader::new(&stream)).into_iter()`, which pulls
//! bytes from the socket as the parser needs them; on a spindle socket a pull that has to wait
//! parks the fiber. Malformed JSON is answered with an error line and the connection closes.

use std::io::{self, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{Deserializer, Value, json};
use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};

#[allow(dead_code)] // unused when the integration tests include this file as a module
fn main() {
    let clients = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: json_lines [CLIENTS]   (a positive number, 100 by default)");
            std::process::exit(2);
        }
    };
    let result = spindle::run(move || -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        fiber::spawn(move || serve(listener));
        let started = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|i| fiber::spawn(move || client(addr, i, 20)))
            .collect();
        for h in handles {
            h.join().expect("a client fiber panicked")?;
        }
        println!(
            "{clients} JSON clients (20 requests each) on one thread in {:?}",
            started.elapsed()
        );
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("json_lines: {e}");
        std::process::exit(1);
    }
}

/// Accepts connections forever, each served by a fiber of its own.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                fiber::spawn(move || {
                    if let Err(e) = answer(&stream) {
                        eprintln!("json_lines: connection: {e}");
                    }
                });
            }
            Err(e) => eprintln!("json_lines: accept: {e}"),
        }
    }
}

/// Answers every request on one connection until the client closes it or sends bad JSON.
fn answer(stream: &TcpStream) -> io::Result<()> {
    let mut out = BufWriter::new(stream);
    let requests = Deserializer::from_reader(BufReader::new(stream)).into_iter::<Value>();
    for request in requests {
        let reply = match request {
            Ok(request) => call(&request),
            Err(e) if e.is_io() => return Err(e.into()),
            Err(e) => {
                serde_json::to_writer(&mut out, &json!({ "error": format!("bad JSON: {e}") }))?;
                out.write_all(b"\n")?;
                return out.flush();
            }
        };
        serde_json::to_writer(&mut out, &reply)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

/// The reply to one request.
pub fn call(request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").and_then(Value::as_array);
    let numbers = || -> Option<Vec<f64>> { params?.iter().map(Value::as_f64).collect() };
    let result = match (request.get("method").and_then(Value::as_str), params) {
        (_, None) => Err("params must be an array".to_string()),
        (Some("sum"), _) => numbers()
            .map(|n| json!(n.iter().sum::<f64>()))
            .ok_or_else(|| "sum takes numbers".to_string()),
        (Some("max"), _) => numbers()
            .and_then(|n| n.into_iter().reduce(f64::max))
            .map(|m| json!(m))
            .ok_or_else(|| "max takes one number or more".to_string()),
        (Some("concat"), Some(p)) => p
            .iter()
            .map(Value::as_str)
            .collect::<Option<String>>()
            .map(Value::String)
            .ok_or_else(|| "concat takes strings".to_string()),
        (Some(other), _) => Err(format!("unknown method {other:?}")),
        (None, _) => Err("method must be a string".to_string()),
    };
    match result {
        Ok(result) => json!({ "id": id, "result": result }),
        Err(error) => json!({ "id": id, "error": error }),
    }
}

/// One client: sends `count` requests, all before reading any reply, then checks every reply.
///
/// # Errors
///
/// Any I/O error, or `InvalidData` if a reply is not the expected one.
pub fn client(addr: SocketAddr, id: usize, count: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let mut out = BufWriter::new(&stream);
    for i in 0..count {
        let request = json!({ "id": i, "method": "sum", "params": [id, i, 0.5] });
        serde_json::to_writer(&mut out, &request)?;
    }
    out.flush()?;
    let mut replies = Deserializer::from_reader(BufReader::new(&stream)).into_iter::<Value>();
    for i in 0..count {
        let reply = replies.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "fewer replies than requests")
        })??;
        let expected = json!({ "id": i, "result": (id + i) as f64 + 0.5 });
        if reply != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{reply} instead of {expected}"),
            ));
        }
    }
    Ok(())
}
