//! What a finished handshake settled on and who the peer is: read from the
//! rustls session, with the peer's leaf certificate parsed by `x509-cert`.

use std::net::IpAddr;

use rustls::{CommonState, HandshakeKind, ProtocolVersion};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

use crate::error::{Code, Error, Result};

/// The negotiated parameters of one TLS connection.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// IANA number, e.g. 0x0304 for TLS 1.3.
    pub version: u16,
    /// "TLSv1.3" or "TLSv1.2", as OpenSSL names them.
    pub version_name: String,
    /// IANA number of the cipher suite.
    pub suite: u16,
    /// IANA name, e.g. "TLS_AES_256_GCM_SHA384".
    pub suite_name: String,
    /// IANA number of the key-exchange group; 0 when none ran (a resumed
    /// TLS 1.2 session).
    pub group: u16,
    /// e.g. "X25519MLKEM768", "X25519", "secp256r1"; empty with `group` 0.
    pub group_name: String,
    pub resumed: bool,
    /// Server side: the SNI name the client asked for.
    pub server_name: Option<String>,
    /// The peer's certificates as DER, leaf first (empty if it sent none).
    pub peer_chain: Vec<Vec<u8>>,
}

impl TlsInfo {
    /// `None` while the handshake runs.
    /// `server_name`: the SNI name a server was asked for.
    pub fn of(conn: &CommonState, server_name: Option<&str>) -> Option<TlsInfo> {
        if conn.is_handshaking() {
            return None;
        }
        let version = conn.protocol_version()?;
        let suite = conn.negotiated_cipher_suite()?.suite();
        let group = conn.negotiated_key_exchange_group().map(|g| g.name());
        let server_name = server_name.map(str::to_owned);
        Some(TlsInfo {
            version: u16::from(version),
            version_name: match version {
                ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                other => format!("{other:?}"),
            },
            suite: u16::from(suite),
            suite_name: suite_name(suite),
            group: group.map(u16::from).unwrap_or(0),
            group_name: group
                .map(|g| {
                    g.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("0x{:04X}", u16::from(g)))
                })
                .unwrap_or_default(),
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
            server_name,
            peer_chain: conn
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        })
    }
}

/// The IANA name of a suite: rustls spells TLS 1.3 suites "TLS13_...",
/// IANA (and OpenSSL) "TLS_...".
pub fn suite_name(suite: rustls::CipherSuite) -> String {
    suite
        .as_str()
        .map(|name| name.replacen("TLS13_", "TLS_", 1))
        .unwrap_or_else(|| format!("0x{:04X}", u16::from(suite)))
}

/// The parts of a certificate a host identifies a peer by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject as an RFC 4514 string, e.g. "CN=localhost,O=Example".
    pub subject: String,
    /// subjectAltName entries as OpenSSL prints them: "DNS:localhost",
    /// "IP:127.0.0.1", "email:a@b", "URI:https://...", in certificate order
    /// (other kinds are skipped).
    pub sans: Vec<String>,
    /// Validity, seconds since the Unix epoch (UTC).
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER encoding, the fingerprint pinning uses.
    pub sha256: [u8; 32],
}

impl CertSummary {
    pub fn parse(der: &[u8]) -> Result<CertSummary> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::new(
                Code::BadPem,
                format!("the peer's certificate does not parse: {e}"),
            )
        };
        let cert = Certificate::from_der(der).map_err(|e| bad(&e))?;
        let tbs = &cert.tbs_certificate;
        let sans = match tbs.get::<SubjectAltName>().map_err(|e| bad(&e))? {
            Some((_critical, SubjectAltName(names))) => {
                names.iter().filter_map(general_name).collect()
            }
            None => Vec::new(),
        };
        let seconds = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        Ok(CertSummary {
            subject: tbs.subject.to_string(),
            sans,
            not_before: seconds(tbs.validity.not_before),
            not_after: seconds(tbs.validity.not_after),
            sha256: sha256(der),
        })
    }
}

fn general_name(name: &GeneralName) -> Option<String> {
    Some(match name {
        GeneralName::DnsName(n) => format!("DNS:{}", n.as_str()),
        GeneralName::Rfc822Name(n) => format!("email:{}", n.as_str()),
        GeneralName::UniformResourceIdentifier(n) => format!("URI:{}", n.as_str()),
        GeneralName::IpAddress(bytes) => {
            let ip = match bytes.as_bytes().len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(bytes.as_bytes()).ok()?),
                16 => IpAddr::from(<[u8; 16]>::try_from(bytes.as_bytes()).ok()?),
                _ => return None,
            };
            format!("IP:{ip}")
        }
        _ => return None,
    })
}

/// SHA-256 through the provider's own hash (aws-lc-rs), so no second
/// digest crate is needed.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let suite = TLS13_AES_128_GCM_SHA256.tls13().expect("a TLS 1.3 suite");
    let digest = suite.common.hash_provider.hash(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_summarised() {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "peer");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let summary = CertSummary::parse(cert.der()).unwrap();
        assert_eq!(summary.subject, "CN=peer");
        assert_eq!(summary.sans, ["DNS:localhost", "IP:127.0.0.1"]);
        assert!(summary.not_before < summary.not_after);
        // SHA-256 of "abc" (FIPS 180-2's example).
        assert_eq!(
            sha256(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "the provider's SHA-256"
        );
        assert_eq!(summary.sha256, sha256(cert.der()));
        assert_eq!(
            CertSummary::parse(b"junk").unwrap_err().code(),
            Code::BadPem
        );
    }
}
