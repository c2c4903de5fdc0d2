//! Exported TLS functions: inspecting a connection's session.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::guard::{self, guard, socket};
use super::types::*;
use crate::error::{Error, Result};
use crate::socket::Socket;
use crate::tls::info::{CertSummary, TlsInfo};
use crate::tls::key_log::{self, KeyLogSink};

/// What a TLS connection's handshake settled on and a summary of the
/// peer's leaf certificate, filled by `sack_tcp_get_tls_info`. Strings are
/// NUL-terminated copies inside the struct; the struct is yours.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sack_tcp_tls_info {
    /// Set by the library to the size you passed.
    pub struct_size: usize,
    /// IANA number of the protocol version: 0x0304 TLS 1.3, 0x0303 TLS 1.2.
    pub protocol_version: u16,
    /// IANA number of the cipher suite, e.g. 0x1302.
    pub cipher_suite: u16,
    /// IANA number of the key-exchange group (0x11EC X25519MLKEM768,
    /// 0x001D X25519, 0x0017 secp256r1, 0x0018 secp384r1); 0 when no key
    /// exchange ran (a resumed TLS 1.2 session).
    pub key_exchange_group: u16,
    /// The session was resumed (no full handshake).
    pub resumed: bool,
    /// "TLSv1.3" or "TLSv1.2", as OpenSSL names them.
    pub protocol_name: [c_char; 16],
    /// The suite's IANA name, e.g. "TLS_AES_256_GCM_SHA384" or
    /// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".
    pub cipher_suite_name: [c_char; 64],
    /// e.g. "X25519MLKEM768", "X25519", "secp256r1"; empty with
    /// `key_exchange_group` 0.
    pub key_exchange_group_name: [c_char; 32],
    /// Server side: the host name the client asked for (SNI); empty if it
    /// sent none, and always on a client.
    pub server_name: [c_char; 256],
    /// How many certificates the peer sent (0: none, e.g. a client without
    /// one). Read them with `sack_tcp_get_peer_certificate`.
    pub peer_certificate_count: usize,
    /// Start of the peer's leaf certificate's validity, seconds since 1970
    /// UTC (0 without a certificate).
    pub peer_not_before: i64,
    /// End of the peer's leaf certificate's validity, seconds since 1970
    /// UTC (0 without a certificate).
    pub peer_not_after: i64,
    /// SHA-256 of the leaf's DER, for pinning (zeros without one); what
    /// `openssl x509 -fingerprint -sha256` prints.
    pub peer_sha256: [u8; 32],
    /// Entries in the leaf's subjectAltName that `sack_tcp_get_peer_san`
    /// returns (DNS, IP, email and URI names).
    pub peer_san_count: usize,
}

/// Every field of the first published layout.
const MIN_TLS_INFO_SIZE: usize =
    std::mem::offset_of!(sack_tcp_tls_info, peer_san_count) + std::mem::size_of::<usize>();

fn with_socket(handle: *const sack_tcp, f: impl FnOnce(&Socket) -> Result<()>) -> sack_tcp_result {
    // SAFETY: the header requires a handle the caller holds (or the one the
    // running callback was given); `socket` rejects NULL.
    guard(|| f(unsafe { socket(handle)? }))
}

/// Copies `text` into a fixed array, always NUL-terminated (the texts we
/// copy are bounded well below the arrays' sizes; a longer one is cut).
fn fill<const N: usize>(text: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    for (slot, &b) in out.iter_mut().zip(text.as_bytes().iter().take(N - 1)) {
        *slot = b as c_char;
    }
    out
}

fn to_c(info: &TlsInfo) -> sack_tcp_tls_info {
    let leaf = info
        .peer_chain
        .first()
        .and_then(|der| CertSummary::parse(der).ok());
    sack_tcp_tls_info {
        struct_size: 0,
        protocol_version: info.version,
        cipher_suite: info.suite,
        key_exchange_group: info.group,
        resumed: info.resumed,
        protocol_name: fill(&info.version_name),
        cipher_suite_name: fill(&info.suite_name),
        key_exchange_group_name: fill(&info.group_name),
        server_name: fill(info.server_name.as_deref().unwrap_or("")),
        peer_certificate_count: info.peer_chain.len(),
        peer_not_before: leaf.as_ref().map_or(0, |l| l.not_before),
        peer_not_after: leaf.as_ref().map_or(0, |l| l.not_after),
        peer_sha256: leaf.as_ref().map_or([0; 32], |l| l.sha256),
        peer_san_count: leaf.as_ref().map_or(0, |l| l.sans.len()),
    }
}

