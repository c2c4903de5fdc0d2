//! Bytes accepted by `send` but not yet written to the kernel.
//!
//! Small sends are appended to the last chunk instead of getting a buffer
//! each, so a stream of tiny messages costs one allocation per chunk rather
//! than one per message. A borrowed send (`send_borrowed`) is a chunk of its
//! own that points at the caller's memory: it is written from there, in
//! line with the copied chunks, and handed back once its last byte left.

use std::collections::VecDeque;
use std::io::IoSlice;

use crate::borrowed::Borrowed;

/// Sends up to this size are coalesced into the tail chunk.
const COALESCE_LIMIT: usize = 16 * 1024;
/// How many chunks one vectored write hands the kernel.
pub const MAX_IOVECS: usize = 64;

/// Empty, it is one null pointer: most connections have nothing queued
/// most of the time, and every connection carries one.
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
}

enum Chunk {
    Copied(Vec<u8>),
    Borrowed(Box<dyn Borrowed>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Copied(v) => v,
            Chunk::Borrowed(b) => b.bytes(),
        }
    }
}

impl std::fmt::Debug for SendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendQueue").field("len", &self.len()).finish()
    }
}

impl SendQueue {
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |q| q.len)
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    pub fn push(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.inner.get_or_insert_with(Box::default).push(data);
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
    /// their end go to `done`, in order.
    pub fn consume(&mut self, written: usize, done: &mut Vec<Box<dyn Borrowed>>) {
        let Some(q) = self.inner.as_mut() else {
            debug_assert_eq!(written, 0, "consume on an empty queue");
            return;
        };
        q.consume(written, done);
        if q.len == 0 {
            self.inner = None;
        }
    }

    /// Empties the queue; the borrowed buffers still in it (whose bytes
    /// never all left) go to `unsent`, in order.
    pub fn clear(&mut self, mut unsent: impl FnMut(Box<dyn Borrowed>)) {
        if let Some(q) = self.inner.take() {
            for chunk in q.chunks {
                if let Chunk::Borrowed(b) = chunk {
                    unsent(b);
                }
            }
        }
    }

    /// Empties the queue, handing each unwritten piece to `f` in order;
    /// borrowed buffers go to `used` once `f` has had their bytes.
    pub fn drain_into(&mut self, mut f: impl FnMut(&[u8]), mut used: impl FnMut(Box<dyn Borrowed>)) {
        if let Some(q) = self.inner.take() {
            let mut skip = q.front_written;
            for chunk in q.chunks {
                f(&chunk.bytes()[skip..]);
                skip = 0;
                if let Chunk::Borrowed(b) = chunk {
                    used(b);
                }
            }
        }
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

    fn consume(&mut self, mut written: usize, done: &mut Vec<Box<dyn Borrowed>>) {
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
                done.push(b);
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
            q.consume(taken, &mut Vec::new());
        }
        out
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

    /// A borrowed buffer that records when it was handed back.
    struct Lent {
        bytes: Vec<u8>,
        log: std::sync::Arc<std::sync::Mutex<Vec<(u8, Result<(), crate::error::Code>)>>>,
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
            let mut done = Vec::new();
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
                let before = done.len();
                q.consume(taken, &mut done);
                for b in &done[before..] {
                    // Handed back only once every byte of it was taken.
                    let b: &Box<dyn Borrowed> = b;
                    let fill = b.bytes()[0];
                    let last = expected.iter().rposition(|&x| x == fill).unwrap();
                    assert!(out.len() > last, "step {step}: buffer {fill} back early");
                }
            }
            assert_eq!(out, expected, "step {step}");
            let order: Vec<u8> = done.iter().map(|b| b.bytes()[0]).collect();
            assert_eq!(order, (0..40).step_by(3).collect::<Vec<u8>>());
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
        let mut unsent = Vec::new();
        q.clear(|b| unsent.push(b));
        assert_eq!(unsent.len(), 1, "clearing hands back what never left");
        assert!(q.is_empty());
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
