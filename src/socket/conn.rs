//! The task that drives an established connection: reads into a per-thread
//! buffer and delivers messages, writes what `send` could not write inline,
//! and carries out graceful and abortive closes.

use std::cell::Cell;
use std::io::{self, IoSlice, Read};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::Interest;
use tokio::net::TcpStream;

use tokio::time::{Instant, Sleep};

use super::send_queue::MAX_IOVECS;
use super::session::{self, Session, TlsRole};
use super::wire::{self, read_once};
use super::{finish, CloseMode, ConnState, Connection, Phase, Socket};
use crate::error::{Code, Error};
use crate::events::{self, Event, TextChunk};
use crate::runtime;
use crate::text::{split_on_char_boundaries, Utf8Carry};

thread_local! {
    /// One read buffer per worker thread instead of one per connection: an
    /// idle connection then holds no read memory at all.
    static READ_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static PLAIN_BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

fn with_read_buffer<R>(size: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    with_buffer(&READ_BUFFER, size, f)
}

/// TLS plaintext is delivered from a buffer of its own, since the read
/// buffer may still hold records rustls has not taken yet.
fn with_plain_buffer<R>(size: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    with_buffer(&PLAIN_BUFFER, size, f)
}

fn with_buffer<R>(
    key: &'static std::thread::LocalKey<Cell<Vec<u8>>>,
    size: usize,
    f: impl FnOnce(&mut [u8]) -> R,
) -> R {
    // Taken out rather than borrowed, so nothing a callback does on this
    // thread can find it borrowed.
    let mut buf = key.with(Cell::take);
    if buf.len() < size {
        buf.resize(size, 0);
    }
    let result = f(&mut buf[..size]);
    key.with(|cell| cell.set(buf));
    result
}

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
}

/// What a connection's driver remembers from one task to the next: a
/// parked connection keeps this instead of a task.
#[derive(Default)]
pub(super) struct DriveState {
    /// The driver's own reference to the stream; the last one is dropped,
    /// closing the descriptor, before the user hears `close`.
    pub(super) stream: Option<Arc<TcpStream>>,
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

#[derive(Default)]
struct Timing {
    /// Set once a close begins; the close must finish by then.
    close: Option<Instant>,
    /// Set while a TLS handshake runs; it must finish by then.
    handshake: Option<Instant>,
    /// With an idle timeout: when the connection counts as idle unless
    /// something arrives first.
    idle: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

#[derive(Clone, Copy)]
enum Deadline {
    Close,
    Handshake,
    Idle,
}

impl Timing {
    fn slot(&mut self, which: Deadline) -> &mut Option<Instant> {
        match which {
            Deadline::Close => &mut self.close,
            Deadline::Handshake => &mut self.handshake,
            Deadline::Idle => &mut self.idle,
        }
    }
}

impl Progress {
    fn deadline(&self, which: Deadline) -> Option<Instant> {
        let timing = self.timing.as_deref()?;
        match which {
            Deadline::Close => timing.close,
            Deadline::Handshake => timing.handshake,
            Deadline::Idle => timing.idle,
        }
    }

    fn set_deadline(&mut self, which: Deadline, at: Option<Instant>) {
        match (&mut self.timing, at) {
            (None, None) => {}
            (Some(timing), _) => *timing.slot(which) = at,
            (timing @ None, Some(_)) => *timing.get_or_insert_with(Box::default).slot(which) = at,
        }
    }

    /// Arms the timer for the earliest deadline and polls it; true once it
    /// fired. With no deadline left the timing state is freed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timing) = self.timing.as_deref_mut() else {
            return false;
        };
        let next = [timing.close, timing.handshake, timing.idle]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            self.timing = None;
            return false;
        };
        let timer = match &mut timing.timer {
            Some(timer) => {
                if timer.deadline() != next {
                    timer.as_mut().reset(next);
                }
                timer
            }
            none => none.insert(Box::pin(tokio::time::sleep_until(next))),
        };
        timer.as_mut().poll(cx).is_ready()
    }
}

