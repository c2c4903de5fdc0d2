//! Raw socket set-up with socket2: the options tokio does not expose
//! (IPV6_V6ONLY, SO_REUSEPORT, keepalive timing, listen backlog).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use super::stream::Stream;

use crate::options::{ConnSettings, KeepAlive};

pub struct BindFlags {
    pub reuse_address: bool,
    pub reuse_port: bool,
    /// For IPv6 sockets: refuse IPv4-mapped traffic. Off gives the
    /// dual-stack `[::]` wildcard.
    pub v6_only: bool,
}

/// A non-blocking TCP socket for `addr`'s family with the flags applied.
pub fn new_socket(addr: &SocketAddr, flags: &BindFlags) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    if flags.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if flags.reuse_port {
        set_reuse_port(&socket)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(flags.v6_only)?;
    }
    Ok(socket)
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reusePort is not available on this platform",
    ))
}

/// Per-connection options, applied to clients and accepted connections.
/// The TCP ones are skipped on a Unix socket, which has none of them.
pub(crate) fn configure_stream(stream: &Stream, settings: &ConnSettings) -> io::Result<()> {
    configure(stream, settings, false)
}

/// As [`configure_stream`], for a connection accepted from a listener
/// that already carries `settings.no_delay` (see [`preset_no_delay`]).
pub(crate) fn configure_accepted(
    stream: &Stream,
    settings: &ConnSettings,
    no_delay_inherited: bool,
) -> io::Result<()> {
    configure(stream, settings, no_delay_inherited)
}

fn configure(stream: &Stream, settings: &ConnSettings, no_delay_set: bool) -> io::Result<()> {
    super::wire::no_sigpipe(stream)?;
    if !stream.is_tcp() {
        return Ok(());
    }
    if !no_delay_set {
        SockRef::from(stream).set_tcp_nodelay(settings.no_delay)?;
    }
    if settings.keep_alive.is_some() {
        set_keep_alive(SockRef::from(stream), settings.keep_alive.as_ref())?;
    }
    if settings.user_timeout.is_some() {
        set_user_timeout(SockRef::from(stream), settings.user_timeout)?;
    }
    Ok(())
}

/// Switches keepalive on with `params` (idle, then interval and count where
/// given; the others keep the socket's values), or off with `None`.
pub fn set_keep_alive(sock: SockRef<'_>, params: Option<&KeepAlive>) -> io::Result<()> {
    let Some(k) = params else {
        return sock.set_keepalive(false);
    };
    // The kernel counts seconds; a non-zero time under one is one.
    let secs = |d: std::time::Duration| d.max(std::time::Duration::from_secs(1));
    let mut ka = TcpKeepalive::new().with_time(secs(k.idle));
    if let Some(interval) = k.interval {
        ka = ka.with_interval(secs(interval));
    }
    #[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "solaris")))]
    if let Some(count) = k.count {
        ka = ka.with_retries(count);
    }
    sock.set_tcp_keepalive(&ka)
}

/// TCP_USER_TIMEOUT (`None` or zero: the system's limits). Elsewhere than
/// Linux and Android the option was refused when the options were checked.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn set_user_timeout(sock: SockRef<'_>, timeout: Option<std::time::Duration>) -> io::Result<()> {
    sock.set_tcp_user_timeout(timeout.filter(|t| !t.is_zero()))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn set_user_timeout(
    _sock: SockRef<'_>,
    timeout: Option<std::time::Duration>,
) -> io::Result<()> {
    match timeout {
        None => Ok(()),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TCP_USER_TIMEOUT exists on Linux and Android only",
        )),
    }
}

/// Sets TCP_NODELAY on a listening socket, which Linux copies into every
/// connection it accepts: one system call per listener instead of one per
/// connection. True when the accepted connections can rely on it (Linux,
/// and the call succeeded); elsewhere each connection sets its own.
pub(crate) fn preset_no_delay(listener: SockRef<'_>, no_delay: bool) -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
        && listener.set_tcp_nodelay(no_delay).is_ok()
}
