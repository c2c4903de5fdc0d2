//! PKCS#8 encrypted private keys ("ENCRYPTED PRIVATE KEY"), decrypted by
//! the pkcs8 crate (PBES2 with PBKDF2 or scrypt), with limits on the key
//! derivation's cost and messages that name an unsupported scheme.

use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::der::{Reader, SliceReader};
use pkcs8::pkcs5::pbes2::Kdf;
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::{AlgorithmIdentifierRef, EncryptedPrivateKeyInfo};
use rustls::pki_types::PrivateKeyDer;

use super::{into_checked_key, KeyFormat, KEY_PEM};
use crate::error::{Code, Error, Result};
use crate::tls::pem::PemBlock;

/// Decrypts an "ENCRYPTED PRIVATE KEY" block into the PKCS#8 key it holds.
pub(super) fn decrypt(
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

#[cfg(test)]
mod tests {
    use super::super::load_private_key;
    use crate::error::Code;
    use crate::tls::test_support::key_files::{pass, pem};

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
}
