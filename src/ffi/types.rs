//! The C-visible types: the opaque handle, result codes, callback
//! signatures and the versioned options structs. Their doc comments are the
//! header's documentation.

use std::ffi::{c_char, c_void};

/// A TCP socket: a listener, a client, or a connection a listener accepted.
///
/// Opaque. You get one from `sack_tcp_open` (a listener or a client) or as
/// the `socket` argument of a listener's connect callback (an accepted
/// connection). Either way you own one reference to it and must release it
/// with `sack_tcp_free` exactly once (more if you called `sack_tcp_retain`).
///
/// The handle stays valid until you release your last reference, even after
/// the socket has closed: calls on a closed handle return
/// `SACK_TCP_ERR_CLOSED`, never undefined behaviour. The handle passed to a
/// callback is valid for the duration of that callback even if you released
/// it already.
pub struct sack_tcp {
    _private: [u8; 0],
}

/// Every fallible function returns one: `SACK_TCP_OK` (0) or a negative
/// `SACK_TCP_ERR_*` code. `sack_tcp_strerror` names it and
/// `sack_tcp_last_error_message` explains the last failure on this thread.
pub type sack_tcp_result = i32;

/// Success.
pub const SACK_TCP_OK: sack_tcp_result = 0;
/// An argument is out of range or inconsistent (the message names it).
pub const SACK_TCP_ERR_INVALID_ARGUMENT: sack_tcp_result = -1;
/// A required pointer argument was NULL.
pub const SACK_TCP_ERR_NULL_POINTER: sack_tcp_result = -2;
/// An address string could not be parsed, or names no port where one is needed.
pub const SACK_TCP_ERR_BAD_ADDRESS: sack_tcp_result = -3;
/// A host name did not resolve (or not to an address of the requested family).
pub const SACK_TCP_ERR_RESOLVE: sack_tcp_result = -4;
/// The peer refused the connection (ECONNREFUSED).
pub const SACK_TCP_ERR_REFUSED: sack_tcp_result = -5;
/// No route to the network or host (ENETUNREACH, EHOSTUNREACH).
pub const SACK_TCP_ERR_UNREACHABLE: sack_tcp_result = -6;
/// The connect timeout (or a graceful close's timeout) expired.
pub const SACK_TCP_ERR_TIMED_OUT: sack_tcp_result = -7;
/// The address and port are taken (EADDRINUSE).
pub const SACK_TCP_ERR_ADDRESS_IN_USE: sack_tcp_result = -8;
/// The address is not one of this machine's (EADDRNOTAVAIL).
pub const SACK_TCP_ERR_ADDRESS_NOT_AVAILABLE: sack_tcp_result = -9;
/// The OS refused the operation (EACCES, EPERM), e.g. a port below 1024.
pub const SACK_TCP_ERR_PERMISSION_DENIED: sack_tcp_result = -10;
/// The socket is closed or closing; nothing more can be done with it.
pub const SACK_TCP_ERR_CLOSED: sack_tcp_result = -11;
/// `sack_tcp_send` would take the send queue over its byte limit.
pub const SACK_TCP_ERR_QUEUE_FULL: sack_tcp_result = -12;
/// The operation or option does not apply to this kind of socket
/// (sending on a listener, a backlog for a client, ...).
pub const SACK_TCP_ERR_NOT_APPLICABLE: sack_tcp_result = -13;
/// The peer reset the connection (ECONNRESET, EPIPE).
pub const SACK_TCP_ERR_RESET: sack_tcp_result = -14;
/// The operation was canceled, e.g. a connect attempt by `sack_tcp_close`.
pub const SACK_TCP_ERR_CANCELED: sack_tcp_result = -15;
/// Another input/output error; the message has the OS text.
pub const SACK_TCP_ERR_IO: sack_tcp_result = -16;
/// The runtime could not start, or `sack_tcp_shutdown` is in progress.
pub const SACK_TCP_ERR_RUNTIME: sack_tcp_result = -17;
/// The call would wait for itself: `sack_tcp_shutdown` from inside a callback.
pub const SACK_TCP_ERR_WOULD_DEADLOCK: sack_tcp_result = -18;
/// An internal error (a Rust panic) was caught; please report it.
pub const SACK_TCP_ERR_PANIC: sack_tcp_result = -19;
/// A certificate, key or CA bundle is not well-formed PEM/DER.
pub const SACK_TCP_ERR_BAD_PEM: sack_tcp_result = -20;
/// An encrypted private key could not be decrypted with the passphrase
/// given (or none was given).
pub const SACK_TCP_ERR_WRONG_PASSPHRASE: sack_tcp_result = -21;
/// The private key does not belong to the certificate.
pub const SACK_TCP_ERR_KEY_MISMATCH: sack_tcp_result = -22;
/// The key type or its encryption scheme is not supported.
pub const SACK_TCP_ERR_UNSUPPORTED_KEY: sack_tcp_result = -23;
/// A listener with `proxy_protocol`: a connection did not start with a
/// well-formed PROXY protocol header (version 1 or 2); it was reset and
/// the listener's error callback names the fault.
pub const SACK_TCP_ERR_PROXY_HEADER: sack_tcp_result = -24;

