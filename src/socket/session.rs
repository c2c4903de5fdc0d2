//! What runs over the TCP stream: nothing (plain) or a rustls session.
//!
//! The session lives under the connection's lock because `send` encrypts on
//! the caller's thread. Its output goes straight to the socket when nothing
//! is queued ahead of it, and into the same wire queue plain bytes use
//! otherwise, so flushing and the queue limit work alike for both.

use std::sync::Arc;

use super::read_window::SharedSlice;
use super::send_queue::SendQueue;
use super::stream::Stream;
use crate::error::{Code, Error};
use crate::tls::config::{ClientTls, ServerTls};
use crate::tls::engine::Engine;
use crate::tls::errors::{self as tls_errors, Side};

/// The first bytes of a failed handshake go to the error callback; this
/// many are kept.
const INITIAL_BYTES_KEPT: usize = 4096;

pub(crate) enum Session {
    Plain,
    Tls(Box<TlsSession>),
}

pub(crate) struct TlsSession {
    pub conn: Engine,
    /// Bytes received while handshaking, for the handshake-failed error.
    initial: Vec<u8>,
    /// The negotiated ALPN protocol, once the handshake is done.
    pub alpn: Option<Vec<u8>>,
    /// rustls rejected what the peer sent: what it queued (an alert) is
    /// held back until the host has had its chance to demote.
    pub failed: bool,
    /// Bytes of the failing read beyond what `initial` kept.
    failed_rest: Vec<u8>,
    /// Where a demotion to plain (`sack_tcp_set_ssl(h, false)` from the
    /// error callback of a failed handshake) stands.
    pub demotion: Demotion,
    /// Sends of a corked pass that are the very bytes being delivered (an
    /// echo, chunk after chunk), kept as one reference into the delivery
    /// buffer rather than copied aside; encrypted from there when the pass
    /// ends. Only while the engine holds nothing, so the order is kept.
    held_window: Option<SharedSlice>,
}

/// A demotion to plain after a failed handshake (error 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Demotion {
    #[default]
    NotOffered,
    /// The error callback of the failed handshake is running.
    Offered,
    /// The host asked for it from that callback.
    Requested,
}

/// Which side of TLS a connection can take, fixed when it is created.
#[derive(Clone)]
pub(crate) enum TlsRole {
    Client(Arc<ClientTls>),
    Server(Arc<ServerTls>),
}

impl TlsSession {
    fn new(conn: Engine) -> TlsSession {
        TlsSession {
            conn,
            initial: Vec::new(),
            alpn: None,
            failed: false,
            failed_rest: Vec::new(),
            demotion: Demotion::NotOffered,
            held_window: None,
        }
    }
}

/// Encryption is refused only by a session that already failed (its error
/// is being reported) or whose keys are exhausted (rustls then closes it).
fn not_encrypted(result: Result<(), rustls::Error>) {
    if let Err(e) = result {
        log::debug!("TLS: data not encrypted: {e}");
    }
}

impl TlsRole {
    pub fn new_session(&self) -> crate::error::Result<TlsSession> {
        let conn = match self {
            TlsRole::Client(c) => c.new_session()?,
            TlsRole::Server(s) => s.new_session()?,
        };
        Ok(TlsSession::new(conn))
    }

    pub fn handshake_timeout(&self) -> std::time::Duration {
        match self {
            TlsRole::Client(c) => c.handshake_timeout,
            TlsRole::Server(s) => s.handshake_timeout,
        }
    }
}

impl Session {
    pub fn is_tls(&self) -> bool {
        matches!(self, Session::Tls(_))
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self, Session::Tls(t) if t.conn.is_handshaking())
    }

    /// Secure: TLS with the handshake done.
    pub fn is_secure(&self) -> bool {
        matches!(self, Session::Tls(t) if !t.conn.is_handshaking())
    }
}

