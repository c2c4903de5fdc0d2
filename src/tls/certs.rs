//! Certificates and private keys from PEM, for the TLS options.
//!
//! rustls-pki-types decodes the plain blocks (its base64 decoder runs in
//! constant time over key material). Around it this module adds what it
//! lacks: a scan of the block structure so that errors can say which block
//! is at fault, PKCS#8 encrypted keys (pkcs8 crate, PBES2) and OpenSSL's
//! legacy encrypted PEM ([`legacy_pem`]).

// A child module through #[path] so that it compiles without an entry in
// tls/mod.rs; it is only used from here.
#[path = "legacy_pem.rs"]
mod legacy_pem;

use std::sync::Arc;

use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::zeroize::{Zeroize, Zeroizing};
use pkcs8::der::{Decode, Reader, SliceReader, Tag, Tagged};
use pkcs8::pkcs5::pbes2::Kdf;
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use crate::error::{Code, Error, Result};

const CERT_PEM: &str = "certificate PEM";
const KEY_PEM: &str = "private key PEM";

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

/// The first private key in a PEM file: PKCS#8, PKCS#1, SEC1, PKCS#8
/// encrypted (PBES2) or OpenSSL legacy encrypted PEM (`DEK-Info` AES-CBC,
/// DES-EDE3-CBC, DES-CBC). A passphrase given for an unencrypted key is
/// ignored.
///
/// Errors: [`Code::WrongPassphrase`] when the key is encrypted and the
/// passphrase is missing or wrong, [`Code::BadPem`] for malformed PEM or DER
/// or no key, [`Code::UnsupportedKey`] for an unknown cipher or scheme.
pub fn load_private_key(pem: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKeyDer<'static>> {
    let blocks = scan_pem(pem, KEY_PEM)?;
    let block = blocks
        .iter()
        .find(|block| block.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| nothing_found(pem, &blocks, KEY_PEM, "PRIVATE KEY"))?;
    if block.label == "ENCRYPTED PRIVATE KEY" {
        return decrypt_pkcs8(block, passphrase);
    }
    let format = KeyFormat::from_label(block.label).ok_or_else(|| {
        Error::new(
            Code::UnsupportedKey,
            format!("{KEY_PEM}: {} is not a supported key format", block.name()),
        )
    })?;
    if legacy_pem::is_encrypted(&block.headers) {
        decrypt_legacy(block, format, passphrase)
    } else if !block.headers.is_empty() {
        Err(block.error(KEY_PEM, "has PEM headers but no 'Proc-Type: 4,ENCRYPTED'"))
    } else {
        read_plain_key(block, format)
    }
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
    let key = load_private_key(key_pem, passphrase)?;
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

// ---------------------------------------------------------------------------
// Key formats

/// The unencrypted key formats, which is what a decrypted key is as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyFormat {
    Pkcs8,
    Pkcs1,
    Sec1,
}

impl KeyFormat {
    fn from_label(label: &str) -> Option<KeyFormat> {
        match label {
            "PRIVATE KEY" => Some(KeyFormat::Pkcs8),
            "RSA PRIVATE KEY" => Some(KeyFormat::Pkcs1),
            "EC PRIVATE KEY" => Some(KeyFormat::Sec1),
            _ => None,
        }
    }

    /// A structural DER check. pki-types only wraps bytes, and after a legacy
    /// decryption this is what tells a wrong passphrase from a right one.
    fn is_well_formed(self, der: &[u8]) -> bool {
        match self {
            KeyFormat::Pkcs8 => PrivateKeyInfo::try_from(der).is_ok(),
            KeyFormat::Pkcs1 | KeyFormat::Sec1 => is_versioned_sequence(der),
        }
    }

    fn wrap(self, der: Vec<u8>) -> PrivateKeyDer<'static> {
        match self {
            KeyFormat::Pkcs1 => PrivatePkcs1KeyDer::from(der).into(),
            KeyFormat::Sec1 => PrivateSec1KeyDer::from(der).into(),
            KeyFormat::Pkcs8 => PrivatePkcs8KeyDer::from(der).into(),
        }
    }
}

