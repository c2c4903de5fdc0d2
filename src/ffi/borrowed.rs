//! `sack_tcp_send_borrowed`: the caller's buffer as the socket layer's
//! [`Borrowed`], and the export that lends it.

use std::ffi::c_void;

use super::guard::{self, guard, socket};
use super::types::*;
use crate::borrowed::Borrowed;
use crate::error::Code;

/// The caller's buffer and the callback that gives it back.
struct CBuffer {
    data: *const u8,
    len: usize,
    on_done: sack_tcp_send_done_cb,
    user_data: *mut c_void,
    handle: *mut sack_tcp,
    /// Set once `on_done` ran, or when the send was refused (none is owed).
    answered: bool,
}

// SAFETY: the header makes the caller keep `data` valid and unchanged, and
// readable from any thread, until `on_done`; `user_data` is only handed back
// to `on_done`, which the header says runs on runtime threads (or the
// dispatching one). `handle` is only passed along, never dereferenced here.
unsafe impl Send for CBuffer {}

impl CBuffer {
    fn answer(&mut self, handle: *mut sack_tcp, code: sack_tcp_result) {
        self.answered = true;
        if let Some(f) = self.on_done {
            // SAFETY: the caller registered `f` with this signature for this
            // send; the handle is the connection's (or NULL, see Drop).
            unsafe { f(self.user_data, handle, code) };
        }
    }
}

impl Borrowed for CBuffer {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-NULL (checked by the export when `len` > 0) and valid
        // for `len` bytes until `on_done`, per the header; `on_done` has not
        // run, since it consumes the buffer.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }

    fn complete(mut self: Box<Self>, status: Result<(), Code>) {
        let code = match status {
            Ok(()) => SACK_TCP_OK,
            Err(code) => code as sack_tcp_result,
        };
        let handle = self.handle;
        self.answer(handle, code);
    }
}

impl Drop for CBuffer {
    /// The last resort, which the socket layer avoids (it reports every
    /// buffer before its connection's close): a buffer dropped unanswered
    /// still gets its one callback, without a handle that may be gone.
    fn drop(&mut self) {
        if !self.answered {
            log::error!("a borrowed send's buffer was dropped without its completion");
            self.answer(std::ptr::null_mut(), Code::Canceled as sack_tcp_result);
        }
    }
}

/// Sends `len` bytes from `data` without copying them: the library reads
/// them from your buffer, which must stay valid and unchanged until
/// `on_done` fires, exactly once, for every call that returns
/// `SACK_TCP_OK` (see `sack_tcp_send_done_cb` for when, on which thread,
/// and with which status). Returns at once. Callable from any thread and
/// from inside any callback.
///
/// Order: the bytes leave in call order with those of `sack_tcp_send` and
/// other borrowed sends (from one thread, as for `sack_tcp_send`).
/// Plain: what the kernel takes at once is written from your buffer by this
/// call (when nothing is queued ahead, as `sack_tcp_send` does); the rest
/// waits in the send queue as a pointer to your buffer and is written from
/// it, so no byte is copied. TLS: the bytes are encrypted by this call, as
/// `sack_tcp_send` does (rustls copies plaintext into records either way;
/// from a message callback they are copied and encrypted with that read's
/// other sends when the callbacks of that read are done), so nothing is
/// saved but the code stays the same; your buffer is free when the call
/// returns, and `on_done` still fires later, from a callback thread.
///
/// Queue accounting: until they leave, the bytes count in
/// `sack_tcp_get_queued_bytes`, for drain and for `pause_reads_above`, like
/// queued bytes. The library holds no copy of them, so their length is not
/// checked against `send_queue_limit`: a borrowed send larger than the
/// limit is accepted. It is refused with `SACK_TCP_ERR_QUEUE_FULL` (and
/// drain armed) when the bytes already queued reach the limit, and while
/// borrowed bytes keep the queue above it, `sack_tcp_send` is refused too.
///
/// `len` may be 0 (`data` may then be NULL): `on_done` fires with
/// `SACK_TCP_OK`. `on_done` may be NULL when nothing needs telling (a
/// buffer that outlives the connection, such as static data).
///
/// Errors, with `on_done` never called and the buffer not used:
/// `SACK_TCP_ERR_NULL_POINTER` if `handle` is NULL, or `data` is NULL and
/// `len` is not 0; `SACK_TCP_ERR_NOT_APPLICABLE` on a listener;
/// `SACK_TCP_ERR_CLOSED` once a close or `sack_tcp_end` has been requested
/// or the connection ended; `SACK_TCP_ERR_QUEUE_FULL` as above. Sending
/// before the client is connected queues the buffer.
#[no_mangle]
pub extern "C" fn sack_tcp_send_borrowed(
    handle: *mut sack_tcp,
    data: *const c_void,
    len: usize,
    on_done: sack_tcp_send_done_cb,
    done_user_data: *mut c_void,
) -> sack_tcp_result {
    guard(|| {
        // SAFETY: the header requires a handle the caller holds (or the one
        // the running callback was given); `socket` rejects NULL.
        let s = unsafe { socket(handle)? };
        if data.is_null() && len != 0 {
            return Err(guard::null("data"));
        }
        let buffer = CBuffer {
            data: data.cast::<u8>(),
            len,
            on_done,
            user_data: done_user_data,
            handle,
            answered: false,
        };
        s.send_borrowed(buffer).map_err(|(error, mut refused)| {
            // Refused: the caller hears it from the return value alone.
            refused.answered = true;
            error
        })
    })
}
