//! Exported functions for issue 15's network features: TCP options changed
//! on a live connection and the connection's descriptor.

use std::time::Duration;

use super::guard::{guard, socket, write_out, write_versioned};
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
/// (set `no_delay` at open for the connections it accepts), on a client
/// not yet connected and on a Unix domain connection (which has no TCP
/// options; this and `sack_tcp_set_keep_alive` and
/// `sack_tcp_set_user_timeout` change nothing there), `SACK_TCP_ERR_CLOSED` once the connection has closed,
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

/// A connection's figures, filled by `sack_tcp_get_stats`. Versioned like
/// the options: fields are only ever appended, and the caller passes
/// `sizeof` of its struct.
#[repr(C)]
pub struct sack_tcp_stats {
    /// Set to the caller's `struct_size`; fields past the library's own
    /// struct are zeroed.
    pub struct_size: usize,
    /// Bytes read from the socket since the connection was established
    /// (TLS records and handshakes included: bytes on the wire).
    pub bytes_received: u64,
    /// Bytes the kernel accepted for sending (TLS records and handshakes
    /// included; accepted, not yet necessarily acknowledged).
    pub bytes_sent: u64,
    /// Milliseconds since the connection was established (a client: since
    /// its connect completed); once it has closed, the time it was up.
    pub connected_ms: u64,
    /// The kernel's smoothed round-trip time in microseconds (TCP_INFO
    /// `tcpi_rtt`); 0 when `has_tcp_info` is false.
    pub rtt_us: u32,
    /// Its mean deviation in microseconds (`tcpi_rttvar`).
    pub rtt_var_us: u32,
    /// Segments retransmitted over the connection's life
    /// (`tcpi_total_retrans`).
    pub retransmits: u32,
    /// Whether the three TCP_INFO figures are valid: true on Linux, false
    /// where TCP_INFO does not exist.
    pub has_tcp_info: bool,
}

/// The first (and current) size of `sack_tcp_stats`.
const MIN_STATS_SIZE: usize =
    std::mem::offset_of!(sack_tcp_stats, has_tcp_info) + std::mem::size_of::<bool>();

/// Writes a connection's figures to `*stats`, a struct of `struct_size`
/// bytes (pass `sizeof *stats`): bytes received and sent, time connected,
/// and the kernel's round-trip time and retransmissions (TCP_INFO, read at
/// the call while the connection is open).
///
/// Readable at any time once the connection is established, from any
/// thread and from inside any callback, including the close callback and
/// after it: the library freezes the figures when the connection ends,
/// just before it closes the descriptor, so a close callback reads the
/// final ones (a closed handle is not an error here, as with the address
/// getters).
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` if `handle` or `stats` is NULL,
/// `SACK_TCP_ERR_NOT_APPLICABLE` on a listener and on a client not yet
/// connected, `SACK_TCP_ERR_INVALID_ARGUMENT` if `struct_size` is smaller
/// than the first version of the struct. Nothing is written on failure.
#[no_mangle]
pub extern "C" fn sack_tcp_get_stats(
    handle: *const sack_tcp,
    stats: *mut sack_tcp_stats,
    struct_size: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        if stats.is_null() {
            return Err(super::guard::null("stats"));
        }
        let f = s.figures()?;
        let tcp = f.tcp.unwrap_or_default();
        let value = sack_tcp_stats {
            struct_size: 0,
            bytes_received: f.received,
            bytes_sent: f.sent,
            connected_ms: u64::try_from(f.connected_for().as_millis()).unwrap_or(u64::MAX),
            rtt_us: tcp.rtt_us,
            rtt_var_us: tcp.rtt_var_us,
            retransmits: tcp.retransmits,
            has_tcp_info: f.tcp.is_some(),
        };
        // SAFETY: non-NULL; the caller passes `struct_size` writable bytes.
        unsafe { write_versioned(stats, struct_size, MIN_STATS_SIZE, value, "stats") }
    })
}

/// Writes to `*out` how many connections this listener accepted that have
/// not closed yet: each counts from its accept until its close callback
/// (the count has dropped by the time that callback runs). Connections
/// refused past `max_connections` never count.
///
/// Callable from any thread and from inside any callback. Errors:
/// `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// connection, `SACK_TCP_ERR_CLOSED` once the listener has closed. `*out`
/// is written only on success.
#[no_mangle]
pub extern "C" fn sack_tcp_get_connection_count(
    handle: *const sack_tcp,
    out: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let count = s.connection_count()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", count) }
    })
}

