//! Echo server on tokio: one task per connection, on the current_thread runtime, or with
//! `WORKERS=n` on the multi-thread runtime with n worker threads (work-stealing).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let workers: Option<usize> = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok());
    let rt = match workers {
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_io()
            .build()?,
        None => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?,
    };
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("tokio_echo listening on {}", listener.local_addr()?);
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("tokio_echo: accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; 4096];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
