//! The one place callbacks are delivered from.
//!
//! Socket code never calls user code directly: it builds an [`Event`] and
//! passes it to [`emit`]. In the default mode the event is delivered at
//! once on the runtime thread that raised it; in the queued mode it is
//! copied into a queue that the host drains on its own thread with
//! [`dispatch`], woken by a descriptor that is readable while events wait.
//! Both modes deliver through [`deliver`], which keeps the rules in one
//! spot, checked against each target's [`Gate`]: close exactly once and
//! nothing after it, an error only right before the close ([`finish`]), no
//! message, ready or end after the host asked for a close, and a flag that
//! tells `shutdown` it is running inside a callback.
//!
//! Events know their targets only as [`Target`]s (a socket implements it),
//! so this module depends on nothing above it.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::borrowed::Completion;
use crate::error::{Code, Error, Result};
use crate::lock;

/// What happened to a socket. Borrowed data lives only for the callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// A client's connect attempt finished (`Ok`) or failed; for a server,
    /// a new connection was accepted (always `Ok`; the event is raised on the
    /// new connection, whose handler was copied from the listener).
    Connect(std::result::Result<(), &'a Error>),
    /// The socket can send.
    Ready,
    /// Bytes arrived (binary mode).
    Message(&'a [u8]),
    /// Text arrived (text mode): whole UTF-8 characters only.
    Text(TextChunk<'a>),
    /// The send queue fell to or below the low mark.
    Drain,
    /// A borrowed send is done with the caller's buffer; `run` hands it
    /// back. Raised before the close of its connection, always.
    SendDone(Completion),
    /// The peer finished sending (FIN, or TLS close_notify). Without
    /// half-open the connection then closes; with it, it may still send.
    End,
    /// Something went wrong; `Error::data` carries extra bytes when the
    /// error has any.
    Error(&'a Error),
    /// The last event a socket ever gets.
    Close,
}

/// A piece of received text with a NUL byte after it, so the C surface can
/// hand out a C string without copying.
#[derive(Debug, Clone, Copy)]
pub struct TextChunk<'a> {
    text: &'a str,
    with_nul: &'a [u8],
}

impl<'a> TextChunk<'a> {
    /// `with_nul` must be `text` followed by one NUL byte.
    pub fn new(with_nul: &'a [u8]) -> Option<TextChunk<'a>> {
        let (&last, body) = with_nul.split_last()?;
        if last != 0 {
            return None;
        }
        let text = std::str::from_utf8(body).ok()?;
        Some(TextChunk { text, with_nul })
    }

    pub fn as_str(&self) -> &'a str {
        self.text
    }

    pub fn bytes_with_nul(&self) -> &'a [u8] {
        self.with_nul
    }
}

/// What events are delivered to: a socket, seen only through what the
/// delivery rules need.
pub trait Target: Send + Sync + 'static {
    fn gate(&self) -> &Gate;

    /// Runs the host's callback for `event`.
    fn call(&self, event: Event<'_>);

    /// Reading stopped for the queued mode's limits may go on: the host
    /// dispatched enough.
    fn resume_reading(&self);
}

/// A target's delivery state, checked around every callback.
#[derive(Debug, Default)]
pub struct Gate {
    /// The close event was raised (it may still wait in the event queue).
    close_raised: AtomicBool,
    /// The close callback was delivered (or is running).
    closed: AtomicBool,
    /// The host asked for a close: messages, ready and end stop.
    messages_stopped: AtomicBool,
}

impl Gate {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn close_raised(&self) -> bool {
        self.close_raised.load(Ordering::Acquire)
    }

    /// True the first time only: a target raises close exactly once.
    fn raise_close(&self) -> bool {
        !self.close_raised.swap(true, Ordering::AcqRel)
    }

    pub fn messages_stopped(&self) -> bool {
        self.messages_stopped.load(Ordering::Acquire)
    }

    /// From now on no message, ready or end callback starts, even for
    /// events already waiting in the queue.
    pub fn stop_messages(&self) {
        self.messages_stopped.store(true, Ordering::Release);
    }
}

/// Where callbacks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// On the runtime thread that raised the event.
    #[default]
    Direct,
    /// On whichever thread calls `dispatch`.
    Queued,
}

static QUEUED: AtomicBool = AtomicBool::new(false);

