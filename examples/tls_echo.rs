//! A TLS echo server and its clients, all fibers on one thread, with `rustls::StreamOwned` —
//! rustls's blocking stream, unmodified — over `spindle::net::TcpStream`.
//!
//! ```text
//! cargo run --release --example tls_echo [SESSIONS]     # 100 sessions by default
//! ```
//!
//! rustls is a state machine that does no I/O itself; `StreamOwned` drives it over any
//! `Read + Write`, calling `read` and `write` on the socket as a blocking program would. Given a
//! spindle socket, those calls park the fiber instead of the thread, so a hundred handshakes and
//! sessions proceed at once on one thread with no change to rustls. The certificate is a fresh
//! self-signed one for `localhost`, made with `rcgen` when the program starts. The crypto
//! provider is `ring`.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{StreamOwned, crypto::ring};
use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};

#[allow(dead_code)] // unused when the integration tests include this file as a module
fn main() {
    let sessions = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: tls_echo [SESSIONS]   (a positive number, 100 by default)");
            std::process::exit(2);
        }
    };
    let result = spindle::run(move || -> io::Result<()> {
        let (server, client) = configs()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        fiber::spawn(move || serve(listener, server));
        let started = Instant::now();
        let clients: Vec<_> = (0..sessions)
            .map(|i| {
                let client = Arc::clone(&client);
                fiber::spawn(move || echo_client(addr, client, i, 10))
            })
            .collect();
        for c in clients {
            c.join().expect("a client fiber panicked")?;
        }
        println!(
            "{sessions} TLS sessions (handshake + 10 echoes each) on one thread in {:?}",
            started.elapsed()
        );
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("tls_echo: {e}");
        std::process::exit(1);
    }
}

/// A server and a client configuration that trust each other: a new self-signed certificate
/// for `localhost`, the `ring` provider, TLS 1.2 and 1.3.
///
/// # Errors
///
/// If `rcgen` or rustls refuse the generated certificate (they should not).
pub fn configs() -> io::Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(io::Error::other)?;
    let cert: CertificateDer<'static> = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let provider = Arc::new(ring::default_provider());
    let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .map_err(io::Error::other)?;
    let mut roots = RootCertStore::empty();
    roots.add(cert).map_err(io::Error::other)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client)))
}

/// Accepts connections forever; each gets a fiber that echoes over TLS until the client closes.
pub fn serve(listener: TcpListener, config: Arc<ServerConfig>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tls_echo: accept: {e}");
                continue;
            }
        };
        let config = Arc::clone(&config);
        fiber::spawn(move || {
            if let Err(e) = echo(stream, config) {
                eprintln!("tls_echo: session: {e}");
            }
        });
    }
}

/// The server's side of one session: plain blocking code over `rustls::StreamOwned`.
fn echo(stream: TcpStream, config: Arc<ServerConfig>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    let mut buf = [0u8; 4096];
    loop {
        // 0 once the client's close_notify arrived.
        let n = tls.read(&mut buf)?;
        if n == 0 {
            tls.conn.send_close_notify();
            return tls.flush();
        }
        tls.write_all(&buf[..n])?;
        tls.flush()?;
    }
}

/// One client session: connects, handshakes, sends `rounds` messages and checks each echo,
/// then closes with close_notify.
///
/// # Errors
///
/// Any I/O or TLS error, or `InvalidData` if an echo differs from what was sent.
pub fn echo_client(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    id: usize,
    rounds: usize,
) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    for round in 0..rounds {
        let message = format!("session {id} round {round}: {}", "x".repeat(id % 300));
        tls.write_all(message.as_bytes())?;
        tls.flush()?;
        let mut echoed = vec![0u8; message.len()];
        tls.read_exact(&mut echoed)?;
        if echoed != message.as_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "echo differs from the message",
            ));
        }
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    // The server answers with its own close_notify: the end of the stream, not an error.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bytes after the last echo",
        ));
    }
    Ok(())
}
