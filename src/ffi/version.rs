//! The crate version as the C surface reports it.

use std::ffi::CStr;

fn part(text: &str) -> u32 {
    text.parse().expect("cargo sets numeric version parts")
}

pub fn number() -> u32 {
    part(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + part(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}

pub fn string() -> &'static CStr {
    // Built at compile time with its NUL, so the pointer is static.
    const TEXT: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    CStr::from_bytes_with_nul(TEXT.as_bytes()).expect("one NUL, at the end")
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_matches_cargo() {
        assert_eq!(super::string().to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        let expected: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            super::number(),
            expected[0] * 10000 + expected[1] * 100 + expected[2]
        );
    }
}