/// Error callback only: the server's certificate chain does not lead to a
/// trusted root (client side).
pub const SACK_TCP_TLS_UNKNOWN_ISSUER: sack_tcp_result = 1;
/// Error callback only: the server's certificate does not cover the name
/// (or IP address) the client connected to.
pub const SACK_TCP_TLS_BAD_NAME: sack_tcp_result = 2;
/// Error callback only: the server's certificate has expired.
pub const SACK_TCP_TLS_EXPIRED: sack_tcp_result = 3;
/// Error callback only: the server's certificate is self-signed and not
/// among the trusted ones.
pub const SACK_TCP_TLS_SELF_SIGNED: sack_tcp_result = 4;
/// Error callback only: another certificate problem (not yet valid,
/// revoked, bad signature, or a client certificate the server rejected).
pub const SACK_TCP_TLS_BAD_CERTIFICATE: sack_tcp_result = 5;
/// Error callback only, the original's error 6: the TLS handshake failed.
/// `data` carries the first bytes received from the peer (up to 4 KiB),
/// e.g. a plain-text request sent to a TLS port.
pub const SACK_TCP_TLS_HANDSHAKE_FAILED: sack_tcp_result = 6;
/// Error callback only, the original's error 7: a client asked (by SNI) for
/// a host name no certificate serves and there is no default certificate.
/// `data` carries the requested name (not NUL-terminated; `len` bytes).
pub const SACK_TCP_TLS_HOST_MISMATCH: sack_tcp_result = 7;
/// Error callback only (not in the original): the peer's certificate is
/// listed as revoked in a CRL given with the `crl` option. A client sees it
/// for the server's certificate; a server (with `client_auth`) for a
/// client's, whose connection closes with this code.
pub const SACK_TCP_TLS_REVOKED: sack_tcp_result = 8;
/// Error callback only (not in the original): one of the host's TLS
/// callbacks turned the peer away. `tls_verify`: the peer's certificate
/// passed verification but the callback rejected it; a client sees it for
/// the server's certificate, a server (with `client_auth`) for a client's,
/// whose connection closes with this code (that client sees
/// `SACK_TCP_TLS_BAD_CERTIFICATE`). `tls_client_hello`: the listener's
/// callback rejected a ClientHello; the server's connection closes with
/// this code (the client sees a handshake failure).
pub const SACK_TCP_TLS_REJECTED: sack_tcp_result = 9;

/// Fails the build unless every row of the error table in `error.rs` has its
/// constant above, with the same number.
macro_rules! check_code_constants {
    ($($variant:ident = $value:literal, $constant:ident, $description:literal;)*) => {
        const _: () = {
            $(assert!(
                $constant == crate::error::Code::$variant as sack_tcp_result,
                concat!(stringify!($constant), " differs from the error table")
            );)*
        };
    };
}
crate::error::with_code_table!(check_code_constants);

/// `family`: let the address decide; the default wildcard is dual-stack `[::]`.
pub const SACK_TCP_FAMILY_ANY: i32 = 0;
/// `family`: IPv4 only; the default wildcard is `0.0.0.0`.
pub const SACK_TCP_FAMILY_IPV4: i32 = 4;
/// `family`: IPv6 only; the default wildcard is `[::]` with IPV6_V6ONLY set.
pub const SACK_TCP_FAMILY_IPV6: i32 = 6;

/// Room for any address `sack_tcp_get_local_address` or
/// `sack_tcp_get_remote_address` writes, NUL included: an IP address, or
/// a Unix socket's "unix:" string (up to 113 bytes). It was 64 before Unix
/// sockets; a buffer of 64 still holds every IP address, and a longer Unix
/// address answers `SACK_TCP_ERR_INVALID_ARGUMENT`, as any short buffer.
pub const SACK_TCP_ADDRESS_MAX: usize = 128;

/// Fires once per connection attempt.
///
/// - Listener: a connection was accepted. `socket` is the new connection
///   (yours to `sack_tcp_free`), `status` is `SACK_TCP_OK`, and `user_data`
///   is the listener's. A listener without a connect callback owns its
///   connections itself and frees each after its close callback: then do
///   not free the handles other callbacks receive. The connection starts with the listener's callbacks,
///   user data and text mode; replace any of them here, before its first
///   other callback.
/// - Client: the connection was made (`SACK_TCP_OK`) or failed (a negative
///   code: `SACK_TCP_ERR_REFUSED`, `_UNREACHABLE`, `_TIMED_OUT`, `_RESOLVE`,
///   `_CANCELED`, ...). During a failed connect callback
///   `sack_tcp_last_error_message()` describes the failure. A failed connect
///   is followed by `close` and nothing else.
pub type sack_tcp_connect_cb = Option<
    unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp, status: sack_tcp_result),
>;

/// Fires when `socket` can send: for plain TCP right after a successful
/// connect callback, for TLS when the handshake is done (again after a
/// STARTTLS upgrade). Not at all if you closed the socket first. Data sent
/// earlier was queued and is written first.
pub type sack_tcp_ready_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp)>;

