//! Unix domain socket addresses: the `unix:/path` and `unix:@name` forms of
//! an address string, and [`Endpoint`], what a connection reports as its
//! local or peer address (an IP socket address or a Unix one).

use std::fmt;
use std::net::SocketAddr;

/// Bytes of `sun_path`; a path needs one more for its NUL, an abstract
/// name one for its leading NUL.
pub const SUN_PATH_LEN: usize = 108;

/// The prefix that marks an address string as a Unix socket.
pub const PREFIX: &str = "unix:";

/// A Unix socket address as an address string names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A filesystem path (relative paths are relative to the process's
    /// working directory at the open call).
    Path(String),
    /// A name in Linux's abstract namespace (no file; gone with the last
    /// socket bound to it).
    Abstract(String),
}

impl UnixAddr {
    /// Parses what follows `unix:`: `@name` for an abstract name, anything
    /// else for a path. The error says what is wrong; the caller quotes the
    /// whole input.
    pub fn parse(rest: &str) -> Result<UnixAddr, String> {
        if rest.contains('\0') {
            return Err("a Unix socket address cannot contain NUL".into());
        }
        if let Some(name) = rest.strip_prefix('@') {
            if name.is_empty() {
                return Err("empty abstract socket name after \"unix:@\"".into());
            }
            if !cfg!(any(target_os = "linux", target_os = "android")) {
                return Err(
                    "abstract Unix socket names (\"unix:@...\") exist on Linux only".into(),
                );
            }
            // The kernel counts the leading NUL in sun_path.
            if name.len() > SUN_PATH_LEN - 1 {
                return Err(format!(
                    "abstract socket name is {} bytes; at most {} fit",
                    name.len(),
                    SUN_PATH_LEN - 1
                ));
            }
            return Ok(UnixAddr::Abstract(name.to_owned()));
        }
        if rest.is_empty() {
            return Err("empty path after \"unix:\"".into());
        }
        // The path needs its NUL inside sun_path.
        if rest.len() > SUN_PATH_LEN - 1 {
            return Err(format!(
                "socket path is {} bytes; at most {} fit in sun_path",
                rest.len(),
                SUN_PATH_LEN - 1
            ));
        }
        Ok(UnixAddr::Path(rest.to_owned()))
    }

    /// The socket address to bind or connect to.
    pub fn sock_addr(&self) -> std::io::Result<socket2::SockAddr> {
        match self {
            UnixAddr::Path(path) => socket2::SockAddr::unix(path),
            // socket2 reads a leading NUL as the abstract namespace.
            UnixAddr::Abstract(name) => socket2::SockAddr::unix(format!("\0{name}")),
        }
    }

    /// The filesystem path, for a path address.
    pub fn path(&self) -> Option<&str> {
        match self {
            UnixAddr::Path(path) => Some(path),
            UnixAddr::Abstract(_) => None,
        }
    }
}

impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddr::Path(path) => write!(f, "{PREFIX}{path}"),
            UnixAddr::Abstract(name) => write!(f, "{PREFIX}@{name}"),
        }
    }
}

/// One end of a connection, or a listener's bound address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Ip(SocketAddr),
    /// The `unix:...` string (boxed: a Unix end is rare next to TCP ones);
    /// `unix:` alone for an unnamed socket (a client that bound nothing).
    Unix(Box<str>),
}

impl Endpoint {
    /// An IP wildcard (`0.0.0.0`, `::`): a listener bound to it accepts on
    /// any local address, so its own address does not say a connection's.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Endpoint::Ip(addr) if addr.ip().is_unspecified())
    }

    /// The port; 0 for a Unix socket, which has none.
    pub fn port(&self) -> u16 {
        match self {
            Endpoint::Ip(addr) => addr.port(),
            Endpoint::Unix(_) => 0,
        }
    }

    /// What the address getters write: the IP without brackets or port,
    /// or the whole `unix:` string.
    pub fn host_text(&self) -> String {
        match self {
            Endpoint::Ip(addr) => addr.ip().to_string(),
            Endpoint::Unix(text) => text.to_string(),
        }
    }

    /// Reads a kernel address: an IP one as such, a Unix one as its
    /// `unix:` string (non-UTF-8 bytes replaced).
    pub fn from_sock_addr(addr: &socket2::SockAddr) -> Endpoint {
        if let Some(ip) = addr.as_socket() {
            return Endpoint::Ip(ip);
        }
        Endpoint::Unix(unix_text(addr).into_boxed_str())
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint::Ip(addr)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Ip(addr) => write!(f, "{addr}"),
            Endpoint::Unix(text) => f.write_str(text),
        }
    }
}

