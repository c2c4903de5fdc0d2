//! The block structure of PEM text: BEGIN/END blocks with their labels,
//! RFC 1421 headers and base64 bodies, scanned so that an error can say
//! which block (and line) is at fault. Plain bodies are decoded by
//! rustls-pki-types (constant time over key material); `decode_body` is for
//! ciphertext only.

use crate::error::{Code, Error, Result};

/// One BEGIN/END block of a PEM file.
pub(super) struct PemBlock<'a> {
    pub label: &'a str,
    /// Position in the file, for error messages.
    index: usize,
    line: usize,
    /// RFC 1421 headers; only legacy encrypted keys have them.
    pub headers: Vec<(&'a str, &'a str)>,
    body: Vec<&'a [u8]>,
    /// BEGIN to END line inclusive, for rustls-pki-types to decode.
    pub text: &'a [u8],
}

impl<'a> PemBlock<'a> {
    pub fn name(&self) -> String {
        format!(
            "block {} ({:?}, line {})",
            self.index, self.label, self.line
        )
    }

    pub fn error(&self, what: &str, problem: &str) -> Error {
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
    pub fn decode_body(&self, what: &str) -> Result<Vec<u8>> {
        decode_base64(self.body.iter().copied().flatten().copied())
            .ok_or_else(|| self.error(what, "is not valid base64"))
    }
}

/// Splits PEM text into blocks, checking that every BEGIN has its END.
/// Text outside blocks (comments, openssl's "Bag Attributes") is skipped.
pub(super) fn scan_pem<'a>(pem: &'a [u8], what: &str) -> Result<Vec<PemBlock<'a>>> {
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

pub(super) fn nothing_found(
    pem: &[u8],
    blocks: &[PemBlock<'_>],
    what: &str,
    wanted: &str,
) -> Error {
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