/// Chosen with the runtime's configuration, before any socket exists.
pub fn set_delivery(mode: Delivery) {
    QUEUED.store(mode == Delivery::Queued, Ordering::Release);
}

pub fn delivery() -> Delivery {
    if QUEUED.load(Ordering::Acquire) {
        Delivery::Queued
    } else {
        Delivery::Direct
    }
}

thread_local! {
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// True while this thread is running a user callback.
pub fn in_callback() -> bool {
    CALLBACK_DEPTH.with(|d| d.get() > 0)
}

struct DepthGuard;

impl DepthGuard {
    fn enter() -> DepthGuard {
        CALLBACK_DEPTH.with(|d| d.set(d.get() + 1));
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        CALLBACK_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Raises one event. Must only be called from the task that owns the
/// socket (or, for the connect event of an accepted connection, the
/// listener's task before the connection's task exists), which is what
/// keeps one socket's events in order and its callbacks sequential.
pub fn emit<T: Target>(target: &Arc<T>, event: Event<'_>) {
    let gate = target.gate();
    if let Event::Close = event {
        if !gate.raise_close() {
            return;
        }
    } else if gate.close_raised() {
        debug_assert!(false, "event {event:?} after close");
        return;
    }
    match delivery() {
        Delivery::Direct => deliver(&**target, event),
        Delivery::Queued => queue().push(target.clone(), OwnedEvent::from(event)),
    }
}

/// Ends a target's events, whatever ended it: the error (if any), then the
/// close, exactly once. Messages raised before stay deliverable: in the
/// queued mode they may still wait for dispatch, and they came first.
pub fn finish<T: Target>(target: &Arc<T>, error: Option<&Error>) {
    if target.gate().close_raised() {
        return;
    }
    if let Some(error) = error {
        emit(target, Event::Error(error));
    }
    emit(target, Event::Close);
}

/// Runs the callback for one event, unless the rules say it must not run.
fn deliver(target: &dyn Target, event: Event<'_>) {
    let gate = target.gate();
    if gate.is_closed() {
        return;
    }
    match event {
        // Checked here, at the last moment before the call, so that a close
        // requested by a previous callback (or another thread) stops delivery.
        Event::Message(_) | Event::Text(_) | Event::Ready | Event::End
            if gate.messages_stopped() =>
        {
            return
        }
        Event::Close => gate.mark_closed(),
        _ => {}
    }
    let _depth = DepthGuard::enter();
    target.call(event);
}

/// An event copied out of the borrowed data it was raised with, to wait in
/// the queue.
enum OwnedEvent {
    Connect(std::result::Result<(), Error>),
    Ready,
    Message(Vec<u8>),
    Text(Vec<u8>),
    Drain,
    SendDone(Completion),
    End,
    Error(Error),
    Close,
}

impl OwnedEvent {
    fn from(event: Event<'_>) -> OwnedEvent {
        match event {
            Event::Connect(r) => OwnedEvent::Connect(r.map_err(Clone::clone)),
            Event::Ready => OwnedEvent::Ready,
            Event::Message(d) => OwnedEvent::Message(d.to_vec()),
            Event::Text(t) => OwnedEvent::Text(t.bytes_with_nul().to_vec()),
            Event::Drain => OwnedEvent::Drain,
            Event::SendDone(done) => OwnedEvent::SendDone(done),
            Event::End => OwnedEvent::End,
            Event::Error(e) => OwnedEvent::Error(e.clone()),
            Event::Close => OwnedEvent::Close,
        }
    }

    /// The bytes this event holds for the host: what the queued mode's
    /// limits count.
    fn payload_len(&self) -> usize {
        match self {
            OwnedEvent::Message(d) | OwnedEvent::Text(d) => d.len(),
            _ => 0,
        }
    }

    /// Delivers the event; a completion moves out, the rest is lent.
    fn deliver_to(self, target: &dyn Target) {
        match self {
            OwnedEvent::SendDone(done) => deliver(target, Event::SendDone(done)),
            other => deliver(target, other.as_event()),
        }
    }

    fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Connect(r) => Event::Connect(r.as_ref().map(|_| ())),
            OwnedEvent::Ready => Event::Ready,
            OwnedEvent::Message(d) => Event::Message(d),
            OwnedEvent::Text(t) => Event::Text(TextChunk::new(t).expect("copied from a TextChunk")),
            OwnedEvent::Drain => Event::Drain,
            OwnedEvent::SendDone(_) => unreachable!("completions are moved out, not lent"),
            OwnedEvent::End => Event::End,
            OwnedEvent::Error(e) => Event::Error(e),
            OwnedEvent::Close => Event::Close,
        }
    }
}

/// The queued mode's bounds on received bytes waiting for `dispatch`: past
/// either, the connections concerned stop reading until the host catches up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// All connections together.
    pub total: usize,
    /// One connection.
    pub per_socket: usize,
}

