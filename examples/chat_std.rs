//! A chat server with a thread per connection, written against std: the "before" of README's
//! porting walk-through. `examples/chat.rs` is the same program on spindle; `tests/chat_twins.rs`
//! checks that the two differ only in their imports and in `main` calling `spindle::run`.
//!
//! ```text
//! cargo run --release --example chat_std                  # serve on 127.0.0.1:7001
//! cargo run --release --example chat_std -- --demo 200    # serve, run 200 clients, report, exit
//! cargo run --release --example chat_std -- --connect 127.0.0.1:7001   # a client: stdin to the chat
//! ```
//!
//! Each line a client sends goes to every other client; a heartbeat line ("* N online") goes
//! to all every 500 ms.

use std::env;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::println; // in std's prelude anyway; the import is what the port turns into spindle's
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

type Clients = Arc<Mutex<Vec<(SocketAddr, TcpStream)>>>;

/// Sends every message to every client but its sender; drops clients that cannot be written.
fn broadcaster(clients: Clients, messages: mpsc::Receiver<(Option<SocketAddr>, String)>) {
    for (from, text) in messages {
        let mut clients = clients.lock().unwrap();
        clients.retain_mut(|(addr, stream)| {
            Some(*addr) == from || stream.write_all(text.as_bytes()).is_ok()
        });
    }
}

/// Reads one client's lines and hands them to the broadcaster.
fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<(Option<SocketAddr>, String)>,
) -> io::Result<()> {
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if tx.send((Some(peer), format!("{peer}: {line}\n"))).is_err() {
            break;
        }
    }
    Ok(())
}

fn serve(listener: TcpListener) -> io::Result<()> {
    let clients: Clients = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let c = clients.clone();
    thread::spawn(move || broadcaster(c, rx));
    let (c, heartbeat) = (clients.clone(), tx.clone());
    thread::spawn(move || {
        loop {
            thread::sleep(Duration::from_millis(500));
            let online = c.lock().unwrap().len();
            if heartbeat
                .send((None, format!("* {online} online\n")))
                .is_err()
            {
                break;
            }
        }
    });
    for stream in listener.incoming() {
        let mut stream = stream?;
        let peer = stream.peer_addr()?;
        stream.write_all(b"* welcome\n")?;
        clients.lock().unwrap().push((peer, stream.try_clone()?));
        let tx = tx.clone();
        thread::spawn(move || handle(stream, peer, tx));
    }
    Ok(())
}

/// One demo client: joins, waits for everyone, says hello, reads the others' hellos.
fn client(addr: SocketAddr, i: usize, n: usize, start: Arc<Barrier>) -> io::Result<usize> {
    let mut stream = TcpStream::connect(addr)?;
    let mut lines = BufReader::new(stream.try_clone()?).lines();
    lines.next().transpose()?; // "* welcome": the server has added us
    start.wait();
    writeln!(stream, "hello from {i}")?;
    let mut heard = 0;
    while heard < n - 1 {
        match lines.next().transpose()? {
            Some(line) if line.contains(": hello from ") => heard += 1,
            Some(_) => {}
            None => break,
        }
    }
    Ok(heard)
}

fn chat_main() -> io::Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let demo = args.iter().position(|a| a == "--demo");
    let addr = match demo {
        Some(_) => "127.0.0.1:0".to_owned(),
        None => args
            .first()
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:7001".to_owned()),
    };
    if args.first().is_some_and(|a| a == "--connect") {
        let mut stream = TcpStream::connect(args.get(1).map_or("127.0.0.1:7001", |a| a.as_str()))?;
        let mut incoming = stream.try_clone()?;
        thread::spawn(move || io::copy(&mut incoming, &mut io::stdout()));
        io::copy(&mut io::stdin(), &mut stream)?;
        return Ok(());
    }
    let listener = TcpListener::bind(&addr)?;
    let addr = listener.local_addr()?;
    let Some(at) = demo else {
        println!("chat server on {addr}; join with: --connect {addr}");
        return serve(listener);
    };
    let n: usize = args.get(at + 1).and_then(|s| s.parse().ok()).unwrap_or(50);
    thread::spawn(move || serve(listener));
    let started = Instant::now();
    let start = Arc::new(Barrier::new(n));
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let start = start.clone();
            thread::spawn(move || client(addr, i, n, start))
        })
        .collect();
    let mut heard = 0;
    for c in clients {
        heard += c.join().expect("client panicked")?;
    }
    println!(
        "{n} clients, {heard} messages delivered of {}, in {:?}",
        n * (n - 1),
        started.elapsed()
    );
    Ok(())
}

fn main() -> io::Result<()> {
    chat_main()
}
