//! TLS: certificate and key loading now; the SNI store, client
//! verification, TLS/plain detection and STARTTLS follow (issue 3).

pub mod certs;