pub const DEFAULT_QUEUE_LIMITS: QueueLimits = QueueLimits {
    total: 64 << 20,
    per_socket: 4 << 20,
};

/// The queued mode's events and the descriptor that says some are waiting.
struct EventQueue {
    state: Mutex<Queued>,
    signal: crate::sys::Signal,
    /// One dispatcher at a time, so one socket's callbacks never overlap.
    dispatching: Mutex<()>,
}

/// One waiting event and the target it is for.
type Entry = (Arc<dyn Target>, OwnedEvent);

struct Queued {
    items: VecDeque<Entry>,
    /// Received bytes in `items`, in all and per socket (keyed by address;
    /// only sockets with bytes waiting have an entry, so an idle socket
    /// costs nothing here).
    bytes: usize,
    bytes_of: std::collections::HashMap<usize, usize>,
    limits: QueueLimits,
    /// Connections that stopped reading for the limits, to wake when the
    /// host has dispatched enough.
    stalled: Vec<Arc<dyn Target>>,
}

fn queue() -> &'static EventQueue {
    static QUEUE: std::sync::OnceLock<EventQueue> = std::sync::OnceLock::new();
    QUEUE.get_or_init(|| EventQueue::new(DEFAULT_QUEUE_LIMITS))
}

fn key(target: &Arc<dyn Target>) -> usize {
    Arc::as_ptr(target).cast::<()>() as usize
}

/// Chosen with the runtime's configuration.
pub fn set_queue_limits(limits: QueueLimits) {
    lock(&queue().state).limits = limits;
}

/// In the queued mode, whether `socket` may read more now. When not, it is
/// woken once the host has dispatched enough: half of the total limit left,
/// or half of its own.
pub fn may_read<T: Target>(target: &Arc<T>) -> bool {
    if delivery() != Delivery::Queued {
        return true;
    }
    queue().may_read(target.clone())
}

impl EventQueue {
    fn new(limits: QueueLimits) -> EventQueue {
        EventQueue {
            state: Mutex::new(Queued {
                items: VecDeque::new(),
                bytes: 0,
                bytes_of: std::collections::HashMap::new(),
                limits,
                stalled: Vec::new(),
            }),
            signal: crate::sys::Signal::new().expect("a socket pair for the event descriptor"),
            dispatching: Mutex::new(()),
        }
    }

    fn may_read(&self, target: Arc<dyn Target>) -> bool {
        let mut q = lock(&self.state);
        let mine = q.bytes_of.get(&key(&target)).copied().unwrap_or(0);
        if q.bytes <= q.limits.total && mine <= q.limits.per_socket {
            return true;
        }
        if !q.stalled.iter().any(|s| Arc::ptr_eq(s, &target)) {
            q.stalled.push(target);
        }
        false
    }

    fn push(&self, socket: Arc<dyn Target>, event: OwnedEvent) {
        let mut q = lock(&self.state);
        if q.items.is_empty() {
            self.signal.raise();
        }
        let len = event.payload_len();
        if len > 0 {
            q.bytes += len;
            *q.bytes_of.entry(key(&socket)).or_default() += len;
        }
        if matches!(event, OwnedEvent::Close) {
            // Nothing more to read: a stalled socket lets go of its place.
            q.stalled.retain(|s| !Arc::ptr_eq(s, &socket));
        }
        q.items.push_back((socket, event));
    }

