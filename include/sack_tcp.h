/*
 * sack_tcp: TCP and TLS servers and clients for C, the socket object of
 * sack.vfs's Network.TCP.
 *
 * THE MODEL
 *   A sack_tcp handle is a listener (no to_address) or a connection (a
 *   client you opened, or one a listener accepted). Everything happens on a
 *   background runtime; functions return at once and results arrive through
 *   callbacks.
 *
 * THREADS
 *   - Default delivery (SACK_TCP_DELIVERY_THREADS): callbacks run on the
 *     runtime's worker threads (one per CPU unless sack_tcp_runtime_start
 *     says otherwise), never on the thread that called sack_tcp_open.
 *     Different sockets' callbacks may run at the same time.
 *   - Return from callbacks quickly, as in any event loop: while one runs,
 *     its worker thread serves no other connection. Hand slow work (disk,
 *     databases, long computations) to threads of your own and call
 *     sack_tcp_send from there. Never wait inside one socket's callback for
 *     another socket's callback: the event you wait for may be queued
 *     behind you on the same worker, and then it never comes.
 *   - Queued delivery (SACK_TCP_DELIVERY_QUEUED): callbacks run only inside
 *     sack_tcp_dispatch, on the thread that calls it, one at a time;
 *     sack_tcp_get_event_fd is readable while events wait. Received bytes
 *     waiting for dispatch are bounded (queued_bytes_limit, in total and
 *     per connection): past the bound the library stops reading those
 *     connections until you dispatch. sack_tcp_dispatch from inside a
 *     callback returns SACK_TCP_ERR_WOULD_DEADLOCK.
 *   - For one socket, callbacks never run concurrently and come in order:
 *       client:   connect(status) [ready, message..., drain..., end?]
 *                 error? close
 *       accepted: connect(0) ready message... [drain..., end?] error? close
 *       listener: error... close   (its connect callback fires on each new
 *                 connection, with the connection's handle)
 *     A failed client connect gives connect(error) then close, nothing else.
 *   - TLS: connect fires when TCP connects (client) or the connection is
 *     accepted (server); ready fires when the TLS handshake is done. A
 *     failed handshake gives error(code) then close, without ready, unless
 *     the host demotes the connection to plain from that error callback
 *     (error 6 only, see sack_tcp_set_ssl): then error, ready, message...
 *     follow as on a plain connection. With
 *     allow_ssl_fallback a plain client gets ready as soon as its first
 *     bytes show it is plain. After a STARTTLS upgrade (sack_tcp_set_ssl)
 *     ready fires again when that handshake is done.
 *   - Every function may be called from any thread, including from inside
 *     any callback, without deadlock. The exceptions return
 *     SACK_TCP_ERR_WOULD_DEADLOCK instead of waiting: sack_tcp_shutdown and
 *     sack_tcp_dispatch from inside a callback, sack_tcp_shutdown from a
 *     runtime thread.
 *   - A function that returns an error never also fires the callback it
 *     would have fired.
 *
 * LIFETIME
 *   - sack_tcp_open and a listener's connect callback each give you one
 *     reference to a handle; release it with sack_tcp_free (sack_tcp_retain
 *     adds one). The handle stays valid, as memory, until then.
 *   - Who owns an accepted connection is decided once, when it is accepted:
 *     if the listener has a connect callback, that callback receives the
 *     new handle and you must sack_tcp_free it (usually in its close
 *     callback). If the listener has none, the listener keeps the handle
 *     and frees it after its close callback: then never free the handles
 *     the other callbacks receive.
 *   - Callbacks may run before sack_tcp_open returns (even close, for a
 *     client that fails at once): use the socket argument of the callback,
 *     not the variable sack_tcp_open writes.
 *   - close is the last callback a socket ever gets, exactly once. After it
 *     returns the library never touches that socket's user_data again.
 *     That is the place to free what user_data points to.
 *   - Replacing a callback (sack_tcp_on_*) or user_data
 *     (sack_tcp_set_user_data) applies to every callback that starts after
 *     the call returns. A callback already running on another thread at
 *     that moment finishes with the old ones. Called from inside one of
 *     the socket's own callbacks (which never overlap), no callback with
 *     the old ones runs after that callback returns.
 *   - sack_tcp_set_log_callback waits for records being delivered to the
 *     old log callback: once it returns, the old one is not running and is
 *     never called again (from inside the log callback it returns
 *     SACK_TCP_ERR_WOULD_DEADLOCK).
 *   - Calls on a closed handle you still hold return SACK_TCP_ERR_CLOSED;
 *     its addresses stay readable.
 *   - Buffers passed to callbacks are borrowed for the duration of the call.
 *   - Freeing your last reference of an open socket closes it gracefully;
 *     its callbacks (close included) still come.
 *   - sack_tcp_shutdown closes every socket (their close callbacks run),
 *     then stops and joins the runtime's threads.
 *
 * LISTENERS AND THE CONNECTIONS THEY ACCEPT
 *   A listener's callbacks and user_data (from the options or set later
 *   with sack_tcp_on_* and sack_tcp_set_user_data) are copied into each
 *   connection when it is accepted; a connection changes its own copy
 *   without touching the listener's. So on_close, on_error and user_data
 *   apply to the listener itself AND to every connection accepted later:
 *   a close callback that frees its handle frees the listener too, unless
 *   it tells them apart (sack_tcp_is_listener) or the connect callback
 *   replaces the connection's callbacks. on_connect runs on each new
 *   connection; on_ready, on_message, on_drain and on_end only ever fire
 *   for connections. Options such as read_buffer_size, send_queue_limit,
 *   pause_reads_above, allow_half_open and idle_timeout_ms likewise apply
 *   to every accepted connection.
 *
 * FLOW CONTROL
 *   sack_tcp_send queues up to send_queue_limit bytes
 *   (SACK_TCP_ERR_QUEUE_FULL past it; drain fires when it is low again).
 *   sack_tcp_pause and sack_tcp_resume stop and restart reading a
 *   connection; pause_reads_above does it by itself while the send queue
 *   is high. sack_tcp_end sends FIN after the queue and keeps reading;
 *   allow_half_open keeps a connection open for sending after the peer's
 *   FIN (the end callback tells you of it).
 *
 * A GUEST IN YOUR PROCESS
 *   - The library never raises a signal (writes use MSG_NOSIGNAL, or
 *     SO_NOSIGPIPE where that does not exist), never changes a signal
 *     disposition, never prints and never exits: you need not ignore
 *     SIGPIPE.
 *   - fork: the runtime's threads exist only in the process that started
 *     them. A child must not call sack_tcp functions or use inherited
 *     handles (exec is fine: every descriptor is close-on-exec). Fork
 *     before the first call, or call sack_tcp_shutdown first.
 *   - Unloading (dlclose, FreeLibrary): call sack_tcp_shutdown first and
 *     free your handles; afterwards the library runs no thread and holds
 *     no socket.
 *
 * ERRORS
 *   Fallible functions return sack_tcp_result: SACK_TCP_OK or a negative
 *   SACK_TCP_ERR_* code. sack_tcp_strerror() describes a code;
 *   sack_tcp_last_error_message() explains the last failure on this thread.
 *   Out-parameters are written only on success. The error callback gets
 *   the same negative codes, or a positive SACK_TCP_TLS_* code (the
 *   original API's TLS error numbers: 1-5 certificate problems, 6 handshake
 *   failed with the first bytes received, 7 no certificate for the
 *   requested host name, with that name; and, beyond the original, 8 the
 *   peer's certificate is revoked by a `crl`).
 */


#ifndef SACK_TCP_H
#define SACK_TCP_H

/* Generated by cbindgen from src/ffi; do not edit. Regenerate: SACK_TCP_BLESS=1 cargo test --test header */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(_WIN32) && !defined(SACK_TCP_STATIC)
#  define SACK_TCP_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#  define SACK_TCP_API __attribute__((visibility("default")))
#else
#  define SACK_TCP_API
#endif

/* Fill an options struct with the defaults: sack_tcp_options_init(&o).
 * The size tells the library which version of the struct you compiled. */
#define sack_tcp_options_init(options) \
    sack_tcp_options_init_sized((options), sizeof *(options))
#define sack_tcp_runtime_options_init(options) \
    sack_tcp_runtime_options_init_sized((options), sizeof *(options))

#define SACK_TCP_VERSION_MAJOR 0
#define SACK_TCP_VERSION_MINOR 1
#define SACK_TCP_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, as sack_tcp_version() returns. */
#define SACK_TCP_VERSION_NUMBER 100
#define SACK_TCP_VERSION_STRING "0.1.0"


/**
 * `family`: let the address decide; the default wildcard is dual-stack `[::]`.
 */
#define SACK_TCP_FAMILY_ANY 0

/**
 * `family`: IPv4 only; the default wildcard is `0.0.0.0`.
 */
#define SACK_TCP_FAMILY_IPV4 4

/**
 * `family`: IPv6 only; the default wildcard is `[::]` with IPV6_V6ONLY set.
 */
#define SACK_TCP_FAMILY_IPV6 6

/**
 * Room for any address `sack_tcp_get_local_address` or
 * `sack_tcp_get_remote_address` writes, NUL included: an IP address, or
 * a Unix socket's "unix:" string (up to 113 bytes). It was 64 before Unix
 * sockets; a buffer of 64 still holds every IP address, and a longer Unix
 * address answers `SACK_TCP_ERR_INVALID_ARGUMENT`, as any short buffer.
 */
#define SACK_TCP_ADDRESS_MAX 128

/**
 * `tls_min_version`/`tls_max_version`: TLS 1.2 (its IANA number).
 */
#define SACK_TCP_PROTOCOL_TLS_1_2 771

/**
 * `tls_min_version`/`tls_max_version`: TLS 1.3 (its IANA number).
 */
#define SACK_TCP_PROTOCOL_TLS_1_3 772

/**
 * `client_auth`: do not ask clients for certificates.
 */
#define SACK_TCP_CLIENT_AUTH_NONE 0

/**
 * `client_auth`: ask; verify a certificate if the client sends one.
 */
#define SACK_TCP_CLIENT_AUTH_REQUEST 1

/**
 * `client_auth`: refuse clients without a valid certificate.
 */
#define SACK_TCP_CLIENT_AUTH_REQUIRE 2

/**
 * `delivery_mode`: callbacks run on the runtime's worker threads.
 */
#define SACK_TCP_DELIVERY_THREADS 0

/**
 * `delivery_mode`: callbacks run on the thread that calls
 * `sack_tcp_dispatch`, for single-threaded hosts (GUI loops, interpreters
 * with a global lock, select/poll programs).
 */
#define SACK_TCP_DELIVERY_QUEUED 1

/**
 * Log levels, most severe first; a callback set with level L gets records
 * of level L and more severe.
 */
#define SACK_TCP_LOG_OFF 0

/**
 * Log level: errors only.
 */
#define SACK_TCP_LOG_ERROR 1

/**
 * Log level: warnings and errors.
 */
#define SACK_TCP_LOG_WARN 2

/**
 * Log level: information, warnings and errors.
 */
#define SACK_TCP_LOG_INFO 3

/**
 * Log level: debugging records and everything more severe.
 */
#define SACK_TCP_LOG_DEBUG 4

/**
 * Log level: every record.
 */
#define SACK_TCP_LOG_TRACE 5

