//! UTF-8 handling for text mode: TCP delivers arbitrary byte runs, but a text
//! callback must only ever see whole characters.

use std::str;

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Turns a byte stream into valid UTF-8 chunks without ever splitting a character
/// across two chunks: an incomplete trailing sequence is carried into the next call,
/// and invalid bytes become U+FFFD (same policy as String::from_utf8_lossy, i.e. the
/// WHATWG "maximal subpart" replacement).
#[derive(Debug, Default)]
pub struct Utf8Carry {
    /// The start of a character whose remaining bytes have not arrived yet.
    /// Never more than 3 bytes: 4 would be a complete character.
    pending: [u8; 3],
    /// A u8, not usize: this sits in every connection.
    len: u8,
}

impl Utf8Carry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the decoded text of carry+input to `out` (out is NOT cleared), keeping an
    /// incomplete tail for the next call. Only a tail that could still become valid is carried.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut input = input;
        if self.len > 0 {
            // Complete the carried character in a small buffer with at most
            // 3 bytes of input, so the bulk of the input is never copied.
            let held = usize::from(self.len);
            let take = input.len().min(4 - held);
            let mut buf = [0u8; 4];
            buf[..held].copy_from_slice(&self.pending[..held]);
            buf[held..held + take].copy_from_slice(&input[..take]);
            let buf = &buf[..held + take];
            self.len = 0;
            let done = decode_complete(buf, out);
            if take == input.len() {
                self.hold(&buf[done..]);
                return;
            }
            // The buffer is full, and 4 bytes always finish (or invalidate)
            // the carried character, so `done` is past the carried bytes.
            debug_assert!(done >= held);
            input = &input[done - held..];
        }
        let done = decode_complete(input, out);
        self.hold(&input[done..]);
    }

    /// End of stream: a pending incomplete tail becomes U+FFFD. Appends to out.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.len > 0 {
            // from_utf8_lossy also replaces a truncated final sequence with
            // a single U+FFFD, however many bytes of it arrived.
            out.extend_from_slice(REPLACEMENT);
            self.len = 0;
        }
    }

    /// Bytes held back (for switching back to binary mode: the caller delivers these raw).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let pending = self.pending[..self.pending_len()].to_vec();
        self.len = 0;
        pending
    }

    pub fn pending_len(&self) -> usize {
        usize::from(self.len)
    }

    fn hold(&mut self, tail: &[u8]) {
        self.pending[..tail.len()].copy_from_slice(tail);
        // At most 3: `hold` only ever gets an incomplete character.
        self.len = tail.len() as u8;
    }
}

/// Appends `bytes` to `out` with invalid sequences replaced, stopping before
/// an incomplete sequence at the very end. Returns how many bytes it used.
fn decode_complete(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let mut rest = bytes;
    loop {
        match str::from_utf8(rest) {
            Ok(text) => {
                out.extend_from_slice(text.as_bytes());
                return bytes.len();
            }
            Err(err) => {
                let valid = err.valid_up_to();
                out.extend_from_slice(&rest[..valid]);
                match err.error_len() {
                    Some(bad) => {
                        out.extend_from_slice(REPLACEMENT);
                        rest = &rest[valid + bad..];
                    }
                    // The tail is a valid prefix that more input may complete.
                    None => return bytes.len() - (rest.len() - valid),
                }
            }
        }
    }
}

