//! The task that drives an established connection: reads into a per-thread
//! buffer and delivers messages, writes what `send` could not write inline,
//! and carries out graceful and abortive closes.
//!
//! This file holds the poll loop and the decisions (what to wait for, when
//! to park, how the connection ended); its parts live beside it:
//! [`deadlines`] (close, handshake and idle timers), [`delivery`] (read
//! buffers and message callbacks, pauses included) and [`tls_read`]
//! (feeding rustls and draining its plaintext).

mod deadlines;
mod delivery;
mod demote;
mod tls_read;

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::Interest;
use tokio::time::Instant;

use super::send_queue::MAX_IOVECS;
use super::session::TlsRole;
use super::stream::Stream;
use super::wire::{self, read_once};
use super::{finish, read_window, CloseMode, Connection, Phase, Socket};
use crate::borrowed::Completion;
use crate::error::{Code, Error};
use crate::events::{self, Event};
use crate::runtime;
use crate::text::Utf8Carry;
use deadlines::{Deadline, Timing};
use delivery::with_read_buffer;
use tls_read::send_close_notify;

/// The smallest read: one per-thread buffer of this size serves every
/// connection of a worker, so large reads cost no memory per connection.
const READ_SIZE: usize = 64 * 1024;

/// How the connection ended.
enum End {
    /// Both directions finished cleanly.
    Done,
    /// Reset on purpose: an abort, a runtime shutdown, or a close timeout
    /// that left nothing unsent.
    Reset,
    /// Closed without a reset after the close timeout: everything was
    /// written, only the peer's FIN never came.
    Dropped,
    /// An error the user hears about before `close`.
    Failed(Error),
    /// A TLS failure: reported like `Failed`, but closed with FIN so the
    /// alert rustls queued reaches the peer.
    TlsFailed(Error),
    /// A TLS failure already reported to the error callback (which did not
    /// demote the connection): closed like `TlsFailed`, nothing reported.
    TlsFailedReported,
}

/// What a connection's driver remembers from one task to the next: a
/// parked connection keeps this instead of a task.
#[derive(Default)]
pub(super) struct DriveState {
    /// The driver's own reference to the stream; the last one is dropped,
    /// closing the descriptor, before the user hears `close`.
    pub(super) stream: Option<Arc<Stream>>,
    progress: Progress,
}

#[derive(Default)]
struct Progress {
    text: Utf8Carry,
    /// Boxed, and present only while some deadline is set: a connection
    /// without timeouts then carries none of this.
    timing: Option<Box<Timing>>,
    /// Bytes read (decrypted, not yet text-decoded) that a pause stopped
    /// from being delivered; they go first once reads resume. At most one
    /// read's worth, since a paused connection is not read.
    #[allow(clippy::box_collection)] // 8 bytes, not 24, in every connection
    held: Option<Box<Vec<u8>>>,
    fin_sent: bool,
    peer_eof: bool,
    /// The host's `end` was taken up: close_notify queued, FIN follows the
    /// queue.
    end_started: bool,
    /// The idle timeout stands still while reads are paused: the host, not
    /// the peer, stopped the traffic.
    idle_suspended: bool,
}

/// One task's view of the connection while it drives it.
struct Driver<'a> {
    socket: &'a Arc<Socket>,
    conn: &'a Connection,
    stream: &'a Stream,
    p: &'a mut Progress,
}

/// Hands an established connection to its driver. The task that connected
/// or accepted it then awaits [`drive`]; a plain accepted connection is
/// handed to [`start`] instead, which parks it until it has work.
pub(super) fn begin(conn: &Connection, stream: Arc<Stream>) {
    let mut state = conn.drive();
    let idle = conn
        .lock()
        .idle_timeout(&conn.settings)
        .map(|t| Instant::now() + t);
    state.progress.set_deadline(Deadline::Idle, idle);
    state.stream = Some(stream);
}

/// Drives the connection until it ends or parks.
pub(super) async fn drive(socket: Arc<Socket>) {
    std::future::poll_fn(|cx| poll_drive(&socket, cx)).await
}