/**
 * A TCP socket: a listener, a client, or a connection a listener accepted.
 *
 * Opaque. You get one from `sack_tcp_open` (a listener or a client) or as
 * the `socket` argument of a listener's connect callback (an accepted
 * connection). Either way you own one reference to it and must release it
 * with `sack_tcp_free` exactly once (more if you called `sack_tcp_retain`).
 *
 * The handle stays valid until you release your last reference, even after
 * the socket has closed: calls on a closed handle return
 * `SACK_TCP_ERR_CLOSED`, never undefined behaviour. The handle passed to a
 * callback is valid for the duration of that callback even if you released
 * it already.
 */
typedef struct sack_tcp sack_tcp;

/**
 * Every fallible function returns one: `SACK_TCP_OK` (0) or a negative
 * `SACK_TCP_ERR_*` code. `sack_tcp_strerror` names it and
 * `sack_tcp_last_error_message` explains the last failure on this thread.
 */
typedef int32_t sack_tcp_result;

/**
 * Settings for `sack_tcp_runtime_start`. Fill with
 * `sack_tcp_runtime_options_init`.
 */
typedef struct {
    /**
     * `sizeof(sack_tcp_runtime_options)`, set by the init function.
     */
    size_t struct_size;
    /**
     * Worker threads running sockets and callbacks (0 = one per CPU).
     */
    uint32_t worker_threads;
    /**
     * Queued delivery: received bytes waiting for `sack_tcp_dispatch`, all
     * connections together, past which connections stop reading until
     * the host dispatches (0 = 64 MiB). Reading resumes once half of it
     * is free again.
     */
    size_t queued_bytes_limit;
    /**
     * Queued delivery: the same bound for one connection (0 = 4 MiB);
     * past it that connection stops reading until half of it is
     * dispatched.
     */
    size_t queued_bytes_per_socket;
    /**
     * `SACK_TCP_DELIVERY_THREADS` (default: callbacks run on the worker
     * threads) or `SACK_TCP_DELIVERY_QUEUED` (callbacks wait in a queue
     * until your thread calls `sack_tcp_dispatch`; see
     * `sack_tcp_get_event_fd`).
     */
    int32_t delivery_mode;
} sack_tcp_runtime_options;

/**
 * Hands back the buffer of one `sack_tcp_send_borrowed` call: the library
 * no longer reads it, and it is yours to change or free, from inside this
 * callback or after it. Fires exactly once for every call that returned
 * `SACK_TCP_OK` (and never for one that failed), like every callback: on a
 * runtime thread, or in queued delivery mode from `sack_tcp_dispatch`;
 * never from inside `sack_tcp_send_borrowed` itself, even when every byte
 * was written at once. Completions of one connection fire in the order of
 * their calls, and always before its close callback.
 *
 * `status` is `SACK_TCP_OK` once every byte was handed to the kernel
 * (plain) or encrypted into TLS records (TLS; the records are the
 * library's): it says nothing about the peer having received them. It is
 * `SACK_TCP_ERR_CANCELED` when the connection ended first (a close that
 * timed out, an abort, a reset, an error, a runtime shutdown): some of the
 * bytes may have been sent, and the error callback, if the end was an
 * error, follows the completions with the reason, then close.
 *
 * `user_data` is the `done_user_data` given to that call, not the
 * socket's; `socket` is the connection it was sent on, valid for the call.
 */
typedef void (*sack_tcp_send_done_cb)(void *user_data, sack_tcp *socket, sack_tcp_result status);

/**
 * Receives one log record: `level` is a `SACK_TCP_LOG_*` value, `target`
 * names the part of the library (or of rustls) it comes from, e.g.
 * "sack_tcp::socket::listener". Both strings are borrowed for the call.
 * Called on whichever thread logs, possibly several at once.
 */
typedef void (*sack_tcp_log_cb)(void *user_data,
                                int32_t level,
                                const char *target,
                                const char *message);

/**
 * A connection's figures, filled by `sack_tcp_get_stats`. Versioned like
 * the options: fields are only ever appended, and the caller passes
 * `sizeof` of its struct.
 */
typedef struct {
    /**
     * Set to the caller's `struct_size`; fields past the library's own
     * struct are zeroed.
     */
    size_t struct_size;
    /**
     * Bytes read from the socket since the connection was established
     * (TLS records and handshakes included: bytes on the wire).
     */
    uint64_t bytes_received;
    /**
     * Bytes the kernel accepted for sending (TLS records and handshakes
     * included; accepted, not yet necessarily acknowledged).
     */
    uint64_t bytes_sent;
    /**
     * Milliseconds since the connection was established (a client: since
     * its connect completed); once it has closed, the time it was up.
     */
    uint64_t connected_ms;
    /**
     * The kernel's smoothed round-trip time in microseconds (TCP_INFO
     * `tcpi_rtt`); 0 when `has_tcp_info` is false.
     */
    uint32_t rtt_us;
    /**
     * Its mean deviation in microseconds (`tcpi_rttvar`).
     */
    uint32_t rtt_var_us;
    /**
     * Segments retransmitted over the connection's life
     * (`tcpi_total_retrans`).
     */
    uint32_t retransmits;
    /**
     * Whether the three TCP_INFO figures are valid: true on Linux, false
     * where TCP_INFO does not exist.
     */
    bool has_tcp_info;
} sack_tcp_stats;

/**
 * Fires once per connection attempt.
 *
 * - Listener: a connection was accepted. `socket` is the new connection
 *   (yours to `sack_tcp_free`), `status` is `SACK_TCP_OK`, and `user_data`
 *   is the listener's. A listener without a connect callback owns its
 *   connections itself and frees each after its close callback: then do
 *   not free the handles other callbacks receive. The connection starts with the listener's callbacks,
 *   user data and text mode; replace any of them here, before its first
 *   other callback.
 * - Client: the connection was made (`SACK_TCP_OK`) or failed (a negative
 *   code: `SACK_TCP_ERR_REFUSED`, `_UNREACHABLE`, `_TIMED_OUT`, `_RESOLVE`,
 *   `_CANCELED`, ...). During a failed connect callback
 *   `sack_tcp_last_error_message()` describes the failure. A failed connect
 *   is followed by `close` and nothing else.
 */
typedef void (*sack_tcp_connect_cb)(void *user_data, sack_tcp *socket, sack_tcp_result status);

/**
 * Fires when `socket` can send: for plain TCP right after a successful
 * connect callback, for TLS when the handshake is done (again after a
 * STARTTLS upgrade). Not at all if you closed the socket first. Data sent
 * earlier was queued and is written first.
 */
typedef void (*sack_tcp_ready_cb)(void *user_data, sack_tcp *socket);

/**
 * Fires for received data, at most the read buffer size per call.
 *
 * `data` is borrowed until the callback returns. In text mode
 * (`read_strings`) it is valid UTF-8 that never splits a character across
 * two calls, invalid bytes replaced by U+FFFD, and `data[len]` is a NUL, so
 * it may be used as a C string (text may itself contain U+0000; `len` is
 * authoritative). No message callback starts after a close was requested
 * from this socket's own callbacks or has begun.
 */
typedef void (*sack_tcp_message_cb)(void *user_data,
                                    sack_tcp *socket,
                                    const uint8_t *data,
                                    size_t len);

/**
 * The last callback `socket` ever gets, exactly once, after its descriptor
 * is closed. After it returns the library never touches `user_data` again.
 * Releasing the handle here (`sack_tcp_free`) is the usual pattern.
 */
typedef void (*sack_tcp_close_cb)(void *user_data, sack_tcp *socket);

/**
 * Reports a failure on an established socket, always followed by `close`
 * for a connection (for example `SACK_TCP_ERR_RESET` when the peer resets,
 * `SACK_TCP_ERR_TIMED_OUT` when a graceful close could not flush). On a
 * listener it reports an accept failure (`SACK_TCP_ERR_IO`, e.g. out of
 * descriptors) and the listener keeps going. `message` and `data` are
 * borrowed until the callback returns; `data` is NULL when `len` is 0.
 */
typedef void (*sack_tcp_error_cb)(void *user_data,
                                  sack_tcp *socket,
                                  sack_tcp_result code,
                                  const char *message,
                                  const uint8_t *data,
                                  size_t len);

/**
 * Fires when the send queue falls to or below `send_queue_low_mark` after
 * having been above it (or after a send was refused with
 * `SACK_TCP_ERR_QUEUE_FULL`), on every path that empties it: writes by the
 * library's task, a TLS handshake's end that releases data sent before
 * ready, the end of a message callback whose TLS sends were held. Reads
 * paused by `pause_reads_above` resume at the same moment.
 */
typedef void (*sack_tcp_drain_cb)(void *user_data, sack_tcp *socket);

/**
 * One certificate of a TLS server, chosen by SNI (the original's `hosts`
 * entries). All strings are copied during the call that takes them.
 */
typedef struct {
    /**
     * The names this certificate serves, '~'-separated; a name may be a
     * wildcard such as "*.example.com" (one label). Matching ignores case.
     */
    const char *host;
    /**
     * PEM certificate chain, leaf first.
     */
    const char *cert;
    /**
     * PEM private key (see `sack_tcp_options.key` for the formats).
     */
    const char *key;
    /**
     * Decrypts `key` when it is encrypted; may be NULL.
     */
    const char *passphrase;
} sack_tcp_tls_host;

/**
 * Fires once when the peer has finished sending (TCP FIN, or TLS
 * close_notify), after the last message callback.
 *
 * - Without `allow_half_open` (the default) the connection then flushes
 *   what is queued, sends its own FIN and closes: the close callback
 *   follows, and sends made from here on return `SACK_TCP_ERR_CLOSED`.
 * - With `allow_half_open` the connection stays open for sending: answer
 *   with `sack_tcp_send` from any thread, then `sack_tcp_end` or
 *   `sack_tcp_close` (either then closes it once the queue is sent).
 */
typedef void (*sack_tcp_end_cb)(void *user_data, sack_tcp *socket);

/**
 * The peer's certificate chain as the `tls_verify` callback sees it. Every
 * pointer is borrowed for the duration of the call.
 */
typedef struct {
    /**
     * `count` DER certificates as the peer sent them, leaf first:
     * `certs[i]` is `cert_lens[i]` bytes long.
     */
    const uint8_t *const *certs;
    /**
     * The length of each certificate in `certs`.
     */
    const size_t *cert_lens;
    /**
     * How many certificates (at least 1: the leaf).
     */
    size_t count;
    /**
     * Client: the name the server's certificate was verified for (`host`,
     * or `to_address`'s host). Server: NULL.
     */
    const char *server_name;
    /**
     * SHA-256 of the leaf certificate's DER (what `openssl x509
     * -fingerprint -sha256` prints).
     */
    uint8_t leaf_sha256[32];
    /**
     * SHA-256 of the leaf's SubjectPublicKeyInfo (RFC 7469's pin-sha256,
     * which survives a renewal with the same key); valid when
     * `has_leaf_spki_sha256`.
     */
    uint8_t leaf_spki_sha256[32];
    /**
     * Whether `leaf_spki_sha256` is set (false only for a leaf whose key
     * cannot be parsed out).
     */
    bool has_leaf_spki_sha256;
} sack_tcp_peer_chain;

/**
 * `tls_verify`: see that option. Returns true to accept the chain.
 */
