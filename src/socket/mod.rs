//! The socket object: one type for listeners, clients and accepted
//! connections, as in the original `Network.TCP`.
//!
//! A [`Socket`] is shared between the user (through its handle), the task
//! that drives it, and for a moment the dispatcher. User references are
//! counted apart from Rust's `Arc` count: while any exist, the socket keeps
//! an `Arc` to itself, which is what lets the C handle be a plain pointer
//! that stays valid until the user's last `sack_tcp_free`.

mod client;
mod driver;
mod listener;
mod net;
mod runner;
mod send_queue;
mod session;
mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpStream;

use crate::address::{Resolver, SystemResolver};
use crate::error::{Code, Error, Result};
use crate::events::{self, Event, Gate, Target};
use crate::lock;
use crate::options::{ConnSettings, Options, Plan};
use crate::runtime::{self, RuntimeRef};

pub use send_queue::SendQueue;
use session::{Session, TlsRole};

pub use crate::runtime::{live_sockets as live_count, wait_live_sockets as wait_live_count};

/// How a close was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseMode {
    /// Flush the queue, send FIN, wait for the peer's FIN.
    Graceful,
    /// Drop the queue and reset the connection.
    Abort,
}

/// Receives a socket's events. The C surface implements it with function
/// pointers; Rust tests implement it with closures.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, socket: &Socket, event: Event<'_>);

    /// The handler for a connection accepted by this (listening) socket:
    /// a copy of the current callbacks, changeable without touching the
    /// listener's.
    fn for_accepted(&self) -> Arc<dyn Handler>;

    /// Whether the host takes the connections this listener accepts (and
    /// must free each). When not, the listener keeps each one and lets it
    /// go after its close, so nothing leaks that nobody was handed.
    fn takes_accepted(&self) -> bool {
        true
    }

    /// Lets the C surface reach its own handler type to replace callbacks.
    fn as_any(&self) -> &dyn std::any::Any;
}

pub struct Socket {
    handler: Arc<dyn Handler>,
    gate: Gate,
    read_strings: AtomicBool,
    user_refs: AtomicUsize,
    /// Holds the socket alive while the user has references (see module doc).
    self_ref: Mutex<Option<Arc<Socket>>>,
    role: Role,
}

pub(crate) enum Role {
    Listener(listener::Listener),
    Connection(Connection),
}

/// State shared by a connection's task and the threads calling `send` and
/// `close` on it.
pub(crate) struct Connection {
    state: Mutex<ConnState>,
    /// Whether a task drives the connection now; wakes it (or starts one)
    /// when data was queued or a close was requested.
    runner: runner::Runner<Arc<Socket>>,
    /// Taken only by the task that drives the connection.
    drive: Mutex<driver::DriveState>,
    /// Where a parked connection's next task is spawned.
    rt: RuntimeRef,
    /// Shared with the listener's other connections.
    settings: Arc<ConnSettings>,
    /// Accepted by a listener (rather than opened as a client).
    accepted: bool,
    /// Why reads are paused (`READS_*` bits); no bit, no pause. Atomic so
    /// the driver checks it between messages without the state lock.
    read_stops: AtomicU8,
}

/// `Connection::read_stops`: the host paused reads (`sack_tcp_pause`).
const READS_PAUSED_BY_HOST: u8 = 1;
/// The send queue passed `pause_reads_above`; cleared at drain.
const READS_PAUSED_FOR_SEND_QUEUE: u8 = 2;

/// A connection's addresses, captured when it is established: a socket the
/// peer reset no longer answers getpeername, and the user still wants to
/// log who it was in the error and close callbacks.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    local: SocketAddr,
    peer: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Open,
    /// No more messages are delivered; the queue is being flushed.
    Closing,
    Closed,
}

