//! `sack_tcp_options` ⇄ [`Options`]: defaults, range checks and the copy of
//! the C strings.

use std::ffi::c_char;
use std::ptr;
use std::time::Duration;

use super::guard::opt_str;
use super::types::*;
use crate::address::Family;
use crate::error::{Error, Result};
use crate::options::{self, ClientAuth, HostCert, Options, TlsOptions};

pub fn defaults() -> sack_tcp_options {
    let d = Options::default();
    sack_tcp_options {
        struct_size: std::mem::size_of::<sack_tcp_options>(),
        port: 0,
        address: ptr::null(),
        family: SACK_TCP_FAMILY_ANY,
        to_address: ptr::null(),
        to_port: 0,
        read_strings: d.read_strings,
        reuse_address: d.reuse_address,
        reuse_port: d.reuse_port,
        no_delay: d.no_delay,
        keep_alive_ms: 0,
        connect_timeout_ms: 0,
        read_buffer_size: d.read_buffer_size,
        send_queue_limit: d.send_queue_limit,
        send_queue_low_mark: d.send_queue_low_mark,
        backlog: 0,
        close_timeout_ms: 0,
        on_connect: None,
        on_ready: None,
        on_message: None,
        on_close: None,
        on_error: None,
        on_drain: None,
        user_data: ptr::null_mut(),
        ssl: false,
        cert: ptr::null(),
        key: ptr::null(),
        passphrase: ptr::null(),
        host: ptr::null(),
        ca: ptr::null(),
        hosts: ptr::null(),
        hosts_count: 0,
        allow_ssl_fallback: false,
        starttls: false,
        tls_insecure_skip_verify: false,
        client_auth: SACK_TCP_CLIENT_AUTH_NONE,
        alpn: ptr::null(),
        handshake_timeout_ms: 0,
        pause_reads_above: d.pause_reads_above,
        on_end: None,
        idle_timeout_ms: 0,
        allow_half_open: d.allow_half_open,
        keep_alive_interval_ms: 0,
        keep_alive_count: 0,
        user_timeout_ms: 0,
        max_connections: 0,
        proxy_protocol: false,
        tls_min_version: 0,
        tls_max_version: 0,
        tls_groups: ptr::null(),
        tls_cipher_suites: ptr::null(),
        tls_no_resumption: false,
        tls_expiry_warning_days: 0,
        crl: ptr::null(),
        happy_eyeballs_delay_ms: 0,
        tls_verify: None,
        tls_verify_user_data: ptr::null_mut(),
        tls_client_hello: None,
        tls_client_hello_user_data: ptr::null_mut(),
        unix_mode: 0,
    }
}

/// The smallest `struct_size` accepted: the first published layout, which
/// ended with `handshake_timeout_ms`.
pub const MIN_OPTIONS_SIZE: usize =
    std::mem::offset_of!(sack_tcp_options, handshake_timeout_ms) + std::mem::size_of::<u32>();

/// `sizeof` of that first layout, tail padding included: what its callers
/// pass as `struct_size`.
pub const V1_OPTIONS_SIZEOF: usize =
    MIN_OPTIONS_SIZE.next_multiple_of(std::mem::align_of::<sack_tcp_options>());

// Version 2 starts past version 1's tail padding, so an old caller's
// padding is never read as a new field.
const _: () =
    assert!(std::mem::offset_of!(sack_tcp_options, pause_reads_above) >= V1_OPTIONS_SIZEOF);

fn port(value: i32, name: &str) -> Result<u16> {
    u16::try_from(value)
        .map_err(|_| Error::invalid(format!("`{name}` is {value}; a port is 0..65535")))
}

fn family(value: i32) -> Result<Family> {
    match value {
        SACK_TCP_FAMILY_ANY => Ok(Family::Any),
        SACK_TCP_FAMILY_IPV4 => Ok(Family::V4),
        SACK_TCP_FAMILY_IPV6 => Ok(Family::V6),
        other => Err(Error::invalid(format!(
            "`family` is {other}; use SACK_TCP_FAMILY_ANY (0), _IPV4 (4) or _IPV6 (6)"
        ))),
    }
}

fn millis(value: u32) -> Option<Duration> {
    (value > 0).then(|| Duration::from_millis(u64::from(value)))
}

