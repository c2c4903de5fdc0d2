//! The key log (what SSLKEYLOGFILE is to OpenSSL and NSS): every TLS
//! configuration carries one `KeyLogger`, which hands NSS key-log lines to
//! the host's sink when one is installed and does nothing (rustls does not
//! even format the secrets) when none is, the default.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use crate::error::{Code, Error, Result};

/// Receives one NSS key-log line ("LABEL <client_random> <secret>", hex,
/// without a newline).
pub trait KeyLogSink: Send + Sync {
    fn line(&self, line: &str);
}

static SINK: RwLock<Option<Arc<dyn KeyLogSink>>> = RwLock::new(None);

thread_local! {
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Installs (or, with `None`, removes) the sink. Returns once no line is
/// being delivered to the old one; from inside a sink that would wait for
/// itself, so it is refused.
pub fn set_sink(sink: Option<Arc<dyn KeyLogSink>>) -> Result<()> {
    if IN_SINK.with(Cell::get) {
        return Err(Error::new(
            Code::WouldDeadlock,
            "sack_tcp_set_key_log_callback was called from inside the key log callback",
        ));
    }
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink;
    Ok(())
}

fn enabled() -> bool {
    SINK.read().unwrap_or_else(|p| p.into_inner()).is_some()
}

/// The `KeyLog` every configuration gets.
#[derive(Debug)]
pub struct KeyLogger;

pub fn logger() -> Arc<dyn rustls::KeyLog> {
    Arc::new(KeyLogger)
}

/// "LABEL <client_random hex> <secret hex>", as NSS writes it.
pub fn nss_line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let mut line =
        String::with_capacity(label.len() + 2 + 2 * (client_random.len() + secret.len()));
    line.push_str(label);
    line.push(' ');
    for b in client_random {
        let _ = write!(line, "{b:02x}");
    }
    line.push(' ');
    for b in secret {
        let _ = write!(line, "{b:02x}");
    }
    line
}

impl rustls::KeyLog for KeyLogger {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if IN_SINK.with(Cell::get) {
            return;
        }
        // Held while the sink runs, so that `set_sink` can wait for it.
        let sink = SINK.read().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = sink.as_ref() {
            let line = nss_line(label, client_random, secret);
            IN_SINK.with(|f| f.set(true));
            sink.line(&line);
            IN_SINK.with(|f| f.set(false));
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        enabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_in_nss_format() {
        assert_eq!(
            nss_line("CLIENT_RANDOM", &[0x01, 0xab], &[0xff, 0x00, 0x10]),
            "CLIENT_RANDOM 01ab ff0010"
        );
    }
}
