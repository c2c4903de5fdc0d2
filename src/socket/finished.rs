//! Borrowed sends that are done with, waiting for the connection's driver
//! to raise their completions: the thread that finished one may be the
//! host's own, inside `send_borrowed`, which must not call back.

use crate::borrowed::Completion;

/// Empty, it is one null pointer, like the send queue: only connections
/// that lend buffers ever fill it.
#[derive(Debug, Default)]
pub(crate) struct Finished(#[allow(clippy::box_collection)] Option<Box<Vec<Completion>>>);

impl Finished {
    pub(crate) fn push(&mut self, done: Completion) {
        self.0.get_or_insert_with(Box::default).push(done);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The completions, in the order their sends were made.
    pub(crate) fn take(&mut self) -> Vec<Completion> {
        self.0.take().map(|v| *v).unwrap_or_default()
    }
}
