//! OpenSSL's legacy ("traditional") encrypted PEM keys: a PKCS#1 or SEC1
//! block carrying `Proc-Type: 4,ENCRYPTED` and `DEK-Info: <cipher>,<hex IV>`
//! headers, as written by `openssl ec -aes256`, `openssl rsa -aes256
//! -traditional` and OpenSSL 1.x's `genrsa -aes256`.
//!
//! The cipher key comes from OpenSSL's `EVP_BytesToKey` (MD5, one iteration,
//! salt = first 8 bytes of the IV). That derivation is weak, which is why
//! OpenSSL 3 writes PKCS#8 by default; it is read here only because such
//! keys are still common.

use aes::{Aes128Dec, Aes192Dec, Aes256Dec};
use cbc::cipher::{block_padding::Pkcs7, BlockCipher, BlockDecryptMut, KeyInit, KeyIvInit};
use des::{Des, TdesEde3};
use md5::{Digest, Md5};
use pkcs8::der::zeroize::{Zeroize, Zeroizing};

use crate::error::{Code, Error, Result};

const SUPPORTED: &str = "AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC, DES-CBC";

/// The `DEK-Info` ciphers OpenSSL offers that are still worth reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DekCipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
    Des,
}

impl DekCipher {
    fn from_name(name: &str) -> Option<DekCipher> {
        const NAMES: [(&str, DekCipher); 5] = [
            ("AES-128-CBC", DekCipher::Aes128),
            ("AES-192-CBC", DekCipher::Aes192),
            ("AES-256-CBC", DekCipher::Aes256),
            ("DES-EDE3-CBC", DekCipher::DesEde3),
            ("DES-CBC", DekCipher::Des),
        ];
        // OpenSSL looks cipher names up case-insensitively.
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, cipher)| *cipher)
    }

    fn key_len(self) -> usize {
        match self {
            DekCipher::Aes128 => 16,
            DekCipher::Aes192 | DekCipher::DesEde3 => 24,
            DekCipher::Aes256 => 32,
            DekCipher::Des => 8,
        }
    }

    /// Block size, which CBC also uses as the IV length.
    fn block_len(self) -> usize {
        match self {
            DekCipher::Des | DekCipher::DesEde3 => 8,
            _ => 16,
        }
    }

    /// Decrypts `buf` in place; returns the plaintext length.
    fn decrypt(self, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize> {
        match self {
            DekCipher::Aes128 => cbc_decrypt::<Aes128Dec>(key, iv, buf),
            DekCipher::Aes192 => cbc_decrypt::<Aes192Dec>(key, iv, buf),
            DekCipher::Aes256 => cbc_decrypt::<Aes256Dec>(key, iv, buf),
            DekCipher::DesEde3 => cbc_decrypt::<TdesEde3>(key, iv, buf),
            DekCipher::Des => cbc_decrypt::<Des>(key, iv, buf),
        }
    }
}

/// True when the headers mark the block as legacy encrypted.
pub(super) fn is_encrypted(headers: &[(&str, &str)]) -> bool {
    header(headers, "Proc-Type").is_some_and(|value| {
        value
            .split(',')
            .nth(1)
            .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("ENCRYPTED"))
    })
}

/// Decrypts the body of a legacy encrypted block and checks its PKCS#7
/// padding. The caller still has to check that the result parses: a wrong
/// passphrase passes the padding check about once in 256 tries.
pub(super) fn decrypt(
    headers: &[(&str, &str)],
    ciphertext: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>> {
    let (cipher, iv) = parse_dek_info(headers)?;
    if ciphertext.is_empty() || ciphertext.len() % cipher.block_len() != 0 {
        return Err(Error::new(
            Code::BadPem,
            "private key PEM: the encrypted key's length is not a whole number of cipher \
             blocks (truncated or corrupted)",
        ));
    }
    let passphrase = passphrase.ok_or_else(|| {
        Error::new(
            Code::WrongPassphrase,
            "private key PEM: the key is encrypted (Proc-Type: 4,ENCRYPTED) but no passphrase was given",
        )
    })?;
    // Salt = first 8 bytes of the IV: that is what OpenSSL's PEM writer uses.
    let key = bytes_to_key(passphrase, &iv[..8], cipher.key_len());
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    let len = cipher.decrypt(&key, &iv, &mut plain)?;
    plain.truncate(len);
    Ok(plain)
}

/// Case-insensitive header lookup (RFC 1421 header names are not case-sensitive).
fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| *value)
}

