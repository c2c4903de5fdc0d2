//! Address strings (`host:port`, `[v6]:port`, a bare port, ...) and their
//! resolution to socket addresses for connecting and binding.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;

use crate::error::{Code, Error, Result};
pub use crate::unix_address::{Endpoint, UnixAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Any => "any",
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
    /// `unix:/path` or `unix:@name`: a Unix domain socket, never resolved.
    Unix(UnixAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
            Host::Unix(addr) => write!(f, "{addr}"),
        }
    }
}

/// What an address string says. `host: None` means the string was a bare port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    pub host: Option<Host>,
    pub port: Option<u16>,
}

impl ParsedAddress {
    /// The Unix socket this names, if it is one.
    pub fn unix(&self) -> Option<&UnixAddr> {
        match &self.host {
            Some(Host::Unix(addr)) => Some(addr),
            _ => None,
        }
    }
}

/// Longest host name DNS can carry, not counting a trailing dot.
const MAX_NAME_LEN: usize = 253;

/// Parses an address string:
///
/// * `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80`
/// * a bare IPv6 literal such as `::1` or `fe80::1`. Such a literal never
///   carries a port, so `::1:80` is the address `::1:80`; write `[::1]:80`
///   for a port.
/// * a bare port: `8080`
/// * `name` or `name:port`
/// * `unix:/path` (a Unix domain socket on a filesystem path) or
///   `unix:@name` (Linux's abstract namespace); see [`UnixAddr::parse`]
///
/// A port is decimal (0-65535) or a TCP service name from the local services
/// database (`http`, `ssh`). IPv6 zone ids (`%eth0`) are not supported.
pub fn parse(s: &str) -> Result<ParsedAddress> {
    parse_parts(s)
        .map_err(|what| Error::new(Code::BadAddress, format!("bad address {s:?}: {what}")))
}

/// `parse` without the error wrapping: the error says what is wrong, and
/// `parse` adds the input it was wrong about.
fn parse_parts(s: &str) -> std::result::Result<ParsedAddress, String> {
    if s.is_empty() {
        return Err("empty string".into());
    }
    // Before the whitespace check: a path may contain spaces.
    if let Some(rest) = s.strip_prefix(crate::unix_address::PREFIX) {
        return Ok(ParsedAddress {
            host: Some(Host::Unix(UnixAddr::parse(rest)?)),
            port: None,
        });
    }
    if s.contains(char::is_whitespace) {
        return Err("contains whitespace".into());
    }

    if let Some(inner) = s.strip_prefix('[') {
        let (literal, after) = inner.split_once(']').ok_or("missing ']'")?;
        let ip = parse_v6(literal)?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(parse_port(port)?),
            None if after.is_empty() => None,
            None => return Err("unexpected text after ']'".into()),
        };
        return Ok(ParsedAddress {
            host: Some(Host::Ip(IpAddr::V6(ip))),
            port,
        });
    }

    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(ParsedAddress {
            host: None,
            port: Some(parse_port(s)?),
        });
    }

    if s.matches(':').count() >= 2 {
        let ip = parse_v6(s).map_err(|what| {
            format!("{what} (a bare IPv6 address takes no port; write [address]:port)")
        })?;
        return Ok(ParsedAddress {
            host: Some(Host::Ip(IpAddr::V6(ip))),
            port: None,
        });
    }

    let (host, port) = match s.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (s, None),
    };
    Ok(ParsedAddress {
        host: Some(parse_host(host)?),
        port,
    })
}

fn parse_v6(literal: &str) -> std::result::Result<Ipv6Addr, String> {
    if literal.contains('%') {
        return Err("IPv6 zone ids (\"%...\") are not supported".into());
    }
    literal
        .parse()
        .map_err(|_| format!("{literal:?} is not an IPv6 address"))
}

fn parse_port(port: &str) -> std::result::Result<u16, String> {
    if port.is_empty() {
        return Err("empty port after ':'".into());
    }
    // Checked by hand because u16::from_str would also accept "+80".
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return port
            .parse()
            .map_err(|_| format!("port {port} is out of range 0-65535"));
    }
    let service_like = port.starts_with(|c: char| c.is_ascii_alphabetic())
        && port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !service_like {
        return Err(format!(
            "{port:?} is neither a port number nor a service name"
        ));
    }
    crate::sys::service_port(port).ok_or_else(|| format!("unknown service name {port:?}"))
}

