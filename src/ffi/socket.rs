//! Exported socket functions.

use std::ffi::{c_char, c_void};

use super::guard::{self, guard, read_versioned, socket, write_out};
use super::handler::{CHandler, CallbackTable};
use super::options;
use super::types::*;
use crate::address::Endpoint;
use crate::error::{Error, Result};
use crate::socket::Socket;

/// Fills `options`, a struct of `struct_size` bytes, with the defaults and
/// sets its `struct_size`. C and C++ callers use the
/// `sack_tcp_options_init(&o)` macro, which passes `sizeof o`; bindings call
/// this with the size of their struct. A caller built against an older
/// header gets the fields it knows; fields the library does not know are
/// zeroed. Call it before setting any field.
///
/// Returns `SACK_TCP_ERR_NULL_POINTER` if `options` is NULL,
/// `SACK_TCP_ERR_INVALID_ARGUMENT` if `struct_size` is smaller than the
/// first published layout.
#[no_mangle]
pub extern "C" fn sack_tcp_options_init_sized(
    options: *mut sack_tcp_options,
    struct_size: usize,
) -> sack_tcp_result {
    // SAFETY: `write_versioned` checks for NULL; otherwise the caller passes
    // `struct_size` writable bytes, as the header says.
    guard(|| unsafe {
        guard::write_versioned(
            options,
            struct_size,
            options::MIN_OPTIONS_SIZE,
            options::defaults(),
            "options",
        )
    })
}

/// Opens a socket and writes its handle to `*out`.
///
/// Without `to_address` this binds and listens before returning: a bad
/// address, a port in use (`SACK_TCP_ERR_ADDRESS_IN_USE`) or a permission
/// problem is returned here. With `to_address` it starts connecting and
/// returns at once; the outcome arrives through the connect callback, which
/// may run (on a runtime thread) before this function returns, so use the
/// callback's `socket` argument rather than the variable `*out` is stored in.
/// Even the close callback may run first: if it frees the handle, the value
/// written to `*out` is already released when this returns.
///
/// Starts the runtime on first use. On failure `*out` is not written and no
/// callback fires.
#[no_mangle]
pub extern "C" fn sack_tcp_open(
    options: *const sack_tcp_options,
    out: *mut *mut sack_tcp,
) -> sack_tcp_result {
    guard(|| {
        if out.is_null() {
            return Err(guard::null("out"));
        }
        // SAFETY: checked for NULL inside; the caller passes a struct filled
        // by `sack_tcp_options_init`.
        let raw = unsafe {
            read_versioned(
                options,
                options::MIN_OPTIONS_SIZE,
                options::defaults(),
                "options",
            )?
        };
        // SAFETY: the string fields are NULL or C strings, per the header.
        let opts = unsafe { options::from_c(&raw)? };
        let handler = CHandler::new(CallbackTable::from_options(&raw));
        let sock = Socket::open(&opts, handler)?;
        // SAFETY: `out` is non-NULL (checked above) and writable per the header.
        unsafe { write_out(out, "out", guard::handle_of(&sock)) }
    })
}

/// Runs `f` on the socket behind `handle`.
fn with_socket(handle: *const sack_tcp, f: impl FnOnce(&Socket) -> Result<()>) -> sack_tcp_result {
    // SAFETY: the header requires a handle the caller holds (or the one the
    // running callback was given); `socket` rejects NULL.
    guard(|| f(unsafe { socket(handle)? }))
}

/// Copies `len` bytes from `data` and queues them for sending; returns at
/// once. Callable from any thread and from inside any callback. Bytes from
/// one thread go out in the order of its calls. When nothing is queued the
/// bytes are written straight to the kernel by this call, with one
/// exception: while the library is delivering what one read brought in
/// several message callbacks (a TLS read, or a plain read longer than
/// `read_buffer_size`), every send waits and they leave together in one
/// write when those deliveries end; `sack_tcp_get_queued_bytes` counts them
/// meanwhile.
///
/// Errors: `SACK_TCP_ERR_QUEUE_FULL` if the queued bytes plus `len` would
/// exceed `send_queue_limit` (nothing is queued; the drain callback fires
/// once the queue is low again; a single send larger than the limit always
/// fails and arms no drain), `SACK_TCP_ERR_CLOSED` once a close has been
/// requested or the connection ended, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// listener, `SACK_TCP_ERR_NULL_POINTER` if `data` is NULL and `len` is not
/// 0. Sending before the client is connected queues the bytes.
#[no_mangle]
pub extern "C" fn sack_tcp_send(
    handle: *mut sack_tcp,
    data: *const c_void,
    len: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        if len == 0 {
            return s.send(&[]);
        }
        if data.is_null() {
            return Err(guard::null("data"));
        }
        // SAFETY: non-NULL; the caller promises `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
        s.send(bytes)
    })
}

