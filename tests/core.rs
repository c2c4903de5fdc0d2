//! The core driven from Rust, without the C layer: a handler made of a
//! channel, and a substituted resolver so name resolution is tested
//! without DNS.

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sack_tcp::address::{Endpoint, Resolver};
use sack_tcp::error::Code;
use sack_tcp::events::Event;
use sack_tcp::options::Options;
use sack_tcp::socket::Handler;
use sack_tcp::socket::Socket;

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Connect(Option<Code>),
    Ready,
    Message(Vec<u8>),
    Error(Code),
    SendDone(Option<Code>),
    Close,
}

struct ChannelHandler {
    tx: Mutex<Sender<Seen>>,
}

impl Handler for ChannelHandler {
    fn handle(&self, _socket: &Socket, event: Event<'_>) {
        let seen = match event {
            Event::Connect(r) => Seen::Connect(r.err().map(|e| e.code())),
            Event::Ready => Seen::Ready,
            Event::Message(d) => Seen::Message(d.to_vec()),
            Event::Text(t) => Seen::Message(t.as_str().as_bytes().to_vec()),
            Event::Drain | Event::End => return,
            Event::Error(error) => Seen::Error(error.code()),
            Event::SendDone(done) => {
                let status = done.status().err();
                done.run();
                Seen::SendDone(status)
            }
            Event::Close => Seen::Close,
        };
        let _ = self.tx.lock().unwrap().send(seen);
    }

