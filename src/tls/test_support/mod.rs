//! What the TLS unit tests share: certificates made with rcgen, rustls
//! configurations, and handshakes run in memory (the two sides pass records
//! through buffers, no sockets). Key files in every format are in
//! [`key_files`].

pub mod key_files;

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::client::{ClientConnectionData, WantsClientCert};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ResolvesServerCert, ServerConnectionData};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, ClientConnection, ConfigBuilder, ConnectionCommon, RootCertStore, ServerConfig,
    ServerConnection, WantsVerifier,
};

// Certificates.

/// A certificate and the key a server presents it with.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub key: Arc<CertifiedKey>,
}

pub fn certified_key(der: &CertificateDer<'static>, key_pair: &KeyPair) -> Arc<CertifiedKey> {
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&private).unwrap();
    Arc::new(CertifiedKey::new(vec![der.clone()], signer))
}

/// An end-entity certificate for `names` (DNS names or IP addresses) with
/// `common_name` as its subject.
pub fn leaf_params(names: &[&str], common_name: &str) -> CertificateParams {
    let mut params = names_params(names);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

fn names_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    CertificateParams::new(names).unwrap()
}

/// A self-signed end-entity certificate for `names`, with rcgen's default
/// subject name.
pub fn self_signed(names: &[&str]) -> TestCert {
    self_sign(names_params(names))
}

pub fn self_sign(params: CertificateParams) -> TestCert {
    let key_pair = KeyPair::generate().unwrap();
    let der = params.self_signed(&key_pair).unwrap().der().clone();
    let key = certified_key(&der, &key_pair);
    TestCert { der, key }
}

/// A root CA named `common_name`.
pub fn new_ca(common_name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

pub fn issue(ca: &CertifiedIssuer<'static, KeyPair>, params: CertificateParams) -> TestCert {
    let key_pair = KeyPair::generate().unwrap();
    let der = params.signed_by(&key_pair, ca).unwrap().der().clone();
    let key = certified_key(&der, &key_pair);
    TestCert { der, key }
}

pub fn roots_of(certs: &[&CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add((*cert).clone()).unwrap();
    }
    roots
}

// Configurations.

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server without client authentication choosing its certificate with
/// `resolver`.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    Arc::new(config)
}

/// A client configuration up to the choice of its verifier.
pub fn client_builder() -> ConfigBuilder<ClientConfig, WantsVerifier> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
}

/// A client without a certificate of its own.
pub fn client_config(builder: ConfigBuilder<ClientConfig, WantsClientCert>) -> Arc<ClientConfig> {
    Arc::new(builder.with_no_client_auth())
}

/// Serves one certificate whatever the client asks for.
#[derive(Debug)]
pub struct Serve(pub Arc<CertifiedKey>);

impl ResolvesServerCert for Serve {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

// Handshakes.

/// A failed handshake: what each side saw, and which one failed first.
#[derive(Debug)]
pub struct Failure {
    pub server_first: bool,
    pub server: Option<rustls::Error>,
    pub client: Option<rustls::Error>,
}

/// Moves what `from` has to send into `to` and lets `to` process it.
/// Returns whether anything moved.
pub fn pump<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<bool, rustls::Error> {
    let mut records = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut records).unwrap();
    }
    let mut pending = &records[..];
    while !pending.is_empty() {
        to.read_tls(&mut pending).unwrap();
        to.process_new_packets()?;
    }
    Ok(!records.is_empty())
}

/// Runs the handshake to its end. When one side fails, its alert is still
/// delivered, so the other side's view is known too.
pub fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(), Box<Failure>> {
    let client: &mut ConnectionCommon<ClientConnectionData> = client;
    let server: &mut ConnectionCommon<ServerConnectionData> = server;
    loop {
        let sent = match pump(client, server) {
            Ok(sent) => sent,
            Err(err) => {
                let client_err = pump(server, client).err();
                return Err(Box::new(Failure {
                    server_first: true,
                    server: Some(err),
                    client: client_err,
                }));
            }
        };
        let answered = match pump(server, client) {
            Ok(answered) => answered,
            Err(err) => {
                let server_err = pump(client, server).err();
                return Err(Box::new(Failure {
                    server_first: false,
                    server: server_err,
                    client: Some(err),
                }));
            }
        };
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        assert!(sent || answered, "handshake stalled");
    }
}

/// A client of `client_config` connecting to `name` and a server of
/// `server_config`, after their handshake.
pub fn connect(
    client_config: &Arc<ClientConfig>,
    server_config: &Arc<ServerConfig>,
    name: ServerName<'static>,
) -> (ClientConnection, ServerConnection, Result<(), Box<Failure>>) {
    let mut client = ClientConnection::new(client_config.clone(), name).unwrap();
    let mut server = ServerConnection::new(server_config.clone()).unwrap();
    let result = handshake(&mut client, &mut server);
    (client, server, result)
}
