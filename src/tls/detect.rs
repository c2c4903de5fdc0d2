//! TLS or plain text, decided from the first bytes a client sends, so that
//! one listening port can serve both.
//!
//! The test is deliberately narrow: only a handshake record carrying a
//! ClientHello counts as TLS. Every byte is checked as soon as it arrives,
//! so a plain-text client that sends a short first segment (a single 'G')
//! is recognised at once instead of being kept waiting for bytes it will
//! never send.

/// What the first bytes of a connection say about its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A TLS ClientHello record.
    Tls,
    /// Anything else.
    Plain,
    /// Every byte so far fits a ClientHello, but there are not enough of
    /// them to be sure.
    NeedMore,
}

/// How many bytes [`detect`] needs at most to decide.
pub const DETECT_BYTES: usize = 6;

const CONTENT_TYPE_HANDSHAKE: u8 = 0x16;
const RECORD_VERSION_MAJOR: u8 = 0x03;
/// SSL 3.0 is 0x00 and TLS 1.3 is 0x04 (which no one puts in a record
/// header, but a lenient peer might).
const RECORD_VERSION_MINOR_MAX: u8 = 0x04;
/// The largest record a peer may send: 2^14 bytes of plaintext plus the
/// 2048 bytes RFC 5246 allows for compression and protection.
const MAX_RECORD_LEN: usize = 16384 + 2048;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;

/// Decides from the first bytes of a connection (peeked, not consumed)
/// whether the client speaks TLS: a handshake record (0x16), record version
/// 3.0 to 3.4, a length from 1 to 16384 + 2048, and a ClientHello message
/// (0x01). Any contradicting byte gives [`Detected::Plain`] at once; fewer
/// than [`DETECT_BYTES`] bytes that all fit give [`Detected::NeedMore`].
pub fn detect(first_bytes: &[u8]) -> Detected {
    let seen = &first_bytes[..first_bytes.len().min(DETECT_BYTES)];
    let contradicted = seen
        .iter()
        .enumerate()
        .any(|(index, &byte)| !byte_fits(seen, index, byte));
    if contradicted {
        Detected::Plain
    } else if seen.len() == DETECT_BYTES {
        Detected::Tls
    } else {
        Detected::NeedMore
    }
}

/// Whether `byte`, at `index`, can still belong to a ClientHello record
/// whose earlier bytes are `seen[..index]`.
fn byte_fits(seen: &[u8], index: usize, byte: u8) -> bool {
    match index {
        0 => byte == CONTENT_TYPE_HANDSHAKE,
        1 => byte == RECORD_VERSION_MAJOR,
        2 => byte <= RECORD_VERSION_MINOR_MAX,
        // The high byte alone already rules out lengths above the limit.
        3 => usize::from(byte) << 8 <= MAX_RECORD_LEN,
        4 => {
            let length = usize::from(seen[3]) << 8 | usize::from(byte);
            (1..=MAX_RECORD_LEN).contains(&length)
        }
        5 => byte == HANDSHAKE_CLIENT_HELLO,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    fn real_client_hello() -> Vec<u8> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        let name = ServerName::try_from("example.com").unwrap();
        let mut client = ClientConnection::new(Arc::new(config), name).unwrap();
        let mut hello = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut hello).unwrap();
        }
        hello
    }

    #[test]
    fn a_real_client_hello_is_tls_and_its_short_prefixes_need_more() {
        let hello = real_client_hello();
        assert!(hello.len() > DETECT_BYTES);
        assert_eq!(detect(&hello), Detected::Tls);
        assert_eq!(detect(&hello[..DETECT_BYTES]), Detected::Tls);
        for len in 0..DETECT_BYTES {
            assert_eq!(detect(&hello[..len]), Detected::NeedMore, "prefix of {len}");
        }
    }

    #[test]
    fn http_is_plain() {
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Detected::Plain);
        assert_eq!(detect(b"G"), Detected::Plain);
    }

    #[test]
    fn a_single_byte_is_plain_unless_it_is_the_handshake_type() {
        for byte in 0..=u8::MAX {
            let expected = if byte == 0x16 {
                Detected::NeedMore
            } else {
                Detected::Plain
            };
            assert_eq!(detect(&[byte]), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn empty_input_needs_more() {
        assert_eq!(detect(&[]), Detected::NeedMore);
    }

    #[test]
    fn unknown_record_versions_are_plain() {
        assert_eq!(detect(&[0x16, 0x03, 0x05]), Detected::Plain);
        assert_eq!(detect(&[0x16, 0x02]), Detected::Plain);
        for minor in 0..=4 {
            assert_eq!(detect(&[0x16, 0x03, minor]), Detected::NeedMore);
        }
    }

    #[test]
    fn record_lengths_outside_the_limits_are_plain() {
        assert_eq!(detect(&[0x16, 0x03, 0x01, 0x00, 0x00]), Detected::Plain);
        // 72 * 256 is exactly the limit, so only a high byte above it is
        // already impossible.
        assert_eq!(detect(&[0x16, 0x03, 0x01, 72]), Detected::NeedMore);
        assert_eq!(detect(&[0x16, 0x03, 0x01, 73]), Detected::Plain);
        assert_eq!(detect(&[0x16, 0x03, 0x01, 72, 0x00, 0x01]), Detected::Tls);
        assert_eq!(detect(&[0x16, 0x03, 0x01, 72, 0x01]), Detected::Plain);
        assert_eq!(detect(&[0x16, 0x03, 0x01, 0x00, 0x01, 0x01]), Detected::Tls);
    }

    #[test]
    fn other_handshake_messages_are_plain() {
        // A ServerHello (2) is not what a client opens with.
        assert_eq!(
            detect(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]),
            Detected::Plain
        );
    }

    #[test]
    fn text_starting_with_the_handshake_byte_is_plain() {
        assert_eq!(detect(b"\x16hello"), Detected::Plain);
        assert_eq!(detect(b"\x16\x03abc"), Detected::Plain);
    }
}