/// Hands a new connection, after [`begin`], to the driver without starting
/// a task when it has nothing to do yet: it parks at once, and its first
/// bytes (or a send or close) start its first task. A fresh connection
/// would otherwise spawn a task only to park it, the spawn waking another
/// worker thread for nothing. A connection with a deadline to time (an
/// idle timeout) gets its task at once.
pub(super) fn start(socket: Arc<Socket>) {
    let Ok(conn) = socket.connection() else {
        return;
    };
    let (stream, timed) = {
        let state = conn.drive();
        (state.stream.clone(), state.progress.timing.is_some())
    };
    let Some(stream) = stream else {
        return;
    };
    // False when a callback already asked for work (a send that queued, a
    // close): a task then does it.
    if timed || !conn.runner.park(socket.clone()) {
        spawn_drive(socket);
        return;
    }
    let waker = Waker::from(socket.clone());
    let readable = stream
        .poll_read_ready(&mut Context::from_waker(&waker))
        .is_ready();
    // Data already waiting: take the role back and run, unless a wake-up
    // started a task first.
    if readable && conn.runner.unpark() {
        spawn_drive(socket);
    }
}

/// Starts a task for a parked connection that has work again.
pub(super) fn spawn_drive(socket: Arc<Socket>) {
    let Ok(conn) = socket.connection() else {
        return;
    };
    let rt = conn.rt.clone();
    let panic_socket = socket.clone();
    runtime::spawn_socket_task(&rt, drive(socket), move || {
        super::finish_after_panic(&panic_socket)
    });
}

fn poll_drive(socket: &Arc<Socket>, cx: &mut Context<'_>) -> Poll<()> {
    let conn = socket.connection().expect("connection task on a listener");
    // Uncontended: only the connection's one task takes it (see runner.rs).
    let mut state = conn.drive();
    let DriveState { stream, progress } = &mut *state;
    let Some(stream_ref) = stream.as_deref() else {
        return Poll::Ready(()); // ended already
    };
    let mut driver = Driver {
        socket,
        conn,
        stream: stream_ref,
        p: progress,
    };
    let end = match driver.poll(cx) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(Pass::Parked) => return Poll::Ready(()),
        Poll::Ready(Pass::Ended(end)) => end,
    };
    let failure = driver.tear_down(end);
    // The driver's reference is the last one to the stream: dropping it
    // closes the descriptor, which must happen before the user hears
    // `close`.
    *stream = None;
    drop(state);
    finish(socket, failure.as_ref());
    Poll::Ready(())
}

/// What the driver waits for next.
struct Next {
    /// `None`: neither reading nor writing (paused with nothing to send,
    /// or half-open after the peer's FIN): only a request wakes it.
    interest: Option<Interest>,
    /// Drain is due; raised before anything else is looked at.
    drain: bool,
    /// Borrowed sends done with, reported before drain.
    finished: Vec<Completion>,
}