impl TlsSession {
    /// Keeps the first bytes of a handshake; returns how many of `bytes`.
    pub fn note_initial(&mut self, bytes: &[u8]) -> usize {
        if self.conn.is_handshaking() && self.initial.len() < INITIAL_BYTES_KEPT {
            let room = INITIAL_BYTES_KEPT - self.initial.len();
            let kept = bytes.len().min(room);
            self.initial.extend_from_slice(&bytes[..kept]);
            kept
        } else {
            0
        }
    }

    /// Lets the handshake's bytes go once it is done: only a failed
    /// handshake reports or demotes with them, and an established
    /// connection would otherwise hold its peer's first flight (a
    /// ClientHello with a post-quantum key share is 1.5 KB) for its life.
    pub fn forget_initial_once_established(&mut self) {
        if !self.conn.is_handshaking() && self.initial.capacity() != 0 {
            self.initial = Vec::new();
        }
    }

    /// rustls rejected the read whose bytes `unkept` did not fit `initial`.
    pub fn note_failure(&mut self, unkept: Vec<u8>) {
        self.failed = true;
        self.failed_rest = unkept;
    }

    /// The bytes the failed handshake received, for a demoted connection:
    /// the first ones kept and the rest of the failing read.
    pub fn take_received(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.initial);
        bytes.append(&mut self.failed_rest);
        bytes
    }

    /// Encrypts `data` (or, before the handshake is done, has rustls hold
    /// it) and moves the resulting records towards the socket.
    /// Returns the bytes written straight to the socket.
    pub fn send(&mut self, data: &[u8], queue: &mut SendQueue, stream: Option<&Stream>) -> usize {
        self.encrypt(data);
        pump(&mut self.conn, queue, stream)
    }

    /// Encrypts `data` (or holds it until the handshake is done), leaving
    /// the records for a later `pump`.
    pub fn encrypt(&mut self, data: &[u8]) {
        not_encrypted(self.conn.encrypt(data));
    }

    /// Keeps `data` for the end of a corked pass (see `Engine::hold`);
    /// `shared` is `data` as a reference into the bytes being delivered,
    /// when that is where it lies.
    pub fn hold(&mut self, data: &[u8], shared: Option<SharedSlice>) {
        if let Some(next) = shared.filter(|_| !self.conn.has_held()) {
            match &mut self.held_window {
                None => {
                    self.held_window = Some(next);
                    return;
                }
                Some(window) => {
                    if window.extend(&next) {
                        return;
                    }
                }
            }
        }
        self.hold_window_copy();
        not_encrypted(self.conn.hold(data));
    }

    /// The reference kept so far goes to the engine's held bytes, ahead of
    /// a send that does not continue it.
    fn hold_window_copy(&mut self) {
        if let Some(window) = self.held_window.take() {
            not_encrypted(self.conn.hold(window.bytes()));
        }
    }

    /// Encrypts what a corked pass held back, in as few records as it fits.
    pub fn release_held(&mut self) {
        // The engine holds nothing while a reference is kept (see `hold`).
        not_encrypted(match self.held_window.take() {
            Some(window) => self.conn.encrypt(window.bytes()),
            None => self.conn.release_held(),
        });
    }

    /// Queues TLS's own close (close_notify) behind everything sent.
    pub fn send_close_notify(&mut self) {
        self.release_held();
        self.conn.send_close_notify();
    }

    /// The error a failed handshake or record reports, with its data (the
    /// code comes from `tls::errors`).
    pub fn failure(&self, role: &TlsRole, e: &rustls::Error) -> Error {
        let handshaking = self.conn.is_handshaking();
        let requested = self.conn.server_name();
        let side = match role {
            TlsRole::Client(_) => Side::Client,
            TlsRole::Server(server) => Side::Server {
                unserved_name: requested.filter(|name| !server.serves(name)),
            },
        };
        // A rejected ClientHello reaches rustls as "no certificate", a
        // General error; the hook noted the rejection on this thread.
        let rejected = matches!(role, TlsRole::Server(_))
            && matches!(e, rustls::Error::General(_))
            && crate::tls::hello::take_rejection();
        let code = if rejected {
            Code::TlsRejected
        } else {
            tls_errors::code_for(e, side, handshaking)
        };
        let data = match code {
            Code::TlsHostMismatch => requested.unwrap_or_default().as_bytes().to_vec(),
            Code::TlsHandshake => self.initial.clone(),
            _ => Vec::new(),
        };
        let what = if handshaking {
            "TLS handshake failed"
        } else {
            "TLS error"
        };
        Error::new(code, format!("{what}: {e}")).with_data(data)
    }

    /// The peer closed the connection in the middle of the handshake.
    pub fn closed_during_handshake(&self) -> Error {
        Error::new(
            Code::TlsHandshake,
            "TLS handshake failed: the peer closed the connection before it was done",
        )
        .with_data(self.initial.clone())
    }
}