/// One task's view of the connection while it drives it.
struct Driver<'a> {
    socket: &'a Arc<Socket>,
    conn: &'a Connection,
    stream: &'a TcpStream,
    p: &'a mut Progress,
}

/// Hands an established connection to its driver. The task that connected
/// or accepted it then awaits [`drive`].
pub(super) fn begin(conn: &Connection, stream: Arc<TcpStream>) {
    let mut state = conn.drive();
    let idle = conn.settings.idle_timeout.map(|t| Instant::now() + t);
    state.progress.set_deadline(Deadline::Idle, idle);
    state.stream = Some(stream);
}

/// Drives the connection until it ends or parks.
pub(super) async fn drive(socket: Arc<Socket>) {
    std::future::poll_fn(|cx| poll_drive(&socket, cx)).await
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

/// Starts TLS's own close (a close_notify alert) ahead of our FIN.
fn send_close_notify(st: &mut ConnState) {
    if let Session::Tls(tls) = &mut st.session {
        tls.conn.send_close_notify();
        session::pump(&mut tls.conn, &mut st.queue, None);
    }
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
            if next.drain {
                events::emit(self.socket, Event::Drain);
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
                // ENOTCONN here means the peer already reset; the read side
                // reports that.
                let _ = socket2::SockRef::from(self.stream).shutdown(std::net::Shutdown::Write);
            }
            if self.p.peer_eof {
                return Err(End::Done);
            }
        }
        let drain = st.take_drain(self.conn);
        let wants_write = !st.queue.is_empty();
        // A closing connection reads (and drops) until the peer's FIN
        // whatever the pauses; a handshake is always read to its end.
        let reading = !self.p.peer_eof
            && (closing
                || st.session.is_handshaking()
                || (!self.conn.reads_paused() && events::may_read(self.socket)));
        drop(st);
        self.suspend_idle(!reading && !closing && !self.p.peer_eof);
        let interest = match (reading, wants_write) {
            (true, false) => Some(Interest::READABLE),
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        Ok(Next { interest, drain })
    }

    /// Stops the idle clock while the host holds reads back, and restarts
    /// it (from now) when they resume.
    fn suspend_idle(&mut self, suspend: bool) {
        let Some(idle) = self.conn.settings.idle_timeout else {
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
                    self.conn.settings.idle_timeout.unwrap_or_default()
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
        while !st.queue.is_empty() {
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = st.queue.io_slices(&mut slices);
                wire::try_send_vectored(self.stream, &slices[..n])
            };
            match written {
                Ok(0) => return Err(End::Failed(Error::new(Code::Io, "write returned 0 bytes"))),
                Ok(n) => st.queue.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Failed(Error::from_io("write", &e))),
            }
        }
        let drain = st.take_drain(self.conn);
        drop(st);
        if drain {
            events::emit(self.socket, Event::Drain);
        }
        Ok(())
    }

    fn read(&mut self) -> Result<(), End> {
        let size = self.conn.settings.read_buffer_size;
        with_read_buffer(size, |buf| {
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
            if let Some(idle) = self.conn.settings.idle_timeout {
                self.p
                    .set_deadline(Deadline::Idle, Some(Instant::now() + idle));
            }
            if self.conn.lock().session.is_tls() {
                self.read_tls(buf, n)
            } else {
                self.deliver(&buf[..n]);
                Ok(())
            }
        })
    }

    /// Feeds received records to rustls, sends what it answers, raises
    /// ready when a handshake completes, and delivers the plaintext. rustls
    /// holds at most 16 KiB of plaintext, so a large read is fed in turns,
    /// the plaintext drained (into a second per-thread buffer) between them.
    fn read_tls(&mut self, buf: &mut [u8], n: usize) -> Result<(), End> {
        self.conn.lock().tls_corked = true;
        let result = self.read_tls_corked(buf, n);
        self.uncork();
        result
    }

    /// Sends what rustls produced during a corked pass (handshake flights,
    /// tickets, the records of sends made from callbacks) in one write.
    fn uncork(&mut self) {
        let mut st = self.conn.lock();
        let st = &mut *st;
        st.tls_corked = false;
        if let Session::Tls(tls) = &mut st.session {
            session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
            if !tls.conn.is_handshaking() {
                st.tls_pending_plain = 0;
            }
        }
    }

    fn read_tls_corked(&mut self, buf: &mut [u8], n: usize) -> Result<(), End> {
        let mut fed = 0;
        while fed < n {
            let took = self.feed_tls(&buf[fed..n])?;
            fed += took;
            self.check_handshake_done();
            let size = self.conn.settings.read_buffer_size;
            let Some(delivered) = with_plain_buffer(size, |plain| self.drain_plaintext(plain))?
            else {
                return Ok(()); // the peer ended the TLS session
            };
            if took == 0 && delivered == 0 {
                return Err(End::Failed(Error::new(
                    Code::Io,
                    "TLS: rustls took no more records and held no plaintext",
                )));
            }
        }
        Ok(())
    }

    /// Gives rustls as much of `input` as it takes now; returns how much.
    fn feed_tls(&mut self, input: &[u8]) -> Result<usize, End> {
        let mut st = self.conn.lock();
        let st = &mut *st;
        let Session::Tls(tls) = &mut st.session else {
            return Ok(input.len());
        };
        tls.note_initial(input);
        let mut rest = input;
        while !rest.is_empty() {
            match tls.conn.read_tls(&mut rest) {
                // After close_notify rustls takes nothing more.
                Ok(0) => break,
                Ok(_) => {}
                // Backpressure (its plaintext buffer is full): drain, then
                // come back for the rest.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(End::Failed(Error::from_io("TLS read", &e))),
            }
            if let Err(e) = tls.conn.process_new_packets() {
                let role = st.tls_role.as_ref().expect("a TLS session has a role");
                let error = tls.failure(role, &e);
                // rustls queued an alert; let it go out before the close.
                session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
                return Err(End::TlsFailed(error));
            }
        }
        // What rustls answers leaves when the pass is uncorked.
        Ok(input.len() - rest.len())
    }

    /// Delivers the plaintext rustls holds, a buffer at a time; returns the
    /// bytes delivered, or `None` once the peer ended the session.
    fn drain_plaintext(&mut self, plain: &mut [u8]) -> Result<Option<usize>, End> {
        let mut delivered = 0;
        loop {
            let read = {
                let mut st = self.conn.lock();
                let Session::Tls(tls) = &mut st.session else {
                    return Ok(Some(delivered));
                };
                tls.conn.reader().read(plain)
            };
            match read {
                Ok(0) => {
                    // close_notify: the peer ended cleanly.
                    self.on_peer_eof();
                    return Ok(None);
                }
                Ok(k) => {
                    delivered += k;
                    self.deliver(&plain[..k]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Some(delivered)),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.on_peer_eof();
                    return Ok(None);
                }
                Err(e) => return Err(End::Failed(Error::from_io("TLS read", &e))),
            }
        }
    }

    /// The error for an EOF that came before the handshake was done.
    fn handshake_cut_short(&self) -> Option<Error> {
        match &self.conn.lock().session {
            Session::Tls(tls) if tls.conn.is_handshaking() => Some(tls.closed_during_handshake()),
            _ => None,
        }
    }

    /// Raises `ready` once per completed handshake (again after STARTTLS).
    fn check_handshake_done(&mut self) {
        if self.p.deadline(Deadline::Handshake).is_none() {
            return;
        }
        {
            let mut st = self.conn.lock();
            let st = &mut *st;
            let Session::Tls(tls) = &mut st.session else {
                return;
            };
            if tls.conn.is_handshaking() {
                return;
            }
            tls.alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
            // rustls encrypted the plaintext it held; it is in the queue now.
            st.tls_pending_plain = 0;
        }
        self.p.set_deadline(Deadline::Handshake, None);
        if !self.socket.gate.messages_stopped() {
            events::emit(self.socket, Event::Ready);
        }
    }

    fn on_peer_eof(&mut self) {
        self.p.peer_eof = true;
        // Held bytes and a half-finished character (as U+FFFD) still reach
        // the user before the end; a pause holds them back no longer.
        if let Some(held) = self.p.held.take() {
            self.deliver_now(&held);
        }
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

    /// Delivers `data`, or holds it while reads are paused (and behind
    /// bytes held earlier, to keep the order).
    fn deliver(&mut self, data: &[u8]) {
        if self.p.held.is_some() || self.conn.reads_paused() {
            if !self.socket.gate.messages_stopped() {
                self.p
                    .held
                    .get_or_insert_with(Box::default)
                    .extend_from_slice(data);
            }
            return;
        }
        self.deliver_now(data);
    }

    /// Delivers what a pause held, a read buffer at a time, until a pause
    /// stops it again.
    fn deliver_held(&mut self) {
        let Some(held) = self.p.held.take() else {
            return;
        };
        let size = self.conn.settings.read_buffer_size;
        let mut rest = &held[..];
        while !rest.is_empty() {
            if self.conn.reads_paused() {
                self.p.held = Some(Box::new(rest.to_vec()));
                return;
            }
            let (now, later) = rest.split_at(rest.len().min(size));
            self.deliver_now(now);
            rest = later;
        }
    }

    fn deliver_now(&mut self, data: &[u8]) {
        if self.socket.gate.messages_stopped() {
            return; // draining a closing socket: nobody wants these bytes
        }
        if self.socket.read_strings() {
            let mut out = Vec::with_capacity(data.len() + 4);
            self.p.text.decode(data, &mut out);
            self.deliver_text(&out);
        } else if self.p.text.pending_len() > 0 {
            // Text mode was switched off with a partial character held back:
            // those bytes come first, raw.
            let mut joined = self.p.text.take_pending();
            joined.extend_from_slice(data);
            for piece in joined.chunks(self.conn.settings.read_buffer_size) {
                events::emit(self.socket, Event::Message(piece));
            }
        } else {
            events::emit(self.socket, Event::Message(data));
        }
    }

    fn deliver_text(&self, text: &[u8]) {
        let mut with_nul = Vec::new();
        for piece in split_on_char_boundaries(text, self.conn.settings.read_buffer_size) {
            with_nul.clear();
            with_nul.extend_from_slice(piece);
            with_nul.push(0);
            let chunk = TextChunk::new(&with_nul).expect("decoder produced invalid UTF-8");
            events::emit(self.socket, Event::Text(chunk));
        }
    }

    /// Marks the connection closed and arranges a reset where one is due;
    /// returns the failure the user must hear about before `close`.
    fn tear_down(&mut self, end: End) -> Option<Error> {
        if matches!(end, End::Reset | End::Failed(_)) {
            // SO_LINGER 0: closing the descriptor then sends RST, not FIN.
            let _ = socket2::SockRef::from(self.stream).set_linger(Some(Duration::ZERO));
        }
        let mut st = self.conn.lock();
        if let End::Failed(error) | End::TlsFailed(error) = &end {
            let peer = st.stream.as_ref().and_then(|s| s.peer_addr().ok());
            log::debug!("connection with {peer:?} failed: {error}");
        }
        st.phase = Phase::Closed;
        st.stream = None;
        st.queue.clear();
        match end {
            End::Failed(error) | End::TlsFailed(error) => Some(error),
            End::Done | End::Reset | End::Dropped => None,
        }
    }
}
