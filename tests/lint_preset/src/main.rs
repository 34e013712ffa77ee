//! Uses every std item that spindle's lint preset (`clippy-preset/clippy.toml`) disallows,
//! once each, so that `tests/lint_preset.rs` can check that clippy flags them all.
//!
//! Only type-checked by clippy, never run. It has no dependencies, so checking it needs no
//! download.

use std::io::{Read, Write};
use std::time::Duration;

fn thread_calls() {
    std::thread::sleep(Duration::from_millis(1));
    std::thread::park();
    std::thread::park_timeout(Duration::from_millis(1));
    let handle: std::thread::JoinHandle<()> = std::thread::spawn(|| {});
    let _ = handle.join();
}

fn channel_calls() {
    let (tx, rx) = std::sync::mpsc::channel::<u8>();
    let _ = tx.send(1);
    let _ = rx.recv();
    let _ = rx.recv_timeout(Duration::from_millis(1));
    for _ in rx.iter() {}
    let (sync_tx, _sync_rx) = std::sync::mpsc::sync_channel::<u8>(1);
    let _ = sync_tx.send(1);
}

fn lock_calls() {
    let mutex = std::sync::Mutex::new(0u8);
    let condvar = std::sync::Condvar::new();
    let guard = mutex.lock().unwrap();
    drop(condvar.wait(guard));
    let rwlock = std::sync::RwLock::new(0u8);
    drop(rwlock.read());
    let barrier = std::sync::Barrier::new(1);
    barrier.wait();
}

fn dns_calls() {
    use std::net::ToSocketAddrs;
    let _ = ("localhost", 80).to_socket_addrs();
}

fn socket_calls() -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    stream.write_all(b"x")?;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    udp.send_to(b"x", "127.0.0.1:9")?;
    let unix_listener = std::os::unix::net::UnixListener::bind("/nonexistent/l")?;
    let mut unix_stream = std::os::unix::net::UnixStream::connect("/nonexistent/l")?;
    unix_stream.read_exact(&mut [0u8; 1])?;
    let datagram = std::os::unix::net::UnixDatagram::unbound()?;
    datagram.send_to(b"x", "/nonexistent/d")?;
    drop(unix_listener);
    Ok(())
}

fn fs_calls() -> std::io::Result<()> {
    let _ = std::fs::read("a")?;
    let _ = std::fs::read_to_string("a")?;
    std::fs::write("a", b"x")?;
    std::fs::copy("a", "b")?;
    std::fs::rename("b", "c")?;
    std::fs::hard_link("a", "d")?;
    std::fs::remove_file("c")?;
    std::fs::create_dir("e")?;
    std::fs::create_dir_all("e/f")?;
    std::fs::remove_dir("e/f")?;
    std::fs::remove_dir_all("e")?;
    let meta = std::fs::metadata("a")?;
    let _ = std::fs::symlink_metadata("a")?;
    let _ = std::fs::canonicalize("a")?;
    let _ = std::fs::read_link("a");
    for entry in std::fs::read_dir(".")? {
        let _ = entry?;
    }
    std::fs::set_permissions("a", meta.permissions())?;
    let _ = std::fs::exists("a")?;
    let mut file = std::fs::File::open("a")?;
    file.read_to_end(&mut Vec::new())?;
    let _ = std::fs::OpenOptions::new().read(true).open("a")?;
    std::fs::DirBuilder::new().create("g")?;
    Ok(())
}

fn stdio_calls() -> std::io::Result<()> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    std::io::stdout().write_all(line.as_bytes())?;
    std::io::stderr().write_all(line.as_bytes())?;
    Ok(())
}

fn process_calls() -> std::io::Result<()> {
    let mut child = std::process::Command::new("true").spawn()?;
    child.wait()?;
    let child = std::process::Command::new("true").spawn()?;
    child.wait_with_output()?;
    Ok(())
}

fn main() {
    thread_calls();
    channel_calls();
    lock_calls();
    dns_calls();
    let _ = socket_calls();
    let _ = fs_calls();
    let _ = stdio_calls();
    let _ = process_calls();
}