typedef bool (*sack_tcp_verify_cb)(void *user_data, const sack_tcp_peer_chain *chain);

/**
 * What the `tls_client_hello` callback is shown of a ClientHello. Every
 * pointer is borrowed for the duration of the call.
 */
typedef struct {
    /**
     * The SNI name the client asked for, or NULL if it sent none.
     */
    const char *server_name;
    /**
     * `alpn_count` protocol names the client offers, in its order:
     * `alpn[i]` is `alpn_lens[i]` bytes long, not NUL-terminated.
     */
    const uint8_t *const *alpn;
    /**
     * The length of each name in `alpn`.
     */
    const size_t *alpn_lens;
    /**
     * How many ALPN names (0 when the client offers none).
     */
    size_t alpn_count;
} sack_tcp_client_hello;

/**
 * `tls_client_hello`: see that option. Returns true to go on with the
 * handshake.
 */
typedef bool (*sack_tcp_client_hello_cb)(void *user_data, const sack_tcp_client_hello *hello);

/**
 * Options for `sack_tcp_open`. Fill with `sack_tcp_options_init`, then set
 * what you need. Strings are copied before `sack_tcp_open` returns.
 *
 * `to_address` set makes a client; otherwise the socket is a listener.
 * Fields are only ever appended; `struct_size` tells the library which
 * version of the struct you compiled against.
 */
typedef struct {
    /**
     * `sizeof(sack_tcp_options)`, set by `sack_tcp_options_init`.
     */
    size_t struct_size;
    /**
     * Listener: the port to listen on (0 picks a free one; read it back with
     * `sack_tcp_get_local_port`). Client: the local port to bind (0 = any).
     * 0..65535. A port inside `address` overrides it.
     */
    int32_t port;
    /**
     * Listener: the address to listen on, e.g. "127.0.0.1", "[::1]:8080",
     * "localhost" (every address it resolves to is bound). NULL listens on
     * the wildcard of `family`. Client: the local address to bind (NULL =
     * let the OS choose).
     *
     * Unix domain sockets (libuv's pipes, Node's `path`, nng's `ipc://`):
     * "unix:/run/app.sock" is a socket file (a relative path is relative
     * to the working directory at the open call; at most 107 bytes after
     * "unix:"), "unix:@name" a name in Linux's abstract namespace (no file;
     * at most 107 bytes; `SACK_TCP_ERR_BAD_ADDRESS` on other systems).
     * A longer or empty path is `SACK_TCP_ERR_BAD_ADDRESS` from the open
     * call. `port` and `to_port` must be 0 and `family` ANY with them
     * (`SACK_TCP_ERR_NOT_APPLICABLE`); `no_delay`, `keep_alive_*`,
     * `user_timeout_ms`, `reuse_address` and `reuse_port` are ignored.
     * Text mode, TLS (a client verifies `host`, else "localhost"),
     * `allow_ssl_fallback`, STARTTLS, PROXY headers and every callback work
     * as over TCP. A client's `address` binds its own end and must then be
     * "unix:..." too (`SACK_TCP_ERR_BAD_ADDRESS` for a mix); the file that
     * bind makes stays after the close, and after a connect that failed:
     * removing it is the host's (as with libuv's pipes), the library
     * removes only its listeners' files. Until it is removed, another
     * client bound to the same path fails with `SACK_TCP_ERR_ADDRESS_IN_USE`.
     *
     * A listener on a path, inside `sack_tcp_open`: if the path exists and
     * is a socket nobody accepts on (a connect to it is refused: a stale
     * file left by a process that died), it is removed and bound again;
     * if a listener accepts on it, the open fails with
     * `SACK_TCP_ERR_ADDRESS_IN_USE` and the file stays; if the path is
     * anything but a socket (a regular file, a directory, a symlink), the
     * open fails with `SACK_TCP_ERR_ADDRESS_IN_USE` and it is never
     * removed. (Two processes starting at the same moment on one stale
     * path can race; give each its own path.) `unix_mode` sets the file's
     * mode before the socket listens. When the listener closes, the file
     * is removed before the close callback runs, if it is still the one
     * the listener created (same device and inode): a file someone put
     * there since is left alone. An abstract name needs none of this: it
     * goes with its socket.
     */
    const char *address;
    /**
     * `SACK_TCP_FAMILY_ANY`, `_IPV4` or `_IPV6`: filters resolved names and
     * picks the default wildcard.
     */
    int32_t family;
    /**
     * Client only: where to connect, "host[:port]", "[v6]:port", a bare
     * IPv6 literal, or a bare port (meaning localhost). Every resolved
     * address is tried in turn. A port may be a number or a service name.
     * "unix:/path" or "unix:@name" connects to a Unix domain socket (see
     * `address`); no port then, and a path with no socket file fails the
     * connect with `SACK_TCP_ERR_REFUSED`, as a port nobody listens on.
     */
    const char *to_address;
    /**
     * Client only: the port to use when `to_address` has none (0 = unset).
     */
    int32_t to_port;
    /**
     * Deliver text (UTF-8, NUL-terminated, whole characters) instead of bytes.
     */
    bool read_strings;
    /**
     * Set SO_REUSEADDR (off by default): rebind a port still in TIME_WAIT.
     */
    bool reuse_address;
    /**
     * Set SO_REUSEPORT (off by default): several listeners share one port.
     */
    bool reuse_port;
    /**
     * Set TCP_NODELAY (on by default).
     */
    bool no_delay;
    /**
     * Enable TCP keepalive with this idle time in milliseconds (0 = off).
     */
    uint32_t keep_alive_ms;
    /**
     * Client only: fail the connect with `SACK_TCP_ERR_TIMED_OUT` after this
     * many milliseconds, resolution included (0 = the OS's own timeout).
     */
    uint32_t connect_timeout_ms;
    /**
     * Largest chunk one message callback gets (0 = 4096; 16 .. 16 MiB).
     * It does not decide how much is read at once: the library reads at
     * least 64 KiB per system call into one buffer per worker thread (no
     * memory per connection) and delivers it in chunks of this size.
     */
    size_t read_buffer_size;
    /**
     * Bytes `sack_tcp_send` may hold unsent before it returns
     * `SACK_TCP_ERR_QUEUE_FULL` (0 = 16 MiB; SIZE_MAX = no limit).
     */
    size_t send_queue_limit;
    /**
     * The drain callback fires when the queue falls to this many bytes or
     * fewer (default 0: when it empties). Must be below the limit.
     */
    size_t send_queue_low_mark;
    /**
     * Listener only: the listen backlog (0 = 4096).
     */
    int32_t backlog;
    /**
     * How long a graceful close may take to flush and see the peer's FIN,
     * in milliseconds, before the connection is dropped (0 = 10000).
     */
    uint32_t close_timeout_ms;
    /**
     * The connect callback (see `sack_tcp_connect_cb`); NULL for none.
     */
    sack_tcp_connect_cb on_connect;
    /**
     * The ready callback (see `sack_tcp_ready_cb`); NULL for none.
     */
    sack_tcp_ready_cb on_ready;
    /**
     * The message callback (see `sack_tcp_message_cb`); NULL for none.
     */
    sack_tcp_message_cb on_message;
    /**
     * The close callback (see `sack_tcp_close_cb`); NULL for none.
     */
    sack_tcp_close_cb on_close;
    /**
     * The error callback (see `sack_tcp_error_cb`); NULL for none.
     */
    sack_tcp_error_cb on_error;
    /**
     * The drain callback (see `sack_tcp_drain_cb`); NULL for none.
     */
    sack_tcp_drain_cb on_drain;
    /**
     * Passed to every callback of this socket (and, for a listener, of the
     * connections it accepts, until they replace it).
     */
    void *user_data;
    /**
     * Client: speak TLS from the start. The connect callback fires when TCP
     * connects, ready when the handshake is done; data sent before ready is
     * queued. Not for servers (they speak TLS when given `cert` or `hosts`).
     */
    bool ssl;
    /**
     * PEM certificate chain, leaf first. Server: the default certificate
     * (makes the listener a TLS server). Client: a client certificate.
     */
    const char *cert;
    /**
     * PEM private key for `cert`: PKCS#8, PKCS#1 or SEC1, plain or
     * encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY" or legacy OpenSSL
     * "Proc-Type: 4,ENCRYPTED").
     */
    const char *key;
    /**
     * Decrypts an encrypted `key`. Not kept after loading.
     */
    const char *passphrase;
    /**
     * Server: the names the default certificate serves, '~'-separated.
     * Client: the name sent as SNI and verified, instead of `to_address`'s
     * host (an IP address is verified against the certificate's IP SANs).
     */
    const char *host;
    /**
     * PEM bundle of trusted roots. Client: verify the server against these
     * only (without it: the system's roots, with Mozilla's as fallback).
     * Server: the roots client certificates must chain to (`client_auth`).
     */
    const char *ca;
    /**
     * Server: more certificates, chosen by the name the client asks for
     * (SNI): `hosts_count` entries. Copied during `sack_tcp_open`.
     */
    const sack_tcp_tls_host *hosts;
    /**
     * The number of entries at `hosts` (0 with `hosts` NULL).
     */
    size_t hosts_count;
    /**
     * Server: decide per connection, from its first bytes, between TLS and
     * plain TCP, so one port serves both. A client that sends nothing for
     * `handshake_timeout_ms` is served as plain. Without it a plain client
     * on a TLS port gets error 6 (`SACK_TCP_TLS_HANDSHAKE_FAILED`) and is
     * closed.
     */
    bool allow_ssl_fallback;
    /**
     * Server: load the certificates but start every connection plain;
     * `sack_tcp_set_ssl(conn, true)` upgrades one (STARTTLS).
     */
    bool starttls;
    /**
     * Client: DANGEROUS. Accept any server certificate for any name. Only
     * handshake signatures are still checked.
     */
    bool tls_insecure_skip_verify;
    /**
     * Server: `SACK_TCP_CLIENT_AUTH_NONE` (default), `_REQUEST` (verify a
     * client certificate if one is sent) or `_REQUIRE` (refuse clients
     * without one). Needs `ca`.
     */
    int32_t client_auth;
    /**
     * ALPN protocols to offer (client) or accept (server), comma-separated
     * in order of preference, e.g. "h2,http/1.1". Read the result with
     * `sack_tcp_get_alpn`.
     */
    const char *alpn;
    /**
     * A TLS handshake (and, with `allow_ssl_fallback`, the wait for a
     * client's first bytes) must finish within this many milliseconds
     * (0 = 10000); otherwise the connection gets `SACK_TCP_ERR_TIMED_OUT`
     * and closes.
     */
    uint32_t handshake_timeout_ms;
    /**
     * Pause on full: reads pause while more than this many bytes wait in
     * the send queue, and resume when it falls to `send_queue_low_mark`
     * (the drain callback fires then). An echo server or a proxy so keeps
     * its memory bounded without refusing a send. 0 (default) = never:
     * two peers that both send more than this before reading would then
     * wait for each other forever. Must lie from `send_queue_low_mark` up
     * to below `send_queue_limit`. On a listener it applies to every
     * connection it accepts.
     */
    size_t pause_reads_above;
    /**
     * The peer finished sending (see `sack_tcp_end_cb`).
     */
    sack_tcp_end_cb on_end;
    /**
     * Close a connection (error `SACK_TCP_ERR_TIMED_OUT`, then a reset and
     * close) when nothing arrives from the peer for this many
     * milliseconds (0 = never). On a listener it applies to each
     * connection it accepts, from the accept on. The clock stands still
     * while reads are paused.
     */
    uint32_t idle_timeout_ms;
    /**
     * Keep a connection open for sending after the peer's FIN, until
     * `sack_tcp_end` or `sack_tcp_close` (Node's allowHalfOpen, libuv's
     * default). Off: the peer's FIN closes the connection once the queue
     * is sent.
     */
    bool allow_half_open;
    /**
     * With `keep_alive_ms`: milliseconds between keepalive probes
     * (TCP_KEEPINTVL; 0 = the system's, 75 s on Linux). The kernel counts
     * whole seconds: values are rounded down, with 1 s at least. Setting
     * it (or `keep_alive_count`) without `keep_alive_ms` is
     * `SACK_TCP_ERR_INVALID_ARGUMENT`; so is a time over 32767 s.
     */
    uint32_t keep_alive_interval_ms;
    /**
     * With `keep_alive_ms`: unanswered probes after which the connection
     * is dropped (TCP_KEEPCNT; 0 = the system's, 9 on Linux; at most
     * 127). A peer found dead so gets `SACK_TCP_ERR_TIMED_OUT` in the
     * error callback, then `close`.
     */
    uint32_t keep_alive_count;
    /**
     * TCP_USER_TIMEOUT (Linux): when sent bytes stay unacknowledged for
     * this many milliseconds, the kernel drops the connection and the
     * error callback gets `SACK_TCP_ERR_TIMED_OUT`, then `close` (0 = the
     * system's retransmission limits, about 15 minutes). With keepalive
     * on it also bounds how long probes go unanswered. Where the option
     * does not exist (not Linux or Android) a non-zero value makes
     * `sack_tcp_open` return `SACK_TCP_ERR_NOT_APPLICABLE`. On a listener
     * these three apply to every connection it accepts; change them on a
     * live connection with `sack_tcp_set_keep_alive` and
     * `sack_tcp_set_user_timeout`.
     */
    uint32_t user_timeout_ms;
    /**
     * Listener only (Node's maxConnections): at most this many accepted
     * connections open at once (0 = no cap). One accepted past the cap is
     * refused at once: the library accepts it and closes it with a reset
     * (RST), so the client sees ECONNRESET rather than waiting in the
     * backlog, and no callback of the listener runs for it. A connection
     * counts from its accept until its close callback. Change it on a
     * running listener with `sack_tcp_set_max_connections`; read the
     * count with `sack_tcp_get_connection_count`. A client given a value
     * gets `SACK_TCP_ERR_NOT_APPLICABLE` from `sack_tcp_open`.
     */
    uint32_t max_connections;
    /**
     * Listener only: every connection starts with a PROXY protocol header
     * (HAProxy's version 1 text or version 2 binary, as HAProxy, nginx and
     * cloud load balancers send with "send-proxy"/"proxy_protocol"). The
     * header is read before anything else (before TLS and before the
     * connect callback), however many reads it arrives in, and the
     * remote-address getters then report the client it names (the local
     * ones stay the socket's own). A LOCAL or UNKNOWN header (a health
     * check) keeps the connection's own addresses. A connection without a
     * well-formed header, or whose header is not complete within
     * `handshake_timeout_ms` (0 = 10 s), is reset without reaching the
     * host: the listener's error callback gets `SACK_TCP_ERR_PROXY_HEADER`
     * (or `SACK_TCP_ERR_TIMED_OUT`) with a message naming the fault and
     * the proxy's address. Only TCP over IPv4 and IPv6 is accepted; v2
     * TLVs are skipped. A client given it gets
     * `SACK_TCP_ERR_NOT_APPLICABLE`.
     */
    bool proxy_protocol;
    /**
     * The oldest TLS version to speak: `SACK_TCP_PROTOCOL_TLS_1_2` or
     * `_1_3` (0 = TLS 1.2). Both sides.
     */
    uint16_t tls_min_version;
    /**
     * The newest TLS version to speak (0 = TLS 1.3). Both sides.
     */
    uint16_t tls_max_version;
    /**
     * Key-exchange groups in order of preference, comma-separated, from
     * "X25519MLKEM768", "X25519", "secp256r1", "secp384r1" (case ignored;
     * NULL = all four in that order). Both sides.
     */
    const char *tls_groups;
    /**
     * Cipher suites in order of preference, comma-separated IANA names,
     * e.g. "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
     * (NULL = rustls' defaults). A version left without a suite is an
     * error. Both sides.
     */
    const char *tls_cipher_suites;
    /**
     * No session resumption: a server issues no tickets and keeps no
     * session cache, a client caches no session. Off: both resume.
     */
    bool tls_no_resumption;
    /**
     * Warn (a log record at SACK_TCP_LOG_WARN, target
     * "sack_tcp::tls::expiry") when a certificate this socket loads
     * (`cert`, `hosts`, `sack_tcp_add_cert`, `sack_tcp_reload_tls`), or a
     * peer presents in a handshake, has fewer than this many days left
     * (0 = 30). See also `sack_tcp_get_cert_expiry` and the peer's
     * `peer_not_after` in `sack_tcp_tls_info`.
     */
    uint32_t tls_expiry_warning_days;
    /**
     * PEM certificate revocation lists ("X509 CRL" blocks), checked for
     * the peer's own certificate: a client checks the server's (with
     * `ca`), a server the clients' (`client_auth`). A listed certificate
     * fails with `SACK_TCP_TLS_REVOKED`; one whose issuer has no CRL here
     * is accepted. NULL = no revocation checks.
     */
    const char *crl;
    /**
     * Client only: happy eyeballs (RFC 8305). When `to_address` resolves
     * to several addresses, the families are interleaved (starting with
     * the resolver's first answer) and each attempt gets this many
     * milliseconds alone before the next starts alongside it (0 = 250,
     * the RFC's value; at least 10). An attempt that fails starts the next
     * at once. The first to connect wins; the others are closed before
     * the connect callback runs. `connect_timeout_ms` bounds the whole
     * race, resolution included; when every attempt fails, the error
     * names each address and carries the last failure's code.
     */
    uint32_t happy_eyeballs_delay_ms;
    /**
     * Pinning: called during each TLS handshake after the peer's
     * certificate chain passed the normal checks (`ca`, name, dates,
     * `crl`), and only then; it can only reject. Return true to accept;
     * false fails the handshake with `SACK_TCP_TLS_REJECTED`. A client
     * checks the server's chain; with `tls_insecure_skip_verify` the
     * normal checks are skipped and this callback is the only one (trust
     * one self-signed certificate by its fingerprint). A server checks
     * client certificates, so it needs `client_auth` (NOT_APPLICABLE
     * otherwise), and is not called when an optional client certificate
     * is absent.
     *
     * Thread: a library worker thread, in the middle of the handshake, in
     * both delivery modes (a handshake cannot wait for
     * `sack_tcp_dispatch`); it may run on several threads at once for a
     * listener's connections. Keep it short and do not call
     * `sack_tcp_shutdown` from it. It is not given the connection handle:
     * the check is part of the TLS settings, which clients opened with the
     * same settings share. A resumed session is not verified again, and is
     * only offered to clients with the same callback and user data. The
     * callback must stay callable until every socket opened with it has
     * closed (listener included). `sack_tcp_reload_tls` takes the one in
     * its options. NULL = no callback.
     */
    sack_tcp_verify_cb tls_verify;
    /**
     * Passed to `tls_verify` as its first argument.
     */
    void *tls_verify_user_data;
    /**
     * TLS listener only: called for each ClientHello, before a certificate
     * is chosen, with the SNI name and the ALPN protocols the client
     * offers. Return true to go on: the certificate is then chosen from
     * what the listener serves at that moment, so the callback may first
     * call `sack_tcp_add_cert` on the listener to serve a name it did not
     * know (a certificate made or fetched on demand). Return false to fail
     * the handshake before any certificate is sent: the client gets an
     * alert, and the connection's error callback gets
     * `SACK_TCP_TLS_REJECTED`.
     *
     * Thread: a library worker thread, inside the handshake, in both
     * delivery modes; several connections may call it at once. While it
     * runs, that worker handles nothing else, so obtaining a certificate
     * over the network here stalls other connections: prefer rejecting
     * and adding the certificate for the client's next attempt. It is not
     * given the connection; pass the listener in the user data to call
     * `sack_tcp_add_cert`. The listener needs a certificate to start with
     * (`cert` or `hosts`). `sack_tcp_reload_tls` takes the one in its
     * options. NULL = none.
     */
    sack_tcp_client_hello_cb tls_client_hello;
    /**
     * Passed to `tls_client_hello` as its first argument.
     */
    void *tls_client_hello_user_data;
    /**
     * Listener on a Unix path (`address` "unix:/path") only: the socket
     * file's permission bits, e.g. 0660 to let a group connect (0 = as the
     * process's umask leaves them; at most 07777). Set after bind and
     * before listen, so no client connects before they apply. Any other
     * socket with a non-zero value: `SACK_TCP_ERR_NOT_APPLICABLE`.
     */
    uint32_t unix_mode;
} sack_tcp_options;

