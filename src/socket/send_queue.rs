//! Bytes accepted by `send` but not yet written to the kernel.
//!
//! Small sends are appended to the last chunk instead of getting a buffer
//! each, so a stream of tiny messages costs one allocation per chunk rather
//! than one per message.

use std::collections::VecDeque;
use std::io::IoSlice;

/// Sends up to this size are coalesced into the tail chunk.
const COALESCE_LIMIT: usize = 16 * 1024;
/// How many chunks one vectored write hands the kernel.
pub const MAX_IOVECS: usize = 64;

/// Empty, it is one null pointer: most connections have nothing queued
/// most of the time, and every connection carries one.
#[derive(Debug, Default)]
pub struct SendQueue {
    /// Freed whenever the queue empties.
    inner: Option<Box<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    len: usize,
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

    /// Fills `slices` with the unwritten bytes, front first; returns how
    /// many were filled.
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_IOVECS]) -> usize {
        self.inner.as_ref().map_or(0, |q| q.io_slices(slices))
    }

    /// Drops `written` bytes from the front.
    pub fn consume(&mut self, written: usize) {
        let Some(q) = self.inner.as_mut() else {
            debug_assert_eq!(written, 0, "consume on an empty queue");
            return;
        };
        q.consume(written);
        if q.len == 0 {
            self.inner = None;
        }
    }

    pub fn clear(&mut self) {
        self.inner = None;
    }

    /// Empties the queue, handing each unwritten piece to `f` in order.
    pub fn drain_into(&mut self, mut f: impl FnMut(&[u8])) {
        if let Some(q) = self.inner.take() {
            let mut skip = q.front_written;
            for chunk in &q.chunks {
                f(&chunk[skip..]);
                skip = 0;
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
            if let Some(tail) = self.chunks.back_mut() {
                if tail.len() + data.len() <= COALESCE_LIMIT.max(tail.capacity()) {
                    tail.extend_from_slice(data);
                    return;
                }
            }
            let mut chunk = Vec::with_capacity(COALESCE_LIMIT);
            chunk.extend_from_slice(data);
            self.chunks.push_back(chunk);
        } else {
            self.chunks.push_back(data.to_vec());
        }
    }

    fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_IOVECS]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
            let start = if i == 0 { self.front_written } else { 0 };
            slices[n] = IoSlice::new(&chunk[start..]);
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
            let left = front.len() - self.front_written;
            if written < left {
                self.front_written += written;
                return;
            }
            written -= left;
            self.front_written = 0;
            self.chunks.pop_front();
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
