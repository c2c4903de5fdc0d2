//! Certificates from PEM, and a certificate chain with its private key, for
//! the TLS options. PEM structure is in `tls::pem`, private keys
//! in `tls::keys`.

use std::sync::Arc;

use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode, Tag, Tagged};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use super::keys::{self, KEY_PEM};
use super::pem::{nothing_found, scan_pem, PemBlock};
use crate::error::{Code, Error, Result};

const CERT_PEM: &str = "certificate PEM";

/// Every certificate in a PEM bundle, in order. Errors: [`Code::BadPem`] if
/// there is none or a certificate block is malformed (the message says which).
pub fn load_cert_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let blocks = scan_pem(pem, CERT_PEM)?;
    let certs = blocks
        .iter()
        .filter(|block| block.label == "CERTIFICATE")
        .map(decode_certificate)
        .collect::<Result<Vec<_>>>()?;
    if certs.is_empty() {
        return Err(nothing_found(pem, &blocks, CERT_PEM, "CERTIFICATE"));
    }
    Ok(certs)
}

/// A certificate chain and its private key, checked against each other: the
/// key must belong to the first (leaf) certificate, else
/// [`Code::KeyMismatch`]. [`Code::UnsupportedKey`] if the aws-lc-rs provider
/// cannot sign with the key.
pub fn load_certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<Arc<CertifiedKey>> {
    let chain = load_cert_chain(cert_pem)?;
    let key = keys::load_private_key(key_pem, passphrase)?;
    // The provider wraps the DER in Zeroizing before parsing it.
    let signing_key = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|_| {
            Error::new(
                Code::UnsupportedKey,
                format!(
                    "{KEY_PEM}: the key type is not usable for TLS \
                     (supported: RSA, ECDSA P-256/P-384/P-521, Ed25519)"
                ),
            )
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    check_keys_match(&certified)?;
    Ok(Arc::new(certified))
}

/// A root store holding every usable certificate of a PEM bundle (a
/// client's `ca` option). [`Code::BadPem`] if none is usable; certificates
/// webpki cannot take as trust anchors are skipped, as system bundles can
/// contain a few.
pub fn load_root_store(pem: &[u8]) -> Result<RootCertStore> {
    let certs = load_cert_chain(pem)?;
    let count = certs.len();
    let mut store = RootCertStore::empty();
    let (added, _skipped) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::new(
            Code::BadPem,
            format!("CA {CERT_PEM}: none of its {count} certificate(s) is a usable trust anchor"),
        ));
    }
    Ok(store)
}

/// Certificate revocation lists from PEM ("X509 CRL" blocks), for the
/// `crl` option.
pub fn load_crls(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateRevocationListDer;
    let crls = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::new(Code::BadPem, format!("crl: {e}")))?;
    if crls.is_empty() {
        return Err(Error::new(
            Code::BadPem,
            "crl: no \"-----BEGIN X509 CRL-----\" block",
        ));
    }
    Ok(crls)
}

