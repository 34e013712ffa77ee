//! `tungstenite`, unmodified, over spindle sockets: `examples/ws_echo.rs`'s server with a
//! hundred WebSockets open at once on one thread.

mod util;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/ws_echo.rs"]
mod ws_echo;

use std::sync::Arc;

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::Barrier;
use tungstenite::{Error, Message};

const SOCKETS: usize = 100;

#[test]
fn hundred_websockets_open_at_once_on_one_thread() {
    util::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        fiber::spawn(move || ws_echo::serve(listener));
        // Every client upgrades and echoes once, then waits for all the others: the barrier
        // opens only if all sockets are in progress at the same time.
        let barrier = Arc::new(Barrier::new(SOCKETS));
        let clients: Vec<_> = (0..SOCKETS)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                fiber::spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    let (mut ws, response) =
                        tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
                    assert_eq!(response.status(), 101);
                    let text = Message::text(format!("hello from {i}"));
                    ws.send(text.clone()).unwrap();
                    assert_eq!(ws.read().unwrap(), text);
                    barrier.wait();
                    // Larger than the socket buffers: written and read in many pieces.
                    let big = Message::binary(
                        (0..300_000u32)
                            .map(|b| (b + i as u32) as u8)
                            .collect::<Vec<_>>(),
                    );
                    ws.send(big.clone()).unwrap();
                    assert_eq!(ws.read().unwrap(), big);
                    // A ping is answered by the server's tungstenite with a pong.
                    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
                    assert_eq!(ws.read().unwrap(), Message::Pong(b"p".to_vec().into()));
                    ws.close(None).unwrap();
                    loop {
                        match ws.read() {
                            Ok(Message::Close(_)) => {}
                            Err(Error::ConnectionClosed) => break,
                            other => panic!("after close: {other:?}"),
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        ws_echo::echo_client(addr, 3, 6).unwrap();
    });
}