fn parse_dek_info(headers: &[(&str, &str)]) -> Result<(DekCipher, Vec<u8>)> {
    let bad = |detail: String| Error::new(Code::BadPem, format!("private key PEM: {detail}"));
    let value = header(headers, "DEK-Info").ok_or_else(|| {
        bad("the key is marked 'Proc-Type: 4,ENCRYPTED' but has no DEK-Info header".into())
    })?;
    let (name, iv_hex) = value
        .split_once(',')
        .ok_or_else(|| bad("the DEK-Info header is not '<cipher>,<hex IV>'".into()))?;
    let name = name.trim();
    let cipher = DekCipher::from_name(name).ok_or_else(|| {
        Error::new(
            Code::UnsupportedKey,
            format!(
                "private key PEM: the key is encrypted with {name:?}, which is not supported \
                 (supported: {SUPPORTED}); convert it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            ),
        )
    })?;
    let iv = decode_hex(iv_hex.trim())
        .filter(|iv| iv.len() == cipher.block_len())
        .ok_or_else(|| {
            bad(format!(
                "the DEK-Info IV for {name} must be {} hex digits",
                2 * cipher.block_len()
            ))
        })?;
    Ok((cipher, iv))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    // to_digit rather than u8::from_str_radix, which would accept a '+'.
    let digit = |c: u8| char::from(c).to_digit(16);
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration:
/// D_1 = MD5(pass || salt), D_i = MD5(D_(i-1) || pass || salt), key = D_1 || D_2 ...
fn bytes_to_key(passphrase: &[u8], salt: &[u8], key_len: usize) -> Zeroizing<Vec<u8>> {
    const MD5_LEN: usize = 16;
    // Capacity fixed up front so the key is never reallocated, which would
    // leave an unzeroized copy behind.
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + MD5_LEN));
    while key.len() < key_len {
        let mut md5 = Md5::new();
        if let Some(previous) = key.len().checked_sub(MD5_LEN) {
            md5.update(&key[previous..]);
        }
        md5.update(passphrase);
        md5.update(salt);
        let mut digest = md5.finalize();
        key.extend_from_slice(&digest);
        digest.as_mut_slice().zeroize();
    }
    key.truncate(key_len);
    key
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize>
where
    C: BlockDecryptMut + BlockCipher + KeyInit,
{
    // Key and IV lengths come from DekCipher, so this only fails on a bug.
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| {
        Error::new(
            Code::BadPem,
            "private key PEM: DEK-Info IV does not fit the cipher",
        )
    })?;
    // Bad padding is what a wrong passphrase almost always looks like.
    decryptor
        .decrypt_padded_mut::<Pkcs7>(buf)
        .map(|plain| plain.len())
        .map_err(|_| {
            Error::new(
                Code::WrongPassphrase,
                "private key PEM: wrong passphrase (decryption failed; or the key is corrupted)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn bytes_to_key_matches_openssl() {
        // From `openssl enc -aes-256-cbc -k secret -S 0102030405060708 -P -md md5`
        // and the same with -des-ede3-cbc (its key is a prefix of the same stream).
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            hex(&bytes_to_key(b"secret", &salt, 32)),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB"
        );
        // DES-EDE3-CBC takes the first 24 bytes of the same stream.
        assert_eq!(
            hex(&bytes_to_key(b"secret", &salt, 24)),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144"
        );
        assert_eq!(hex(&bytes_to_key(b"secret", &salt, 8)), "C9E5A1BD216DBE13");
    }

    #[test]
    fn dek_info_is_parsed_strictly() {
        let headers = |dek: &'static str| vec![("Proc-Type", "4,ENCRYPTED"), ("DEK-Info", dek)];
        let (cipher, iv) = parse_dek_info(&headers("aes-128-cbc,000102030405060708090A0B0C0D0E0F"))
            .expect("lower-case cipher name");
        assert_eq!(cipher, DekCipher::Aes128);
        assert_eq!(iv.len(), 16);
        for bad in [
            "AES-128-CBC,0001",
            "AES-128-CBC",
            "DES-CBC,+0010203040506",
            "DES-CBC,zz",
        ] {
            assert_eq!(
                parse_dek_info(&headers(bad))
                    .map(|_| ())
                    .unwrap_err()
                    .code(),
                Code::BadPem,
                "{bad}"
            );
        }
        let unknown = parse_dek_info(&headers("BF-CBC,0001020304050607")).unwrap_err();
        assert_eq!(unknown.code(), Code::UnsupportedKey);
        assert!(unknown.message().contains("BF-CBC"), "{unknown}");
    }

    #[test]
    fn proc_type_must_say_encrypted() {
        assert!(is_encrypted(&[("proc-type", "4, encrypted")]));
        assert!(!is_encrypted(&[("Proc-Type", "4,MIC-ONLY")]));
        assert!(!is_encrypted(&[("DEK-Info", "AES-128-CBC,00")]));
    }

    #[test]
    fn ciphertext_of_partial_blocks_is_bad_pem() {
        let headers = [
            ("Proc-Type", "4,ENCRYPTED"),
            ("DEK-Info", "DES-EDE3-CBC,0001020304050607"),
        ];
        let err = decrypt(&headers, &[0; 12], Some(b"pass")).unwrap_err();
        assert_eq!(err.code(), Code::BadPem);
    }
}
