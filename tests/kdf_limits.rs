//! Key files whose key-derivation parameters would take hours or exhaust
//! memory (found while fuzzing) are refused before any derivation runs.
//! The inputs are kept in the fuzz corpus: one byte giving the passphrase
//! length, the passphrase, then the PEM.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use sack_tcp::error::Code;
use sack_tcp::tls::keys::load_private_key;

#[test]
fn costly_key_derivation_is_refused_quickly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pem");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/pem") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("regression-") {
            continue;
        }
        seen += 1;
        let data = std::fs::read(&path).unwrap();
        // On a thread, so a regression fails within the bound instead of
        // deriving for an hour.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (&split, rest) = data.split_first().unwrap();
            let (passphrase, pem) = rest.split_at(usize::from(split).min(rest.len()));
            let _ = tx.send(load_private_key(pem, Some(passphrase)).map(|_| ()));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{name}: still deriving after 30 s"));
        let err = result.expect_err(&name);
        assert_eq!(
            err.code(),
            Code::UnsupportedKey,
            "{name}: {}",
            err.message()
        );
    }
    assert_eq!(
        seen,
        3,
        "the three regression inputs are in {}",
        dir.display()
    );
}