/// The peer's certificate chain as the `tls_verify` callback sees it. Every
/// pointer is borrowed for the duration of the call.
#[repr(C)]
pub struct sack_tcp_peer_chain {
    /// `count` DER certificates as the peer sent them, leaf first:
    /// `certs[i]` is `cert_lens[i]` bytes long.
    pub certs: *const *const u8,
    /// The length of each certificate in `certs`.
    pub cert_lens: *const usize,
    /// How many certificates (at least 1: the leaf).
    pub count: usize,
    /// Client: the name the server's certificate was verified for (`host`,
    /// or `to_address`'s host). Server: NULL.
    pub server_name: *const c_char,
    /// SHA-256 of the leaf certificate's DER (what `openssl x509
    /// -fingerprint -sha256` prints).
    pub leaf_sha256: [u8; 32],
    /// SHA-256 of the leaf's SubjectPublicKeyInfo (RFC 7469's pin-sha256,
    /// which survives a renewal with the same key); valid when
    /// `has_leaf_spki_sha256`.
    pub leaf_spki_sha256: [u8; 32],
    /// Whether `leaf_spki_sha256` is set (false only for a leaf whose key
    /// cannot be parsed out).
    pub has_leaf_spki_sha256: bool,
}

/// What the `tls_client_hello` callback is shown of a ClientHello. Every
/// pointer is borrowed for the duration of the call.
#[repr(C)]
pub struct sack_tcp_client_hello {
    /// The SNI name the client asked for, or NULL if it sent none.
    pub server_name: *const c_char,
    /// `alpn_count` protocol names the client offers, in its order:
    /// `alpn[i]` is `alpn_lens[i]` bytes long, not NUL-terminated.
    pub alpn: *const *const u8,
    /// The length of each name in `alpn`.
    pub alpn_lens: *const usize,
    /// How many ALPN names (0 when the client offers none).
    pub alpn_count: usize,
}

/// `tls_client_hello`: see that option. Returns true to go on with the
/// handshake.
pub type sack_tcp_client_hello_cb = Option<
    unsafe extern "C" fn(user_data: *mut c_void, hello: *const sack_tcp_client_hello) -> bool,
>;

/// `tls_verify`: see that option. Returns true to accept the chain.
pub type sack_tcp_verify_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, chain: *const sack_tcp_peer_chain) -> bool>;

/// Fires for received data, at most the read buffer size per call.
///
/// `data` is borrowed until the callback returns. In text mode
/// (`read_strings`) it is valid UTF-8 that never splits a character across
/// two calls, invalid bytes replaced by U+FFFD, and `data[len]` is a NUL, so
/// it may be used as a C string (text may itself contain U+0000; `len` is
/// authoritative). No message callback starts after a close was requested
/// from this socket's own callbacks or has begun.
pub type sack_tcp_message_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        socket: *mut sack_tcp,
        data: *const u8,
        len: usize,
    ),
>;

/// The last callback `socket` ever gets, exactly once, after its descriptor
/// is closed. After it returns the library never touches `user_data` again.
/// Releasing the handle here (`sack_tcp_free`) is the usual pattern.
pub type sack_tcp_close_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp)>;

/// Reports a failure on an established socket, always followed by `close`
/// for a connection (for example `SACK_TCP_ERR_RESET` when the peer resets,
/// `SACK_TCP_ERR_TIMED_OUT` when a graceful close could not flush). On a
/// listener it reports an accept failure (`SACK_TCP_ERR_IO`, e.g. out of
/// descriptors) and the listener keeps going. `message` and `data` are
/// borrowed until the callback returns; `data` is NULL when `len` is 0.
pub type sack_tcp_error_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        socket: *mut sack_tcp,
        code: sack_tcp_result,
        message: *const c_char,
        data: *const u8,
        len: usize,
    ),
>;

/// Hands back the buffer of one `sack_tcp_send_borrowed` call: the library
/// no longer reads it, and it is yours to change or free, from inside this
/// callback or after it. Fires exactly once for every call that returned
/// `SACK_TCP_OK` (and never for one that failed), like every callback: on a
/// runtime thread, or in queued delivery mode from `sack_tcp_dispatch`;
/// never from inside `sack_tcp_send_borrowed` itself, even when every byte
/// was written at once. Completions of one connection fire in the order of
/// their calls, and always before its close callback.
///
/// `status` is `SACK_TCP_OK` once every byte was handed to the kernel
/// (plain) or encrypted into TLS records (TLS; the records are the
/// library's): it says nothing about the peer having received them. It is
/// `SACK_TCP_ERR_CANCELED` when the connection ended first (a close that
/// timed out, an abort, a reset, an error, a runtime shutdown): some of the
/// bytes may have been sent, and the error callback, if the end was an
/// error, follows the completions with the reason, then close.
///
/// `user_data` is the `done_user_data` given to that call, not the
/// socket's; `socket` is the connection it was sent on, valid for the call.
pub type sack_tcp_send_done_cb = Option<
    unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp, status: sack_tcp_result),
