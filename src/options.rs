//! Socket options as the core uses them: already converted from the C
//! struct, with defaults applied and checked against the kind of socket
//! they will open.

use std::time::Duration;

use crate::address::{self, Family, ParsedAddress};
use crate::error::{Code, Error, Result};

pub const DEFAULT_READ_BUFFER_SIZE: usize = 4096;
/// Small enough that text mode can always fit one character plus carry.
pub const MIN_READ_BUFFER_SIZE: usize = 16;
pub const MAX_READ_BUFFER_SIZE: usize = 16 << 20;
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 16 << 20;
pub const DEFAULT_BACKLOG: u32 = 4096;
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// RFC 8305's recommended Connection Attempt Delay.
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// The RFC's floor: shorter delays only add load.
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);

/// Whether a TLS server asks connecting clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    /// Ask, and verify one if given, but accept clients without one.
    Request,
    /// Refuse clients without a certificate the `ca` vouches for.
    Require,
}

/// One entry of the `hosts` option (a `sack_tcp_tls_host`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HostCert {
    /// Names served, '~'-separated; `*.example.com` wildcards allowed.
    pub hosts: String,
    pub cert: String,
    pub key: String,
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for HostCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and passphrases never reach logs or panic messages.
        f.debug_struct("HostCert")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

/// The TLS half of the options. What applies depends on the kind of socket:
/// see `Options::plan`.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Client: speak TLS from the start.
    pub ssl: bool,
    /// Server: the default certificate chain. Client: a client certificate.
    pub cert: Option<String>,
    pub key: Option<String>,
    pub passphrase: Option<String>,
    /// Server: the names the default certificate serves ('~'-separated).
    /// Client: the name to send (SNI) and verify instead of `to_address`'s.
    pub host: Option<String>,
    /// Client: the roots that vouch for the server. Server: the roots that
    /// vouch for client certificates.
    pub ca: Option<String>,
    pub hosts: Vec<HostCert>,
    pub allow_fallback: bool,
    /// Server: load certificates but start every connection plain, for a
    /// later upgrade (`sack_tcp_set_ssl`).
    pub starttls: bool,
    pub insecure_skip_verify: bool,
    pub client_auth: ClientAuth,
    pub alpn: Vec<Vec<u8>>,
    pub handshake_timeout: Duration,
    /// IANA numbers (0x0303, 0x0304); `None`: TLS 1.2 / TLS 1.3.
    pub min_version: Option<u16>,
    pub max_version: Option<u16>,
    /// Comma-separated names, in order of preference; `None`: defaults.
    pub groups: Option<String>,
    pub cipher_suites: Option<String>,
    pub no_resumption: bool,
    /// PEM CRLs for the peer's certificate.
    pub crl: Option<String>,
    /// Warn of certificates with fewer days left than this.
    pub expiry_warning_days: u32,
    /// The host's check after verification (pinning); can only reject.
    pub peer_check: Option<crate::tls::peer_check::PeerCheckRef>,
    /// Server: the host's look at each ClientHello before a certificate is
    /// chosen.
    pub hello_hook: Option<crate::tls::hello::HelloHookRef>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ssl: false,
            cert: None,
            key: None,
            passphrase: None,
            host: None,
            ca: None,
            hosts: Vec::new(),
            allow_fallback: false,
            starttls: false,
            insecure_skip_verify: false,
            client_auth: ClientAuth::None,
            alpn: Vec::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            min_version: None,
            max_version: None,
            groups: None,
            cipher_suites: None,
            no_resumption: false,
            crl: None,
            expiry_warning_days: crate::tls::expiry::DEFAULT_WARNING_DAYS,
            peer_check: None,
            hello_hook: None,
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ssl", &self.ssl)
            .field("has_cert", &self.cert.is_some())
            .field("host", &self.host)
            .field("hosts", &self.hosts)
            .field("allow_fallback", &self.allow_fallback)
            .field("starttls", &self.starttls)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl TlsOptions {
    /// A server speaks TLS (or can upgrade to it) when it has certificates.
    pub fn has_server_certs(&self) -> bool {
        self.cert.is_some() || !self.hosts.is_empty()
    }
}