struct ConnState {
    phase: Phase,
    /// Present while connected, so `send` can write inline without waking
    /// the task when nothing is queued.
    stream: Option<Arc<TcpStream>>,
    queue: SendQueue,
    close_request: Option<CloseMode>,
    /// Set when the queue rose above the low mark (or a send was refused);
    /// the drain event fires when it falls back.
    drain_armed: bool,
    session: Session,
    /// Plaintext handed to rustls whose records are not in the queue or the
    /// socket yet (held until the handshake is done, or while corked); it
    /// counts toward the queue limit like queued bytes.
    tls_pending_plain: usize,
    /// Set while the driver feeds rustls and delivers what it decrypted:
    /// records sent meanwhile stay in rustls and leave in one write when
    /// the pass ends, rather than one write per record delivered.
    tls_corked: bool,
    /// The TLS side this connection can take (client, or its listener's
    /// server); `None` for a connection accepted by a plain server.
    tls_role: Option<TlsRole>,
    /// A client without TLS options builds its TLS settings only if it
    /// upgrades; this is the name it would then verify.
    lazy_client_target: Option<Box<crate::address::ParsedAddress>>,
    /// The host ended its side (`sack_tcp_end`): FIN goes out after the
    /// queue, reading goes on.
    end_requested: bool,
    /// Set once connected, kept after close.
    addrs: Option<Box<Addrs>>,
}

impl ConnState {
    /// Makes `stream` the connection's and records its addresses. Fails
    /// only if the socket died before it could be asked.
    fn attach(&mut self, stream: Arc<TcpStream>) -> std::io::Result<()> {
        let addrs = Addrs {
            local: stream.local_addr()?,
            peer: stream.peer_addr()?,
        };
        self.addrs = Some(Box::new(addrs));
        self.stream = Some(stream);
        Ok(())
    }

    fn addrs(&self) -> Result<Addrs> {
        self.addrs.as_deref().copied().ok_or_else(not_connected)
    }

    fn queued(&self) -> usize {
        self.queue.len() + self.tls_pending_plain
    }

    /// Whether `send` must refuse: a close or an end was asked for, or the
    /// connection is past sending.
    fn sending_closed(&self) -> bool {
        self.close_request.is_some()
            || self.end_requested
            || matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// The one place that decides whether drain fires, whichever path
    /// emptied the queue (a flush, records rustls held until the handshake
    /// or a corked pass ended, a STARTTLS pump): true once the queue is at
    /// or below the low mark after having been above it or refusing a send.
    /// Reads paused for the send queue resume at the same moment.
    fn take_drain(&mut self, conn: &Connection) -> bool {
        if self.queued() > conn.settings.send_queue_low_mark {
            return false;
        }
        conn.read_stops
            .fetch_and(!READS_PAUSED_FOR_SEND_QUEUE, Ordering::AcqRel);
        let fire = self.drain_armed && self.phase == Phase::Open && self.close_request.is_none();
        if fire {
            self.drain_armed = false;
        }
        fire
    }
}

impl Connection {
    fn new(
        rt: RuntimeRef,
        phase: Phase,
        settings: Arc<ConnSettings>,
        accepted: bool,
    ) -> Connection {
        Connection {
            accepted,
            state: Mutex::new(ConnState {
                phase,
                stream: None,
                queue: SendQueue::default(),
                close_request: None,
                drain_armed: false,
                session: Session::Plain,
                tls_pending_plain: 0,
                tls_corked: false,
                tls_role: None,
                lazy_client_target: None,
                end_requested: false,
                addrs: None,
            }),
            runner: runner::Runner::new(),
            drive: Mutex::default(),
            rt,
            settings,
            read_stops: AtomicU8::new(0),
        }
    }

    /// True while reads are paused, for whatever reason.
    fn reads_paused(&self) -> bool {
        self.read_stops.load(Ordering::Acquire) != 0
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    fn drive(&self) -> MutexGuard<'_, driver::DriveState> {
        lock(&self.drive)
    }

    /// Asks the connection's task to look again, starting one if the
    /// connection was parked.
    fn wake(&self) {
        if let Some(socket) = self.runner.notify() {
            driver::spawn_drive(socket);
        }
    }

