//! The server's certificates, chosen per handshake by the name the client
//! asks for (SNI).
//!
//! The store sits behind a lock rather than being rebuilt into a new
//! `ServerConfig`, because `sack_tcp_add_cert` adds host certificates to a
//! server that is already accepting: the next handshake must see them
//! without the listener being restarted.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};

/// Certificates chosen by SNI, changeable while the server runs.
#[derive(Debug, Default)]
pub struct CertStore {
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    default: Option<Arc<CertifiedKey>>,
    /// The names given with the current default, so that replacing the
    /// default also withdraws them.
    default_names: Vec<String>,
    /// Exact names and wildcard patterns ("*.example.com") in one map: a
    /// pattern cannot collide with a name because names never contain '*'.
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the default certificate (served when the client sends no SNI or
    /// a name nobody serves) and the names it serves (may be empty). Names
    /// the previous default was given are withdrawn unless a later
    /// [`add`](Self::add) took them over. Names that are not valid patterns
    /// are skipped: the C surface has already rejected them through
    /// [`split_host_list`], and the default is still worth installing.
    pub fn set_default(&self, names: &[String], key: Arc<CertifiedKey>) {
        let names: Vec<String> = names
            .iter()
            .filter_map(|name| normalize_pattern(name).ok())
            .collect();
        let mut entries = self.write();
        if let Some(old) = entries.default.take() {
            for name in std::mem::take(&mut entries.default_names) {
                if entries
                    .by_name
                    .get(&name)
                    .is_some_and(|current| Arc::ptr_eq(current, &old))
                {
                    entries.by_name.remove(&name);
                }
            }
        }
        for name in &names {
            entries.by_name.insert(name.clone(), key.clone());
        }
        entries.default_names = names;
        entries.default = Some(key);
    }

    /// Adds a certificate for `names` (each exact like "a.example.com" or
    /// wildcard "*.example.com"). Later additions win over earlier ones for
    /// the same name. Visible to the next handshake at once.
    ///
    /// Errors: [`Code::InvalidArgument`](crate::error::Code::InvalidArgument)
    /// if `names` is empty (the certificate could never be chosen) or a name
    /// is not a valid pattern; nothing is added then.
    pub fn add(&self, names: &[String], key: Arc<CertifiedKey>) -> Result<()> {
        if names.is_empty() {
            return Err(Error::invalid(
                "a host certificate needs at least one host name",
            ));
        }
        let names = names
            .iter()
            .map(|name| normalize_pattern(name))
            .collect::<Result<Vec<_>>>()?;
        let mut entries = self.write();
        for name in names {
            entries.by_name.insert(name, key.clone());
        }
        Ok(())
    }

    /// Stops serving `names` (exact names or wildcard patterns added for
    /// SNI, and the default certificate's own names); returns how many
    /// were there. The default certificate keeps serving unknown names.
    pub fn remove(&self, names: &[String]) -> Result<usize> {
        let names = names
            .iter()
            .map(|name| normalize_pattern(name))
            .collect::<Result<Vec<_>>>()?;
        let mut entries = self.write();
        let mut removed = 0;
        for name in &names {
            if entries.by_name.remove(name).is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The certificate for `server_name` (None = no SNI): an exact match
    /// first (ASCII case-insensitive, a trailing dot ignored), then a
    /// wildcard covering exactly the left-most label, then the default.
    pub fn lookup(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let entries = self.read();
        server_name
            .and_then(|name| entries.find(name))
            .or_else(|| entries.default.clone())
    }

    /// Every certificate served (default and by name), each once.
    pub fn all(&self) -> Vec<Arc<CertifiedKey>> {
        let entries = self.read();
        let mut out: Vec<Arc<CertifiedKey>> = Vec::new();
        for key in entries.default.iter().chain(entries.by_name.values()) {
            if !out.iter().any(|k| Arc::ptr_eq(k, key)) {
                out.push(key.clone());
            }
        }
        out
    }

    pub fn has_default(&self) -> bool {
        self.read().default.is_some()
    }

    pub fn is_empty(&self) -> bool {
        let entries = self.read();
        entries.default.is_none() && entries.by_name.is_empty()
    }

    // Every state the entries pass through is usable (each map entry is a
    // whole certificate), so a lock poisoned by a panic still guards sound
    // data; refusing it would turn one panic into failed handshakes for the
    // rest of the server's life.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Entries {
    fn find(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let name = server_name.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        // A client asking for "*.example.com" literally must not be served
        // by the wildcard entry as if it were an exact match.
        if name.is_empty() || name.contains('*') {
            return None;
        }
        if let Some(key) = self.by_name.get(name) {
            return Some(key.clone());
        }
        let (first, parent) = name.split_once('.')?;
        if first.is_empty() || parent.is_empty() {
            return None;
        }
        self.by_name.get(&format!("*.{parent}")).cloned()
    }
}

/// Splits a host list (the `host` fields), which separates names with '~'
/// ("a.com~b.com"); trims spaces, drops empty entries, lowercases (and drops
/// a trailing dot).
///
/// Errors: [`Code::InvalidArgument`](crate::error::Code::InvalidArgument) on
/// a name with characters outside `[A-Za-z0-9.-*]`, a '*' anywhere but a
/// leading "*." label, an empty label ("a..com") or more than DNS allows
/// (253 characters, 63 per label).
pub fn split_host_list(list: &str) -> Result<Vec<String>> {
    list.split('~')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(normalize_pattern)
        .collect()
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Checks an exact name or wildcard pattern and brings it to the form the
/// store keys on: ASCII lowercase without a trailing dot.
fn normalize_pattern(name: &str) -> Result<String> {
    let invalid = |why: &str| Error::invalid(format!("invalid host name {name:?}: {why}"));
    let lower = name.to_ascii_lowercase();
    let body = lower.strip_suffix('.').unwrap_or(&lower);
    if body.is_empty() {
        return Err(invalid("it is empty"));
    }
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*')))
    {
        return Err(invalid(&format!(
            "{bad:?} is not allowed (only letters, digits, '.', '-' and a leading \"*.\")"
        )));
    }
    let after_wildcard = body.strip_prefix("*.").unwrap_or(body);
    if after_wildcard.contains('*') {
        return Err(invalid(
            "'*' is only allowed as the whole left-most label (\"*.example.com\")",
        ));
    }
    if body.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 253 characters"));
    }
    for label in after_wildcard.split('.') {
        if label.is_empty() {
            return Err(invalid("it has an empty label"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(invalid("a label is longer than 63 characters"));
        }
    }
    Ok(body.to_owned())
}

/// rustls glue: an `Arc<CertStore>` as a [`ResolvesServerCert`]. When it
/// finds nothing, rustls fails the handshake with
/// `rustls::Error::General("no server certificate chain resolved")` and
/// sends the client an `access_denied` alert.
#[derive(Debug)]
pub struct SniResolver(pub Arc<CertStore>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        super::hello::note_server_name(hello.server_name());
        self.0.lookup(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    use crate::tls::test_support::{
        client_builder, client_config, connect, roots_of, self_signed, server_config, Failure,
        TestCert,
    };

    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    fn same(found: Option<Arc<CertifiedKey>>, expected: &TestCert) -> bool {
        found.is_some_and(|key| Arc::ptr_eq(&key, &expected.key))
    }

    #[test]
    fn exact_names_match_ignoring_case_and_a_trailing_dot() {
        let a = self_signed(&["a.example.com"]);
        let store = CertStore::new();
        store
            .add(&names(&["A.Example.com"]), a.key.clone())
            .unwrap();
        assert!(same(store.lookup(Some("a.example.com")), &a));
        assert!(same(store.lookup(Some("A.EXAMPLE.COM")), &a));
        assert!(same(store.lookup(Some("a.example.com.")), &a));
        assert!(store.lookup(Some("b.example.com")).is_none());
        assert!(store.lookup(Some("example.com")).is_none());
    }

    #[test]
    fn a_wildcard_covers_exactly_one_left_most_label() {
        let wild = self_signed(&["*.example.com"]);
        let store = CertStore::new();
        store
            .add(&names(&["*.example.com"]), wild.key.clone())
            .unwrap();
        assert!(same(store.lookup(Some("a.example.com")), &wild));
        assert!(same(store.lookup(Some("B.Example.Com.")), &wild));
        assert!(store.lookup(Some("example.com")).is_none());
        assert!(store.lookup(Some("a.b.example.com")).is_none());
        assert!(store.lookup(Some(".example.com")).is_none());
        assert!(store.lookup(Some("*.example.com")).is_none());
    }

    #[test]
    fn an_exact_name_wins_over_a_wildcard() {
        let wild = self_signed(&["*.example.com"]);
        let exact = self_signed(&["a.example.com"]);
        let store = CertStore::new();
        store
            .add(&names(&["a.example.com"]), exact.key.clone())
            .unwrap();
        store
            .add(&names(&["*.example.com"]), wild.key.clone())
            .unwrap();
        assert!(same(store.lookup(Some("a.example.com")), &exact));
        assert!(same(store.lookup(Some("b.example.com")), &wild));
    }

    #[test]
    fn the_default_serves_no_sni_and_unknown_names() {
        let default = self_signed(&["default.example.com"]);
        let a = self_signed(&["a.example.com"]);
        let store = CertStore::new();
        assert!(store.is_empty());
        assert!(!store.has_default());
        assert!(store.lookup(None).is_none());

        store
            .add(&names(&["a.example.com"]), a.key.clone())
            .unwrap();
        assert!(!store.is_empty());
        assert!(!store.has_default());
        assert!(store.lookup(None).is_none());
        assert!(store.lookup(Some("unknown.example.com")).is_none());

        store.set_default(&[], default.key.clone());
        assert!(store.has_default());
        assert!(same(store.lookup(None), &default));
        assert!(same(store.lookup(Some("unknown.example.com")), &default));
        assert!(same(store.lookup(Some("")), &default));
        assert!(same(store.lookup(Some("a.example.com")), &a));
    }

    #[test]
    fn the_default_serves_its_own_names_until_replaced() {
        let first = self_signed(&["first.example.com"]);
        let second = self_signed(&["second.example.com"]);
        let other = self_signed(&["other.example.com"]);
        let store = CertStore::new();
        store.set_default(&names(&["first.example.com"]), first.key.clone());
        assert!(same(store.lookup(Some("first.example.com")), &first));

        store.set_default(&names(&["second.example.com"]), second.key.clone());
        assert!(same(store.lookup(Some("second.example.com")), &second));
        // The old default's name falls through to the new default.
        assert!(same(store.lookup(Some("first.example.com")), &second));
        assert!(!store.read().by_name.contains_key("first.example.com"));

        // A name taken over by add stays with its new owner when the
        // default that once served it is replaced.
        store
            .add(&names(&["second.example.com"]), other.key.clone())
            .unwrap();
        store.set_default(&[], first.key.clone());
        assert!(same(store.lookup(Some("second.example.com")), &other));
    }

    #[test]
    fn a_later_add_wins_for_the_same_name() {
        let old = self_signed(&["a.example.com"]);
        let new = self_signed(&["a.example.com"]);
        let store = CertStore::new();
        store
            .add(&names(&["a.example.com", "*.example.com"]), old.key.clone())
            .unwrap();
        store
            .add(&names(&["a.example.com"]), new.key.clone())
            .unwrap();
        assert!(same(store.lookup(Some("a.example.com")), &new));
        assert!(same(store.lookup(Some("b.example.com")), &old));
    }

    #[test]
    fn add_rejects_bad_names_without_adding_any() {
        let a = self_signed(&["a.example.com"]);
        let store = CertStore::new();
        let err = store
            .add(&names(&["a.example.com", "b*.example.com"]), a.key.clone())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("b*.example.com"), "{err}");
        assert!(store.is_empty());
        assert_eq!(
            store.add(&[], a.key.clone()).unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    /// Handshakes on other threads look names up while the store changes:
    /// each lookup sees a change whole or not at all, so a name served all
    /// along is never missing, and a default's name always has one of the
    /// defaults it was given.
    #[test]
    fn lookups_during_changes_see_each_change_whole() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let served = self_signed(&["a.example.com"]).key;
        let defaults = [
            self_signed(&["d.example.com"]).key,
            self_signed(&["d.example.com"]).key,
        ];
        let other = self_signed(&["b.example.com"]).key;
        let store = Arc::new(CertStore::new());
        store
            .add(&names(&["a.example.com"]), served.clone())
            .unwrap();
        store.set_default(&names(&["d.example.com"]), defaults[0].clone());
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                let (served, defaults) = (served.clone(), defaults.clone());
                std::thread::spawn(move || {
                    let mut lookups = 0u64;
                    while !stop.load(Ordering::Relaxed) || lookups == 0 {
                        let a = store.lookup(Some("a.example.com"));
                        assert!(a.is_some_and(|key| Arc::ptr_eq(&key, &served)));
                        let d = store.lookup(Some("d.example.com")).unwrap();
                        assert!(defaults.iter().any(|key| Arc::ptr_eq(key, &d)));
                        lookups += 1;
                    }
                    lookups
                })
            })
            .collect();
        for round in 0..2000 {
            store.set_default(&names(&["d.example.com"]), defaults[round % 2].clone());
            store
                .add(&names(&["b.example.com", "*.example.com"]), other.clone())
                .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    }

    #[test]
    fn host_lists_split_on_tildes() {
        assert_eq!(
            split_host_list("a.com~B.Example.COM").unwrap(),
            names(&["a.com", "b.example.com"])
        );
        assert_eq!(
            split_host_list(" a.com ~~ ~*.b.com~c.com.~").unwrap(),
            names(&["a.com", "*.b.com", "c.com"])
        );
        assert_eq!(split_host_list("").unwrap(), Vec::<String>::new());
        assert_eq!(split_host_list(" ~ ").unwrap(), Vec::<String>::new());
        assert_eq!(split_host_list("localhost").unwrap(), names(&["localhost"]));
        assert_eq!(
            split_host_list("xn--bcher-kva.example~a-b.c0m").unwrap(),
            names(&["xn--bcher-kva.example", "a-b.c0m"])
        );
    }

    #[test]
    fn host_lists_reject_bad_names() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for bad in [
            "a com",
            "a.com~b_c.com",
            "a.com,b.com",
            "bücher.example",
            "a*.com",
            "*a.com",
            "a.*.com",
            "*.*.com",
            "*",
            "*.",
            "**.com",
            "a..com",
            ".a.com",
            ".",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            let err = split_host_list(bad).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
        }
        let max_label = format!("{}.com", "a".repeat(63));
        assert!(split_host_list(&max_label).is_ok());
        let max_name = format!("{}com", "abcdefghi.".repeat(25));
        assert_eq!(max_name.len(), 253);
        assert!(split_host_list(&max_name).is_ok());
    }

    // In-memory handshakes (see `test_support`).

    fn sni_server(store: &Arc<CertStore>) -> Arc<ServerConfig> {
        server_config(Arc::new(SniResolver(store.clone())))
    }

    fn trusting(trusted: &[&TestCert]) -> Arc<ClientConfig> {
        let roots: Vec<&CertificateDer<'static>> = trusted.iter().map(|cert| &cert.der).collect();
        client_config(client_builder().with_root_certificates(roots_of(&roots)))
    }

    fn sni_connect(
        client_config: &Arc<ClientConfig>,
        server_config: &Arc<ServerConfig>,
        name: &str,
    ) -> (
        ClientConnection,
        ServerConnection,
        std::result::Result<(), Box<Failure>>,
    ) {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        connect(client_config, server_config, name)
    }

    fn peer_leaf(client: &ClientConnection) -> CertificateDer<'static> {
        client.peer_certificates().unwrap()[0].clone().into_owned()
    }

    #[test]
    fn handshakes_get_the_certificate_for_their_sni_name() {
        let a = self_signed(&["a.example.com"]);
        let b = self_signed(&["b.example.com"]);
        let store = Arc::new(CertStore::new());
        store.set_default(&names(&["a.example.com"]), a.key.clone());
        let server_config = sni_server(&store);
        let client_config = trusting(&[&a, &b]);

        // Added after the ServerConfig exists: the next handshake sees it.
        store
            .add(&names(&["b.example.com"]), b.key.clone())
            .unwrap();

        let (client, server, result) = sni_connect(&client_config, &server_config, "b.example.com");
        result.unwrap();
        assert_eq!(server.server_name(), Some("b.example.com"));
        assert_eq!(peer_leaf(&client), b.der);

        let (client, server, result) = sni_connect(&client_config, &server_config, "A.Example.Com");
        result.unwrap();
        assert_eq!(server.server_name(), Some("a.example.com"));
        assert_eq!(peer_leaf(&client), a.der);
    }

    #[test]
    fn a_handshake_without_sni_gets_the_default() {
        let a = self_signed(&["a.example.com"]);
        let b = self_signed(&["b.example.com"]);
        let store = Arc::new(CertStore::new());
        store
            .add(&names(&["b.example.com"]), b.key.clone())
            .unwrap();
        store.set_default(&[], a.key.clone());
        let server_config = sni_server(&store);
        let mut client_config = (*trusting(&[&a, &b])).clone();
        client_config.enable_sni = false;

        let (client, server, result) =
            sni_connect(&Arc::new(client_config), &server_config, "a.example.com");
        result.unwrap();
        assert_eq!(server.server_name(), None);
        assert_eq!(peer_leaf(&client), a.der);
    }

    #[test]
    fn an_unknown_name_without_a_default_fails_on_the_server() {
        let a = self_signed(&["a.example.com"]);
        let store = Arc::new(CertStore::new());
        store
            .add(&names(&["a.example.com"]), a.key.clone())
            .unwrap();
        let server_config = sni_server(&store);
        let client_config = trusting(&[&a]);

        let (client, server, result) = sni_connect(&client_config, &server_config, "c.example.com");
        let failure = result.unwrap_err();
        match &failure.server {
            Some(rustls::Error::General(text)) => {
                assert_eq!(text, "no server certificate chain resolved")
            }
            other => panic!("unexpected server error {other:?}"),
        }
        assert!(
            matches!(
                failure.client,
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::AccessDenied
                ))
            ),
            "{failure:?}"
        );
        // The name the client asked for survives the failure, for the
        // error report.
        assert_eq!(server.server_name(), Some("c.example.com"));
        assert!(client.peer_certificates().is_none());
    }
}