/// Everything `sack_tcp_open` accepts, in Rust terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub port: u16,
    pub address: Option<String>,
    pub family: Family,
    pub to_address: Option<String>,
    pub to_port: Option<u16>,
    pub read_strings: bool,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub no_delay: bool,
    /// Idle time before the first keepalive probe; `None` leaves keepalive off.
    pub keep_alive: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    /// Happy eyeballs: how long a connection attempt runs alone before the
    /// next address is tried alongside it; `None`: RFC 8305's 250 ms.
    pub attempt_delay: Option<Duration>,
    pub read_buffer_size: usize,
    pub send_queue_limit: usize,
    pub send_queue_low_mark: usize,
    /// `None` means the default; a client rejects any explicit value.
    pub backlog: Option<u32>,
    pub close_timeout: Duration,
    /// Close a connection that receives nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Reads pause while more than this many bytes wait to be sent, and
    /// resume at drain; 0 never pauses.
    pub pause_reads_above: usize,
    /// Keep sending after the peer's FIN, until `end` or `close`.
    pub allow_half_open: bool,
    /// Time between keepalive probes (TCP_KEEPINTVL); `None`: the system's.
    pub keep_alive_interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT);
    /// `None`: the system's.
    pub keep_alive_count: Option<u32>,
    /// TCP_USER_TIMEOUT: sent data unacknowledged for this long closes the
    /// connection; `None`: the system's retransmission limits.
    pub user_timeout: Option<Duration>,
    /// A listener refuses connections past this many open ones; 0: no cap.
    pub max_connections: u32,
    /// A listener reads a PROXY protocol header (v1 or v2) first on every
    /// connection.
    pub proxy_protocol: bool,
    /// A Unix listener's socket file gets this mode (0: as the umask
    /// leaves it).
    pub unix_mode: u32,
    pub tls: TlsOptions,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            address: None,
            family: Family::Any,
            to_address: None,
            to_port: None,
            read_strings: false,
            reuse_address: false,
            reuse_port: false,
            no_delay: true,
            keep_alive: None,
            connect_timeout: None,
            attempt_delay: None,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            send_queue_limit: DEFAULT_SEND_QUEUE_LIMIT,
            send_queue_low_mark: 0,
            backlog: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            idle_timeout: None,
            pause_reads_above: 0,
            allow_half_open: false,
            keep_alive_interval: None,
            keep_alive_count: None,
            user_timeout: None,
            max_connections: 0,
            proxy_protocol: false,
            unix_mode: 0,
            tls: TlsOptions::default(),
        }
    }
}

/// Per-connection settings, shared by clients and accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnSettings {
    pub no_delay: bool,
    pub keep_alive: Option<KeepAlive>,
    pub user_timeout: Option<Duration>,
    pub read_buffer_size: usize,
    pub send_queue_limit: usize,
    pub send_queue_low_mark: usize,
    pub close_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    /// 0: reads never pause for the send queue.
    pub pause_reads_above: usize,
    pub allow_half_open: bool,
}

/// TCP keepalive timing: `idle` before the first probe, then `interval`
/// between probes, `count` unanswered probes before the connection is
/// dropped (`None`: the system's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    pub idle: Duration,
    pub interval: Option<Duration>,
    pub count: Option<u32>,
}

impl KeepAlive {
    /// Checks the interval and count: they mean nothing without an idle
    /// time, and the kernel takes whole seconds up to 32767 and at most
    /// 127 probes.
    pub fn new(
        idle: Option<Duration>,
        interval: Option<Duration>,
        count: Option<u32>,
    ) -> Result<Option<KeepAlive>> {
        let Some(idle) = idle else {
            if interval.is_some() || count.is_some() {
                return Err(Error::invalid(
                    "`keep_alive_interval_ms` and `keep_alive_count` need `keep_alive_ms` \
                     (keepalive is off without an idle time)",
                ));
            }
            return Ok(None);
        };
        for (name, value) in [
            ("keep_alive_ms", Some(idle)),
            ("keep_alive_interval_ms", interval),
        ] {
            if value.is_some_and(|v| v > MAX_KEEP_ALIVE_TIME) {
                return Err(Error::invalid(format!(
                    "`{name}` is over {} ms, the most the kernel takes",
                    MAX_KEEP_ALIVE_TIME.as_millis()
                )));
            }
        }
        if count.is_some_and(|c| c > MAX_KEEP_ALIVE_COUNT) {
            return Err(Error::invalid(format!(
                "`keep_alive_count` is over {MAX_KEEP_ALIVE_COUNT}, the most the kernel takes"
            )));
        }
        Ok(Some(KeepAlive {
            idle,
            interval,
            count,
        }))
    }
}

