//! A connection's shared state: what the threads calling `send`, `close`,
//! `pause`, `end` and `set_ssl` and the connection's driver agree on, under
//! one lock. The driver (`driver/`) acts on it; this file decides what each
//! request may do.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::session::{self, Session, TlsRole};
use super::stream::{PeerCredentials, Stream};
use super::{driver, not_connected, read_window, runner, wire, CloseMode, SendQueue, Socket};
use crate::address::Endpoint;
use crate::borrowed::{Borrowed, Completion};
use crate::error::{Code, Error, Result};
use crate::lock;
use crate::options::ConnSettings;
use crate::runtime::RuntimeRef;

/// State shared by a connection's task and the threads calling `send` and
/// `close` on it.
pub(crate) struct Connection {
    pub(super) state: Mutex<ConnState>,
    /// Whether a task drives the connection now; wakes it (or starts one)
    /// when data was queued or a close was requested.
    pub(super) runner: runner::Runner<Arc<Socket>>,
    /// Taken only by the task that drives the connection.
    pub(super) drive: Mutex<driver::DriveState>,
    /// Where a parked connection's next task is spawned.
    pub(super) rt: RuntimeRef,
    /// Shared with the listener's other connections.
    pub(super) settings: Arc<ConnSettings>,
    /// Accepted by a listener (rather than opened as a client).
    pub(super) accepted: bool,
    /// Why reads are paused (`READS_*` bits); no bit, no pause. Atomic so
    /// the driver checks it between messages without the state lock.
    pub(super) read_stops: AtomicU8,
}

/// `Connection::read_stops`: the host paused reads (`sack_tcp_pause`).
pub(super) const READS_PAUSED_BY_HOST: u8 = 1;
/// The send queue passed `pause_reads_above`; cleared at drain.
pub(super) const READS_PAUSED_FOR_SEND_QUEUE: u8 = 2;

/// A connection's addresses, captured when it is established: a socket the
/// peer reset no longer answers getpeername, and the user still wants to
/// log who it was in the error and close callbacks.
#[derive(Debug)]
pub(super) struct Addrs {
    pub(super) local: Endpoint,
    pub(super) peer: Endpoint,
    /// The peer process of a Unix connection (`None` over TCP).
    pub(super) peer_credentials: Option<PeerCredentials>,
    /// Bytes each way, time connected, TCP_INFO (boxed with the addresses).
    pub(super) figures: super::figures::Figures,
    /// An accepted connection's unit in its listener's open count, given
    /// back (taken) when its close is raised.
    pub(super) open_count: Option<Arc<std::sync::atomic::AtomicUsize>>,
    /// The idle timeout set on the live connection (`None`: the options').
    pub(super) idle_timeout: Option<Option<std::time::Duration>>,
    /// Set with `idle_timeout`; the driver re-arms its clock and clears it.
    pub(super) idle_changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Connecting,
    Open,
    /// No more messages are delivered; the queue is being flushed.
    Closing,
    Closed,
}

pub(super) struct ConnState {
    pub(super) phase: Phase,
    /// Present while connected, so `send` can write inline without waking
    /// the task when nothing is queued.
    pub(super) stream: Option<Arc<Stream>>,
    pub(super) queue: SendQueue,
    pub(super) close_request: Option<CloseMode>,
    /// Set when the queue rose above the low mark (or a send was refused);
    /// the drain event fires when it falls back.
    pub(super) drain_armed: bool,
    pub(super) session: Session,
    /// Plaintext handed to rustls whose records are not in the queue or the
    /// socket yet (held until the handshake is done, or while corked); it
    /// counts toward the queue limit like queued bytes.
    pub(super) tls_pending_plain: usize,
    /// Set while the driver delivers the chunks of one read (for TLS: feeds
    /// rustls and delivers what it decrypted): what is sent meanwhile is
    /// queued (TLS: its records stay in rustls) and leaves in one write when
    /// the pass ends, rather than one write per message delivered.
    pub(super) corked: bool,
    /// The TLS side this connection can take (client, or its listener's
    /// server); `None` for a connection accepted by a plain server.
    pub(super) tls_role: Option<TlsRole>,
    /// A client without TLS options builds its TLS settings only if it
    /// upgrades; this is the name it would then verify.
    pub(super) lazy_client_target: Option<Box<crate::address::ParsedAddress>>,
    /// The host ended its side (`sack_tcp_end`): FIN goes out after the
    /// queue, reading goes on.
    pub(super) end_requested: bool,
    /// Set once connected, kept after close.
    pub(super) addrs: Option<Box<Addrs>>,
}

