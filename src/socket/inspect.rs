//! Inspecting a connection's TLS session after its handshake.

use super::session::Session;
use super::Socket;
use crate::error::{Code, Error, Result};
use crate::tls::info::TlsInfo;

impl Socket {
    /// What the handshake settled on and the peer's certificates.
    /// `NotApplicable` on a listener, a plain connection, or while the
    /// handshake runs.
    pub fn tls_info(&self) -> Result<TlsInfo> {
        let conn = self.connection()?;
        self.check_open()?;
        let st = conn.lock();
        match &st.session {
            Session::Plain => Err(Error::new(
                Code::NotApplicable,
                "this connection is plain: it has no TLS session to inspect",
            )),
            Session::Tls(tls) => {
                TlsInfo::of(tls.conn.common(), tls.conn.server_name()).ok_or_else(|| {
                    Error::new(
                        Code::NotApplicable,
                        "the TLS handshake is not done yet: ask after the ready callback",
                    )
                })
            }
        }
    }
}