/**
 * What a TLS connection's handshake settled on and a summary of the
 * peer's leaf certificate, filled by `sack_tcp_get_tls_info`. Strings are
 * NUL-terminated copies inside the struct; the struct is yours.
 */
typedef struct {
    /**
     * Set by the library to the size you passed.
     */
    size_t struct_size;
    /**
     * IANA number of the protocol version: 0x0304 TLS 1.3, 0x0303 TLS 1.2.
     */
    uint16_t protocol_version;
    /**
     * IANA number of the cipher suite, e.g. 0x1302.
     */
    uint16_t cipher_suite;
    /**
     * IANA number of the key-exchange group (0x11EC X25519MLKEM768,
     * 0x001D X25519, 0x0017 secp256r1, 0x0018 secp384r1); 0 when no key
     * exchange ran (a resumed TLS 1.2 session).
     */
    uint16_t key_exchange_group;
    /**
     * The session was resumed (no full handshake).
     */
    bool resumed;
    /**
     * "TLSv1.3" or "TLSv1.2", as OpenSSL names them.
     */
    char protocol_name[16];
    /**
     * The suite's IANA name, e.g. "TLS_AES_256_GCM_SHA384" or
     * "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
     */
    char cipher_suite_name[64];
    /**
     * e.g. "X25519MLKEM768", "X25519", "secp256r1"; empty with
     * `key_exchange_group` 0.
     */
    char key_exchange_group_name[32];
    /**
     * Server side: the host name the client asked for (SNI); empty if it
     * sent none, and always on a client.
     */
    char server_name[256];
    /**
     * How many certificates the peer sent (0: none, e.g. a client without
     * one). Read them with `sack_tcp_get_peer_certificate`.
     */
    size_t peer_certificate_count;
    /**
     * Start of the peer's leaf certificate's validity, seconds since 1970
     * UTC (0 without a certificate).
     */
    int64_t peer_not_before;
    /**
     * End of the peer's leaf certificate's validity, seconds since 1970
     * UTC (0 without a certificate).
     */
    int64_t peer_not_after;
    /**
     * SHA-256 of the leaf's DER, for pinning (zeros without one); what
     * `openssl x509 -fingerprint -sha256` prints.
     */
    uint8_t peer_sha256[32];
    /**
     * Entries in the leaf's subjectAltName that `sack_tcp_get_peer_san`
     * returns (DNS, IP, email and URI names).
     */
    size_t peer_san_count;
} sack_tcp_tls_info;