/// TCP_USER_TIMEOUT exists on Linux and Android only.
pub fn check_user_timeout(timeout: Option<Duration>) -> Result<Option<Duration>> {
    if cfg!(not(any(target_os = "linux", target_os = "android"))) && timeout.is_some() {
        return Err(Error::new(
            Code::NotApplicable,
            "TCP_USER_TIMEOUT (`user_timeout_ms`) exists on Linux and Android only",
        ));
    }
    if timeout.is_some_and(|t| t.as_millis() > u128::from(u32::MAX)) {
        return Err(Error::invalid("the user timeout is over 2^32 - 1 ms"));
    }
    Ok(timeout)
}

/// Linux's limits for TCP_KEEPIDLE/TCP_KEEPINTVL (seconds) and TCP_KEEPCNT.
pub const MAX_KEEP_ALIVE_TIME: Duration = Duration::from_secs(32767);
pub const MAX_KEEP_ALIVE_COUNT: u32 = 127;

/// A listening socket's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPlan {
    pub bind: Option<ParsedAddress>,
    pub port: u16,
    pub family: Family,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub backlog: u32,
    /// Connections past this many open ones are refused (0: no cap).
    pub max_connections: u32,
    /// With the PROXY protocol on: how long a connection's header may take.
    pub proxy_timeout: Option<Duration>,
    /// The mode of a Unix listener's socket file (0: the umask's).
    pub unix_mode: u32,
    pub conn: ConnSettings,
    /// Present when the server has certificates.
    pub tls: Option<TlsOptions>,
}

/// A client's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    pub target: ParsedAddress,
    pub to_port: Option<u16>,
    pub bind: Option<ParsedAddress>,
    pub bind_port: u16,
    pub family: Family,
    pub reuse_address: bool,
    pub reuse_port: bool,
    pub connect_timeout: Option<Duration>,
    /// Happy eyeballs' delay between attempts (see `socket::eyeballs`).
    pub attempt_delay: Duration,
    pub conn: ConnSettings,
    /// Always present: a plain client may still upgrade (STARTTLS).
    pub tls: TlsOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Server(ServerPlan),
    Client(ClientPlan),
}

/// A client's target and local address are both Unix or both IP.
fn check_unix_client(
    target: &ParsedAddress,
    bind: Option<&ParsedAddress>,
    to_port: Option<u16>,
) -> Result<()> {
    let bind_unix = bind.map(|b| b.unix().is_some());
    match (target.unix().is_some(), bind_unix) {
        (true, _) if to_port.is_some() => Err(not_applicable("to_port", "Unix domain socket")),
        (true, Some(false)) | (false, Some(true)) => Err(Error::new(
            Code::BadAddress,
            "`address` and `to_address` must both be Unix (\"unix:...\") or both IP addresses",
        )),
        _ => Ok(()),
    }
}

fn not_applicable(option: &str, kind: &str) -> Error {
    Error::new(
        Code::NotApplicable,
        format!("option `{option}` does not apply to a {kind}"),
    )
}