    /// Resolves when the connection's task is asked to look again: the
    /// phases before the driver (connecting, TLS detection) wait on this.
    async fn woken(&self) {
        std::future::poll_fn(|cx| {
            if self.runner.prepare_wait(cx.waker()) {
                self.runner.begin_pass();
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// The waker a parked connection leaves with the I/O driver: readiness
/// starts a task for it.
impl std::task::Wake for Socket {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Role::Connection(conn) = &self.role {
            conn.wake();
        }
    }
}

impl Socket {
    fn new(handler: Arc<dyn Handler>, read_strings: bool, role: Role) -> Arc<Socket> {
        let socket = Arc::new(Socket {
            handler,
            gate: Gate::default(),
            read_strings: AtomicBool::new(read_strings),
            user_refs: AtomicUsize::new(1),
            self_ref: Mutex::new(None),
            role,
        });
        *lock(&socket.self_ref) = Some(socket.clone());
        let weak: std::sync::Weak<dyn runtime::Stop> = Arc::downgrade(&socket) as _;
        runtime::register(socket.registry_key(), weak);
        socket
    }

    /// Opens a listener or, when `to_address` is set, starts a client
    /// connecting. Bind errors and malformed options come back here; connect
    /// errors arrive through the connect event.
    pub fn open(options: &Options, handler: Arc<dyn Handler>) -> Result<Arc<Socket>> {
        Socket::open_with_resolver(options, handler, Arc::new(SystemResolver))
    }

    /// As [`Socket::open`], with the name resolver a client uses replaced
    /// (tests substitute one so they never touch DNS).
    pub fn open_with_resolver(
        options: &Options,
        handler: Arc<dyn Handler>,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Arc<Socket>> {
        let plan = options.plan()?;
        let rt = runtime::get()?;
        match plan {
            Plan::Server(plan) => listener::open(&rt, plan, handler, options.read_strings),
            Plan::Client(plan) => client::open(&rt, plan, handler, options.read_strings, resolver),
        }
    }

    pub fn handler(&self) -> &Arc<dyn Handler> {
        &self.handler
    }

    pub fn is_listener(&self) -> bool {
        matches!(self.role, Role::Listener(_))
    }

    /// True once the close event has been delivered (or is being delivered).
    pub fn is_closed(&self) -> bool {
        self.gate.is_closed()
    }

    /// `SACK_TCP_ERR_CLOSED` once the close event has been delivered.
    pub fn check_open(&self) -> Result<()> {
        if self.gate.is_closed() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    fn connection(&self) -> Result<&Connection> {
        match &self.role {
            Role::Connection(conn) => Ok(conn),
            Role::Listener(_) => Err(Error::new(
                Code::NotApplicable,
                "this is a listening socket; it has no connection to send on or read from",
            )),
        }
    }

    /// Adds a user reference (`sack_tcp_retain`).
    pub fn retain(&self) -> Result<()> {
        self.user_refs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > 0).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| Error::invalid("retain on a handle whose references were all released"))
    }

    /// A connection a listener accepted (the user got it in a connect event).
    pub fn is_accepted(&self) -> bool {
        matches!(&self.role, Role::Connection(c) if c.accepted)
    }

    /// Gives the user's only reference back to the library without closing
    /// the socket: for an accepted connection nobody was handed (no connect
    /// callback), so it is released when its task ends instead of leaking.
    /// As with `release`, the caller drops what this returns.
    #[must_use = "drop the returned reference after the last use of the socket"]
    pub fn disown(&self) -> Option<Arc<Socket>> {
        let was = self
            .user_refs
            .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire);
        match was {
            Ok(_) => lock(&self.self_ref).take(),
            Err(_) => None,
        }
    }

    /// Drops a user reference (`sack_tcp_free`). The last one closes the
    /// socket gracefully if it is still open, since nobody could close it
    /// afterwards, and hands back the socket's reference to itself: the
    /// caller drops it once it no longer uses `self`, because that drop may
    /// free the socket.
    #[must_use = "drop the returned reference after the last use of the socket"]
    pub fn release(&self) -> Result<Option<Arc<Socket>>> {
        let before = self
            .user_refs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| Error::invalid("free on a handle that was already released"))?;
        if before > 1 {
            return Ok(None);
        }
        let _ = self.request_close(CloseMode::Graceful);
        Ok(lock(&self.self_ref).take())
    }

    pub fn read_strings(&self) -> bool {
        self.read_strings.load(Ordering::Relaxed)
    }

    /// Switches text mode; it applies from the next read on.
    pub fn set_read_strings(&self, on: bool) -> Result<()> {
        self.check_open()?;
        self.read_strings.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Copies `data` and queues it, writing at once when nothing is queued
    /// ahead of it. Never blocks and never runs a callback.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        let mut st = conn.lock();
        if st.sending_closed() {
            return Err(Error::closed());
        }
        let limit = conn.settings.send_queue_limit;
        if data.len() > limit {
            // No drain can ever make room for this; arming one would only
            // promise a callback that never comes.
            return Err(Error::new(
                Code::QueueFull,
                format!(
                    "a send of {} bytes can never fit the send queue limit of {limit}; \
                     split it or raise send_queue_limit",
                    data.len()
                ),
            ));
        }
        if st.queued().saturating_add(data.len()) > limit {
            st.drain_armed = true;
            return Err(Error::new(
                Code::QueueFull,
                format!(
                    "{} bytes queued + {} new would exceed the send queue limit of {limit}",
                    st.queued(),
                    data.len()
                ),
            ));
        }
        let mut guard = st;
        let st = &mut *guard;
        // Written straight to the kernel only when connected and nothing is
        // queued ahead; otherwise queued for the task.
        let inline = match st.phase {
            Phase::Open => st.stream.as_deref(),
            _ => None,
        };
        match &mut st.session {
            Session::Plain => {
                let rest = match inline {
                    Some(stream) if st.queue.is_empty() => wire::write_inline(stream, data),
                    _ => data,
                };
                st.queue.push(rest);
            }
            Session::Tls(tls) => {
                if tls.conn.is_handshaking() || st.tls_corked {
                    st.tls_pending_plain += data.len();
                }
                if st.tls_corked {
                    tls.encrypt(data);
                } else {
                    tls.send(data, &mut st.queue, inline);
                }
            }
        }
        if st.queued() > conn.settings.send_queue_low_mark {
            st.drain_armed = true;
        }
        let pause_above = conn.settings.pause_reads_above;
        if pause_above != 0 && st.queued() > pause_above {
            conn.read_stops
                .fetch_or(READS_PAUSED_FOR_SEND_QUEUE, Ordering::AcqRel);
        }
        let wake = !st.queue.is_empty();
        drop(guard);
        if wake {
            conn.wake();
        }
        Ok(())
    }

    /// Bytes accepted by `send` and not yet handed to the kernel.
    pub fn queued_bytes(&self) -> Result<usize> {
        let conn = self.connection()?;
        self.check_open()?;
        let len = conn.lock().queued();
        Ok(len)
    }

    /// Starts a graceful close (`sack_tcp_close`).
    pub fn close(&self) -> Result<()> {
        self.request_close(CloseMode::Graceful)
    }

    /// Resets the connection, or closes a listener (`sack_tcp_abort`).
    pub fn abort(&self) -> Result<()> {
        self.request_close(CloseMode::Abort)
    }

    fn request_close(&self, mode: CloseMode) -> Result<()> {
        self.check_open()?;
        match &self.role {
            Role::Listener(l) => l.request_close(),
            Role::Connection(conn) => {
                let mut st = conn.lock();
                if st.phase == Phase::Closed {
                    return Err(Error::closed());
                }
                // An abort may upgrade a graceful close; never the reverse.
                if st.close_request != Some(CloseMode::Abort) {
                    st.close_request = Some(mode);
                }
                drop(st);
                self.gate.stop_messages();
                conn.wake();
            }
        }
        Ok(())
    }

    /// A connection's addresses stay readable after it closes (even after
    /// a reset), so the error and close callbacks can say who it was.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        match &self.role {
            Role::Listener(l) => {
                self.check_open()?;
                Ok(l.addrs()[0])
            }
            Role::Connection(conn) => conn.lock().addrs().map(|a| a.local),
        }
    }

