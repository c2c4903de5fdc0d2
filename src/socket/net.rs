//! Raw socket set-up with socket2: the options tokio does not expose
//! (IPV6_V6ONLY, SO_REUSEPORT, keepalive timing, listen backlog).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::TcpStream;

use crate::options::ConnSettings;

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
pub fn configure_stream(stream: &TcpStream, settings: &ConnSettings) -> io::Result<()> {
    super::wire::no_sigpipe(stream)?;
    stream.set_nodelay(settings.no_delay)?;
    if let Some(idle) = settings.keep_alive {
        SockRef::from(stream).set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?;
    }
    Ok(())
}
