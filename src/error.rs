//! One error type for the whole crate: a stable numeric code that the C
//! surface returns as `sack_tcp_result`, plus the detailed text that
//! `sack_tcp_last_error_message` hands out.

use std::ffi::CStr;
use std::fmt;
use std::io;

/// Stable error codes. The numbers are part of the C ABI (see the
/// `SACK_TCP_ERR_*` constants in `ffi`); a test keeps the two in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    // Positive codes are the original API's TLS error numbers; they only
    // ever reach the error callback, never a return value.
    TlsUnknownIssuer = 1,
    TlsBadName = 2,
    TlsExpired = 3,
    TlsSelfSigned = 4,
    TlsBadCertificate = 5,
    TlsHandshake = 6,
    TlsHostMismatch = 7,
    InvalidArgument = -1,
    NullPointer = -2,
    BadAddress = -3,
    Resolve = -4,
    Refused = -5,
    Unreachable = -6,
    TimedOut = -7,
    AddressInUse = -8,
    AddressNotAvailable = -9,
    PermissionDenied = -10,
    Closed = -11,
    QueueFull = -12,
    NotApplicable = -13,
    Reset = -14,
    Canceled = -15,
    Io = -16,
    Runtime = -17,
    WouldDeadlock = -18,
    Panic = -19,
    BadPem = -20,
    WrongPassphrase = -21,
    KeyMismatch = -22,
    UnsupportedKey = -23,
}

impl Code {
    pub const ALL: [Code; 31] = [
        Code::Ok,
        Code::TlsUnknownIssuer,
        Code::TlsBadName,
        Code::TlsExpired,
        Code::TlsSelfSigned,
        Code::TlsBadCertificate,
        Code::TlsHandshake,
        Code::TlsHostMismatch,
        Code::InvalidArgument,
        Code::NullPointer,
        Code::BadAddress,
        Code::Resolve,
        Code::Refused,
        Code::Unreachable,
        Code::TimedOut,
        Code::AddressInUse,
        Code::AddressNotAvailable,
        Code::PermissionDenied,
        Code::Closed,
        Code::QueueFull,
        Code::NotApplicable,
        Code::Reset,
        Code::Canceled,
        Code::Io,
        Code::Runtime,
        Code::WouldDeadlock,
        Code::Panic,
        Code::BadPem,
        Code::WrongPassphrase,
        Code::KeyMismatch,
        Code::UnsupportedKey,
    ];

    pub fn from_i32(value: i32) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| *c as i32 == value)
    }

    /// The short, static description `sack_tcp_strerror` returns (a C
    /// string, so the C surface hands it out as is).
    pub fn description(self) -> &'static CStr {
        match self {
            Code::Ok => c"success",
            Code::TlsUnknownIssuer => {
                c"TLS: the server's certificate is not signed by a trusted authority"
            }
            Code::TlsBadName => {
                c"TLS: the server's certificate is not valid for the requested name"
            }
            Code::TlsExpired => c"TLS: the server's certificate has expired",
            Code::TlsSelfSigned => c"TLS: the server's certificate is self-signed and not trusted",
            Code::TlsBadCertificate => c"TLS: the peer's certificate was rejected",
            Code::TlsHandshake => c"TLS handshake failed",
            Code::TlsHostMismatch => c"TLS: no certificate for the host name the client asked for",
            Code::InvalidArgument => c"invalid argument",
            Code::NullPointer => c"a required pointer argument was NULL",
            Code::BadAddress => c"malformed address string",
            Code::Resolve => c"could not resolve host name",
            Code::Refused => c"connection refused",
            Code::Unreachable => c"network or host unreachable",
            Code::TimedOut => c"timed out",
            Code::AddressInUse => c"address already in use",
            Code::AddressNotAvailable => c"address not available on this machine",
            Code::PermissionDenied => c"permission denied",
            Code::Closed => c"socket is closed or closing",
            Code::QueueFull => c"send queue limit reached",
            Code::NotApplicable => c"operation or option does not apply to this kind of socket",
            Code::Reset => c"connection reset by peer",
            Code::Canceled => c"operation canceled",
            Code::Io => c"input/output error",
            Code::Runtime => c"runtime is shutting down or could not start",
            Code::WouldDeadlock => c"call would deadlock (made from inside a callback)",
            Code::Panic => c"internal error (a panic was caught)",
            Code::BadPem => c"malformed PEM, certificate or key",
            Code::WrongPassphrase => c"wrong or missing passphrase for an encrypted private key",
            Code::KeyMismatch => c"private key does not match the certificate",
            Code::UnsupportedKey => c"unsupported key type or key encryption",
        }
    }

    /// The enumerator's name, used by test output and messages.
    pub fn name(self) -> &'static CStr {
        match self {
            Code::Ok => c"SACK_TCP_OK",
            Code::TlsUnknownIssuer => c"SACK_TCP_TLS_UNKNOWN_ISSUER",
            Code::TlsBadName => c"SACK_TCP_TLS_BAD_NAME",
            Code::TlsExpired => c"SACK_TCP_TLS_EXPIRED",
            Code::TlsSelfSigned => c"SACK_TCP_TLS_SELF_SIGNED",
            Code::TlsBadCertificate => c"SACK_TCP_TLS_BAD_CERTIFICATE",
            Code::TlsHandshake => c"SACK_TCP_TLS_HANDSHAKE_FAILED",
            Code::TlsHostMismatch => c"SACK_TCP_TLS_HOST_MISMATCH",
            Code::InvalidArgument => c"SACK_TCP_ERR_INVALID_ARGUMENT",
            Code::NullPointer => c"SACK_TCP_ERR_NULL_POINTER",
            Code::BadAddress => c"SACK_TCP_ERR_BAD_ADDRESS",
            Code::Resolve => c"SACK_TCP_ERR_RESOLVE",
            Code::Refused => c"SACK_TCP_ERR_REFUSED",
            Code::Unreachable => c"SACK_TCP_ERR_UNREACHABLE",
            Code::TimedOut => c"SACK_TCP_ERR_TIMED_OUT",
            Code::AddressInUse => c"SACK_TCP_ERR_ADDRESS_IN_USE",
            Code::AddressNotAvailable => c"SACK_TCP_ERR_ADDRESS_NOT_AVAILABLE",
            Code::PermissionDenied => c"SACK_TCP_ERR_PERMISSION_DENIED",
            Code::Closed => c"SACK_TCP_ERR_CLOSED",
            Code::QueueFull => c"SACK_TCP_ERR_QUEUE_FULL",
            Code::NotApplicable => c"SACK_TCP_ERR_NOT_APPLICABLE",
            Code::Reset => c"SACK_TCP_ERR_RESET",
            Code::Canceled => c"SACK_TCP_ERR_CANCELED",
            Code::Io => c"SACK_TCP_ERR_IO",
            Code::Runtime => c"SACK_TCP_ERR_RUNTIME",
            Code::WouldDeadlock => c"SACK_TCP_ERR_WOULD_DEADLOCK",
            Code::Panic => c"SACK_TCP_ERR_PANIC",
            Code::BadPem => c"SACK_TCP_ERR_BAD_PEM",
            Code::WrongPassphrase => c"SACK_TCP_ERR_WRONG_PASSPHRASE",
            Code::KeyMismatch => c"SACK_TCP_ERR_KEY_MISMATCH",
            Code::UnsupportedKey => c"SACK_TCP_ERR_UNSUPPORTED_KEY",
        }
    }
}