fn client_auth(value: i32) -> Result<ClientAuth> {
    match value {
        SACK_TCP_CLIENT_AUTH_NONE => Ok(ClientAuth::None),
        SACK_TCP_CLIENT_AUTH_REQUEST => Ok(ClientAuth::Request),
        SACK_TCP_CLIENT_AUTH_REQUIRE => Ok(ClientAuth::Require),
        other => Err(Error::invalid(format!(
            "`client_auth` is {other}; use SACK_TCP_CLIENT_AUTH_NONE (0), _REQUEST (1) or _REQUIRE (2)"
        ))),
    }
}

fn tls_version(value: u16, name: &str) -> Result<Option<u16>> {
    match value {
        0 => Ok(None),
        SACK_TCP_PROTOCOL_TLS_1_2 | SACK_TCP_PROTOCOL_TLS_1_3 => Ok(Some(value)),
        other => Err(Error::invalid(format!(
            "`{name}` is 0x{other:04x}; use SACK_TCP_PROTOCOL_TLS_1_2 (0x0303) or SACK_TCP_PROTOCOL_TLS_1_3 (0x0304)"
        ))),
    }
}

/// "h2,http/1.1" as ALPN protocol names.
pub fn parse_alpn(list: &str) -> Result<Vec<Vec<u8>>> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.len() > 255 {
                Err(Error::invalid(format!(
                    "ALPN protocol \"{p}\" is longer than 255 bytes"
                )))
            } else {
                Ok(p.as_bytes().to_vec())
            }
        })
        .collect()
}

/// The strings of `sack_tcp_options`, copied out of C memory.
#[derive(Default)]
pub struct CStrings {
    pub address: Option<String>,
    pub to_address: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub passphrase: Option<String>,
    pub host: Option<String>,
    pub ca: Option<String>,
    pub alpn: Option<String>,
    pub hosts: Vec<HostCert>,
    pub tls_groups: Option<String>,
    pub tls_cipher_suites: Option<String>,
    pub crl: Option<String>,
}

/// Converts everything but the strings, which the caller has already copied.
pub fn convert(o: &sack_tcp_options, strings: CStrings) -> Result<Options> {
    let CStrings {
        address,
        to_address,
        cert,
        key,
        passphrase,
        host,
        ca,
        alpn,
        hosts,
        tls_groups,
        tls_cipher_suites,
        crl,
    } = strings;
    let tls = TlsOptions {
        ssl: o.ssl,
        cert,
        key,
        passphrase,
        host,
        ca,
        hosts,
        allow_fallback: o.allow_ssl_fallback,
        starttls: o.starttls,
        insecure_skip_verify: o.tls_insecure_skip_verify,
        client_auth: client_auth(o.client_auth)?,
        alpn: alpn
            .as_deref()
            .map(parse_alpn)
            .transpose()?
            .unwrap_or_default(),
        handshake_timeout: millis(o.handshake_timeout_ms)
            .unwrap_or(options::DEFAULT_HANDSHAKE_TIMEOUT),
        min_version: tls_version(o.tls_min_version, "tls_min_version")?,
        max_version: tls_version(o.tls_max_version, "tls_max_version")?,
        groups: tls_groups,
        cipher_suites: tls_cipher_suites,
        no_resumption: o.tls_no_resumption,
        crl,
        expiry_warning_days: match o.tls_expiry_warning_days {
            0 => crate::tls::expiry::DEFAULT_WARNING_DAYS,
            days => days,
        },
        peer_check: super::verify::peer_check(o.tls_verify, o.tls_verify_user_data),
        hello_hook: super::verify::hello_hook(o.tls_client_hello, o.tls_client_hello_user_data),
    };
    let backlog = match o.backlog {
        0 => None,
        n => Some(u32::try_from(n).map_err(|_| {
            Error::invalid(format!(
                "`backlog` is {n}; it must be positive (0 = default)"
            ))
        })?),
    };
    let to_port = match port(o.to_port, "to_port")? {
        0 => None,
        p => Some(p),
    };
    let or_default = |value: usize, default: usize| if value == 0 { default } else { value };
    Ok(Options {
        port: port(o.port, "port")?,
        address,
        family: family(o.family)?,
        to_address,
        to_port,
        read_strings: o.read_strings,
        reuse_address: o.reuse_address,
        reuse_port: o.reuse_port,
        no_delay: o.no_delay,
        keep_alive: millis(o.keep_alive_ms),
        connect_timeout: millis(o.connect_timeout_ms),
        attempt_delay: millis(o.happy_eyeballs_delay_ms),
        read_buffer_size: or_default(o.read_buffer_size, options::DEFAULT_READ_BUFFER_SIZE),
        send_queue_limit: or_default(o.send_queue_limit, options::DEFAULT_SEND_QUEUE_LIMIT),
        send_queue_low_mark: o.send_queue_low_mark,
        backlog,
        close_timeout: millis(o.close_timeout_ms).unwrap_or(options::DEFAULT_CLOSE_TIMEOUT),
        idle_timeout: millis(o.idle_timeout_ms),
        pause_reads_above: o.pause_reads_above,
        allow_half_open: o.allow_half_open,
        keep_alive_interval: millis(o.keep_alive_interval_ms),
        keep_alive_count: (o.keep_alive_count > 0).then_some(o.keep_alive_count),
        user_timeout: millis(o.user_timeout_ms),
        max_connections: o.max_connections,
        proxy_protocol: o.proxy_protocol,
        unix_mode: o.unix_mode,
        tls,
    })
}

