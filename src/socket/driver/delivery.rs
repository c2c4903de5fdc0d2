//! Received bytes on their way to the host: the per-thread read buffers,
//! message and text callbacks in chunks of at most the read buffer size,
//! and the bytes a pause holds back until reads resume.

use std::cell::Cell;
use std::sync::Arc;
use std::thread::LocalKey;

use super::Driver;
use crate::events::{self, Event, TextChunk};
use crate::text::split_on_char_boundaries;

thread_local! {
    /// One read buffer per worker thread instead of one per connection: an
    /// idle connection then holds no read memory at all. Shared (`Arc`) so
    /// that sends of the bytes being delivered can point into it until the
    /// end of the pass (`read_window`).
    static READ_BUFFER: Cell<Option<Arc<Vec<u8>>>> = const { Cell::new(None) };
    /// Shared like the read buffer, for the same reason: a TLS echo's
    /// sends point into it until the pass ends (`TlsSession::hold`).
    static PLAIN_BUFFER: Cell<Option<Arc<Vec<u8>>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's read buffer, at least `size` bytes and not
/// shared with anyone when `f` starts (`Arc::get_mut` succeeds).
pub(super) fn with_read_buffer<R>(size: usize, f: impl FnOnce(&mut Arc<Vec<u8>>) -> R) -> R {
    with_unshared(
        &READ_BUFFER,
        |bytes| {
            if bytes.len() < size {
                bytes.resize(size, 0);
            }
        },
        f,
    )
}

/// TLS plaintext is gathered in a buffer of its own (empty when lent) and
/// delivered once the read is decrypted.
///
/// As for the read buffer, `f` starts with it unshared.
pub(super) fn with_plain_buffer<R>(f: impl FnOnce(&mut Arc<Vec<u8>>) -> R) -> R {
    with_unshared(&PLAIN_BUFFER, Vec::clear, f)
}

/// Lends one of this thread's shared buffers, `prepare`d, to `f`.
fn with_unshared<R>(
    cell: &'static LocalKey<Cell<Option<Arc<Vec<u8>>>>>,
    prepare: impl FnOnce(&mut Vec<u8>),
    f: impl FnOnce(&mut Arc<Vec<u8>>) -> R,
) -> R {
    // Taken out rather than borrowed, so nothing a callback does on this
    // thread can find it borrowed.
    let mut buf = cell.with(Cell::take).unwrap_or_default();
    if Arc::get_mut(&mut buf).is_none() {
        // Still shared (a pass that failed before it could let go): the
        // queue or session that holds it keeps it; this thread takes a new
        // one.
        buf = Arc::default();
    }
    prepare(Arc::get_mut(&mut buf).expect("a buffer no one else holds"));
    let result = f(&mut buf);
    cell.with(|c| c.set(Some(buf)));
    result
}

impl Driver<'_> {
    /// Delivers `data` (one read's worth, plain or decrypted) in chunks of
    /// at most the read buffer size, holding what is left whenever a pause
    /// comes between two chunks (and behind bytes held earlier, to keep the
    /// order).
    pub(super) fn deliver(&mut self, data: &[u8]) {
        if let Some(held) = &mut self.p.held {
            held.extend_from_slice(data);
            return;
        }
        self.deliver_chunks(data, true);
    }

    /// Delivers what a pause held, until a pause stops it again.
    pub(super) fn deliver_held(&mut self) {
        if let Some(held) = self.p.held.take() {
            self.deliver_chunks(&held, true);
        }
    }

    /// Delivers what a pause held whatever the pause: the peer ended, and
    /// these bytes must come before the end.
    pub(super) fn deliver_held_now(&mut self) {
        if let Some(held) = self.p.held.take() {
            self.deliver_chunks(&held, false);
        }
    }

    fn deliver_chunks(&mut self, data: &[u8], respect_pause: bool) {
        let size = self.conn.settings.read_buffer_size;
        let mut rest = data;
        while !rest.is_empty() {
            if self.socket.gate.messages_stopped() {
                return; // draining a closing socket: nobody wants these bytes
            }
            if respect_pause && self.conn.reads_paused() {
                self.p.held = Some(Box::new(rest.to_vec()));
                return;
            }
            let (now, later) = rest.split_at(rest.len().min(size));
            self.deliver_now(now);
            rest = later;
        }
    }

    pub(super) fn deliver_now(&mut self, data: &[u8]) {
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

    pub(super) fn deliver_text(&self, text: &[u8]) {
        let mut with_nul = Vec::new();
        for piece in split_on_char_boundaries(text, self.conn.settings.read_buffer_size) {
            with_nul.clear();
            with_nul.extend_from_slice(piece);
            with_nul.push(0);
            let chunk = TextChunk::new(&with_nul).expect("decoder produced invalid UTF-8");
            events::emit(self.socket, Event::Text(chunk));
        }
    }
}
