//! Client sockets: resolve, bind if asked, race the addresses (happy
//! eyeballs), then hand the stream to the connection task.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use tokio::net::TcpSocket;

use super::eyeballs;
use super::net::{self, BindFlags};
use super::session::{self, Session, TlsRole};
use super::stream::Stream;
use super::Handler;
use super::{driver, finish, Connection, Phase, Role, Socket};
use crate::address::{self, Family, Resolver};
use crate::error::{Code, Error, Result};
use crate::events::{self, Event};
use crate::options::{ClientPlan, TlsOptions};
use crate::runtime::{self, RuntimeRef};
use crate::tls::config::ClientTls;

pub(super) fn open(
    rt: &RuntimeRef,
    plan: ClientPlan,
    handler: Arc<dyn Handler>,
    read_strings: bool,
    resolver: Arc<dyn Resolver>,
) -> Result<Arc<Socket>> {
    // Bind addresses are resolved here, like a listener's, so a bad one
    // fails the open call instead of arriving later as a connect error.
    // A bind port without an address binds the wildcard of each target's
    // family at connect time instead (see `local_address_for`).
    // A Unix client binds its `address` (a `unix:` one) at connect.
    let binds = match &plan.bind {
        Some(_) if plan.target.unix().is_some() => Vec::new(),
        Some(bind) => address::resolve_bind(Some(bind), plan.bind_port, plan.family)?,
        None => Vec::new(),
    };
    let connection = Connection::new(rt.clone(), Phase::Connecting, Arc::new(plan.conn), false);
    {
        let mut st = connection.lock();
        if wants_tls_settings(&plan.tls) {
            // Built now so a bad `ca` or client key fails the open call.
            let role = TlsRole::Client(ClientTls::build(&plan.tls, &plan.target)?);
            if plan.tls.ssl {
                // The ClientHello waits in the queue for the connection;
                // data sent meanwhile waits in the TLS engine for the handshake.
                let mut session = role.new_session()?;
                let st = &mut *st;
                session::pump(&mut session.conn, &mut st.queue, None);
                st.session = Session::Tls(Box::new(session));
            }
            st.tls_role = Some(role);
        } else {
            st.lazy_client_target = Some(Box::new(plan.target.clone()));
        }
    }
    let socket = Socket::new(handler, read_strings, Role::Connection(connection));
    let task_socket = socket.clone();
    let panic_socket = socket.clone();
    runtime::spawn_socket_task(rt, run(task_socket, plan, binds, resolver), move || {
        super::finish_after_panic(&panic_socket)
    });
    Ok(socket)
}

async fn run(
    socket: Arc<Socket>,
    plan: ClientPlan,
    binds: Vec<SocketAddr>,
    resolver: Arc<dyn Resolver>,
) {
    let conn = socket.connection().expect("client task on a listener");
    let mut attempt = pin!(connect(&plan, &binds, resolver.as_ref()));
    let outcome = loop {
        tokio::select! {
            biased;
            _ = conn.woken() => {
                // Woken by a send queued while connecting, or by a close,
                // which cancels the attempt.
                if conn.lock().close_request.is_some() {
                    break Err(canceled("the socket was closed while connecting"));
                }
            }
            result = &mut attempt => break result,
        }
    };
    let stream = match outcome {
        Ok(stream) => stream,
        Err(error) => {
            log::debug!("connect failed: {error}");
            {
                let mut st = conn.lock();
                st.phase = Phase::Closed;
                st.queue.clear();
            }
            events::emit(&socket, Event::Connect(Err(&error)));
            finish(&socket, None);
            return;
        }
    };
    let stream = Arc::new(stream);
    let attached = {
        let mut st = conn.lock();
        let attached = st.attach(stream.clone(), (None, None));
        if attached.is_ok() {
            st.phase = Phase::Open;
        } else {
            st.phase = Phase::Closed;
            st.queue.clear();
        }
        attached
    };
    if let Err(e) = attached {
        // Reset between the connect and the first look at it.
        let error = Error::from_io("connecting", &e);
        events::emit(&socket, Event::Connect(Err(&error)));
        finish(&socket, None);
        return;
    }
    let tls = conn.lock().session.is_tls();
    events::emit(&socket, Event::Connect(Ok(())));
    // A TLS client is ready when its handshake is done; the connection
    // task raises that.
    if !tls && !socket.gate.messages_stopped() {
        events::emit(&socket, Event::Ready);
    }
    driver::begin(conn, stream);
    driver::drive(socket).await;
}

/// Whether any TLS option was given, in which case the client's TLS
/// settings are built (and checked) at open, and no secret outlives it.
fn wants_tls_settings(t: &TlsOptions) -> bool {
    t.ssl
        || t.cert.is_some()
        || t.ca.is_some()
        || t.host.is_some()
        || t.insecure_skip_verify
        || !t.alpn.is_empty()
        || t.peer_check.is_some()
}

fn canceled(why: &str) -> Error {
    Error::new(Code::Canceled, why)
}

/// Resolves and connects within the connect timeout, if one is set.
async fn connect(
    plan: &ClientPlan,
    binds: &[SocketAddr],
    resolver: &dyn Resolver,
) -> Result<Stream> {
    let attempt = async {
        if let Some(target) = plan.target.unix() {
            return connect_unix(plan, target).await;
        }
        let targets =
            address::resolve_connect(&plan.target, plan.to_port, plan.family, resolver).await?;
        connect_any(plan, &eyeballs::interleave(&targets), binds).await
    };
    match plan.connect_timeout {
        None => attempt.await,
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    Code::TimedOut,
                    format!("connect timed out after {} ms", limit.as_millis()),
                ))
            }),
    }
}

