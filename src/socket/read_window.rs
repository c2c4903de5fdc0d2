//! Sends made from the bytes being delivered, kept as references instead
//! of copies until the end of the pass.
//!
//! While a plain connection delivers one large read in chunks, its sends
//! are corked: they leave together in one write when the pass ends. An
//! echo, a proxy or a filter sends (parts of) the very bytes it was handed,
//! which live in the worker thread's read buffer; copying them into the
//! send queue only to write them out a moment later was most of the
//! library's own CPU time on bulk transfers. So the read buffer is shared
//! (`Arc`) during the pass, a send of bytes inside it queues a reference
//! (`SharedSlice`), and the end of the pass writes from the buffer and
//! copies only what the kernel did not take.
//!
//! A send is recognised by address: its slice lies inside the bytes this
//! thread is delivering, for this connection. Anything else is copied as
//! before.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

/// Bytes of a read buffer, kept alive by sharing it.
#[derive(Clone)]
pub(crate) struct SharedSlice {
    buffer: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl SharedSlice {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buffer[self.range.clone()]
    }

    /// Appends `next` when it continues these bytes in the same buffer (a
    /// read delivered in chunks and sent back chunk by chunk).
    pub(crate) fn extend(&mut self, next: &SharedSlice) -> bool {
        let joins = Arc::ptr_eq(&self.buffer, &next.buffer) && self.range.end == next.range.start;
        if joins {
            self.range.end = next.range.end;
        }
        joins
    }
}

struct Window {
    /// Which connection delivers (its address: only compared).
    owner: usize,
    buffer: Arc<Vec<u8>>,
    len: usize,
}

thread_local! {
    static WINDOW: RefCell<Option<Window>> = const { RefCell::new(None) };
}

/// Marks `buffer[..len]` as being delivered on this thread for `owner`
/// until the guard is dropped.
pub(crate) fn open(owner: usize, buffer: Arc<Vec<u8>>, len: usize) -> WindowGuard {
    WINDOW.with(|w| {
        *w.borrow_mut() = Some(Window { owner, buffer, len });
    });
    WindowGuard(())
}

pub(crate) struct WindowGuard(());

impl Drop for WindowGuard {
    fn drop(&mut self) {
        WINDOW.with(|w| w.borrow_mut().take());
    }
}

/// `data` as a reference into the bytes `owner` is delivering on this
/// thread, if that is where it lies.
pub(crate) fn slice_of(owner: usize, data: &[u8]) -> Option<SharedSlice> {
    WINDOW.with(|w| {
        let w = w.borrow();
        let w = w.as_ref().filter(|w| w.owner == owner)?;
        let base = w.buffer.as_ptr() as usize;
        let start = (data.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(data.len())?;
        (end <= w.len).then(|| SharedSlice {
            buffer: w.buffer.clone(),
            range: start..end,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bytes_inside_the_window_of_its_owner_are_shared() {
        let buffer = Arc::new((0..=255u8).collect::<Vec<u8>>());
        let outside = vec![1u8; 16];
        {
            let _guard = open(7, buffer.clone(), 200);
            let s = slice_of(7, &buffer[10..20]).expect("inside");
            assert_eq!(s.bytes(), &buffer[10..20]);
            assert!(slice_of(8, &buffer[10..20]).is_none(), "another owner");
            assert!(
                slice_of(7, &buffer[190..210]).is_none(),
                "past the delivered length"
            );
            assert!(slice_of(7, &outside).is_none(), "another buffer");
            let mut first = slice_of(7, &buffer[0..4]).unwrap();
            assert!(first.extend(&slice_of(7, &buffer[4..9]).unwrap()));
            assert!(
                !first.extend(&slice_of(7, &buffer[20..30]).unwrap()),
                "not contiguous"
            );
            assert_eq!(first.bytes(), &buffer[0..9]);
        }
        assert!(
            slice_of(7, &buffer[10..20]).is_none(),
            "closed with its guard"
        );
    }
}
