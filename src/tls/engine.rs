//! A rustls session driven through its unbuffered API.
//!
//! Received records are decrypted where the read put them, and records to
//! send are written into a buffer lent by a per-thread pool, so an idle
//! connection holds no buffer at all. rustls' buffered `Connection` keeps
//! a 4 KiB read buffer per connection for its whole life (its deframer
//! never shrinks below that): 400 MB at 100k idle connections, and the
//! reason an idle TLS connection cost more than 8 KiB.
//!
//! The engine takes every byte it is given. What rustls cannot use yet (a
//! record cut by the end of a read, or handshake fragments it is still
//! joining) is kept here until the next read and freed as soon as it is
//! used.

use std::cell::RefCell;

use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus, WriteTraffic,
};
use rustls::{CommonState, Error as RustlsError};

/// A record's header: type, version, length.
const RECORD_HEADER: usize = 5;
/// The most plaintext one TLS record carries.
const MAX_PLAINTEXT_RECORD: usize = 16 * 1024;
/// Output buffers larger than this go back to the allocator, not the pool.
const POOLED_MAX: usize = 256 * 1024;
/// Output buffers kept per thread.
const POOLED_COUNT: usize = 2;

enum Side {
    Client(UnbufferedClientConnection),
    Server(UnbufferedServerConnection),
}

pub struct Engine {
    side: Side,
    io: Io,
    /// Server side: the SNI name the client asked for, as the certificate
    /// resolver saw it (the unbuffered server has no accessor for it).
    server_name: Option<Box<str>>,
}

/// Everything but rustls itself, so that a state borrowing the connection
/// can be handled alongside.
#[derive(Default)]
struct Io {
    /// Received bytes rustls is not done with, kept between reads.
    carry: Vec<u8>,
    /// Records ready to leave.
    out: Outgoing,
    /// Plaintext sent before the handshake allowed application data.
    early: Vec<u8>,
    /// Plaintext sent during a corked pass, encrypted together at its end
    /// so that many small sends make full-sized records.
    held: Vec<u8>,
    /// A close_notify is wanted as soon as records may be written.
    close_notify: bool,
    /// The peer's close_notify has arrived: no more data from it.
    peer_closed: bool,
}

/// What rustls wants after one state was handled.
enum Next {
    Again,
    NeedInput,
}

impl Engine {
    /// A client session, its ClientHello already in the output.
    pub fn client(conn: UnbufferedClientConnection) -> Result<Engine, RustlsError> {
        let mut engine = Engine::new(Side::Client(conn));
        engine.advance(None)?;
        Ok(engine)
    }

    pub fn server(conn: UnbufferedServerConnection) -> Engine {
        Engine::new(Side::Server(conn))
    }

    fn new(side: Side) -> Engine {
        Engine {
            side,
            io: Io::default(),
            server_name: None,
        }
    }

    /// Runs rustls over `input`, appending the plaintext it yields to
    /// `plain` and the records it answers to the output. `input` is
    /// decrypted in place; all of it is taken.
    pub fn feed(&mut self, input: &mut [u8], plain: &mut Vec<u8>) -> Result<(), RustlsError> {
        if self.io.peer_closed {
            return Ok(()); // nothing counts after close_notify
        }
        let mut input = input;
        if !self.io.carry.is_empty() {
            // Complete the kept record from as few new bytes as possible,
            // so the rest of the read is decrypted where it lies.
            let mut carry = std::mem::take(&mut self.io.carry);
            while let Some(missing) = missing_bytes(&carry).filter(|_| !input.is_empty()) {
                let take = missing.min(input.len());
                let (head, tail) = std::mem::take(&mut input).split_at_mut(take);
                carry.extend_from_slice(head);
                input = tail;
            }
            let used = self.run(&mut carry, plain, None)?;
            if used < carry.len() {
                // Still short, or fragments rustls is joining: the rest of
                // the read must follow them in one buffer.
                carry.drain(..used);
                carry.extend_from_slice(input);
                let used = self.run(&mut carry, plain, None)?;
                carry.drain(..used);
                self.keep(carry);
                return Ok(());
            }
        }
        let used = self.run(input, plain, None)?;
        if used < input.len() && !self.io.peer_closed {
            self.keep(input[used..].to_vec());
        }
        Ok(())
    }

