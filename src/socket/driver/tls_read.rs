//! The TLS half of a read: received records fed to rustls, what it
//! answers held until the pass ends (corked), ready raised when a
//! handshake completes, and the plaintext handed to delivery.

use std::sync::Arc;

use super::deadlines::Deadline;
use super::delivery::with_plain_buffer;
use super::{Driver, End};
use crate::error::Error;
use crate::events::{self, Event};
use crate::socket::read_window;
use crate::socket::session::{self, Session, TlsRole};
use crate::socket::ConnState;

/// Starts TLS's own close (a close_notify alert) ahead of our FIN.
pub(super) fn send_close_notify(st: &mut ConnState) {
    if let Session::Tls(tls) = &mut st.session {
        tls.send_close_notify();
        session::pump(&mut tls.conn, &mut st.queue, None);
    }
}

impl Driver<'_> {
    /// Feeds received records to rustls, sends what it answers, raises
    /// ready when a handshake completes, and delivers the plaintext (from a
    /// second per-thread buffer).
    pub(super) fn read_tls(&mut self, buf: &mut [u8], n: usize) -> Result<(), End> {
        self.conn.lock().corked = true;
        let result = self.read_corked(buf, n);
        self.uncork();
        result
    }

    /// Sends what rustls produced during a corked pass (handshake flights,
    /// tickets, the records of sends made from callbacks) in one write.
    pub(super) fn uncork(&mut self) {
        let mut st = self.conn.lock();
        let st = &mut *st;
        st.corked = false;
        if let Session::Tls(tls) = &mut st.session {
            if tls.failed {
                // Held until the host decides on a demotion (demote.rs).
                return;
            }
            tls.release_held();
            let written = session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
            if let Some(addrs) = st.addrs.as_deref_mut() {
                addrs.figures.sent += written as u64;
            }
            if !tls.conn.is_handshaking() {
                st.tls_pending_plain = 0;
            }
        }
        st.arm_drain_if_queued(&self.conn.settings);
    }

    pub(super) fn read_corked(&mut self, buf: &mut [u8], n: usize) -> Result<(), End> {
        with_plain_buffer(|shared| {
            let plain = Arc::get_mut(shared).expect("this thread's alone");
            let peer_closed = self.feed_tls(&mut buf[..n], plain)?;
            self.check_handshake_done();
            if !shared.is_empty() {
                // Sends of these very bytes keep references to them, and
                // are encrypted from here when the pass ends (uncork).
                let _window =
                    read_window::open(self.conn.window_owner(), shared.clone(), shared.len());
                self.deliver(shared);
            }
            if peer_closed {
                // close_notify: the peer ended cleanly.
                self.on_peer_eof();
            }
            Ok(())
        })
    }

    /// Gives rustls all of `input` (decrypted in place), the plaintext
    /// going to `plain`; returns whether the peer's close_notify came in it.
    pub(super) fn feed_tls(&mut self, input: &mut [u8], plain: &mut Vec<u8>) -> Result<bool, End> {
        let mut st = self.conn.lock();
        let st = &mut *st;
        let Session::Tls(tls) = &mut st.session else {
            return Ok(false);
        };
        let kept = tls.note_initial(input);
        // A failed handshake reports (and a demotion delivers) the bytes as
        // received, before rustls decrypted any of them in place.
        let unkept = if tls.conn.is_handshaking() {
            input[kept..].to_vec()
        } else {
            Vec::new()
        };
        let was_closed = tls.conn.peer_closed();
        if let Err(e) = tls.conn.feed(input, plain) {
            let role = st.tls_role.as_ref().expect("a TLS session has a role");
            let error = tls.failure(role, &e);
            // rustls queued an alert: it goes out before the close unless
            // the host demotes the connection (demote.rs).
            tls.note_failure(unkept);
            return Err(End::TlsFailed(error));
        }
        tls.forget_initial_once_established();
        // What rustls answers leaves when the pass is uncorked.
        Ok(!was_closed && tls.conn.peer_closed())
    }

    /// The error for an EOF that came before the handshake was done.
    pub(super) fn handshake_cut_short(&self) -> Option<Error> {
        match &self.conn.lock().session {
            Session::Tls(tls) if tls.conn.is_handshaking() => Some(tls.closed_during_handshake()),
            _ => None,
        }
    }

    /// Raises `ready` once per completed handshake (again after STARTTLS).
    pub(super) fn check_handshake_done(&mut self) {
        if self.p.deadline(Deadline::Handshake).is_none() {
            return;
        }
        {
            let mut st = self.conn.lock();
            let st = &mut *st;
            let Session::Tls(tls) = &mut st.session else {
                return;
            };
            if tls.conn.is_handshaking() {
                return;
            }
            tls.alpn = tls.conn.common().alpn_protocol().map(<[u8]>::to_vec);
            if log::log_enabled!(target: "sack_tcp::tls::expiry", log::Level::Warn) {
                let days = match &st.tls_role {
                    Some(TlsRole::Client(c)) => c.warning_days,
                    Some(TlsRole::Server(s)) => s.warning_days,
                    None => crate::tls::expiry::DEFAULT_WARNING_DAYS,
                };
                if let Some(leaf) = tls
                    .conn
                    .common()
                    .peer_certificates()
                    .and_then(|c| c.first())
                {
                    crate::tls::expiry::check(leaf, "peer certificate", days);
                }
            }
            // rustls encrypted the plaintext it held; it is in the queue now.
            st.tls_pending_plain = 0;
        }
        self.p.set_deadline(Deadline::Handshake, None);
        if !self.socket.gate.messages_stopped() {
            events::emit(self.socket, Event::Ready);
        }
    }
}
