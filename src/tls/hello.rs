//! The host's look at each ClientHello on a TLS listener, before a
//! certificate is chosen: it may add a certificate for a name it did not
//! serve yet (on demand, ACME-style, through `sack_tcp_add_cert`) or turn
//! the client away.
//!
//! rustls asks for the certificate from inside the handshake, with no way
//! to say which connection it is for or to return an error. So a rejection
//! is noted for the current thread and read back by the same thread when
//! that handshake's error is reported (`take_rejection`), right after
//! rustls returns it: the resolver and the error report run in one call
//! of the connection's driver.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::sni::CertStore;
use super::{HostCallback, HostRef};

/// What the host is shown of a ClientHello.
#[derive(Debug)]
pub struct Hello<'a> {
    /// The SNI name, if the client sent one.
    pub server_name: Option<&'a str>,
    /// The ALPN protocols the client offers, in its order.
    pub alpn: Vec<&'a [u8]>,
}

/// A host's decision on a ClientHello: true to go on (with whatever
/// certificates are served once it returns), false to fail the handshake.
pub trait HelloHook: HostCallback {
    fn accepts(&self, hello: &Hello<'_>) -> bool;
}

pub type HelloHookRef = HostRef<dyn HelloHook>;

thread_local! {
    static REJECTED: Cell<bool> = const { Cell::new(false) };
    static SERVER_NAME: RefCell<Option<Box<str>>> = const { RefCell::new(None) };
}

/// Notes the SNI name of the ClientHello being resolved on this thread:
/// rustls' unbuffered server session has no accessor for it, and the
/// engine driving that session reads it back (`take_server_name`) as soon
/// as rustls returns, in the same call.
pub fn note_server_name(name: Option<&str>) {
    SERVER_NAME.with(|n| *n.borrow_mut() = name.map(Box::from));
}

/// The name noted since the last call; reading clears it.
pub fn take_server_name() -> Option<Box<str>> {
    SERVER_NAME.with(|n| n.borrow_mut().take())
}

/// Whether the last ClientHello looked at on this thread was turned away
/// by the host; reading clears it.
pub fn take_rejection() -> bool {
    REJECTED.with(|r| r.replace(false))
}

/// The certificate store behind a listener, asked after the host's hook.
#[derive(Debug)]
pub struct HookedResolver {
    pub store: Arc<CertStore>,
    pub hook: HelloHookRef,
}

impl ResolvesServerCert for HookedResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        note_server_name(hello.server_name());
        let view = Hello {
            server_name: hello.server_name(),
            alpn: hello.alpn().map(|list| list.collect()).unwrap_or_default(),
        };
        let accepted = self.hook.0.accepts(&view);
        REJECTED.with(|r| r.set(!accepted));
        if !accepted {
            return None;
        }
        self.store.lookup(view.server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use rustls::pki_types::ServerName;
    use rustls::ServerConfig;

    use crate::tls::test_support::{client_builder, connect, provider, roots_of, self_signed};

    /// The SNI name and ALPN list of one ClientHello.
    type Seen = (Option<String>, Vec<Vec<u8>>);

    /// Adds `on_demand` to the store when asked for its name; turns away
    /// "evil.example.com"; records what it saw.
    struct OnDemand {
        store: Arc<CertStore>,
        on_demand: Arc<CertifiedKey>,
        seen: Mutex<Vec<Seen>>,
    }

    impl HelloHook for OnDemand {
        fn accepts(&self, hello: &Hello<'_>) -> bool {
            self.seen.lock().unwrap().push((
                hello.server_name.map(str::to_owned),
                hello.alpn.iter().map(|p| p.to_vec()).collect(),
            ));
            match hello.server_name {
                Some("evil.example.com") => false,
                Some("new.example.com") => {
                    let names = ["new.example.com".to_owned()];
                    self.store.add(&names, self.on_demand.clone()).unwrap();
                    true
                }
                _ => true,
            }
        }
    }

    impl HostCallback for OnDemand {
        fn identity(&self) -> Vec<u8> {
            Vec::new()
        }
    }

    #[test]
    fn the_hook_can_add_a_certificate_on_demand_or_reject() {
        let on_demand = self_signed(&["new.example.com"]);
        let evil = self_signed(&["evil.example.com"]);
        let store = Arc::new(CertStore::new());
        store
            .add(&["evil.example.com".to_owned()], evil.key.clone())
            .unwrap();
        let hook = Arc::new(OnDemand {
            store: store.clone(),
            on_demand: on_demand.key.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let server = Arc::new(
            ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(HookedResolver {
                    store: store.clone(),
                    hook: HostRef(hook.clone()),
                })),
        );
        let roots = roots_of(&[&on_demand.der, &evil.der]);
        let mut client = client_builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = Arc::new(client);

        let name = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
        assert!(!take_rejection());
        let (_, _, result) = connect(&client, &server, name("new.example.com"));
        result.unwrap();
        assert!(!take_rejection());
        let (_, _, result) = connect(&client, &server, name("evil.example.com"));
        assert!(result.unwrap_err().server_first);
        assert!(take_rejection());
        assert!(!take_rejection(), "reading clears it");
        assert_eq!(
            hook.seen.lock().unwrap().as_slice(),
            [
                (
                    Some("new.example.com".to_owned()),
                    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
                ),
                (
                    Some("evil.example.com".to_owned()),
                    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
                ),
            ]
        );
    }
}
