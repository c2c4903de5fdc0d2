//! Turns TLS options into rustls configurations: one `ServerTls` per TLS
//! listener (shared by its connections, with a certificate store that
//! `add_cert` changes live) and one `ClientTls` per client, whose
//! `ClientConfig` clients with the same settings share (`client_cache`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::{ClientConfig, ServerConfig};

use super::engine::Engine;
use super::hello::HookedResolver;
use super::sni::{split_host_list, CertStore, SniResolver};
use super::verify::{self, Trust};
use super::{certs, keys, peer_check};
use crate::address::{Host, ParsedAddress};
use crate::error::{Code, Error, Result};
use crate::options::{ClientAuth, TlsOptions};

/// Only TLS 1.3 and 1.2 are offered, with rustls' default suites.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Key-exchange groups in order of preference, on both sides: the hybrid
/// post-quantum X25519MLKEM768 first (as rustls' own defaults, Chrome,
/// Cloudflare and OpenSSL 3.5 do), then X25519 and the NIST curves for
/// peers without it (OpenSSL 3.0, for one). A client offers key shares for
/// X25519MLKEM768 and X25519 at once, so such peers need no retry.
static KX_GROUPS: &[&dyn rustls::crypto::SupportedKxGroup] = &[
    kx_group::X25519MLKEM768,
    kx_group::X25519,
    kx_group::SECP256R1,
    kx_group::SECP384R1,
];

/// aws-lc-rs with our group order, built once per process.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                kx_groups: KX_GROUPS.to_vec(),
                ..rustls::crypto::aws_lc_rs::default_provider()
            })
        })
        .clone()
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// The versions `tls_min_version`..`tls_max_version` allow.
fn versions(o: &TlsOptions) -> Result<&'static [&'static rustls::SupportedProtocolVersion]> {
    const V12: u16 = 0x0303;
    const V13: u16 = 0x0304;
    let min = o.min_version.unwrap_or(V12);
    let max = o.max_version.unwrap_or(V13);
    match (min, max) {
        (V12, V13) => Ok(VERSIONS),
        (V13, V13) => Ok(TLS13_ONLY),
        (V12, V12) => Ok(TLS12_ONLY),
        _ => Err(Error::invalid(format!(
            "tls_min_version 0x{min:04x} is newer than tls_max_version 0x{max:04x}"
        ))),
    }
}

/// The comma-separated `names` picked from `all` (matched by `name_of`,
/// case ignored), in the order given.
fn pick<T: Copy>(
    names: &str,
    what: &str,
    all: &[T],
    name_of: impl Fn(T) -> String,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let found = all
            .iter()
            .copied()
            .find(|&item| name_of(item).eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<String> = all.iter().map(|&i| name_of(i)).collect();
                Error::invalid(format!(
                    "unknown {what} \"{name}\"; known: {}",
                    known.join(", ")
                ))
            })?;
        out.push(found);
    }
    if out.is_empty() {
        return Err(Error::invalid(format!("the {what} list names none")));
    }
    Ok(out)
}

/// `provider()`, narrowed to `tls_groups` and `tls_cipher_suites`.
fn provider_for(o: &TlsOptions) -> Result<Arc<CryptoProvider>> {
    if o.groups.is_none() && o.cipher_suites.is_none() {
        return Ok(provider());
    }
    let base = provider();
    let mut custom = (*base).clone();
    if let Some(names) = &o.groups {
        custom.kx_groups = pick(names, "key-exchange group", &base.kx_groups, |g| {
            g.name().as_str().unwrap_or_default().to_owned()
        })?;
    }
    if let Some(names) = &o.cipher_suites {
        custom.cipher_suites = pick(names, "cipher suite", &base.cipher_suites, |s| {
            super::info::suite_name(s.suite())
        })?;
    }
    Ok(Arc::new(custom))
}

fn tls_error(context: &str, e: rustls::Error) -> Error {
    Error::new(Code::InvalidArgument, format!("{context}: {e}"))
}

/// What a TLS listener shares with the connections it accepts.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    store: Arc<CertStore>,
    allow_fallback: AtomicBool,
    pub starttls: bool,
    pub handshake_timeout: Duration,
    /// `tls_expiry_warning_days`.
    pub warning_days: u32,
}