/// Checks the characters and shape of a host name. The 63-octet label limit
/// is deliberately left to the resolver, which rejects it without a query.
fn parse_host(host: &str) -> std::result::Result<Host, String> {
    if host.is_empty() {
        return Err("empty host before ':'".into());
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    // No top-level domain is all digits, so this is a mistyped IPv4 address;
    // getaddrinfo would instead read "127.1" inet_aton-style or ask DNS.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{host:?} is not a valid IPv4 address"));
    }
    if let Some(c) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!("invalid character {c:?} in host name"));
    }
    if host.starts_with(['-', '.']) {
        return Err("host name must not start with '-' or '.'".into());
    }
    // A single trailing dot marks a fully qualified name and is fine.
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "host name is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Err("empty label in host name".into());
    }
    Ok(Host::Name(host.to_owned()))
}

/// The resolver is a trait so unit tests can substitute one and never touch DNS.
pub trait Resolver: Send + Sync {
    fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static>>;
}

/// getaddrinfo, run on tokio's blocking pool by `tokio::net::lookup_host`.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        let name = name.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// Addresses a client should try, in order. `parsed.port` overrides `default_port`;
/// no port at all → BadAddress ("no port given"). A bare port (host None) means "localhost".
/// IP literals are returned without calling the resolver. Names go to the resolver; results
/// filtered by family (V4 keeps only IPv4 …); resolver failure or an empty result after
/// filtering → Code::Resolve with a message naming the host (and the OS error text).
/// A literal whose family contradicts `family` → BadAddress.
pub async fn resolve_connect(
    parsed: &ParsedAddress,
    default_port: Option<u16>,
    family: Family,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>> {
    let Some(port) = parsed.port.or(default_port) else {
        let host = parsed
            .host
            .as_ref()
            .map_or("localhost".into(), Host::to_string);
        return Err(Error::new(
            Code::BadAddress,
            format!("no port given for {host}"),
        ));
    };
    let name = match &parsed.host {
        Some(Host::Ip(ip)) => return literal(*ip, port, family),
        Some(Host::Name(name)) => name.as_str(),
        Some(Host::Unix(addr)) => return Err(not_ip(addr)),
        None => "localhost",
    };
    let found = resolver
        .resolve(name, port)
        .await
        .map_err(|err| resolve_error(name, &err))?;
    keep_family(found, family, name)
}

/// Addresses a listener (or a client's bind) should bind, resolved synchronously
/// (std::net::ToSocketAddrs, i.e. getaddrinfo) because binding happens inside the open call.
/// `parsed == None` or host None → the wildcard: `[::]` for Any and V6, `0.0.0.0` for V4.
/// Port from the string overrides `default_port` (default 0). Same family filtering and errors
/// as above. Duplicate addresses are removed, order kept.
pub fn resolve_bind(
    parsed: Option<&ParsedAddress>,
    default_port: u16,
    family: Family,
) -> Result<Vec<SocketAddr>> {
    let port = parsed.and_then(|p| p.port).unwrap_or(default_port);
    match parsed.and_then(|p| p.host.as_ref()) {
        None => Ok(vec![wildcard(family, port)]),
        Some(Host::Ip(ip)) => literal(*ip, port, family),
        Some(Host::Unix(addr)) => Err(not_ip(addr)),
        Some(Host::Name(name)) => {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|err| resolve_error(name, &err))?;
            keep_family(found, family, name)
        }
    }
}

/// Family-aware wildcard helper used by resolve_bind.
pub fn wildcard(family: Family, port: u16) -> SocketAddr {
    let ip = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        // `[::]` also accepts IPv4 when the socket is dual-stack.
        Family::Any | Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, port)
}

fn literal(ip: IpAddr, port: u16, family: Family) -> Result<Vec<SocketAddr>> {
    if !family.admits(ip) {
        return Err(Error::new(
            Code::BadAddress,
            format!(
                "address {ip} does not match the requested {} family",
                family.name()
            ),
        ));
    }
    Ok(vec![SocketAddr::new(ip, port)])
}