/// Splits valid UTF-8 into pieces of at most `max` bytes (max >= 4) on character boundaries.
pub fn split_on_char_boundaries(text: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    assert!(max >= 4, "a piece must be able to hold a 4-byte character");
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        // Back up so the piece does not end inside a character: a byte of
        // the form 10xxxxxx continues the character before it.
        while end > 0 && end < rest.len() && rest[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        if end == 0 {
            // Only reachable for input that is not UTF-8 after all; cutting
            // anywhere beats looping forever on empty pieces.
            end = rest.len().min(max);
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` through one carry and checks every chunk is valid UTF-8.
    fn decode_pieces(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut carry = Utf8Carry::new();
        let mut chunks = Vec::new();
        let mut all = Vec::new();
        for piece in pieces {
            let mut out = Vec::new();
            carry.decode(piece, &mut out);
            assert!(str::from_utf8(&out).is_ok(), "invalid chunk {out:?}");
            assert!(carry.pending_len() <= 3);
            all.extend_from_slice(&out);
            chunks.push(out);
        }
        let mut out = Vec::new();
        carry.finish(&mut out);
        assert_eq!(carry.pending_len(), 0);
        all.extend_from_slice(&out);
        chunks.push(out);
        (chunks, all)
    }

    fn lossy(bytes: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(bytes).into_owned().into_bytes()
    }

    #[test]
    fn a_character_split_anywhere_arrives_whole_in_one_chunk() {
        for ch in ['é', '€', '\u{1F600}'] {
            let whole = format!("a{ch}b");
            let bytes = whole.as_bytes();
            let encoded = ch.to_string();
            for at in 0..=bytes.len() {
                let (chunks, all) = decode_pieces(&[&bytes[..at], &bytes[at..]]);
                assert_eq!(all, bytes, "{ch} split at {at}");
                let holders = chunks
                    .iter()
                    .filter(|c| str::from_utf8(c).unwrap().contains(&encoded))
                    .count();
                assert_eq!(holders, 1, "{ch} split at {at}: {chunks:?}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_holds_back_the_partial_character() {
        let mut carry = Utf8Carry::new();
        let mut out = b"kept".to_vec();
        for (i, byte) in "\u{1F600}".bytes().enumerate() {
            carry.decode(&[byte], &mut out);
            if i < 3 {
                assert_eq!(out, b"kept");
                assert_eq!(carry.pending_len(), i + 1);
            }
        }
        assert_eq!(out, "kept\u{1F600}".as_bytes());
        assert_eq!(carry.pending_len(), 0);
    }

    #[test]
    fn take_pending_returns_the_raw_tail() {
        let mut carry = Utf8Carry::new();
        let mut out = Vec::new();
        carry.decode(b"x\xF0\x9F", &mut out);
        assert_eq!(out, b"x");
        assert_eq!(carry.take_pending(), b"\xF0\x9F");
        assert_eq!(carry.pending_len(), 0);
        carry.finish(&mut out);
        assert_eq!(out, b"x");
    }

    #[test]
    fn tails_that_can_never_complete_are_not_carried() {
        // 0xFF and ED A0 (a surrogate) are invalid already; waiting for more
        // bytes could not change that.
        for input in [&b"a\xFF"[..], b"a\xED\xA0", b"a\xC0", b"a\xF5"] {
            let mut carry = Utf8Carry::new();
            let mut out = Vec::new();
            carry.decode(input, &mut out);
            assert_eq!(carry.pending_len(), 0, "{input:?}");
            assert_eq!(out, lossy(input), "{input:?}");
        }
    }

    const SAMPLES: &[&[u8]] = &[
        b"plain ascii",
        "mixed é € \u{1F600} text".as_bytes(),
        b"\xFF",
        b"a\x80b",
        b"\xC0\x80",
        b"\xED\xA0\x80",
        b"\xF0\x9F\x98",
        b"\xF0\x9F\x98A",
        b"\xE2\x82A\xE2\x82\xAC",
        b"\xF4\x90\x80\x80",
        b"\xF0\x9F\xF0\x9F\x98\x80\xC3",
        b"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x80\x80",
        b"\xE0\x80\xAF\xE0\xA0",
        b"",
    ];

    #[test]
    fn matches_from_utf8_lossy_at_every_split() {
        for sample in SAMPLES {
            let want = lossy(sample);
            for a in 0..=sample.len() {
                for b in a..=sample.len() {
                    let pieces = [&sample[..a], &sample[a..b], &sample[b..]];
                    let (_, all) = decode_pieces(&pieces);
                    assert_eq!(all, want, "{sample:?} split at {a},{b}");
                }
            }
        }
    }

    /// xorshift64: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn matches_from_utf8_lossy_on_random_soup() {
        // Bytes chosen to hit lead, continuation and never-valid bytes often,
        // so valid characters and every kind of error both occur.
        const ALPHABET: &[u8] = &[
            b'a', b'z', 0x80, 0x8F, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE2, 0xED, 0xEF,
            0xF0, 0xF4, 0xF5, 0xFF,
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let soup: Vec<u8> = (0..rng.below(40))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            let mut pieces = Vec::new();
            let mut rest = &soup[..];
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(rng.below(rest.len().min(6) + 1));
                pieces.push(piece);
                rest = tail;
            }
            let (_, all) = decode_pieces(&pieces);
            assert_eq!(all, lossy(&soup), "{soup:?} as {pieces:?}");
        }
    }

    #[test]
    fn split_pieces_are_valid_bounded_and_complete() {
        let text = "a€é\u{1F600}bc\u{1F600}\u{1F600}ééé€€ xyz".repeat(3);
        for max in 4..24 {
            let mut joined = Vec::new();
            for piece in split_on_char_boundaries(text.as_bytes(), max) {
                assert!(!piece.is_empty() && piece.len() <= max, "max {max}");
                assert!(str::from_utf8(piece).is_ok(), "max {max}: {piece:?}");
                joined.extend_from_slice(piece);
            }
            assert_eq!(joined, text.as_bytes(), "max {max}");
        }
        assert_eq!(split_on_char_boundaries(b"", 4).count(), 0);
    }

    #[test]
    fn split_terminates_on_bytes_that_are_not_utf8() {
        let junk = [0x80u8; 10];
        let pieces: Vec<_> = split_on_char_boundaries(&junk, 4).collect();
        assert_eq!(pieces.concat(), junk);
    }
}
