//! The original's demotion after error 6: a handshake that failed on what
//! the peer sent is reported to the error callback while the connection is
//! still alive, and a host that calls `sack_tcp_set_ssl(h, false)` from that
//! callback gets the connection back as plain TCP, with the bytes that
//! failed negotiation as its first message. Otherwise the connection closes
//! as before (rustls' alert, then FIN).

use super::deadlines::Deadline;
use super::{Driver, End};
use crate::error::{Code, Error};
use crate::events::{self, Delivery, Event};
use crate::socket::session::{self, Demotion, Session};

impl Driver<'_> {
    /// Whether `error` ends a handshake the host may demote: error 6 from
    /// rustls rejecting what the peer sent, with callbacks delivered inline
    /// (in the queued mode the error callback runs only after the
    /// connection has closed).
    pub(super) fn may_demote(&self, error: &Error) -> bool {
        error.code() == Code::TlsHandshake
            && events::delivery() == Delivery::Direct
            && matches!(&self.conn.lock().session, Session::Tls(t) if t.failed)
    }

    /// Reports `error` now and applies the host's decision: `Ok` when the
    /// connection goes on as plain, else the end to close it with (the
    /// error already reported).
    pub(super) fn offer_demotion(&mut self, error: Error) -> Result<(), End> {
        self.set_demotion(Demotion::Offered);
        events::emit(self.socket, Event::Error(&error));
        let received = {
            let mut st = self.conn.lock();
            let st = &mut *st;
            let Session::Tls(tls) = &mut st.session else {
                unreachable!("only the driver changes a failed session");
            };
            let requested = tls.demotion == Demotion::Requested;
            tls.demotion = Demotion::NotOffered;
            if !requested || self.socket.gate.messages_stopped() {
                // Closing as before: rustls' alert goes out, then FIN.
                session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
                return Err(End::TlsFailedReported);
            }
            let received = tls.take_received();
            // The alert and anything sent meanwhile are dropped with rustls.
            st.session = Session::Plain;
            st.tls_pending_plain = 0;
            received
        };
        log::debug!("connection demoted to plain after a failed TLS handshake");
        self.p.set_deadline(Deadline::Handshake, None);
        if !self.socket.gate.messages_stopped() {
            events::emit(self.socket, Event::Ready);
        }
        self.deliver(&received);
        Ok(())
    }

    /// A failure that was not offered for demotion: the alert rustls
    /// queued goes out before the close, as it always did.
    pub(super) fn send_held_alert(&self) {
        let mut st = self.conn.lock();
        let st = &mut *st;
        if let Session::Tls(tls) = &mut st.session {
            if tls.failed {
                session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
            }
        }
    }

    fn set_demotion(&self, to: Demotion) {
        if let Session::Tls(tls) = &mut self.conn.lock().session {
            tls.demotion = to;
        }
    }
}
