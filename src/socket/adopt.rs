//! Descriptors from outside: a listener on an inherited listening socket
//! (systemd's LISTEN_FDS, inetd, a parent that bound a privileged port),
//! and an already-connected socket adopted as a connection. TCP (IPv4 or
//! IPv6) and Unix domain stream sockets both work.

#![cfg(unix)]

use std::os::fd::OwnedFd;
use std::sync::Arc;

use socket2::{Domain, Type};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::listener::Listening;
use super::stream::Stream;
use super::{driver, listener, net, Connection, Handler, Phase, Role, Socket};
use crate::error::{Code, Error, Result};
use crate::events::{self, Event};
use crate::options::{Options, Plan, ServerPlan};
use crate::runtime;

/// The server plan for a descriptor that is bound already: no address,
/// port or peer may be given.
fn plan_for_descriptor(options: &Options) -> Result<ServerPlan> {
    if options.address.is_some() || options.port != 0 || options.to_address.is_some() {
        return Err(Error::invalid(
            "the descriptor is bound already: leave `address`, `port` and `to_address` unset",
        ));
    }
    match options.plan()? {
        Plan::Server(plan) => Ok(plan),
        Plan::Client(_) => unreachable!("no to_address makes a server"),
    }
}

/// Checks that `fd` is an IPv4, IPv6 or Unix stream socket, listening or
/// not as `listening` says; true with it for a Unix one.
fn check_descriptor(fd: &OwnedFd, listening: bool) -> Result<(socket2::Socket, bool)> {
    let sock = socket2::Socket::from(fd.try_clone().map_err(|e| Error::from_io("dup", &e))?);
    let io = |what: &str, e: std::io::Error| Error::from_io(what, &e);
    let not_tcp = || Error::invalid("the descriptor is not an IPv4, IPv6 or Unix stream socket");
    if sock.r#type().map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTSOCK) => not_tcp(),
        _ => io("reading the socket type", e),
    })? != Type::STREAM
    {
        return Err(not_tcp());
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let domain = sock
            .domain()
            .map_err(|e| io("reading the socket domain", e))?;
        if ![Domain::IPV4, Domain::IPV6, Domain::UNIX].contains(&domain) {
            return Err(not_tcp());
        }
        let is_listener = sock
            .is_listener()
            .map_err(|e| io("reading SO_ACCEPTCONN", e))?;
        if is_listener != listening {
            return Err(Error::invalid(if listening {
                "the descriptor is not listening: call listen() on it first, or adopt it \
                 as a connection"
            } else {
                "the descriptor is a listening socket: open it as a listener"
            }));
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let _ = (Domain::IPV4, listening);
    if !listening {
        sock.peer_addr().map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTCONN) => Error::invalid("the descriptor is not connected"),
            _ => io("reading the peer address", e),
        })?;
    }
    let unix = sock
        .local_addr()
        .map_err(|e| io("reading the local address", e))?
        .domain()
        == Domain::UNIX;
    sock.set_nonblocking(true)
        .map_err(|e| io("setting O_NONBLOCK", e))?;
    Ok((sock, unix))
}

impl Socket {
    /// A listener on an inherited listening socket, which it owns from now
    /// on. The listener's options apply as to one the library bound, but
    /// for the address and port (which the descriptor has); `backlog`, if
    /// given, is applied with a second listen().
    pub fn listen_on_fd(
        options: &Options,
        handler: Arc<dyn Handler>,
        fd: OwnedFd,
    ) -> Result<Arc<Socket>> {
        let plan = plan_for_descriptor(options)?;
        let (sock, unix) = check_descriptor(&fd, true)?;
        drop(fd);
        if options.backlog.is_some() {
            sock.listen(plan.backlog.min(i32::MAX as u32) as i32)
                .map_err(|e| Error::from_io("listen (backlog)", &e))?;
        }
        let rt = runtime::get()?;
        listener::open_with(&rt, plan, handler, options.read_strings, move |_| {
            let register = |e| Error::from_io("registering the inherited listener", &e);
            // The file of an inherited Unix listener is not the library's
            // to remove.
            let listener = if unix {
                Listening::Unix {
                    listener: UnixListener::from_std(sock.into()).map_err(register)?,
                    _file: None,
                }
            } else {
                Listening::Tcp(TcpListener::from_std(sock.into()).map_err(register)?)
            };
            Ok(vec![listener])
        })
    }

    /// Adopts an already-connected socket as a connection (plain; TLS over
    /// an adopted socket is not supported). The connect callback fires
    /// with success, then ready, as for a client.
    pub fn adopt_fd(
        options: &Options,
        handler: Arc<dyn Handler>,
        fd: OwnedFd,
    ) -> Result<Arc<Socket>> {
        let plan = plan_for_descriptor(options)?;
        if plan.tls.is_some() || options.tls.ssl {
            return Err(Error::new(
                Code::NotApplicable,
                "TLS over an adopted connection is not supported; adopt it plain",
            ));
        }
        for (set, name) in [
            (options.backlog.is_some(), "backlog"),
            (options.max_connections != 0, "max_connections"),
            (options.connect_timeout.is_some(), "connect_timeout_ms"),
        ] {
            if set {
                return Err(Error::new(
                    Code::NotApplicable,
                    format!("option `{name}` does not apply to an adopted connection"),
                ));
            }
        }
        let (sock, unix) = check_descriptor(&fd, false)?;
        drop(fd);
        let rt = runtime::get()?;
        let stream = {
            let _enter = rt.handle().enter();
            let register = |e| Error::from_io("registering the adopted connection", &e);
            if unix {
                Stream::from(UnixStream::from_std(sock.into()).map_err(register)?)
            } else {
                Stream::from(TcpStream::from_std(sock.into()).map_err(register)?)
            }
        };
        net::configure_stream(&stream, &plan.conn)
            .map_err(|e| Error::from_io("configuring the adopted connection", &e))?;
        let stream = Arc::new(stream);
        let connection = Connection::new(rt.clone(), Phase::Open, Arc::new(plan.conn), false);
        connection
            .lock()
            .attach(stream.clone(), (None, None))
            .map_err(|e| Error::from_io("reading the adopted connection's addresses", &e))?;
        let socket = Socket::new(handler, options.read_strings, Role::Connection(connection));
        let task_socket = socket.clone();
        let panic_socket = socket.clone();
        runtime::spawn_socket_task(
            &rt,
            async move {
                events::emit(&task_socket, Event::Connect(Ok(())));
                if !task_socket.gate.messages_stopped() {
                    events::emit(&task_socket, Event::Ready);
                }
                if let Ok(conn) = task_socket.connection() {
                    driver::begin(conn, stream);
                }
                driver::drive(task_socket).await;
            },
            move || super::finish_after_panic(&panic_socket),
        );
        Ok(socket)
    }
}