/// Copies `bytes` (and a NUL if `nul`) into `buf` and their length (without
/// the NUL) to `*out_len`; with `buf` NULL and `buf_len` 0 only the length.
fn write_sized(
    bytes: &[u8],
    nul: bool,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> Result<()> {
    if out_len.is_null() {
        return Err(guard::null("out_len"));
    }
    if !buf.is_null() || buf_len > 0 {
        if buf.is_null() {
            return Err(guard::null("buf"));
        }
        let need = bytes.len() + usize::from(nul);
        if need > buf_len {
            return Err(Error::invalid(format!(
                "a buffer of {buf_len} bytes cannot hold {need} bytes"
            )));
        }
        // SAFETY: `buf` is non-NULL and, per the header, valid for `buf_len`
        // bytes, of which we write need <= buf_len.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
            if nul {
                buf.add(bytes.len()).write(0);
            }
        }
    }
    // SAFETY: checked non-NULL above; writable per the header.
    unsafe { guard::write_out(out_len, "out_len", bytes.len()) }
}

/// The peer's leaf certificate, parsed.
fn leaf(s: &Socket) -> Result<CertSummary> {
    let info = s.tls_info()?;
    let der = info.peer_chain.first().ok_or_else(|| {
        Error::new(
            crate::error::Code::NotApplicable,
            "the peer sent no certificate",
        )
    })?;
    CertSummary::parse(der)
}

/// Fills `*out` (a struct of `out_size` bytes: pass `sizeof *out`) with what
/// the TLS handshake of this connection settled on: protocol version,
/// cipher suite and key-exchange group (numbers and names), whether the
/// session was resumed, the SNI name a client asked this server for, and
/// the peer's certificate count, leaf validity, SHA-256 fingerprint and
/// subjectAltName count. Call it from any thread once the ready callback
/// has fired (inside it too) until the close callback; the struct is a copy.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `out` NULL),
/// `SACK_TCP_ERR_INVALID_ARGUMENT` (`out_size` smaller than the first
/// layout), `SACK_TCP_ERR_NOT_APPLICABLE` on a listener, a plain connection
/// or before the handshake is done, `SACK_TCP_ERR_CLOSED` once closed.
/// Nothing is written on failure.
#[no_mangle]
pub extern "C" fn sack_tcp_get_tls_info(
    handle: *const sack_tcp,
    out: *mut sack_tcp_tls_info,
    out_size: usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        if out.is_null() {
            return Err(guard::null("out"));
        }
        let value = to_c(&s.tls_info()?);
        // SAFETY: non-NULL; the caller passes `out_size` writable bytes.
        unsafe { guard::write_versioned(out, out_size, MIN_TLS_INFO_SIZE, value, "out") }
    })
}

/// Copies certificate `index` of the peer's chain (0 = its own, the leaf;
/// then the chain as it sent it) as DER into `buf`, a buffer of `buf_len`
/// bytes, and writes its length to `*out_len`. With `buf` NULL and
/// `buf_len` 0 only `*out_len` is written, to size a buffer. When it may be
/// called: as `sack_tcp_get_tls_info`.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `out_len` NULL, or `buf`
/// NULL with `buf_len` > 0), `SACK_TCP_ERR_INVALID_ARGUMENT` if `index` is
/// not below `peer_certificate_count` or `buf_len` is too small (nothing
/// written), `SACK_TCP_ERR_NOT_APPLICABLE` and `SACK_TCP_ERR_CLOSED` as for
/// `sack_tcp_get_tls_info`.
#[no_mangle]
pub extern "C" fn sack_tcp_get_peer_certificate(
    handle: *const sack_tcp,
    index: usize,
    buf: *mut u8,
    buf_len: usize,
    out_len: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let info = s.tls_info()?;
        let der = info.peer_chain.get(index).ok_or_else(|| {
            Error::invalid(format!(
                "certificate {index} asked for; the peer sent {}",
                info.peer_chain.len()
            ))
        })?;
        write_sized(der, false, buf, buf_len, out_len)
    })
}

