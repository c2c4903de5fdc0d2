//! Listening sockets: bind every address the `address` option resolves to,
//! accept on all of them from one task (so the listener's callbacks stay
//! sequential), and stop them all on close.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::net::{self, BindFlags};
use super::proxy;
use super::session::{Session, TlsRole};
use super::stream::Stream;
use super::Handler;
use super::{driver, finish, lock, Connection, Phase, Role, Socket};
use crate::address::{self, Endpoint, Family};
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::options::{ConnSettings, ServerPlan};
use crate::runtime::{self, RuntimeRef};
use crate::tls::config::ServerTls;
use crate::tls::detect::{detect, Detected, DETECT_BYTES};

/// After an accept error such as EMFILE, wait this long before retrying
/// instead of spinning on a listener that stays readable.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);
/// How often fallback detection looks again at a first segment too short
/// to decide (a lone 0x16, say).
const PEEK_RETRY: Duration = Duration::from_millis(5);

/// One listening socket.
#[derive(Debug)]
pub(super) enum Listening {
    Tcp(TcpListener),
    /// With the socket file it created, removed after the socket closes
    /// (field order: the listener drops first).
    #[cfg(unix)]
    Unix {
        listener: tokio::net::UnixListener,
        _file: Option<super::unix::PathGuard>,
    },
}

impl Listening {
    fn poll_accept(&self, cx: &mut std::task::Context<'_>) -> Poll<io::Result<(Stream, Endpoint)>> {
        match self {
            Listening::Tcp(l) => l
                .poll_accept(cx)
                .map_ok(|(stream, peer)| (stream.into(), peer.into())),
            // A client's end is usually unnamed; the connection reads its
            // real address itself.
            #[cfg(unix)]
            Listening::Unix { listener: l, .. } => l.poll_accept(cx).map_ok(|(stream, _)| {
                let peer = Endpoint::Unix(crate::unix_address::PREFIX.into());
                (stream.into(), peer)
            }),
        }
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        let addr = match self {
            Listening::Tcp(l) => socket2::SockRef::from(l).local_addr()?,
            #[cfg(unix)]
            Listening::Unix { listener: l, .. } => socket2::SockRef::from(l).local_addr()?,
        };
        Ok(Endpoint::from_sock_addr(&addr))
    }
}

pub(crate) struct Listener {
    addrs: Vec<Endpoint>,
    /// Replaced whole by `sack_tcp_reload_tls`; each accepted connection
    /// takes the one current at its accept, for good.
    tls: Option<RwLock<Arc<ServerTls>>>,
    close_requested: Mutex<bool>,
    wake: Notify,
    conn_settings: Arc<ConnSettings>,
    /// Accepted connections whose close has not been raised yet; each
    /// holds a clone and gives its unit back in `finish`.
    open_conns: Arc<AtomicUsize>,
    /// 0: no cap.
    max_conns: AtomicU32,
    /// PROXY protocol on: each connection's header must arrive within this.
    proxy_timeout: Option<Duration>,
    /// Every TCP listening socket carries `conn_settings.no_delay`, which
    /// accepted connections inherit (`net::preset_no_delay`).
    no_delay_inherited: bool,
}

impl Listener {
    /// Accepted connections open now.
    pub(super) fn connection_count(&self) -> usize {
        self.open_conns.load(Ordering::Acquire)
    }

    pub(super) fn set_max_connections(&self, max: u32) {
        self.max_conns.store(max, Ordering::Release);
    }

    /// Past the cap: a new connection is refused.
    fn full(&self) -> bool {
        let max = self.max_conns.load(Ordering::Acquire);
        max != 0 && self.connection_count() >= max as usize
    }

    pub(super) fn addrs(&self) -> &[Endpoint] {
        &self.addrs
    }