impl Options {
    /// Checks the options and decides what to open: `to_address` makes a
    /// client, its absence a server. Address strings are parsed here so a
    /// typo is reported by the open call itself.
    pub fn plan(&self) -> Result<Plan> {
        if !(MIN_READ_BUFFER_SIZE..=MAX_READ_BUFFER_SIZE).contains(&self.read_buffer_size) {
            return Err(Error::invalid(format!(
                "`read_buffer_size` {} is outside {MIN_READ_BUFFER_SIZE}..={MAX_READ_BUFFER_SIZE}",
                self.read_buffer_size
            )));
        }
        if self.send_queue_limit == 0 {
            return Err(Error::invalid("`send_queue_limit` must be at least 1 byte"));
        }
        if self.send_queue_low_mark >= self.send_queue_limit {
            return Err(Error::invalid(format!(
                "`send_queue_low_mark` {} must be below `send_queue_limit` {}",
                self.send_queue_low_mark, self.send_queue_limit
            )));
        }
        if self.pause_reads_above != 0
            && !(self.send_queue_low_mark..self.send_queue_limit).contains(&self.pause_reads_above)
        {
            return Err(Error::invalid(format!(
                "pause_reads_above {} must lie between send_queue_low_mark {} and \
                 send_queue_limit {} (0 turns it off)",
                self.pause_reads_above, self.send_queue_low_mark, self.send_queue_limit
            )));
        }
        let conn = ConnSettings {
            no_delay: self.no_delay,
            keep_alive: KeepAlive::new(
                self.keep_alive,
                self.keep_alive_interval,
                self.keep_alive_count,
            )?,
            user_timeout: check_user_timeout(self.user_timeout)?,
            read_buffer_size: self.read_buffer_size,
            send_queue_limit: self.send_queue_limit,
            send_queue_low_mark: self.send_queue_low_mark,
            close_timeout: self.close_timeout,
            idle_timeout: self.idle_timeout,
            pause_reads_above: self.pause_reads_above,
            allow_half_open: self.allow_half_open,
        };
        let bind = self.address.as_deref().map(address::parse).transpose()?;
        self.check_unix(bind.as_ref())?;
        match &self.to_address {
            None => {
                if self.to_port.is_some() {
                    return Err(not_applicable("to_port", "server (no `to_address` given)"));
                }
                if self.connect_timeout.is_some() {
                    return Err(not_applicable("connect_timeout_ms", "server"));
                }
                if self.attempt_delay.is_some() {
                    return Err(not_applicable("happy_eyeballs_delay_ms", "server"));
                }
                let tls = self.server_tls()?;
                Ok(Plan::Server(ServerPlan {
                    bind,
                    port: self.port,
                    family: self.family,
                    reuse_address: self.reuse_address,
                    reuse_port: self.reuse_port,
                    backlog: self.backlog.unwrap_or(DEFAULT_BACKLOG),
                    max_connections: self.max_connections,
                    proxy_timeout: self.proxy_protocol.then_some(self.tls.handshake_timeout),
                    unix_mode: self.unix_mode,
                    conn,
                    tls,
                }))
            }
            Some(to) => {
                if self.backlog.is_some() {
                    return Err(not_applicable("backlog", "client"));
                }
                if self.max_connections != 0 {
                    return Err(not_applicable("max_connections", "client"));
                }
                if self.proxy_protocol {
                    return Err(not_applicable("proxy_protocol", "client"));
                }
                self.check_client_tls()?;
                let target = address::parse(to)?;
                check_unix_client(&target, bind.as_ref(), self.to_port)?;
                if target.port.is_none() && self.to_port.is_none() && target.unix().is_none() {
                    return Err(Error::new(
                        Code::BadAddress,
                        format!("`to_address` \"{to}\" has no port and `to_port` is not set"),
                    ));
                }
                Ok(Plan::Client(ClientPlan {
                    target,
                    to_port: self.to_port,
                    bind,
                    bind_port: self.port,
                    family: self.family,
                    reuse_address: self.reuse_address,
                    reuse_port: self.reuse_port,
                    connect_timeout: self.connect_timeout,
                    attempt_delay: self
                        .attempt_delay
                        .unwrap_or(DEFAULT_ATTEMPT_DELAY)
                        .max(MIN_ATTEMPT_DELAY),
                    conn,
                    tls: self.tls.clone(),
                }))
            }
        }
    }
}

