//! Frozen copies of each published layout of the versioned structs, and
//! tests that a caller compiled against one of them still works: its
//! fields land where it put them, and its tail padding (which may hold
//! anything) is never read as a newer field.
#![cfg(test)]

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use super::guard::read_versioned;
use super::types::*;

/// `sack_tcp_options` as version 1 (0.1) published it.
#[repr(C)]
#[allow(dead_code)] // only its layout matters
struct OptionsV1 {
    struct_size: usize,
    port: i32,
    address: *const c_char,
    family: i32,
    to_address: *const c_char,
    to_port: i32,
    read_strings: bool,
    reuse_address: bool,
    reuse_port: bool,
    no_delay: bool,
    keep_alive_ms: u32,
    connect_timeout_ms: u32,
    read_buffer_size: usize,
    send_queue_limit: usize,
    send_queue_low_mark: usize,
    backlog: i32,
    close_timeout_ms: u32,
    on_connect: sack_tcp_connect_cb,
    on_ready: sack_tcp_ready_cb,
    on_message: sack_tcp_message_cb,
    on_close: sack_tcp_close_cb,
    on_error: sack_tcp_error_cb,
    on_drain: sack_tcp_drain_cb,
    user_data: *mut c_void,
    ssl: bool,
    cert: *const c_char,
    key: *const c_char,
    passphrase: *const c_char,
    host: *const c_char,
    ca: *const c_char,
    hosts: *const sack_tcp_tls_host,
    hosts_count: usize,
    allow_ssl_fallback: bool,
    starttls: bool,
    tls_insecure_skip_verify: bool,
    client_auth: i32,
    alpn: *const c_char,
    handshake_timeout_ms: u32,
}

/// `sack_tcp_runtime_options` as version 1 published it.
#[repr(C)]
struct RuntimeOptionsV1 {
    struct_size: usize,
    worker_threads: u32,
}

#[test]
fn version_1_options_fields_stay_where_they_were() {
    let offsets = [
        (
            offset_of!(OptionsV1, struct_size),
            offset_of!(sack_tcp_options, struct_size),
            "struct_size",
        ),
        (
            offset_of!(OptionsV1, port),
            offset_of!(sack_tcp_options, port),
            "port",
        ),
        (
            offset_of!(OptionsV1, address),
            offset_of!(sack_tcp_options, address),
            "address",
        ),
        (
            offset_of!(OptionsV1, family),
            offset_of!(sack_tcp_options, family),
            "family",
        ),
        (
            offset_of!(OptionsV1, to_address),
            offset_of!(sack_tcp_options, to_address),
            "to_address",
        ),
        (
            offset_of!(OptionsV1, to_port),
            offset_of!(sack_tcp_options, to_port),
            "to_port",
        ),
        (
            offset_of!(OptionsV1, read_strings),
            offset_of!(sack_tcp_options, read_strings),
            "read_strings",
        ),
        (
            offset_of!(OptionsV1, reuse_address),
            offset_of!(sack_tcp_options, reuse_address),
            "reuse_address",
        ),
        (
            offset_of!(OptionsV1, reuse_port),
            offset_of!(sack_tcp_options, reuse_port),
            "reuse_port",
        ),
        (
            offset_of!(OptionsV1, no_delay),
            offset_of!(sack_tcp_options, no_delay),
            "no_delay",
        ),
        (
            offset_of!(OptionsV1, keep_alive_ms),
            offset_of!(sack_tcp_options, keep_alive_ms),
            "keep_alive_ms",
        ),
        (
            offset_of!(OptionsV1, connect_timeout_ms),
            offset_of!(sack_tcp_options, connect_timeout_ms),
            "connect_timeout_ms",
        ),
        (
            offset_of!(OptionsV1, read_buffer_size),
            offset_of!(sack_tcp_options, read_buffer_size),
            "read_buffer_size",
        ),
        (
            offset_of!(OptionsV1, send_queue_limit),
            offset_of!(sack_tcp_options, send_queue_limit),
            "send_queue_limit",
        ),
        (
            offset_of!(OptionsV1, send_queue_low_mark),
            offset_of!(sack_tcp_options, send_queue_low_mark),
            "send_queue_low_mark",
        ),
        (
            offset_of!(OptionsV1, backlog),
            offset_of!(sack_tcp_options, backlog),
            "backlog",
        ),
        (
            offset_of!(OptionsV1, close_timeout_ms),
            offset_of!(sack_tcp_options, close_timeout_ms),
            "close_timeout_ms",
        ),
        (
            offset_of!(OptionsV1, on_connect),
            offset_of!(sack_tcp_options, on_connect),
            "on_connect",
        ),
        (
            offset_of!(OptionsV1, on_ready),
            offset_of!(sack_tcp_options, on_ready),
            "on_ready",
        ),
        (
            offset_of!(OptionsV1, on_message),
            offset_of!(sack_tcp_options, on_message),
            "on_message",
        ),
        (
            offset_of!(OptionsV1, on_close),
            offset_of!(sack_tcp_options, on_close),
            "on_close",
        ),
        (
            offset_of!(OptionsV1, on_error),
            offset_of!(sack_tcp_options, on_error),
            "on_error",
        ),
        (
            offset_of!(OptionsV1, on_drain),
            offset_of!(sack_tcp_options, on_drain),
            "on_drain",
        ),
        (
            offset_of!(OptionsV1, user_data),
            offset_of!(sack_tcp_options, user_data),
            "user_data",
        ),
        (
            offset_of!(OptionsV1, ssl),
            offset_of!(sack_tcp_options, ssl),
            "ssl",
        ),
        (
            offset_of!(OptionsV1, cert),
            offset_of!(sack_tcp_options, cert),
            "cert",
        ),
        (
            offset_of!(OptionsV1, key),
            offset_of!(sack_tcp_options, key),
            "key",
        ),
        (
            offset_of!(OptionsV1, passphrase),
            offset_of!(sack_tcp_options, passphrase),
            "passphrase",
        ),
        (
            offset_of!(OptionsV1, host),
            offset_of!(sack_tcp_options, host),
            "host",
        ),
        (
            offset_of!(OptionsV1, ca),
            offset_of!(sack_tcp_options, ca),
            "ca",
        ),
        (
            offset_of!(OptionsV1, hosts),
            offset_of!(sack_tcp_options, hosts),
            "hosts",
        ),
        (
            offset_of!(OptionsV1, hosts_count),
            offset_of!(sack_tcp_options, hosts_count),
            "hosts_count",
        ),
        (
            offset_of!(OptionsV1, allow_ssl_fallback),
            offset_of!(sack_tcp_options, allow_ssl_fallback),
            "allow_ssl_fallback",
        ),
        (
            offset_of!(OptionsV1, starttls),
            offset_of!(sack_tcp_options, starttls),
            "starttls",
        ),
        (
            offset_of!(OptionsV1, tls_insecure_skip_verify),
            offset_of!(sack_tcp_options, tls_insecure_skip_verify),
            "tls_insecure_skip_verify",
        ),
        (
            offset_of!(OptionsV1, client_auth),
            offset_of!(sack_tcp_options, client_auth),
            "client_auth",
        ),
        (
            offset_of!(OptionsV1, alpn),
            offset_of!(sack_tcp_options, alpn),
            "alpn",
        ),
        (
            offset_of!(OptionsV1, handshake_timeout_ms),
            offset_of!(sack_tcp_options, handshake_timeout_ms),
            "handshake_timeout_ms",
        ),
    ];
    for (old, new, name) in offsets {
        assert_eq!(old, new, "{name} moved");
    }
    assert_eq!(
        super::options::MIN_OPTIONS_SIZE,
        offset_of!(OptionsV1, handshake_timeout_ms) + 4
    );
    assert_eq!(super::options::V1_OPTIONS_SIZEOF, size_of::<OptionsV1>());
}