#[cfg(unix)]
fn unix_text(addr: &socket2::SockAddr) -> String {
    use std::os::unix::ffi::OsStrExt;
    if let Some(path) = addr.as_pathname() {
        return format!(
            "{PREFIX}{}",
            String::from_utf8_lossy(path.as_os_str().as_bytes())
        );
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(name) = addr.as_abstract_namespace() {
        return format!("{PREFIX}@{}", String::from_utf8_lossy(name));
    }
    PREFIX.to_owned()
}

#[cfg(not(unix))]
fn unix_text(_addr: &socket2::SockAddr) -> String {
    PREFIX.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ip_wildcards_are_wildcards() {
        let ip = |s: &str| Endpoint::Ip(s.parse().unwrap());
        assert!(ip("0.0.0.0:80").is_wildcard());
        assert!(ip("[::]:80").is_wildcard());
        assert!(!ip("127.0.0.1:80").is_wildcard());
        assert!(!ip("[::1]:80").is_wildcard());
        assert!(!Endpoint::Unix("unix:/run/x.sock".into()).is_wildcard());
    }

    #[test]
    fn paths_and_abstract_names() {
        assert_eq!(
            UnixAddr::parse("/run/app.sock"),
            Ok(UnixAddr::Path("/run/app.sock".into()))
        );
        assert_eq!(
            UnixAddr::parse("rel/a b.sock"),
            Ok(UnixAddr::Path("rel/a b.sock".into()))
        );
        assert!(UnixAddr::parse("").unwrap_err().contains("empty path"));
        assert!(UnixAddr::parse("@").unwrap_err().contains("empty abstract"));
        assert!(UnixAddr::parse("/a\0b").is_err());
        if cfg!(target_os = "linux") {
            assert_eq!(
                UnixAddr::parse("@name"),
                Ok(UnixAddr::Abstract("name".into()))
            );
        } else {
            assert!(UnixAddr::parse("@name").unwrap_err().contains("Linux"));
        }
    }

    #[test]
    fn what_fits_in_sun_path() {
        let fits = format!("/{}", "p".repeat(SUN_PATH_LEN - 2));
        assert!(UnixAddr::parse(&fits).is_ok());
        let too_long = format!("{fits}x");
        let err = UnixAddr::parse(&too_long).unwrap_err();
        assert!(err.contains("108") || err.contains("107"), "{err}");
        if cfg!(target_os = "linux") {
            let name = "n".repeat(SUN_PATH_LEN - 1);
            assert!(UnixAddr::parse(&format!("@{name}")).is_ok());
            assert!(UnixAddr::parse(&format!("@{name}x")).is_err());
        }
    }

    #[test]
    fn displayed_as_written() {
        for text in ["unix:/tmp/x.sock", "unix:@abc"] {
            if text.contains('@') && !cfg!(target_os = "linux") {
                continue;
            }
            let addr = UnixAddr::parse(&text[PREFIX.len()..]).unwrap();
            assert_eq!(addr.to_string(), text);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn endpoints_read_back_from_kernel_addresses() {
        let addr = UnixAddr::parse("@sack-endpoint")
            .unwrap()
            .sock_addr()
            .unwrap();
        assert_eq!(
            Endpoint::from_sock_addr(&addr).to_string(),
            "unix:@sack-endpoint"
        );
        let addr = UnixAddr::parse("/tmp/e.sock").unwrap().sock_addr().unwrap();
        let endpoint = Endpoint::from_sock_addr(&addr);
        assert_eq!(endpoint.host_text(), "unix:/tmp/e.sock");
        assert_eq!(endpoint.port(), 0);
        let ip: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let endpoint = Endpoint::from_sock_addr(&ip.into());
        assert_eq!(endpoint.host_text(), "127.0.0.1");
        assert_eq!(endpoint.port(), 80);
    }
}
