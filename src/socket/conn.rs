//! The task that drives an established connection: reads into a per-thread
//! buffer and delivers messages, writes what `send` could not write inline,
//! and carries out graceful and abortive closes.

use std::cell::Cell;
use std::io::{self, IoSlice, Read};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use tokio::io::{Interest, Ready};
use tokio::net::TcpStream;

use tokio::time::{Instant, Sleep};

use super::send_queue::MAX_IOVECS;
use super::session::{self, Session, TlsRole};
use super::{finish, CloseMode, ConnState, Connection, Phase, Socket};
use crate::error::{Code, Error};
use crate::events::{self, Event, TextChunk};
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

/// Writes as much of `data` as the kernel takes right now; returns the rest.
/// Errors are left for the task, which meets them on its next write.
pub(super) fn write_inline<'a>(stream: &TcpStream, mut data: &'a [u8]) -> &'a [u8] {
    while !data.is_empty() {
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    data
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

struct Driver<'a> {
    socket: &'a Arc<Socket>,
    conn: &'a Connection,
    stream: &'a TcpStream,
    text: Utf8Carry,
    /// Set once a close begins; the close must finish by then.
    deadline: Option<Instant>,
    /// Set while a TLS handshake runs; it must finish by then.
    handshake_deadline: Option<Instant>,
    /// With an idle timeout: when the connection counts as idle unless
    /// something arrives first.
    idle_deadline: Option<Instant>,
    fin_sent: bool,
    peer_eof: bool,
}

pub(super) async fn run(socket: Arc<Socket>, stream: Arc<TcpStream>) {
    let conn = socket.connection().expect("connection task on a listener");
    let mut driver = Driver {
        socket: &socket,
        conn,
        stream: &stream,
        text: Utf8Carry::new(),
        deadline: None,
        handshake_deadline: None,
        idle_deadline: conn.settings.idle_timeout.map(|t| Instant::now() + t),
        fin_sent: false,
        peer_eof: false,
    };
    // Boxed and made only when a deadline exists: an idle connection
    // without timeouts then carries no timer in its task.
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let end = loop {
        let interest = match driver.next_interest() {
            Ok(interest) => interest,
            Err(end) => break end,
        };
        let deadline = [
            driver.deadline,
            driver.handshake_deadline,
            driver.idle_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        arm(&mut timer, deadline);
        tokio::select! {
            biased;
            _ = conn.wake.notified() => continue,
            _ = expired(&mut timer), if deadline.is_some() => break driver.timed_out(),
            ready = stream.ready(interest) => match ready {
                Ok(ready) => {
                    if let Err(end) = driver.on_ready(ready) {
                        break end;
                    }
                }
                Err(e) => break End::Failed(Error::from_io("waiting for the socket", &e)),
            },
        }
    };
    let failure = driver.tear_down(end);
    // The last reference to the stream: dropping it closes the descriptor,
    // which must happen before the user hears `close`.
    drop(stream);
    finish(&socket, failure.as_ref());
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

fn arm(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Option<Instant>) {
    match (timer.as_mut(), deadline) {
        (_, None) => *timer = None,
        (Some(t), Some(d)) if t.deadline() != d => t.as_mut().reset(d),
        (Some(_), Some(_)) => {}
        (None, Some(d)) => *timer = Some(Box::pin(tokio::time::sleep_until(d))),
    }
}

/// Resolves when the armed timer fires; never without one.
fn expired(timer: &mut Option<Pin<Box<Sleep>>>) -> impl std::future::Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| match timer.as_mut() {
        Some(t) => t.as_mut().poll(cx),
        None => std::task::Poll::Pending,
    })
}