/// A version-1 caller's struct with garbage in its tail padding (as a
/// caller that built it by hand, or copied it, may have): the newer
/// fields keep their defaults.
#[test]
fn version_1_options_padding_is_never_read() {
    let mut bytes = vec![0xA5u8; size_of::<OptionsV1>()];
    let defaults = super::options::defaults();
    // SAFETY: copies the defaults' version-1 prefix, a plain repr(C) struct.
    let prefix = unsafe {
        std::slice::from_raw_parts(
            (&defaults as *const sack_tcp_options).cast::<u8>(),
            super::options::MIN_OPTIONS_SIZE,
        )
    };
    bytes[..prefix.len()].copy_from_slice(prefix);
    bytes[..size_of::<usize>()].copy_from_slice(&size_of::<OptionsV1>().to_ne_bytes());
    // SAFETY: `bytes` holds `struct_size` readable bytes, a usize first.
    let read = unsafe {
        read_versioned(
            bytes.as_ptr().cast::<sack_tcp_options>(),
            super::options::MIN_OPTIONS_SIZE,
            super::options::defaults(),
            "options",
        )
    }
    .unwrap();
    assert_eq!(read.idle_timeout_ms, 0);
    assert_eq!(read.pause_reads_above, 0);
    assert!(!read.allow_half_open);
    assert!(read.on_end.is_none());
    assert_eq!(read.read_buffer_size, defaults.read_buffer_size);
}

#[test]
fn version_1_runtime_options_are_accepted_and_their_padding_ignored() {
    assert_eq!(
        super::MIN_RUNTIME_OPTIONS_SIZE,
        offset_of!(RuntimeOptionsV1, worker_threads) + 4
    );
    assert_eq!(
        super::V1_RUNTIME_OPTIONS_SIZEOF,
        size_of::<RuntimeOptionsV1>()
    );
    let mut bytes = vec![0xFFu8; size_of::<RuntimeOptionsV1>()];
    bytes[..size_of::<usize>()].copy_from_slice(&size_of::<RuntimeOptionsV1>().to_ne_bytes());
    bytes[offset_of!(RuntimeOptionsV1, worker_threads)..][..4].copy_from_slice(&3u32.to_ne_bytes());
    // SAFETY: as above.
    let read = unsafe {
        read_versioned(
            bytes.as_ptr().cast::<sack_tcp_runtime_options>(),
            super::MIN_RUNTIME_OPTIONS_SIZE,
            super::runtime_defaults(),
            "runtime options",
        )
    }
    .unwrap();
    assert_eq!(read.worker_threads, 3);
    assert_eq!(read.delivery_mode, SACK_TCP_DELIVERY_THREADS);
    assert_eq!(
        read.queued_bytes_limit,
        super::runtime_defaults().queued_bytes_limit
    );
}

#[test]
fn a_struct_smaller_than_version_1_is_refused() {
    let mut bytes = vec![0u8; size_of::<RuntimeOptionsV1>()];
    let short = super::MIN_RUNTIME_OPTIONS_SIZE - 1;
    bytes[..size_of::<usize>()].copy_from_slice(&short.to_ne_bytes());
    // SAFETY: as above.
    let read = unsafe {
        read_versioned(
            bytes.as_ptr().cast::<sack_tcp_runtime_options>(),
            super::MIN_RUNTIME_OPTIONS_SIZE,
            super::runtime_defaults(),
            "runtime options",
        )
    };
    assert!(read.is_err());
}