impl ConnState {
    /// Makes `stream` the connection's and records its addresses. Fails
    /// only if the socket died before it could be asked.
    /// `known`: the peer and local addresses where already known (from
    /// accept, a PROXY header naming the real client, the listener's own
    /// address), which saves asking the kernel.
    pub(super) fn attach(
        &mut self,
        stream: Arc<Stream>,
        known: (Option<Endpoint>, Option<Endpoint>),
    ) -> std::io::Result<()> {
        let (peer, local) = known;
        let peer = match peer {
            Some(peer) => peer,
            None => stream.peer_endpoint()?,
        };
        let local = match local {
            Some(local) => local,
            None => stream.local_endpoint()?,
        };
        let addrs = Addrs {
            local,
            peer,
            peer_credentials: stream.peer_credentials()?,
            figures: super::figures::Figures::new(),
            open_count: None,
            idle_timeout: None,
            idle_changed: false,
        };
        self.addrs = Some(Box::new(addrs));
        self.stream = Some(stream);
        Ok(())
    }

    /// (local, peer).
    pub(super) fn addrs(&self) -> Result<(Endpoint, Endpoint)> {
        self.addrs
            .as_deref()
            .map(|a| (a.local.clone(), a.peer.clone()))
            .ok_or_else(not_connected)
    }

    /// The idle timeout in force: the one set live, else the options'.
    pub(super) fn idle_timeout(&self, settings: &ConnSettings) -> Option<std::time::Duration> {
        self.addrs
            .as_deref()
            .and_then(|a| a.idle_timeout)
            .unwrap_or(settings.idle_timeout)
    }

    /// Counts bytes the kernel took from the library.
    pub(super) fn count_sent(&mut self, n: usize) {
        if let Some(addrs) = self.addrs.as_deref_mut() {
            addrs.figures.sent += n as u64;
        }
    }

    /// Counts bytes read from the socket.
    pub(super) fn count_received(&mut self, n: usize) {
        if let Some(addrs) = self.addrs.as_deref_mut() {
            addrs.figures.received += n as u64;
        }
    }

    /// Plain: writes what the kernel takes of `data` right now, when that
    /// keeps the order (connected, nothing queued ahead, not corked); the
    /// caller queues the rest. TLS: hands all of it to rustls, whose
    /// records go out or to the queue. Returns how many bytes of `data`
    /// the library no longer needs.
    fn write_or_encrypt(&mut self, data: &[u8], window_owner: usize) -> usize {
        let inline = match self.phase {
            Phase::Open if !self.corked => self.stream.as_deref(),
            _ => None,
        };
        let (consumed, written) = match &mut self.session {
            Session::Plain => {
                let written = match inline {
                    Some(stream) if self.queue.is_empty() => {
                        data.len() - wire::write_inline(stream, data).len()
                    }
                    _ => 0,
                };
                (written, written)
            }
            Session::Tls(tls) => {
                if tls.conn.is_handshaking() || self.corked {
                    self.tls_pending_plain += data.len();
                }
                let written = if self.corked {
                    // An echo's bytes are those being delivered: a
                    // reference to them is kept, not a copy.
                    tls.hold(data, read_window::slice_of(window_owner, data));
                    0
                } else {
                    tls.send(data, &mut self.queue, inline)
                };
                (data.len(), written)
            }
        };
        self.count_sent(written);
        consumed
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len() + self.tls_pending_plain
    }