    fn for_accepted(&self) -> Arc<dyn Handler> {
        Arc::new(ChannelHandler {
            tx: Mutex::new(self.tx.lock().unwrap().clone()),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn handler() -> (Arc<dyn Handler>, Receiver<Seen>) {
    let (tx, rx) = channel();
    (Arc::new(ChannelHandler { tx: Mutex::new(tx) }), rx)
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("event within 10 s")
}

/// Answers every name with a fixed list and records what it was asked.
struct FixedResolver {
    answer: Vec<SocketAddr>,
    asked: Mutex<Vec<(String, u16)>>,
}

impl Resolver for FixedResolver {
    fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        self.asked.lock().unwrap().push((name.to_owned(), port));
        let answer = self
            .answer
            .iter()
            .map(|a| SocketAddr::new(a.ip(), port))
            .collect();
        Box::pin(async move { Ok(answer) })
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_resolved_address_is_tried_in_turn() {
    // ::1 refuses on this port (nothing listens there), 127.0.0.1 accepts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let resolver = Arc::new(FixedResolver {
        answer: vec!["[::1]:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()],
        asked: Mutex::new(Vec::new()),
    });
    let (h, rx) = handler();
    let options = Options {
        to_address: Some(format!("some.test.name:{port}")),
        ..Options::default()
    };
    let sock = Socket::open_with_resolver(&options, h, resolver.clone()).unwrap();
    assert_eq!(next(&rx), Seen::Connect(None));
    assert_eq!(next(&rx), Seen::Ready);
    assert_eq!(
        resolver.asked.lock().unwrap().as_slice(),
        &[("some.test.name".to_owned(), port)]
    );
    assert_eq!(sock.peer_addr().unwrap().port(), port);
    sock.abort().unwrap();
    assert_eq!(next(&rx), Seen::Close);
    drop(sock.release().unwrap());
}

#[test]
fn all_addresses_failing_reports_the_last_error() {
    let port = free_port();
    let resolver = Arc::new(FixedResolver {
        answer: vec![
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        ],
        asked: Mutex::new(Vec::new()),
    });
    let (h, rx) = handler();
    let options = Options {
        to_address: Some("name.test".into()),
        to_port: Some(port),
        ..Options::default()
    };
    let sock = Socket::open_with_resolver(&options, h, resolver).unwrap();
    assert_eq!(next(&rx), Seen::Connect(Some(Code::Refused)));
    assert_eq!(next(&rx), Seen::Close);
    assert_eq!(sock.send(b"late").unwrap_err().code(), Code::Closed);
    drop(sock.release().unwrap());
}

#[test]
fn resolver_returning_nothing_is_a_resolve_error() {
    let resolver = Arc::new(FixedResolver {
        answer: vec![],
        asked: Mutex::new(Vec::new()),
    });
    let (h, rx) = handler();
    let options = Options {
        to_address: Some("nowhere.test:80".into()),
        ..Options::default()
    };
    let sock = Socket::open_with_resolver(&options, h, resolver).unwrap();
    assert_eq!(next(&rx), Seen::Connect(Some(Code::Resolve)));
    assert_eq!(next(&rx), Seen::Close);
    drop(sock.release().unwrap());
}

#[test]
fn echo_through_the_core() {
    let (server_handler, server_rx) = handler();
    let server = Socket::open(
        &Options {
            address: Some("127.0.0.1".into()),
            ..Options::default()
        },
        server_handler,
    )
    .unwrap();
    let port = server.local_addr().unwrap().port();
    let (h, rx) = handler();
    let client = Socket::open(
        &Options {
            to_address: Some(format!("127.0.0.1:{port}")),
            ..Options::default()
        },
        h,
    )
    .unwrap();
    assert_eq!(next(&rx), Seen::Connect(None));
    assert_eq!(next(&rx), Seen::Ready);
    client.send(b"ping").unwrap();
    assert_eq!(next(&server_rx), Seen::Connect(None));
    assert_eq!(next(&server_rx), Seen::Ready);
    assert_eq!(next(&server_rx), Seen::Message(b"ping".to_vec()));
    client.close().unwrap();
    assert_eq!(next(&rx), Seen::Close);
    assert_eq!(next(&server_rx), Seen::Close);
    server.close().unwrap();
    assert_eq!(next(&server_rx), Seen::Close);
    drop(client.release().unwrap());
    drop(server.release().unwrap());
}

/// Answers every name with exactly these addresses, ports included.
struct ExactResolver(Vec<SocketAddr>);

impl Resolver for ExactResolver {
    fn resolve(
        &self,
        _name: &str,
        _port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        let answer = self.0.clone();
        Box::pin(async move { Ok(answer) })
    }
}

/// A loopback listener that never accepts and whose accept queue is full,
/// so a connect to it stays in SYN_SENT: the kernel drops its SYNs.
struct FullListener {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _queued: std::net::TcpStream,
}

impl FullListener {
    fn new(ip: &str) -> FullListener {
        let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
        let listener = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        listener.bind(&addr.into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        // Backlog 0 admits one connection to the accept queue.
        let queued = std::net::TcpStream::connect(addr).unwrap();
        // A probe still pending after 200 ms had its SYN dropped: full.
        let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        assert_eq!(
            probe.map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::TimedOut,
            "a backlog-0 listener admitted a second connection"
        );
        FullListener {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    /// Sockets of this process in SYN_SENT towards this listener, from
    /// /proc/net/tcp or tcp6 (state 02).
    fn connecting(&self) -> usize {
        let table = if self.addr.is_ipv6() { "tcp6" } else { "tcp" };
        let port = format!(":{:04X}", self.addr.port());
        std::fs::read_to_string(format!("/proc/net/{table}"))
            .unwrap()
            .lines()
            .skip(1)
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields[2].ends_with(&port) && fields[3] == "02"
            })
            .count()
    }

    /// Waits (up to 10 s) until nothing of ours is still connecting to it.
    fn wait_abandoned(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.connecting() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "an attempt to {} was never cancelled",
                self.addr
            );
            std::thread::yield_now();
        }
    }
}

#[test]
fn happy_eyeballs_a_silent_ipv6_address_loses_to_ipv4_after_the_delay() {
    let silent = FullListener::new("[::1]");
    assert_eq!(silent.connecting(), 0);
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let live_addr = live.local_addr().unwrap();
    let (h, rx) = handler();
    let options = Options {
        to_address: Some("dual.test:1".into()),
        attempt_delay: Some(Duration::from_millis(150)),
        connect_timeout: Some(Duration::from_secs(20)),
        ..Options::default()
    };
    let begun = std::time::Instant::now();
    let resolver = Arc::new(ExactResolver(vec![silent.addr, live_addr]));
    let sock = Socket::open_with_resolver(&options, h, resolver).unwrap();
    assert_eq!(next(&rx), Seen::Connect(None));
    let waited = begun.elapsed();
    assert_eq!(next(&rx), Seen::Ready);
    assert!(
        waited >= Duration::from_millis(150),
        "IPv4 was tried after {waited:?}, before IPv6 had its 150 ms"
    );
    assert_eq!(sock.peer_addr().unwrap(), Endpoint::Ip(live_addr));
    // The losing IPv6 attempt was closed, not left to time out.
    silent.wait_abandoned();
    sock.abort().unwrap();
    assert_eq!(next(&rx), Seen::Close);
    drop(sock.release().unwrap());
}

#[test]
fn happy_eyeballs_the_connect_timeout_bounds_the_whole_race() {
    let silent6 = FullListener::new("[::1]");
    let silent4 = FullListener::new("127.0.0.1");
    let (h, rx) = handler();
    let options = Options {
        to_address: Some("dual.test:1".into()),
        attempt_delay: Some(Duration::from_millis(50)),
        connect_timeout: Some(Duration::from_millis(400)),
        ..Options::default()
    };
    let begun = std::time::Instant::now();
    let resolver = Arc::new(ExactResolver(vec![silent6.addr, silent4.addr]));
    let sock = Socket::open_with_resolver(&options, h, resolver).unwrap();
    assert_eq!(next(&rx), Seen::Connect(Some(Code::TimedOut)));
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "timed out after {waited:?}"
    );
    assert_eq!(next(&rx), Seen::Close);
    silent6.wait_abandoned();
    silent4.wait_abandoned();
    drop(sock.release().unwrap());
}

/// A lent buffer that a test owns: `Vec`-backed, and counting how often
/// the library handed it back.
struct LentVec {
    bytes: Vec<u8>,
    returned: Arc<std::sync::atomic::AtomicUsize>,
}

impl sack_tcp::borrowed::Borrowed for LentVec {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn complete(self: Box<Self>, _status: Result<(), Code>) {
        self.returned
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_borrowed_send_arrives_in_order_and_comes_back_once() {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    let (h, rx) = handler();
    let client = Socket::open(
        &Options {
            to_address: Some(format!("127.0.0.1:{port}")),
            ..Options::default()
        },
        h,
    )
    .unwrap();
    assert_eq!(next(&rx), Seen::Connect(None));
    assert_eq!(next(&rx), Seen::Ready);
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let returned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    client.send(b"head").unwrap();
    let lent = LentVec {
        bytes: big.clone(),
        returned: returned.clone(),
    };
    assert!(client.send_borrowed(lent).is_ok());
    client.send(b"tail").unwrap();
    assert_eq!(next(&rx), Seen::SendDone(None));
    assert_eq!(returned.load(std::sync::atomic::Ordering::SeqCst), 1);
    client.close().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(next(&rx), Seen::Close);
    let mut want = b"head".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"tail");
    assert!(got == want, "the bytes arrived out of order");
    let refused = LentVec {
        bytes: vec![1],
        returned: returned.clone(),
    };
    let (error, _back) = client.send_borrowed(refused).err().unwrap();
    assert_eq!(error.code(), Code::Closed);
    assert_eq!(returned.load(std::sync::atomic::Ordering::SeqCst), 1);
    drop(client.release().unwrap());
}
