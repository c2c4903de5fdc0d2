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
