//! Client configurations shared between clients opened with the same TLS
//! settings, so that a client that reconnects resumes its session.
//!
//! rustls keeps resumption state (TLS 1.3 tickets, TLS 1.2 session IDs) in
//! each `ClientConfig`'s session cache, keyed by server name. Sharing one
//! config between clients with identical settings lets them resume each
//! other's sessions and skips parsing the CA PEM and building a verifier on
//! every open. Clients whose settings differ in anything that goes into the
//! config (trust: `ca`, `insecure_skip_verify`; identity: `cert`, `key`,
//! `passphrase`; `alpn`; the version, group and suite policy,
//! `no_resumption` and the verify callback) get different configs, hence different caches: a
//! session obtained under one trust configuration is never offered under
//! another.
//!
//! Entries are found by a SHA-256 of those settings (the key and passphrase
//! are not kept in the clear). At most `MAX_CONFIGS` are kept; the least
//! recently used goes first.

use std::sync::{Arc, Mutex};

use rustls::ClientConfig;

use super::info::sha256;
use crate::error::Result;
use crate::options::TlsOptions;

/// Distinct client TLS settings kept at once.
pub const MAX_CONFIGS: usize = 64;

type Key = [u8; 32];
type Configs = Mutex<Vec<(Key, Arc<ClientConfig>)>>;

/// Most recently used last.
static CONFIGS: Configs = Mutex::new(Vec::new());

/// The digest of everything `ClientTls::build` puts into a `ClientConfig`.
pub fn key_of(o: &TlsOptions) -> Key {
    let mut text = Vec::new();
    text.extend_from_slice(b"sack_tcp client config 1");
    let mut field = |tag: u8, value: Option<&[u8]>| {
        text.push(tag);
        match value {
            None => text.push(0),
            Some(bytes) => {
                text.push(1);
                text.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                text.extend_from_slice(bytes);
            }
        }
    };
    field(b'i', Some(&[u8::from(o.insecure_skip_verify)]));
    field(b'a', o.ca.as_deref().map(str::as_bytes));
    field(b'c', o.cert.as_deref().map(str::as_bytes));
    field(b'k', o.key.as_deref().map(str::as_bytes));
    field(b'p', o.passphrase.as_deref().map(str::as_bytes));
    field(b'n', Some(&(o.alpn.len() as u64).to_le_bytes()));
    for protocol in &o.alpn {
        field(b'l', Some(protocol));
    }
    field(b'v', Some(&o.min_version.unwrap_or(0).to_le_bytes()));
    field(b'V', Some(&o.max_version.unwrap_or(0).to_le_bytes()));
    field(b'g', o.groups.as_deref().map(str::as_bytes));
    field(b's', o.cipher_suites.as_deref().map(str::as_bytes));
    field(b'r', Some(&[u8::from(o.no_resumption)]));
    field(b'x', o.crl.as_deref().map(str::as_bytes));
    let check = o.peer_check.as_ref().map(|c| c.0.identity());
    field(b'P', check.as_deref());
    sha256(&text)
}