/**
 * The key log callback: one NSS key-log line per call, e.g.
 * "CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>" (hex, no
 * newline), borrowed for the call. Append each line and a newline to a file
 * and Wireshark or tshark decrypts the captured traffic.
 */
typedef void (*sack_tcp_key_log_cb)(void *user_data, const char *line);

/**
 * Success.
 */
#define SACK_TCP_OK 0

/**
 * An argument is out of range or inconsistent (the message names it).
 */
#define SACK_TCP_ERR_INVALID_ARGUMENT -1

/**
 * A required pointer argument was NULL.
 */
#define SACK_TCP_ERR_NULL_POINTER -2

/**
 * An address string could not be parsed, or names no port where one is needed.
 */
#define SACK_TCP_ERR_BAD_ADDRESS -3

/**
 * A host name did not resolve (or not to an address of the requested family).
 */
#define SACK_TCP_ERR_RESOLVE -4

/**
 * The peer refused the connection (ECONNREFUSED).
 */
#define SACK_TCP_ERR_REFUSED -5

/**
 * No route to the network or host (ENETUNREACH, EHOSTUNREACH).
 */
#define SACK_TCP_ERR_UNREACHABLE -6

/**
 * The connect timeout (or a graceful close's timeout) expired.
 */
#define SACK_TCP_ERR_TIMED_OUT -7

/**
 * The address and port are taken (EADDRINUSE).
 */
#define SACK_TCP_ERR_ADDRESS_IN_USE -8

/**
 * The address is not one of this machine's (EADDRNOTAVAIL).
 */
#define SACK_TCP_ERR_ADDRESS_NOT_AVAILABLE -9

/**
 * The OS refused the operation (EACCES, EPERM), e.g. a port below 1024.
 */
#define SACK_TCP_ERR_PERMISSION_DENIED -10

/**
 * The socket is closed or closing; nothing more can be done with it.
 */
#define SACK_TCP_ERR_CLOSED -11

/**
 * `sack_tcp_send` would take the send queue over its byte limit.
 */
#define SACK_TCP_ERR_QUEUE_FULL -12

/**
 * The operation or option does not apply to this kind of socket
 * (sending on a listener, a backlog for a client, ...).
 */
#define SACK_TCP_ERR_NOT_APPLICABLE -13

/**
 * The peer reset the connection (ECONNRESET, EPIPE).
 */
#define SACK_TCP_ERR_RESET -14

/**
 * The operation was canceled, e.g. a connect attempt by `sack_tcp_close`.
 */
#define SACK_TCP_ERR_CANCELED -15

/**
 * Another input/output error; the message has the OS text.
 */
#define SACK_TCP_ERR_IO -16

/**
 * The runtime could not start, or `sack_tcp_shutdown` is in progress.
 */
#define SACK_TCP_ERR_RUNTIME -17

/**
 * The call would wait for itself: `sack_tcp_shutdown` from inside a callback.
 */
#define SACK_TCP_ERR_WOULD_DEADLOCK -18

/**
 * An internal error (a Rust panic) was caught; please report it.
 */
#define SACK_TCP_ERR_PANIC -19

/**
 * A certificate, key or CA bundle is not well-formed PEM/DER.
 */
#define SACK_TCP_ERR_BAD_PEM -20

/**
 * An encrypted private key could not be decrypted with the passphrase
 * given (or none was given).
 */
#define SACK_TCP_ERR_WRONG_PASSPHRASE -21

/**
 * The private key does not belong to the certificate.
 */
#define SACK_TCP_ERR_KEY_MISMATCH -22

/**
 * The key type or its encryption scheme is not supported.
 */
#define SACK_TCP_ERR_UNSUPPORTED_KEY -23

/**
 * A listener with `proxy_protocol`: a connection did not start with a
 * well-formed PROXY protocol header (version 1 or 2); it was reset and
 * the listener's error callback names the fault.
 */
#define SACK_TCP_ERR_PROXY_HEADER -24

/**
 * Error callback only: the server's certificate chain does not lead to a
 * trusted root (client side).
 */
#define SACK_TCP_TLS_UNKNOWN_ISSUER 1

/**
 * Error callback only: the server's certificate does not cover the name
 * (or IP address) the client connected to.
 */
#define SACK_TCP_TLS_BAD_NAME 2

/**
 * Error callback only: the server's certificate has expired.
 */
#define SACK_TCP_TLS_EXPIRED 3

/**
 * Error callback only: the server's certificate is self-signed and not
 * among the trusted ones.
 */
#define SACK_TCP_TLS_SELF_SIGNED 4

/**
 * Error callback only: another certificate problem (not yet valid,
 * revoked, bad signature, or a client certificate the server rejected).
 */
#define SACK_TCP_TLS_BAD_CERTIFICATE 5

/**
 * Error callback only, the original's error 6: the TLS handshake failed.
 * `data` carries the first bytes received from the peer (up to 4 KiB),
 * e.g. a plain-text request sent to a TLS port.
 */
#define SACK_TCP_TLS_HANDSHAKE_FAILED 6

/**
 * Error callback only, the original's error 7: a client asked (by SNI) for
 * a host name no certificate serves and there is no default certificate.
 * `data` carries the requested name (not NUL-terminated; `len` bytes).
 */
#define SACK_TCP_TLS_HOST_MISMATCH 7

/**
 * Error callback only (not in the original): the peer's certificate is
 * listed as revoked in a CRL given with the `crl` option. A client sees it
 * for the server's certificate; a server (with `client_auth`) for a
 * client's, whose connection closes with this code.
 */
#define SACK_TCP_TLS_REVOKED 8

/**
 * Error callback only (not in the original): one of the host's TLS
 * callbacks turned the peer away. `tls_verify`: the peer's certificate
 * passed verification but the callback rejected it; a client sees it for
 * the server's certificate, a server (with `client_auth`) for a client's,
 * whose connection closes with this code (that client sees
 * `SACK_TCP_TLS_BAD_CERTIFICATE`). `tls_client_hello`: the listener's
 * callback rejected a ClientHello; the server's connection closes with
 * this code (the client sees a handshake failure).
 */
#define SACK_TCP_TLS_REJECTED 9

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Fills `options`, a struct of `struct_size` bytes, with the defaults (see
 * `sack_tcp_options_init_sized`). C and C++ callers use the
 * `sack_tcp_runtime_options_init(&o)` macro.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_runtime_options_init_sized(sack_tcp_runtime_options *options,
                                                    size_t struct_size);

/**
 * Starts the background runtime with `options` (NULL = defaults).
 *
 * Optional: the first `sack_tcp_open` starts the runtime with defaults.
 * Call this first to choose the number of worker threads. Returns
 * `SACK_TCP_ERR_INVALID_ARGUMENT` if the runtime is already running (stop
 * it with `sack_tcp_shutdown` first), `SACK_TCP_ERR_RUNTIME` if threads
 * could not be started.
 */
SACK_TCP_API sack_tcp_result sack_tcp_runtime_start(const sack_tcp_runtime_options *options);

/**
 * Closes every socket, waits for their `close` callbacks, then stops the
 * runtime and joins its threads before returning. Safe to call when
 * nothing is running. Handles you hold stay valid (closed) until you
 * `sack_tcp_free` them. A later `sack_tcp_open` starts a fresh runtime with
 * the same settings as the last one (worker threads, delivery mode, queue
 * limits); call `sack_tcp_runtime_start` first to change them.
 *
 * Must not be called from a callback or a runtime thread:
 * that returns `SACK_TCP_ERR_WOULD_DEADLOCK` and does nothing. Returns
 * `SACK_TCP_ERR_TIMED_OUT` if some socket could not finish closing within
 * 10 seconds (a callback that never returns); the runtime is stopped anyway.
 */
SACK_TCP_API sack_tcp_result sack_tcp_shutdown(void);

/**
 * Waits until at most `target` socket objects are alive (see
 * `sack_tcp_live_handles`), up to `timeout_ms` milliseconds, and returns the
 * count then. The count drops when a socket's task has finished, shortly
 * after its close callback returned; tests use this instead of polling.
 */
SACK_TCP_API size_t sack_tcp_wait_live_handles(size_t target, uint32_t timeout_ms);

/**
 * The library's version as MAJOR * 10000 + MINOR * 100 + PATCH; compare
 * with `SACK_TCP_VERSION_NUMBER` from the header you compiled against.
 */
SACK_TCP_API uint32_t sack_tcp_version(void);

/**
 * The library's version as a static string, e.g. "0.1.0".
 */
SACK_TCP_API const char *sack_tcp_version_string(void);

/**
 * Queued delivery mode: runs up to `max_events` waiting callbacks on the
 * calling thread and writes how many ran to `*dispatched` (may be NULL).
 * Never blocks: 0 means nothing was waiting. Callbacks keep every rule of
 * the threaded mode (order per socket, nothing after close); only one
 * thread dispatches at a time.
 *
 * `SACK_TCP_ERR_NOT_APPLICABLE` in the threaded mode,
 * `SACK_TCP_ERR_WOULD_DEADLOCK` from inside a callback.
 */
SACK_TCP_API sack_tcp_result sack_tcp_dispatch(size_t max_events, size_t *dispatched);

/**
 * Queued delivery mode: writes to `*fd` a descriptor that is readable
 * whenever callbacks wait for `sack_tcp_dispatch`. Add it to your
 * poll/select/epoll set or GUI loop; do not read it or close it. It stays
 * the same for the life of the process. `SACK_TCP_ERR_NOT_APPLICABLE` in
 * the threaded mode.
 *
 * Windows: always `SACK_TCP_ERR_NOT_APPLICABLE` (`*fd` untouched). The
 * library's signal there is a SOCKET, which is pointer-sized and does not
 * fit `int32_t`; call `sack_tcp_dispatch` from a timer or your message
 * loop instead (it returns at once, with 0, when nothing waits).
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_event_fd(int32_t *fd);

/**
 * The number of socket objects alive: open sockets, closed ones not yet
 * freed, and ones still finishing. After `sack_tcp_shutdown` with every
 * handle freed, it is 0, which is what the test suite checks.
 */
SACK_TCP_API size_t sack_tcp_live_handles(void);

/**
 * A static, NUL-terminated description of `code` (never NULL). Unknown
 * codes give "unknown error code".
 */
SACK_TCP_API const char *sack_tcp_strerror(sack_tcp_result code);

/**
 * The name of `code`'s constant, e.g. "SACK_TCP_ERR_REFUSED" (static,
 * never NULL), for logs and test output.
 */
SACK_TCP_API const char *sack_tcp_error_name(sack_tcp_result code);

/**
 * A detailed message about the most recent failure on the calling thread
 * (the address at fault, the OS error text, ...). Never NULL; empty if
 * nothing failed yet. Valid until the next failing sack_tcp call on this
 * thread. Inside a failed connect callback it describes that failure.
 */
SACK_TCP_API const char *sack_tcp_last_error_message(void);