    pub fn peer_addr(&self) -> Result<SocketAddr> {
        let conn = self.connection()?;
        let peer = conn.lock().addrs().map(|a| a.peer);
        peer
    }

    /// Stops reading the connection (`sack_tcp_pause`): no message
    /// callback starts after this returns (or, called from one, after it
    /// returns), and the socket is not read, so TCP's window closes on the
    /// peer. Bytes already read are held and come first after `resume`.
    pub fn pause(&self) -> Result<()> {
        self.set_paused_by_host(true)
    }

    /// Undoes `pause` (`sack_tcp_resume`); reads paused for the send queue
    /// or the event queue stay paused until those drain.
    pub fn resume(&self) -> Result<()> {
        self.set_paused_by_host(false)
    }

    fn set_paused_by_host(&self, paused: bool) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        if conn.lock().phase == Phase::Closed {
            return Err(Error::closed());
        }
        if paused {
            conn.read_stops
                .fetch_or(READS_PAUSED_BY_HOST, Ordering::AcqRel);
        } else {
            let before = conn
                .read_stops
                .fetch_and(!READS_PAUSED_BY_HOST, Ordering::AcqRel);
            if before & READS_PAUSED_BY_HOST != 0 {
                conn.wake();
            }
        }
        Ok(())
    }