/// Writes the subject of the peer's leaf certificate as an RFC 4514 string
/// (e.g. "CN=client.example.com,O=Example", what `openssl x509 -subject
/// -nameopt RFC2253` prints) with a NUL into `buf`, and its length without
/// the NUL to `*out_len`. With `buf` NULL and `buf_len` 0 only `*out_len`
/// is written (allocate `*out_len + 1`). When it may be called: as
/// `sack_tcp_get_tls_info`.
///
/// Errors: as `sack_tcp_get_peer_certificate`; also
/// `SACK_TCP_ERR_NOT_APPLICABLE` if the peer sent no certificate and
/// `SACK_TCP_ERR_BAD_PEM` if its certificate does not parse (possible only
/// with `insecure_skip_verify`).
#[no_mangle]
pub extern "C" fn sack_tcp_get_peer_subject(
    handle: *const sack_tcp,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let subject = leaf(s)?.subject;
        write_sized(subject.as_bytes(), true, buf.cast(), buf_len, out_len)
    })
}

/// Writes entry `index` (below `peer_san_count`) of the peer's leaf
/// certificate's subjectAltName, as OpenSSL prints it ("DNS:localhost",
/// "IP:127.0.0.1", "IP:::1", "email:a@example.com", "URI:spiffe://x"),
/// with a NUL into `buf`, and its length without the NUL to `*out_len`.
/// Sizing, when it may be called and errors: as
/// `sack_tcp_get_peer_subject`; `SACK_TCP_ERR_INVALID_ARGUMENT` for an
/// `index` out of range.
#[no_mangle]
pub extern "C" fn sack_tcp_get_peer_san(
    handle: *const sack_tcp,
    index: usize,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let sans = leaf(s)?.sans;
        let san = sans.get(index).ok_or_else(|| {
            Error::invalid(format!(
                "subjectAltName {index} asked for; the certificate has {}",
                sans.len()
            ))
        })?;
        write_sized(san.as_bytes(), true, buf.cast(), buf_len, out_len)
    })
}

/// The key log callback: one NSS key-log line per call, e.g.
/// "CLIENT_HANDSHAKE_TRAFFIC_SECRET <client random> <secret>" (hex, no
/// newline), borrowed for the call. Append each line and a newline to a file
/// and Wireshark or tshark decrypts the captured traffic.
pub type sack_tcp_key_log_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, line: *const c_char)>;

