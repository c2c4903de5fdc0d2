//! The TLS half of a read: received records fed to rustls, what it
//! answers held until the pass ends (corked), ready raised when a
//! handshake completes, and the plaintext handed to delivery.

use std::io::{self, Read};

use super::deadlines::Deadline;
use super::delivery::with_plain_buffer;
use super::{Driver, End};
use crate::error::{Code, Error};
use crate::events::{self, Event};
use crate::socket::session::{self, Session, TlsRole};
use crate::socket::ConnState;

/// Starts TLS's own close (a close_notify alert) ahead of our FIN.
pub(super) fn send_close_notify(st: &mut ConnState) {
    if let Session::Tls(tls) = &mut st.session {
        tls.conn.send_close_notify();
        session::pump(&mut tls.conn, &mut st.queue, None);
    }
}

impl Driver<'_> {
    /// Feeds received records to rustls, sends what it answers, raises
    /// ready when a handshake completes, and delivers the plaintext. rustls
    /// holds at most 16 KiB of plaintext, so a large read is fed in turns,
    /// the plaintext drained (into a second per-thread buffer) between them.
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
        let mut fed = 0;
        while fed < n {
            let took = self.feed_tls(&buf[fed..n])?;
            fed += took;
            self.check_handshake_done();
            let size = self.conn.settings.read_buffer_size;
            let Some(delivered) = with_plain_buffer(size, |plain| self.drain_plaintext(plain))?
            else {
                return Ok(()); // the peer ended the TLS session
            };
            if took == 0 && delivered == 0 {
                return Err(End::Failed(Error::new(
                    Code::Io,
                    "TLS: rustls took no more records and held no plaintext",
                )));
            }
        }
        Ok(())
    }

    /// Gives rustls as much of `input` as it takes now; returns how much.
    pub(super) fn feed_tls(&mut self, input: &[u8]) -> Result<usize, End> {
        let mut st = self.conn.lock();
        let st = &mut *st;
        let Session::Tls(tls) = &mut st.session else {
            return Ok(input.len());
        };
        let kept = tls.note_initial(input);
        let mut rest = input;
        while !rest.is_empty() {
            match tls.conn.read_tls(&mut rest) {
                // After close_notify rustls takes nothing more.
                Ok(0) => break,
                Ok(_) => {}
                // Backpressure (its plaintext buffer is full): drain, then
                // come back for the rest.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(End::Failed(Error::from_io("TLS read", &e))),
            }
            if let Err(e) = tls.conn.process_new_packets() {
                let role = st.tls_role.as_ref().expect("a TLS session has a role");
                let error = tls.failure(role, &e);
                // rustls queued an alert: it goes out before the close
                // unless the host demotes the connection (demote.rs).
                tls.note_failure(&input[kept..]);
                return Err(End::TlsFailed(error));
            }
        }
        tls.forget_initial_once_established();
        // What rustls answers leaves when the pass is uncorked.
        Ok(input.len() - rest.len())
    }

    /// Delivers the plaintext rustls holds, a buffer at a time; returns the
    /// bytes delivered, or `None` once the peer ended the session.
    pub(super) fn drain_plaintext(&mut self, plain: &mut [u8]) -> Result<Option<usize>, End> {
        let mut delivered = 0;
        loop {
            let read = {
                let mut st = self.conn.lock();
                let Session::Tls(tls) = &mut st.session else {
                    return Ok(Some(delivered));
                };
                tls.conn.reader().read(plain)
            };
            match read {
                Ok(0) => {
                    // close_notify: the peer ended cleanly.
                    self.on_peer_eof();
                    return Ok(None);
                }
                Ok(k) => {
                    delivered += k;
                    self.deliver(&plain[..k]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Some(delivered)),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.on_peer_eof();
                    return Ok(None);
                }
                Err(e) => return Err(End::Failed(Error::from_io("TLS read", &e))),
            }
        }
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
            tls.alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
            if log::log_enabled!(target: "sack_tcp::tls::expiry", log::Level::Warn) {
                let days = match &st.tls_role {
                    Some(TlsRole::Client(c)) => c.warning_days,
                    Some(TlsRole::Server(s)) => s.warning_days,
                    None => crate::tls::expiry::DEFAULT_WARNING_DAYS,
                };
                if let Some(leaf) = tls.conn.peer_certificates().and_then(|c| c.first()) {
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
