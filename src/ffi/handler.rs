//! The `Handler` behind every socket opened from C: a table of function
//! pointers plus `user_data`, replaceable per event as the original's
//! `on(event, cb)` allows.

use std::any::Any;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::guard::{handle_of, set_last_error, to_c_string};
use super::types::*;
use crate::error::Error;
use crate::events::Event;
use crate::socket::Handler;
use crate::socket::Socket;

#[derive(Clone, Copy)]
pub struct CallbackTable {
    pub on_connect: sack_tcp_connect_cb,
    pub on_ready: sack_tcp_ready_cb,
    pub on_message: sack_tcp_message_cb,
    pub on_close: sack_tcp_close_cb,
    pub on_error: sack_tcp_error_cb,
    pub on_drain: sack_tcp_drain_cb,
    pub on_end: sack_tcp_end_cb,
    pub user_data: *mut c_void,
}

// SAFETY: the table holds plain function pointers and the user's opaque
// pointer. The header documents that callbacks run on runtime threads, so
// handing `user_data` to them is what the user asked for.
unsafe impl Send for CallbackTable {}
// SAFETY: as for `Send`; a shared table is only read (copied out) and never
// written in place: a change clones it first (`TableGuard`).
unsafe impl Sync for CallbackTable {}

impl CallbackTable {
    pub fn from_options(o: &sack_tcp_options) -> CallbackTable {
        CallbackTable {
            on_connect: o.on_connect,
            on_ready: o.on_ready,
            on_message: o.on_message,
            on_close: o.on_close,
            on_error: o.on_error,
            on_drain: o.on_drain,
            on_end: o.on_end,
            user_data: o.user_data,
        }
    }
}

/// A socket's callbacks. An accepted connection starts with its listener's
/// table, shared rather than copied (an idle connection is mostly
/// allocations, and this one was 88 bytes); the first change made on the
/// connection, or on the listener, copies it, so neither sees the other's.
pub struct CHandler {
    table: Mutex<Arc<CallbackTable>>,
}

/// A socket's table, locked; writing through it copies a shared table
/// first.
pub struct TableGuard<'a>(MutexGuard<'a, Arc<CallbackTable>>);

impl std::ops::Deref for TableGuard<'_> {
    type Target = CallbackTable;

    fn deref(&self) -> &CallbackTable {
        &self.0
    }
}

impl std::ops::DerefMut for TableGuard<'_> {
    fn deref_mut(&mut self) -> &mut CallbackTable {
        Arc::make_mut(&mut self.0)
    }
}

impl CHandler {
    pub fn new(table: CallbackTable) -> Arc<CHandler> {
        Arc::new(CHandler {
            table: Mutex::new(Arc::new(table)),
        })
    }

    /// The table of a socket opened through the C surface.
    pub fn table_of(socket: &Socket) -> TableGuard<'_> {
        let handler = socket
            .handler()
            .as_any()
            .downcast_ref::<CHandler>()
            .expect("sockets reachable from C carry a CHandler");
        TableGuard(handler.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Arc<CallbackTable>> {
        crate::lock(&self.table)
    }
}

fn error_call(t: &CallbackTable, handle: *mut sack_tcp, error: &Error, data: &[u8]) {
    let Some(f) = t.on_error else { return };
    let message = to_c_string(&error.to_string());
    let data_ptr = if data.is_empty() {
        ptr::null()
    } else {
        data.as_ptr()
    };
    // SAFETY: the user registered `f` with this signature; every pointer is
    // valid for the duration of the call, as the header promises.
    unsafe {
        f(
            t.user_data,
            handle,
            error.code() as sack_tcp_result,
            message.as_ptr(),
            data_ptr,
            data.len(),
        )
    };
}

impl Handler for CHandler {
    fn handle(&self, socket: &Socket, event: Event<'_>) {
        // Copied out so that a callback may replace callbacks (or call any
        // other function) without meeting this lock.
        let t = **self.lock();
        let handle = handle_of(socket);
        let ud = t.user_data;
        // Every call below: the user registered the function with this
        // signature; `handle` and any data pointer are valid for the
        // duration of the call, as the header promises.
        match event {
            Event::Connect(status) => {
                let Some(f) = t.on_connect else {
                    return;
                };
                let code = match status {
                    Ok(()) => SACK_TCP_OK,
                    Err(error) => {
                        set_last_error(error);
                        error.code() as sack_tcp_result
                    }
                };
                // SAFETY: see above the match.
                unsafe { f(ud, handle, code) };
            }
            Event::Ready => {
                if let Some(f) = t.on_ready {
                    // SAFETY: see above the match.
                    unsafe { f(ud, handle) };
                }
            }
            Event::Message(data) => {
                if let Some(f) = t.on_message {
                    // SAFETY: see above the match; `data` is borrowed for the call.
                    unsafe { f(ud, handle, data.as_ptr(), data.len()) };
                }
            }
            Event::Text(text) => {
                if let Some(f) = t.on_message {
                    let with_nul = text.bytes_with_nul();
                    // SAFETY: see above the match; the text and its NUL are
                    // borrowed for the call.
                    unsafe { f(ud, handle, with_nul.as_ptr(), with_nul.len() - 1) };
                }
            }
            Event::Drain => {
                if let Some(f) = t.on_drain {
                    // SAFETY: see above the match.
                    unsafe { f(ud, handle) };
                }
            }
            // The send's own callback, which its buffer carries.
            Event::SendDone(done) => done.run(),
            Event::End => {
                if let Some(f) = t.on_end {
                    // SAFETY: see above the match.
                    unsafe { f(ud, handle) };
                }
            }
            Event::Error(error) => error_call(&t, handle, error, error.data()),
            Event::Close => {
                if let Some(f) = t.on_close {
                    // SAFETY: see above the match.
                    unsafe { f(ud, handle) };
                }
            }
        }
    }

    fn for_accepted(&self) -> Arc<dyn Handler> {
        Arc::new(CHandler {
            table: Mutex::new(self.lock().clone()),
        })
    }

    /// Only a connect callback receives accepted handles to free.
    fn takes_accepted(&self) -> bool {
        self.lock().on_connect.is_some()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(user_data: usize) -> CallbackTable {
        CallbackTable {
            user_data: user_data as *mut c_void,
            ..CallbackTable::from_options(&super::super::options::defaults())
        }
    }

    fn of(handler: &Arc<dyn Handler>) -> &CHandler {
        handler.as_any().downcast_ref::<CHandler>().unwrap()
    }

    #[test]
    fn an_accepted_table_is_shared_until_either_side_changes() {
        let listener: Arc<dyn Handler> = CHandler::new(table(1));
        let first = listener.for_accepted();
        let second = listener.for_accepted();
        assert!(Arc::ptr_eq(&of(&first).lock(), &of(&listener).lock()));
        assert!(Arc::ptr_eq(&of(&second).lock(), &of(&listener).lock()));

        TableGuard(of(&first).lock()).user_data = 2 as *mut c_void;
        assert_eq!(of(&first).lock().user_data as usize, 2);
        assert_eq!(of(&listener).lock().user_data as usize, 1);
        assert_eq!(of(&second).lock().user_data as usize, 1);

        TableGuard(of(&listener).lock()).user_data = 3 as *mut c_void;
        assert_eq!(of(&listener).lock().user_data as usize, 3);
        assert_eq!(of(&second).lock().user_data as usize, 1);
        assert_eq!(of(&first).lock().user_data as usize, 2);
    }

    #[test]
    fn an_accepted_connections_handler_is_one_pointer() {
        assert!(std::mem::size_of::<CHandler>() <= 16);
    }
}