/**
 * Sends `len` bytes from `data` without copying them: the library reads
 * them from your buffer, which must stay valid and unchanged until
 * `on_done` fires, exactly once, for every call that returns
 * `SACK_TCP_OK` (see `sack_tcp_send_done_cb` for when, on which thread,
 * and with which status). Returns at once. Callable from any thread and
 * from inside any callback.
 *
 * Order: the bytes leave in call order with those of `sack_tcp_send` and
 * other borrowed sends (from one thread, as for `sack_tcp_send`).
 * Plain: what the kernel takes at once is written from your buffer by this
 * call (when nothing is queued ahead, as `sack_tcp_send` does); the rest
 * waits in the send queue as a pointer to your buffer and is written from
 * it, so no byte is copied. TLS: the bytes are encrypted by this call, as
 * `sack_tcp_send` does (rustls copies plaintext into records either way;
 * from a message callback they are copied and encrypted with that read's
 * other sends when the callbacks of that read are done), so nothing is
 * saved but the code stays the same; your buffer is free when the call
 * returns, and `on_done` still fires later, from a callback thread.
 *
 * Queue accounting: until they leave, the bytes count in
 * `sack_tcp_get_queued_bytes`, for drain and for `pause_reads_above`, like
 * queued bytes. The library holds no copy of them, so their length is not
 * checked against `send_queue_limit`: a borrowed send larger than the
 * limit is accepted. It is refused with `SACK_TCP_ERR_QUEUE_FULL` (and
 * drain armed) when the bytes already queued reach the limit, and while
 * borrowed bytes keep the queue above it, `sack_tcp_send` is refused too.
 *
 * `len` may be 0 (`data` may then be NULL): `on_done` fires with
 * `SACK_TCP_OK`. `on_done` may be NULL when nothing needs telling (a
 * buffer that outlives the connection, such as static data).
 *
 * Errors, with `on_done` never called and the buffer not used:
 * `SACK_TCP_ERR_NULL_POINTER` if `handle` is NULL, or `data` is NULL and
 * `len` is not 0; `SACK_TCP_ERR_NOT_APPLICABLE` on a listener;
 * `SACK_TCP_ERR_CLOSED` once a close or `sack_tcp_end` has been requested
 * or the connection ended; `SACK_TCP_ERR_QUEUE_FULL` as above. Sending
 * before the client is connected queues the buffer.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_send_borrowed(sack_tcp *handle,
                                       const void *data,
                                       size_t len,
                                       sack_tcp_send_done_cb on_done,
                                       void *done_user_data);

/**
 * Sends the library's log records (and rustls') of `max_level` and more
 * severe to `callback`. NULL (or `SACK_TCP_LOG_OFF`) turns logging off,
 * which is the default: the library prints nothing by itself. Replaces any
 * earlier callback, and returns only once no record is being delivered to
 * it: afterwards the old callback and its `user_data` are never used
 * again. The callback may run on any thread, several at once.
 *
 * Errors: `SACK_TCP_ERR_INVALID_ARGUMENT` for a level outside
 * `SACK_TCP_LOG_OFF`..`SACK_TCP_LOG_TRACE`; `SACK_TCP_ERR_WOULD_DEADLOCK`
 * when called from inside the log callback (it would wait for itself).
 */
SACK_TCP_API
sack_tcp_result sack_tcp_set_log_callback(sack_tcp_log_cb callback,
                                          void *user_data,
                                          int32_t max_level);

/**
 * Sets TCP_NODELAY on a live connection (`no_delay` of the options is
 * where it starts): `true` sends small writes at once, `false` lets Nagle's
 * algorithm gather them. Takes effect for the next write.
 *
 * Callable from any thread and from inside any callback. Errors:
 * `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a listener
 * (set `no_delay` at open for the connections it accepts), on a client
 * not yet connected and on a Unix domain connection (which has no TCP
 * options; this and `sack_tcp_set_keep_alive` and
 * `sack_tcp_set_user_timeout` change nothing there), `SACK_TCP_ERR_CLOSED` once the connection has closed,
 * `SACK_TCP_ERR_IO` if the kernel refuses.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_set_no_delay(sack_tcp *handle,
                                      bool on);

/**
 * Changes TCP keepalive on a live connection. `idle_ms` 0 switches it
 * off; otherwise it is switched on with a first probe after `idle_ms` of
 * silence, then one every `interval_ms`, and the connection is dropped
 * (error callback: `SACK_TCP_ERR_TIMED_OUT`, then `close`) after `count`
 * unanswered probes. `interval_ms` or `count` 0 keeps the connection's
 * current value (the one given at open, else the system's). The kernel
 * counts whole seconds (rounded down, 1 s at least).
 *
 * Threads as `sack_tcp_set_no_delay`. Errors: those of
 * `sack_tcp_set_no_delay`, and `SACK_TCP_ERR_INVALID_ARGUMENT` for
 * `interval_ms` or `count` without `idle_ms`, a time over 32767 s or a
 * count over 127 (nothing is changed then).
 */
SACK_TCP_API
sack_tcp_result sack_tcp_set_keep_alive(sack_tcp *handle,
                                        uint32_t idle_ms,
                                        uint32_t interval_ms,
                                        uint32_t count);

/**
 * Changes TCP_USER_TIMEOUT on a live connection: once sent bytes stay
 * unacknowledged for `timeout_ms` milliseconds the kernel drops the
 * connection, and the error callback gets `SACK_TCP_ERR_TIMED_OUT`, then
 * `close`. 0 goes back to the system's retransmission limits.
 *
 * Threads as `sack_tcp_set_no_delay`. Errors: those of
 * `sack_tcp_set_no_delay`; `SACK_TCP_ERR_NOT_APPLICABLE` for a non-zero
 * timeout where the option does not exist (not Linux or Android).
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_user_timeout(sack_tcp *handle, uint32_t timeout_ms);

/**
 * Writes a connection's socket descriptor to `*fd`, for socket options
 * the library does not wrap (getsockopt of anything; setsockopt of
 * options such as IP_TOS, SO_MARK, SO_PRIORITY, TCP_CONGESTION).
 *
 * The library still owns the descriptor. The host must not close it,
 * read, write, recv or send on it, shut it down, change its O_NONBLOCK
 * flag or hand it to another event loop, and must not keep using the
 * number once the connection closes: the library closes the descriptor
 * before the close callback runs, and the number may then be reused by
 * any other file. It is safe to use inside this connection's own
 * callbacks other than `close` (threaded delivery), or from any thread
 * while the host knows the connection is open (no close or error
 * callback yet).
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * listener, on a client not yet connected, and always on Windows (a
 * SOCKET does not fit `int32_t`); `SACK_TCP_ERR_CLOSED` once the
 * connection has closed. `*fd` is written only on success.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_fd(const sack_tcp *handle, int32_t *fd);

/**
 * Writes a connection's figures to `*stats`, a struct of `struct_size`
 * bytes (pass `sizeof *stats`): bytes received and sent, time connected,
 * and the kernel's round-trip time and retransmissions (TCP_INFO, read at
 * the call while the connection is open).
 *
 * Readable at any time once the connection is established, from any
 * thread and from inside any callback, including the close callback and
 * after it: the library freezes the figures when the connection ends,
 * just before it closes the descriptor, so a close callback reads the
 * final ones (a closed handle is not an error here, as with the address
 * getters).
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` if `handle` or `stats` is NULL,
 * `SACK_TCP_ERR_NOT_APPLICABLE` on a listener and on a client not yet
 * connected, `SACK_TCP_ERR_INVALID_ARGUMENT` if `struct_size` is smaller
 * than the first version of the struct. Nothing is written on failure.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_stats(const sack_tcp *handle,
                                   sack_tcp_stats *stats,
                                   size_t struct_size);

/**
 * Writes to `*out` how many connections this listener accepted that have
 * not closed yet: each counts from its accept until its close callback
 * (the count has dropped by the time that callback runs). Connections
 * refused past `max_connections` never count.
 *
 * Callable from any thread and from inside any callback. Errors:
 * `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * connection, `SACK_TCP_ERR_CLOSED` once the listener has closed. `*out`
 * is written only on success.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_connection_count(const sack_tcp *handle, size_t *out);

/**
 * Changes a running listener's connection cap (`max_connections`; 0 =
 * none). It applies to connections accepted from now on: lowering it
 * below the current count closes nothing, it only refuses new ones until
 * enough have closed.
 *
 * Callable from any thread and from inside any callback. Errors:
 * `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * connection, `SACK_TCP_ERR_CLOSED` once the listener has closed.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_set_max_connections(sack_tcp *handle,
                                             uint32_t max_connections);

/**
 * Opens a listener on `fd`, a listening TCP or Unix domain stream socket
 * bound by someone else:
 * systemd socket activation (LISTEN_FDS, descriptors from 3), inetd, or
 * a parent that bound a privileged port and dropped its rights. `options`
 * is used as by `sack_tcp_open` for a listener, except that `address`,
 * `port` and `to_address` must be unset (the descriptor has its address;
 * `SACK_TCP_ERR_INVALID_ARGUMENT` otherwise); `backlog`, if set, is
 * applied with another listen(). TLS, fallback, STARTTLS,
 * `max_connections` and the connection options work as on any listener.
 *
 * Ownership: on success the socket belongs to the library. It keeps a
 * duplicate of `fd` and closes `fd` itself before returning (the number
 * may be reused at once); it closes its duplicate when the listener
 * closes. On failure `fd` is left open and still the caller's.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` (`options` or `out`),
 * `SACK_TCP_ERR_INVALID_ARGUMENT` if `fd` is negative, not a socket
 * (`SACK_TCP_ERR_IO` if it is not open at all), not an IPv4, IPv6 or
 * Unix stream socket, or not listening (the file of an inherited Unix
 * listener is never removed by the library); the option errors of `sack_tcp_open`;
 * `SACK_TCP_ERR_NOT_APPLICABLE` on Windows. `*out` is written only on
 * success; callbacks as for `sack_tcp_open`.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_open_listener_fd(const sack_tcp_options *options,
                                          int32_t fd,
                                          sack_tcp **out);

/**
 * Adopts `fd`, an already-connected TCP or Unix domain stream socket (one
 * end of a `socketpair`, an inetd-style child's
 * stdin, one passed over a Unix socket, one a host connected itself), as
 * a connection handle. The connect callback fires with `SACK_TCP_OK`,
 * then ready, on a runtime thread, possibly before this returns (use the
 * callback's `socket` argument); then it behaves as a client connection:
 * send, pause, end, close, the figures and the live options all apply.
 *
 * `options` as for `sack_tcp_open`, except that `address`, `port` and
 * `to_address` must be unset (`SACK_TCP_ERR_INVALID_ARGUMENT`) and that
 * `backlog`, `max_connections`, `connect_timeout_ms` and any TLS option
 * (`ssl`, `cert`, `hosts`, `starttls`, ...) give
 * `SACK_TCP_ERR_NOT_APPLICABLE`: an adopted connection is plain.
 * Ownership as for `sack_tcp_open_listener_fd`: on success the library
 * closes `fd` (it works on a duplicate, closed when the connection
 * closes); on failure `fd` stays the caller's.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_INVALID_ARGUMENT`
 * for a negative `fd`, a descriptor that is not a TCP or Unix stream
 * socket, is
 * listening, or is not connected; `SACK_TCP_ERR_IO` for one not open;
 * `SACK_TCP_ERR_NOT_APPLICABLE` as above and on Windows.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_adopt_fd(const sack_tcp_options *options,
                                  int32_t fd,
                                  sack_tcp **out);

/**
 * Writes the peer process's credentials of a Unix domain connection
 * (`address`/`to_address` "unix:..."): its process id to `*pid`, user id
 * to `*uid` and group id to `*gid`, as the kernel recorded them when the
 * peer connected (a client) or listened (the server a client connected
 * to): SO_PEERCRED on Linux, getpeereid elsewhere (where `*pid` is -1).
 * Use it to let only a given user in, as a D-Bus or Docker socket does.
 *
 * The library reads them once, at accept or connect, so they stay
 * readable in the close callback and after close (a closed handle is not
 * an error here, as with the address getters). Callable from any thread
 * and from inside any callback.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` if `handle`, `pid`, `uid` or `gid`
 * is NULL; `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, on a client not
 * yet connected and on a TCP connection (including one adopted with
 * `sack_tcp_adopt_fd` from a TCP descriptor). Nothing is written on
 * failure.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_peer_credentials(const sack_tcp *handle,
                                              int32_t *pid,
                                              uint32_t *uid,
                                              uint32_t *gid);

/**
 * Changes the idle timeout (`idle_timeout_ms` of the options) on a live
 * connection: it closes (error callback `SACK_TCP_ERR_TIMED_OUT`, then a
 * reset and `close`) once nothing arrives from the peer for `timeout_ms`
 * milliseconds, counted from this call and from each read after it
 * (0 = never). The clock still stands still while reads are paused, and
 * a connection already closing keeps its close timeout instead.
 *
 * Threads and errors as `sack_tcp_set_no_delay`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_idle_timeout(sack_tcp *handle, uint32_t timeout_ms);

/**
 * Fills `options`, a struct of `struct_size` bytes, with the defaults and
 * sets its `struct_size`. C and C++ callers use the
 * `sack_tcp_options_init(&o)` macro, which passes `sizeof o`; bindings call
 * this with the size of their struct. A caller built against an older
 * header gets the fields it knows; fields the library does not know are
 * zeroed. Call it before setting any field.
 *
 * Returns `SACK_TCP_ERR_NULL_POINTER` if `options` is NULL,
 * `SACK_TCP_ERR_INVALID_ARGUMENT` if `struct_size` is smaller than the
 * first published layout.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_options_init_sized(sack_tcp_options *options,
                                            size_t struct_size);

/**
 * Opens a socket and writes its handle to `*out`.
 *
 * Without `to_address` this binds and listens before returning: a bad
 * address, a port in use (`SACK_TCP_ERR_ADDRESS_IN_USE`) or a permission
 * problem is returned here. With `to_address` it starts connecting and
 * returns at once; the outcome arrives through the connect callback, which
 * may run (on a runtime thread) before this function returns, so use the
 * callback's `socket` argument rather than the variable `*out` is stored in.
 * Even the close callback may run first: if it frees the handle, the value
 * written to `*out` is already released when this returns.
 *
 * Starts the runtime on first use. On failure `*out` is not written and no
 * callback fires.
 */
