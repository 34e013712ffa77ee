//! `spindle::dns`: host names resolve on the pool (the fiber parks), IP literals inline
//! (it does not), results and errors as std's.

use spindle::fiber;
use spindle::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::cell::Cell;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;

/// Resolves through spindle's trait, as every `spindle::net` call does.
fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

fn std_resolve(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

/// Runs `f` on the root fiber with another fiber queued behind it; reports whether that
/// fiber ran before `f` returned, i.e. whether `f` parked.
fn parked_during<T: 'static>(f: impl FnOnce() -> T + 'static) -> (T, bool) {
    spindle::run(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let other = fiber::spawn(move || r.set(true));
        let value = f();
        let parked = ran.get();
        other.join().unwrap();
        (value, parked)
    })
}

#[test]
fn localhost_resolves_like_std_and_parks_the_fiber() -> io::Result<()> {
    let (addrs, parked) = parked_during(|| resolve("localhost:8080"));
    let mut addrs = addrs?;
    let mut expected = std_resolve("localhost:8080")?;
    addrs.sort();
    expected.sort();
    assert_eq!(addrs, expected);
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080)
    );
    // The pool may finish before the fiber gets to park (its unpark then makes `park` return
    // at once), so one lookup need not show a switch; twenty in a row all doing so would mean
    // the lookups ran inline.
    let switched = parked || (0..20).any(|_| parked_during(|| resolve("localhost:1")).1);
    assert!(switched, "a name lookup must go through the pool");
    Ok(())
}

#[test]
fn ip_literals_resolve_inline_without_parking() -> io::Result<()> {
    let (addrs, parked) = parked_during(|| -> io::Result<Vec<Vec<SocketAddr>>> {
        Ok(vec![
            resolve("127.0.0.1:80")?,
            resolve("[::1]:443")?,
            resolve(("10.0.0.1", 22))?,
            resolve(("::1", 22))?,
            resolve((String::from("192.168.1.1"), 8))?,
            resolve(String::from("1.2.3.4:5"))?,
            resolve(SocketAddr::from(([127, 0, 0, 1], 1)))?,
            resolve(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2))?,
            resolve((IpAddr::V6(Ipv6Addr::LOCALHOST), 3))?,
            resolve((Ipv4Addr::new(8, 8, 8, 8), 53))?,
            resolve(
                &[
                    SocketAddr::from(([1, 1, 1, 1], 1)),
                    SocketAddr::from(([2, 2, 2, 2], 2)),
                ][..],
            )?,
        ])
    });
    assert!(!parked, "an IP literal must not hop to the pool");
    let addrs = addrs?;
    assert_eq!(addrs[0], ["127.0.0.1:80".parse().unwrap()]);
    assert_eq!(addrs[1], ["[::1]:443".parse().unwrap()]);
    assert_eq!(addrs[2], ["10.0.0.1:22".parse().unwrap()]);
    assert_eq!(addrs[3], ["[::1]:22".parse().unwrap()]);
    assert_eq!(addrs[4], ["192.168.1.1:8".parse().unwrap()]);
    assert_eq!(addrs[5], ["1.2.3.4:5".parse().unwrap()]);
    assert_eq!(addrs[10].len(), 2);
    Ok(())
}

#[test]
fn the_trait_mirrors_std_for_host_port_pairs() -> io::Result<()> {
    let got = spindle::run(|| -> io::Result<Vec<SocketAddr>> {
        Ok(("localhost", 9).to_socket_addrs()?.collect())
    })?;
    let mut got = got;
    got.sort();
    let mut expected = std_resolve(("localhost", 9))?;
    expected.sort();
    assert_eq!(got, expected);
    Ok(())
}

#[test]
fn errors_match_std() {
    let cases = [
        "localhost",
        "localhost:notaport",
        "localhost:99999",
        "no-such-host.invalid:80",
    ];
    let spindle_kinds = spindle::run(move || {
        cases
            .iter()
            .map(|c| resolve(*c).unwrap_err().kind())
            .collect::<Vec<_>>()
    });
    let std_kinds: Vec<ErrorKind> = cases
        .iter()
        .map(|c| std_resolve(*c).unwrap_err().kind())
        .collect();
    assert_eq!(spindle_kinds, std_kinds);
    assert_eq!(spindle_kinds[0], ErrorKind::InvalidInput);
    assert_eq!(spindle_kinds[1], ErrorKind::InvalidInput);
}

#[test]
fn resolving_on_a_plain_thread_works() -> io::Result<()> {
    let addrs = resolve("localhost:1")?;
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    Ok(())
}

#[test]
fn net_calls_resolve_host_names() -> io::Result<()> {
    spindle::run(|| -> io::Result<()> {
        let listener = TcpListener::bind("localhost:0")?;
        let port = listener.local_addr()?.port();
        let server = fiber::spawn(move || listener.accept().map(|(_, peer)| peer));
        let client = TcpStream::connect(("localhost", port))?;
        assert_eq!(server.join().unwrap()?, client.local_addr()?);

        let a = UdpSocket::bind("localhost:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.send_to(b"hi", format!("localhost:{}", b.local_addr()?.port()))?;
        let mut buf = [0; 2];
        let (n, from) = b.recv_from(&mut buf)?;
        assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
        Ok(())
    })
}