/// An error with its code and a human-readable explanation that names the
/// input at fault (the address string, the option, the OS error text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: String,
    /// Bytes that come with the error to the error callback: the first
    /// bytes of a failed handshake, or the host name nobody serves.
    data: Vec<u8>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            data: Vec::new(),
        }
    }

    pub fn with_data(mut self, data: Vec<u8>) -> Error {
        self.data = data;
        self
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }

    pub fn closed() -> Error {
        Error::new(Code::Closed, "the socket is closed or closing")
    }

    /// Maps an OS error to the code a C user can branch on, keeping the OS
    /// text (and the operation it came from) in the message.
    pub fn from_io(context: &str, err: &io::Error) -> Error {
        Error::new(code_for_io(err), format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            self.code.name().to_string_lossy()
        )
    }
}

impl std::error::Error for Error {}

/// Classifies an `io::Error`. Raw errno values are checked first because
/// `io::ErrorKind` folds several of them (EHOSTUNREACH, ENETUNREACH) into
/// kinds that older toolchains report as `Other`.
pub fn code_for_io(err: &io::Error) -> Code {
    if let Some(errno) = err.raw_os_error() {
        match errno {
            libc::ECONNREFUSED => return Code::Refused,
            libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ENETDOWN | libc::EHOSTDOWN => {
                return Code::Unreachable
            }
            libc::ETIMEDOUT => return Code::TimedOut,
            libc::EADDRINUSE => return Code::AddressInUse,
            libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT => return Code::AddressNotAvailable,
            libc::EACCES | libc::EPERM => return Code::PermissionDenied,
            libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => return Code::Reset,
            libc::ECANCELED => return Code::Canceled,
            _ => {}
        }
    }
    match err.kind() {
        io::ErrorKind::ConnectionRefused => Code::Refused,
        io::ErrorKind::TimedOut => Code::TimedOut,
        io::ErrorKind::AddrInUse => Code::AddressInUse,
        io::ErrorKind::AddrNotAvailable => Code::AddressNotAvailable,
        io::ErrorKind::PermissionDenied => Code::PermissionDenied,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Code::Reset,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => Code::Unreachable,
        _ => Code::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for code in Code::ALL {
            assert_eq!(Code::from_i32(code as i32), Some(code));
        }
        assert_eq!(Code::from_i32(8), None);
        assert_eq!(Code::from_i32(-1000), None);
    }

    #[test]
    fn io_errors_map_to_distinct_codes() {
        let cases = [
            (libc::ECONNREFUSED, Code::Refused),
            (libc::EHOSTUNREACH, Code::Unreachable),
            (libc::ENETUNREACH, Code::Unreachable),
            (libc::ETIMEDOUT, Code::TimedOut),
            (libc::EADDRINUSE, Code::AddressInUse),
            (libc::EADDRNOTAVAIL, Code::AddressNotAvailable),
            (libc::EACCES, Code::PermissionDenied),
            (libc::ECONNRESET, Code::Reset),
            (libc::EPIPE, Code::Reset),
            (libc::EIO, Code::Io),
        ];
        for (errno, code) in cases {
            assert_eq!(
                code_for_io(&io::Error::from_raw_os_error(errno)),
                code,
                "errno {errno}"
            );
        }
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "deadline");
        assert_eq!(code_for_io(&timed_out), Code::TimedOut);
    }
}
