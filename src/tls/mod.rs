//! TLS: certificate and key loading, the SNI certificate store, server
//! verification for clients, and TLS-or-plain detection. The connection
//! driver in `socket` runs the rustls session itself.

pub mod certs;
pub mod client_cache;
pub mod config;
pub mod detect;
pub mod errors;
pub mod expiry;
pub mod hello;
pub mod info;
pub mod key_log;
pub mod keys;
pub mod peer_check;
mod pem;
pub mod sni;
pub mod verify;
mod x509;

#[cfg(test)]
mod test_support;
