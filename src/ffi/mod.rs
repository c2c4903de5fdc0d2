//! The C surface. Every function here checks its arguments, converts them,
//! calls the safe core and converts the result back, inside a panic guard.
//! No logic lives here.

#![allow(non_camel_case_types)]
// The exports are called from C, where Rust's `unsafe fn` marker means
// nothing; each pointer they dereference is checked and its contract is in
// the header and in a SAFETY comment.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod borrowed;
mod guard;
mod handler;
mod layouts;
mod log;
mod net;
pub(crate) mod options;
mod socket;
mod tls;
pub mod types;
mod verify;
mod version;

use std::ffi::c_char;

use guard::{guard, guard_value, last_error_ptr, read_versioned};
use types::*;

use crate::error::Code;
use crate::events::{self, Delivery};
use crate::runtime::{self, RuntimeConfig};

pub use borrowed::*;
pub use log::*;
pub use net::*;
pub use socket::*;
pub use tls::*;

/// Fills `options`, a struct of `struct_size` bytes, with the defaults (see
/// `sack_tcp_options_init_sized`). C and C++ callers use the
/// `sack_tcp_runtime_options_init(&o)` macro.
#[no_mangle]
pub extern "C" fn sack_tcp_runtime_options_init_sized(
    options: *mut sack_tcp_runtime_options,
    struct_size: usize,
) -> sack_tcp_result {
    guard(|| {
        // SAFETY: `write_versioned` checks for NULL; otherwise the caller
        // passes `struct_size` writable bytes, as the header says.
        unsafe {
            guard::write_versioned(
                options,
                struct_size,
                MIN_RUNTIME_OPTIONS_SIZE,
                runtime_defaults(),
                "options",
            )
        }
    })
}

fn runtime_defaults() -> sack_tcp_runtime_options {
    let limits = crate::events::DEFAULT_QUEUE_LIMITS;
    sack_tcp_runtime_options {
        struct_size: 0,
        worker_threads: 0,
        queued_bytes_limit: limits.total,
        queued_bytes_per_socket: limits.per_socket,
        delivery_mode: SACK_TCP_DELIVERY_THREADS,
    }
}

/// The first published `sack_tcp_runtime_options` ended after
/// `worker_threads`.
const MIN_RUNTIME_OPTIONS_SIZE: usize =
    std::mem::offset_of!(sack_tcp_runtime_options, worker_threads) + std::mem::size_of::<u32>();

/// What its callers pass as `struct_size`, tail padding included.
const V1_RUNTIME_OPTIONS_SIZEOF: usize =
    MIN_RUNTIME_OPTIONS_SIZE.next_multiple_of(std::mem::align_of::<sack_tcp_runtime_options>());

// Version 2 starts past version 1's tail padding (where `delivery_mode` once
// sat, which made a version-1 caller's padding read as a delivery mode).
const _: () = assert!(
    std::mem::offset_of!(sack_tcp_runtime_options, queued_bytes_limit) >= V1_RUNTIME_OPTIONS_SIZEOF
);

/// Starts the background runtime with `options` (NULL = defaults).
///
/// Optional: the first `sack_tcp_open` starts the runtime with defaults.
/// Call this first to choose the number of worker threads. Returns
/// `SACK_TCP_ERR_INVALID_ARGUMENT` if the runtime is already running (stop
/// it with `sack_tcp_shutdown` first), `SACK_TCP_ERR_RUNTIME` if threads
/// could not be started.
#[no_mangle]
pub extern "C" fn sack_tcp_runtime_start(
    options: *const sack_tcp_runtime_options,
) -> sack_tcp_result {
    guard(|| {
        let config = if options.is_null() {
            RuntimeConfig::default()
        } else {
            let defaults = runtime_defaults();
            let min = MIN_RUNTIME_OPTIONS_SIZE;
            // SAFETY: non-NULL; the caller passes a struct filled by
            // `sack_tcp_runtime_options_init`.
            let o = unsafe { read_versioned(options, min, defaults, "runtime options")? };
            let delivery = match o.delivery_mode {
                SACK_TCP_DELIVERY_THREADS => Delivery::Direct,
                SACK_TCP_DELIVERY_QUEUED => Delivery::Queued,
                other => {
                    return Err(crate::error::Error::invalid(format!(
                        "`delivery_mode` is {other}; use SACK_TCP_DELIVERY_THREADS (0) or \
                         SACK_TCP_DELIVERY_QUEUED (1)"
                    )))
                }
            };
            let or_default =
                |value: usize, default: usize| if value == 0 { default } else { value };
            let limits = crate::events::DEFAULT_QUEUE_LIMITS;
            RuntimeConfig {
                worker_threads: o.worker_threads as usize,
                delivery,
                queue_limits: crate::events::QueueLimits {
                    total: or_default(o.queued_bytes_limit, limits.total),
                    per_socket: or_default(o.queued_bytes_per_socket, limits.per_socket),
                },
            }
        };
        runtime::start(config)
    })
}

/// Closes every socket, waits for their `close` callbacks, then stops the
/// runtime and joins its threads before returning. Safe to call when
/// nothing is running. Handles you hold stay valid (closed) until you
/// `sack_tcp_free` them. A later `sack_tcp_open` starts a fresh runtime with
/// the same settings as the last one (worker threads, delivery mode, queue
/// limits); call `sack_tcp_runtime_start` first to change them.
///
/// Must not be called from a callback or a runtime thread:
/// that returns `SACK_TCP_ERR_WOULD_DEADLOCK` and does nothing. Returns
/// `SACK_TCP_ERR_TIMED_OUT` if some socket could not finish closing within
/// 10 seconds (a callback that never returns); the runtime is stopped anyway.
#[no_mangle]
pub extern "C" fn sack_tcp_shutdown() -> sack_tcp_result {
    guard(runtime::shutdown)
}

