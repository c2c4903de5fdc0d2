//! sack_tcp: the sack.vfs `Network.TCP` socket object for C.
//!
//! The logic lives in safe Rust modules ([`socket`], [`address`],
//! [`options`], [`text`], [`events`], [`runtime`], [`tls`]); [`ffi`] is the
//! thin C surface over them.
//!
//! Unsafe code is denied everywhere but in two modules: [`ffi`], which
//! turns the C caller's pointers into references and exports the functions,
//! and `sys`, the few platform calls the standard library does not wrap.
//! Each unsafe block there is to say why it is sound in a `SAFETY:` comment,
//! which `clippy::undocumented_unsafe_blocks` checks (three files of `ffi`
//! are still exempt; see ffi/mod.rs).

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod address;
pub mod borrowed;
pub mod error;
pub mod events;
#[allow(unsafe_code)]
pub mod ffi;
// The fuzz targets' entry points: compiled for cargo-fuzz (which sets
// `--cfg fuzzing`) and for this crate's own unit tests only.
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod options;
pub mod runtime;
pub mod socket;
#[allow(unsafe_code)]
mod sys;
pub mod text;
pub mod tls;
pub mod unix_address;

/// Locks a mutex, using it even if a panic poisoned it: nothing in this
/// crate holds a lock across code that can leave the guarded state
/// half-updated, and a socket library must not stop working because one
/// callback thread panicked.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
