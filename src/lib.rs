//! sack_tcp: the sack.vfs `Network.TCP` socket object for C.
//!
//! The logic lives in safe Rust modules ([`socket`], [`address`],
//! [`options`], [`text`], [`events`], [`runtime`]); [`ffi`] is the thin C
//! surface over them and the only place raw pointers are handled.

pub mod address;
pub mod error;
pub mod events;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod options;
pub mod runtime;
pub mod socket;
mod sys;
pub mod text;
pub mod tls;