struct CKeyLog {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the header documents that the key log callback is called from any
// thread, so handing `user_data` to it there is what the user asked for.
unsafe impl Send for CKeyLog {}
// SAFETY: as above; the sink itself is never mutated.
unsafe impl Sync for CKeyLog {}

impl KeyLogSink for CKeyLog {
    fn line(&self, line: &str) {
        let line = guard::to_c_string(line);
        // SAFETY: the user registered the callback with this signature; the
        // string lives until it returns.
        unsafe { (self.callback)(self.user_data, line.as_ptr()) };
    }
}

/// DEBUGGING ONLY: sends the TLS secrets of every connection (client and
/// server, handshakes that start from now on) to `callback`, as NSS key-log
/// lines, what SSLKEYLOGFILE gives with OpenSSL and NSS. Whoever reads
/// them can decrypt the traffic: they are as secret as your private keys.
/// Off by default; NULL turns it off again.
///
/// Process-wide. The callback runs on runtime threads while handshakes
/// progress, possibly several at once, and must not block for long.
/// Replaces any earlier callback and returns only once no line is being
/// delivered to it: afterwards the old callback and its `user_data` are
/// never used again.
///
/// Errors: `SACK_TCP_ERR_WOULD_DEADLOCK` when called from inside the key
/// log callback (it would wait for itself).
#[no_mangle]
pub extern "C" fn sack_tcp_set_key_log_callback(
    callback: sack_tcp_key_log_cb,
    user_data: *mut c_void,
) -> sack_tcp_result {
    guard(|| {
        let sink = callback.map(|callback| {
            Arc::new(CKeyLog {
                callback,
                user_data,
            }) as Arc<dyn KeyLogSink>
        });
        key_log::set_sink(sink)
    })
}

/// Replaces a running TLS listener's whole TLS configuration, in one step,
/// for every handshake accepted from now on: the default certificate and
/// its names (`cert`, `key`, `passphrase`, `host`), the SNI map (`hosts`),
/// client verification (`ca`, `client_auth`), `alpn`, `allow_ssl_fallback`,
/// `starttls`, `handshake_timeout_ms` and the `tls_*` policy fields of
/// `options` (filled by `sack_tcp_options_init`; its other fields are
/// ignored, and certificates added by `sack_tcp_add_cert` before are
/// dropped with the old configuration). Each connection uses the
/// configuration current when it was accepted, whole, for its life:
/// connections in progress keep theirs, none sees a mix. Strings are copied
/// before the call returns. Callable from any thread and from callbacks.
///
/// Errors (the running configuration is then unchanged):
/// `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// connection or a listener opened without TLS, `SACK_TCP_ERR_CLOSED`,
/// `SACK_TCP_ERR_INVALID_ARGUMENT` when `options` gives no certificate or
/// a bad field, `SACK_TCP_ERR_BAD_PEM`, `SACK_TCP_ERR_WRONG_PASSPHRASE`,
/// `SACK_TCP_ERR_KEY_MISMATCH`, `SACK_TCP_ERR_UNSUPPORTED_KEY` as at open.
#[no_mangle]
pub extern "C" fn sack_tcp_reload_tls(
    handle: *mut sack_tcp,
    options: *const sack_tcp_options,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        // SAFETY: checked for NULL inside; the caller passes a struct filled
        // by `sack_tcp_options_init`.
        let raw = unsafe {
            guard::read_versioned(
                options,
                super::options::MIN_OPTIONS_SIZE,
                super::options::defaults(),
                "options",
            )?
        };
        // SAFETY: the string fields are NULL or C strings, per the header.
        let opts = unsafe { super::options::from_c(&raw)? };
        s.reload_tls(&opts)
    })
}

/// Stops serving the SNI names `hosts` ('~'-separated, exactly as they
/// were added: names or wildcard patterns) on a running TLS listener, from
/// the next handshake on; clients asking for them then get the default
/// certificate, or error 7 without one. Writes how many of the names were
/// served to `*removed` (may be NULL). Connections in progress are not
/// touched.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER` (`handle` or `hosts`),
/// `SACK_TCP_ERR_NOT_APPLICABLE` on a connection or a plain listener,
/// `SACK_TCP_ERR_CLOSED`, `SACK_TCP_ERR_INVALID_ARGUMENT` for a bad host
/// list (nothing removed).
#[no_mangle]
pub extern "C" fn sack_tcp_remove_cert(
    handle: *mut sack_tcp,
    hosts: *const c_char,
    removed: *mut usize,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        // SAFETY: the header requires NULL or a C string.
        let hosts =
            unsafe { guard::opt_str(hosts, "hosts")? }.ok_or_else(|| guard::null("hosts"))?;
        let n = s.remove_cert(&hosts)?;
        if !removed.is_null() {
            // SAFETY: non-NULL and writable per the header.
            unsafe { removed.write(n) };
        }
        Ok(())
    })
}

/// Writes to `*not_after` when the first of the certificates a running TLS
/// listener serves (its default and its SNI certificates, as now
/// configured) expires, in seconds since 1970 UTC, so a host can alert
/// before an outage; see also `tls_expiry_warning_days`.
///
/// Errors: `SACK_TCP_ERR_NULL_POINTER`, `SACK_TCP_ERR_NOT_APPLICABLE` on a
/// connection (see `peer_not_after` in `sack_tcp_tls_info` for the peer's),
/// a plain listener or one serving no certificate, `SACK_TCP_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn sack_tcp_get_cert_expiry(
    handle: *const sack_tcp,
    not_after: *mut i64,
) -> sack_tcp_result {
    with_socket(handle, |s| {
        let at = s.cert_expiry()?;
        // SAFETY: `write_out` checks NULL; otherwise writable per the header.
        unsafe { guard::write_out(not_after, "not_after", at) }
    })
}