>;

/// Fires when the send queue falls to or below `send_queue_low_mark` after
/// having been above it (or after a send was refused with
/// `SACK_TCP_ERR_QUEUE_FULL`), on every path that empties it: writes by the
/// library's task, a TLS handshake's end that releases data sent before
/// ready, the end of a message callback whose TLS sends were held. Reads
/// paused by `pause_reads_above` resume at the same moment.
pub type sack_tcp_drain_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp)>;

/// Fires once when the peer has finished sending (TCP FIN, or TLS
/// close_notify), after the last message callback.
///
/// - Without `allow_half_open` (the default) the connection then flushes
///   what is queued, sends its own FIN and closes: the close callback
///   follows, and sends made from here on return `SACK_TCP_ERR_CLOSED`.
/// - With `allow_half_open` the connection stays open for sending: answer
///   with `sack_tcp_send` from any thread, then `sack_tcp_end` or
///   `sack_tcp_close` (either then closes it once the queue is sent).
pub type sack_tcp_end_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, socket: *mut sack_tcp)>;

/// Options for `sack_tcp_open`. Fill with `sack_tcp_options_init`, then set
/// what you need. Strings are copied before `sack_tcp_open` returns.
///
/// `to_address` set makes a client; otherwise the socket is a listener.
/// Fields are only ever appended; `struct_size` tells the library which
/// version of the struct you compiled against.
#[repr(C)]
pub struct sack_tcp_options {
    /// `sizeof(sack_tcp_options)`, set by `sack_tcp_options_init`.
    pub struct_size: usize,
    /// Listener: the port to listen on (0 picks a free one; read it back with
    /// `sack_tcp_get_local_port`). Client: the local port to bind (0 = any).
    /// 0..65535. A port inside `address` overrides it.
    pub port: i32,
    /// Listener: the address to listen on, e.g. "127.0.0.1", "[::1]:8080",
    /// "localhost" (every address it resolves to is bound). NULL listens on
    /// the wildcard of `family`. Client: the local address to bind (NULL =
    /// let the OS choose).
    ///
    /// Unix domain sockets (libuv's pipes, Node's `path`, nng's `ipc://`):
    /// "unix:/run/app.sock" is a socket file (a relative path is relative
    /// to the working directory at the open call; at most 107 bytes after
    /// "unix:"), "unix:@name" a name in Linux's abstract namespace (no file;
    /// at most 107 bytes; `SACK_TCP_ERR_BAD_ADDRESS` on other systems).
    /// A longer or empty path is `SACK_TCP_ERR_BAD_ADDRESS` from the open
    /// call. `port` and `to_port` must be 0 and `family` ANY with them
    /// (`SACK_TCP_ERR_NOT_APPLICABLE`); `no_delay`, `keep_alive_*`,
    /// `user_timeout_ms`, `reuse_address` and `reuse_port` are ignored.
    /// Text mode, TLS (a client verifies `host`, else "localhost"),
    /// `allow_ssl_fallback`, STARTTLS, PROXY headers and every callback work
    /// as over TCP. A client's `address` binds its own end and must then be
    /// "unix:..." too (`SACK_TCP_ERR_BAD_ADDRESS` for a mix); the file that
    /// bind makes stays after the close, and after a connect that failed:
    /// removing it is the host's (as with libuv's pipes), the library
    /// removes only its listeners' files. Until it is removed, another
    /// client bound to the same path fails with `SACK_TCP_ERR_ADDRESS_IN_USE`.
    ///
    /// A listener on a path, inside `sack_tcp_open`: if the path exists and
    /// is a socket nobody accepts on (a connect to it is refused: a stale
    /// file left by a process that died), it is removed and bound again;
    /// if a listener accepts on it, the open fails with
    /// `SACK_TCP_ERR_ADDRESS_IN_USE` and the file stays; if the path is
    /// anything but a socket (a regular file, a directory, a symlink), the
    /// open fails with `SACK_TCP_ERR_ADDRESS_IN_USE` and it is never
    /// removed. (Two processes starting at the same moment on one stale
    /// path can race; give each its own path.) `unix_mode` sets the file's
    /// mode before the socket listens. When the listener closes, the file
    /// is removed before the close callback runs, if it is still the one
    /// the listener created (same device and inode): a file someone put
    /// there since is left alone. An abstract name needs none of this: it
    /// goes with its socket.
    pub address: *const c_char,
    /// `SACK_TCP_FAMILY_ANY`, `_IPV4` or `_IPV6`: filters resolved names and
    /// picks the default wildcard.
    pub family: i32,
    /// Client only: where to connect, "host[:port]", "[v6]:port", a bare
    /// IPv6 literal, or a bare port (meaning localhost). Every resolved
    /// address is tried in turn. A port may be a number or a service name.
    /// "unix:/path" or "unix:@name" connects to a Unix domain socket (see
    /// `address`); no port then, and a path with no socket file fails the
    /// connect with `SACK_TCP_ERR_REFUSED`, as a port nobody listens on.
    pub to_address: *const c_char,
    /// Client only: the port to use when `to_address` has none (0 = unset).
    pub to_port: i32,
    /// Deliver text (UTF-8, NUL-terminated, whole characters) instead of bytes.
    pub read_strings: bool,
    /// Set SO_REUSEADDR (off by default): rebind a port still in TIME_WAIT.
    pub reuse_address: bool,
    /// Set SO_REUSEPORT (off by default): several listeners share one port.
    pub reuse_port: bool,
    /// Set TCP_NODELAY (on by default).
    pub no_delay: bool,
    /// Enable TCP keepalive with this idle time in milliseconds (0 = off).
    pub keep_alive_ms: u32,
    /// Client only: fail the connect with `SACK_TCP_ERR_TIMED_OUT` after this
    /// many milliseconds, resolution included (0 = the OS's own timeout).
    pub connect_timeout_ms: u32,
    /// Largest chunk one message callback gets (0 = 4096; 16 .. 16 MiB).
    /// It does not decide how much is read at once: the library reads at
    /// least 64 KiB per system call into one buffer per worker thread (no
    /// memory per connection) and delivers it in chunks of this size.
    pub read_buffer_size: usize,
    /// Bytes `sack_tcp_send` may hold unsent before it returns
    /// `SACK_TCP_ERR_QUEUE_FULL` (0 = 16 MiB; SIZE_MAX = no limit).
    pub send_queue_limit: usize,
    /// The drain callback fires when the queue falls to this many bytes or
    /// fewer (default 0: when it empties). Must be below the limit.
    pub send_queue_low_mark: usize,
    /// Listener only: the listen backlog (0 = 4096).
    pub backlog: i32,
    /// How long a graceful close may take to flush and see the peer's FIN,
    /// in milliseconds, before the connection is dropped (0 = 10000).
    pub close_timeout_ms: u32,
    /// The connect callback (see `sack_tcp_connect_cb`); NULL for none.
    pub on_connect: sack_tcp_connect_cb,
    /// The ready callback (see `sack_tcp_ready_cb`); NULL for none.
    pub on_ready: sack_tcp_ready_cb,
    /// The message callback (see `sack_tcp_message_cb`); NULL for none.
    pub on_message: sack_tcp_message_cb,
    /// The close callback (see `sack_tcp_close_cb`); NULL for none.
    pub on_close: sack_tcp_close_cb,
    /// The error callback (see `sack_tcp_error_cb`); NULL for none.
    pub on_error: sack_tcp_error_cb,
    /// The drain callback (see `sack_tcp_drain_cb`); NULL for none.
    pub on_drain: sack_tcp_drain_cb,
    /// Passed to every callback of this socket (and, for a listener, of the
    /// connections it accepts, until they replace it).
    pub user_data: *mut c_void,