/// Copies the C strings and converts.
///
/// # Safety
/// The string fields must be NULL or NUL-terminated strings.
pub unsafe fn from_c(o: &sack_tcp_options) -> Result<Options> {
    // SAFETY: every field read below is NULL or a C string, forwarded from
    // this function's contract.
    let strings = unsafe {
        CStrings {
            address: str_field(o.address, "address")?,
            to_address: str_field(o.to_address, "to_address")?,
            cert: str_field(o.cert, "cert")?,
            key: str_field(o.key, "key")?,
            passphrase: str_field(o.passphrase, "passphrase")?,
            host: str_field(o.host, "host")?,
            ca: str_field(o.ca, "ca")?,
            alpn: str_field(o.alpn, "alpn")?,
            hosts: host_entries(o.hosts, o.hosts_count)?,
            tls_groups: str_field(o.tls_groups, "tls_groups")?,
            tls_cipher_suites: str_field(o.tls_cipher_suites, "tls_cipher_suites")?,
            crl: str_field(o.crl, "crl")?,
        }
    };
    convert(o, strings)
}

/// # Safety
/// `ptr` must be NULL (with `count` 0) or point to `count` entries whose
/// strings are NULL or NUL-terminated.
unsafe fn host_entries(ptr: *const sack_tcp_tls_host, count: usize) -> Result<Vec<HostCert>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(super::guard::null("hosts"));
    }
    // SAFETY: non-NULL with `count` entries per this function's contract.
    let entries = unsafe { std::slice::from_raw_parts(ptr, count) };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |p: *const c_char, name: &str| -> Result<Option<String>> {
                // SAFETY: per this function's contract.
                unsafe { str_field(p, &format!("hosts[{i}].{name}")) }
            };
            let required = |p: *const c_char, name: &str| -> Result<String> {
                field(p, name)?.ok_or_else(|| super::guard::null(&format!("hosts[{i}].{name}")))
            };
            Ok(HostCert {
                hosts: required(e.host, "host")?,
                cert: required(e.cert, "cert")?,
                key: required(e.key, "key")?,
                passphrase: field(e.passphrase, "passphrase")?,
            })
        })
        .collect()
}

/// # Safety
/// `ptr` must be NULL or NUL-terminated.
unsafe fn str_field(ptr: *const c_char, name: &str) -> Result<Option<String>> {
    // SAFETY: forwarded from this function's contract.
    unsafe { opt_str(ptr, name) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn defaults_convert_to_default_options() {
        let o = convert(&defaults(), CStrings::default()).unwrap();
        assert_eq!(o, Options::default());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        type Setter = fn(&mut sack_tcp_options);
        let cases: [(&str, Setter); 6] = [
            ("port", |o| o.port = 65536),
            ("port", |o| o.port = -1),
            ("to_port", |o| o.to_port = 70000),
            ("family", |o| o.family = 5),
            ("backlog", |o| o.backlog = -3),
            ("client_auth", |o| o.client_auth = 3),
        ];
        for (name, set) in cases {
            let mut o = defaults();
            set(&mut o);
            let err = convert(&o, CStrings::default()).unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{name}");
            assert!(err.message().contains(name), "{name}: {}", err.message());
        }
    }
}
