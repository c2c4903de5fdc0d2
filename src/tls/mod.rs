//! TLS: certificate and key loading, the SNI certificate store, server
//! verification for clients, TLS-or-plain detection, and the engine that
//! runs a rustls session over the connection driver's buffers (the driver
//! in `socket` feeds it and sends what it produces).

/// The handshake-signature half of a verifier that wraps another (`inner`)
/// to look at certificates only: every signature check is the inner one's.
/// Written once for the verifiers in `verify` and `peer_check`.
macro_rules! delegate_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.inner.supported_verify_schemes()
        }

        fn requires_raw_public_keys(&self) -> bool {
            self.inner.requires_raw_public_keys()
        }
    };
}
pub(crate) use delegate_signature_checks;

pub mod certs;
pub mod client_cache;
pub mod config;
pub mod detect;
pub mod engine;
pub mod errors;
pub mod expiry;
pub mod hello;
pub mod info;
pub mod key_log;
pub mod keys;
pub mod peer_check;
mod pem;
pub mod sni;
pub mod verify;
mod x509;

#[cfg(test)]
pub(crate) mod test_support;

use std::fmt;
use std::sync::Arc;

/// A callback the host put in the TLS options (`peer_check::PeerCheck`,
/// `hello::HelloHook`). Options compare by it, and shared client configs
/// are keyed by it, so it says which callback it is.
pub trait HostCallback: Send + Sync {
    /// Bytes that tell this callback apart from others: two with the same
    /// identity decide alike (for a C callback: its function and user data
    /// pointers).
    fn identity(&self) -> Vec<u8>;
}

/// A host callback, shared and compared by identity.
pub struct HostRef<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Clone for HostRef<T> {
    fn clone(&self) -> Self {
        HostRef(self.0.clone())
    }
}

impl<T: ?Sized + HostCallback> PartialEq for HostRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.identity() == other.0.identity()
    }
}

impl<T: ?Sized + HostCallback> Eq for HostRef<T> {}

impl<T: ?Sized> fmt::Debug for HostRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("host callback")
    }
}
