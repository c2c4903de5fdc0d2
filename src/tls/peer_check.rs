//! The host's own check of a peer's certificate (pinning): it runs after
//! the normal verification has accepted the chain, and can only reject.
//!
//! It wraps the verifiers rustls calls during the handshake, so it runs
//! on the connection's worker thread whatever the delivery mode: the
//! handshake cannot wait for the host to dispatch. A resumed session
//! carries the decision made when it was first verified (rustls does not
//! verify again), and configs shared between clients are keyed by the
//! check's identity, so a session approved by one check is never offered
//! under another.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, OtherError};

use super::info::sha256;
use super::{x509, HostCallback, HostRef};

/// What the host's check is shown: the chain that passed verification.
#[derive(Debug)]
pub struct PeerChain<'a> {
    /// DER certificates as the peer sent them, leaf first.
    pub certs: Vec<&'a [u8]>,
    /// Client side: the name the server was verified for. Server side:
    /// None (a client certificate is not issued for a name).
    pub server_name: Option<String>,
    pub leaf_sha256: [u8; 32],
    /// SHA-256 of the leaf's SubjectPublicKeyInfo (RFC 7469's pin-sha256);
    /// None if the leaf cannot be parsed for it.
    pub leaf_spki_sha256: Option<[u8; 32]>,
}

/// A host's verdict on a chain that passed the normal checks.
pub trait PeerCheck: HostCallback {
    fn accepts(&self, chain: &PeerChain<'_>) -> bool;
}

/// A shared check, compared by identity so options stay comparable.
pub type PeerCheckRef = HostRef<dyn PeerCheck>;

/// The marker inside `CertificateError::Other` for a chain the host's
/// check rejected; `tls::errors` reports it as `Code::TlsRejected`.
#[derive(Debug)]
pub struct RejectedByHost;

impl fmt::Display for RejectedByHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the host's verify callback rejected the peer's certificate")
    }
}

impl std::error::Error for RejectedByHost {}

fn ask(
    check: &PeerCheckRef,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: Option<String>,
) -> Result<(), rustls::Error> {
    let chain = PeerChain {
        certs: std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref())
            .collect(),
        server_name,
        leaf_sha256: sha256(end_entity),
        leaf_spki_sha256: x509::spki_der(end_entity).map(|spki| sha256(&spki)),
    };
    if check.0.accepts(&chain) {
        Ok(())
    } else {
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(RejectedByHost)),
        )))
    }
}

/// A client's verifier followed by the host's check.
pub fn checked_server_verifier(
    inner: Arc<dyn ServerCertVerifier>,
    check: Option<&PeerCheckRef>,
) -> Arc<dyn ServerCertVerifier> {
    match check {
        None => inner,
        Some(check) => Arc::new(CheckedServerVerifier {
            inner,
            check: check.clone(),
        }),
    }
}

/// A server's client-certificate verifier followed by the host's check.
pub fn checked_client_verifier(
    inner: Arc<dyn ClientCertVerifier>,
    check: Option<&PeerCheckRef>,
) -> Arc<dyn ClientCertVerifier> {
    match check {
        None => inner,
        Some(check) => Arc::new(CheckedClientVerifier {
            inner,
            check: check.clone(),
        }),
    }
}

#[derive(Debug)]
struct CheckedServerVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    check: PeerCheckRef,
}