impl Driver<'_> {
    /// Applies close requests, sends FIN once the queue is flushed, and says
    /// what to wait for next (or that the connection is done).
    fn next_interest(&mut self) -> Result<Interest, End> {
        let mut st = self.conn.lock();
        if st.session.is_handshaking() && self.handshake_deadline.is_none() {
            // A handshake began: at connect, at accept, or by STARTTLS.
            let timeout = st.tls_role.as_ref().map(TlsRole::handshake_timeout);
            self.handshake_deadline = timeout.map(|t| Instant::now() + t);
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
        if st.phase == Phase::Closing && st.queue.is_empty() {
            if !self.fin_sent {
                self.fin_sent = true;
                // ENOTCONN here means the peer already reset; the read side
                // reports that.
                let _ = socket2::SockRef::from(self.stream).shutdown(std::net::Shutdown::Write);
            }
            if self.peer_eof {
                return Err(End::Done);
            }
        }
        let wants_write = !st.queue.is_empty();
        Ok(match (self.peer_eof, wants_write) {
            (false, false) => Interest::READABLE,
            (false, true) => Interest::READABLE | Interest::WRITABLE,
            (true, _) => Interest::WRITABLE,
        })
    }

    fn start_deadline(&mut self) {
        // Closing has its own deadline; idleness no longer matters.
        self.idle_deadline = None;
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.conn.settings.close_timeout);
        }
    }

    fn timed_out(&mut self) -> End {
        let now = Instant::now();
        if self.idle_deadline.is_some_and(|d| d <= now) && self.deadline.is_none() {
            return End::Failed(Error::new(
                Code::TimedOut,
                format!(
                    "nothing received for {:?} (idle timeout); connection reset",
                    self.conn.settings.idle_timeout.unwrap_or_default()
                ),
            ));
        }
        if self.handshake_deadline.is_some_and(|d| d <= now) {
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

    fn on_ready(&mut self, ready: Ready) -> Result<(), End> {
        if ready.is_writable() || ready.is_write_closed() {
            self.flush()?;
        }
        if ready.is_readable() || ready.is_read_closed() {
            self.read()?;
        }
        Ok(())
    }

    /// Writes queued bytes until the kernel pushes back, then fires drain if
    /// it was armed and the queue is low enough.
    fn flush(&mut self) -> Result<(), End> {
        let mut st = self.conn.lock();
        while !st.queue.is_empty() {
            let written = {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = st.queue.io_slices(&mut slices);
                self.stream.try_write_vectored(&slices[..n])
            };
            match written {
                Ok(0) => return Err(End::Failed(Error::new(Code::Io, "write returned 0 bytes"))),
                Ok(n) => st.queue.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Failed(Error::from_io("write", &e))),
            }
        }
        let drained = st.drain_armed
            && st.phase == Phase::Open
            && st.close_request.is_none()
            && st.queued() <= self.conn.settings.send_queue_low_mark;
        if drained {
            st.drain_armed = false;
        }
        drop(st);
        if drained {
            events::emit(self.socket, Event::Drain);
        }
        Ok(())
    }

    fn read(&mut self) -> Result<(), End> {
        let size = self.conn.settings.read_buffer_size;
        with_read_buffer(size, |buf| {
            let n = match self.stream.try_read(buf) {
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
                self.idle_deadline = Some(Instant::now() + idle);
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
        session::pump(&mut tls.conn, &mut st.queue, st.stream.as_deref());
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
        if self.handshake_deadline.is_none() {
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
        self.handshake_deadline = None;
        if !self.socket.gate.messages_stopped() {
            events::emit(self.socket, Event::Ready);
        }
    }

    fn on_peer_eof(&mut self) {
        self.peer_eof = true;
        // A half-finished character at the end of the stream still reaches
        // the user, as U+FFFD, before the close.
        if self.text.pending_len() > 0 && self.socket.read_strings() {
            let mut out = Vec::new();
            self.text.finish(&mut out);
            self.deliver_text(&out);
        }
        let mut st = self.conn.lock();
        if st.phase == Phase::Open {
            // Like Node's default (allowHalfOpen false): the peer ended, so
            // flush what is queued and end our side too.
            st.phase = Phase::Closing;
            drop(st);
            self.socket.gate.stop_messages();
            self.start_deadline();
        }
    }

    fn deliver(&mut self, data: &[u8]) {
        if self.socket.gate.messages_stopped() {
            return; // draining a closing socket: nobody wants these bytes
        }
        if self.socket.read_strings() {
            let mut out = Vec::with_capacity(data.len() + 4);
            self.text.decode(data, &mut out);
            self.deliver_text(&out);
        } else if self.text.pending_len() > 0 {
            // Text mode was switched off with a partial character held back:
            // those bytes come first, raw.
            let mut joined = self.text.take_pending();
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
