//! How a client verifies the server's certificate, telling a self-signed
//! certificate apart (`tls::errors` maps the failures onto the error
//! callback's TLS codes).
//!
//! rustls reports a self-signed server certificate like any other untrusted
//! one (`UnknownIssuer`), or, when the certificate also claims to be a CA
//! (what `openssl req -x509` makes by default), as the webpki error
//! `CaUsedAsEndEntity` wrapped in `CertificateError::Other`. The error
//! callback tells the user "self-signed" in both cases, so every verifier here is
//! wrapped to turn those failures into [`SelfSigned`] when the end-entity
//! certificate really is self-signed.
//!
//! "Really self-signed" means: its issuer name equals its subject name byte
//! for byte (the comparison webpki itself uses to chain certificates) and
//! its signature verifies with its own public key. Comparing names alone is
//! not enough: a leaf from an unknown CA can carry the CA's name as its own
//! subject (rcgen gives every certificate the same default name). Verifying
//! the certificate against a verifier whose only root is the certificate
//! itself would be simpler, but webpki checks validity dates and the CA flag
//! before it looks at roots, so it cannot answer for exactly the CA-flagged
//! certificates that need the answer. Hence `CertParts` (`tls::x509`),
//! which only ever decides how an already failed verification is reported.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    SignatureScheme,
};

use super::errors::SelfSigned;
use super::x509::CertParts;
use crate::error::{Code, Error, Result};

/// Where a client's trust in server certificates comes from.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Only these roots (the `ca` option).
    CaPem(RootCertStore),
    /// The operating system's roots, or Mozilla's bundled roots where the
    /// system has none.
    Platform,
    /// Any certificate for any name; handshake signatures are still checked.
    InsecureSkipVerify,
}

/// The client's [`ServerCertVerifier`] for `trust`, with self-signed
/// certificates reported as [`SelfSigned`].
///
/// Errors: [`Code::InvalidArgument`] if a [`Trust::CaPem`] store has no
/// roots.
pub fn server_verifier(trust: Trust) -> Result<Arc<dyn ServerCertVerifier>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let (inner, explicit_roots): (Arc<dyn ServerCertVerifier>, _) = match trust {
        Trust::CaPem(roots) => {
            let roots = Arc::new(roots);
            (webpki_verifier(roots.clone(), &provider)?, Some(roots))
        }
        Trust::Platform => (platform_verifier(&provider)?, None),
        Trust::InsecureSkipVerify => (Arc::new(AcceptAnyCertificate { algorithms }), None),
    };
    Ok(Arc::new(SelfSignedAware {
        inner,
        algorithms,
        explicit_roots,
    }))
}

/// As `server_verifier(Trust::CaPem(roots))`, and the server's own
/// certificate must not be listed in `crls` (a certificate whose issuer has
/// no CRL there passes).
pub fn server_verifier_with_crls(
    roots: RootCertStore,
    crls: Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let roots = Arc::new(roots);
    let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|err| Error::new(Code::InvalidArgument, format!("ca or crl: {err}")))?;
    Ok(Arc::new(SelfSignedAware {
        inner,
        algorithms,
        explicit_roots: Some(roots),
    }))
}

fn webpki_verifier(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|err| Error::new(Code::InvalidArgument, format!("ca: {err}")))?;
    Ok(verifier)
}

/// On Linux and the BSDs the platform verifier reads the system store when
/// it is built and fails if that store is empty (a minimal container); on
/// macOS, Windows and Android it asks the OS per handshake and always builds.
fn platform_verifier(provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>> {
    or_bundled_roots(
        rustls_platform_verifier::Verifier::new(provider.clone()),
        provider,
    )
}

fn or_bundled_roots(
    platform: std::result::Result<impl ServerCertVerifier + 'static, rustls::Error>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    match platform {
        Ok(verifier) => Ok(Arc::new(verifier)),
        Err(_) => {
            let roots = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
            webpki_verifier(Arc::new(roots), provider)
        }
    }
}

