//! The one place callbacks are delivered from.
//!
//! Socket code never calls user code directly: it builds an [`Event`] and
//! passes it to [`emit`]. That keeps the delivery rules in one spot (nothing
//! after `Close`, no message after a close request, a flag that tells
//! `shutdown` it is running inside a callback) and lets a later delivery
//! mode queue events for the host's own thread without touching the socket
//! code.

use std::any::Any;
use std::cell::Cell;
use std::sync::Arc;

use crate::error::Error;
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

/// Delivers one event to the socket's handler, enforcing the ordering rules.
/// Must only be called from the task that owns the socket (or, for the
/// connect event of an accepted connection, the listener's task before the
/// connection's task exists), which is what makes callbacks for one socket
/// sequential.
pub fn emit(socket: &Arc<Socket>, event: Event<'_>) {
    let gate = socket.gate();
    if gate.is_closed() {
        debug_assert!(false, "event {event:?} after close");
        return;
    }
    match event {
        // Checked here, at the last moment before the call, so that a close
        // requested by a previous callback (or another thread) stops delivery.
        Event::Message(_) | Event::Text(_) if gate.messages_stopped() => return,
        Event::Close => gate.mark_closed(),
        _ => {}
    }
    let _depth = DepthGuard::enter();
    socket.handler().handle(socket, event);
}
