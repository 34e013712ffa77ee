//! `spindle::dump()`: every fiber with its state, what it waits on and its backtrace, taken
//! without running any of the fibers' code.

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::Mutex;

#[inline(never)]
fn read_request(stream: &mut TcpStream, ran: &Cell<u32>) -> u8 {
    let mut byte = [0u8];
    stream.read_exact(&mut byte).unwrap();
    ran.set(ran.get() + 1);
    byte[0]
}

#[inline(never)]
fn nap(ran: &Cell<u32>) {
    fiber::sleep(Duration::from_secs(30));
    ran.set(ran.get() + 1);
}

#[inline(never)]
fn take_lock(lock: &Mutex<u32>, ran: &Cell<u32>) -> u32 {
    let value = *lock.lock().unwrap();
    ran.set(ran.get() + 1);
    value
}

#[test]
fn dump_lists_a_socket_reader_a_sleeper_and_a_lock_waiter_without_running_them() {
    // A dump holds the thread while it symbolises (a stall, by design): keep the output quiet.
    let rt = spindle::Runtime::builder()
        .stall_threshold(None)
        .build()
        .unwrap();
    rt.run(|| {
        let ran = Rc::new(Cell::new(0u32));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let fd = server.as_raw_fd();

        let r = Rc::clone(&ran);
        let reader = fiber::Builder::new()
            .name("reader".into())
            .spawn(move || read_request(&mut server, &r))
            .unwrap();
        let r = Rc::clone(&ran);
        let sleeper = fiber::Builder::new()
            .name("sleeper".into())
            .spawn(move || nap(&r))
            .unwrap();
        let lock = Rc::new(Mutex::new(7));
        let guard = lock.lock().unwrap();
        let (r, l) = (Rc::clone(&ran), Rc::clone(&lock));
        let waiter = fiber::Builder::new()
            .name("waiter".into())
            .spawn(move || take_lock(&l, &r))
            .unwrap();
        // Let the three park.
        fiber::yield_now();
        let not_started = fiber::Builder::new()
            .name("later".into())
            .spawn(|| 5)
            .unwrap();

        let dump = spindle::dump();
        let text = dump.to_string();
        let block = |name: &str| {
            let start = text
                .find(&format!("fiber '{name}'"))
                .unwrap_or_else(|| panic!("no fiber '{name}' in:\n{text}"));
            let rest = &text[start..];
            rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
        };
        let reader_block = block("reader");
        assert!(
            reader_block.contains("parked for")
                && reader_block.contains(&format!("on fd {fd} becoming READABLE")),
            "{text}"
        );
        assert!(reader_block.contains("in dump::read_request"), "{text}");
        let sleeper_block = block("sleeper");
        assert!(sleeper_block.contains("a timer (sleep, "), "{text}");
        assert!(sleeper_block.contains("s left)"), "{text}");
        assert!(sleeper_block.contains("in dump::nap"), "{text}");
        let waiter_block = block("waiter");
        assert!(waiter_block.contains("on Mutex at 0x"), "{text}");
        assert!(waiter_block.contains("in dump::take_lock"), "{text}");
        assert!(block("main").contains(", running, "), "{text}");
        assert!(block("main").contains("in dump::dump_lists"), "{text}");
        assert!(block("later").contains("<not started yet>"), "{text}");
        assert_eq!(dump.fibers().len(), 5, "{text}");

        // The dump ran none of their code, and left them parked where they were: each still
        // wakes for its own reason and finishes normally.
        assert_eq!(ran.get(), 0);
        let second = spindle::dump().to_string();
        assert!(second.contains("in dump::take_lock"), "{second}");
        drop(guard);
        assert_eq!(waiter.join().unwrap(), 7);
        client.write_all(&[42]).unwrap();
        assert_eq!(reader.join().unwrap(), 42);
        assert_eq!(not_started.join().unwrap(), 5);
        assert_eq!(ran.get(), 2);
        drop(sleeper);
    });
}

#[test]
fn dump_outside_a_runtime_is_empty() {
    let dump = spindle::dump();
    assert!(dump.fibers().is_empty());
    assert!(dump.to_string().contains("not called inside a runtime"));
}
