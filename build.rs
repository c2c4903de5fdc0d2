//! Generates the C header from src/ffi into OUT_DIR on every build. The
//! committed include/sack_tcp.h is compared against it by tests/header.rs,
//! so the build never rewrites a tracked file behind the user's back.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("sack_tcp.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    cbindgen::Builder::new()
        .with_config(config)
        // mod.rs pulls in its submodules.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("the C header generates from src/ffi")
        .write_to_file(&out);
}