/// How a task's turn at the connection ended.
enum Pass {
    /// The connection is done; the task reports how.
    Ended(End),
    /// Nothing to do and nothing to time: the task gave the connection up.
    Parked,
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl Driver<'_> {
    /// One turn: works until the connection must wait, then waits (Pending),
    /// parks, or ends.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Pass> {
        loop {
            self.conn.runner.begin_pass();
            let next = match self.next_interest() {
                Ok(next) => next,
                Err(end) => return Poll::Ready(Pass::Ended(end)),
            };
            if next.drain || !next.finished.is_empty() {
                for done in next.finished {
                    events::emit(self.socket, Event::SendDone(done));
                }
                if next.drain {
                    events::emit(self.socket, Event::Drain);
                }
                continue; // the callback may have sent or closed
            }
            if self.p.held.is_some() && !self.conn.reads_paused() {
                self.deliver_held();
                continue;
            }
            let interest = next.interest;
            if self.p.poll_timer(cx) {
                return Poll::Ready(Pass::Ended(self.timed_out()));
            }
            let progressed = match interest.map(|i| self.step(i, cx)) {
                Some(Ok(progressed)) => progressed,
                Some(Err(End::TlsFailed(error))) if self.may_demote(&error) => {
                    match self.offer_demotion(error) {
                        Ok(()) => true,
                        Err(end) => return Poll::Ready(Pass::Ended(end)),
                    }
                }
                Some(Err(end)) => return Poll::Ready(Pass::Ended(end)),
                None => false,
            };
            if progressed {
                continue;
            }
            // Only reading (or waiting for a request), with nothing to time:
            // the I/O driver, or the request, can start a task on its own,
            // so this one is given up.
            let parkable = matches!(interest, None | Some(Interest::READABLE));
            if self.p.timing.is_none() && parkable && self.park(interest.is_some()) {
                return Poll::Ready(Pass::Parked);
            }
            if self.conn.runner.prepare_wait(cx.waker()) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Flushes and reads as far as the socket is ready for them; true when
    /// either happened, so the state is worth another look.
    fn step(&mut self, interest: Interest, cx: &mut Context<'_>) -> Result<bool, End> {
        let mut progressed = false;
        if interest.is_writable() {
            let ready = self.stream.poll_write_ready(cx);
            progressed |= self.act_on(ready, Self::flush)?;
        }
        if interest.is_readable() {
            let ready = self.stream.poll_read_ready(cx);
            progressed |= self.act_on(ready, Self::read)?;
        }
        Ok(progressed)
    }

    fn act_on(
        &mut self,
        ready: Poll<io::Result<()>>,
        act: fn(&mut Self) -> Result<(), End>,
    ) -> Result<bool, End> {
        match ready {
            Poll::Ready(Ok(())) => act(self).map(|()| true),
            Poll::Ready(Err(e)) => Err(End::Failed(Error::from_io("waiting for the socket", &e))),
            Poll::Pending => Ok(false),
        }
    }

    /// Leaves a waker made from the socket with the I/O driver (when
    /// `on_readable`) and gives the task up. False when the connection has
    /// work after all and this task stays its runner.
    fn park(&mut self, on_readable: bool) -> bool {
        if !self.conn.runner.park(self.socket.clone()) {
            return false; // a request came in: look again
        }
        if !on_readable {
            return true; // only a request (resume, send, close) wakes it
        }
        let waker = Waker::from(self.socket.clone());
        match self
            .stream
            .poll_read_ready(&mut Context::from_waker(&waker))
        {
            Poll::Pending => true,
            // Readable already: take the role back, unless a notification
            // started another task first (it then does the reading).
            Poll::Ready(_) => !self.conn.runner.unpark(),
        }
    }

    /// Applies close and end requests, sends FIN once the queue is flushed,
    /// and says what to wait for next (or that the connection is done).
    fn next_interest(&mut self) -> Result<Next, End> {
        let mut st = self.conn.lock();
        if st.session.is_handshaking() && self.p.deadline(Deadline::Handshake).is_none() {
            // A handshake began: at connect, at accept, or by STARTTLS.
            let timeout = st.tls_role.as_ref().map(TlsRole::handshake_timeout);
            let at = timeout.map(|t| Instant::now() + t);
            self.p.set_deadline(Deadline::Handshake, at);
        }
        let changed = st
            .addrs
            .as_deref_mut()
            .is_some_and(|a| std::mem::take(&mut a.idle_changed));
        if changed
            && st.phase == Phase::Open
            && !self.p.idle_suspended
            && self.p.deadline(Deadline::Close).is_none()
        {
            // Set live: the clock restarts from now with the new timeout.
            let idle = st.idle_timeout(&self.conn.settings);
            self.p
                .set_deadline(Deadline::Idle, idle.map(|t| Instant::now() + t));
        }
        match st.close_request {
            Some(CloseMode::Abort) => return Err(End::Reset),
            // A close asked for during a handshake waits for it: the bytes
            // sent before ready can only go out encrypted, after it.
            Some(CloseMode::Graceful)
                if st.phase == Phase::Open && !st.session.is_handshaking() =>
            {
                st.phase = Phase::Closing;
                self.start_deadline();
                send_close_notify(&mut st);
            }
            _ => {}
        }
        // The host ended its side: TLS's close_notify goes out first, then
        // FIN once the queue is empty, while reading goes on.
        if st.end_requested
            && st.phase == Phase::Open
            && !st.session.is_handshaking()
            && !self.p.end_started
        {
            self.p.end_started = true;
            send_close_notify(&mut st);
        }
        let closing = st.phase == Phase::Closing;
        if (closing || self.p.end_started) && st.queue.is_empty() {
            if !self.p.fin_sent {
                self.p.fin_sent = true;
                // After the peer's FIN the connection is done, and closing
                // the descriptor sends our FIN: everything was read, so
                // nothing unread turns it into a reset. One system call
                // fewer per connection.
                if !self.p.peer_eof {
                    // ENOTCONN here means the peer already reset; the read
                    // side reports that.
                    let _ = socket2::SockRef::from(self.stream).shutdown(std::net::Shutdown::Write);
                }
            }
            if self.p.peer_eof {
                return Err(End::Done);
            }
        }
        let drain = st.take_drain(self.conn);
        let finished = st.queue.take_done();
        let wants_write = !st.queue.is_empty();
        // A closing connection reads (and drops) until the peer's FIN
        // whatever the pauses; a handshake is always read to its end.
        let reading = !self.p.peer_eof
            && (closing
                || st.session.is_handshaking()
                || (!self.conn.reads_paused() && events::may_read(self.socket)));
        let idle = st.idle_timeout(&self.conn.settings);
        drop(st);
        self.suspend_idle(idle, !reading && !closing && !self.p.peer_eof);
        let interest = match (reading, wants_write) {
            (true, false) => Some(Interest::READABLE),
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        Ok(Next {
            interest,
            drain,
            finished,
        })
    }

    /// The idle timeout in force (set live, else the options').
    fn idle_timeout(&self) -> Option<Duration> {
        self.conn.lock().idle_timeout(&self.conn.settings)
    }

    /// Stops the idle clock while the host holds reads back, and restarts
    /// it (from now) when they resume.
    fn suspend_idle(&mut self, idle: Option<Duration>, suspend: bool) {
        let Some(idle) = idle else {
            return;
        };
        if suspend && !self.p.idle_suspended {
            self.p.idle_suspended = true;
            self.p.set_deadline(Deadline::Idle, None);
        } else if !suspend && self.p.idle_suspended {
            self.p.idle_suspended = false;
            if self.p.deadline(Deadline::Close).is_none() {
                self.p
                    .set_deadline(Deadline::Idle, Some(Instant::now() + idle));
            }
        }
    }

    fn start_deadline(&mut self) {
        // Closing has its own deadline; idleness no longer matters.
        self.p.set_deadline(Deadline::Idle, None);
        if self.p.deadline(Deadline::Close).is_none() {
            let at = Instant::now() + self.conn.settings.close_timeout;
            self.p.set_deadline(Deadline::Close, Some(at));
        }
    }

    fn timed_out(&mut self) -> End {
        let now = Instant::now();
        let closing = self.p.deadline(Deadline::Close).is_some();
        if !closing && self.p.deadline(Deadline::Idle).is_some_and(|d| d <= now) {
            return End::Failed(Error::new(
                Code::TimedOut,
                format!(
                    "nothing received for {:?} (idle timeout); connection reset",
                    self.idle_timeout().unwrap_or_default()
                ),
            ));
        }
        if self
            .p
            .deadline(Deadline::Handshake)
            .is_some_and(|d| d <= now)
        {
            let timeout = self
                .conn
                .lock()
                .tls_role
                .as_ref()
                .map(TlsRole::handshake_timeout);
            return End::Failed(Error::new(
                Code::TimedOut,
                format!(
                    "TLS handshake did not finish within {:?}",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        let unsent = self.conn.lock().queue.len();
        if unsent == 0 {
            return End::Dropped;
        }
        End::Failed(Error::new(
            Code::TimedOut,
            format!(
                "graceful close timed out after {:?} with {unsent} bytes unsent; connection reset",
                self.conn.settings.close_timeout
            ),
        ))
    }

    /// Writes queued bytes until the kernel pushes back, then raises drain
    /// if it is due ([`ConnState::take_drain`], which every pass also asks,
    /// for the paths that empty the queue without a flush). Asked here too
    /// so that drain follows the write at once, before a close requested
    /// by a thread that saw the bytes arrive can cancel it.
    fn flush(&mut self) -> Result<(), End> {
        let mut st = self.conn.lock();
        let outcome = loop {
            if st.queue.is_empty() {
                break Ok(());
            }
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = st.queue.io_slices(&mut slices);
                wire::try_send_vectored(self.stream, &slices[..n])
            };
            match written {
                Ok(0) => break Err(End::Failed(Error::new(Code::Io, "write returned 0 bytes"))),
                Ok(n) => {
                    st.queue.consume(n);
                    st.count_sent(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(End::Failed(Error::from_io("write", &e))),
            }
        };
        // On failure the close reports them, with those never sent.
        outcome?;
        let finished = st.queue.take_done();
        let drain = st.take_drain(self.conn);
        drop(st);
        for done in finished {
            events::emit(self.socket, Event::SendDone(done));
        }
        if drain {
            events::emit(self.socket, Event::Drain);
        }
        Ok(())
    }

    /// One large read (at least [`READ_SIZE`], whatever the read buffer
    /// size, which only bounds what one message callback gets), delivered
    /// in chunks. Sends made while the chunks of one read are delivered
    /// leave together in one write when the pass ends (corked).
    fn read(&mut self) -> Result<(), End> {
        let size = READ_SIZE.max(self.conn.settings.read_buffer_size);
        with_read_buffer(size, |shared| {
            let buf = &mut Arc::get_mut(shared).expect("this thread's alone")[..size];
            let n = match read_once(self.stream, buf) {
                Ok(0) => {
                    if let Some(error) = self.handshake_cut_short() {
                        return Err(End::TlsFailed(error));
                    }
                    self.on_peer_eof();
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if is_retry(&e) => return Ok(()),
                Err(e) => return Err(End::Failed(Error::from_io("read", &e))),
            };
            let (tls, idle) = {
                let mut st = self.conn.lock();
                st.count_received(n);
                (st.session.is_tls(), st.idle_timeout(&self.conn.settings))
            };
            if let Some(idle) = idle {
                self.p
                    .set_deadline(Deadline::Idle, Some(Instant::now() + idle));
            }
            if tls {
                self.read_tls(buf, n)
            } else {
                // One chunk (ping-pong) keeps its inline write; more are
                // corked, and the next pass flushes them in one write.
                let cork = n > self.conn.settings.read_buffer_size;
                if !cork {
                    self.deliver(&buf[..n]);
                    return Ok(());
                }
                self.conn.lock().corked = true;
                {
                    // Sends of these very bytes queue references to them.
                    let _window = read_window::open(self.conn.window_owner(), shared.clone(), n);
                    self.deliver(&shared[..n]);
                }
                self.conn.lock().corked = false;
                // The held sends go out now, in one write, straight from
                // the read buffer; what the kernel would not take is copied
                // so the buffer is free for the next read. Drain is owed
                // only for that.
                let flushed = self.flush();
                let mut st = self.conn.lock();
                st.queue.unshare();
                st.arm_drain_if_queued(&self.conn.settings);
                drop(st);
                flushed
            }
        })
    }

    fn on_peer_eof(&mut self) {
        self.p.peer_eof = true;
        // Held bytes and a half-finished character (as U+FFFD) still reach
        // the user before the end; a pause holds them back no longer.
        self.deliver_held_now();
        if self.p.text.pending_len() > 0 && self.socket.read_strings() {
            let mut out = Vec::new();
            self.p.text.finish(&mut out);
            self.deliver_text(&out);
        }
        if self.conn.lock().phase != Phase::Open {
            return;
        }
        if !self.socket.gate.messages_stopped() {
            events::emit(self.socket, Event::End);
        }
        let mut st = self.conn.lock();
        // Half-open: the host may still send, and ends with end or close.
        // Otherwise, like Node's default (allowHalfOpen false): flush what
        // is queued and end our side too.
        let half_open = self.conn.settings.allow_half_open && !self.p.end_started;
        if st.phase == Phase::Open && !half_open {
            // Messages stay deliverable: in the queued mode the ones read
            // before the FIN may still wait for dispatch, and nothing can be
            // read after it.
            st.phase = Phase::Closing;
            drop(st);
            self.start_deadline();
        }
    }

    /// Marks the connection closed and arranges a reset where one is due;
    /// returns the failure the user must hear about before `close`.
    fn tear_down(&mut self, end: End) -> Option<Error> {
        if let End::TlsFailed(_) = &end {
            self.send_held_alert();
        }
        if matches!(end, End::Reset | End::Failed(_)) {
            // SO_LINGER 0: closing the descriptor then sends RST, not FIN.
            let _ = socket2::SockRef::from(self.stream).set_linger(Some(Duration::ZERO));
        }
        let mut st = self.conn.lock();
        if let Some(addrs) = st.addrs.as_deref_mut() {
            // The last TCP_INFO, while the descriptor is still open.
            addrs.figures.end(self.stream);
        }
        if let End::Failed(error) | End::TlsFailed(error) = &end {
            let peer = st.addrs.as_deref().map(|a| a.peer.to_string());
            log::debug!("connection with {peer:?} failed: {error}");
        }
        st.phase = Phase::Closed;
        st.stream = None;
        st.queue.clear();
        match end {
            End::Failed(error) | End::TlsFailed(error) => Some(error),
            End::Done | End::Reset | End::Dropped | End::TlsFailedReported => None,
        }
    }
}