/// Filters resolver output by family, dropping duplicates but keeping the
/// resolver's preference order.
fn keep_family(
    found: impl IntoIterator<Item = SocketAddr>,
    family: Family,
    name: &str,
) -> Result<Vec<SocketAddr>> {
    let mut kept = Vec::new();
    for addr in found {
        if family.admits(addr.ip()) && !kept.contains(&addr) {
            kept.push(addr);
        }
    }
    if kept.is_empty() {
        let what = match family {
            Family::Any => "no addresses".to_owned(),
            _ => format!("no {} addresses", family.name()),
        };
        return Err(Error::new(
            Code::Resolve,
            format!("could not resolve {name:?}: {what}"),
        ));
    }
    Ok(kept)
}

/// A Unix address where an IP one is needed (the socket code takes the
/// Unix path before resolving, so this is a mixed client bind and target).
fn not_ip(addr: &UnixAddr) -> Error {
    Error::new(
        Code::BadAddress,
        format!("{addr} is a Unix socket address where an IP address is needed"),
    )
}

fn resolve_error(name: &str, err: &io::Error) -> Error {
    Error::new(Code::Resolve, format!("could not resolve {name:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn ip(host: &str, port: Option<u16>) -> std::result::Result<ParsedAddress, Code> {
        Ok(ParsedAddress {
            host: Some(Host::Ip(host.parse().unwrap())),
            port,
        })
    }

    fn name(host: &str, port: Option<u16>) -> std::result::Result<ParsedAddress, Code> {
        Ok(ParsedAddress {
            host: Some(Host::Name(host.to_owned())),
            port,
        })
    }

    fn port(port: u16) -> std::result::Result<ParsedAddress, Code> {
        Ok(ParsedAddress {
            host: None,
            port: Some(port),
        })
    }

    const BAD: std::result::Result<ParsedAddress, Code> = Err(Code::BadAddress);

    fn unix(addr: UnixAddr) -> std::result::Result<ParsedAddress, Code> {
        Ok(ParsedAddress {
            host: Some(Host::Unix(addr)),
            port: None,
        })
    }

    #[test]
    fn unix_addresses_parse_and_are_never_resolved() {
        let parsed = parse("unix:@name");
        if cfg!(target_os = "linux") {
            let parsed = parsed.unwrap();
            assert_eq!(parsed.unix(), Some(&UnixAddr::Abstract("name".into())));
            assert_eq!(parsed.host.unwrap().to_string(), "unix:@name");
        } else {
            assert_eq!(parsed.unwrap_err().code(), Code::BadAddress);
        }
        let err = parse("unix:").unwrap_err();
        assert!(err.message().contains("empty path"), "{err}");
        let parsed = parse("unix:/x.sock").unwrap();
        let err = resolve_bind(Some(&parsed), 0, Family::Any).unwrap_err();
        assert_eq!(err.code(), Code::BadAddress);
    }

    #[test]
    fn parse_table() {
        let label63 = "a".repeat(63);
        let label64 = "b".repeat(64);
        let name253 = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        let name254 = format!("{name253}e");
        let cases = [
            // IP literals
            ("127.0.0.1", ip("127.0.0.1", None)),
            ("127.0.0.1:8080", ip("127.0.0.1", Some(8080))),
            ("0.0.0.0:0", ip("0.0.0.0", Some(0))),
            ("[::1]:80", ip("::1", Some(80))),
            ("[::1]", ip("::1", None)),
            ("[::]:0", ip("::", Some(0))),
            ("::1", ip("::1", None)),
            ("::", ip("::", None)),
            ("fe80::1", ip("fe80::1", None)),
            ("::1:80", ip("::1:80", None)),
            ("::ffff:1.2.3.4", ip("::ffff:1.2.3.4", None)),
            // bare ports
            ("8080", port(8080)),
            ("0", port(0)),
            ("65535", port(65535)),
            ("65536", BAD),
            ("99999999999999999999", BAD),
            // names
            ("localhost", name("localhost", None)),
            ("localhost.", name("localhost.", None)),
            ("localhost:http", name("localhost", Some(80))),
            ("example.com:ssh", name("example.com", Some(22))),
            (
                "my_host-1.example:443",
                name("my_host-1.example", Some(443)),
            ),
            ("localhost:no-such-service-xyz", BAD),
            (&label63, name(&label63, None)),
            (&label64, name(&label64, None)),
            (&name253, name(&name253, None)),
            (&format!("{name253}."), name(&format!("{name253}."), None)),
            (&name254, BAD),
            ("a..b", BAD),
            ("-a", BAD),
            (".a", BAD),
            ("a.b..", BAD),
            ("host name", BAD),
            ("héllo", BAD),
            ("a%b", BAD),
            // ports after a host
            ("host:", BAD),
            (":80", BAD),
            ("[::1]:", BAD),
            ("1.2.3.4:-1", BAD),
            ("1.2.3.4:+80", BAD),
            ("1.2.3.4:65536", BAD),
            ("1.2.3.4:80x", BAD),
            ("1.2.3.4:80:90", BAD),
            // mistyped IPv4
            ("1.2.3.256", BAD),
            ("127.1", BAD),
            // brackets and bare IPv6
            ("[", BAD),
            ("[::1", BAD),
            ("[::1]x", BAD),
            ("[::1]80", BAD),
            ("[1.2.3.4]", BAD),
            ("[localhost]:80", BAD),
            ("::1]", BAD),
            ("1::2::3", BAD),
            ("[fe80::1%eth0]:80", BAD),
            ("fe80::1%eth0", BAD),
            // whitespace and emptiness
            ("", BAD),
            (" 1.2.3.4", BAD),
            ("1.2.3.4 ", BAD),
            ("local\thost", BAD),
            // Unix sockets
            (
                "unix:/run/app.sock",
                unix(UnixAddr::Path("/run/app.sock".into())),
            ),
            ("unix:./a b", unix(UnixAddr::Path("./a b".into()))),
            ("unix:", BAD),
            ("unix:@", BAD),
            (&format!("unix:/{}", "p".repeat(107)), BAD),
        ];
        for (input, want) in cases {
            let got = parse(input).map_err(|e| e.code());
            assert_eq!(got, want, "parse({input:?})");
        }
    }

    #[test]
    fn parse_errors_quote_the_input_and_say_why() {
        let err = parse("[fe80::1%eth0]:80").unwrap_err();
        assert!(err.message().contains("\"[fe80::1%eth0]:80\""), "{err}");
        assert!(err.message().contains("zone"), "{err}");
        let err = parse("1.2.3.4:65536").unwrap_err();
        assert!(err.message().contains("out of range"), "{err}");
        let err = parse("x:nosuchsvc").unwrap_err();
        assert!(err.message().contains("unknown service"), "{err}");
    }

    /// Records every lookup and answers with a fixed list, or fails.
    struct FakeResolver {
        calls: Mutex<Vec<(String, u16)>>,
        answer: Option<Vec<SocketAddr>>,
    }

    impl FakeResolver {
        fn answering(addrs: &[&str]) -> Self {
            FakeResolver {
                calls: Mutex::new(Vec::new()),
                answer: Some(addrs.iter().map(|a| a.parse().unwrap()).collect()),
            }
        }

        fn failing() -> Self {
            FakeResolver {
                calls: Mutex::new(Vec::new()),
                answer: None,
            }
        }

        fn calls(&self) -> Vec<(String, u16)> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Resolver for FakeResolver {
        fn resolve(
            &self,
            name: &str,
            port: u16,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static>> {
            self.calls.lock().unwrap().push((name.to_owned(), port));
            let result = match &self.answer {
                // The fake ignores `port` in its answer so tests can see
                // that callers pass it through rather than patch it in.
                Some(addrs) => Ok(addrs.clone()),
                None => Err(io::Error::other("fake lookup failure")),
            };
            Box::pin(std::future::ready(result))
        }
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_to_a_name_asks_the_resolver() {
        let fake = FakeResolver::answering(&["10.0.0.1:80", "[2001:db8::1]:80", "10.0.0.1:80"]);
        let parsed = parse("example.com").unwrap();
        let got = resolve_connect(&parsed, Some(80), Family::Any, &fake).await;
        assert_eq!(got.unwrap(), addrs(&["10.0.0.1:80", "[2001:db8::1]:80"]));
        assert_eq!(fake.calls(), [("example.com".to_owned(), 80)]);

        // The string's port beats the default.
        let parsed = parse("example.com:ssh").unwrap();
        resolve_connect(&parsed, Some(80), Family::Any, &fake)
            .await
            .unwrap();
        assert_eq!(fake.calls()[1], ("example.com".to_owned(), 22));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_filters_by_family() {
        let fake = FakeResolver::answering(&["10.0.0.1:80", "[2001:db8::1]:80"]);
        let parsed = parse("example.com:80").unwrap();
        let v4 = resolve_connect(&parsed, None, Family::V4, &fake).await;
        assert_eq!(v4.unwrap(), addrs(&["10.0.0.1:80"]));
        let v6 = resolve_connect(&parsed, None, Family::V6, &fake).await;
        assert_eq!(v6.unwrap(), addrs(&["[2001:db8::1]:80"]));

        let only_v4 = FakeResolver::answering(&["10.0.0.1:80"]);
        let err = resolve_connect(&parsed, None, Family::V6, &only_v4)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Resolve);
        assert!(err.message().contains("example.com"), "{err}");
        assert!(err.message().contains("IPv6"), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_reports_resolver_failure_and_empty_answers() {
        let parsed = parse("example.com:80").unwrap();
        let err = resolve_connect(&parsed, None, Family::Any, &FakeResolver::failing())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Resolve);
        assert!(err.message().contains("example.com"), "{err}");
        assert!(err.message().contains("fake lookup failure"), "{err}");

        let empty = FakeResolver::answering(&[]);
        let err = resolve_connect(&parsed, None, Family::Any, &empty)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Resolve);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_to_a_literal_skips_the_resolver() {
        let fake = FakeResolver::failing();
        let parsed = parse("[::1]:81").unwrap();
        let got = resolve_connect(&parsed, Some(80), Family::Any, &fake).await;
        assert_eq!(got.unwrap(), addrs(&["[::1]:81"]));
        let parsed = parse("127.0.0.1").unwrap();
        let got = resolve_connect(&parsed, Some(80), Family::V4, &fake).await;
        assert_eq!(got.unwrap(), addrs(&["127.0.0.1:80"]));
        assert!(fake.calls().is_empty());

        let err = resolve_connect(&parsed, Some(80), Family::V6, &fake)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::BadAddress);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_to_a_bare_port_means_localhost() {
        let fake = FakeResolver::answering(&["127.0.0.1:9000"]);
        let parsed = parse("9000").unwrap();
        resolve_connect(&parsed, Some(1), Family::Any, &fake)
            .await
            .unwrap();
        assert_eq!(fake.calls(), [("localhost".to_owned(), 9000)]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connect_without_any_port_is_a_bad_address() {
        let fake = FakeResolver::answering(&["10.0.0.1:80"]);
        for input in ["example.com", "10.0.0.1", "[::1]"] {
            let parsed = parse(input).unwrap();
            let err = resolve_connect(&parsed, None, Family::Any, &fake)
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::BadAddress, "{input}");
            assert!(err.message().contains("no port given"), "{err}");
        }
        assert!(fake.calls().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn system_resolver_finds_localhost() {
        let parsed = parse("localhost:80").unwrap();
        let got = resolve_connect(&parsed, None, Family::V4, &SystemResolver).await;
        assert_eq!(got.unwrap(), addrs(&["127.0.0.1:80"]));
    }

    #[test]
    fn bind_defaults_to_the_family_wildcard() {
        assert_eq!(
            resolve_bind(None, 0, Family::Any).unwrap(),
            addrs(&["[::]:0"])
        );
        assert_eq!(
            resolve_bind(None, 7, Family::V6).unwrap(),
            addrs(&["[::]:7"])
        );
        assert_eq!(
            resolve_bind(None, 7, Family::V4).unwrap(),
            addrs(&["0.0.0.0:7"])
        );
        let bare_port = parse("8080").unwrap();
        let got = resolve_bind(Some(&bare_port), 7, Family::V4);
        assert_eq!(got.unwrap(), addrs(&["0.0.0.0:8080"]));
    }

    #[test]
    fn bind_to_literals_and_localhost() {
        let parsed = parse("127.0.0.1:0").unwrap();
        let got = resolve_bind(Some(&parsed), 5, Family::Any);
        assert_eq!(got.unwrap(), addrs(&["127.0.0.1:0"]));
        let got = resolve_bind(Some(&parse("127.0.0.1").unwrap()), 5, Family::V4);
        assert_eq!(got.unwrap(), addrs(&["127.0.0.1:5"]));

        let err = resolve_bind(Some(&parsed), 0, Family::V6).unwrap_err();
        assert_eq!(err.code(), Code::BadAddress);

        let localhost = parse("localhost:0").unwrap();
        let got = resolve_bind(Some(&localhost), 0, Family::V4).unwrap();
        assert_eq!(got, addrs(&["127.0.0.1:0"]));
    }
}
