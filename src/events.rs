//! The one place callbacks are delivered from.
//!
//! Socket code never calls user code directly: it builds an [`Event`] and
//! passes it to [`emit`]. In the default mode the event is delivered at
//! once on the runtime thread that raised it; in the queued mode it is
//! copied into a queue that the host drains on its own thread with
//! [`dispatch`], woken by a descriptor that is readable while events wait.
//! Both modes deliver through [`deliver`], which keeps the rules in one
//! spot: nothing after `Close`, no message after a close request, and a
//! flag that tells `shutdown` it is running inside a callback.

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Code, Error, Result};
use crate::lock;
use crate::socket::Socket;

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

/// Receives a socket's events. The C surface implements it with function
/// pointers; Rust tests implement it with closures.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, socket: &Socket, event: Event<'_>);

    /// The handler for a connection accepted by this (listening) socket:
    /// a copy of the current callbacks, changeable without touching the
    /// listener's.
    fn for_accepted(&self) -> Arc<dyn Handler>;

    /// Lets the C surface reach its own handler type to replace callbacks.
    fn as_any(&self) -> &dyn Any;
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
pub fn emit(socket: &Arc<Socket>, event: Event<'_>) {
    let gate = socket.gate();
    if let Event::Close = event {
        if !gate.raise_close() {
            return;
        }
    } else if gate.close_raised() {
        debug_assert!(false, "event {event:?} after close");
        return;
    }
    match delivery() {
        Delivery::Direct => deliver(socket, event),
        Delivery::Queued => queue().push(socket.clone(), OwnedEvent::from(event)),
    }
}

/// Runs the handler for one event, unless the rules say it must not run.
fn deliver(socket: &Arc<Socket>, event: Event<'_>) {
    let gate = socket.gate();
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
    socket.handler().handle(socket, event);
}

/// An event copied out of the borrowed data it was raised with, to wait in
/// the queue.
enum OwnedEvent {
    Connect(std::result::Result<(), Error>),
    Ready,
    Message(Vec<u8>),
    Text(Vec<u8>),
    Drain,
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

    fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Connect(r) => Event::Connect(r.as_ref().map(|_| ())),
            OwnedEvent::Ready => Event::Ready,
            OwnedEvent::Message(d) => Event::Message(d),
            OwnedEvent::Text(t) => Event::Text(TextChunk::new(t).expect("copied from a TextChunk")),
            OwnedEvent::Drain => Event::Drain,
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

/// One waiting event and the socket it is for.
type Entry = (Arc<Socket>, OwnedEvent);

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
    stalled: Vec<Arc<Socket>>,
}

fn queue() -> &'static EventQueue {
    static QUEUE: std::sync::OnceLock<EventQueue> = std::sync::OnceLock::new();
    QUEUE.get_or_init(|| EventQueue {
        state: Mutex::new(Queued {
            items: VecDeque::new(),
            bytes: 0,
            bytes_of: std::collections::HashMap::new(),
            limits: DEFAULT_QUEUE_LIMITS,
            stalled: Vec::new(),
        }),
        signal: crate::sys::Signal::new().expect("a socket pair for the event descriptor"),
        dispatching: Mutex::new(()),
    })
}

fn key(socket: &Arc<Socket>) -> usize {
    Arc::as_ptr(socket) as usize
}

/// Chosen with the runtime's configuration.
pub fn set_queue_limits(limits: QueueLimits) {
    lock(&queue().state).limits = limits;
}

/// In the queued mode, whether `socket` may read more now. When not, it is
/// woken once the host has dispatched enough: half of the total limit left,
/// or half of its own.
pub fn may_read(socket: &Arc<Socket>) -> bool {
    if delivery() != Delivery::Queued {
        return true;
    }
    let mut q = lock(&queue().state);
    let mine = q.bytes_of.get(&key(socket)).copied().unwrap_or(0);
    if q.bytes <= q.limits.total && mine <= q.limits.per_socket {
        return true;
    }
    if !q.stalled.iter().any(|s| Arc::ptr_eq(s, socket)) {
        q.stalled.push(socket.clone());
    }
    false
}

impl EventQueue {
    fn push(&self, socket: Arc<Socket>, event: OwnedEvent) {
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
    fn pop(&self) -> Option<(Entry, Vec<Arc<Socket>>)> {
        let mut q = lock(&self.state);
        let item = q.items.pop_front()?;
        if q.items.is_empty() {
            // Cleared under the lock, so a push racing with this raises it
            // again afterwards.
            self.signal.clear();
        }
        let len = item.1.payload_len();
        let (socket, _) = &item;
        let mut mine = 0;
        if len > 0 {
            q.bytes -= len;
            let k = key(socket);
            let left = q.bytes_of.get_mut(&k).expect("counted when queued");
            *left -= len;
            mine = *left;
            if mine == 0 {
                q.bytes_of.remove(&k);
            }
        }
        let mut unstalled = Vec::new();
        if !q.stalled.is_empty() {
            if q.bytes <= q.limits.total / 2 {
                unstalled = std::mem::take(&mut q.stalled);
            } else if mine <= q.limits.per_socket / 2 {
                if let Some(i) = q.stalled.iter().position(|s| Arc::ptr_eq(s, socket)) {
                    unstalled.push(q.stalled.swap_remove(i));
                }
            }
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
            std::task::Wake::wake(stalled);
        }
        deliver(&socket, event.as_event());
        delivered += 1;
    }
    delivered
}
