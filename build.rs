//! Generates the C header from src/ffi into OUT_DIR on every build. The
//! committed include/sack_tcp.h is compared against it by tests/header.rs,
//! so the build never rewrites a tracked file behind the user's back.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    // The shared library's soname carries the ABI version (libsack_tcp.so.0);
    // CMake installs it as libsack_tcp.so.MAJOR.MINOR.PATCH with the usual links.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsack_tcp.so.{major}");
    }
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("sack_tcp.h");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    // The version macros come from Cargo.toml, the one place it is written.
    config.after_includes = Some(format!(
        "{}{}",
        config.after_includes.take().unwrap_or_default(),
        version_macros()
    ));
    cbindgen::Builder::new()
        .with_config(config)
        // mod.rs pulls in its submodules.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("the C header generates from src/ffi")
        .write_to_file(&out);
}

fn version_macros() -> String {
    let part = |name: &str| -> u32 {
        env::var(name)
            .expect("set by cargo")
            .parse()
            .expect("a numeric version part")
    };
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );
    format!(
        "\n#define SACK_TCP_VERSION_MAJOR {major}\n\
         #define SACK_TCP_VERSION_MINOR {minor}\n\
         #define SACK_TCP_VERSION_PATCH {patch}\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH, as sack_tcp_version() returns. */\n\
         #define SACK_TCP_VERSION_NUMBER {}\n\
         #define SACK_TCP_VERSION_STRING \"{major}.{minor}.{patch}\"\n",
        major * 10000 + minor * 100 + patch
    )
}