/// Changes a running listener's connection cap (`max_connections`; 0 =
/// none). It applies to connections accepted from now on: lowering it
/// below the current count closes nothing, it only refuses new ones until
/// enough have closed.
///
/// Callable from any thread and from inside any callback. Errors:
/// `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// connection, `SACK_TCP_ERR_CLOSED` once the listener has closed.
#[no_mangle]
pub extern "C" fn sack_tcp_set_max_connections(
    handle: *mut sack_tcp,
    max_connections: u32,
) -> sack_tcp_result {
    with_socket(handle, |s| s.set_max_connections(max_connections))
}

/// Which kind of socket a descriptor is opened as.
#[cfg(unix)]
enum FdKind {
    Listener,
    Connection,
}

/// The shared body of `sack_tcp_open_listener_fd` and `sack_tcp_adopt_fd`.
fn open_fd(
    options: *const sack_tcp_options,
    fd: i32,
    out: *mut *mut sack_tcp,
    #[cfg_attr(not(unix), allow(unused_variables))] kind_listener: bool,
) -> sack_tcp_result {
    guard(|| {
        if out.is_null() {
            return Err(super::guard::null("out"));
        }
        // SAFETY: checked for NULL inside; the caller passes a struct filled
        // by `sack_tcp_options_init`.
        let raw = unsafe {
            super::guard::read_versioned(
                options,
                super::options::MIN_OPTIONS_SIZE,
                super::options::defaults(),
                "options",
            )?
        };
        // SAFETY: the string fields are NULL or C strings, per the header.
        let opts = unsafe { super::options::from_c(&raw)? };
        #[cfg(unix)]
        {
            use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
            if fd < 0 {
                return Err(crate::error::Error::invalid(format!(
                    "`fd` is {fd}, not a descriptor"
                )));
            }
            // SAFETY: fd is not -1, and the header requires a descriptor
            // open for the duration of the call; it is only duplicated.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let dup = borrowed
                .try_clone_to_owned()
                .map_err(|e| crate::error::Error::from_io("duplicating `fd`", &e))?;
            let handler =
                super::handler::CHandler::new(super::handler::CallbackTable::from_options(&raw));
            let kind = if kind_listener {
                FdKind::Listener
            } else {
                FdKind::Connection
            };
            let sock = match kind {
                FdKind::Listener => Socket::listen_on_fd(&opts, handler, dup)?,
                FdKind::Connection => Socket::adopt_fd(&opts, handler, dup)?,
            };
            // The library works on its duplicate; the caller's number is
            // closed now, as the header says ownership passes on success.
            // SAFETY: the caller gave up `fd` on success, per the header.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            // SAFETY: `out` is non-NULL (checked above) and writable.
            unsafe { write_out(out, "out", super::guard::handle_of(&sock)) }
        }
        #[cfg(not(unix))]
        {
            let _ = (opts, fd);
            Err(crate::error::Error::new(
                crate::error::Code::NotApplicable,
                "descriptors are not available on Windows",
            ))
        }
    })
}

/// Opens a listener on `fd`, a listening TCP or Unix domain stream socket
/// bound by someone else:
/// systemd socket activation (LISTEN_FDS, descriptors from 3), inetd, or
/// a parent that bound a privileged port and dropped its rights. `options`
/// is used as by `sack_tcp_open` for a listener, except that `address`,
/// `port` and `to_address` must be unset (the descriptor has its address;
/// `SACK_TCP_ERR_INVALID_ARGUMENT` otherwise); `backlog`, if set, is
/// applied with another listen(). TLS, fallback, STARTTLS,
/// `max_connections` and the connection options work as on any listener.
///
/// Ownership: on success the socket belongs to the library. It keeps a
/// duplicate of `fd` and closes `fd` itself before returning (the number
/// may be reused at once); it closes its duplicate when the listener
/// closes. On failure `fd` is left open and still the caller's.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` (`options` or `out`),
/// `SACK_TCP_ERR_INVALID_ARGUMENT` if `fd` is negative, not a socket
/// (`SACK_TCP_ERR_IO` if it is not open at all), not an IPv4, IPv6 or
/// Unix stream socket, or not listening (the file of an inherited Unix
/// listener is never removed by the library); the option errors of `sack_tcp_open`;
/// `SACK_TCP_ERR_NOT_APPLICABLE` on Windows. `*out` is written only on
/// success; callbacks as for `sack_tcp_open`.
#[no_mangle]
pub extern "C" fn sack_tcp_open_listener_fd(
    options: *const sack_tcp_options,
    fd: i32,
    out: *mut *mut sack_tcp,
) -> sack_tcp_result {
    open_fd(options, fd, out, true)
}

