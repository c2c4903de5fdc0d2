//! sack_tcp: the sack.vfs `Network.TCP` socket object for C.
//!
//! The logic lives in safe Rust modules ([`socket`], [`address`],
//! [`options`], [`text`], [`events`], [`runtime`]); [`ffi`] is the thin C
//! surface over them and the only place raw pointers are handled.

pub mod address;
pub mod error;
pub mod events;
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
mod sys;
pub mod text;
pub mod tls;

/// Locks a mutex, using it even if a panic poisoned it: nothing in this
/// crate holds a lock across code that can leave the guarded state
/// half-updated, and a socket library must not stop working because one
/// callback thread panicked.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