/// Accepts any server certificate for any name. The handshake signatures
/// are still verified: they prove the server holds the key of the
/// certificate it sent, which keeps the connection at least bound to that
/// certificate.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Wraps a verifier so that a self-signed server certificate fails with
/// [`SelfSigned`] instead of the generic error rustls gives it.
#[derive(Debug)]
struct SelfSignedAware {
    inner: Arc<dyn ServerCertVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    /// The `ca` roots, when there are some: a self-signed certificate found
    /// among them is trusted, so its failure is about something else.
    explicit_roots: Option<Arc<RootCertStore>>,
}

impl SelfSignedAware {
    fn hides_self_signed(&self, err: &rustls::Error, end_entity: &CertificateDer<'_>) -> bool {
        let rustls::Error::InvalidCertificate(cert_error) = err else {
            return false;
        };
        #[allow(deprecated)] // custom and older verifiers still return it
        let only_if_ca = match cert_error {
            CertificateError::UnknownIssuer => false,
            // A self-signed certificate named like a trusted root fails on
            // that root's key instead (system stores with a local root named
            // "CN=localhost" exist; the platform test met one).
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => false,
            // Verifiers built on webpki (all of them on Linux) check the CA
            // flag before anything else that ends up in Other, so for a
            // CA-flagged certificate Other means CaUsedAsEndEntity.
            CertificateError::Other(_) => true,
            _ => return false,
        };
        let Some(cert) = CertParts::parse(end_entity) else {
            return false;
        };
        if only_if_ca && !cert.is_ca {
            return false;
        }
        let trusted = self.explicit_roots.as_ref().is_some_and(|roots| {
            roots.roots.iter().any(|anchor| {
                anchor.subject.as_ref() == cert.subject
                    && anchor.subject_public_key_info.as_ref() == cert.spki
            })
        });
        !trusted && cert.is_self_signed(&self.algorithms)
    }
}

