//! Private keys from PEM: the unencrypted formats (PKCS#8, PKCS#1, SEC1)
//! and the two kinds of encrypted key, PKCS#8 (`pkcs8`) and OpenSSL's
//! legacy encrypted PEM (`legacy`).

mod legacy;
mod pkcs8;

use ::pkcs8::der::asn1::AnyRef;
use ::pkcs8::der::zeroize::{Zeroize, Zeroizing};
use ::pkcs8::der::{Decode, Reader, SliceReader, Tag, Tagged};
use ::pkcs8::PrivateKeyInfo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::pem::{nothing_found, scan_pem, PemBlock};
use crate::error::{Code, Error, Result};

/// What key errors call their input.
pub(super) const KEY_PEM: &str = "private key PEM";

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
        return pkcs8::decrypt(block, passphrase);
    }
    let format = KeyFormat::from_label(block.label).ok_or_else(|| {
        Error::new(
            Code::UnsupportedKey,
            format!("{KEY_PEM}: {} is not a supported key format", block.name()),
        )
    })?;
    if legacy::is_encrypted(&block.headers) {
        decrypt_legacy(block, format, passphrase)
    } else if !block.headers.is_empty() {
        Err(block.error(KEY_PEM, "has PEM headers but no 'Proc-Type: 4,ENCRYPTED'"))
    } else {
        read_plain_key(block, format)
    }
}

/// The unencrypted key formats, which is what a decrypted key is as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyFormat {
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
    let plain = legacy::decrypt(&block.headers, &ciphertext, passphrase)?;
    into_checked_key(format, plain)
}

/// Hands the decrypted DER over as the key if it parses. A wrong passphrase
/// that happens to leave valid padding ends up here as garbage.
pub(super) fn into_checked_key(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::{load_cert_chain, load_certified_key};
    use crate::tls::test_support::key_files::{
        code_of, fixture, pass, pem, without_line, ENCRYPTED, PASS, PLAIN, WRONG,
    };

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
    fn unknown_dek_info_cipher_is_unsupported() {
        let key = fixture("rsa.legacy-aes256").replace("AES-256-CBC", "CAMELLIA-256-CBC");
        for passphrase in [pass(), None] {
            let err = load_private_key(key.as_bytes(), passphrase).unwrap_err();
            assert_eq!(err.code(), Code::UnsupportedKey, "{err}");
            assert!(err.message().contains("CAMELLIA-256-CBC"), "{err}");
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
}