/// PKCS#1 and SEC1 keys are both `SEQUENCE { version INTEGER, ... }`.
fn is_versioned_sequence(der: &[u8]) -> bool {
    let Ok(outer) = AnyRef::from_der(der) else {
        return false;
    };
    let Ok(mut inner) = SliceReader::new(outer.value()) else {
        return false;
    };
    outer.tag() == Tag::Sequence && inner.decode::<u8>().is_ok()
}

fn read_plain_key(block: &PemBlock<'_>, format: KeyFormat) -> Result<PrivateKeyDer<'static>> {
    let mut key = PrivateKeyDer::from_pem_slice(block.text)
        .map_err(|_| block.error(KEY_PEM, "is not valid base64"))?;
    if format.is_well_formed(key.secret_der()) {
        return Ok(key);
    }
    key.zeroize();
    Err(block.error(
        KEY_PEM,
        "does not hold a valid key (truncated or corrupted?)",
    ))
}

fn decrypt_legacy(
    block: &PemBlock<'_>,
    format: KeyFormat,
    passphrase: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>> {
    let ciphertext = block.decode_body(KEY_PEM)?;
    let plain = legacy_pem::decrypt(&block.headers, &ciphertext, passphrase)?;
    into_checked_key(format, plain)
}

fn decrypt_pkcs8(
    block: &PemBlock<'_>,
    passphrase: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>> {
    let der = block.decode_body(KEY_PEM)?;
    let info = EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|_| undecodable_pkcs8(block, &der))?;
    check_kdf_cost(&info.encryption_algorithm)?;
    let passphrase = passphrase.ok_or_else(|| {
        Error::new(
            Code::WrongPassphrase,
            format!("{KEY_PEM}: the key is encrypted (ENCRYPTED PRIVATE KEY) but no passphrase was given"),
        )
    })?;
    let mut plain = Zeroizing::new(info.encrypted_data.to_vec());
    let len = info
        .encryption_algorithm
        .decrypt_in_place(passphrase, &mut plain)
        .map_err(pkcs5_error)?
        .len();
    plain.truncate(len);
    into_checked_key(KeyFormat::Pkcs8, plain)
}

/// Hands the decrypted DER over as the key if it parses. A wrong passphrase
/// that happens to leave valid padding ends up here as garbage.
fn into_checked_key(
    format: KeyFormat,
    mut plain: Zeroizing<Vec<u8>>,
) -> Result<PrivateKeyDer<'static>> {
    if !format.is_well_formed(&plain) {
        return Err(Error::new(
            Code::WrongPassphrase,
            format!("{KEY_PEM}: wrong passphrase (the decrypted key does not parse; or the key is corrupted)"),
        ));
    }
    // Moving the Vec out leaves an empty one behind for Zeroizing to clear.
    Ok(format.wrap(std::mem::take(&mut *plain)))
}

/// The key derivation's cost comes from the file, so an untrusted key could
/// otherwise make loading take hours (PBKDF2 iterations, scrypt's p) or
/// abort the process on allocation (scrypt's N, r and p). The limits are far
/// above what any tool writes by default (OpenSSL: 2048 PBKDF2 iterations,
/// scrypt N=16384 r=8 p=1) and cost a few seconds at most.
fn check_kdf_cost(scheme: &EncryptionScheme<'_>) -> Result<()> {
    const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
    const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
    const MAX_SCRYPT_WORK: u64 = 1 << 26; // N * r * p
    let too_costly = |what: String| {
        Err(Error::new(
            Code::UnsupportedKey,
            format!("{KEY_PEM}: the key's {what}; refusing to derive its key"),
        ))
    };
    match scheme.pbes2().map(|pbes2| &pbes2.kdf) {
        Some(Kdf::Pbkdf2(params)) if params.iteration_count > MAX_PBKDF2_ITERATIONS => {
            too_costly(format!(
                "PBKDF2 iteration count {} is above {MAX_PBKDF2_ITERATIONS}",
                params.iteration_count
            ))
        }
        Some(Kdf::Scrypt(params)) => {
            let (n, r, p) = (
                params.cost_parameter,
                u64::from(params.block_size),
                u64::from(params.parallelization),
            );
            let memory = 128u64.saturating_mul(r).saturating_mul(n.saturating_add(p));
            let work = n.saturating_mul(r).saturating_mul(p);
            if memory > MAX_SCRYPT_MEMORY {
                too_costly(format!(
                    "scrypt parameters need more than 256 MiB (N={n} r={r} p={p})"
                ))
            } else if work > MAX_SCRYPT_WORK {
                too_costly(format!(
                    "scrypt parameters need too much work (N={n} r={r} p={p})"
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn pkcs5_error(err: pkcs8::pkcs5::Error) -> Error {
    use pkcs8::pkcs5::Error as E;
    match err {
        // pkcs5 0.7 reports bad padding on decryption as EncryptFailed.
        E::DecryptFailed | E::EncryptFailed => Error::new(
            Code::WrongPassphrase,
            format!("{KEY_PEM}: wrong passphrase (decryption failed; or the key is corrupted)"),
        ),
        E::UnsupportedAlgorithm { oid } => Error::new(
            Code::UnsupportedKey,
            format!(
                "{KEY_PEM}: the key is encrypted with {}, which is not supported; re-encrypt it \
                 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256`",
                oid_name(oid)
            ),
        ),
        E::NoPbes1CryptSupport => unsupported_scheme("PBES1"),
        other => Error::new(
            Code::BadPem,
            format!("{KEY_PEM}: invalid key encryption parameters ({other})"),
        ),
    }
}

/// pkcs5 only decodes the schemes it can decrypt, so a failure here is
/// either an unsupported scheme (the outer structure still parses) or
/// garbage.
fn undecodable_pkcs8(block: &PemBlock<'_>, der: &[u8]) -> Error {
    match encryption_algorithms(der) {
        Some(oids) => unsupported_scheme(
            &oids
                .into_iter()
                .map(oid_name)
                .collect::<Vec<_>>()
                .join(" / "),
        ),
        None => block.error(
            KEY_PEM,
            "is not a valid EncryptedPrivateKeyInfo (truncated or corrupted?)",
        ),
    }
}

/// The scheme OID of an `EncryptedPrivateKeyInfo`, followed for PBES2 by
/// its KDF and cipher OIDs (RFC 8018: `SEQUENCE { kdf AlgId, cipher AlgId }`).
fn encryption_algorithms(der: &[u8]) -> Option<Vec<ObjectIdentifier>> {
    let mut reader = SliceReader::new(der).ok()?;
    let algorithm = reader
        .sequence(|r| {
            let algorithm: AlgorithmIdentifierRef<'_> = r.decode()?;
            r.decode::<OctetStringRef<'_>>()?;
            Ok(algorithm)
        })
        .ok()?;
    let mut oids = vec![algorithm.oid];
    oids.extend(
        algorithm
            .parameters
            .and_then(pbes2_oids)
            .into_iter()
            .flatten(),
    );
    Some(oids)
}

/// The KDF and cipher OIDs of PBES2 parameters; None for other schemes.
fn pbes2_oids(params: AnyRef<'_>) -> Option<[ObjectIdentifier; 2]> {
    let mut reader = SliceReader::new(params.value()).ok()?;
    let kdf: AlgorithmIdentifierRef<'_> = reader.decode().ok()?;
    let cipher: AlgorithmIdentifierRef<'_> = reader.decode().ok()?;
    Some([kdf.oid, cipher.oid])
}

fn unsupported_scheme(what: &str) -> Error {
    Error::new(
        Code::UnsupportedKey,
        format!(
            "{KEY_PEM}: the key is encrypted with {what}, which is not supported (PBES2 with \
             AES-CBC and PBKDF2-HMAC-SHA2 or scrypt is); re-encrypt it with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
        ),
    )
}

/// Names for the OIDs an unsupported key is most likely to carry.
fn oid_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.5.13" => "PBES2",
        "1.2.840.113549.1.5.12" => "PBKDF2",
        "1.2.840.113549.2.7" => "hmacWithSHA1",
        "1.2.840.113549.3.7" => "DES-EDE3-CBC",
        "1.3.14.3.2.7" => "DES-CBC",
        "1.2.840.113549.1.12.1.3" => "PKCS#12 PBE-SHA1-3DES",
        "1.2.840.113549.1.12.1.6" => "PKCS#12 PBE-SHA1-RC2-40",
        _ => return format!("OID {oid}"),
    };
    format!("{name} ({oid})")
}

// ---------------------------------------------------------------------------
// Certificates and keys together

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

// ---------------------------------------------------------------------------
// PEM structure

/// One BEGIN/END block of a PEM file.
struct PemBlock<'a> {
    label: &'a str,
    /// Position in the file, for error messages.
    index: usize,
    line: usize,
    /// RFC 1421 headers; only legacy encrypted keys have them.
    headers: Vec<(&'a str, &'a str)>,
    body: Vec<&'a [u8]>,
    /// BEGIN to END line inclusive, for rustls-pki-types to decode.
    text: &'a [u8],
}

impl<'a> PemBlock<'a> {
    fn name(&self) -> String {
        format!(
            "block {} ({:?}, line {})",
            self.index, self.label, self.line
        )
    }

    fn error(&self, what: &str, problem: &str) -> Error {
        Error::new(Code::BadPem, format!("{what}: {} {problem}", self.name()))
    }

    /// Headers come first and end at the first blank line or body line.
    fn add_line(&mut self, line: &'a [u8]) -> Option<()> {
        let in_headers = self.body.is_empty();
        if in_headers && line.contains(&b':') {
            let (key, value) = std::str::from_utf8(line).ok()?.split_once(':')?;
            self.headers.push((key.trim(), value.trim()));
        } else if !line.is_empty() {
            self.body.push(line);
        }
        Some(())
    }

    /// For encrypted bodies only: plain keys go through pki-types'
    /// constant-time decoder, while ciphertext needs no such care.
    fn decode_body(&self, what: &str) -> Result<Vec<u8>> {
        decode_base64(self.body.iter().copied().flatten().copied())
            .ok_or_else(|| self.error(what, "is not valid base64"))
    }
}

/// Splits PEM text into blocks, checking that every BEGIN has its END.
/// Text outside blocks (comments, openssl's "Bag Attributes") is skipped.
fn scan_pem<'a>(pem: &'a [u8], what: &str) -> Result<Vec<PemBlock<'a>>> {
    let bad = |line: usize, problem: String| {
        Error::new(Code::BadPem, format!("{what}: line {line}: {problem}"))
    };
    let mut blocks = Vec::new();
    let mut open: Option<(PemBlock<'a>, usize)> = None;
    let mut offset = 0;
    for (number, raw) in (1..).zip(pem.split_inclusive(|&b| b == b'\n')) {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_ascii_end();
        let begin = marker(line, b"-----BEGIN ");
        let end = marker(line, b"-----END ");
        match (open.as_mut(), begin, end) {
            (None, Some(label), _) => {
                let label = label.ok_or_else(|| bad(number, "BEGIN label is not text".into()))?;
                let block = PemBlock {
                    label,
                    index: blocks.len() + 1,
                    line: number,
                    headers: Vec::new(),
                    body: Vec::new(),
                    text: &[],
                };
                open = Some((block, start));
            }
            (None, None, Some(_)) => return Err(bad(number, "END line without a BEGIN".into())),
            (None, None, None) => {}
            (Some((block, _)), Some(_), _) => {
                return Err(bad(
                    number,
                    format!("BEGIN inside {} (missing END line)", block.name()),
                ))
            }
            (Some((block, block_start)), None, Some(label)) => {
                if label != Some(block.label) {
                    return Err(bad(
                        number,
                        format!("END label does not match {}", block.name()),
                    ));
                }
                block.text = &pem[*block_start..offset];
                blocks.extend(open.take().map(|(block, _)| block));
            }
            (Some((block, _)), None, None) => {
                block
                    .add_line(line)
                    .ok_or_else(|| bad(number, "malformed PEM header".into()))?;
            }
        }
    }
    match open {
        Some((block, _)) => Err(Error::new(
            Code::BadPem,
            format!("{what}: {} has no END line (truncated?)", block.name()),
        )),
        None => Ok(blocks),
    }
}

/// The label of a `-----BEGIN X-----` / `-----END X-----` line: None if the
/// line is not such a marker, Some(None) if the label is not UTF-8.
fn marker<'a>(line: &'a [u8], prefix: &[u8]) -> Option<Option<&'a str>> {
    let label = line.strip_prefix(prefix)?.strip_suffix(b"-----")?;
    Some(std::str::from_utf8(label).ok())
}

fn nothing_found(pem: &[u8], blocks: &[PemBlock<'_>], what: &str, wanted: &str) -> Error {
    let detail = if pem.trim_ascii().is_empty() {
        "the input is empty".to_string()
    } else if blocks.is_empty() && pem.first() == Some(&0x30) {
        "the input looks like binary DER; PEM is expected".to_string()
    } else if blocks.is_empty() {
        format!("no PEM block found (expected -----BEGIN {wanted}-----)")
    } else {
        let labels: Vec<&str> = blocks.iter().map(|block| block.label).collect();
        format!("no {wanted} block found (found: {})", labels.join(", "))
    };
    Error::new(Code::BadPem, format!("{what}: {detail}"))
}

/// Standard base64 with padding, over body lines without their line ends.
fn decode_base64(text: impl Iterator<Item = u8>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits, mut padding) = (0u32, 0u32, 0u32);
    for c in text {
        let value = match c {
            b'=' => {
                padding += 1;
                continue;
            }
            _ if padding > 0 => return None,
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6 | u32::from(value)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // Leftover bits and padding must agree: 4 chars → 0 bits, 3 → 2 + "=", 2 → 4 + "==".
    matches!((bits, padding), (0, 0) | (2, 1) | (4, 2)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::fs;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::{SystemTime, UNIX_EPOCH};

    const PASS: &str = "correct-horse";
    const WRONG: &str = "battery-staple";

    const CERT: &str = "-----BEGIN CERTIFICATE-----";
    const PKCS8: &str = "-----BEGIN PRIVATE KEY-----";
    const PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----";
    const SEC1: &str = "-----BEGIN EC PRIVATE KEY-----";
    const ENCRYPTED_PKCS8: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const LEGACY: &str = "Proc-Type: 4,ENCRYPTED";

    /// Fixtures in generation order: file, openssl arguments ({pass} is
    /// replaced), text the result must contain. OpenSSL silently writes an
    /// unencrypted key when a cipher is unavailable, hence the checks.
    #[rustfmt::skip]
    const FIXTURES: &[(&str, &str, &[&str])] = &[
        ("rsa.p8", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", &[PKCS8]),
        ("rsa.p1", "rsa -in rsa.p8 -traditional", &[PKCS1]),
        ("rsa.crt", "req -x509 -new -key rsa.p8 -subj /CN=test -days 2", &[CERT]),
        ("other.p8", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", &[PKCS8]),
        ("other.crt", "req -x509 -new -key other.p8 -subj /CN=other -days 2", &[CERT]),
        ("ec.p8", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256", &[PKCS8]),
        ("ec.sec1", "ec -in ec.p8", &[SEC1]),
        ("ec.crt", "req -x509 -new -key ec.p8 -subj /CN=test -days 2", &[CERT]),
        ("ed.p8", "genpkey -algorithm ED25519", &[PKCS8]),
        ("ed.crt", "req -x509 -new -key ed.p8 -subj /CN=test -days 2", &[CERT]),
        ("ed448.p8", "genpkey -algorithm ED448", &[PKCS8]),
        ("rsa.pbes2-aes256", "pkcs8 -topk8 -in rsa.p8 -v2 aes-256-cbc -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("ec.pbes2-aes128-sha256", "pkcs8 -topk8 -in ec.p8 -v2 aes-128-cbc -v2prf hmacWithSHA256 -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("ed.pbes2-aes192-sha512", "pkcs8 -topk8 -in ed.p8 -v2 aes-192-cbc -v2prf hmacWithSHA512 -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("rsa.pbes2-scrypt", "pkcs8 -topk8 -in rsa.p8 -scrypt -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("rsa.legacy-aes128", "rsa -in rsa.p8 -traditional -aes128 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-128-CBC,"]),
        ("rsa.legacy-aes192", "rsa -in rsa.p8 -traditional -aes192 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-192-CBC,"]),
        ("rsa.legacy-aes256", "rsa -in rsa.p8 -traditional -aes256 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-256-CBC,"]),
        ("rsa.legacy-des3", "rsa -in rsa.p8 -traditional -des3 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: DES-EDE3-CBC,"]),
        // Single DES lives in OpenSSL 3's legacy provider.
        ("ec.legacy-des", "ec -provider legacy -provider default -in ec.p8 -des -passout {pass}", &[SEC1, LEGACY, "DEK-Info: DES-CBC,"]),
        ("ec.legacy-aes256", "ec -in ec.p8 -aes256 -passout {pass}", &[SEC1, LEGACY, "DEK-Info: AES-256-CBC,"]),
        ("ec.pbes2-sha1", "pkcs8 -topk8 -in ec.p8 -v2 aes-256-cbc -v2prf hmacWithSHA1 -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("ec.pbes2-des3", "pkcs8 -topk8 -in ec.p8 -v2 des3 -passout {pass}", &[ENCRYPTED_PKCS8]),
        ("ec.pbes1-3des", "pkcs8 -topk8 -in ec.p8 -v1 PBE-SHA1-3DES -passout {pass}", &[ENCRYPTED_PKCS8]),
    ];

    /// Unencrypted keys with their certificate.
    const PLAIN: [(&str, &str); 5] = [
        ("rsa.p8", "rsa.crt"),
        ("rsa.p1", "rsa.crt"),
        ("ec.p8", "ec.crt"),
        ("ec.sec1", "ec.crt"),
        ("ed.p8", "ed.crt"),
    ];

    /// Encrypted keys that must load: file, its unencrypted form, certificate.
    const ENCRYPTED: [(&str, &str, &str); 10] = [
        ("rsa.pbes2-aes256", "rsa.p8", "rsa.crt"),
        ("ec.pbes2-aes128-sha256", "ec.p8", "ec.crt"),
        ("ed.pbes2-aes192-sha512", "ed.p8", "ed.crt"),
        ("rsa.pbes2-scrypt", "rsa.p8", "rsa.crt"),
        ("rsa.legacy-aes128", "rsa.p1", "rsa.crt"),
        ("rsa.legacy-aes192", "rsa.p1", "rsa.crt"),
        ("rsa.legacy-aes256", "rsa.p1", "rsa.crt"),
        ("rsa.legacy-des3", "rsa.p1", "rsa.crt"),
        ("ec.legacy-des", "ec.sec1", "ec.crt"),
        ("ec.legacy-aes256", "ec.sec1", "ec.crt"),
    ];

    /// The generated files' contents, made once per test process; the temp
    /// dir is removed as soon as they are read.
    fn fixture(name: &str) -> &'static str {
        static FILES: OnceLock<HashMap<&str, String>> = OnceLock::new();
        let files = FILES.get_or_init(generate_fixtures);
        files
            .get(name)
            .map_or_else(|| panic!("no fixture {name}"), String::as_str)
    }

    fn pem(name: &str) -> &'static [u8] {
        fixture(name).as_bytes()
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            let name = format!("sack_tcp_certs_{}_{nanos}", std::process::id());
            let path = std::env::temp_dir().join(name);
            fs::create_dir_all(&path).expect("create a temp dir for key fixtures");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn generate_fixtures() -> HashMap<&'static str, String> {
        let dir = TempDir::new();
        let pass = format!("pass:{PASS}");
        let mut files = HashMap::new();
        for &(file, args, must_contain) in FIXTURES {
            let args = args.replace("{pass}", &pass);
            let args: Vec<&str> = args.split(' ').chain(["-out", file]).collect();
            let output = Command::new("openssl")
                .args(&args)
                .current_dir(&dir.0)
                .output()
                .unwrap_or_else(|err| {
                    panic!(
                        "these tests need the `openssl` command-line tool (OpenSSL 3) on PATH \
                         to generate key and certificate fixtures, and it could not be run: {err}"
                    )
                });
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "`openssl {}` failed: {stderr}",
                args.join(" ")
            );
            let text = fs::read_to_string(dir.0.join(file)).expect("read a generated fixture");
            for needle in must_contain {
                assert!(text.contains(needle), "{file} lacks {needle:?}:\n{text}");
            }
            files.insert(file, text);
        }
        files
    }

    fn code_of<T>(result: &Result<T>) -> Code {
        result.as_ref().map_or_else(Error::code, |_| Code::Ok)
    }

    fn pass() -> Option<&'static [u8]> {
        Some(PASS.as_bytes())
    }

    /// The PEM without its line `n` (0 = the BEGIN line).
    fn without_line(pem: &str, n: usize) -> String {
        let lines: Vec<&str> = pem.lines().collect();
        let kept: Vec<&str> = lines[..n].iter().chain(&lines[n + 1..]).copied().collect();
        kept.join("\n") + "\n"
    }

    #[test]
    fn unencrypted_keys_keep_their_format() {
        let format = |name: &str| match load_private_key(pem(name), None) {
            Ok(PrivateKeyDer::Pkcs8(_)) => "pkcs8",
            Ok(PrivateKeyDer::Pkcs1(_)) => "pkcs1",
            Ok(PrivateKeyDer::Sec1(_)) => "sec1",
            Ok(_) => "other",
            Err(err) => panic!("{name}: {err}"),
        };
        let formats = PLAIN.map(|(key, _)| format(key));
        assert_eq!(formats, ["pkcs8", "pkcs1", "pkcs8", "sec1", "pkcs8"]);
    }

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
    fn encrypted_keys_load_with_the_right_passphrase() {
        for (key, plain, cert) in ENCRYPTED {
            let decrypted =
                load_private_key(pem(key), pass()).unwrap_or_else(|err| panic!("{key}: {err}"));
            let plain = load_private_key(pem(plain), None).expect("plain key");
            assert_eq!(decrypted.secret_der(), plain.secret_der(), "{key}");
            load_certified_key(pem(cert), pem(key), pass())
                .unwrap_or_else(|err| panic!("{key} with its certificate: {err}"));
        }
    }

    #[test]
    fn wrong_passphrase_is_reported() {
        for (key, _, _) in ENCRYPTED {
            let err = load_private_key(pem(key), Some(WRONG.as_bytes())).unwrap_err();
            assert_eq!(err.code(), Code::WrongPassphrase, "{key}: {err}");
            let message = err.to_string();
            assert!(
                !message.contains(PASS) && !message.contains(WRONG),
                "{key}: {message}"
            );
            let empty = load_private_key(pem(key), Some(b""));
            assert_eq!(code_of(&empty), Code::WrongPassphrase, "{key} (empty)");
        }
    }

    #[test]
    fn wrong_passphrase_with_valid_padding_is_still_wrong() {
        // About one wrong passphrase in 256 leaves valid PKCS#7 padding; the
        // DER check has to catch those.
        let lucky = (0..20_000)
            .map(|n| load_private_key(pem("rsa.legacy-aes128"), Some(format!("{n}").as_bytes())))
            .find_map(|result| {
                result
                    .err()
                    .filter(|err| err.message().contains("does not parse"))
            })
            .expect("some wrong passphrase passes the padding check");
        assert_eq!(lucky.code(), Code::WrongPassphrase, "{lucky}");
    }

    #[test]
    fn missing_passphrase_is_reported() {
        for (key, _, cert) in ENCRYPTED {
            let result = load_private_key(pem(key), None);
            assert_eq!(code_of(&result), Code::WrongPassphrase, "{key}");
            let certified = load_certified_key(pem(cert), pem(key), None);
            assert_eq!(code_of(&certified), Code::WrongPassphrase, "{key}");
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
    fn malformed_key_pem_is_bad_pem() {
        let der = load_cert_chain(pem("rsa.crt")).expect("cert")[0].to_vec();
        let (rsa, ec) = (fixture("rsa.p8"), fixture("ec.sec1"));
        let cases: [(&str, Vec<u8>); 14] = [
            ("empty", Vec::new()),
            ("blank", b" \n\r\n".to_vec()),
            ("garbage", b"this is not PEM at all".to_vec()),
            ("binary DER", der),
            ("a certificate", pem("rsa.crt").to_vec()),
            ("cut in half", rsa[..rsa.len() / 2].into()),
            (
                "a bad base64 character",
                rsa.replacen("MII", "M!I", 1).into(),
            ),
            (
                "a missing base64 character",
                ec.replacen("MH", "H", 1).into(),
            ),
            ("PKCS#8 missing a line", without_line(rsa, 3).into()),
            (
                "PKCS#1 missing a line",
                without_line(fixture("rsa.p1"), 3).into(),
            ),
            ("SEC1 missing a line", without_line(ec, 1).into()),
            (
                "END of another label",
                ec.replace("END EC", "END RSA").into(),
            ),
            (
                "stray END",
                format!("-----END PRIVATE KEY-----\n{rsa}").into(),
            ),
            (
                "unknown header",
                ec.replacen('\n', "\nComment: hi\n\n", 1).into(),
            ),
        ];
        for (name, input) in cases {
            let result = load_private_key(&input, pass());
            assert_eq!(code_of(&result), Code::BadPem, "{name}: {:?}", result.err());
        }
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
    fn unknown_dek_info_cipher_is_unsupported() {
        let key = fixture("rsa.legacy-aes256").replace("AES-256-CBC", "CAMELLIA-256-CBC");
        for passphrase in [pass(), None] {
            let err = load_private_key(key.as_bytes(), passphrase).unwrap_err();
            assert_eq!(err.code(), Code::UnsupportedKey, "{err}");
            assert!(err.message().contains("CAMELLIA-256-CBC"), "{err}");
        }
    }

    #[test]
    fn unsupported_pkcs8_encryption_is_reported() {
        // hmacWithSHA1 is only found out on decryption, after the passphrase check.
        let sha1 = load_private_key(pem("ec.pbes2-sha1"), pass()).unwrap_err();
        assert_eq!(sha1.code(), Code::UnsupportedKey, "{sha1}");
        assert!(sha1.message().contains("hmacWithSHA1"), "{sha1}");
        for (key, cipher) in [
            ("ec.pbes2-des3", "DES-EDE3-CBC"),
            ("ec.pbes1-3des", "PBE-SHA1-3DES"),
        ] {
            for passphrase in [pass(), None] {
                let err = load_private_key(pem(key), passphrase).unwrap_err();
                assert_eq!(err.code(), Code::UnsupportedKey, "{key}: {err}");
                assert!(err.message().contains(cipher), "{key}: {err}");
            }
        }
    }

    #[test]
    fn unsupported_key_types_are_reported() {
        // Ed448 is valid PKCS#8, but rustls cannot sign with it.
        load_private_key(pem("ed448.p8"), None).expect("Ed448 PKCS#8 parses");
        let result = load_certified_key(pem("ed.crt"), pem("ed448.p8"), None);
        assert_eq!(code_of(&result), Code::UnsupportedKey);
        let dsa = b"-----BEGIN DSA PRIVATE KEY-----\nMAA=\n-----END DSA PRIVATE KEY-----\n";
        assert_eq!(code_of(&load_private_key(dsa, None)), Code::UnsupportedKey);
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

    #[test]
    fn base64_decoding_is_strict() {
        let decode = |text: &str| decode_base64(text.bytes());
        assert_eq!(decode("").as_deref(), Some(&b""[..]));
        assert_eq!(decode("Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(decode("Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(decode("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode("+/+/").as_deref(), Some(&[0xfb, 0xff, 0xbf][..]));
        for bad in ["Zg", "Zg=", "Zm9", "Zg==Zg==", "Zm9v!", "Z"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