impl ServerCertVerifier for SelfSignedAware {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|err| {
                if self.hides_self_signed(&err, end_entity) {
                    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                        Arc::new(SelfSigned),
                    )))
                } else {
                    err
                }
            })
    }

    super::delegate_signature_checks!();

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::errors::client_code;
    use crate::tls::test_support::{
        client_builder, client_config, connect, issue, leaf_params, new_ca, roots_of, self_sign,
        server_config, Failure, Serve, TestCert,
    };

    use std::net::{IpAddr, Ipv4Addr};

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::sign::CertifiedKey;

    /// Runs a handshake between a client trusting `trust` and a server
    /// presenting `leaf`; the client's error if it fails.
    fn handshake(
        trust: Trust,
        leaf: &TestCert,
        name: &str,
    ) -> std::result::Result<(), rustls::Error> {
        handshake_for(trust, leaf, ServerName::try_from(name.to_owned()).unwrap())
    }

    fn handshake_for(
        trust: Trust,
        leaf: &TestCert,
        name: ServerName<'static>,
    ) -> std::result::Result<(), rustls::Error> {
        handshake_via(server_verifier(trust).unwrap(), leaf, name)
    }

    fn handshake_via(
        verifier: Arc<dyn ServerCertVerifier>,
        leaf: &TestCert,
        name: ServerName<'static>,
    ) -> std::result::Result<(), rustls::Error> {
        let server = server_config(Arc::new(Serve(leaf.key.clone())));
        let client = client_config(
            client_builder()
                .dangerous()
                .with_custom_certificate_verifier(verifier),
        );
        let (_, _, result) = connect(&client, &server, name);
        result.map_err(|failure| match *failure {
            Failure {
                server_first: false,
                client: Some(err),
                ..
            } => err,
            failure => panic!("the server failed first: {failure:?}"),
        })
    }

    fn failure(trust: Trust, leaf: &TestCert, name: &str) -> Code {
        let err = handshake(trust, leaf, name).unwrap_err();
        client_code(&err)
    }

    struct Pki {
        ca: CertifiedIssuer<'static, KeyPair>,
        localhost: TestCert,
    }

    fn pki() -> Pki {
        let ca = new_ca("Test CA");
        let localhost = issue(&ca, leaf_params(&["localhost", "127.0.0.1"], "localhost"));
        Pki { ca, localhost }
    }

    fn ca_trust(pki: &Pki) -> Trust {
        Trust::CaPem(roots_of(&[pki.ca.der()]))
    }

    /// What a client trusting only the test CA reports for `leaf`, served
    /// as "localhost".
    fn code_under_ca(pki: &Pki, leaf: &TestCert) -> Code {
        failure(ca_trust(pki), leaf, "localhost")
    }

    fn localhost() -> CertificateParams {
        leaf_params(&["localhost"], "localhost")
    }

    fn expired(mut params: CertificateParams) -> CertificateParams {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        params
    }

    fn flagged_ca(mut params: CertificateParams) -> CertificateParams {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    #[test]
    fn a_leaf_from_the_trusted_ca_passes_for_a_dns_name() {
        let pki = pki();
        handshake(ca_trust(&pki), &pki.localhost, "localhost").unwrap();
    }

    #[test]
    fn a_leaf_from_the_trusted_ca_passes_for_an_ip_address() {
        let pki = pki();
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        handshake_for(ca_trust(&pki), &pki.localhost, name).unwrap();
        let other = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)).into());
        let err = handshake_for(ca_trust(&pki), &pki.localhost, other).unwrap_err();
        assert_eq!(client_code(&err), Code::TlsBadName);
    }

    #[test]
    fn a_leaf_from_another_ca_has_an_unknown_issuer() {
        let pki = pki();
        let other = new_ca("Other CA");
        let leaf = issue(&other, localhost());
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsUnknownIssuer);
    }

    #[test]
    fn a_leaf_named_like_its_unknown_ca_is_not_self_signed() {
        let pki = pki();
        let other = new_ca("Same Name");
        let leaf = issue(&other, leaf_params(&["localhost"], "Same Name"));
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsUnknownIssuer);
    }

    #[test]
    fn a_leaf_for_another_name_is_a_bad_name() {
        let pki = pki();
        let leaf = issue(&pki.ca, leaf_params(&["other.example.com"], "other"));
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsBadName);
    }

    #[test]
    fn an_expired_leaf_is_expired() {
        let pki = pki();
        let leaf = issue(&pki.ca, expired(localhost()));
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsExpired);
    }

    #[test]
    fn a_self_signed_leaf_is_self_signed() {
        let pki = pki();
        let leaf = self_sign(localhost());
        let err = handshake(ca_trust(&pki), &leaf, "localhost").unwrap_err();
        assert_eq!(client_code(&err), Code::TlsSelfSigned);
        // rustls shows Other errors through Debug.
        assert!(err.to_string().contains("SelfSigned"), "{err}");
        // Self-signed wins over the wrong name: the chain is checked first.
        assert_eq!(
            failure(ca_trust(&pki), &leaf, "other.example.com"),
            Code::TlsSelfSigned
        );
    }

    #[test]
    fn a_self_signed_leaf_named_like_a_trusted_root_is_self_signed() {
        let root = new_ca("Same Name");
        let leaf = self_sign(leaf_params(&["localhost"], "Same Name"));
        let trust = Trust::CaPem(roots_of(&[root.der()]));
        let err = handshake(trust, &leaf, "localhost").unwrap_err();
        assert_eq!(client_code(&err), Code::TlsSelfSigned, "{err:?}");
    }

    #[test]
    fn a_self_signed_leaf_flagged_as_ca_is_self_signed() {
        let pki = pki();
        let leaf = self_sign(flagged_ca(localhost()));
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsSelfSigned);
    }

    #[test]
    fn a_trusted_self_signed_leaf_passes() {
        let leaf = self_sign(localhost());
        handshake(Trust::CaPem(roots_of(&[&leaf.der])), &leaf, "localhost").unwrap();
    }

    #[test]
    fn a_trusted_self_signed_leaf_flagged_as_ca_is_still_rejected() {
        // webpki refuses a CA certificate as the end entity even when it is
        // itself a root; since it is trusted, "self-signed" would mislead.
        let leaf = self_sign(flagged_ca(localhost()));
        let err = handshake(Trust::CaPem(roots_of(&[&leaf.der])), &leaf, "localhost").unwrap_err();
        assert_eq!(client_code(&err), Code::TlsBadCertificate, "{err}");
    }

    #[test]
    fn an_expired_self_signed_leaf_is_expired() {
        let pki = pki();
        let leaf = self_sign(expired(localhost()));
        assert_eq!(code_under_ca(&pki, &leaf), Code::TlsExpired);
    }

    #[test]
    fn insecure_skip_verify_accepts_anything() {
        let leaf = self_sign(localhost());
        handshake(Trust::InsecureSkipVerify, &leaf, "localhost").unwrap();
        handshake(Trust::InsecureSkipVerify, &leaf, "other.example.com").unwrap();
        let expired = self_sign(expired(localhost()));
        handshake(Trust::InsecureSkipVerify, &expired, "localhost").unwrap();
    }

    #[test]
    fn insecure_skip_verify_still_checks_handshake_signatures() {
        // A server whose key does not belong to its certificate cannot sign
        // for it.
        let shown = self_sign(localhost());
        let actual = self_sign(localhost());
        let mismatched = TestCert {
            der: shown.der.clone(),
            key: Arc::new(CertifiedKey::new(
                vec![shown.der.clone()],
                actual.key.key.clone(),
            )),
        };
        let err = handshake(Trust::InsecureSkipVerify, &mismatched, "localhost").unwrap_err();
        // rustls reports a bad handshake signature as a certificate error.
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::BadSignature)
            ),
            "{err:?}"
        );
        assert_eq!(client_code(&err), Code::TlsBadCertificate);
    }

    /// No host's store can trust a CA made a moment ago, nor a certificate
    /// that signed itself a moment ago. Which code the rejection gets does
    /// depend on the store (a root named like the certificate's issuer turns
    /// an unknown issuer into a bad signature), so the codes are checked
    /// with the bundled roots below.
    #[test]
    fn platform_trust_rejects_new_certificates() {
        let pki = pki();
        let own = self_sign(localhost());
        for leaf in [&pki.localhost, &own] {
            let err = handshake(Trust::Platform, leaf, "localhost").unwrap_err();
            assert!(
                matches!(err, rustls::Error::InvalidCertificate(_)),
                "{err:?}"
            );
        }
    }

    /// What `Trust::Platform` uses on a host without roots, wrapped as
    /// `server_verifier` wraps it.
    #[test]
    fn without_platform_roots_the_bundled_roots_are_used() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let no_platform = Err::<AcceptAnyCertificate, _>(rustls::Error::General(
            "No CA certificates were loaded from the system".into(),
        ));
        let verifier = Arc::new(SelfSignedAware {
            inner: or_bundled_roots(no_platform, &provider).unwrap(),
            algorithms: provider.signature_verification_algorithms,
            explicit_roots: None,
        });
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
        let code = |leaf: &TestCert| {
            let name = ServerName::try_from("localhost").unwrap();
            client_code(&handshake_via(verifier.clone(), leaf, name).unwrap_err())
        };
        assert_eq!(code(&pki().localhost), Code::TlsUnknownIssuer);
        let own = self_sign(localhost());
        assert_eq!(code(&own), Code::TlsSelfSigned);
        let params = flagged_ca(localhost());
        assert_eq!(code(&self_sign(params)), Code::TlsSelfSigned);
    }

    #[test]
    fn an_empty_ca_store_is_an_invalid_argument() {
        let err = server_verifier(Trust::CaPem(RootCertStore::empty())).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