/// Adopts `fd`, an already-connected TCP or Unix domain stream socket (one
/// end of a `socketpair`, an inetd-style child's
/// stdin, one passed over a Unix socket, one a host connected itself), as
/// a connection handle. The connect callback fires with `SACK_TCP_OK`,
/// then ready, on a runtime thread, possibly before this returns (use the
/// callback's `socket` argument); then it behaves as a client connection:
/// send, pause, end, close, the figures and the live options all apply.
///
/// `options` as for `sack_tcp_open`, except that `address`, `port` and
/// `to_address` must be unset (`SACK_TCP_ERR_INVALID_ARGUMENT`) and that
/// `backlog`, `max_connections`, `connect_timeout_ms` and any TLS option
/// (`ssl`, `cert`, `hosts`, `starttls`, ...) give
/// `SACK_TCP_ERR_NOT_APPLICABLE`: an adopted connection is plain.
/// Ownership as for `sack_tcp_open_listener_fd`: on success the library
/// closes `fd` (it works on a duplicate, closed when the connection
/// closes); on failure `fd` stays the caller's.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_INVALID_ARGUMENT`
/// for a negative `fd`, a descriptor that is not a TCP or Unix stream
/// socket, is
/// listening, or is not connected; `SACK_TCP_ERR_IO` for one not open;
/// `SACK_TCP_ERR_NOT_APPLICABLE` as above and on Windows.
#[no_mangle]
pub extern "C" fn sack_tcp_adopt_fd(
    options: *const sack_tcp_options,
    fd: i32,
    out: *mut *mut sack_tcp,
) -> sack_tcp_result {
    open_fd(options, fd, out, false)
}

/// Writes the peer process's credentials of a Unix domain connection
/// (`address`/`to_address` "unix:..."): its process id to `*pid`, user id
/// to `*uid` and group id to `*gid`, as the kernel recorded them when the
/// peer connected (a client) or listened (the server a client connected
/// to): SO_PEERCRED on Linux, getpeereid elsewhere (where `*pid` is -1).
/// Use it to let only a given user in, as a D-Bus or Docker socket does.
///
/// The library reads them once, at accept or connect, so they stay
/// readable in the close callback and after close (a closed handle is not
/// an error here, as with the address getters). Callable from any thread
/// and from inside any callback.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` if `handle`, `pid`, `uid` or `gid`
/// is NULL; `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, on a client not
/// yet connected and on a TCP connection (including one adopted with
/// `sack_tcp_adopt_fd` from a TCP descriptor). Nothing is written on
/// failure.
#[no_mangle]
pub extern "C" fn sack_tcp_get_peer_credentials(
    handle: *const sack_tcp,
    pid: *mut i32,
    uid: *mut u32,
    gid: *mut u32,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        for (ptr_is_null, name) in [
            (pid.is_null(), "pid"),
            (uid.is_null(), "uid"),
            (gid.is_null(), "gid"),
        ] {
            if ptr_is_null {
                return Err(super::guard::null(name));
            }
        }
        let cred = s.peer_credentials()?;
        // SAFETY: all three are non-NULL (checked above) and writable per
        // the header.
        unsafe {
            write_out(pid, "pid", cred.pid)?;
            write_out(uid, "uid", cred.uid)?;
            write_out(gid, "gid", cred.gid)
        }
    })
}

/// Changes the idle timeout (`idle_timeout_ms` of the options) on a live
/// connection: it closes (error callback `SACK_TCP_ERR_TIMED_OUT`, then a
/// reset and `close`) once nothing arrives from the peer for `timeout_ms`
/// milliseconds, counted from this call and from each read after it
/// (0 = never). The clock still stands still while reads are paused, and
/// a connection already closing keeps its close timeout instead.
///
/// Threads and errors as `sack_tcp_set_no_delay`.
#[no_mangle]
pub extern "C" fn sack_tcp_set_idle_timeout(
    handle: *mut sack_tcp,
    timeout_ms: u32,
) -> sack_tcp_result {
    with_socket(handle, |s| s.set_idle_timeout(millis(timeout_ms)))
}
