//! The TechEmpower plaintext and json endpoints on hyper 1 over a tokio `current_thread`
//! runtime, one task per connection, to measure spindle's `http_server` example against.
//!
//! ```text
//! hyper_http [ADDR]      # ADDR defaults to 127.0.0.1:8082
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use proto_peers::Message;
use tokio::net::TcpListener;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (content_type, body) = match req.uri().path() {
        "/plaintext" => ("text/plain", Bytes::from_static(b"Hello, World!")),
        "/json" => (
            "application/json",
            Bytes::from(
                serde_json::to_vec(&Message::HELLO).expect("a struct of one string serialises"),
            ),
        ),
        _ => {
            let mut rsp = Response::new(Full::new(Bytes::new()));
            *rsp.status_mut() = StatusCode::NOT_FOUND;
            return Ok(rsp);
        }
    };
    let mut rsp = Response::new(Full::new(body));
    rsp.headers_mut()
        .insert(header::SERVER, header::HeaderValue::from_static("hyper"));
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    Ok(rsp)
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".to_string());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("hyper_http listening on {addr}");
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("hyper_http: accept: {e}");
                    continue;
                }
            };
            stream.set_nodelay(true)?;
            tokio::task::spawn(async move {
                // As in hyper's TechEmpower entry: answers to pipelined requests are flushed together.
                let conn = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle));
                let _ = conn.await;
            });
        }
    })
}
