//! How rustls errors become error codes: the error callback's positive
//! TLS codes (`Code::Tls*`, `SACK_TCP_TLS_*`, 1-7) for what the user can
//! act on, and `Code::Io` for a failure on an established TLS connection.
//!
//! The numbers themselves are written once, in the error table of
//! `crate::error`; this module only chooses among them.

use std::fmt;

use rustls::{AlertDescription, CertificateError, OtherError};

use super::peer_check::RejectedByHost;
use crate::error::Code;

/// Marks a server certificate rejected because it is self-signed (and not
/// trusted), inside `CertificateError::Other`. The client's verifier
/// (`tls::verify`) produces it; [`client_code`] reports it as
/// [`Code::TlsSelfSigned`].
#[derive(Debug)]
pub struct SelfSigned;

impl fmt::Display for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server's certificate is self-signed and not trusted")
    }
}

impl std::error::Error for SelfSigned {}

/// Which end of the connection saw the error, with what that end knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side<'a> {
    Client,
    Server {
        /// The name the client asked for (SNI) when the server has no
        /// certificate for it.
        unserved_name: Option<&'a str>,
    },
}

/// The code a rustls error reports on `side`. `handshaking`: the error
/// came before the handshake was done; afterwards a failure that is not
/// about certificates is [`Code::Io`] rather than
/// [`Code::TlsHandshake`].
pub fn code_for(e: &rustls::Error, side: Side<'_>, handshaking: bool) -> Code {
    let code = match side {
        // The peer turned down our certificate (a client's in TLS 1.3
        // arrives after our side of the handshake was done).
        _ if is_certificate_alert(e) => Code::TlsBadCertificate,
        Side::Client => client_code(e),
        Side::Server { .. }
            if matches!(
                e,
                rustls::Error::InvalidCertificate(CertificateError::Revoked)
            ) =>
        {
            Code::TlsRevoked
        }
        Side::Server { .. } if is_rejected_by_host(e) => Code::TlsRejected,
        Side::Server { .. } if is_client_certificate_error(e) => Code::TlsBadCertificate,
        Side::Server {
            unserved_name: Some(_),
        } => Code::TlsHostMismatch,
        Side::Server {
            unserved_name: None,
        } => Code::TlsHandshake,
    };
    match code {
        Code::TlsHandshake if !handshaking => Code::Io,
        code => code,
    }
}

/// The code for a rustls error seen by a client. Everything that is not
/// about the server's certificate (alerts from the server, protocol errors,
/// I/O) is [`Code::TlsHandshake`].
pub fn client_code(e: &rustls::Error) -> Code {
    let rustls::Error::InvalidCertificate(cert_error) = e else {
        return Code::TlsHandshake;
    };
    match cert_error {
        CertificateError::UnknownIssuer => Code::TlsUnknownIssuer,
        CertificateError::Revoked => Code::TlsRevoked,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Code::TlsBadName
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => Code::TlsExpired,
        CertificateError::Other(OtherError(inner))
            if inner.downcast_ref::<SelfSigned>().is_some() =>
        {
            Code::TlsSelfSigned
        }
        CertificateError::Other(OtherError(inner))
            if inner.downcast_ref::<RejectedByHost>().is_some() =>
        {
            Code::TlsRejected
        }
        _ => Code::TlsBadCertificate,
    }
}

/// A peer's verdict on our certificate, seen as an alert.
fn is_certificate_alert(e: &rustls::Error) -> bool {
    use AlertDescription as A;
    matches!(
        e,
        rustls::Error::AlertReceived(
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::CertificateRequired
        )
    )
}

/// A client certificate this server could not accept (or none, when one is
/// required).
fn is_rejected_by_host(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner)))
            if inner.downcast_ref::<RejectedByHost>().is_some()
    )
}

fn is_client_certificate_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cert(e: CertificateError) -> rustls::Error {
        rustls::Error::InvalidCertificate(e)
    }

    #[test]
    fn client_errors_map_by_kind() {
        let cases = [
            (
                cert(CertificateError::UnknownIssuer),
                Code::TlsUnknownIssuer,
            ),
            (cert(CertificateError::NotValidForName), Code::TlsBadName),
            (cert(CertificateError::Expired), Code::TlsExpired),
            (
                cert(CertificateError::Other(OtherError(Arc::new(SelfSigned)))),
                Code::TlsSelfSigned,
            ),
            (
                cert(CertificateError::Other(OtherError(Arc::new(
                    std::fmt::Error,
                )))),
                Code::TlsBadCertificate,
            ),
            (
                cert(CertificateError::BadSignature),
                Code::TlsBadCertificate,
            ),
            (cert(CertificateError::NotValidYet), Code::TlsBadCertificate),
            (cert(CertificateError::Revoked), Code::TlsRevoked),
            (
                rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
                Code::TlsHandshake,
            ),
            (
                rustls::Error::General("no server certificate chain resolved".into()),
                Code::TlsHandshake,
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(client_code(&err), expected, "{err:?}");
            assert_eq!(code_for(&err, Side::Client, true), expected, "{err:?}");
        }
    }

    #[test]
    fn an_alert_about_our_certificate_is_a_bad_certificate_on_both_sides() {
        let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        let server = Side::Server {
            unserved_name: None,
        };
        for side in [Side::Client, server] {
            for handshaking in [true, false] {
                assert_eq!(
                    code_for(&alert, side, handshaking),
                    Code::TlsBadCertificate,
                    "{side:?}"
                );
            }
        }
    }

    #[test]
    fn server_errors_map_by_cause() {
        let served = Side::Server {
            unserved_name: None,
        };
        let unserved = Side::Server {
            unserved_name: Some("other.example.com"),
        };
        let no_cert = rustls::Error::NoCertificatesPresented;
        assert_eq!(code_for(&no_cert, served, true), Code::TlsBadCertificate);
        let bad_cert = cert(CertificateError::UnknownIssuer);
        assert_eq!(code_for(&bad_cert, unserved, true), Code::TlsBadCertificate);
        let unresolved = rustls::Error::General("no server certificate chain resolved".into());
        assert_eq!(code_for(&unresolved, unserved, true), Code::TlsHostMismatch);
        assert_eq!(code_for(&unresolved, served, true), Code::TlsHandshake);
    }

    #[test]
    fn after_the_handshake_a_protocol_error_is_an_io_error() {
        let err = rustls::Error::DecryptError;
        let served = Side::Server {
            unserved_name: None,
        };
        assert_eq!(code_for(&err, Side::Client, true), Code::TlsHandshake);
        assert_eq!(code_for(&err, Side::Client, false), Code::Io);
        assert_eq!(code_for(&err, served, true), Code::TlsHandshake);
        assert_eq!(code_for(&err, served, false), Code::Io);
    }
}