fn lock(configs: &Configs) -> std::sync::MutexGuard<'_, Vec<(Key, Arc<ClientConfig>)>> {
    configs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shared config for `o`, built with `build` the first time (outside the
/// lock: building parses PEM and may read the system's roots).
pub fn shared(
    o: &TlsOptions,
    build: impl FnOnce() -> Result<Arc<ClientConfig>>,
) -> Result<Arc<ClientConfig>> {
    shared_in(&CONFIGS, key_of(o), build)
}

fn shared_in(
    cache: &Configs,
    key: Key,
    build: impl FnOnce() -> Result<Arc<ClientConfig>>,
) -> Result<Arc<ClientConfig>> {
    if let Some(config) = touch(&mut lock(cache), &key) {
        return Ok(config);
    }
    let built = build()?;
    let mut configs = lock(cache);
    // Another thread may have built the same one meanwhile: keep the first.
    if let Some(config) = touch(&mut configs, &key) {
        return Ok(config);
    }
    if configs.len() >= MAX_CONFIGS {
        configs.remove(0);
    }
    configs.push((key, built.clone()));
    Ok(built)
}

/// Finds `key` and marks it most recently used.
fn touch(configs: &mut Vec<(Key, Arc<ClientConfig>)>, key: &Key) -> Option<Arc<ClientConfig>> {
    let at = configs.iter().position(|(k, _)| k == key)?;
    let entry = configs.remove(at);
    let config = entry.1.clone();
    configs.push(entry);
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::peer_check::{PeerChain, PeerCheck, PeerCheckRef};
    use crate::tls::{HostCallback, HostRef};

    struct Check(u8);

    impl PeerCheck for Check {
        fn accepts(&self, _chain: &PeerChain<'_>) -> bool {
            true
        }
    }

    impl HostCallback for Check {
        fn identity(&self) -> Vec<u8> {
            vec![self.0]
        }
    }

    fn check(id: u8) -> PeerCheckRef {
        HostRef(Arc::new(Check(id)))
    }

    #[test]
    fn settings_that_differ_in_trust_identity_or_alpn_have_different_keys() {
        let base = TlsOptions {
            ca: Some("CA".into()),
            ..TlsOptions::default()
        };
        let same = TlsOptions {
            // Not part of the config: per connection.
            host: Some("example.com".into()),
            ..base.clone()
        };
        assert_eq!(key_of(&base), key_of(&same));
        let variants = [
            TlsOptions {
                ca: Some("CA2".into()),
                ..base.clone()
            },
            TlsOptions {
                ca: None,
                ..base.clone()
            },
            TlsOptions {
                insecure_skip_verify: true,
                ..base.clone()
            },
            TlsOptions {
                cert: Some("CA".into()),
                ..base.clone()
            },
            TlsOptions {
                key: Some("K".into()),
                ..base.clone()
            },
            TlsOptions {
                passphrase: Some(String::new()),
                ..base.clone()
            },
            TlsOptions {
                alpn: vec![b"h2".to_vec()],
                ..base.clone()
            },
            TlsOptions {
                alpn: vec![b"h".to_vec(), b"2".to_vec()],
                ..base.clone()
            },
            TlsOptions {
                min_version: Some(0x0304),
                ..base.clone()
            },
            TlsOptions {
                max_version: Some(0x0303),
                ..base.clone()
            },
            TlsOptions {
                groups: Some("X25519".into()),
                ..base.clone()
            },
            TlsOptions {
                cipher_suites: Some("TLS_AES_128_GCM_SHA256".into()),
                ..base.clone()
            },
            TlsOptions {
                no_resumption: true,
                ..base.clone()
            },
            TlsOptions {
                peer_check: Some(check(1)),
                ..base.clone()
            },
            TlsOptions {
                peer_check: Some(check(2)),
                ..base.clone()
            },
        ];
        let mut keys: Vec<Key> = variants.iter().map(key_of).collect();
        keys.push(key_of(&base));
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "every variant has its own key");
    }

    #[test]
    fn the_least_recently_used_config_goes_first() {
        let config = || {
            let provider = crate::tls::config::provider();
            let c = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            Ok(Arc::new(c))
        };
        let cache: Configs = Mutex::new(Vec::new());
        let key = |i: usize| {
            key_of(&TlsOptions {
                ca: Some(format!("lru test {i}")),
                ..TlsOptions::default()
            })
        };
        let first = shared_in(&cache, key(0), config).unwrap();
        for i in 1..MAX_CONFIGS {
            shared_in(&cache, key(i), config).unwrap();
        }
        // Using 0 again makes 1 the oldest, which the next new one evicts.
        let again = shared_in(&cache, key(0), || panic!("0 is kept")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        shared_in(&cache, key(MAX_CONFIGS), config).unwrap();
        assert_eq!(lock(&cache).len(), MAX_CONFIGS);
        shared_in(&cache, key(0), || panic!("0 was evicted")).unwrap();
        assert!(!lock(&cache).iter().any(|(k, _)| *k == key(1)));
    }
}