    /* ---- TLS ---- */
    /// Client: speak TLS from the start. The connect callback fires when TCP
    /// connects, ready when the handshake is done; data sent before ready is
    /// queued. Not for servers (they speak TLS when given `cert` or `hosts`).
    pub ssl: bool,
    /// PEM certificate chain, leaf first. Server: the default certificate
    /// (makes the listener a TLS server). Client: a client certificate.
    pub cert: *const c_char,
    /// PEM private key for `cert`: PKCS#8, PKCS#1 or SEC1, plain or
    /// encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY" or legacy OpenSSL
    /// "Proc-Type: 4,ENCRYPTED").
    pub key: *const c_char,
    /// Decrypts an encrypted `key`. Not kept after loading.
    pub passphrase: *const c_char,
    /// Server: the names the default certificate serves, '~'-separated.
    /// Client: the name sent as SNI and verified, instead of `to_address`'s
    /// host (an IP address is verified against the certificate's IP SANs).
    pub host: *const c_char,
    /// PEM bundle of trusted roots. Client: verify the server against these
    /// only (without it: the system's roots, with Mozilla's as fallback).
    /// Server: the roots client certificates must chain to (`client_auth`).
    pub ca: *const c_char,
    /// Server: more certificates, chosen by the name the client asks for
    /// (SNI): `hosts_count` entries. Copied during `sack_tcp_open`.
    pub hosts: *const sack_tcp_tls_host,
    /// The number of entries at `hosts` (0 with `hosts` NULL).
    pub hosts_count: usize,
    /// Server: decide per connection, from its first bytes, between TLS and
    /// plain TCP, so one port serves both. A client that sends nothing for
    /// `handshake_timeout_ms` is served as plain. Without it a plain client
    /// on a TLS port gets error 6 (`SACK_TCP_TLS_HANDSHAKE_FAILED`) and is
    /// closed.
    pub allow_ssl_fallback: bool,
    /// Server: load the certificates but start every connection plain;
    /// `sack_tcp_set_ssl(conn, true)` upgrades one (STARTTLS).
    pub starttls: bool,
    /// Client: DANGEROUS. Accept any server certificate for any name. Only
    /// handshake signatures are still checked.
    pub tls_insecure_skip_verify: bool,
    /// Server: `SACK_TCP_CLIENT_AUTH_NONE` (default), `_REQUEST` (verify a
    /// client certificate if one is sent) or `_REQUIRE` (refuse clients
    /// without one). Needs `ca`.
    pub client_auth: i32,
    /// ALPN protocols to offer (client) or accept (server), comma-separated
    /// in order of preference, e.g. "h2,http/1.1". Read the result with
    /// `sack_tcp_get_alpn`.
    pub alpn: *const c_char,
    /// A TLS handshake (and, with `allow_ssl_fallback`, the wait for a
    /// client's first bytes) must finish within this many milliseconds
    /// (0 = 10000); otherwise the connection gets `SACK_TCP_ERR_TIMED_OUT`
    /// and closes.
    pub handshake_timeout_ms: u32,