    /// The next event, and the connections the host has now made room for.
    fn pop(&self) -> Option<(Entry, Vec<Arc<dyn Target>>)> {
        let mut q = lock(&self.state);
        let item = q.items.pop_front()?;
        if q.items.is_empty() {
            // Cleared under the lock, so a push racing with this raises it
            // again afterwards.
            self.signal.clear();
        }
        let len = item.1.payload_len();
        if len > 0 {
            q.bytes -= len;
            let k = key(&item.0);
            let left = q.bytes_of.get_mut(&k).expect("counted when queued");
            *left -= len;
            if *left == 0 {
                q.bytes_of.remove(&k);
            }
        }
        // A stalled reader goes on once the host has made room on both
        // counts: half of the total and half of its own limit free again.
        let mut unstalled = Vec::new();
        if len > 0 && !q.stalled.is_empty() && q.bytes <= q.limits.total / 2 {
            let Queued {
                stalled,
                bytes_of,
                limits,
                ..
            } = &mut *q;
            stalled.retain(|t| {
                let own = bytes_of.get(&key(t)).copied().unwrap_or(0);
                let go_on = own <= limits.per_socket / 2;
                if go_on {
                    unstalled.push(t.clone());
                }
                !go_on
            });
        }
        Some((item, unstalled))
    }
}

/// The queued mode's descriptor: readable while events wait.
pub fn event_fd() -> Result<i32> {
    if delivery() != Delivery::Queued {
        return Err(not_queued());
    }
    #[cfg(unix)]
    return Ok(queue().signal.fd());
    // Windows' signal is a SOCKET, pointer-sized: it does not fit the
    // int32_t the C function hands out (see `sys::Signal`).
    #[cfg(not(unix))]
    Err(Error::new(
        Code::NotApplicable,
        "the event descriptor is a SOCKET on this platform and does not fit \
         sack_tcp_get_event_fd's int32_t; call sack_tcp_dispatch from a timer \
         or the message loop instead",
    ))
}

fn not_queued() -> Error {
    Error::new(
        Code::NotApplicable,
        "callbacks are delivered on runtime threads; start the runtime in queued \
         delivery mode to dispatch them yourself",
    )
}

/// Delivers up to `max` waiting events on the calling thread; returns how
/// many ran.
pub fn dispatch(max: usize) -> Result<usize> {
    if delivery() != Delivery::Queued {
        return Err(not_queued());
    }
    if in_callback() {
        return Err(Error::new(
            Code::WouldDeadlock,
            "sack_tcp_dispatch was called from inside a callback",
        ));
    }
    Ok(drain_queue(max))
}