/// Starts a graceful close and returns at once.
///
/// Connection: no message callback starts after this returns (when called
/// from this socket's own callbacks; from another thread one already being
/// delivered may finish). Every queued byte is sent, then FIN; the socket
/// then waits (up to `close_timeout_ms`) for the peer's FIN and fires
/// `close`. While connecting it cancels the attempt: the connect callback
/// gets `SACK_TCP_ERR_CANCELED`, then `close`.
/// Listener: stops accepting on every address it listens on, then fires
/// `close`; connections it accepted stay open.
///
/// Calling it again while closing is harmless; after `close` has fired it
/// returns `SACK_TCP_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn sack_tcp_close(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::close)
}

/// Closes abortively: queued bytes are discarded and the peer gets a reset
/// (RST). On a listener, the same as `sack_tcp_close`. `close` follows.
#[no_mangle]
pub extern "C" fn sack_tcp_abort(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::abort)
}

/// Pauses reading a connection (libuv's `uv_read_stop`, Node's `pause`).
///
/// No message callback starts after this returns; called from one of this
/// connection's callbacks, none starts after that callback returns (a
/// message callback already running on another thread finishes). The
/// library stops reading the socket, so the kernel's receive window fills
/// and TCP slows the peer down. Bytes already read when the pause came (at
/// most one read: 64 KiB, or `read_buffer_size` if larger; for TLS the
/// plaintext of one read) are held and delivered first after
/// `sack_tcp_resume`.
///
/// While paused the library still reads a TLS handshake to its end (any
/// application data it carries is held), and a close requested meanwhile
/// reads and drops what arrives until the peer's FIN. The peer's FIN and
/// resets are noticed only once reading resumes. The idle timeout stands
/// still while paused. Pausing twice is the same as once; it may be called
/// before a client connects.
///
/// Callable from any thread and from inside any callback. Errors:
/// `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// listener, `SACK_TCP_ERR_CLOSED` once the connection has closed.
#[no_mangle]
pub extern "C" fn sack_tcp_pause(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::pause)
}

/// Undoes `sack_tcp_pause` (libuv's `uv_read_start`, Node's `resume`):
/// held bytes are delivered first, then reading goes on. Reads that
/// `pause_reads_above` or the queued mode's limits paused stay paused
/// until their queue drains. Resuming a connection that is not paused does
/// nothing. Threads and errors as `sack_tcp_pause`.
#[no_mangle]
pub extern "C" fn sack_tcp_resume(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::resume)
}

/// Half-closes a connection (libuv's `uv_shutdown`, Node's `end`): every
/// byte queued before this call is sent, then TLS's close_notify (on a TLS
/// connection) and a TCP FIN. Reading goes on: message callbacks keep
/// coming until the peer ends too (its end callback fires), and then the
/// connection closes (`close`). A later `sack_tcp_close` still applies its
/// timeout; `sack_tcp_abort` still resets.
///
/// On a TLS connection still in its handshake, the end waits for the
/// handshake. Calling it twice is harmless. Callable from any thread and
/// from inside any callback. Errors: `SACK_TCP_ERR_NULL_POINTER`,
/// `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, `SACK_TCP_ERR_CLOSED` once
/// a close was requested or the connection ended; after it, `sack_tcp_send`
/// returns `SACK_TCP_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn sack_tcp_end(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::end)
}

/// Adds a reference to `handle`, to be released by another `sack_tcp_free`.
/// Use it to keep a handle you pass to another thread.
#[no_mangle]
pub extern "C" fn sack_tcp_retain(handle: *mut sack_tcp) -> sack_tcp_result {
    with_socket(handle, Socket::retain)
}

/// Releases one reference. NULL is ignored. When the last reference goes
/// and the socket is still open, it is closed gracefully (its callbacks,
/// `close` included, still fire, so keep `user_data` valid until then).
/// Do not use the handle after releasing your last reference, except as
/// the argument a callback receives.
#[no_mangle]
pub extern "C" fn sack_tcp_free(handle: *mut sack_tcp) {
    if handle.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: non-NULL, and the caller still holds the reference it is
        // releasing.
        let sock = unsafe { socket(handle)? };
        let last = sock.release()?;
        // May free the socket; `sock` is not used after this.
        drop(last);
        Ok(())
    });
}

