//! The TechEmpower plaintext and json endpoints on `may_minihttp` (may's own HTTP server), with
//! one may worker thread, to measure spindle's `http_server` example against.
//!
//! ```text
//! may_http [ADDR]        # ADDR defaults to 127.0.0.1:8081
//! ```

use std::io;

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use proto_peers::Message;

#[derive(Clone)]
struct Bench;

impl HttpService for Bench {
    fn call(&mut self, req: Request<'_, '_, '_>, rsp: &mut Response<'_>) -> io::Result<()> {
        match req.path() {
            "/plaintext" => {
                rsp.header("Content-Type: text/plain").body("Hello, World!");
            }
            "/json" => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(rsp.body_mut().writer(), &Message::HELLO)?;
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_string());
    may::config().set_workers(1);
    let server = HttpServer(Bench)
        .start(&addr)
        .expect("may_http: cannot listen");
    println!("may_http listening on {addr}");
    server.wait();
}