impl ServerTls {
    pub fn build(o: &TlsOptions) -> Result<Arc<ServerTls>> {
        let store = Arc::new(CertStore::new());
        if let (Some(cert), Some(key)) = (&o.cert, &o.key) {
            let names = match &o.host {
                Some(list) => split_host_list(list)?,
                None => Vec::new(),
            };
            let certified = certs::load_certified_key(
                cert.as_bytes(),
                key.as_bytes(),
                o.passphrase.as_deref().map(str::as_bytes),
            )?;
            store.set_default(&names, certified);
        }
        for (i, entry) in o.hosts.iter().enumerate() {
            let names = split_host_list(&entry.hosts)?;
            if names.is_empty() {
                return Err(Error::invalid(format!("hosts[{i}].host names no host")));
            }
            let certified = certs::load_certified_key(
                entry.cert.as_bytes(),
                entry.key.as_bytes(),
                entry.passphrase.as_deref().map(str::as_bytes),
            )
            .map_err(|e| Error::new(e.code(), format!("hosts[{i}]: {}", e.message())))?;
            store.add(&names, certified)?;
        }
        let builder = ServerConfig::builder_with_provider(provider_for(o)?)
            .with_protocol_versions(versions(o)?)
            .map_err(|e| tls_error("TLS versions", e))?;
        let builder = match o.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            mode => {
                let ca = o.ca.as_deref().ok_or_else(|| {
                    Error::invalid("client_auth needs `ca` to verify client certificates")
                })?;
                let roots = Arc::new(certs::load_root_store(ca.as_bytes())?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
                let verifier = if mode == ClientAuth::Request {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = match &o.crl {
                    Some(crl) => verifier
                        .with_crls(certs::load_crls(crl.as_bytes())?)
                        .only_check_end_entity_revocation()
                        .allow_unknown_revocation_status(),
                    None => verifier,
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| Error::invalid(format!("client certificate verifier: {e}")))?;
                builder.with_client_cert_verifier(peer_check::checked_client_verifier(
                    verifier,
                    o.peer_check.as_ref(),
                ))
            }
        };
        let resolver: Arc<dyn ResolvesServerCert> = match &o.hello_hook {
            Some(hook) => Arc::new(HookedResolver {
                store: store.clone(),
                hook: hook.clone(),
            }),
            None => Arc::new(SniResolver(store.clone())),
        };
        let mut config = builder.with_cert_resolver(resolver);
        config.alpn_protocols = o.alpn.clone();
        config.key_log = super::key_log::logger();
        if o.no_resumption {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(Arc::new(ServerTls {
            config: Arc::new(config),
            store,
            allow_fallback: AtomicBool::new(o.allow_fallback),
            starttls: o.starttls,
            handshake_timeout: o.handshake_timeout,
            warning_days: o.expiry_warning_days,
        }))
        .inspect(|tls| {
            tls.check_expiry();
        })
    }

    /// Warns of each served certificate close to its expiry.
    fn check_expiry(&self) {
        for key in self.store.all() {
            if let Some(leaf) = key.cert.first() {
                super::expiry::check(leaf, "server certificate", self.warning_days);
            }
        }
    }

    /// The earliest notAfter of the certificates served (None without).
    pub fn earliest_expiry(&self) -> Option<i64> {
        self.store
            .all()
            .iter()
            .filter_map(|key| key.cert.first())
            .filter_map(|leaf| super::info::CertSummary::parse(leaf).ok())
            .map(|summary| summary.not_after)
            .min()
    }

    /// `addCert`: serves `cert` for `hosts` from the next handshake on.
    pub fn add_cert(
        &self,
        hosts: &str,
        cert: &str,
        key: &str,
        passphrase: Option<&str>,
    ) -> Result<()> {
        let names = split_host_list(hosts)?;
        if names.is_empty() {
            return Err(Error::invalid("addCert needs at least one host name"));
        }
        let certified = certs::load_certified_key(
            cert.as_bytes(),
            key.as_bytes(),
            passphrase.map(str::as_bytes),
        )?;
        if let Some(leaf) = certified.cert.first() {
            super::expiry::check(leaf, "server certificate", self.warning_days);
        }
        self.store.add(&names, certified)
    }

    /// Stops serving `names` for SNI (see `CertStore::remove`).
    pub fn remove_names(&self, names: &[String]) -> Result<usize> {
        self.store.remove(names)
    }

    /// Whether a client asking for `name` gets a certificate (its own or
    /// the default).
    pub fn serves(&self, name: &str) -> bool {
        self.store.lookup(Some(name)).is_some()
    }

    pub fn allow_fallback(&self) -> bool {
        self.allow_fallback.load(Ordering::Relaxed)
    }

    pub fn set_allow_fallback(&self, on: bool) {
        self.allow_fallback.store(on, Ordering::Relaxed);
    }

    pub fn new_session(&self) -> Result<Engine> {
        let conn = rustls::server::UnbufferedServerConnection::new(self.config.clone())
            .map_err(|e| tls_error("starting a TLS server session", e))?;
        Ok(Engine::server(conn))
    }
}

/// A client's TLS settings: the verifier and the name to ask for.
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    pub handshake_timeout: Duration,
    /// `tls_expiry_warning_days`.
    pub warning_days: u32,
}

impl ClientTls {
    /// Clients with the same settings share one `ClientConfig`, and so its
    /// session cache (see `client_cache`): a client that reconnects resumes.
    pub fn build(o: &TlsOptions, target: &ParsedAddress) -> Result<Arc<ClientTls>> {
        let server_name = server_name(o.host.as_deref(), target)?;
        let config = super::client_cache::shared(o, || Self::config(o))?;
        Ok(Arc::new(ClientTls {
            config,
            server_name,
            handshake_timeout: o.handshake_timeout,
            warning_days: o.expiry_warning_days,
        }))
    }

