//! Bytes accepted by `send` but not yet written to the kernel.
//!
//! Small sends are appended to the last chunk instead of getting a buffer
//! each, so a stream of tiny messages costs one allocation per chunk rather
//! than one per message. A borrowed send (`send_borrowed`) is a chunk of its
//! own that points at the caller's memory: it is written from there, in
//! line with the copied chunks, and once its last byte left (or the queue
//! is cleared) it waits here as a [`Completion`] until the driver raises
//! it: the thread that finished it may be the host's, inside a send, which
//! must not call back.

use std::collections::VecDeque;
use std::io::IoSlice;

use super::read_window::SharedSlice;
use crate::borrowed::{Borrowed, Completion};

/// Sends up to this size are coalesced into the tail chunk.
const COALESCE_LIMIT: usize = 16 * 1024;
/// How many chunks one vectored write hands the kernel.
pub const MAX_IOVECS: usize = 64;

/// Empty (no bytes, no completions), it is one null pointer: most
/// connections have nothing queued most of the time, and every connection
/// carries one.
#[derive(Default)]
pub struct SendQueue {
    /// Freed whenever the queue empties.
    inner: Option<Box<Inner>>,
}

#[derive(Default)]
struct Inner {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    len: usize,
    /// Borrowed buffers done with, in the order of their sends.
    done: Vec<Completion>,
}

enum Chunk {
    Copied(Vec<u8>),
    Borrowed(Box<dyn Borrowed>),
    /// Bytes of the read buffer being delivered (see `read_window`); only
    /// during a corked pass, at whose end they are written or copied.
    Shared(SharedSlice),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Copied(v) => v,
            Chunk::Borrowed(b) => b.bytes(),
            Chunk::Shared(s) => s.bytes(),
        }
    }
}

impl std::fmt::Debug for SendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendQueue")
            .field("len", &self.len())
            .finish()
    }
}

impl SendQueue {
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |q| q.len)
    }

    /// No bytes to write (completions may still wait).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reports a borrowed buffer done with, behind those before it.
    pub fn push_done(&mut self, done: Completion) {
        self.inner.get_or_insert_with(Box::default).done.push(done);
    }

    pub fn has_done(&self) -> bool {
        self.inner.as_ref().is_some_and(|q| !q.done.is_empty())
    }

    /// The completions waiting, in order.
    pub fn take_done(&mut self) -> Vec<Completion> {
        let Some(q) = self.inner.as_mut() else {
            return Vec::new();
        };
        let done = std::mem::take(&mut q.done);
        self.free_if_empty();
        done
    }

    fn free_if_empty(&mut self) {
        if self
            .inner
            .as_ref()
            .is_some_and(|q| q.len == 0 && q.done.is_empty())
        {
            self.inner = None;
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.inner.get_or_insert_with(Box::default).push(data);
        }
    }

    /// Queues bytes of the read buffer being delivered by reference,
    /// joined to the previous ones when they follow them.
    pub(crate) fn push_shared(&mut self, slice: SharedSlice) {
        let len = slice.bytes().len();
        if len == 0 {
            return;
        }
        let q = self.inner.get_or_insert_with(Box::default);
        q.len += len;
        if let Some(Chunk::Shared(tail)) = q.chunks.back_mut() {
            if tail.extend(&slice) {
                return;
            }
        }
        q.chunks.push_back(Chunk::Shared(slice));
    }

    /// Copies what is left of the shared slices, so the read buffer they
    /// point into can be reused: at the end of the pass that queued them,
    /// after its write.
    pub fn unshare(&mut self) {
        let Some(q) = self.inner.as_mut() else {
            return;
        };
        let mut skip = q.front_written;
        for chunk in q.chunks.iter_mut() {
            if let Chunk::Shared(s) = chunk {
                // Only what is still to go; the front one's written prefix
                // is dropped with it.
                *chunk = Chunk::Copied(s.bytes()[skip..].to_vec());
                if skip > 0 {
                    q.front_written = 0;
                }
            }
            skip = 0;
        }
    }

    /// Queues the caller's buffer without copying it, `written` bytes of it
    /// already sent (only possible when nothing was queued ahead).
    pub fn push_borrowed(&mut self, buffer: Box<dyn Borrowed>, written: usize) {
        let len = buffer.bytes().len();
        debug_assert!(written < len && (written == 0 || self.is_empty()));
        let q = self.inner.get_or_insert_with(Box::default);
        if q.chunks.is_empty() {
            q.front_written = written;
        }
        q.len += len - written;
        q.chunks.push_back(Chunk::Borrowed(buffer));
    }

    /// Fills `slices` with the unwritten bytes, front first; returns how
    /// many were filled.
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_IOVECS]) -> usize {
        self.inner.as_ref().map_or(0, |q| q.io_slices(slices))
    }

    /// Drops `written` bytes from the front; borrowed buffers written to
    /// their end become completions.
    pub fn consume(&mut self, written: usize) {
        let Some(q) = self.inner.as_mut() else {
            debug_assert_eq!(written, 0, "consume on an empty queue");
            return;
        };
        q.consume(written);
        self.free_if_empty();
    }

    /// Drops every unwritten byte of a connection that will send no more;
    /// the borrowed buffers among them are reported unsent.
    pub fn clear(&mut self) {
        if let Some(q) = self.inner.as_mut() {
            for chunk in std::mem::take(&mut q.chunks) {
                if let Chunk::Borrowed(b) = chunk {
                    q.done.push(Completion::canceled(b));
                }
            }
            q.len = 0;
            q.front_written = 0;
        }
        self.free_if_empty();
    }

    /// Empties the queue, handing each unwritten piece to `f` in order; a
    /// borrowed buffer is done with once `f` has had its bytes.
    pub fn drain_into(&mut self, mut f: impl FnMut(&[u8])) {
        if let Some(q) = self.inner.as_mut() {
            let mut skip = std::mem::take(&mut q.front_written);
            for chunk in std::mem::take(&mut q.chunks) {
                f(&chunk.bytes()[skip..]);
                skip = 0;
                if let Chunk::Borrowed(b) = chunk {
                    q.done.push(Completion::sent(b));
                }
            }
            q.len = 0;
        }
        self.free_if_empty();
    }
}