    /// Encrypts `data` into the output, or holds it while the handshake
    /// does not allow application data yet.
    pub fn encrypt(&mut self, data: &[u8]) -> Result<(), RustlsError> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.io.early.is_empty() {
            self.io.early.extend_from_slice(data); // behind what waits
            return Ok(());
        }
        self.advance(Some(data))
    }

    /// Keeps `data` for [`Engine::release_held`]: the sends of one corked
    /// pass (an echo's, one per delivered chunk) become records of up to
    /// 16 KiB instead of one record each.
    ///
    /// A send of a full record or more gains nothing from waiting, and
    /// holding it would copy it once more: what was held goes first, to
    /// keep the order, then it is encrypted at once.
    pub fn hold(&mut self, data: &[u8]) -> Result<(), RustlsError> {
        if data.len() < MAX_PLAINTEXT_RECORD {
            self.io.held.extend_from_slice(data);
            return Ok(());
        }
        self.release_held()?;
        self.encrypt(data)
    }

    /// Whether [`Engine::hold`] kept bytes not yet encrypted.
    pub fn has_held(&self) -> bool {
        !self.io.held.is_empty()
    }

    /// Encrypts what [`Engine::hold`] kept.
    pub fn release_held(&mut self) -> Result<(), RustlsError> {
        if self.io.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.io.held);
        self.encrypt(&held)
    }

    /// Puts a close_notify alert in the output, after everything sent so
    /// far; nothing while the handshake runs (the TCP close says it).
    pub fn send_close_notify(&mut self) {
        let _ = self.release_held();
        self.io.close_notify = true;
        let _ = self.advance(None);
        self.io.close_notify = false;
    }

    /// The records waiting to leave.
    pub fn output(&self) -> &[u8] {
        self.io.out.filled()
    }

    /// The output has been sent or queued elsewhere: its buffer goes back
    /// to the pool.
    pub fn output_taken(&mut self) {
        self.io.out.release();
    }

    /// Plaintext held for the end of the handshake.
    pub fn held_plaintext(&self) -> usize {
        self.io.early.len()
    }

    pub fn peer_closed(&self) -> bool {
        self.io.peer_closed
    }

    pub fn common(&self) -> &CommonState {
        match &self.side {
            Side::Client(c) => c,
            Side::Server(s) => s,
        }
    }

    pub fn is_handshaking(&self) -> bool {
        self.common().is_handshaking()
    }

    pub fn is_server(&self) -> bool {
        matches!(self.side, Side::Server(_))
    }

    /// Server side: the SNI name the client sent.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Lets rustls act on what it holds (no new input): encode handshake
    /// messages, release held plaintext, encrypt `send`.
    fn advance(&mut self, send: Option<&[u8]>) -> Result<(), RustlsError> {
        let mut carry = std::mem::take(&mut self.io.carry);
        let mut plain = Vec::new();
        let result = self.run(&mut carry, &mut plain, send);
        // rustls is never left holding plaintext: every read drains it.
        debug_assert!(plain.is_empty());
        if let Ok(used) = result {
            carry.drain(..used);
        }
        self.keep(carry);
        result.map(drop)
    }

    /// Processes `buf` until rustls needs more bytes; returns how many
    /// from its front rustls is done with.
    fn run(
        &mut self,
        buf: &mut [u8],
        plain: &mut Vec<u8>,
        send: Option<&[u8]>,
    ) -> Result<usize, RustlsError> {
        let mut send = send;
        let mut used = 0;
        loop {
            let naming = self.server_name.is_none() && self.is_server() && self.is_handshaking();
            if naming {
                super::hello::take_server_name(); // nothing stale from elsewhere
            }
            let io = &mut self.io;
            let (discard, next) = match &mut self.side {
                Side::Client(c) => {
                    let UnbufferedStatus { discard, state } =
                        c.process_tls_records(&mut buf[used..]);
                    (discard, state.and_then(|s| handle(s, io, plain, &mut send)))
                }
                Side::Server(s) => {
                    let UnbufferedStatus { discard, state } =
                        s.process_tls_records(&mut buf[used..]);
                    (discard, state.and_then(|s| handle(s, io, plain, &mut send)))
                }
            };
            used += discard;
            if naming {
                self.server_name = super::hello::take_server_name();
            }
            match next {
                Ok(Next::Again) => {}
                Ok(Next::NeedInput) => {
                    if let Some(data) = send {
                        self.io.early.extend_from_slice(data);
                    }
                    return Ok(used);
                }
                Err(e) => {
                    self.collect_alert(&mut buf[used..]);
                    return Err(e);
                }
            }
        }
    }

    /// After an error rustls has queued a fatal alert; it is put in the
    /// output (held there until the host decides on a demotion).
    fn collect_alert(&mut self, buf: &mut [u8]) {
        let out = &mut self.io.out;
        let _ = match &mut self.side {
            Side::Client(c) => encode_pending(c.process_tls_records(buf).state, out),
            Side::Server(s) => encode_pending(s.process_tls_records(buf).state, out),
        };
    }

    /// Keeps received bytes for the next read; none means no allocation.
    fn keep(&mut self, carry: Vec<u8>) {
        self.io.carry = if carry.is_empty() { Vec::new() } else { carry };
    }
}