SACK_TCP_API sack_tcp_result sack_tcp_open(const sack_tcp_options *options, sack_tcp **out);

/**
 * Copies `len` bytes from `data` and queues them for sending; returns at
 * once. Callable from any thread and from inside any callback. Bytes from
 * one thread go out in the order of its calls. When nothing is queued the
 * bytes are written straight to the kernel by this call, with one
 * exception: while the library is delivering what one read brought in
 * several message callbacks (a TLS read, or a plain read longer than
 * `read_buffer_size`), every send waits and they leave together in one
 * write when those deliveries end; `sack_tcp_get_queued_bytes` counts them
 * meanwhile.
 *
 * Errors: `SACK_TCP_ERR_QUEUE_FULL` if the queued bytes plus `len` would
 * exceed `send_queue_limit` (nothing is queued; the drain callback fires
 * once the queue is low again; a single send larger than the limit always
 * fails and arms no drain), `SACK_TCP_ERR_CLOSED` once a close has been
 * requested or the connection ended, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * listener, `SACK_TCP_ERR_NULL_POINTER` if `data` is NULL and `len` is not
 * 0. Sending before the client is connected queues the bytes.
 */
SACK_TCP_API sack_tcp_result sack_tcp_send(sack_tcp *handle, const void *data, size_t len);

/**
 * Starts a graceful close and returns at once.
 *
 * Connection: no message callback starts after this returns (when called
 * from this socket's own callbacks; from another thread one already being
 * delivered may finish). Every queued byte is sent, then FIN; the socket
 * then waits (up to `close_timeout_ms`) for the peer's FIN and fires
 * `close`. While connecting it cancels the attempt: the connect callback
 * gets `SACK_TCP_ERR_CANCELED`, then `close`.
 * Listener: stops accepting on every address it listens on, then fires
 * `close`; connections it accepted stay open.
 *
 * Calling it again while closing is harmless; after `close` has fired it
 * returns `SACK_TCP_ERR_CLOSED`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_close(sack_tcp *handle);

/**
 * Closes abortively: queued bytes are discarded and the peer gets a reset
 * (RST). On a listener, the same as `sack_tcp_close`. `close` follows.
 */
SACK_TCP_API sack_tcp_result sack_tcp_abort(sack_tcp *handle);

/**
 * Pauses reading a connection (libuv's `uv_read_stop`, Node's `pause`).
 *
 * No message callback starts after this returns; called from one of this
 * connection's callbacks, none starts after that callback returns (a
 * message callback already running on another thread finishes). The
 * library stops reading the socket, so the kernel's receive window fills
 * and TCP slows the peer down. Bytes already read when the pause came (at
 * most one read: 64 KiB, or `read_buffer_size` if larger; for TLS the
 * plaintext of one read) are held and delivered first after
 * `sack_tcp_resume`.
 *
 * While paused the library still reads a TLS handshake to its end (any
 * application data it carries is held), and a close requested meanwhile
 * reads and drops what arrives until the peer's FIN. The peer's FIN and
 * resets are noticed only once reading resumes. The idle timeout stands
 * still while paused. Pausing twice is the same as once; it may be called
 * before a client connects.
 *
 * Callable from any thread and from inside any callback. Errors:
 * `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * listener, `SACK_TCP_ERR_CLOSED` once the connection has closed.
 */
SACK_TCP_API sack_tcp_result sack_tcp_pause(sack_tcp *handle);

/**
 * Undoes `sack_tcp_pause` (libuv's `uv_read_start`, Node's `resume`):
 * held bytes are delivered first, then reading goes on. Reads that
 * `pause_reads_above` or the queued mode's limits paused stay paused
 * until their queue drains. Resuming a connection that is not paused does
 * nothing. Threads and errors as `sack_tcp_pause`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_resume(sack_tcp *handle);

/**
 * Half-closes a connection (libuv's `uv_shutdown`, Node's `end`): every
 * byte queued before this call is sent, then TLS's close_notify (on a TLS
 * connection) and a TCP FIN. Reading goes on: message callbacks keep
 * coming until the peer ends too (its end callback fires), and then the
 * connection closes (`close`). A later `sack_tcp_close` still applies its
 * timeout; `sack_tcp_abort` still resets.
 *
 * On a TLS connection still in its handshake, the end waits for the
 * handshake. Calling it twice is harmless. Callable from any thread and
 * from inside any callback. Errors: `SACK_TCP_ERR_NULL_POINTER`,
 * `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, `SACK_TCP_ERR_CLOSED` once
 * a close was requested or the connection ended; after it, `sack_tcp_send`
 * returns `SACK_TCP_ERR_CLOSED`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_end(sack_tcp *handle);

/**
 * Adds a reference to `handle`, to be released by another `sack_tcp_free`.
 * Use it to keep a handle you pass to another thread.
 */
SACK_TCP_API sack_tcp_result sack_tcp_retain(sack_tcp *handle);

/**
 * Releases one reference. NULL is ignored. When the last reference goes
 * and the socket is still open, it is closed gracefully (its callbacks,
 * `close` included, still fire, so keep `user_data` valid until then).
 * Do not use the handle after releasing your last reference, except as
 * the argument a callback receives.
 */
SACK_TCP_API void sack_tcp_free(sack_tcp *handle);

/**
 * Sets the connect callback (see `sack_tcp_connect_cb`). On a listener it
 * applies to connections accepted from now on.
 *
 * Every `sack_tcp_on_*` setter takes effect from the next event, removes
 * the callback when given NULL, and returns `SACK_TCP_ERR_CLOSED` after
 * `close` has fired. Replace an accepted connection's callbacks inside its
 * connect callback to be sure no other event came before.
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_connect(sack_tcp *handle, sack_tcp_connect_cb callback);

/**
 * Sets the ready callback (see `sack_tcp_ready_cb`).
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_ready(sack_tcp *handle, sack_tcp_ready_cb callback);

/**
 * Sets the message callback (see `sack_tcp_message_cb`). On a listener it
 * is the default for connections accepted from now on.
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_message(sack_tcp *handle, sack_tcp_message_cb callback);

/**
 * Sets the close callback (see `sack_tcp_close_cb`).
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_close(sack_tcp *handle, sack_tcp_close_cb callback);

/**
 * Sets the error callback (see `sack_tcp_error_cb`).
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_error(sack_tcp *handle, sack_tcp_error_cb callback);

/**
 * Sets the drain callback (see `sack_tcp_drain_cb`).
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_drain(sack_tcp *handle, sack_tcp_drain_cb callback);

/**
 * Sets the end callback (see `sack_tcp_end_cb`).
 */
SACK_TCP_API sack_tcp_result sack_tcp_on_end(sack_tcp *handle, sack_tcp_end_cb callback);