    /// Ends the host's side (`sack_tcp_end`): what is queued is sent, then
    /// FIN (after TLS's close_notify); reading and message callbacks go on
    /// until the peer ends too, and then the connection closes.
    pub fn end(&self) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        let mut st = conn.lock();
        if st.close_request.is_some() || matches!(st.phase, Phase::Closing | Phase::Closed) {
            return Err(Error::closed());
        }
        st.end_requested = true;
        drop(st);
        conn.wake();
        Ok(())
    }

    /// Every address a listener is bound to (one per listening socket).
    pub fn listen_addrs(&self) -> Result<Vec<SocketAddr>> {
        self.check_open()?;
        match &self.role {
            Role::Listener(l) => Ok(l.addrs().to_vec()),
            Role::Connection(_) => Err(Error::new(
                Code::NotApplicable,
                "this is a connection, not a listener; use the local port getter",
            )),
        }
    }
}

impl Socket {
    /// The `ssl` setter: `true` starts a TLS handshake over the live
    /// connection (STARTTLS); `false` is refused, since TLS cannot be
    /// taken back once spoken.
    pub fn set_ssl(&self, on: bool) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        let mut st = conn.lock();
        if !on {
            return if st.session.is_tls() {
                Err(Error::new(
                    Code::NotApplicable,
                    "TLS cannot be switched off on a live connection",
                ))
            } else {
                Ok(())
            };
        }
        if st.session.is_tls() {
            return Ok(());
        }
        if st.sending_closed() {
            return Err(Error::closed());
        }
        let role = match (&st.tls_role, &st.lazy_client_target) {
            (Some(role), _) => role.clone(),
            (None, Some(target)) => {
                let role = TlsRole::Client(crate::tls::config::ClientTls::build(
                    &crate::options::TlsOptions::default(),
                    target,
                )?);
                st.tls_role = Some(role.clone());
                role
            }
            (None, None) => {
                return Err(Error::new(
                    Code::NotApplicable,
                    "this connection's server has no certificates; give it cert or hosts \
                     (with starttls) to upgrade accepted connections",
                ))
            }
        };
        let mut session = role.new_session()?;
        {
            let st = &mut *st;
            let inline = match st.phase {
                Phase::Open => st.stream.as_deref(),
                _ => None,
            };
            session::pump(&mut session.conn, &mut st.queue, inline);
            st.session = Session::Tls(Box::new(session));
        }
        drop(st);
        conn.wake();
        Ok(())
    }

    /// The `ssl` getter: TLS is on and its handshake is done.
    pub fn is_secure(&self) -> Result<bool> {
        let conn = self.connection()?;
        self.check_open()?;
        let secure = conn.lock().session.is_secure();
        Ok(secure)
    }

    /// The ALPN protocol the handshake settled on, if any.
    pub fn alpn_protocol(&self) -> Result<Option<Vec<u8>>> {
        let conn = self.connection()?;
        self.check_open()?;
        let st = conn.lock();
        Ok(match &st.session {
            Session::Tls(tls) => tls.alpn.clone(),
            Session::Plain => None,
        })
    }

    /// `addCert`: serves another certificate from the next handshake on.
    pub fn add_cert(
        &self,
        hosts: &str,
        cert: &str,
        key: &str,
        passphrase: Option<&str>,
    ) -> Result<()> {
        self.check_open()?;
        self.server_tls()?.add_cert(hosts, cert, key, passphrase)
    }

    /// The `allowSSLfallback` setter, for connections accepted from now on.
    pub fn set_allow_ssl_fallback(&self, on: bool) -> Result<()> {
        self.check_open()?;
        self.server_tls()?.set_allow_fallback(on);
        Ok(())
    }

    fn server_tls(&self) -> Result<&crate::tls::config::ServerTls> {
        match &self.role {
            Role::Listener(l) => l.tls().ok_or_else(|| {
                Error::new(
                    Code::NotApplicable,
                    "this server has no TLS: open it with cert or hosts to add certificates",
                )
            }),
            Role::Connection(_) => Err(Error::new(
                Code::NotApplicable,
                "certificates are added to the listening socket, not to a connection",
            )),
        }
    }
}