/// Handles one state: plaintext to `plain`, records to the output, `send`
/// and held plaintext encrypted once application data may flow.
fn handle<Data>(
    state: ConnectionState<'_, '_, Data>,
    io: &mut Io,
    plain: &mut Vec<u8>,
    send: &mut Option<&[u8]>,
) -> Result<Next, RustlsError> {
    match state {
        ConnectionState::ReadTraffic(mut records) => {
            while let Some(record) = records.next_record() {
                plain.extend_from_slice(record?.payload);
            }
            Ok(Next::Again)
        }
        ConnectionState::EncodeTlsData(mut message) => {
            encode_into(&mut message, &mut io.out)?;
            Ok(Next::Again)
        }
        ConnectionState::TransmitTlsData(mut transmit) => {
            // The output is ours to send: it counts as sent.
            if let Some(mut traffic) = transmit.may_encrypt_app_data() {
                write_traffic(&mut traffic, io, send)?;
            }
            transmit.done();
            Ok(Next::Again)
        }
        ConnectionState::WriteTraffic(mut traffic) => {
            write_traffic(&mut traffic, io, send)?;
            Ok(Next::NeedInput)
        }
        ConnectionState::PeerClosed => {
            io.peer_closed = true;
            Ok(Next::Again)
        }
        ConnectionState::Closed => {
            io.peer_closed = true;
            *send = None; // both sides are done: nothing more can leave
            Ok(Next::NeedInput)
        }
        // BlockedHandshake; ReadEarlyData never comes: servers leave
        // `max_early_data_size` at 0 (0-RTT data could be replayed).
        _ => Ok(Next::NeedInput),
    }
}

/// Encrypts held plaintext, then `send`, then the close_notify if wanted.
fn write_traffic<Data>(
    traffic: &mut WriteTraffic<'_, Data>,
    io: &mut Io,
    send: &mut Option<&[u8]>,
) -> Result<(), RustlsError> {
    if !io.early.is_empty() {
        let early = std::mem::take(&mut io.early);
        encrypt_into(traffic, &early, &mut io.out)?;
    }
    if let Some(data) = send.take() {
        encrypt_into(traffic, data, &mut io.out)?;
    }
    if std::mem::take(&mut io.close_notify) {
        io.out
            .write_with(|buf| encrypt_result(traffic.queue_close_notify(buf)))?;
    }
    Ok(())
}

fn encrypt_into<Data>(
    traffic: &mut WriteTraffic<'_, Data>,
    data: &[u8],
    out: &mut Outgoing,
) -> Result<(), RustlsError> {
    out.write_with(|buf| encrypt_result(traffic.encrypt(data, buf)))
}

fn encrypt_result(result: Result<usize, EncryptError>) -> Result<usize, Option<usize>> {
    match result {
        Ok(n) => Ok(n),
        Err(EncryptError::InsufficientSize(e)) => Err(Some(e.required_size)),
        Err(_) => Err(None), // the keys are exhausted
    }
}

/// Puts a queued record (the alert after an error) in the output.
fn encode_pending<Data>(
    state: Result<ConnectionState<'_, '_, Data>, RustlsError>,
    out: &mut Outgoing,
) -> Result<(), RustlsError> {
    match state {
        Ok(ConnectionState::EncodeTlsData(mut message)) => encode_into(&mut message, out),
        _ => Ok(()),
    }
}

/// Puts one handshake or alert record rustls queued in the output.
fn encode_into<Data>(
    message: &mut EncodeTlsData<'_, Data>,
    out: &mut Outgoing,
) -> Result<(), RustlsError> {
    out.write_with(|buf| match message.encode(buf) {
        Ok(n) => Ok(n),
        Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
        Err(EncodeError::AlreadyEncoded) => Err(None),
    })
}

/// How many more bytes the last record in `carry` needs to be whole (its
/// header first); `None` when it ends on a record boundary.
fn missing_bytes(carry: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = &carry[at..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < RECORD_HEADER {
            return Some(RECORD_HEADER - rest.len());
        }
        let record = RECORD_HEADER + usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest.len() < record {
            return Some(record - rest.len());
        }
        at += record;
    }
}

/// Records waiting to leave, in a buffer whose whole length is usable
/// space (zeroed once, when it grows) and of which `filled` is written.
#[derive(Default)]
struct Outgoing {
    buf: Vec<u8>,
    filled: usize,
}

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

