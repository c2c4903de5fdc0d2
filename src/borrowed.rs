//! Bytes a send borrows from its caller instead of copying
//! (`sack_tcp_send_borrowed`), and the completion that gives them back.
//!
//! The socket layer sees the caller's buffer only through [`Borrowed`]: the
//! C surface implements it over the caller's pointer (the one place that
//! needs `unsafe`), Rust tests over a `Vec`. The buffer waits in the send
//! queue, in call order with copied sends, until the kernel has taken its
//! last byte; the completion then travels as an event, so it runs on the
//! same thread and under the same rules as every other callback.

use std::fmt;

use crate::error::Code;

/// A buffer the library reads from until it calls [`Borrowed::complete`].
pub trait Borrowed: Send {
    /// The lent bytes; the same slice every time it is asked.
    fn bytes(&self) -> &[u8];

    /// The library no longer needs the bytes: `Ok` once all of them were
    /// handed to the kernel (or, for TLS, encrypted), otherwise why not.
    /// Called at most once, from a callback's context.
    fn complete(self: Box<Self>, status: Result<(), Code>);
}

/// A finished borrowed send on its way to the host's callback.
pub struct Completion {
    buffer: Box<dyn Borrowed>,
    status: Result<(), Code>,
}

impl Completion {
    /// Every byte left the library.
    pub fn sent(buffer: Box<dyn Borrowed>) -> Completion {
        Completion {
            buffer,
            status: Ok(()),
        }
    }

    /// The connection ended before every byte left; some may have.
    pub fn canceled(buffer: Box<dyn Borrowed>) -> Completion {
        Completion {
            buffer,
            status: Err(Code::Canceled),
        }
    }

    pub fn status(&self) -> Result<(), Code> {
        self.status
    }

    /// Hands the buffer back to its owner.
    pub fn run(self) {
        self.buffer.complete(self.status);
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("len", &self.buffer.bytes().len())
            .field("status", &self.status)
            .finish()
    }
}