    fn config(o: &TlsOptions) -> Result<Arc<ClientConfig>> {
        let verifier = if o.insecure_skip_verify {
            verify::server_verifier(Trust::InsecureSkipVerify)?
        } else if let Some(ca) = &o.ca {
            let roots = certs::load_root_store(ca.as_bytes())?;
            match &o.crl {
                Some(crl) => {
                    verify::server_verifier_with_crls(roots, certs::load_crls(crl.as_bytes())?)?
                }
                None => verify::server_verifier(Trust::CaPem(roots))?,
            }
        } else if o.crl.is_some() {
            return Err(Error::invalid(
                "`crl` needs `ca`: revocation is checked against the roots you give",
            ));
        } else {
            platform_verifier()?
        };
        let builder = ClientConfig::builder_with_provider(provider_for(o)?)
            .with_protocol_versions(versions(o)?)
            .map_err(|e| tls_error("TLS versions", e))?
            .dangerous()
            .with_custom_certificate_verifier(peer_check::checked_server_verifier(
                verifier,
                o.peer_check.as_ref(),
            ));
        let mut config = match (&o.cert, &o.key) {
            (Some(cert), Some(key)) => {
                let chain = certs::load_cert_chain(cert.as_bytes())?;
                if let Some(leaf) = chain.first() {
                    super::expiry::check(leaf, "client certificate", o.expiry_warning_days);
                }
                let key = keys::load_private_key(
                    key.as_bytes(),
                    o.passphrase.as_deref().map(str::as_bytes),
                )?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    Error::new(Code::KeyMismatch, format!("client certificate: {e}"))
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = o.alpn.clone();
        config.key_log = super::key_log::logger();
        if o.no_resumption {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Arc::new(config))
    }
    /// A client session, its ClientHello ready to leave.
    pub fn new_session(&self) -> Result<Engine> {
        rustls::client::UnbufferedClientConnection::new(
            self.config.clone(),
            self.server_name.clone(),
        )
        .and_then(Engine::client)
        .map_err(|e| tls_error("starting a TLS client session", e))
    }
}

/// The system's roots are read once per process, not per client: building
/// the platform verifier parses the whole system store.
fn platform_verifier() -> Result<Arc<dyn ServerCertVerifier>> {
    static PLATFORM: OnceLock<Arc<dyn ServerCertVerifier>> = OnceLock::new();
    if let Some(v) = PLATFORM.get() {
        return Ok(v.clone());
    }
    let v = verify::server_verifier(Trust::Platform)?;
    Ok(PLATFORM.get_or_init(|| v).clone())
}

/// The name a client sends (SNI) and verifies: `host` if given, else the
/// host of `to_address` (an IP literal is verified as an IP address).
fn server_name(host: Option<&str>, target: &ParsedAddress) -> Result<ServerName<'static>> {
    let name = match (host, &target.host) {
        (Some(h), _) => h.trim().to_owned(),
        (None, Some(Host::Ip(ip))) => return Ok(ServerName::IpAddress((*ip).into())),
        (None, Some(Host::Name(n))) => n.trim_end_matches('.').to_owned(),
        // A Unix socket has no host name: give `host` to verify another.
        (None, None | Some(Host::Unix(_))) => "localhost".to_owned(),
    };
    ServerName::try_from(name.clone())
        .map_err(|_| Error::invalid(format!("\"{name}\" is not a valid TLS server name")))
}