impl Outgoing {
    fn filled(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Lets `write` fill the free space; it answers `Err(Some(n))` when it
    /// needs `n` bytes of it, `Err(None)` when it cannot write at all.
    fn write_with(
        &mut self,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
    ) -> Result<(), RustlsError> {
        if self.buf.is_empty() {
            self.buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        }
        loop {
            match write(&mut self.buf[self.filled..]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(Some(required)) => {
                    let len = (self.filled + required)
                        .max(self.buf.len() * 2)
                        .max(16 * 1024);
                    self.buf.resize(len, 0);
                }
                Err(None) => return Err(RustlsError::EncryptError),
            }
        }
    }

    fn release(&mut self) {
        self.filled = 0;
        let buf = std::mem::take(&mut self.buf);
        if buf.len() <= POOLED_MAX && !buf.is_empty() {
            POOL.with(|p| {
                let mut pool = p.borrow_mut();
                if pool.len() < POOLED_COUNT {
                    pool.push(buf);
                }
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;

    use super::*;
    use crate::tls::sni::{CertStore, SniResolver};
    use crate::tls::test_support::{
        client_builder, client_config, roots_of, self_signed, server_config,
    };

    fn configs() -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
        let cert = self_signed(&["example.com"]);
        let store = Arc::new(CertStore::new());
        store
            .add(&["example.com".to_owned()], cert.key.clone())
            .unwrap();
        let server = server_config(Arc::new(SniResolver(store)));
        let client = client_config(client_builder().with_root_certificates(roots_of(&[&cert.der])));
        (client, server)
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("example.com").unwrap()
    }

    pub(crate) fn pair() -> (Engine, Engine) {
        let (client, server) = configs();
        let server = UnbufferedServerConnection::new(server).unwrap();
        let client = UnbufferedClientConnection::new(client, name()).unwrap();
        (Engine::client(client).unwrap(), Engine::server(server))
    }

    /// Moves `from`'s output to `to` in pieces of at most `cut` bytes;
    /// returns the plaintext `to` got.
    pub(crate) fn carry_over(from: &mut Engine, to: &mut Engine, cut: usize) -> Vec<u8> {
        let mut records = from.output().to_vec();
        from.output_taken();
        let mut plain = Vec::new();
        for piece in records.chunks_mut(cut) {
            to.feed(piece, &mut plain).unwrap();
        }
        plain
    }

    pub(crate) fn handshake(client: &mut Engine, server: &mut Engine, cut: usize) {
        for _ in 0..4 {
            carry_over(client, server, cut);
            carry_over(server, client, cut);
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
    }

    #[test]
    fn data_crosses_whatever_the_reads_cut_it_into() {
        for cut in [1, 7, 300, 5000, usize::MAX] {
            let (mut client, mut server) = pair();
            handshake(&mut client, &mut server, cut);
            assert_eq!(server.server_name(), Some("example.com"));
            let message: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
            client.encrypt(&message).unwrap();
            assert_eq!(
                carry_over(&mut client, &mut server, cut),
                message,
                "cut {cut}"
            );
            server.encrypt(b"answer").unwrap();
            assert_eq!(carry_over(&mut server, &mut client, cut), b"answer");
            // Idle again: no buffer is held.
            assert_eq!(server.io.carry.capacity(), 0);
            assert_eq!(server.io.out.buf.capacity(), 0);
        }
    }

    #[test]
    fn plaintext_sent_during_the_handshake_waits_for_it() {
        let (mut client, mut server) = pair();
        client.encrypt(b"early ").unwrap();
        client.encrypt(b"bird").unwrap();
        assert_eq!(client.held_plaintext(), 10);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.extend(carry_over(&mut client, &mut server, usize::MAX));
            carry_over(&mut server, &mut client, usize::MAX);
        }
        assert_eq!(client.held_plaintext(), 0);
        assert_eq!(got, b"early bird");
    }

    #[test]
    fn close_notify_ends_the_peers_data() {
        let (mut client, mut server) = pair();
        handshake(&mut client, &mut server, usize::MAX);
        client.encrypt(b"last words").unwrap();
        client.send_close_notify();
        assert_eq!(carry_over(&mut client, &mut server, 3), b"last words");
        assert!(server.peer_closed());
        // Whatever follows is ignored, not kept.
        server
            .feed(&mut [23, 3, 3, 0, 9, 1], &mut Vec::new())
            .unwrap();
        assert_eq!(server.io.carry.capacity(), 0);
    }

    #[test]
    fn garbage_fails_with_an_alert_ready_to_send() {
        let (_, mut server) = pair();
        let mut plain = Vec::new();
        let error = server.feed(&mut b"GET / HTTP/1.1\r\n".to_vec(), &mut plain);
        assert!(error.is_err());
        assert_eq!(server.output()[0], 21, "an alert record");
    }

    #[test]
    fn a_peer_that_updates_its_keys_is_answered_and_still_heard() {
        let (client, server) = configs();
        let mut server = Engine::server(UnbufferedServerConnection::new(server).unwrap());
        let mut client = rustls::ClientConnection::new(client, name()).unwrap();
        // Records between rustls' buffered client and the engine.
        let exchange = |client: &mut rustls::ClientConnection, server: &mut Engine| {
            let mut records = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut records).unwrap();
            }
            let mut plain = Vec::new();
            server.feed(&mut records, &mut plain).unwrap();
            let mut answer = server.output();
            client.read_tls(&mut answer).unwrap();
            server.output_taken();
            client.process_new_packets().unwrap();
            let mut heard = vec![
                0;
                client
                    .process_new_packets()
                    .unwrap()
                    .plaintext_bytes_to_read()
            ];
            std::io::Read::read_exact(&mut client.reader(), &mut heard).unwrap();
            (plain, heard)
        };
        for _ in 0..3 {
            exchange(&mut client, &mut server);
        }
        assert!(!server.is_handshaking() && !client.is_handshaking());
        for round in 0..3u8 {
            // A KeyUpdate asking for ours too, then data under the new keys.
            client.refresh_traffic_keys().unwrap();
            std::io::Write::write_all(&mut client.writer(), &[round; 100]).unwrap();
            let (plain, _) = exchange(&mut client, &mut server);
            assert_eq!(plain, [round; 100]);
            server.encrypt(b"still here").unwrap();
            let (_, heard) = exchange(&mut client, &mut server);
            assert_eq!(heard, b"still here");
        }
    }

    /// The lengths of the records in `bytes`.
    fn records(bytes: &[u8]) -> Vec<usize> {
        let mut lengths = Vec::new();
        let mut rest = bytes;
        while rest.len() >= RECORD_HEADER {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            lengths.push(len);
            rest = &rest[RECORD_HEADER + len..];
        }
        assert!(rest.is_empty(), "whole records only");
        lengths
    }

    #[test]
    fn held_sends_leave_as_full_records_before_a_close_notify() {
        let (mut client, mut server) = pair();
        handshake(&mut client, &mut server, usize::MAX);
        for chunk in 0..8u8 {
            server.hold(&[chunk; 4096]).unwrap();
        }
        assert!(server.output().is_empty(), "nothing encrypted while held");
        server.send_close_notify();
        // 32 KiB in two full records, then the alert: not eight of 4 KiB.
        let lengths = records(server.output());
        assert_eq!(lengths.len(), 3, "{lengths:?}");
        let heard = carry_over(&mut server, &mut client, usize::MAX);
        let sent: Vec<u8> = (0..8u8).flat_map(|c| [c; 4096]).collect();
        assert_eq!(heard, sent);
        assert!(client.peer_closed());
    }

    #[test]
    fn a_large_held_send_is_encrypted_at_once_behind_what_was_held() {
        let (mut client, mut server) = pair();
        handshake(&mut client, &mut server, usize::MAX);
        server.hold(b"small first").unwrap();
        assert!(server.output().is_empty());
        let large = vec![7u8; 40 * 1024];
        server.hold(&large).unwrap();
        // The small send in its own record, then the large one in full
        // records: it was not copied aside to wait.
        let lengths = records(server.output());
        assert_eq!(lengths.len(), 4, "{lengths:?}");
        server.hold(b"after").unwrap();
        server.release_held().unwrap();
        let heard = carry_over(&mut server, &mut client, usize::MAX);
        let mut sent = b"small first".to_vec();
        sent.extend_from_slice(&large);
        sent.extend_from_slice(b"after");
        assert_eq!(heard, sent);
    }

    #[test]
    fn missing_bytes_finds_the_cut_record() {
        assert_eq!(missing_bytes(&[]), None);
        assert_eq!(missing_bytes(&[23, 3]), Some(3));
        assert_eq!(missing_bytes(&[23, 3, 3, 0, 4, 1]), Some(3));
        assert_eq!(missing_bytes(&[23, 3, 3, 0, 1, 9]), None);
        assert_eq!(missing_bytes(&[23, 3, 3, 0, 1, 9, 23, 3, 3, 0, 2]), Some(2));
    }
}