fn decode_certificate(block: &PemBlock<'_>) -> Result<CertificateDer<'static>> {
    let cert = CertificateDer::from_pem_slice(block.text)
        .map_err(|_| block.error(CERT_PEM, "is not valid base64"))?;
    match AnyRef::from_der(&cert) {
        Ok(any) if any.tag() == Tag::Sequence => Ok(cert),
        _ => Err(block.error(
            CERT_PEM,
            "is not a DER certificate (truncated or corrupted?)",
        )),
    }
}

fn check_keys_match(certified: &CertifiedKey) -> Result<()> {
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => Err(Error::new(
            Code::KeyMismatch,
            "the private key does not belong to the first certificate of the chain \
             (wrong key file, or the leaf certificate is not first)",
        )),
        Err(rustls::Error::InconsistentKeys(_)) => Err(Error::new(
            Code::KeyMismatch,
            "could not confirm that the private key belongs to the first certificate",
        )),
        Err(err) => Err(Error::new(
            Code::BadPem,
            format!("{CERT_PEM}: the first certificate could not be parsed: {err}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_support::key_files::{code_of, fixture, pass, pem, without_line, PLAIN};

    #[test]
    fn unencrypted_keys_match_their_certificates() {
        for (key, cert) in PLAIN {
            let certified = load_certified_key(pem(cert), pem(key), None)
                .unwrap_or_else(|err| panic!("{key}: {err}"));
            assert_eq!(certified.cert.len(), 1, "{key}");
            // A passphrase for an unencrypted key is ignored.
            load_certified_key(pem(cert), pem(key), pass())
                .unwrap_or_else(|err| panic!("{key} with a passphrase: {err}"));
        }
    }

    #[test]
    fn key_of_another_certificate_is_a_mismatch() {
        let cases = [
            ("other.crt", "rsa.p8", None),
            ("rsa.crt", "ec.sec1", None),
            ("ec.crt", "ed.p8", None),
            ("other.crt", "rsa.legacy-aes256", pass()),
        ];
        for (cert, key, passphrase) in cases {
            let result = load_certified_key(pem(cert), pem(key), passphrase);
            assert_eq!(code_of(&result), Code::KeyMismatch, "{key} with {cert}");
        }
        // The leaf is the first certificate; the key of the second does not count.
        let chain = [pem("other.crt"), pem("rsa.crt")].concat();
        let result = load_certified_key(&chain, pem("rsa.p8"), None);
        assert_eq!(code_of(&result), Code::KeyMismatch);
    }

    #[test]
    fn malformed_certificate_pem_is_bad_pem() {
        let cert = fixture("rsa.crt");
        let cases: [(&str, String); 6] = [
            ("empty", String::new()),
            ("garbage", "-----BEGIN garbage".into()),
            ("a key", fixture("rsa.p8").into()),
            ("cut in half", cert[..cert.len() / 2].into()),
            ("a bad base64 character", cert.replacen("MII", "MI*", 1)),
            ("missing a line", without_line(cert, 2)),
        ];
        for (name, input) in cases {
            let input = input.as_bytes();
            assert_eq!(code_of(&load_cert_chain(input)), Code::BadPem, "{name}");
            let certified = load_certified_key(input, pem("rsa.p8"), None);
            assert_eq!(code_of(&certified), Code::BadPem, "{name} (certified key)");
            assert_eq!(
                code_of(&load_root_store(input)),
                Code::BadPem,
                "{name} (roots)"
            );
        }
        // The message points at the faulty block.
        let chain = format!("{cert}{}", without_line(fixture("ec.crt"), 2));
        let err = load_cert_chain(chain.as_bytes()).unwrap_err();
        assert!(err.message().contains("block 2"), "{err}");
    }

    #[test]
    fn chain_of_two_certificates_loads_in_order() {
        let bundle = [pem("rsa.crt"), pem("ec.crt")].concat();
        let chain = load_cert_chain(&bundle).expect("chain");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0], load_cert_chain(pem("rsa.crt")).expect("rsa")[0]);
        assert_eq!(chain[1], load_cert_chain(pem("ec.crt")).expect("ec")[0]);
        let certified = load_certified_key(&bundle, pem("rsa.p1"), None).expect("certified");
        assert_eq!(certified.cert.len(), 2);
    }

    #[test]
    fn root_store_takes_every_certificate() {
        let bundle = [b"# CA bundle\n", pem("rsa.crt"), b"\n", pem("ec.crt")].concat();
        let store = load_root_store(&bundle).expect("root store");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn pem_layout_variations_are_accepted() {
        // CRLF line endings, text between blocks, a certificate before the key.
        let crlf = |name: &str| fixture(name).replace('\n', "\r\n");
        let key = format!(
            "Bag Attributes\n    localKeyID: 01\n{}{}",
            crlf("rsa.crt"),
            crlf("rsa.legacy-aes128")
        );
        let cert = format!("subject=CN = test\n{}", crlf("rsa.crt"));
        load_certified_key(cert.as_bytes(), key.as_bytes(), pass()).expect("CRLF and extras");
    }
}
