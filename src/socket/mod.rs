//! The socket object: one type for listeners, clients and accepted
//! connections, as in the original `Network.TCP`.
//!
//! A [`Socket`] is shared between the user (through its handle), the task
//! that drives it, and for a moment the dispatcher. User references are
//! counted apart from Rust's `Arc` count: while any exist, the socket keeps
//! an `Arc` to itself, which is what lets the C handle be a plain pointer
//! that stays valid until the user's last `sack_tcp_free`.

mod adopt;
mod client;
mod connection;
mod driver;
mod eyeballs;
mod figures;
mod inspect;
mod listener;
mod live;
mod net;
mod proxy;
mod read_window;
mod rotate;
mod runner;
mod send_queue;
mod session;
mod stream;
mod unix;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::address::{Endpoint, Resolver, SystemResolver};
use crate::error::{Code, Error, Result};
use crate::events::{self, Event, Gate, Target};
use crate::lock;
use crate::options::{Options, Plan};
use crate::runtime;

use connection::{ConnState, Connection, Phase};
pub use send_queue::SendQueue;
use session::Session;
pub use stream::PeerCredentials;

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
        conn.send(data)
    }

    /// Sends `buffer` without copying it (`sack_tcp_send_borrowed`); its
    /// completion arrives as an event. Refused, it comes back with the
    /// error and no completion is owed.
    pub fn send_borrowed<B: crate::borrowed::Borrowed + 'static>(
        &self,
        buffer: B,
    ) -> std::result::Result<(), (Error, B)> {
        let conn = match self
            .connection()
            .and_then(|c| self.check_open().map(|()| c))
        {
            Ok(conn) => conn,
            Err(e) => return Err((e, buffer)),
        };
        conn.send_borrowed(buffer)
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
                conn.request_close(mode)?;
                // After the request is recorded, so the driver sees both.
                self.gate.stop_messages();
                conn.wake();
            }
        }
        Ok(())
    }

    /// A connection's addresses stay readable after it closes (even after
    /// a reset), so the error and close callbacks can say who it was.
    pub fn local_addr(&self) -> Result<Endpoint> {
        match &self.role {
            Role::Listener(l) => {
                self.check_open()?;
                Ok(l.addrs()[0].clone())
            }
            Role::Connection(conn) => conn.lock().addrs().map(|a| a.0),
        }
    }

    pub fn peer_addr(&self) -> Result<Endpoint> {
        let conn = self.connection()?;
        let peer = conn.lock().addrs().map(|a| a.1);
        peer
    }

    /// The peer process of a Unix connection, read at accept or connect,
    /// so it stays readable after close like the addresses.
    pub fn peer_credentials(&self) -> Result<PeerCredentials> {
        let conn = self.connection()?;
        let st = conn.lock();
        let addrs = st.addrs.as_deref().ok_or_else(not_connected)?;
        addrs.peer_credentials.ok_or_else(|| {
            Error::new(
                Code::NotApplicable,
                "peer credentials exist for Unix domain connections only",
            )
        })
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
        conn.set_paused_by_host(paused)
    }

    /// Ends the host's side (`sack_tcp_end`): what is queued is sent, then
    /// FIN (after TLS's close_notify); reading and message callbacks go on
    /// until the peer ends too, and then the connection closes.
    pub fn end(&self) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        conn.end()
    }

    /// Every address a listener is bound to (one per listening socket).
    pub fn listen_addrs(&self) -> Result<Vec<Endpoint>> {
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
        conn.set_ssl(on)
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

    fn server_tls(&self) -> Result<Arc<crate::tls::config::ServerTls>> {
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

/// Unix domain sockets on a system without them (Windows, as far as
/// tokio goes).
#[cfg(not(unix))]
fn unix_unsupported() -> Error {
    Error::new(
        Code::NotApplicable,
        "Unix domain sockets are not supported on this system",
    )
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
    if let Role::Connection(conn) = &socket.role {
        // Before `close`, so a close callback sees the listener's count
        // without this connection.
        let unit = conn
            .lock()
            .addrs
            .as_deref_mut()
            .and_then(|a| a.open_count.take());
        if let Some(count) = unit {
            count.fetch_sub(1, Ordering::AcqRel);
        }
        // Whatever ended the connection, every borrowed buffer it still
        // holds goes back before the close, the last callback.
        let finished = {
            let mut st = conn.lock();
            st.queue.clear();
            st.queue.take_done()
        };
        if !socket.gate.close_raised() {
            for done in finished {
                events::emit(socket, Event::SendDone(done));
            }
        }
    }
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