impl Options {
    /// What a Unix address rules out: a port, an IP family, and
    /// `unix_mode` anywhere but on a listener's socket file. (The TCP
    /// options, no_delay and keepalive among them, are ignored.)
    fn check_unix(&self, bind: Option<&ParsedAddress>) -> Result<()> {
        let bind_unix = bind.and_then(ParsedAddress::unix);
        let to_unix = match &self.to_address {
            Some(to) => address::parse(to)?.unix().is_some(),
            None => false,
        };
        if bind_unix.is_some() || to_unix {
            if self.port != 0 {
                return Err(not_applicable("port", "Unix domain socket"));
            }
            if self.family != Family::Any {
                return Err(not_applicable("family", "Unix domain socket"));
            }
        }
        if self.unix_mode == 0 {
            return Ok(());
        }
        if self.unix_mode > 0o7777 {
            return Err(Error::invalid(format!(
                "`unix_mode` {:#o} is not a file mode (at most 0o7777)",
                self.unix_mode
            )));
        }
        match (bind_unix, &self.to_address) {
            (Some(addr), None) if addr.path().is_some() => Ok(()),
            (Some(_), None) => Err(not_applicable(
                "unix_mode",
                "listener on an abstract name (it has no file)",
            )),
            _ => Err(not_applicable(
                "unix_mode",
                "socket other than a listener on a Unix path",
            )),
        }
    }

    /// The server's TLS options, or None for a plain server; refuses TLS
    /// options that mean nothing without certificates or on a server.
    /// The TLS settings of these options as a replacement for a running
    /// TLS server's (`sack_tcp_reload_tls`): checked as at open, and they
    /// must give the server certificates.
    pub fn replacement_server_tls(&self) -> Result<TlsOptions> {
        self.server_tls()?.ok_or_else(|| {
            Error::invalid(
                "the new TLS configuration has no certificate: give cert and key, or hosts",
            )
        })
    }

    fn server_tls(&self) -> Result<Option<TlsOptions>> {
        let t = &self.tls;
        if t.ssl {
            return Err(not_applicable(
                "ssl",
                "server (a server speaks TLS when given cert or hosts)",
            ));
        }
        if t.insecure_skip_verify {
            return Err(not_applicable("tls_insecure_skip_verify", "server"));
        }
        if !t.has_server_certs() {
            for (set, name) in [
                (t.allow_fallback, "allow_ssl_fallback"),
                (t.starttls, "starttls"),
                (t.client_auth != ClientAuth::None, "client_auth"),
                (t.key.is_some(), "key"),
                (t.passphrase.is_some(), "passphrase"),
                (t.host.is_some(), "host"),
                (t.ca.is_some(), "ca"),
                (!t.alpn.is_empty(), "alpn"),
                (t.min_version.is_some(), "tls_min_version"),
                (t.max_version.is_some(), "tls_max_version"),
                (t.groups.is_some(), "tls_groups"),
                (t.cipher_suites.is_some(), "tls_cipher_suites"),
                (t.no_resumption, "tls_no_resumption"),
                (t.crl.is_some(), "crl"),
                (t.peer_check.is_some(), "tls_verify"),
                (t.hello_hook.is_some(), "tls_client_hello"),
            ] {
                if set {
                    return Err(not_applicable(name, "server without cert or hosts"));
                }
            }
            return Ok(None);
        }
        if t.cert.is_some() != t.key.is_some() {
            return Err(Error::invalid("`cert` and `key` must be given together"));
        }
        if t.crl.is_some() && t.client_auth == ClientAuth::None {
            return Err(Error::invalid(
                "`crl` on a server checks client certificates: it needs client_auth",
            ));
        }
        if t.peer_check.is_some() && t.client_auth == ClientAuth::None {
            return Err(not_applicable(
                "tls_verify",
                "server without client_auth (it checks client certificates)",
            ));
        }
        if t.client_auth != ClientAuth::None && t.ca.is_none() {
            return Err(Error::invalid(
                "client_auth needs `ca`: the roots that vouch for client certificates",
            ));
        }
        if t.allow_fallback && t.starttls {
            return Err(Error::invalid(
                "`allow_ssl_fallback` and `starttls` exclude each other: one detects TLS, \
                 the other waits to be told",
            ));
        }
        Ok(Some(t.clone()))
    }