/// Stores one callback in the socket's table (the shared body of the
/// `sack_tcp_on_*` setters, which cbindgen needs written out one by one).
fn set_callback(handle: *mut sack_tcp, set: impl FnOnce(&mut CallbackTable)) -> sack_tcp_result {
    with_socket(handle, |s| {
        s.check_open()?;
        set(&mut CHandler::table_of(s));
        Ok(())
    })
}

/// Sets the connect callback (see `sack_tcp_connect_cb`). On a listener it
/// applies to connections accepted from now on.
///
/// Every `sack_tcp_on_*` setter takes effect from the next event, removes
/// the callback when given NULL, and returns `SACK_TCP_ERR_CLOSED` after
/// `close` has fired. Replace an accepted connection's callbacks inside its
/// connect callback to be sure no other event came before.
#[no_mangle]
pub extern "C" fn sack_tcp_on_connect(
    handle: *mut sack_tcp,
    callback: sack_tcp_connect_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_connect = callback)
}

/// Sets the ready callback (see `sack_tcp_ready_cb`).
#[no_mangle]
pub extern "C" fn sack_tcp_on_ready(
    handle: *mut sack_tcp,
    callback: sack_tcp_ready_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_ready = callback)
}

/// Sets the message callback (see `sack_tcp_message_cb`). On a listener it
/// is the default for connections accepted from now on.
#[no_mangle]
pub extern "C" fn sack_tcp_on_message(
    handle: *mut sack_tcp,
    callback: sack_tcp_message_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_message = callback)
}

/// Sets the close callback (see `sack_tcp_close_cb`).
#[no_mangle]
pub extern "C" fn sack_tcp_on_close(
    handle: *mut sack_tcp,
    callback: sack_tcp_close_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_close = callback)
}

/// Sets the error callback (see `sack_tcp_error_cb`).
#[no_mangle]
pub extern "C" fn sack_tcp_on_error(
    handle: *mut sack_tcp,
    callback: sack_tcp_error_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_error = callback)
}

/// Sets the drain callback (see `sack_tcp_drain_cb`).
#[no_mangle]
pub extern "C" fn sack_tcp_on_drain(
    handle: *mut sack_tcp,
    callback: sack_tcp_drain_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_drain = callback)
}

/// Sets the end callback (see `sack_tcp_end_cb`).
#[no_mangle]
pub extern "C" fn sack_tcp_on_end(
    handle: *mut sack_tcp,
    callback: sack_tcp_end_cb,
) -> sack_tcp_result {
    set_callback(handle, |t| t.on_end = callback)
}

/// Replaces the `user_data` passed to this socket's callbacks, from the
/// next event on. Returns `SACK_TCP_ERR_CLOSED` after `close` has fired.
#[no_mangle]
pub extern "C" fn sack_tcp_set_user_data(
    handle: *mut sack_tcp,
    user_data: *mut c_void,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        s.check_open()?;
        CHandler::table_of(s).user_data = user_data;
        Ok(())
    })
}

/// Writes the socket's current `user_data` to `*out`. Works on closed
/// handles too.
#[no_mangle]
pub extern "C" fn sack_tcp_get_user_data(
    handle: *const sack_tcp,
    out: *mut *mut c_void,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let ud = CHandler::table_of(s).user_data;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", ud) }
    })
}

/// Switches text mode (`readStrings`) on or off from the next read. On a
/// listener it sets the mode connections accepted from now on start with.
#[no_mangle]
pub extern "C" fn sack_tcp_set_read_strings(handle: *mut sack_tcp, on: bool) -> sack_tcp_result {
    with_socket(handle, |s| s.set_read_strings(on))
}

/// Writes whether text mode is on to `*out`.
#[no_mangle]
pub extern "C" fn sack_tcp_get_read_strings(
    handle: *const sack_tcp,
    out: *mut bool,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        s.check_open()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", s.read_strings()) }
    })
}

/// Writes the number of bytes accepted by `sack_tcp_send` and not yet
/// handed to the kernel to `*out`. `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
#[no_mangle]
pub extern "C" fn sack_tcp_get_queued_bytes(
    handle: *const sack_tcp,
    out: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let queued = s.queued_bytes()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", queued) }
    })
}