/**
 * Replaces the `user_data` passed to this socket's callbacks, from the
 * next event on. Returns `SACK_TCP_ERR_CLOSED` after `close` has fired.
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_user_data(sack_tcp *handle, void *user_data);

/**
 * Writes the socket's current `user_data` to `*out`. Works on closed
 * handles too.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_user_data(const sack_tcp *handle, void **out);

/**
 * Switches text mode (`readStrings`) on or off from the next read. On a
 * listener it sets the mode connections accepted from now on start with.
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_read_strings(sack_tcp *handle, bool on);

/**
 * Writes whether text mode is on to `*out`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_read_strings(const sack_tcp *handle, bool *out);

/**
 * Writes the number of bytes accepted by `sack_tcp_send` and not yet
 * handed to the kernel to `*out`. `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_queued_bytes(const sack_tcp *handle, size_t *out);

/**
 * Writes whether the socket is a listener to `*out`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_is_listener(const sack_tcp *handle, bool *out);

/**
 * Writes the local IP address (e.g. "127.0.0.1" or "::1") into `buf`, a
 * buffer of `buf_len` bytes (`SACK_TCP_ADDRESS_MAX` always suffices). For a
 * listener, its first bound address. A Unix domain socket writes its
 * whole address string, "unix:/path" or "unix:@name", and "unix:" alone
 * for an end bound to no name (a client's own end unless it set
 * `address`); its port getters write 0. `SACK_TCP_ERR_INVALID_ARGUMENT`
 * if `buf_len` cannot hold the address and its NUL (nothing written).
 * `SACK_TCP_ERR_CLOSED` before a client connects and after `close`.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_local_address(const sack_tcp *handle,
                                           char *buf,
                                           size_t buf_len);

/**
 * Writes the local port to `*out`. For a listener opened on port 0, the
 * port the OS picked.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_local_port(const sack_tcp *handle, uint16_t *out);

/**
 * Writes the peer's IP address into `buf` (see
 * `sack_tcp_get_local_address`). `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_remote_address(const sack_tcp *handle,
                                            char *buf,
                                            size_t buf_len);

/**
 * Writes the peer's port to `*out`. `SACK_TCP_ERR_NOT_APPLICABLE` on a listener.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_remote_port(const sack_tcp *handle, uint16_t *out);

/**
 * A listener's bound ports, one per listening socket (the original's
 * `ports`, for this socket only). Writes up to `capacity` ports to `ports`
 * and the total number to `*count`. With `ports` NULL (and `capacity` 0)
 * only `*count` is written. `SACK_TCP_ERR_INVALID_ARGUMENT` if `capacity`
 * is too small (nothing written); `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * connection.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_ports(const sack_tcp *handle,
                                   uint16_t *ports,
                                   size_t capacity,
                                   size_t *count);

/**
 * `addCert`: a running TLS server serves `cert` (PEM chain) with `key`
 * (PEM, decrypted with `passphrase` if encrypted; may be NULL) to clients
 * asking for any of `hosts` ('~'-separated names, wildcards allowed), from
 * the next handshake on. Later certificates win for the same name.
 *
 * Errors: `SACK_TCP_ERR_NOT_APPLICABLE` on a plain server or on a
 * connection, `SACK_TCP_ERR_BAD_PEM`, `SACK_TCP_ERR_WRONG_PASSPHRASE`,
 * `SACK_TCP_ERR_KEY_MISMATCH`, `SACK_TCP_ERR_INVALID_ARGUMENT` for a bad
 * host list. Strings are copied; the passphrase is not kept.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_add_cert(sack_tcp *handle,
                                  const char *hosts,
                                  const char *cert,
                                  const char *key,
                                  const char *passphrase);

/**
 * The `ssl` setter. `true` on a plain connection starts a TLS handshake
 * over it (STARTTLS): a client offers TLS to the server; an accepted
 * connection (of a server opened with certificates and `starttls`) waits
 * for the client's hello. Bytes queued before the call go out plain first;
 * bytes sent after it are encrypted once the handshake is done, and the
 * ready callback fires again then. Call it from this socket's own callback
 * (e.g. on the message that agreed to upgrade) so no plain byte is read
 * after the switch. `true` on a TLS connection does nothing.
 *
 * `false` does nothing on a plain connection. On a TLS connection it is
 * the original's demotion after error 6: called from inside the error
 * callback of a handshake that failed with `SACK_TCP_TLS_HANDSHAKE_FAILED`
 * on what the peer sent (a plain client on a TLS port, say), on that
 * connection, it returns `SACK_TCP_OK` and, once the callback returns, the
 * connection goes on as plain TCP: no TLS alert is sent, ready fires, then
 * the bytes that failed negotiation (the callback's data, plus the rest of
 * that read) arrive as the first message. Anywhere else on a TLS
 * connection (outside that callback, for another error, on a connection
 * that never failed, or in the queued delivery mode, where the error
 * callback runs after the connection closed) it returns
 * `SACK_TCP_ERR_NOT_APPLICABLE`: TLS cannot be switched off.
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_ssl(sack_tcp *handle, bool on);

/**
 * The `ssl` getter: writes to `*out` whether the connection is secure (TLS
 * with its handshake done).
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_ssl(const sack_tcp *handle, bool *out);

/**
 * The `allowSSLfallback` setter on a TLS listener, for connections
 * accepted from now on. `SACK_TCP_ERR_NOT_APPLICABLE` elsewhere.
 */
SACK_TCP_API sack_tcp_result sack_tcp_set_allow_ssl_fallback(sack_tcp *handle, bool on);

/**
 * Writes the ALPN protocol the TLS handshake settled on into `buf` as a C
 * string (empty if none was negotiated or the connection is plain).
 * `SACK_TCP_ERR_INVALID_ARGUMENT` if `buf_len` cannot hold it and its NUL.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_alpn(const sack_tcp *handle, char *buf, size_t buf_len);

/**
 * Fills `*out` (a struct of `out_size` bytes: pass `sizeof *out`) with what
 * the TLS handshake of this connection settled on: protocol version,
 * cipher suite and key-exchange group (numbers and names), whether the
 * session was resumed, the SNI name a client asked this server for, and
 * the peer's certificate count, leaf validity, SHA-256 fingerprint and
 * subjectAltName count. Call it from any thread once the ready callback
 * has fired (inside it too) until the close callback; the struct is a copy.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `out` NULL),
 * `SACK_TCP_ERR_INVALID_ARGUMENT` (`out_size` smaller than the first
 * layout), `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, a plain connection
 * or before the handshake is done, `SACK_TCP_ERR_CLOSED` once closed.
 * Nothing is written on failure.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_tls_info(const sack_tcp *handle,
                                      sack_tcp_tls_info *out,
                                      size_t out_size);

/**
 * Copies certificate `index` of the peer's chain (0 = its own, the leaf;
 * then the chain as it sent it) as DER into `buf`, a buffer of `buf_len`
 * bytes, and writes its length to `*out_len`. With `buf` NULL and
 * `buf_len` 0 only `*out_len` is written, to size a buffer. When it may be
 * called: as `sack_tcp_get_tls_info`.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `out_len` NULL, or `buf`
 * NULL with `buf_len` > 0), `SACK_TCP_ERR_INVALID_ARGUMENT` if `index` is
 * not below `peer_certificate_count` or `buf_len` is too small (nothing
 * written), `SACK_TCP_ERR_NOT_APPLICABLE` and `SACK_TCP_ERR_CLOSED` as for
 * `sack_tcp_get_tls_info`.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_peer_certificate(const sack_tcp *handle,
                                              size_t index,
                                              uint8_t *buf,
                                              size_t buf_len,
                                              size_t *out_len);

/**
 * Writes the subject of the peer's leaf certificate as an RFC 4514 string
 * (e.g. "CN=client.example.com,O=Example", what `openssl x509 -subject
 * -nameopt RFC2253` prints) with a NUL into `buf`, and its length without
 * the NUL to `*out_len`. With `buf` NULL and `buf_len` 0 only `*out_len`
 * is written (allocate `*out_len + 1`). When it may be called: as
 * `sack_tcp_get_tls_info`.
 *
 * Errors: as `sack_tcp_get_peer_certificate`; also
 * `SACK_TCP_ERR_NOT_APPLICABLE` if the peer sent no certificate and
 * `SACK_TCP_ERR_BAD_PEM` if its certificate does not parse (possible only
 * with `insecure_skip_verify`).
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_peer_subject(const sack_tcp *handle,
                                          char *buf,
                                          size_t buf_len,
                                          size_t *out_len);

/**
 * Writes entry `index` (below `peer_san_count`) of the peer's leaf
 * certificate's subjectAltName, as OpenSSL prints it ("DNS:localhost",
 * "IP:127.0.0.1", "IP:::1", "email:a@example.com", "URI:spiffe://x"),
 * with a NUL into `buf`, and its length without the NUL to `*out_len`.
 * Sizing, when it may be called and errors: as
 * `sack_tcp_get_peer_subject`; `SACK_TCP_ERR_INVALID_ARGUMENT` for an
 * `index` out of range.
 */
SACK_TCP_API
sack_tcp_result sack_tcp_get_peer_san(const sack_tcp *handle,
                                      size_t index,
                                      char *buf,
                                      size_t buf_len,
                                      size_t *out_len);

/**
 * DEBUGGING ONLY: sends the TLS secrets of every connection (client and
 * server, handshakes that start from now on) to `callback`, as NSS key-log
 * lines, what SSLKEYLOGFILE gives with OpenSSL and NSS. Whoever reads
 * them can decrypt the traffic: they are as secret as your private keys.
 * Off by default; NULL turns it off again.
 *
 * Process-wide. The callback runs on runtime threads while handshakes
 * progress, possibly several at once, and must not block for long.
 * Replaces any earlier callback and returns only once no line is being
 * delivered to it: afterwards the old callback and its `user_data` are
 * never used again.
 *
 * Errors: `SACK_TCP_ERR_WOULD_DEADLOCK` when called from inside the key
 * log callback (it would wait for itself).
 */
SACK_TCP_API
sack_tcp_result sack_tcp_set_key_log_callback(sack_tcp_key_log_cb callback,
                                              void *user_data);

/**
 * Replaces a running TLS listener's whole TLS configuration, in one step,
 * for every handshake accepted from now on: the default certificate and
 * its names (`cert`, `key`, `passphrase`, `host`), the SNI map (`hosts`),
 * client verification (`ca`, `client_auth`), `alpn`, `allow_ssl_fallback`,
 * `starttls`, `handshake_timeout_ms` and the `tls_*` policy fields of
 * `options` (filled by `sack_tcp_options_init`; its other fields are
 * ignored, and certificates added by `sack_tcp_add_cert` before are
 * dropped with the old configuration). Each connection uses the
 * configuration current when it was accepted, whole, for its life:
 * connections in progress keep theirs, none sees a mix. Strings are copied
 * before the call returns. Callable from any thread and from callbacks.
 *
 * Errors (the running configuration is then unchanged):
 * `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * connection or a listener opened without TLS, `SACK_TCP_ERR_CLOSED`,
 * `SACK_TCP_ERR_INVALID_ARGUMENT` when `options` gives no certificate or
 * a bad field, `SACK_TCP_ERR_BAD_PEM`, `SACK_TCP_ERR_WRONG_PASSPHRASE`,
 * `SACK_TCP_ERR_KEY_MISMATCH`, `SACK_TCP_ERR_UNSUPPORTED_KEY` as at open.
 */
SACK_TCP_API sack_tcp_result sack_tcp_reload_tls(sack_tcp *handle, const sack_tcp_options *options);

/**
 * Stops serving the SNI names `hosts` ('~'-separated, exactly as they
 * were added: names or wildcard patterns) on a running TLS listener, from
 * the next handshake on; clients asking for them then get the default
 * certificate, or error 7 without one. Writes how many of the names were
 * served to `*removed` (may be NULL). Connections in progress are not
 * touched.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `hosts`),
 * `SACK_TCP_ERR_NOT_APPLICABLE` on a connection or a plain listener,
 * `SACK_TCP_ERR_CLOSED`, `SACK_TCP_ERR_INVALID_ARGUMENT` for a bad host
 * list (nothing removed).
 */
SACK_TCP_API
sack_tcp_result sack_tcp_remove_cert(sack_tcp *handle,
                                     const char *hosts,
                                     size_t *removed);

/**
 * Writes to `*not_after` when the first of the certificates a running TLS
 * listener serves (its default and its SNI certificates, as now
 * configured) expires, in seconds since 1970 UTC, so a host can alert
 * before an outage; see also `tls_expiry_warning_days`.
 *
 * Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
 * connection (see `peer_not_after` in `sack_tcp_tls_info` for the peer's),
 * a plain listener or one serving no certificate, `SACK_TCP_ERR_CLOSED`.
 */
SACK_TCP_API sack_tcp_result sack_tcp_get_cert_expiry(const sack_tcp *handle, int64_t *not_after);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SACK_TCP_H */