    /* ---- Version 2 (0.2). Each version starts at or after the previous
     * version's sizeof, never in its tail padding, so `struct_size` tells
     * an older caller's struct apart and its padding is never read. ---- */
    /// Pause on full: reads pause while more than this many bytes wait in
    /// the send queue, and resume when it falls to `send_queue_low_mark`
    /// (the drain callback fires then). An echo server or a proxy so keeps
    /// its memory bounded without refusing a send. 0 (default) = never:
    /// two peers that both send more than this before reading would then
    /// wait for each other forever. Must lie from `send_queue_low_mark` up
    /// to below `send_queue_limit`. On a listener it applies to every
    /// connection it accepts.
    pub pause_reads_above: usize,
    /// The peer finished sending (see `sack_tcp_end_cb`).
    pub on_end: sack_tcp_end_cb,
    /// Close a connection (error `SACK_TCP_ERR_TIMED_OUT`, then a reset and
    /// close) when nothing arrives from the peer for this many
    /// milliseconds (0 = never). On a listener it applies to each
    /// connection it accepts, from the accept on. The clock stands still
    /// while reads are paused.
    pub idle_timeout_ms: u32,
    /// Keep a connection open for sending after the peer's FIN, until
    /// `sack_tcp_end` or `sack_tcp_close` (Node's allowHalfOpen, libuv's
    /// default). Off: the peer's FIN closes the connection once the queue
    /// is sent.
    pub allow_half_open: bool,
    /// With `keep_alive_ms`: milliseconds between keepalive probes
    /// (TCP_KEEPINTVL; 0 = the system's, 75 s on Linux). The kernel counts
    /// whole seconds: values are rounded down, with 1 s at least. Setting
    /// it (or `keep_alive_count`) without `keep_alive_ms` is
    /// `SACK_TCP_ERR_INVALID_ARGUMENT`; so is a time over 32767 s.
    pub keep_alive_interval_ms: u32,
    /// With `keep_alive_ms`: unanswered probes after which the connection
    /// is dropped (TCP_KEEPCNT; 0 = the system's, 9 on Linux; at most
    /// 127). A peer found dead so gets `SACK_TCP_ERR_TIMED_OUT` in the
    /// error callback, then `close`.
    pub keep_alive_count: u32,
    /// TCP_USER_TIMEOUT (Linux): when sent bytes stay unacknowledged for
    /// this many milliseconds, the kernel drops the connection and the
    /// error callback gets `SACK_TCP_ERR_TIMED_OUT`, then `close` (0 = the
    /// system's retransmission limits, about 15 minutes). With keepalive
    /// on it also bounds how long probes go unanswered. Where the option
    /// does not exist (not Linux or Android) a non-zero value makes
    /// `sack_tcp_open` return `SACK_TCP_ERR_NOT_APPLICABLE`. On a listener
    /// these three apply to every connection it accepts; change them on a
    /// live connection with `sack_tcp_set_keep_alive` and
    /// `sack_tcp_set_user_timeout`.
    pub user_timeout_ms: u32,
    /// Listener only (Node's maxConnections): at most this many accepted
    /// connections open at once (0 = no cap). One accepted past the cap is
    /// refused at once: the library accepts it and closes it with a reset
    /// (RST), so the client sees ECONNRESET rather than waiting in the
    /// backlog, and no callback of the listener runs for it. A connection
    /// counts from its accept until its close callback. Change it on a
    /// running listener with `sack_tcp_set_max_connections`; read the
    /// count with `sack_tcp_get_connection_count`. A client given a value
    /// gets `SACK_TCP_ERR_NOT_APPLICABLE` from `sack_tcp_open`.
    pub max_connections: u32,
    /// Listener only: every connection starts with a PROXY protocol header
    /// (HAProxy's version 1 text or version 2 binary, as HAProxy, nginx and
    /// cloud load balancers send with "send-proxy"/"proxy_protocol"). The
    /// header is read before anything else (before TLS and before the
    /// connect callback), however many reads it arrives in, and the
    /// remote-address getters then report the client it names (the local
    /// ones stay the socket's own). A LOCAL or UNKNOWN header (a health
    /// check) keeps the connection's own addresses. A connection without a
    /// well-formed header, or whose header is not complete within
    /// `handshake_timeout_ms` (0 = 10 s), is reset without reaching the
    /// host: the listener's error callback gets `SACK_TCP_ERR_PROXY_HEADER`
    /// (or `SACK_TCP_ERR_TIMED_OUT`) with a message naming the fault and
    /// the proxy's address. Only TCP over IPv4 and IPv6 is accepted; v2
    /// TLVs are skipped. A client given it gets
    /// `SACK_TCP_ERR_NOT_APPLICABLE`.
    pub proxy_protocol: bool,
    /// The oldest TLS version to speak: `SACK_TCP_PROTOCOL_TLS_1_2` or
    /// `_1_3` (0 = TLS 1.2). Both sides.
    pub tls_min_version: u16,
    /// The newest TLS version to speak (0 = TLS 1.3). Both sides.
    pub tls_max_version: u16,
    /// Key-exchange groups in order of preference, comma-separated, from
    /// "X25519MLKEM768", "X25519", "secp256r1", "secp384r1" (case ignored;
    /// NULL = all four in that order). Both sides.
    pub tls_groups: *const c_char,
    /// Cipher suites in order of preference, comma-separated IANA names,
    /// e.g. "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    /// (NULL = rustls' defaults). A version left without a suite is an
    /// error. Both sides.
    pub tls_cipher_suites: *const c_char,
    /// No session resumption: a server issues no tickets and keeps no
    /// session cache, a client caches no session. Off: both resume.
    pub tls_no_resumption: bool,
    /// Warn (a log record at SACK_TCP_LOG_WARN, target
    /// "sack_tcp::tls::expiry") when a certificate this socket loads
    /// (`cert`, `hosts`, `sack_tcp_add_cert`, `sack_tcp_reload_tls`), or a
    /// peer presents in a handshake, has fewer than this many days left
    /// (0 = 30). See also `sack_tcp_get_cert_expiry` and the peer's
    /// `peer_not_after` in `sack_tcp_tls_info`.
    pub tls_expiry_warning_days: u32,
    /// PEM certificate revocation lists ("X509 CRL" blocks), checked for
    /// the peer's own certificate: a client checks the server's (with
    /// `ca`), a server the clients' (`client_auth`). A listed certificate
    /// fails with `SACK_TCP_TLS_REVOKED`; one whose issuer has no CRL here
    /// is accepted. NULL = no revocation checks.
    pub crl: *const c_char,
    /// Client only: happy eyeballs (RFC 8305). When `to_address` resolves
    /// to several addresses, the families are interleaved (starting with
    /// the resolver's first answer) and each attempt gets this many
    /// milliseconds alone before the next starts alongside it (0 = 250,
    /// the RFC's value; at least 10). An attempt that fails starts the next
    /// at once. The first to connect wins; the others are closed before
    /// the connect callback runs. `connect_timeout_ms` bounds the whole
    /// race, resolution included; when every attempt fails, the error
    /// names each address and carries the last failure's code.
    pub happy_eyeballs_delay_ms: u32,
    /// Pinning: called during each TLS handshake after the peer's
    /// certificate chain passed the normal checks (`ca`, name, dates,
    /// `crl`), and only then; it can only reject. Return true to accept;
    /// false fails the handshake with `SACK_TCP_TLS_REJECTED`. A client
    /// checks the server's chain; with `tls_insecure_skip_verify` the
    /// normal checks are skipped and this callback is the only one (trust
    /// one self-signed certificate by its fingerprint). A server checks
    /// client certificates, so it needs `client_auth` (NOT_APPLICABLE
    /// otherwise), and is not called when an optional client certificate
    /// is absent.
    ///
    /// Thread: a library worker thread, in the middle of the handshake, in
    /// both delivery modes (a handshake cannot wait for
    /// `sack_tcp_dispatch`); it may run on several threads at once for a
    /// listener's connections. Keep it short and do not call
    /// `sack_tcp_shutdown` from it. It is not given the connection handle:
    /// the check is part of the TLS settings, which clients opened with the
    /// same settings share. A resumed session is not verified again, and is
    /// only offered to clients with the same callback and user data. The
    /// callback must stay callable until every socket opened with it has
    /// closed (listener included). `sack_tcp_reload_tls` takes the one in
    /// its options. NULL = no callback.
    pub tls_verify: sack_tcp_verify_cb,
    /// Passed to `tls_verify` as its first argument.
    pub tls_verify_user_data: *mut c_void,
    /// TLS listener only: called for each ClientHello, before a certificate
    /// is chosen, with the SNI name and the ALPN protocols the client
    /// offers. Return true to go on: the certificate is then chosen from
    /// what the listener serves at that moment, so the callback may first
    /// call `sack_tcp_add_cert` on the listener to serve a name it did not
    /// know (a certificate made or fetched on demand). Return false to fail
    /// the handshake before any certificate is sent: the client gets an
    /// alert, and the connection's error callback gets
    /// `SACK_TCP_TLS_REJECTED`.
    ///
    /// Thread: a library worker thread, inside the handshake, in both
    /// delivery modes; several connections may call it at once. While it
    /// runs, that worker handles nothing else, so obtaining a certificate
    /// over the network here stalls other connections: prefer rejecting
    /// and adding the certificate for the client's next attempt. It is not
    /// given the connection; pass the listener in the user data to call
    /// `sack_tcp_add_cert`. The listener needs a certificate to start with
    /// (`cert` or `hosts`). `sack_tcp_reload_tls` takes the one in its
    /// options. NULL = none.
    pub tls_client_hello: sack_tcp_client_hello_cb,
    /// Passed to `tls_client_hello` as its first argument.
    pub tls_client_hello_user_data: *mut c_void,
    /// Listener on a Unix path (`address` "unix:/path") only: the socket
    /// file's permission bits, e.g. 0660 to let a group connect (0 = as the
    /// process's umask leaves them; at most 07777). Set after bind and
    /// before listen, so no client connects before they apply. Any other
    /// socket with a non-zero value: `SACK_TCP_ERR_NOT_APPLICABLE`.
    pub unix_mode: u32,
}

