//! The parts of an X.509 certificate that tell whether it is self-signed,
//! read with the RustCrypto `x509-cert` and `der` crates.
//!
//! `x509-cert` decodes and checks the whole certificate and reads its
//! basicConstraints extension. It keeps decoded values, not the bytes they
//! came from, and a re-encoding can differ from the original (it sorts the
//! SETs inside names, for example), while the signature covers the original
//! TBSCertificate bytes and webpki compares names byte for byte. So the byte
//! ranges are taken with `der`'s reader from the same, already checked,
//! encoding.

use rustls::crypto::WebPkiSupportedAlgorithms;
use x509_cert::der::asn1::{AnyRef, BitStringRef};
use x509_cert::der::{self, Decode, Reader, SliceReader, Tag, TagNumber};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

/// The parts of a certificate the self-signed test needs, borrowed from its
/// DER. Names and key structures are kept as their contents (without the
/// outer SEQUENCE header), the form webpki compares.
#[derive(Debug)]
pub(super) struct CertParts<'a> {
    /// The whole TBSCertificate encoding: the bytes the signature covers.
    tbs: &'a [u8],
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
    issuer: &'a [u8],
    pub subject: &'a [u8],
    pub spki: &'a [u8],
    spki_algorithm: &'a [u8],
    public_key: &'a [u8],
    /// basicConstraints says cA.
    pub is_ca: bool,
}

/// `[0] EXPLICIT Version`, present in v2 and v3 certificates.
const VERSION: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N0,
};

impl<'a> CertParts<'a> {
    /// None unless `der` is one well-formed certificate whose signature
    /// fills whole bytes.
    pub fn parse(der: &'a [u8]) -> Option<Self> {
        // The default profile limits serial numbers to 21 bytes, as webpki
        // does.
        let cert = Certificate::from_der(der).ok()?;
        let is_ca = cert
            .tbs_certificate
            .get::<BasicConstraints>()
            .ok()?
            .is_some_and(|(_critical, constraints)| constraints.ca);

        let (tbs, signature_algorithm, signature) = SliceReader::new(der)
            .ok()?
            .sequence(|cert| {
                let tbs = cert.tlv_bytes()?;
                let algorithm = contents(cert)?;
                let signature = BitStringRef::decode(cert)?;
                Ok((tbs, algorithm, signature))
            })
            .ok()?;
        let (issuer, subject, spki) = SliceReader::new(tbs)
            .ok()?
            .sequence(|fields| {
                if fields.peek_tag()? == VERSION {
                    fields.tlv_bytes()?;
                }
                fields.tlv_bytes()?; // serialNumber
                fields.tlv_bytes()?; // signature
                let issuer = contents(fields)?;
                fields.tlv_bytes()?; // validity
                let subject = contents(fields)?;
                let spki = contents(fields)?;
                // The unique IDs and extensions, which x509-cert has read.
                fields.read_slice(fields.remaining_len())?;
                Ok((issuer, subject, spki))
            })
            .ok()?;
        let mut key = SliceReader::new(spki).ok()?;
        let spki_algorithm = contents(&mut key).ok()?;
        let public_key = BitStringRef::decode(&mut key).ok()?;
        Some(CertParts {
            tbs,
            signature_algorithm,
            signature: signature.as_bytes()?,
            issuer,
            subject,
            spki,
            spki_algorithm,
            public_key: public_key.as_bytes()?,
            is_ca,
        })
    }

    /// Its issuer is its subject, byte for byte, and its own key verifies
    /// its signature with one of `algorithms`.
    pub fn is_self_signed(&self, algorithms: &WebPkiSupportedAlgorithms) -> bool {
        self.issuer == self.subject
            && algorithms.all.iter().any(|algorithm| {
                algorithm.signature_alg_id().as_ref() == self.signature_algorithm
                    && algorithm.public_key_alg_id().as_ref() == self.spki_algorithm
                    && algorithm
                        .verify_signature(self.public_key, self.tbs, self.signature)
                        .is_ok()
            })
    }
}

/// The contents of the next element (a SEQUENCE here), without its header.
fn contents<'a, R: Reader<'a>>(reader: &mut R) -> der::Result<&'a [u8]> {
    AnyRef::decode(reader).map(|any| any.value())
}

/// The certificate's whole SubjectPublicKeyInfo, DER-encoded: what a
/// public-key pin (RFC 7469's pin-sha256) hashes. Re-encoded by x509-cert,
/// which gives back the same bytes: an SPKI holds no SET to reorder.
pub(super) fn spki_der(der: &[u8]) -> Option<Vec<u8>> {
    use x509_cert::der::Encode;
    let cert = Certificate::from_der(der).ok()?;
    cert.tbs_certificate.subject_public_key_info.to_der().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::load_cert_chain;
    use crate::tls::test_support::key_files::pem;
    use crate::tls::test_support::{issue, leaf_params, new_ca, self_sign};

    #[test]
    fn the_parts_tell_a_self_signed_certificate() {
        let algorithms =
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        let ca = new_ca("Test CA");
        let leaf = issue(&ca, leaf_params(&["localhost"], "localhost"));
        let parts = CertParts::parse(&leaf.der).unwrap();
        assert!(!parts.is_ca);
        assert!(!parts.is_self_signed(&algorithms));
        let parts = CertParts::parse(ca.der()).unwrap();
        assert!(parts.is_ca);
        assert!(parts.is_self_signed(&algorithms));
        let own = self_sign(leaf_params(&["localhost"], "localhost"));
        let parts = CertParts::parse(&own.der).unwrap();
        assert!(!parts.is_ca);
        assert!(parts.is_self_signed(&algorithms));
        // A subject named like its issuer is not enough.
        let same_name = issue(&ca, leaf_params(&["localhost"], "Test CA"));
        assert!(!CertParts::parse(&same_name.der)
            .unwrap()
            .is_self_signed(&algorithms));

        let mut tampered = own.der.to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!CertParts::parse(&tampered)
            .unwrap()
            .is_self_signed(&algorithms));
    }

    #[test]
    fn an_openssl_certificate_is_a_self_signed_ca() {
        // `openssl req -x509` marks its certificates cA by default.
        let algorithms =
            rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        for name in ["rsa.crt", "ec.crt", "ed.crt"] {
            let der = &load_cert_chain(pem(name)).unwrap()[0];
            let parts = CertParts::parse(der).unwrap();
            assert!(parts.is_ca, "{name}");
            assert!(parts.is_self_signed(&algorithms), "{name}");
        }
    }

    #[test]
    fn the_parts_are_the_bytes_webpki_compares() {
        let own = self_sign(leaf_params(&["localhost"], "localhost"));
        let parts = CertParts::parse(&own.der).unwrap();
        let anchor = webpki_roots_anchor(&own.der);
        assert_eq!(parts.subject, anchor.subject.as_ref());
        assert_eq!(parts.spki, anchor.subject_public_key_info.as_ref());
    }

    fn webpki_roots_anchor(
        der: &rustls::pki_types::CertificateDer<'static>,
    ) -> rustls::pki_types::TrustAnchor<'static> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        roots.roots.remove(0)
    }

    #[test]
    fn malformed_certificates_have_no_parts() {
        let own = self_sign(leaf_params(&["localhost"], "localhost"));
        let trailing = [own.der.as_ref(), b"\x00"].concat();
        for bad in [
            &own.der[..own.der.len() - 1],
            &trailing,
            b"",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x00",
        ] {
            assert!(CertParts::parse(bad).is_none(), "{bad:02x?}");
        }
    }
}
