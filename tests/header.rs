//! The committed header must be exactly what cbindgen generates from the
//! current source (build.rs writes a fresh one to OUT_DIR on every build).

use std::path::Path;

const FRESH: &str = include_str!(concat!(env!("OUT_DIR"), "/sack_tcp.h"));

#[test]
fn header_is_fresh() {
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/sack_tcp.h");
    if std::env::var_os("SACK_TCP_BLESS").is_some() {
        std::fs::write(&committed_path, FRESH).expect("write include/sack_tcp.h");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == FRESH,
        "include/sack_tcp.h is stale: regenerate it with \
         `SACK_TCP_BLESS=1 cargo test --test header` and commit it"
    );
}

/// The header's result codes (`SACK_TCP_OK`, `SACK_TCP_ERR_*`,
/// `SACK_TCP_TLS_*`) are exactly the rows of the error table, with their
/// numbers: a constant added to `ffi/types.rs` without a row (or a row
/// without a constant, which the build already refuses) fails here.
#[test]
fn header_result_codes_are_the_error_table() {
    use sack_tcp::error::Code;
    let mut in_header: Vec<(String, i32)> = FRESH
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("#define ")?.split_whitespace();
            let (name, value) = (words.next()?, words.next()?);
            let is_code = name == "SACK_TCP_OK"
                || name.starts_with("SACK_TCP_ERR_")
                || name.starts_with("SACK_TCP_TLS_");
            is_code.then(|| (name.to_owned(), value.parse().expect(name)))
        })
        .collect();
    let mut in_table: Vec<(String, i32)> = Code::ALL
        .iter()
        .map(|code| (code.name().to_str().unwrap().to_owned(), *code as i32))
        .collect();
    in_header.sort();
    in_table.sort();
    assert_eq!(in_header, in_table);
}
