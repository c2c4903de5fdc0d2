//! Key and certificate files in every format the loaders read, generated
//! once per test process by the `openssl` command-line tool (OpenSSL 3).

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Code, Error, Result};

/// The passphrase of every encrypted fixture.
pub const PASS: &str = "correct-horse";
/// A passphrase that is not it.
pub const WRONG: &str = "battery-staple";

const CERT: &str = "-----BEGIN CERTIFICATE-----";
const PKCS8: &str = "-----BEGIN PRIVATE KEY-----";
const PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----";
const SEC1: &str = "-----BEGIN EC PRIVATE KEY-----";
const ENCRYPTED_PKCS8: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const LEGACY: &str = "Proc-Type: 4,ENCRYPTED";

/// Fixtures in generation order: file, openssl arguments ({pass} is
/// replaced), text the result must contain. OpenSSL silently writes an
/// unencrypted key when a cipher is unavailable, hence the checks.
#[rustfmt::skip]
const FIXTURES: &[(&str, &str, &[&str])] = &[
    ("rsa.p8", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", &[PKCS8]),
    ("rsa.p1", "rsa -in rsa.p8 -traditional", &[PKCS1]),
    ("rsa.crt", "req -x509 -new -key rsa.p8 -subj /CN=test -days 2", &[CERT]),
    ("other.p8", "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048", &[PKCS8]),
    ("other.crt", "req -x509 -new -key other.p8 -subj /CN=other -days 2", &[CERT]),
    ("ec.p8", "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256", &[PKCS8]),
    ("ec.sec1", "ec -in ec.p8", &[SEC1]),
    ("ec.crt", "req -x509 -new -key ec.p8 -subj /CN=test -days 2", &[CERT]),
    ("ed.p8", "genpkey -algorithm ED25519", &[PKCS8]),
    ("ed.crt", "req -x509 -new -key ed.p8 -subj /CN=test -days 2", &[CERT]),
    ("ed448.p8", "genpkey -algorithm ED448", &[PKCS8]),
    ("rsa.pbes2-aes256", "pkcs8 -topk8 -in rsa.p8 -v2 aes-256-cbc -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("ec.pbes2-aes128-sha256", "pkcs8 -topk8 -in ec.p8 -v2 aes-128-cbc -v2prf hmacWithSHA256 -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("ed.pbes2-aes192-sha512", "pkcs8 -topk8 -in ed.p8 -v2 aes-192-cbc -v2prf hmacWithSHA512 -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("rsa.pbes2-scrypt", "pkcs8 -topk8 -in rsa.p8 -scrypt -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("rsa.legacy-aes128", "rsa -in rsa.p8 -traditional -aes128 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-128-CBC,"]),
    ("rsa.legacy-aes192", "rsa -in rsa.p8 -traditional -aes192 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-192-CBC,"]),
    ("rsa.legacy-aes256", "rsa -in rsa.p8 -traditional -aes256 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: AES-256-CBC,"]),
    ("rsa.legacy-des3", "rsa -in rsa.p8 -traditional -des3 -passout {pass}", &[PKCS1, LEGACY, "DEK-Info: DES-EDE3-CBC,"]),
    // Single DES lives in OpenSSL 3's legacy provider.
    ("ec.legacy-des", "ec -provider legacy -provider default -in ec.p8 -des -passout {pass}", &[SEC1, LEGACY, "DEK-Info: DES-CBC,"]),
    ("ec.legacy-aes256", "ec -in ec.p8 -aes256 -passout {pass}", &[SEC1, LEGACY, "DEK-Info: AES-256-CBC,"]),
    ("ec.pbes2-sha1", "pkcs8 -topk8 -in ec.p8 -v2 aes-256-cbc -v2prf hmacWithSHA1 -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("ec.pbes2-des3", "pkcs8 -topk8 -in ec.p8 -v2 des3 -passout {pass}", &[ENCRYPTED_PKCS8]),
    ("ec.pbes1-3des", "pkcs8 -topk8 -in ec.p8 -v1 PBE-SHA1-3DES -passout {pass}", &[ENCRYPTED_PKCS8]),
];

/// Unencrypted keys with their certificate.
pub const PLAIN: [(&str, &str); 5] = [
    ("rsa.p8", "rsa.crt"),
    ("rsa.p1", "rsa.crt"),
    ("ec.p8", "ec.crt"),
    ("ec.sec1", "ec.crt"),
    ("ed.p8", "ed.crt"),
];

/// Encrypted keys that must load: file, its unencrypted form, certificate.
pub const ENCRYPTED: [(&str, &str, &str); 10] = [
    ("rsa.pbes2-aes256", "rsa.p8", "rsa.crt"),
    ("ec.pbes2-aes128-sha256", "ec.p8", "ec.crt"),
    ("ed.pbes2-aes192-sha512", "ed.p8", "ed.crt"),
    ("rsa.pbes2-scrypt", "rsa.p8", "rsa.crt"),
    ("rsa.legacy-aes128", "rsa.p1", "rsa.crt"),
    ("rsa.legacy-aes192", "rsa.p1", "rsa.crt"),
    ("rsa.legacy-aes256", "rsa.p1", "rsa.crt"),
    ("rsa.legacy-des3", "rsa.p1", "rsa.crt"),
    ("ec.legacy-des", "ec.sec1", "ec.crt"),
    ("ec.legacy-aes256", "ec.sec1", "ec.crt"),
];

/// The generated files' contents, made once per test process; the temp
/// dir is removed as soon as they are read.
pub fn fixture(name: &str) -> &'static str {
    static FILES: OnceLock<HashMap<&str, String>> = OnceLock::new();
    let files = FILES.get_or_init(generate_fixtures);
    files
        .get(name)
        .map_or_else(|| panic!("no fixture {name}"), String::as_str)
}

/// A fixture's contents as bytes, the form the loaders take.
pub fn pem(name: &str) -> &'static [u8] {
    fixture(name).as_bytes()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let name = format!("sack_tcp_certs_{}_{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create a temp dir for key fixtures");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn generate_fixtures() -> HashMap<&'static str, String> {
    let dir = TempDir::new();
    let pass = format!("pass:{PASS}");
    let mut files = HashMap::new();
    for &(file, args, must_contain) in FIXTURES {
        let args = args.replace("{pass}", &pass);
        let args: Vec<&str> = args.split(' ').chain(["-out", file]).collect();
        let output = Command::new("openssl")
            .args(&args)
            .current_dir(&dir.0)
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "these tests need the `openssl` command-line tool (OpenSSL 3) on PATH \
                     to generate key and certificate fixtures, and it could not be run: {err}"
                )
            });
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "`openssl {}` failed: {stderr}",
            args.join(" ")
        );
        let text = fs::read_to_string(dir.0.join(file)).expect("read a generated fixture");
        for needle in must_contain {
            assert!(text.contains(needle), "{file} lacks {needle:?}:\n{text}");
        }
        files.insert(file, text);
    }
    files
}

/// The error code of a result, `Code::Ok` for success.
pub fn code_of<T>(result: &Result<T>) -> Code {
    result.as_ref().map_or_else(Error::code, |_| Code::Ok)
}

/// The right passphrase, as the loaders take it.
pub fn pass() -> Option<&'static [u8]> {
    Some(PASS.as_bytes())
}

/// The PEM without its line `n` (0 = the BEGIN line).
pub fn without_line(pem: &str, n: usize) -> String {
    let lines: Vec<&str> = pem.lines().collect();
    let kept: Vec<&str> = lines[..n].iter().chain(&lines[n + 1..]).copied().collect();
    kept.join("\n") + "\n"
}
