//! `serde_json`'s reader-based deserializer and std's `BufReader`/`BufWriter`, unmodified, over
//! spindle sockets: `examples/json_lines.rs`'s server with a hundred clients at once on one thread.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/json_lines.rs"]
mod json_lines;
mod util;

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;

use serde_json::{Value, json};
use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::Barrier;

const CLIENTS: usize = 100;

/// Reads one reply line and parses it.
fn reply(reader: &mut BufReader<&TcpStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.ends_with('\n'),
        "reply not ended by a newline: {line:?}"
    );
    serde_json::from_str(&line).unwrap()
}

#[test]
fn hundred_json_clients_at_once_on_one_thread() {
    util::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        fiber::spawn(move || json_lines::serve(listener));
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                fiber::spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    let mut reader = BufReader::new(&stream);
                    // A request cut in two writes, the second after every client sent its first:
                    // the server's parser waits in the middle of a value for all of them at once.
                    let request =
                        format!(r#"{{"id": {i}, "method": "concat", "params": ["a", "{i}"]}}"#);
                    let (head, tail) = request.split_at(request.len() / 2);
                    (&stream).write_all(head.as_bytes()).unwrap();
                    barrier.wait();
                    (&stream).write_all(tail.as_bytes()).unwrap();
                    assert_eq!(
                        reply(&mut reader),
                        json!({ "id": i, "result": format!("a{i}") })
                    );
                    let requests = concat!(
                        r#"{"id": "m", "method": "max", "params": [3, -1, 7.5]}"#,
                        r#" {"id": null, "method": "nope", "params": []}"#,
                        "\n{\"id\": 2, \"method\": \"sum\", \"params\": [1, \"x\"]}",
                    );
                    (&stream).write_all(requests.as_bytes()).unwrap();
                    assert_eq!(reply(&mut reader), json!({ "id": "m", "result": 7.5 }));
                    assert_eq!(
                        reply(&mut reader),
                        json!({ "id": null, "error": "unknown method \"nope\"" })
                    );
                    assert_eq!(
                        reply(&mut reader),
                        json!({ "id": 2, "error": "sum takes numbers" })
                    );
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        json_lines::client(addr, 5, 50).unwrap();
    });
}

#[test]
fn malformed_json_is_answered_and_the_connection_closes() {
    util::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        fiber::spawn(move || json_lines::serve(listener));
        let stream = TcpStream::connect(addr).unwrap();
        (&stream)
            .write_all(br#"{"id": 1, "method": "sum", "params": [1]} {"id": 2,, }"#)
            .unwrap();
        let mut reader = BufReader::new(&stream);
        assert_eq!(reply(&mut reader), json!({ "id": 1, "result": 1.0 }));
        let error = reply(&mut reader);
        let message = error["error"].as_str().unwrap();
        assert!(message.starts_with("bad JSON: "), "{error}");
        let mut rest = String::new();
        assert_eq!(
            reader.read_line(&mut rest).unwrap(),
            0,
            "connection still open: {rest:?}"
        );
    });
}