/// Writes whether the socket is a listener to `*out`.
#[no_mangle]
pub extern "C" fn sack_tcp_is_listener(handle: *const sack_tcp, out: *mut bool) -> sack_tcp_result {
    with_socket(handle, |s| {
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", s.is_listener()) }
    })
}

/// Copies `bytes` and a NUL into `buf`, a buffer of `buf_len` bytes.
fn write_c_string(bytes: &[u8], buf: *mut c_char, buf_len: usize) -> Result<()> {
    if buf.is_null() {
        return Err(guard::null("buf"));
    }
    if bytes.len() + 1 > buf_len {
        return Err(Error::invalid(format!(
            "a buffer of {buf_len} bytes cannot hold {} bytes and a NUL",
            bytes.len()
        )));
    }
    // SAFETY: `buf` is non-NULL and, per the header, valid for `buf_len`
    // bytes, of which we write bytes.len() + 1 <= buf_len.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        buf.add(bytes.len()).write(0);
    }
    Ok(())
}

/// Copies the textual IP of `addr` (no brackets, no port), or a Unix
/// socket's whole `unix:` string, into `buf`.
fn write_ip(addr: Endpoint, buf: *mut c_char, buf_len: usize) -> Result<()> {
    write_c_string(addr.host_text().as_bytes(), buf, buf_len)
}

/// Writes the local IP address (e.g. "127.0.0.1" or "::1") into `buf`, a
/// buffer of `buf_len` bytes (`SACK_TCP_ADDRESS_MAX` always suffices). For a
/// listener, its first bound address. A Unix domain socket writes its
/// whole address string, "unix:/path" or "unix:@name", and "unix:" alone
/// for an end bound to no name (a client's own end unless it set
/// `address`); its port getters write 0. `SACK_TCP_ERR_INVALID_ARGUMENT`
/// if `buf_len` cannot hold the address and its NUL (nothing written).
/// `SACK_TCP_ERR_CLOSED` before a client connects and after `close`.
#[no_mangle]
pub extern "C" fn sack_tcp_get_local_address(
    handle: *const sack_tcp,
    buf: *mut c_char,
    buf_len: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| write_ip(s.local_addr()?, buf, buf_len))
}

/// Writes the local port to `*out`. For a listener opened on port 0, the
/// port the OS picked.
#[no_mangle]
pub extern "C" fn sack_tcp_get_local_port(
    handle: *const sack_tcp,
    out: *mut u16,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let port = s.local_addr()?.port();
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", port) }
    })
}

/// Writes the peer's IP address into `buf` (see
/// `sack_tcp_get_local_address`). `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
#[no_mangle]
pub extern "C" fn sack_tcp_get_remote_address(
    handle: *const sack_tcp,
    buf: *mut c_char,
    buf_len: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| write_ip(s.peer_addr()?, buf, buf_len))
}

/// Writes the peer's port to `*out`. `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
#[no_mangle]
pub extern "C" fn sack_tcp_get_remote_port(
    handle: *const sack_tcp,
    out: *mut u16,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let port = s.peer_addr()?.port();
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", port) }
    })
}

/// A listener's bound ports, one per listening socket (the original's
/// `ports`, for this socket only). Writes up to `capacity` ports to `ports`
/// and the total number to `*count`. With `ports` NULL (and `capacity` 0)
/// only `*count` is written. `SACK_TCP_ERR_INVALID_ARGUMENT` if `capacity`
/// is too small (nothing written); `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// connection.
#[no_mangle]
pub extern "C" fn sack_tcp_get_ports(
    handle: *const sack_tcp,
    ports: *mut u16,
    capacity: usize,
    count: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let addrs = s.listen_addrs()?;
        if count.is_null() {
            return Err(guard::null("count"));
        }
        if !ports.is_null() || capacity > 0 {
            if ports.is_null() {
                return Err(guard::null("ports"));
            }
            if capacity < addrs.len() {
                return Err(Error::invalid(format!(
                    "capacity {capacity} is smaller than the {} bound ports",
                    addrs.len()
                )));
            }
            for (i, addr) in addrs.iter().enumerate() {
                // SAFETY: `ports` is non-NULL and valid for `capacity`
                // elements per the header; i < addrs.len() <= capacity.
                unsafe { ports.add(i).write(addr.port()) };
            }
        }
        // SAFETY: checked non-NULL above; writable per the header.
        unsafe { write_out(count, "count", addrs.len()) }
    })
}