/// Moves the session's pending records out: straight into the socket
/// while it takes them and nothing is queued ahead, the rest to the back of
/// `queue`. Returns the bytes written to the socket.
pub fn pump(conn: &mut Engine, queue: &mut SendQueue, stream: Option<&Stream>) -> usize {
    let records = conn.output();
    if records.is_empty() {
        return 0;
    }
    let written = match stream {
        Some(stream) if queue.is_empty() => {
            records.len() - super::wire::write_inline(stream, records).len()
        }
        _ => 0,
    };
    if written < records.len() {
        queue.push(&records[written..]);
    }
    conn.output_taken();
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::TlsOptions;

    fn client_session() -> (TlsRole, TlsSession) {
        let target = crate::address::parse("localhost:443").unwrap();
        let options = TlsOptions {
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        let role = TlsRole::Client(ClientTls::build(&options, &target).unwrap());
        let session = role.new_session().unwrap();
        (role, session)
    }

    #[test]
    fn a_new_client_session_queues_its_hello_and_holds_plaintext() {
        let (_, mut session) = client_session();
        let mut queue = SendQueue::default();
        pump(&mut session.conn, &mut queue, None);
        let hello = queue.len();
        assert!(
            hello > 0,
            "the ClientHello goes to the queue without a stream"
        );
        // Before the handshake is done plaintext waits in the engine.
        session.send(b"early", &mut queue, None);
        assert_eq!(queue.len(), hello);
        assert!(session.conn.is_handshaking());
    }

    #[test]
    fn the_first_bytes_of_a_failed_handshake_are_kept_up_to_a_bound() {
        let (_, mut session) = client_session();
        session.note_initial(&[b'G'; 3000]);
        session.note_initial(&[b'E'; 3000]);
        let error = session.closed_during_handshake();
        assert_eq!(error.code(), Code::TlsHandshake);
        assert_eq!(error.data().len(), INITIAL_BYTES_KEPT);
        assert_eq!(&error.data()[2999..3001], b"GE");
    }

    #[test]
    fn an_established_session_lets_the_handshake_bytes_go() {
        use crate::tls::config::ServerTls;
        use crate::tls::test_support::key_files::fixture;
        let server_role = TlsRole::Server(
            ServerTls::build(&TlsOptions {
                cert: Some(fixture("ec.crt").to_owned()),
                key: Some(fixture("ec.p8").to_owned()),
                ..TlsOptions::default()
            })
            .unwrap(),
        );
        let mut server = server_role.new_session().unwrap();
        let (_, mut client) = client_session();
        // Records flow by hand until both are done, the server noting
        // what it receives as the driver does.
        let mut plain = Vec::new();
        for _ in 0..10 {
            let mut to_server = client.conn.output().to_vec();
            client.conn.output_taken();
            server.note_initial(&to_server);
            server.conn.feed(&mut to_server, &mut plain).unwrap();
            if server.conn.is_handshaking() {
                server.forget_initial_once_established();
                assert!(!server.initial.is_empty(), "kept while handshaking");
            }
            let mut to_client = server.conn.output().to_vec();
            server.conn.output_taken();
            client.conn.feed(&mut to_client, &mut plain).unwrap();
            if !client.conn.is_handshaking() && !server.conn.is_handshaking() {
                break;
            }
        }
        assert!(!server.conn.is_handshaking());
        assert!(server.initial.capacity() > 0);
        server.forget_initial_once_established();
        assert_eq!(server.initial.capacity(), 0);
    }

    #[test]
    fn plain_and_tls_sessions_say_what_they_are() {
        assert!(!Session::Plain.is_tls() && !Session::Plain.is_handshaking());
        let (_, session) = client_session();
        let tls = Session::Tls(Box::new(session));
        assert!(tls.is_tls() && tls.is_handshaking() && !tls.is_secure());
    }

    /// A server session past its handshake, and the client talking to it.
    fn established() -> (Engine, TlsSession) {
        use crate::tls::engine::tests::{handshake, pair};
        let (mut client, mut server) = pair();
        handshake(&mut client, &mut server, usize::MAX);
        (client, TlsSession::new(server))
    }

    /// What the client decrypts of everything the session has output.
    fn heard(session: &mut TlsSession, client: &mut Engine) -> Vec<u8> {
        crate::tls::engine::tests::carry_over(&mut session.conn, client, usize::MAX)
    }

    fn hold(session: &mut TlsSession, data: &[u8], sent: &mut Vec<u8>) {
        session.hold(data, super::super::read_window::slice_of(1, data));
        sent.extend_from_slice(data);
    }

    #[test]
    fn an_echo_of_the_delivered_bytes_is_referenced_not_copied() {
        use super::super::read_window;
        let (mut client, mut session) = established();
        let delivered = Arc::new((0..40_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut sent = Vec::new();
        {
            let _window = read_window::open(1, delivered.clone(), delivered.len());
            for chunk in delivered.chunks(4096) {
                hold(&mut session, chunk, &mut sent);
            }
            assert!(!session.conn.has_held(), "nothing copied aside");
            assert!(session.held_window.is_some());
        }
        session.release_held();
        assert_eq!(Arc::strong_count(&delivered), 1, "the buffer let go");
        assert_eq!(heard(&mut session, &mut client), sent);
    }

    #[test]
    fn referenced_and_copied_sends_leave_in_the_order_they_were_made() {
        use super::super::read_window;
        let (mut client, mut session) = established();
        let delivered = Arc::new((0..20_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
        let elsewhere = vec![9u8; 300];
        let mut sent = Vec::new();
        {
            let _window = read_window::open(1, delivered.clone(), delivered.len());
            hold(&mut session, &delivered[0..4096], &mut sent);
            hold(&mut session, &delivered[4096..8192], &mut sent);
            // Not in the delivered bytes: the reference is copied ahead of it.
            hold(&mut session, &elsewhere, &mut sent);
            assert!(session.held_window.is_none());
            // Delivered bytes again, behind a copy: copied too.
            hold(&mut session, &delivered[100..200], &mut sent);
            hold(&mut session, &delivered[8192..20_000], &mut sent);
        }
        session.release_held();
        assert_eq!(heard(&mut session, &mut client), sent);

        // A new pass: a reference that does not continue the first one.
        let mut sent = Vec::new();
        {
            let _window = read_window::open(1, delivered.clone(), delivered.len());
            hold(&mut session, &delivered[1000..2000], &mut sent);
            hold(&mut session, &delivered[0..500], &mut sent);
            hold(&mut session, &delivered[500..600], &mut sent);
        }
        session.send_close_notify();
        assert_eq!(heard(&mut session, &mut client), sent);
        assert!(client.peer_closed(), "close_notify behind the held bytes");
    }
}