    pub(super) fn tls(&self) -> Option<Arc<ServerTls>> {
        self.tls
            .as_ref()
            .map(|t| t.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Makes `new` the configuration of every handshake accepted from now
    /// on; false on a plain listener.
    pub(super) fn replace_tls(&self, new: Arc<ServerTls>) -> bool {
        match &self.tls {
            Some(t) => {
                *t.write().unwrap_or_else(|p| p.into_inner()) = new;
                true
            }
            None => false,
        }
    }

    pub(super) fn request_close(&self) {
        *lock(&self.close_requested) = true;
        self.wake.notify_one();
    }
}

pub(super) fn open(
    rt: &RuntimeRef,
    plan: ServerPlan,
    handler: Arc<dyn Handler>,
    read_strings: bool,
) -> Result<Arc<Socket>> {
    open_with(rt, plan, handler, read_strings, bind_all)
}

/// As [`open`], with the listening sockets made by `make` (bound here, or
/// inherited: see `adopt.rs`), inside the runtime's context.
pub(super) fn open_with(
    rt: &RuntimeRef,
    plan: ServerPlan,
    handler: Arc<dyn Handler>,
    read_strings: bool,
    make: impl FnOnce(&ServerPlan) -> Result<Vec<Listening>>,
) -> Result<Arc<Socket>> {
    // Certificates first: a bad key should not leave a port bound.
    let tls = plan.tls.as_ref().map(ServerTls::build).transpose()?;
    let listeners = {
        // Registering with tokio's reactor needs the runtime's context.
        let _enter = rt.handle().enter();
        make(&plan)?
    };
    let addrs = listeners
        .iter()
        .map(Listening::local_endpoint)
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::from_io("reading the bound address", &e))?;
    let no_delay_inherited = listeners.iter().all(|l| match l {
        Listening::Tcp(l) => net::preset_no_delay(socket2::SockRef::from(l), plan.conn.no_delay),
        #[cfg(unix)]
        Listening::Unix { .. } => true, // no TCP options on Unix sockets
    });
    let socket = Socket::new(
        handler,
        read_strings,
        Role::Listener(Listener {
            addrs,
            tls: tls.map(RwLock::new),
            close_requested: Mutex::new(false),
            wake: Notify::new(),
            conn_settings: Arc::new(plan.conn),
            open_conns: Arc::new(AtomicUsize::new(0)),
            max_conns: AtomicU32::new(plan.max_connections),
            proxy_timeout: plan.proxy_timeout,
            no_delay_inherited,
        }),
    );
    let task_socket = socket.clone();
    let panic_socket = socket.clone();
    let task_rt = rt.clone();
    runtime::spawn_socket_task(
        rt,
        accept_loop(task_socket, listeners, task_rt),
        move || super::finish_after_panic(&panic_socket),
    );
    Ok(socket)
}

fn bind_all(plan: &ServerPlan) -> Result<Vec<Listening>> {
    if let Some(addr) = plan.bind.as_ref().and_then(|b| b.unix()) {
        return bind_unix(addr, plan);
    }
    let addrs = address::resolve_bind(plan.bind.as_ref(), plan.port, plan.family)?;
    let flags = BindFlags {
        reuse_address: plan.reuse_address,
        reuse_port: plan.reuse_port,
        v6_only: plan.family == Family::V6,
    };
    let mut listeners = Vec::with_capacity(addrs.len());
    // With port 0 and several addresses ("localhost" → 127.0.0.1 and ::1),
    // the first bind picks the port and the others share it.
    let mut chosen_port = None;
    for mut addr in addrs {
        if addr.port() == 0 {
            if let Some(port) = chosen_port {
                addr.set_port(port);
            }
        }
        let listener = bind_one(addr, &flags, plan.backlog)?;
        chosen_port.get_or_insert(
            listener
                .local_addr()
                .map_err(|e| Error::from_io("reading the bound address", &e))?
                .port(),
        );
        listeners.push(Listening::Tcp(listener));
    }
    Ok(listeners)
}

#[cfg(unix)]
fn bind_unix(addr: &address::UnixAddr, plan: &ServerPlan) -> Result<Vec<Listening>> {
    let (listener, guard) = super::unix::bind(addr, plan.unix_mode, plan.backlog)?;
    Ok(vec![Listening::Unix {
        listener,
        _file: guard,
    }])
}

#[cfg(not(unix))]
fn bind_unix(_addr: &address::UnixAddr, _plan: &ServerPlan) -> Result<Vec<Listening>> {
    Err(super::unix_unsupported())
}

fn bind_one(addr: SocketAddr, flags: &BindFlags, backlog: u32) -> Result<TcpListener> {
    let context = |what: &str| format!("{what} {addr}");
    let socket =
        net::new_socket(&addr, flags).map_err(|e| Error::from_io(&context("socket for"), &e))?;
    socket
        .bind(&addr.into())
        .map_err(|e| Error::from_io(&context("bind"), &e))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket
        .listen(backlog)
        .map_err(|e| Error::from_io(&context("listen on"), &e))?;
    TcpListener::from_std(socket.into()).map_err(|e| Error::from_io(&context("register"), &e))
}

async fn accept_loop(socket: Arc<Socket>, listeners: Vec<Listening>, rt: RuntimeRef) {
    let Role::Listener(listener) = &socket.role else {
        unreachable!("accept loop on a connection")
    };
    let mut next = 0usize;
    // Connections whose PROXY header was read (by a task of their own, so
    // a slow proxy holds up no other) come back here, so the listener's
    // callbacks stay on this one task.
    let (headers_tx, mut headers_rx) = tokio::sync::mpsc::unbounded_channel::<HeaderRead>();
    loop {
        if *lock(&listener.close_requested) {
            break;
        }
        tokio::select! {
            biased;
            _ = listener.wake.notified() => continue,
            Some(read) = headers_rx.recv() => match read {
                Ok((stream, _real)) if listener.full() => {
                    let peer = stream.peer_endpoint().ok();
                    refuse_after_header(stream, peer);
                }
                Ok((stream, real)) => {
                    let peer = real.map(Endpoint::from);
                    accept_one(&socket, listener, stream, &rt, (peer, None));
                }
                Err(error) => events::emit(&socket, Event::Error(&error)),
            },
            accepted = accept_any(&listeners, &listener.addrs, &mut next) => match accepted {
                Ok((stream, peer, _)) if listener.full() => refuse(stream, peer),
                Ok((stream, peer, _)) if listener.proxy_timeout.is_some() => {
                    let timeout = listener.proxy_timeout.unwrap_or_default();
                    let tx = headers_tx.clone();
                    tokio::spawn(async move {
                        let read = match proxy::read_header(&stream, timeout).await {
                            Ok(real) => Ok((stream, real)),
                            Err(e) => {
                                let _ = socket2::SockRef::from(&stream)
                                    .set_linger(Some(Duration::ZERO));
                                drop(stream);
                                Err(Error::new(
                                    e.code(),
                                    format!("connection from {peer} reset: {}", e.message()),
                                ))
                            }
                        };
                        let _ = tx.send(read);
                    });
                }
                Ok((stream, peer, local)) => {
                    // accept(2) names a Unix peer's bound path only by
                    // getpeername; for TCP its answer is the peer.
                    let peer = stream.is_tcp().then_some(peer);
                    accept_one(&socket, listener, stream, &rt, (peer, local));
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    let error = Error::from_io("accept", &e);
                    log::warn!("listener {:?}: {error}; retrying", listener.addrs);
                    events::emit(&socket, Event::Error(&error));
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    // Closes every listening descriptor (and removes a Unix listener's
    // file) before the user hears `close`.
    drop(listeners);
    finish(&socket, None);
}

/// Accepts from whichever listener is ready, starting the scan at a
/// rotating index so one busy address cannot starve the others.
/// Also returns the connection's local address when the listener's own
/// says it (bound to one address, or a Unix path), which saves asking the
/// kernel; `None` for a wildcard.
async fn accept_any(
    listeners: &[Listening],
    addrs: &[Endpoint],
    next: &mut usize,
) -> io::Result<(Stream, Endpoint, Option<Endpoint>)> {
    poll_fn(|cx| {
        let count = listeners.len();
        for i in 0..count {
            let index = (*next + i) % count;
            if let Poll::Ready(result) = listeners[index].poll_accept(cx) {
                *next = (index + 1) % count;
                let local = addrs.get(index).filter(|a| !a.is_wildcard()).cloned();
                return Poll::Ready(result.map(|(stream, peer)| (stream, peer, local)));
            }
        }
        Poll::Pending
    })
    .await
}

/// A connection past `max_connections`: closed at once with a reset, so
/// the client learns at once rather than waiting in the backlog.
fn refuse(stream: Stream, peer: Endpoint) {
    log::debug!("refusing {peer}: the listener is at its connection cap");
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// A connection whose PROXY header was read (with the client it names),
/// or why it was reset.
type HeaderRead = Result<(Stream, Option<SocketAddr>)>;

fn refuse_after_header(stream: Stream, peer: Option<Endpoint>) {
    log::debug!("refusing {peer:?}: the listener is at its connection cap");
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Errors that concern one failed handshake, not the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Sets up an accepted connection. `known`: its peer (from accept, or as a
/// PROXY header named it) and local address, where known; `None` asks the
/// socket.
fn accept_one(
    server: &Arc<Socket>,
    listener: &Listener,
    stream: Stream,
    rt: &RuntimeRef,
    known: (Option<Endpoint>, Option<Endpoint>),
) {
    let settings = listener.conn_settings.clone();
    if let Err(e) = net::configure_accepted(&stream, &settings, listener.no_delay_inherited) {
        let error = Error::from_io("configuring an accepted connection", &e);
        events::emit(server, Event::Error(&error));
        return;
    }
    let stream = Arc::new(stream);
    // One snapshot: this connection's whole TLS configuration.
    let current_tls = listener.tls();
    let role = current_tls.clone().map(TlsRole::Server);
    // TLS from the first byte, unless the server upgrades later (starttls)
    // or decides per connection (fallback: decided in the task).
    let (tls_now, detect) = match &current_tls {
        Some(tls) if tls.allow_fallback() => (false, true),
        Some(tls) => (!tls.starttls, false),
        None => (false, false),
    };
    // While the first bytes decide between TLS and plain, sends queue
    // instead of going out inline: they may yet have to be encrypted.
    let phase = if detect {
        Phase::Connecting
    } else {
        Phase::Open
    };
    let connection = Connection::new(rt.clone(), phase, settings, true);
    {
        let mut st = connection.lock();
        if let Err(e) = st.attach(stream.clone(), known) {
            // Reset while in the backlog: nobody to tell.
            log::debug!("an accepted connection died before it could be set up: {e}");
            return;
        }
        if let (true, Some(role)) = (tls_now, &role) {
            match role.new_session() {
                Ok(session) => st.session = Session::Tls(Box::new(session)),
                Err(error) => {
                    drop(st);
                    events::emit(server, Event::Error(&error));
                    return;
                }
            }
        }
        st.tls_role = role;
        // Counted from here; `finish` gives the unit back at close.
        if let Some(addrs) = st.addrs.as_deref_mut() {
            listener.open_conns.fetch_add(1, Ordering::AcqRel);
            addrs.open_count = Some(listener.open_conns.clone());
        }
    }
    let conn_socket = Socket::new(
        server.handler().for_accepted(),
        server.read_strings(),
        Role::Connection(connection),
    );
    if !server.handler().takes_accepted() {
        // Nobody receives this handle, so nobody could free it: the
        // listener keeps it, and lets it go after its close.
        drop(conn_socket.disown());
    }
    // Raised on the new connection with the listener's callbacks copied in,
    // on the listener's task: the connection's own task does not exist yet,
    // so nothing else can run for it concurrently.
    events::emit(&conn_socket, Event::Connect(Ok(())));
    if !tls_now && !detect {
        // Plain: ready now, and nothing to do until the peer speaks.
        if !conn_socket.gate.messages_stopped() {
            events::emit(&conn_socket, Event::Ready);
        }
        if let Ok(conn) = conn_socket.connection() {
            driver::begin(conn, stream);
        }
        driver::start(conn_socket);
        return;
    }
    let task_socket = conn_socket.clone();
    let panic_socket = conn_socket;
    runtime::spawn_socket_task(
        rt,
        async move {
            // Boxed: only fallback listeners detect, so the detection's
            // state need not sit in every connection's task.
            let tls = tls_now || (detect && Box::pin(detect_tls(&task_socket, &stream)).await);
            if let Ok(conn) = task_socket.connection() {
                let mut st = conn.lock();
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Open;
                }
            }
            // A TLS connection is ready when its handshake is done; the
            // connection task raises that.
            if !tls && !task_socket.gate.messages_stopped() {
                events::emit(&task_socket, Event::Ready);
            }
            if let Ok(conn) = task_socket.connection() {
                driver::begin(conn, stream);
            }
            driver::drive(task_socket).await;
        },
        move || super::finish_after_panic(&panic_socket),
    );
}

/// With allowSSLfallback: peeks (never consumes) at the first bytes until
/// they say TLS or plain, and starts the TLS session for a TLS client. A
/// client silent for the handshake timeout is served as plain, so protocols
/// where the server speaks first still work on a fallback port. Returns
/// whether the connection speaks TLS.
async fn detect_tls(socket: &Arc<Socket>, stream: &Stream) -> bool {
    let Role::Connection(conn) = &socket.role else {
        return false;
    };
    let Some(role) = conn.lock().tls_role.clone() else {
        return false;
    };
    let deadline = Instant::now() + role.handshake_timeout();
    let mut first = [0u8; DETECT_BYTES];
    loop {
        if conn.lock().close_request.is_some() {
            return false; // the connection task carries out the close
        }
        let peeked = tokio::select! {
            biased;
            _ = conn.woken() => continue,
            _ = tokio::time::sleep_until(deadline) => return false,
            peeked = stream.peek(&mut first) => peeked,
        };
        // EOF or an error: the connection task meets it on its first read.
        let Ok(n @ 1..) = peeked else {
            return false;
        };
        match detect(&first[..n]) {
            Detected::Plain => return false,
            Detected::Tls => break,
            Detected::NeedMore => {
                // The bytes seen so far stay readable, so peeking again at
                // once would spin; give the rest of the hello time to come.
                tokio::select! {
                    _ = tokio::time::sleep(PEEK_RETRY) => {}
                    _ = tokio::time::sleep_until(deadline) => return false,
                }
            }
        }
    }
    match role.new_session() {
        Ok(mut session) => {
            let mut st = conn.lock();
            // What the host sent during detection was meant for this
            // session: it leaves encrypted, once the handshake is done.
            let mut held = 0;
            // Borrowed buffers among them are done with once encrypted.
            st.queue.drain_into(|piece| {
                session.encrypt(piece);
                held += piece.len();
            });
            st.tls_pending_plain += held;
            st.session = Session::Tls(Box::new(session));
            true
        }
        Err(error) => {
            events::emit(socket, Event::Error(&error));
            let _ = socket.abort();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use crate::options::{Options, Plan};

    fn plan(address: &str, port: u16) -> ServerPlan {
        let options = Options {
            address: Some(address.to_owned()),
            port,
            ..Options::default()
        };
        match options.plan().unwrap() {
            Plan::Server(plan) => plan,
            Plan::Client(_) => unreachable!("no to_address makes a server"),
        }
    }

    #[tokio::test]
    async fn port_zero_gives_one_real_port_and_a_taken_port_is_refused() {
        let listeners = bind_all(&plan("127.0.0.1", 0)).unwrap();
        assert_eq!(listeners.len(), 1);
        let port = listeners[0].local_endpoint().unwrap().port();
        assert_ne!(port, 0);
        let err = bind_all(&plan("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.code(), Code::AddressInUse, "{err}");
        assert!(err.message().contains(&port.to_string()), "{err}");
    }

    #[tokio::test]
    async fn every_address_of_a_name_shares_the_chosen_port() {
        // "localhost" names 127.0.0.1 and, where IPv6 is up, ::1.
        let listeners = bind_all(&plan("localhost", 0)).unwrap();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_endpoint().unwrap().port())
            .collect();
        assert!(!ports.is_empty() && ports.iter().all(|&p| p == ports[0] && p != 0));
    }

    #[test]
    fn only_per_connection_accept_errors_are_transient() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::Interrupted,
            io::ErrorKind::WouldBlock,
        ] {
            assert!(is_transient(&kind.into()), "{kind:?}");
        }
        // Out of descriptors and the like are the listener's problem.
        assert!(!is_transient(&io::Error::from_raw_os_error(libc::EMFILE)));
    }
}