/// `addCert`: a running TLS server serves `cert` (PEM chain) with `key`
/// (PEM, decrypted with `passphrase` if encrypted; may be NULL) to clients
/// asking for any of `hosts` ('~'-separated names, wildcards allowed), from
/// the next handshake on. Later certificates win for the same name.
///
/// Errors: `SACK_TCP_ERR_NOT_APPLICABLE` on a plain server or on a
/// connection, `SACK_TCP_ERR_BAD_PEM`, `SACK_TCP_ERR_WRONG_PASSPHRASE`,
/// `SACK_TCP_ERR_KEY_MISMATCH`, `SACK_TCP_ERR_INVALID_ARGUMENT` for a bad
/// host list. Strings are copied; the passphrase is not kept.
#[no_mangle]
pub extern "C" fn sack_tcp_add_cert(
    handle: *mut sack_tcp,
    hosts: *const c_char,
    cert: *const c_char,
    key: *const c_char,
    passphrase: *const c_char,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        // SAFETY: the header requires NULL or C strings for all four.
        let (hosts, cert, key, passphrase) = unsafe {
            (
                guard::opt_str(hosts, "hosts")?.ok_or_else(|| guard::null("hosts"))?,
                guard::opt_str(cert, "cert")?.ok_or_else(|| guard::null("cert"))?,
                guard::opt_str(key, "key")?.ok_or_else(|| guard::null("key"))?,
                guard::opt_str(passphrase, "passphrase")?,
            )
        };
        s.add_cert(&hosts, &cert, &key, passphrase.as_deref())
    })
}

/// The `ssl` setter. `true` on a plain connection starts a TLS handshake
/// over it (STARTTLS): a client offers TLS to the server; an accepted
/// connection (of a server opened with certificates and `starttls`) waits
/// for the client's hello. Bytes queued before the call go out plain first;
/// bytes sent after it are encrypted once the handshake is done, and the
/// ready callback fires again then. Call it from this socket's own callback
/// (e.g. on the message that agreed to upgrade) so no plain byte is read
/// after the switch. `true` on a TLS connection does nothing.
///
/// `false` does nothing on a plain connection. On a TLS connection it is
/// the original's demotion after error 6: called from inside the error
/// callback of a handshake that failed with `SACK_TCP_TLS_HANDSHAKE_FAILED`
/// on what the peer sent (a plain client on a TLS port, say), on that
/// connection, it returns `SACK_TCP_OK` and, once the callback returns, the
/// connection goes on as plain TCP: no TLS alert is sent, ready fires, then
/// the bytes that failed negotiation (the callback's data, plus the rest of
/// that read) arrive as the first message. Anywhere else on a TLS
/// connection (outside that callback, for another error, on a connection
/// that never failed, or in the queued delivery mode, where the error
/// callback runs after the connection closed) it returns
/// `SACK_TCP_ERR_NOT_APPLICABLE`: TLS cannot be switched off.
#[no_mangle]
pub extern "C" fn sack_tcp_set_ssl(handle: *mut sack_tcp, on: bool) -> sack_tcp_result {
    with_socket(handle, |s| s.set_ssl(on))
}

/// The `ssl` getter: writes to `*out` whether the connection is secure (TLS
/// with its handshake done).
#[no_mangle]
pub extern "C" fn sack_tcp_get_ssl(handle: *const sack_tcp, out: *mut bool) -> sack_tcp_result {
    with_socket(handle, |s| {
        let secure = s.is_secure()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { write_out(out, "out", secure) }
    })
}

/// The `allowSSLfallback` setter on a TLS listener, for connections
/// accepted from now on. `SACK_TCP_ERR_NOT_APPLICABLE` elsewhere.
#[no_mangle]
pub extern "C" fn sack_tcp_set_allow_ssl_fallback(
    handle: *mut sack_tcp,
    on: bool,
) -> sack_tcp_result {
    with_socket(handle, |s| s.set_allow_ssl_fallback(on))
}

/// Writes the ALPN protocol the TLS handshake settled on into `buf` as a C
/// string (empty if none was negotiated or the connection is plain).
/// `SACK_TCP_ERR_INVALID_ARGUMENT` if `buf_len` cannot hold it and its NUL.
#[no_mangle]
pub extern "C" fn sack_tcp_get_alpn(
    handle: *const sack_tcp,
    buf: *mut c_char,
    buf_len: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let protocol = s.alpn_protocol()?.unwrap_or_default();
        write_c_string(&protocol, buf, buf_len)
    })
}