impl Inner {
    fn push(&mut self, data: &[u8]) {
        self.len += data.len();
        if data.len() <= COALESCE_LIMIT {
            // Only a chunk nobody has started writing may grow: the front
            // one's written prefix must stay where it is, which it does, but
            // growing it past the coalesce limit would defeat the limit.
            if let Some(Chunk::Copied(tail)) = self.chunks.back_mut() {
                if tail.len() + data.len() <= COALESCE_LIMIT.max(tail.capacity()) {
                    tail.extend_from_slice(data);
                    return;
                }
            }
            let mut chunk = Vec::with_capacity(COALESCE_LIMIT);
            chunk.extend_from_slice(data);
            self.chunks.push_back(Chunk::Copied(chunk));
        } else {
            self.chunks.push_back(Chunk::Copied(data.to_vec()));
        }
    }

    fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_IOVECS]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
            let start = if i == 0 { self.front_written } else { 0 };
            slices[n] = IoSlice::new(&chunk.bytes()[start..]);
            n += 1;
        }
        n
    }

    fn consume(&mut self, mut written: usize) {
        debug_assert!(written <= self.len);
        self.len -= written;
        while written > 0 {
            let front = self
                .chunks
                .front()
                .expect("consume past the end of the queue");
            let left = front.bytes().len() - self.front_written;
            if written < left {
                self.front_written += written;
                return;
            }
            written -= left;
            self.front_written = 0;
            if let Some(Chunk::Borrowed(b)) = self.chunks.pop_front() {
                self.done.push(Completion::sent(b));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_all(q: &mut SendQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = q.io_slices(&mut slices);
            let mut budget = step;
            let mut taken = 0;
            for s in &slices[..n] {
                let k = s.len().min(budget);
                out.extend_from_slice(&s[..k]);
                budget -= k;
                taken += k;
                if budget == 0 {
                    break;
                }
            }
            q.consume(taken);
        }
        out
    }

    #[test]
    fn shared_slices_join_keep_order_and_are_copied_when_unshared() {
        use crate::socket::read_window;
        use std::sync::Arc;
        let buffer = Arc::new((0..100u8).collect::<Vec<u8>>());
        let mut q = SendQueue::default();
        q.push(b"head");
        {
            let _window = read_window::open(1, buffer.clone(), 100);
            for range in [0..10, 10..30, 50..60] {
                q.push_shared(read_window::slice_of(1, &buffer[range]).unwrap());
            }
        }
        q.push(b"tail");
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        // head, 0..30 (joined), 50..60, tail.
        assert_eq!(q.io_slices(&mut slices), 4);
        // A partial write that ends inside the first shared slice.
        q.consume(4 + 7);
        q.unshare();
        assert_eq!(Arc::strong_count(&buffer), 1, "the buffer is free again");
        let mut want = buffer[7..30].to_vec();
        want.extend_from_slice(&buffer[50..60]);
        want.extend_from_slice(b"tail");
        assert_eq!(q.len(), want.len());
        assert_eq!(drain_all(&mut q, 5), want);
    }

    #[test]
    fn partial_writes_keep_order_and_count() {
        for step in [1, 7, 100, 5000, 1 << 20] {
            let mut q = SendQueue::default();
            let mut expected = Vec::new();
            for i in 0..300u32 {
                let msg: Vec<u8> = (0..(i * 37 % 20000)).map(|b| (b ^ i) as u8).collect();
                q.push(&msg);
                expected.extend_from_slice(&msg);
            }
            assert_eq!(q.len(), expected.len());
            assert_eq!(drain_all(&mut q, step), expected, "step {step}");
            assert_eq!(q.len(), 0);
            assert!(q.inner.is_none(), "an emptied queue holds no memory");
        }
    }

    /// The first byte and status of each buffer handed back, in order.
    type Returns = std::sync::Arc<std::sync::Mutex<Vec<(u8, Result<(), crate::error::Code>)>>>;

    /// A borrowed buffer that records when it was handed back.
    struct Lent {
        bytes: Vec<u8>,
        log: Returns,
    }

    impl Borrowed for Lent {
        fn bytes(&self) -> &[u8] {
            &self.bytes
        }

        fn complete(self: Box<Self>, status: Result<(), crate::error::Code>) {
            self.log.lock().unwrap().push((self.bytes[0], status));
        }
    }

    #[test]
    fn borrowed_buffers_keep_their_place_and_come_back_once_written() {
        let log = std::sync::Arc::default();
        let lent = |fill: u8, len: usize| {
            Box::new(Lent {
                bytes: vec![fill; len],
                log: std::sync::Arc::clone(&log),
            })
        };
        for step in [1, 7, 100, 5000, 1 << 20] {
            let mut q = SendQueue::default();
            let mut expected = Vec::new();
            for i in 0..40u8 {
                if i % 3 == 0 {
                    let len = 1 + usize::from(i) * 997;
                    q.push_borrowed(lent(i, len), 0);
                    expected.extend(std::iter::repeat_n(i, len));
                } else {
                    q.push(&[i; 10]);
                    expected.extend_from_slice(&[i; 10]);
                }
            }
            assert_eq!(q.len(), expected.len());
            let mut out = Vec::new();
            let mut order = Vec::new();
            while !q.is_empty() {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = q.io_slices(&mut slices);
                let mut taken = 0;
                for s in &slices[..n] {
                    let k = s.len().min(step - taken);
                    out.extend_from_slice(&s[..k]);
                    taken += k;
                    if taken == step {
                        break;
                    }
                }
                q.consume(taken);
                for done in q.take_done() {
                    assert_eq!(done.status(), Ok(()));
                    done.run();
                    // Handed back only once every byte of it was taken.
                    let fill = log.lock().unwrap().last().unwrap().0;
                    let last = expected.iter().rposition(|&x| x == fill).unwrap();
                    assert!(out.len() > last, "step {step}: buffer {fill} back early");
                    order.push(fill);
                }
            }
            assert_eq!(out, expected, "step {step}");
            assert_eq!(order, (0..40).step_by(3).collect::<Vec<u8>>());
            assert!(q.inner.is_none(), "nothing left to hold");
        }
    }

    #[test]
    fn a_partly_written_borrowed_buffer_starts_where_the_inline_write_stopped() {
        let log = std::sync::Arc::default();
        let mut q = SendQueue::default();
        let bytes: Vec<u8> = (0..100).collect();
        q.push_borrowed(Box::new(Lent { bytes, log }), 60);
        assert_eq!(q.len(), 40);
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let n = q.io_slices(&mut slices);
        assert_eq!(n, 1);
        assert_eq!(slices[0][0], 60);
        q.clear();
        assert!(q.is_empty() && q.has_done());
        let done = q.take_done();
        assert_eq!(done.len(), 1, "clearing hands back what never left");
        assert_eq!(done[0].status(), Err(crate::error::Code::Canceled));
        assert!(q.inner.is_none());
    }

    #[test]
    fn small_sends_share_a_chunk() {
        let mut q = SendQueue::default();
        for _ in 0..100 {
            q.push(b"0123456789");
        }
        assert_eq!(q.inner.as_ref().unwrap().chunks.len(), 1);
        q.push(&[1u8; COALESCE_LIMIT + 1]);
        assert_eq!(q.inner.as_ref().unwrap().chunks.len(), 2);
    }
}