/// Delivers waiting events; also used by `shutdown` to run the close
/// callbacks the sockets raised while closing.
pub fn drain_queue(max: usize) -> usize {
    let q = queue();
    let _one_at_a_time = lock(&q.dispatching);
    let mut delivered = 0;
    while delivered < max {
        let Some(((socket, event), unstalled)) = q.pop() else {
            break;
        };
        for stalled in unstalled {
            stalled.resume_reading();
        }
        event.deliver_to(&*socket);
        delivered += 1;
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A target that records what reached its callback.
    #[derive(Default)]
    struct Recorder {
        gate: Gate,
        seen: Mutex<Vec<String>>,
        in_callback_seen: AtomicBool,
        resumed: AtomicUsize,
    }

    impl Target for Recorder {
        fn gate(&self) -> &Gate {
            &self.gate
        }

        fn call(&self, event: Event<'_>) {
            self.in_callback_seen
                .store(in_callback(), Ordering::Relaxed);
            let name = match event {
                Event::Connect(_) => "connect",
                Event::Ready => "ready",
                Event::Message(_) => "message",
                Event::Text(_) => "text",
                Event::Drain => "drain",
                Event::SendDone(_) => "send done",
                Event::End => "end",
                Event::Error(_) => "error",
                Event::Close => "close",
            };
            lock(&self.seen).push(name.to_string());
        }

        fn resume_reading(&self) {
            self.resumed.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Recorder {
        fn seen(&self) -> Vec<String> {
            lock(&self.seen).clone()
        }
    }

    fn text() -> OwnedEvent {
        OwnedEvent::Text(b"hi\0".to_vec())
    }

    #[test]
    fn nothing_is_delivered_after_close() {
        let r = Recorder::default();
        assert!(r.gate.raise_close());
        deliver(&r, Event::Close);
        for event in [
            Event::Ready,
            Event::Message(b"x"),
            Event::Drain,
            Event::Close,
        ] {
            deliver(&r, event);
        }
        assert_eq!(r.seen(), ["close"]);
        assert!(r.gate.is_closed());
    }

    #[test]
    fn a_close_request_stops_messages_ready_and_end_but_not_the_rest() {
        let r = Recorder::default();
        deliver(&r, Event::Message(b"before"));
        r.gate.stop_messages();
        let error = Error::new(Code::Reset, "reset");
        deliver(&r, Event::Ready);
        deliver(&r, Event::Message(b"x"));
        deliver(&r, text().as_event());
        deliver(&r, Event::End);
        deliver(&r, Event::Drain);
        deliver(&r, Event::Error(&error));
        deliver(&r, Event::Close);
        assert_eq!(r.seen(), ["message", "drain", "error", "close"]);
    }

    #[test]
    fn finish_raises_the_error_then_close_exactly_once() {
        let r = Arc::new(Recorder::default());
        let error = Error::new(Code::Reset, "reset");
        finish(&r, Some(&error));
        finish(&r, Some(&error));
        finish(&r, None);
        assert_eq!(r.seen(), ["error", "close"]);
    }

    #[test]
    fn messages_raised_before_the_end_stay_deliverable() {
        // An end (rather than the host's close) does not stop messages: in
        // the queued mode those read before it may still wait.
        let q = EventQueue::new(DEFAULT_QUEUE_LIMITS);
        let r = Arc::new(Recorder::default());
        q.push(r.clone(), OwnedEvent::Message(b"last words".to_vec()));
        assert!(r.gate.raise_close());
        q.push(r.clone(), OwnedEvent::Close);
        while let Some(((target, event), _)) = q.pop() {
            deliver(&*target, event.as_event());
        }
        assert_eq!(r.seen(), ["message", "close"]);
    }

    #[test]
    fn callbacks_know_they_are_callbacks() {
        let r = Recorder::default();
        assert!(!in_callback());
        deliver(&r, Event::Ready);
        assert!(r.in_callback_seen.load(Ordering::Relaxed));
        assert!(!in_callback());
    }

    #[test]
    fn the_queue_stops_a_reader_past_its_own_limit_and_resumes_it_at_half() {
        let q = EventQueue::new(QueueLimits {
            total: 1000,
            per_socket: 100,
        });
        let busy = Arc::new(Recorder::default());
        let quiet = Arc::new(Recorder::default());
        assert!(q.may_read(busy.clone()));
        for _ in 0..3 {
            q.push(busy.clone(), OwnedEvent::Message(vec![0; 40]));
        }
        assert!(!q.may_read(busy.clone()), "120 bytes wait, limit 100");
        assert!(!q.may_read(busy.clone()), "asked twice, stalled once");
        assert!(q.may_read(quiet.clone()), "the others still read");
        q.pop().unwrap(); // 80 left: above half
        assert_eq!(busy.resumed.load(Ordering::Relaxed), 0);
        let (_, resumed) = q.pop().unwrap(); // 40 left: at or below half
        assert_eq!(resumed.len(), 1);
        resumed[0].resume_reading();
        assert_eq!(busy.resumed.load(Ordering::Relaxed), 1);
        assert!(q.may_read(busy.clone()));
    }

    #[test]
    fn the_queue_stops_everyone_past_the_total_limit() {
        let q = EventQueue::new(QueueLimits {
            total: 100,
            per_socket: 1000,
        });
        let a = Arc::new(Recorder::default());
        let b = Arc::new(Recorder::default());
        q.push(a.clone(), OwnedEvent::Message(vec![0; 120]));
        assert!(!q.may_read(a.clone()));
        assert!(!q.may_read(b.clone()));
        // Ready carries no bytes: it neither counts nor wakes anyone.
        q.push(b.clone(), OwnedEvent::Ready);
        let (_, resumed) = q.pop().unwrap();
        assert_eq!(
            resumed.len(),
            2,
            "all stalled readers resume at half the total"
        );
        let (_, resumed) = q.pop().unwrap();
        assert!(resumed.is_empty());
        assert!(q.may_read(a.clone()) && q.may_read(b.clone()));
    }

    #[test]
    fn a_closing_target_leaves_the_stalled_list() {
        let q = EventQueue::new(QueueLimits {
            total: 1000,
            per_socket: 10,
        });
        let r = Arc::new(Recorder::default());
        q.push(r.clone(), OwnedEvent::Message(vec![0; 20]));
        assert!(!q.may_read(r.clone()));
        q.push(r.clone(), OwnedEvent::Close);
        assert!(
            lock(&q.state).stalled.is_empty(),
            "no reference kept past close"
        );
        assert_eq!(Arc::strong_count(&r), 3, "ours and the two queued events'");
    }
}