    fn check_client_tls(&self) -> Result<()> {
        let t = &self.tls;
        for (set, name) in [
            (!t.hosts.is_empty(), "hosts"),
            (t.allow_fallback, "allow_ssl_fallback"),
            (
                t.starttls,
                "starttls (a client upgrades with sack_tcp_set_ssl)",
            ),
            (t.client_auth != ClientAuth::None, "client_auth"),
            (t.hello_hook.is_some(), "tls_client_hello"),
        ] {
            if set {
                return Err(not_applicable(name, "client"));
            }
        }
        if t.cert.is_some() != t.key.is_some() {
            return Err(Error::invalid(
                "a client certificate needs both `cert` and `key`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(to: &str) -> Options {
        Options {
            to_address: Some(to.into()),
            ..Options::default()
        }
    }

    #[test]
    fn to_address_makes_a_client() {
        assert!(matches!(client("127.0.0.1:80").plan(), Ok(Plan::Client(_))));
        assert!(matches!(Options::default().plan(), Ok(Plan::Server(_))));
    }

    #[test]
    fn client_needs_a_port_somewhere() {
        let err = client("127.0.0.1").plan().unwrap_err();
        assert_eq!(err.code(), Code::BadAddress);
        let ok = Options {
            to_port: Some(80),
            ..client("127.0.0.1")
        };
        assert!(ok.plan().is_ok());
    }

    #[test]
    fn options_of_the_other_kind_are_refused() {
        let server_with_to_port = Options {
            to_port: Some(1),
            ..Options::default()
        };
        assert_eq!(
            server_with_to_port.plan().unwrap_err().code(),
            Code::NotApplicable
        );
        let server_with_timeout = Options {
            connect_timeout: Some(Duration::from_millis(5)),
            ..Options::default()
        };
        assert_eq!(
            server_with_timeout.plan().unwrap_err().code(),
            Code::NotApplicable
        );
        let client_with_backlog = Options {
            backlog: Some(5),
            ..client("127.0.0.1:1")
        };
        assert_eq!(
            client_with_backlog.plan().unwrap_err().code(),
            Code::NotApplicable
        );
    }

    #[test]
    fn sizes_are_checked() {
        for size in [0, MIN_READ_BUFFER_SIZE - 1, MAX_READ_BUFFER_SIZE + 1] {
            let o = Options {
                read_buffer_size: size,
                ..Options::default()
            };
            assert_eq!(o.plan().unwrap_err().code(), Code::InvalidArgument);
        }
        let o = Options {
            send_queue_limit: 10,
            send_queue_low_mark: 10,
            ..Options::default()
        };
        assert_eq!(o.plan().unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn bad_address_strings_fail_the_plan() {
        let o = Options {
            address: Some("[::1".into()),
            ..Options::default()
        };
        assert_eq!(o.plan().unwrap_err().code(), Code::BadAddress);
        assert_eq!(
            client("1.2.3.4:99999").plan().unwrap_err().code(),
            Code::BadAddress
        );
    }

    /// Messages name the fields of the C options struct.
    #[test]
    fn messages_name_the_c_fields() {
        let message = |o: Options| o.plan().unwrap_err().message().to_owned();
        let cases = [
            (
                Options {
                    to_port: Some(1),
                    ..Options::default()
                },
                "`to_port`",
            ),
            (
                Options {
                    connect_timeout: Some(Duration::from_millis(5)),
                    ..Options::default()
                },
                "`connect_timeout_ms`",
            ),
            (
                Options {
                    read_buffer_size: 0,
                    ..Options::default()
                },
                "`read_buffer_size`",
            ),
            (
                Options {
                    send_queue_limit: 0,
                    ..Options::default()
                },
                "`send_queue_limit`",
            ),
            (
                Options {
                    send_queue_low_mark: usize::MAX,
                    ..Options::default()
                },
                "`send_queue_low_mark`",
            ),
            (client("127.0.0.1"), "`to_port`"),
            (
                Options {
                    tls: TlsOptions {
                        allow_fallback: true,
                        ..TlsOptions::default()
                    },
                    ..Options::default()
                },
                "`allow_ssl_fallback`",
            ),
            (
                Options {
                    tls: TlsOptions {
                        allow_fallback: true,
                        ..TlsOptions::default()
                    },
                    ..client("127.0.0.1:1")
                },
                "`allow_ssl_fallback`",
            ),
            (
                Options {
                    tls: TlsOptions {
                        cert: Some("cert".into()),
                        key: Some("key".into()),
                        allow_fallback: true,
                        starttls: true,
                        ..TlsOptions::default()
                    },
                    ..Options::default()
                },
                "`allow_ssl_fallback`",
            ),
        ];
        for (options, field) in cases {
            let text = message(options);
            assert!(text.contains(field), "{text:?} does not name {field}");
        }
    }
}