/// `tls_min_version`/`tls_max_version`: TLS 1.2 (its IANA number).
pub const SACK_TCP_PROTOCOL_TLS_1_2: u16 = 0x0303;
/// `tls_min_version`/`tls_max_version`: TLS 1.3 (its IANA number).
pub const SACK_TCP_PROTOCOL_TLS_1_3: u16 = 0x0304;

/// One certificate of a TLS server, chosen by SNI (the original's `hosts`
/// entries). All strings are copied during the call that takes them.
#[repr(C)]
pub struct sack_tcp_tls_host {
    /// The names this certificate serves, '~'-separated; a name may be a
    /// wildcard such as "*.example.com" (one label). Matching ignores case.
    pub host: *const c_char,
    /// PEM certificate chain, leaf first.
    pub cert: *const c_char,
    /// PEM private key (see `sack_tcp_options.key` for the formats).
    pub key: *const c_char,
    /// Decrypts `key` when it is encrypted; may be NULL.
    pub passphrase: *const c_char,
}

/// `client_auth`: do not ask clients for certificates.
pub const SACK_TCP_CLIENT_AUTH_NONE: i32 = 0;
/// `client_auth`: ask; verify a certificate if the client sends one.
pub const SACK_TCP_CLIENT_AUTH_REQUEST: i32 = 1;
/// `client_auth`: refuse clients without a valid certificate.
pub const SACK_TCP_CLIENT_AUTH_REQUIRE: i32 = 2;