/// Waits until at most `target` socket objects are alive (see
/// `sack_tcp_live_handles`), up to `timeout_ms` milliseconds, and returns the
/// count then. The count drops when a socket's task has finished, shortly
/// after its close callback returned; tests use this instead of polling.
#[no_mangle]
pub extern "C" fn sack_tcp_wait_live_handles(target: usize, timeout_ms: u32) -> usize {
    guard_value(usize::MAX, || {
        crate::socket::wait_live_count(
            target,
            std::time::Duration::from_millis(u64::from(timeout_ms)),
        )
    })
}

/// The library's version as MAJOR * 10000 + MINOR * 100 + PATCH; compare
/// with `SACK_TCP_VERSION_NUMBER` from the header you compiled against.
#[no_mangle]
pub extern "C" fn sack_tcp_version() -> u32 {
    guard_value(0, version::number)
}

/// The library's version as a static string, e.g. "0.1.0".
#[no_mangle]
pub extern "C" fn sack_tcp_version_string() -> *const c_char {
    guard_value(c"".as_ptr(), || version::string().as_ptr())
}

/// Queued delivery mode: runs up to `max_events` waiting callbacks on the
/// calling thread and writes how many ran to `*dispatched` (may be NULL).
/// Never blocks: 0 means nothing was waiting. Callbacks keep every rule of
/// the threaded mode (order per socket, nothing after close); only one
/// thread dispatches at a time.
///
/// `SACK_TCP_ERR_NOT_APPLICABLE` in the threaded mode,
/// `SACK_TCP_ERR_WOULD_DEADLOCK` from inside a callback.
#[no_mangle]
pub extern "C" fn sack_tcp_dispatch(max_events: usize, dispatched: *mut usize) -> sack_tcp_result {
    guard(|| {
        let n = events::dispatch(max_events)?;
        if !dispatched.is_null() {
            // SAFETY: non-NULL and writable per the header.
            unsafe { dispatched.write(n) };
        }
        Ok(())
    })
}

/// Queued delivery mode: writes to `*fd` a descriptor that is readable
/// whenever callbacks wait for `sack_tcp_dispatch`. Add it to your
/// poll/select/epoll set or GUI loop; do not read it or close it. It stays
/// the same for the life of the process. `SACK_TCP_ERR_NOT_APPLICABLE` in
/// the threaded mode.
///
/// Windows: always `SACK_TCP_ERR_NOT_APPLICABLE` (`*fd` untouched). The
/// library's signal there is a SOCKET, which is pointer-sized and does not
/// fit `int32_t`; call `sack_tcp_dispatch` from a timer or your message
/// loop instead (it returns at once, with 0, when nothing waits).
#[no_mangle]
pub extern "C" fn sack_tcp_get_event_fd(fd: *mut i32) -> sack_tcp_result {
    guard(|| {
        let value = events::event_fd()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { guard::write_out(fd, "fd", value) }
    })
}

/// The number of socket objects alive: open sockets, closed ones not yet
/// freed, and ones still finishing. After `sack_tcp_shutdown` with every
/// handle freed, it is 0, which is what the test suite checks.
#[no_mangle]
pub extern "C" fn sack_tcp_live_handles() -> usize {
    guard_value(0, crate::socket::live_count)
}

/// A static, NUL-terminated description of `code` (never NULL). Unknown
/// codes give "unknown error code".
#[no_mangle]
pub extern "C" fn sack_tcp_strerror(code: sack_tcp_result) -> *const c_char {
    guard_value(c"unknown error code".as_ptr(), || {
        match Code::from_i32(code) {
            Some(code) => code.description().as_ptr(),
            None => c"unknown error code".as_ptr(),
        }
    })
}

/// The name of `code`'s constant, e.g. "SACK_TCP_ERR_REFUSED" (static,
/// never NULL), for logs and test output.
#[no_mangle]
pub extern "C" fn sack_tcp_error_name(code: sack_tcp_result) -> *const c_char {
    guard_value(c"SACK_TCP_ERR_UNKNOWN".as_ptr(), || {
        match Code::from_i32(code) {
            Some(code) => code.name().as_ptr(),
            None => c"SACK_TCP_ERR_UNKNOWN".as_ptr(),
        }
    })
}

/// A detailed message about the most recent failure on the calling thread
/// (the address at fault, the OS error text, ...). Never NULL; empty if
/// nothing failed yet. Valid until the next failing sack_tcp call on this
/// thread. Inside a failed connect callback it describes that failure.
#[no_mangle]
pub extern "C" fn sack_tcp_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), last_error_ptr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constants themselves are checked against the error table at
    /// compile time (types.rs); this checks what the C surface says of them.
    #[test]
    fn error_names_and_descriptions_come_from_the_table() {
        for code in Code::ALL {
            // SAFETY: both functions return static NUL-terminated strings.
            let (named, described) = unsafe {
                (
                    std::ffi::CStr::from_ptr(sack_tcp_error_name(code as i32)),
                    std::ffi::CStr::from_ptr(sack_tcp_strerror(code as i32)),
                )
            };
            assert_eq!(named, code.name());
            assert_eq!(described, code.description());
            assert!(!described.is_empty(), "{named:?}");
        }
        // SAFETY: as above.
        let unknown = unsafe { std::ffi::CStr::from_ptr(sack_tcp_error_name(10)) };
        assert_eq!(unknown, c"SACK_TCP_ERR_UNKNOWN");
    }
}