    /// Whether `send` must refuse: a close or an end was asked for, or the
    /// connection is past sending.
    pub(super) fn sending_closed(&self) -> bool {
        self.close_request.is_some()
            || self.end_requested
            || matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// Drain is owed once the queue is above the low mark.
    pub(super) fn arm_drain_if_queued(&mut self, settings: &ConnSettings) {
        if self.queued() > settings.send_queue_low_mark {
            self.drain_armed = true;
        }
    }

    /// The one place that decides whether drain fires, whichever path
    /// emptied the queue (a flush, records rustls held until the handshake
    /// or a corked pass ended, a STARTTLS pump): true once the queue is at
    /// or below the low mark after having been above it or refusing a send.
    /// Reads paused for the send queue resume at the same moment.
    pub(super) fn take_drain(&mut self, conn: &Connection) -> bool {
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
    pub(super) fn new(
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
                corked: false,
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
    pub(super) fn reads_paused(&self) -> bool {
        self.read_stops.load(Ordering::Acquire) != 0
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    pub(super) fn drive(&self) -> MutexGuard<'_, driver::DriveState> {
        lock(&self.drive)
    }

    /// Asks the connection's task to look again, starting one if the
    /// connection was parked.
    pub(super) fn wake(&self) {
        if let Some(socket) = self.runner.notify() {
            driver::spawn_drive(socket);
        }
    }

    /// Resolves when the connection's task is asked to look again: the
    /// phases before the driver (connecting, TLS detection) wait on this.
    pub(super) async fn woken(&self) {
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

    /// Copies `data` and queues it, writing at once when nothing is queued
    /// ahead of it. Never blocks and never runs a callback.
    pub(super) fn send(&self, data: &[u8]) -> Result<()> {
        let mut st = self.lock();
        self.admit(&mut st, data.len())?;
        let consumed = st.write_or_encrypt(data, self.window_owner());
        let rest = &data[consumed..];
        // Corked and plain, the bytes may be those being delivered: they
        // are then queued by reference (see `read_window`).
        let shared = match (&st.session, st.corked, rest.is_empty()) {
            (Session::Plain, true, false) => read_window::slice_of(self.window_owner(), rest),
            _ => None,
        };
        match shared {
            Some(slice) => st.queue.push_shared(slice),
            None => st.queue.push(rest),
        }
        self.after_send(&mut st);
        Ok(())
    }

    /// This connection, as `read_window` tells delivering connections
    /// apart.
    pub(super) fn window_owner(&self) -> usize {
        self as *const Connection as usize
    }

    /// Sends the caller's buffer without copying it (`send_borrowed`): as
    /// much as the kernel takes at once is written from it, the rest waits
    /// in the queue as a pointer to it, in order with copied sends. TLS
    /// encrypts it now, as `send` does: rustls makes records of it either
    /// way, and the plaintext is no longer needed once it has. Its
    /// completion is raised by the driver, never from here. On refusal the
    /// buffer comes back untouched, with no completion owed.
    pub(super) fn send_borrowed<B: Borrowed + 'static>(
        &self,
        buffer: B,
    ) -> std::result::Result<(), (Error, B)> {
        let mut st = self.lock();
        // The library holds no copy of it, so its own length is not what
        // the limit bounds; only a queue already at the limit refuses.
        if let Err(e) = self.admit(&mut st, 0) {
            return Err((e, buffer));
        }
        let consumed = st.write_or_encrypt(buffer.bytes(), self.window_owner());
        if consumed == buffer.bytes().len() {
            st.queue.push_done(Completion::sent(Box::new(buffer)));
        } else {
            st.queue.push_borrowed(Box::new(buffer), consumed);
        }
        self.after_send(&mut st);
        Ok(())
    }

    /// Refuses a send of `len` more bytes when sending is over or the queue
    /// would pass its limit.
    fn admit(&self, st: &mut ConnState, len: usize) -> Result<()> {
        if st.sending_closed() {
            return Err(Error::closed());
        }
        let limit = self.settings.send_queue_limit;
        if len > limit {
            // No drain can ever make room for this; arming one would only
            // promise a callback that never comes.
            return Err(Error::new(
                Code::QueueFull,
                format!(
                    "a send of {len} bytes can never fit the send queue limit of {limit}; \
                     split it or raise send_queue_limit"
                ),
            ));
        }
        // `>=` for a borrowed send (len 0): a queue at its limit is full.
        if st.queued().saturating_add(len) > limit || (len == 0 && st.queued() >= limit) {
            st.drain_armed = true;
            return Err(Error::new(
                Code::QueueFull,
                format!(
                    "{} bytes queued + {len} new would exceed the send queue limit of {limit}",
                    st.queued(),
                ),
            ));
        }
        Ok(())
    }

    /// Drain, the pause above the queue's mark, and the driver's wake-up,
    /// after bytes were accepted.
    fn after_send(&self, st: &mut ConnState) {
        if !st.corked {
            // While corked the bytes are only held for one write at the end
            // of the pass, which arms drain if they do not all go out.
            st.arm_drain_if_queued(&self.settings);
        }
        let pause_above = self.settings.pause_reads_above;
        if pause_above != 0 && st.queued() > pause_above {
            self.read_stops
                .fetch_or(READS_PAUSED_FOR_SEND_QUEUE, Ordering::AcqRel);
        }
        // While corked, the driver is in the middle of a pass and looks at
        // the queue when it ends: no wake-up needed (one per message of a
        // large read, otherwise).
        let driver_looks_anyway = st.corked && !st.queue.has_done();
        if (!st.queue.is_empty() || st.queue.has_done()) && !driver_looks_anyway {
            // Woken under the lock: the runner is its own lock-free state,
            // and a parked connection's new task waits for this one.
            self.wake();
        }
    }

    /// Records a close request (an abort may upgrade a graceful close,
    /// never the reverse); the caller stops messages and wakes the driver.
    pub(super) fn request_close(&self, mode: CloseMode) -> Result<()> {
        let mut st = self.lock();
        if st.phase == Phase::Closed {
            return Err(Error::closed());
        }
        if st.close_request != Some(CloseMode::Abort) {
            st.close_request = Some(mode);
        }
        Ok(())
    }

    /// Sets or clears the host's pause; a resume wakes the driver.
    pub(super) fn set_paused_by_host(&self, paused: bool) -> Result<()> {
        if self.lock().phase == Phase::Closed {
            return Err(Error::closed());
        }
        if paused {
            self.read_stops
                .fetch_or(READS_PAUSED_BY_HOST, Ordering::AcqRel);
        } else {
            let before = self
                .read_stops
                .fetch_and(!READS_PAUSED_BY_HOST, Ordering::AcqRel);
            if before & READS_PAUSED_BY_HOST != 0 {
                self.wake();
            }
        }
        Ok(())
    }

    /// Records the host's end; the driver sends FIN after the queue.
    pub(super) fn end(&self) -> Result<()> {
        let mut st = self.lock();
        if st.close_request.is_some() || matches!(st.phase, Phase::Closing | Phase::Closed) {
            return Err(Error::closed());
        }
        st.end_requested = true;
        drop(st);
        self.wake();
        Ok(())
    }

    /// The `ssl` setter's work: starts a TLS session over the live
    /// connection (STARTTLS); switching TLS off is refused.
    pub(super) fn set_ssl(&self, on: bool) -> Result<()> {
        let mut st = self.lock();
        if !on {
            return match &mut st.session {
                Session::Plain => Ok(()),
                // The demotion after error 6 (driver/demote.rs): only from
                // inside that error callback, which runs on this thread.
                Session::Tls(tls)
                    if tls.demotion != session::Demotion::NotOffered
                        && crate::events::in_callback() =>
                {
                    tls.demotion = session::Demotion::Requested;
                    Ok(())
                }
                Session::Tls(_) => Err(Error::new(
                    Code::NotApplicable,
                    "TLS cannot be switched off on a live connection; only from inside the \
                     error callback of a handshake that failed with error 6 \
                     (SACK_TCP_TLS_HANDSHAKE_FAILED)",
                )),
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
            let written = session::pump(&mut session.conn, &mut st.queue, inline);
            st.count_sent(written);
            st.session = Session::Tls(Box::new(session));
        }
        drop(st);
        self.wake();
        Ok(())
    }
}