impl ServerCertVerifier for CheckedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let name = server_name.to_str().into_owned();
        ask(&self.check, end_entity, intermediates, Some(name))?;
        Ok(verified)
    }

    super::delegate_signature_checks!();

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[derive(Debug)]
struct CheckedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    check: PeerCheckRef,
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        ask(&self.check, end_entity, intermediates, None)?;
        Ok(verified)
    }

    super::delegate_signature_checks!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use rustls::client::ResolvesClientCert;
    use rustls::server::WebPkiClientVerifier;
    use rustls::sign::CertifiedKey;
    use rustls::{ClientConfig, ServerConfig};

    use crate::error::Code;
    use crate::tls::errors::{code_for, Side};
    use crate::tls::test_support::{
        client_builder, client_config, connect, issue, leaf_params, new_ca, provider, roots_of,
        server_config, Serve, TestCert,
    };
    use crate::tls::verify::{server_verifier, Trust};

    /// Chain length, server name, leaf SHA-256, whether the SPKI hash was
    /// there.
    type Seen = (usize, Option<String>, [u8; 32], bool);

    /// Answers `verdict` and keeps what it was shown.
    struct Recording {
        verdict: bool,
        seen: Mutex<Vec<Seen>>,
    }

    impl PeerCheck for Recording {
        fn accepts(&self, chain: &PeerChain<'_>) -> bool {
            self.seen.lock().unwrap().push((
                chain.certs.len(),
                chain.server_name.clone(),
                chain.leaf_sha256,
                chain.leaf_spki_sha256.is_some(),
            ));
            self.verdict
        }
    }

    impl HostCallback for Recording {
        fn identity(&self) -> Vec<u8> {
            vec![u8::from(self.verdict)]
        }
    }

    fn recording(verdict: bool) -> (Arc<Recording>, PeerCheckRef) {
        let check = Arc::new(Recording {
            verdict,
            seen: Mutex::new(Vec::new()),
        });
        (check.clone(), HostRef(check))
    }

    fn client_with(trust: Trust, check: &PeerCheckRef) -> Arc<ClientConfig> {
        let verifier = checked_server_verifier(server_verifier(trust).unwrap(), Some(check));
        client_config(
            client_builder()
                .dangerous()
                .with_custom_certificate_verifier(verifier),
        )
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("localhost").unwrap()
    }

    #[test]
    fn the_check_sees_the_verified_chain_and_can_accept() {
        let ca = new_ca("Test CA");
        let leaf = issue(&ca, leaf_params(&["localhost"], "localhost"));
        let (check, check_ref) = recording(true);
        let client = client_with(Trust::CaPem(roots_of(&[ca.der()])), &check_ref);
        let server = server_config(Arc::new(Serve(leaf.key.clone())));
        let (_, _, result) = connect(&client, &server, name());
        result.unwrap();
        let seen = check.seen.lock().unwrap();
        assert_eq!(
            seen.as_slice(),
            [(1, Some("localhost".to_owned()), sha256(&leaf.der), true)]
        );
    }

    #[test]
    fn a_rejection_is_its_own_code_and_the_server_sees_a_bad_certificate() {
        let ca = new_ca("Test CA");
        let leaf = issue(&ca, leaf_params(&["localhost"], "localhost"));
        let (_, check_ref) = recording(false);
        let client = client_with(Trust::CaPem(roots_of(&[ca.der()])), &check_ref);
        let server = server_config(Arc::new(Serve(leaf.key.clone())));
        let (_, _, result) = connect(&client, &server, name());
        let failure = result.unwrap_err();
        assert!(!failure.server_first);
        let client_error = failure.client.unwrap();
        assert_eq!(
            code_for(&client_error, Side::Client, true),
            Code::TlsRejected
        );
        let unserved = Side::Server {
            unserved_name: None,
        };
        assert_eq!(
            code_for(&failure.server.unwrap(), unserved, true),
            Code::TlsBadCertificate
        );
    }

    #[test]
    fn the_normal_checks_come_first() {
        let ca = new_ca("Test CA");
        let other = new_ca("Other CA");
        let leaf = issue(&ca, leaf_params(&["localhost"], "localhost"));
        let (check, check_ref) = recording(true);
        let client = client_with(Trust::CaPem(roots_of(&[other.der()])), &check_ref);
        let server = server_config(Arc::new(Serve(leaf.key.clone())));
        let (_, _, result) = connect(&client, &server, name());
        let client_error = result.unwrap_err().client.unwrap();
        assert_eq!(
            code_for(&client_error, Side::Client, true),
            Code::TlsUnknownIssuer
        );
        assert!(check.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn with_verification_skipped_the_check_alone_decides() {
        let ca = new_ca("Unknown CA");
        let leaf = issue(&ca, leaf_params(&["elsewhere"], "elsewhere"));
        let server = server_config(Arc::new(Serve(leaf.key.clone())));
        for verdict in [true, false] {
            let (check, check_ref) = recording(verdict);
            let client = client_with(Trust::InsecureSkipVerify, &check_ref);
            let (_, _, result) = connect(&client, &server, name());
            assert_eq!(result.is_ok(), verdict);
            assert_eq!(check.seen.lock().unwrap().len(), 1);
        }
    }

    #[derive(Debug)]
    struct Present(Arc<CertifiedKey>);

    impl ResolvesClientCert for Present {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_server_checks_client_certificates_after_its_verifier() {
        let ca = new_ca("Test CA");
        let server_leaf = issue(&ca, leaf_params(&["localhost"], "localhost"));
        let client_leaf: TestCert = issue(&ca, leaf_params(&[], "client one"));
        let roots = Arc::new(roots_of(&[ca.der()]));
        for verdict in [true, false] {
            let (check, check_ref) = recording(verdict);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .unwrap();
            let server = Arc::new(
                ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_client_cert_verifier(checked_client_verifier(verifier, Some(&check_ref)))
                    .with_cert_resolver(Arc::new(Serve(server_leaf.key.clone()))),
            );
            let client = Arc::new(
                client_builder()
                    .with_root_certificates(roots.clone())
                    .with_client_cert_resolver(Arc::new(Present(client_leaf.key.clone()))),
            );
            let (_, _, result) = connect(&client, &server, name());
            let seen = check.seen.lock().unwrap().clone();
            assert_eq!(seen, [(1, None, sha256(&client_leaf.der), true)]);
            match result {
                Ok(()) => assert!(verdict),
                Err(failure) => {
                    assert!(!verdict);
                    let side = Side::Server {
                        unserved_name: None,
                    };
                    assert_eq!(
                        code_for(failure.server.as_ref().unwrap(), side, true),
                        Code::TlsRejected
                    );
                }
            }
        }
    }

    #[test]
    fn checks_compare_by_identity() {
        let (_, a) = recording(true);
        let (_, b) = recording(true);
        let (_, c) = recording(false);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