/// Races the addresses (happy eyeballs: see `eyeballs`); the error lists
/// every failed attempt.
async fn connect_any(
    plan: &ClientPlan,
    targets: &[SocketAddr],
    binds: &[SocketAddr],
) -> Result<Stream> {
    let stream = eyeballs::race(targets, plan.attempt_delay, |target| {
        connect_one(plan, target, binds)
    })
    .await?;
    let stream = Stream::from(stream);
    net::configure_stream(&stream, &plan.conn)
        .map_err(|e| Error::from_io("configuring the connection", &e))?;
    Ok(stream)
}

#[cfg(unix)]
async fn connect_unix(plan: &ClientPlan, target: &address::UnixAddr) -> Result<Stream> {
    let bind = plan.bind.as_ref().and_then(|b| b.unix());
    let stream = Stream::from(super::unix::connect(target, bind).await?);
    net::configure_stream(&stream, &plan.conn)
        .map_err(|e| Error::from_io("configuring the connection", &e))?;
    Ok(stream)
}

#[cfg(not(unix))]
async fn connect_unix(_plan: &ClientPlan, _target: &address::UnixAddr) -> Result<Stream> {
    Err(super::unix_unsupported())
}

async fn connect_one(
    plan: &ClientPlan,
    target: SocketAddr,
    binds: &[SocketAddr],
) -> Result<tokio::net::TcpStream> {
    let flags = BindFlags {
        reuse_address: plan.reuse_address,
        reuse_port: plan.reuse_port,
        v6_only: false,
    };
    let socket = net::new_socket(&target, &flags).map_err(|e| Error::from_io("socket", &e))?;
    if let Some(bind) = local_address_for(plan, &target, binds)? {
        socket
            .bind(&bind.into())
            .map_err(|e| Error::from_io(&format!("bind {bind}"), &e))?;
    }
    let socket = TcpSocket::from_std_stream(socket.into());
    socket
        .connect(target)
        .await
        .map_err(|e| Error::from_io("connect", &e))
}

/// The local address to bind before connecting to `target`, if any: a
/// resolved `address` of the same family, or the family's wildcard when
/// only a local port was given.
fn local_address_for(
    plan: &ClientPlan,
    target: &SocketAddr,
    binds: &[SocketAddr],
) -> Result<Option<SocketAddr>> {
    if binds.is_empty() {
        if plan.bind_port == 0 {
            return Ok(None);
        }
        let family = if target.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        };
        return Ok(Some(address::wildcard(family, plan.bind_port)));
    }
    binds
        .iter()
        .find(|b| b.is_ipv6() == target.is_ipv6())
        .copied()
        .map(Some)
        .ok_or_else(|| {
            Error::new(
                Code::AddressNotAvailable,
                format!("no bind address of the same family as {target}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Options, Plan};

    fn plan(to: &str, bind: Option<&str>, port: u16) -> ClientPlan {
        let options = Options {
            to_address: Some(to.to_owned()),
            address: bind.map(str::to_owned),
            port,
            ..Options::default()
        };
        match options.plan().unwrap() {
            Plan::Client(plan) => plan,
            Plan::Server(_) => unreachable!("to_address makes a client"),
        }
    }

    #[test]
    fn the_local_address_matches_the_target_family() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        let p = plan("127.0.0.1:80", None, 0);
        assert_eq!(local_address_for(&p, &v4, &[]).unwrap(), None);
        let p = plan("127.0.0.1:80", None, 4000);
        assert_eq!(
            local_address_for(&p, &v6, &[]).unwrap(),
            Some("[::]:4000".parse().unwrap())
        );
        let binds: [SocketAddr; 1] = ["127.0.0.2:0".parse().unwrap()];
        assert_eq!(local_address_for(&p, &v4, &binds).unwrap(), Some(binds[0]));
        let err = local_address_for(&p, &v6, &binds).unwrap_err();
        assert_eq!(err.code(), Code::AddressNotAvailable);
    }

    #[test]
    fn any_tls_option_builds_tls_settings_at_open() {
        assert!(!wants_tls_settings(&TlsOptions::default()));
        let cases: [fn(&mut TlsOptions); 6] = [
            |t| t.ssl = true,
            |t| t.cert = Some(String::new()),
            |t| t.ca = Some(String::new()),
            |t| t.host = Some(String::new()),
            |t| t.insecure_skip_verify = true,
            |t| t.alpn = vec![b"h2".to_vec()],
        ];
        for set in cases {
            let mut t = TlsOptions::default();
            set(&mut t);
            assert!(wants_tls_settings(&t));
        }
    }

    #[tokio::test]
    async fn every_address_is_tried_and_every_failure_named() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = closed.local_addr().unwrap();
        drop(closed);
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = live.local_addr().unwrap();
        let p = plan("127.0.0.1:1", None, 0);
        let stream = connect_any(&p, &[refused, open], &[]).await.unwrap();
        assert_eq!(stream.peer_endpoint().unwrap(), open.into());
        let err = connect_any(&p, &[refused, refused], &[]).await.unwrap_err();
        assert_eq!(err.code(), Code::Refused);
        assert_eq!(
            err.message().matches(&refused.to_string()).count(),
            2,
            "{err}"
        );
    }
}