/// Settings for `sack_tcp_runtime_start`. Fill with
/// `sack_tcp_runtime_options_init`.
#[repr(C)]
pub struct sack_tcp_runtime_options {
    /// `sizeof(sack_tcp_runtime_options)`, set by the init function.
    pub struct_size: usize,
    /// Worker threads running sockets and callbacks (0 = one per CPU).
    pub worker_threads: u32,

    /* ---- Version 2 (0.2), starting at version 1's sizeof. ---- */
    /// Queued delivery: received bytes waiting for `sack_tcp_dispatch`, all
    /// connections together, past which connections stop reading until
    /// the host dispatches (0 = 64 MiB). Reading resumes once half of it
    /// is free again.
    pub queued_bytes_limit: usize,
    /// Queued delivery: the same bound for one connection (0 = 4 MiB);
    /// past it that connection stops reading until half of it is
    /// dispatched.
    pub queued_bytes_per_socket: usize,
    /// `SACK_TCP_DELIVERY_THREADS` (default: callbacks run on the worker
    /// threads) or `SACK_TCP_DELIVERY_QUEUED` (callbacks wait in a queue
    /// until your thread calls `sack_tcp_dispatch`; see
    /// `sack_tcp_get_event_fd`).
    pub delivery_mode: i32,
}

/// `delivery_mode`: callbacks run on the runtime's worker threads.
pub const SACK_TCP_DELIVERY_THREADS: i32 = 0;
/// `delivery_mode`: callbacks run on the thread that calls
/// `sack_tcp_dispatch`, for single-threaded hosts (GUI loops, interpreters
/// with a global lock, select/poll programs).
pub const SACK_TCP_DELIVERY_QUEUED: i32 = 1;

/// Receives one log record: `level` is a `SACK_TCP_LOG_*` value, `target`
/// names the part of the library (or of rustls) it comes from, e.g.
/// "sack_tcp::socket::listener". Both strings are borrowed for the call.
/// Called on whichever thread logs, possibly several at once.
pub type sack_tcp_log_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: i32,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// Log levels, most severe first; a callback set with level L gets records
/// of level L and more severe.
pub const SACK_TCP_LOG_OFF: i32 = 0;
/// Log level: errors only.
pub const SACK_TCP_LOG_ERROR: i32 = 1;
/// Log level: warnings and errors.
pub const SACK_TCP_LOG_WARN: i32 = 2;
/// Log level: information, warnings and errors.
pub const SACK_TCP_LOG_INFO: i32 = 3;
/// Log level: debugging records and everything more severe.
pub const SACK_TCP_LOG_DEBUG: i32 = 4;
/// Log level: every record.
pub const SACK_TCP_LOG_TRACE: i32 = 5;
