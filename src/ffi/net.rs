//! Exported functions for issue 15's network features: TCP options changed
//! on a live connection and the connection's descriptor.

use std::time::Duration;

use super::guard::{guard, socket, write_out};
use super::types::*;
use crate::error::Result;
use crate::socket::Socket;

/// Runs `f` on the socket behind `handle`.
fn with_socket(handle: *const sack_tcp, f: impl FnOnce(&Socket) -> Result<()>) -> sack_tcp_result {
    // SAFETY: the header requires a handle the caller holds (or the one the
    // running callback was given); `socket` rejects NULL.
    guard(|| f(unsafe { socket(handle)? }))
}

fn millis(value: u32) -> Option<Duration> {
    (value > 0).then(|| Duration::from_millis(u64::from(value)))
}

/// Sets TCP_NODELAY on a live connection (`no_delay` of the options is
/// where it starts): `true` sends small writes at once, `false` lets Nagle's
/// algorithm gather them. Takes effect for the next write.
///
/// Callable from any thread and from inside any callback. Errors:
/// `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a listener
/// (set `no_delay` at open for the connections it accepts) and on a client
/// not yet connected, `SACK_TCP_ERR_CLOSED` once the connection has closed,
/// `SACK_TCP_ERR_IO` if the kernel refuses.
#[no_mangle]
pub extern "C" fn sack_tcp_set_no_delay(handle: *mut sack_tcp, on: bool) -> sack_tcp_result {
    with_socket(handle, |s| s.set_no_delay(on))
}

/// Changes TCP keepalive on a live connection. `idle_ms` 0 switches it
/// off; otherwise it is switched on with a first probe after `idle_ms` of
/// silence, then one every `interval_ms`, and the connection is dropped
/// (error callback: `SACK_TCP_ERR_TIMED_OUT`, then `close`) after `count`
/// unanswered probes. `interval_ms` or `count` 0 keeps the connection's
/// current value (the one given at open, else the system's). The kernel
/// counts whole seconds (rounded down, 1 s at least).
///
/// Threads as `sack_tcp_set_no_delay`. Errors: those of
/// `sack_tcp_set_no_delay`, and `SACK_TCP_ERR_INVALID_ARGUMENT` for
/// `interval_ms` or `count` without `idle_ms`, a time over 32767 s or a
/// count over 127 (nothing is changed then).
#[no_mangle]
pub extern "C" fn sack_tcp_set_keep_alive(
    handle: *mut sack_tcp,
    idle_ms: u32,
    interval_ms: u32,
    count: u32,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        s.set_keep_alive(
            millis(idle_ms),
            millis(interval_ms),
            (count > 0).then_some(count),
        )
    })
}

/// Changes TCP_USER_TIMEOUT on a live connection: once sent bytes stay
/// unacknowledged for `timeout_ms` milliseconds the kernel drops the
/// connection, and the error callback gets `SACK_TCP_ERR_TIMED_OUT`, then
/// `close`. 0 goes back to the system's retransmission limits.
///
/// Threads as `sack_tcp_set_no_delay`. Errors: those of
/// `sack_tcp_set_no_delay`; `SACK_TCP_ERR_NOT_APPLICABLE` for a non-zero
/// timeout where the option does not exist (not Linux or Android).
#[no_mangle]
pub extern "C" fn sack_tcp_set_user_timeout(
    handle: *mut sack_tcp,
    timeout_ms: u32,
) -> sack_tcp_result {
    with_socket(handle, |s| s.set_user_timeout(millis(timeout_ms)))
}

/// Writes a connection's socket descriptor to `*fd`, for socket options
/// the library does not wrap (getsockopt of anything; setsockopt of
/// options such as IP_TOS, SO_MARK, SO_PRIORITY, TCP_CONGESTION).
///
/// The library still owns the descriptor. The host must not close it,
/// read, write, recv or send on it, shut it down, change its O_NONBLOCK
/// flag or hand it to another event loop, and must not keep using the
/// number once the connection closes: the library closes the descriptor
/// before the close callback runs, and the number may then be reused by
/// any other file. It is safe to use inside this connection's own
/// callbacks other than `close` (threaded delivery), or from any thread
/// while the host knows the connection is open (no close or error
/// callback yet).
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// listener, on a client not yet connected, and always on Windows (a
/// SOCKET does not fit `int32_t`); `SACK_TCP_ERR_CLOSED` once the
/// connection has closed. `*fd` is written only on success.
#[no_mangle]
pub extern "C" fn sack_tcp_get_fd(handle: *const sack_tcp, fd: *mut i32) -> sack_tcp_result {
    with_socket(handle, |s| {
        #[cfg(unix)]
        let value = s.raw_fd()?;
        #[cfg(not(unix))]
        let value: i32 = {
            let _ = s;
            return Err(crate::error::Error::new(
                crate::error::Code::NotApplicable,
                "descriptors are not available on Windows",
            ));
        };
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(fd, "fd", value) }
    })
}
