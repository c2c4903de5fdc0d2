//! Entry points for the fuzz targets in fuzz/: each takes arbitrary bytes,
//! must never panic, and checks what it can about the result.

use crate::address;
use crate::ffi::options as c_options;
use crate::text::{split_on_char_boundaries, Utf8Carry};
use crate::tls::{certs, detect, keys};

/// Address strings: parsing never panics, and what parses is consistent.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = address::parse(text) {
        assert!(parsed.host.is_some() || parsed.port.is_some());
    }
}

/// PEM certificates and keys, encrypted ones included. The first byte
/// chooses how much of the rest is a passphrase.
pub fn pem(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (passphrase, pem) = rest.split_at(split);
    let passphrase = (!passphrase.is_empty()).then_some(passphrase);
    let _ = keys::load_private_key(pem, passphrase);
    let _ = certs::load_cert_chain(pem);
    let _ = certs::load_root_store(pem);
    let _ = certs::load_certified_key(pem, pem, passphrase);
}

/// TLS-or-plain detection: a decision, once made, never changes as more
/// bytes arrive.
pub fn detect(data: &[u8]) {
    let whole = detect::detect(data);
    for end in 0..data.len().min(detect::DETECT_BYTES + 2) {
        match detect::detect(&data[..end]) {
            detect::Detected::NeedMore => {}
            decided => assert_eq!(decided, whole, "prefix of {end} bytes decided differently"),
        }
    }
}

/// The UTF-8 carry: any split of any bytes gives valid chunks whose
/// concatenation is the lossy decoding of the whole. The first bytes choose
/// the cut points.
pub fn utf8_carry(data: &[u8]) {
    let Some((&cuts, rest)) = data.split_first() else {
        return;
    };
    let mut carry = Utf8Carry::new();
    let mut all = Vec::new();
    let mut start = 0;
    let mut step = usize::from(cuts % 7) + 1;
    while start < rest.len() {
        let end = (start + step).min(rest.len());
        let mut out = Vec::new();
        carry.decode(&rest[start..end], &mut out);
        assert!(std::str::from_utf8(&out).is_ok(), "a chunk is not UTF-8");
        for piece in split_on_char_boundaries(&out, 4 + usize::from(cuts % 5)) {
            assert!(std::str::from_utf8(piece).is_ok(), "a piece is not UTF-8");
        }
        all.extend_from_slice(&out);
        start = end;
        step = step % 5 + 1;
    }
    carry.finish(&mut all);
    assert_eq!(all, String::from_utf8_lossy(rest).as_bytes());
}

/// The C options struct: arbitrary scalar fields and strings convert to
/// options or to an error, and so does planning what they open.
pub fn options(data: &[u8]) {
    let mut o = c_options::defaults();
    let mut bytes = data.iter().copied();
    let mut next_i32 = || i32::from_le_bytes([0; 4].map(|_| bytes.next().unwrap_or(0)));
    o.port = next_i32();
    o.family = next_i32();
    o.to_port = next_i32();
    o.backlog = next_i32();
    o.client_auth = next_i32();
    let flags = next_i32();
    o.read_strings = flags & 1 != 0;
    o.reuse_address = flags & 2 != 0;
    o.reuse_port = flags & 4 != 0;
    o.no_delay = flags & 8 != 0;
    o.ssl = flags & 16 != 0;
    o.allow_ssl_fallback = flags & 32 != 0;
    o.starttls = flags & 64 != 0;
    o.tls_insecure_skip_verify = flags & 128 != 0;
    o.read_buffer_size = next_i32() as u32 as usize;
    o.send_queue_limit = next_i32() as u32 as usize;
    o.send_queue_low_mark = next_i32() as u32 as usize;
    o.connect_timeout_ms = next_i32() as u32;
    let text = String::from_utf8_lossy(data.get(40..).unwrap_or_default());
    let mut fields = text
        .split('\u{1}')
        .map(|s| (!s.is_empty()).then(|| s.to_owned()));
    let mut field = || fields.next().flatten();
    let strings = c_options::CStrings {
        address: field(),
        to_address: field(),
        host: field(),
        alpn: field(),
        ..c_options::CStrings::default()
    };
    if let Ok(options) = c_options::convert(&o, strings) {
        let _ = options.plan();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_odd_inputs() {
        let inputs: [&[u8]; 6] = [
            b"",
            b"\x00",
            b"[::1]:80",
            b"\x16\x03\x01\x00\x05\x01",
            "\u{1F600}\u{FFFD}\u{0}".as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ];
        for input in inputs {
            address(input);
            pem(input);
            detect(input);
            utf8_carry(input);
            options(input);
        }
    }
}