fn not_connected() -> Error {
    Error::new(Code::NotApplicable, "the socket is not connected yet")
}

impl Socket {
    fn registry_key(&self) -> usize {
        self as *const Socket as usize
    }
}

impl Target for Socket {
    fn gate(&self) -> &Gate {
        &self.gate
    }

    fn call(&self, event: Event<'_>) {
        self.handler.handle(self, event);
    }

    fn resume_reading(&self) {
        if let Role::Connection(conn) = &self.role {
            conn.wake();
        }
    }
}

impl runtime::Stop for Socket {
    fn stop(&self) {
        // Errors only mean it is closed already.
        let _ = self.request_close(CloseMode::Abort);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        runtime::deregister(self.registry_key());
    }
}

/// Used by the tasks: the error (if any), then the close event exactly
/// once, whatever path ended the socket.
pub(crate) fn finish(socket: &Arc<Socket>, error: Option<&Error>) {
    events::finish(socket, error);
}

/// What a panicking task leaves behind: the socket reports the panic and
/// closes, so the user still gets exactly one close.
pub(crate) fn finish_after_panic(socket: &Arc<Socket>) {
    if let Role::Connection(conn) = &socket.role {
        let mut st = conn.lock();
        st.phase = Phase::Closed;
        st.stream = None;
        st.queue.clear();
        drop(st);
        conn.drive().stream = None;
    }
    let error = Error::new(Code::Panic, "internal error: the socket's task panicked");
    log::error!("{error}");
    finish(socket, Some(&error));
}
#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// Every connection carries a `Socket`, parked or not; with the I/O
    /// driver's registration (256 bytes) and the stream it is most of what
    /// an idle connection costs, and the benchmark's target is 1 KiB. The
    /// addresses kept for after a reset (a box) and the pause state cost 8
    /// bytes each here; the bytes a pause holds are boxed too.
    #[test]
    fn an_idle_connection_stays_small() {
        assert!(std::mem::size_of::<super::Socket>() <= 232);
        assert_eq!(std::mem::size_of::<super::SendQueue>(), 8);
        assert!(std::mem::size_of::<super::driver::DriveState>() <= 32);
    }
}
