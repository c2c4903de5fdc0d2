//! One error type for the whole crate: a stable numeric code that the C
//! surface returns as `sack_tcp_result`, plus the detailed text that
//! `sack_tcp_last_error_message` hands out.

use std::ffi::CStr;
use std::fmt;
use std::io;

/// The table of error codes, the one place each is written: the `Code`
/// variant, its number (part of the C ABI), the name of its C constant and
/// the description `sack_tcp_strerror` returns. It hands the rows to the
/// macro named by `$then`: [`Code`] and its methods are generated from it
/// here, and `ffi/types.rs` checks at compile time that each `SACK_TCP_*`
/// constant of the header has the number of its row (cbindgen reads those
/// constants from the source, so they stay written out there, with their
/// documentation).
macro_rules! with_code_table {
    ($then:ident) => {
        $then! {
            Ok = 0, SACK_TCP_OK, c"success";
            // Positive codes are TLS errors (numbered as sack.vfs numbers
            // them); they only ever reach the error callback, never a
            // return value.
            TlsUnknownIssuer = 1, SACK_TCP_TLS_UNKNOWN_ISSUER,
                c"TLS: the server's certificate is not signed by a trusted authority";
            TlsBadName = 2, SACK_TCP_TLS_BAD_NAME,
                c"TLS: the server's certificate is not valid for the requested name";
            TlsExpired = 3, SACK_TCP_TLS_EXPIRED, c"TLS: the server's certificate has expired";
            TlsSelfSigned = 4, SACK_TCP_TLS_SELF_SIGNED,
                c"TLS: the server's certificate is self-signed and not trusted";
            TlsBadCertificate = 5, SACK_TCP_TLS_BAD_CERTIFICATE,
                c"TLS: the peer's certificate was rejected";
            TlsHandshake = 6, SACK_TCP_TLS_HANDSHAKE_FAILED, c"TLS handshake failed";
            TlsHostMismatch = 7, SACK_TCP_TLS_HOST_MISMATCH,
                c"TLS: no certificate for the host name the client asked for";
            TlsRevoked = 8, SACK_TCP_TLS_REVOKED,
                c"TLS: the peer's certificate is revoked (listed in a `crl`)";
            TlsRejected = 9, SACK_TCP_TLS_REJECTED,
                c"TLS: the host's callback rejected the peer (tls_verify or tls_client_hello)";
            InvalidArgument = -1, SACK_TCP_ERR_INVALID_ARGUMENT, c"invalid argument";
            NullPointer = -2, SACK_TCP_ERR_NULL_POINTER, c"a required pointer argument was NULL";
            BadAddress = -3, SACK_TCP_ERR_BAD_ADDRESS, c"malformed address string";
            Resolve = -4, SACK_TCP_ERR_RESOLVE, c"could not resolve host name";
            Refused = -5, SACK_TCP_ERR_REFUSED, c"connection refused";
            Unreachable = -6, SACK_TCP_ERR_UNREACHABLE, c"network or host unreachable";
            TimedOut = -7, SACK_TCP_ERR_TIMED_OUT, c"timed out";
            AddressInUse = -8, SACK_TCP_ERR_ADDRESS_IN_USE, c"address already in use";
            AddressNotAvailable = -9, SACK_TCP_ERR_ADDRESS_NOT_AVAILABLE,
                c"address not available on this machine";
            PermissionDenied = -10, SACK_TCP_ERR_PERMISSION_DENIED, c"permission denied";
            Closed = -11, SACK_TCP_ERR_CLOSED, c"socket is closed or closing";
            QueueFull = -12, SACK_TCP_ERR_QUEUE_FULL, c"send queue limit reached";
            NotApplicable = -13, SACK_TCP_ERR_NOT_APPLICABLE,
                c"operation or option does not apply to this kind of socket";
            Reset = -14, SACK_TCP_ERR_RESET, c"connection reset by peer";
            Canceled = -15, SACK_TCP_ERR_CANCELED, c"operation canceled";
            Io = -16, SACK_TCP_ERR_IO, c"input/output error";
            Runtime = -17, SACK_TCP_ERR_RUNTIME, c"runtime is shutting down or could not start";
            WouldDeadlock = -18, SACK_TCP_ERR_WOULD_DEADLOCK,
                c"call would deadlock (made from inside a callback)";
            Panic = -19, SACK_TCP_ERR_PANIC, c"internal error (a panic was caught)";
            BadPem = -20, SACK_TCP_ERR_BAD_PEM, c"malformed PEM, certificate or key";
            WrongPassphrase = -21, SACK_TCP_ERR_WRONG_PASSPHRASE,
                c"wrong or missing passphrase for an encrypted private key";
            KeyMismatch = -22, SACK_TCP_ERR_KEY_MISMATCH,
                c"private key does not match the certificate";
            UnsupportedKey = -23, SACK_TCP_ERR_UNSUPPORTED_KEY,
                c"unsupported key type or key encryption";
            ProxyHeader = -24, SACK_TCP_ERR_PROXY_HEADER,
                c"missing or malformed PROXY protocol header";
        }
    };
}
pub(crate) use with_code_table;

/// Generates [`Code`] from the rows of `with_code_table`.
macro_rules! define_codes {
    ($($variant:ident = $value:literal, $constant:ident, $description:literal;)*) => {
        /// Stable error codes. The numbers are part of the C ABI: each is
        /// the value of the `SACK_TCP_*` constant [`Code::name`] names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Code {
            $($variant = $value,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: [Code; [$($value),*].len()] = [$(Code::$variant),*];

            /// The short, static description `sack_tcp_strerror` returns (a
            /// C string, so the C surface hands it out as is).
            pub fn description(self) -> &'static CStr {
                match self {
                    $(Code::$variant => $description,)*
                }
            }

            /// The name of the code's C constant, e.g. `SACK_TCP_ERR_REFUSED`,
            /// used by `sack_tcp_error_name`, test output and messages.
            pub fn name(self) -> &'static CStr {
                match self {
                    $(Code::$variant => const {
                        c_str(concat!(stringify!($constant), "\0"))
                    },)*
                }
            }
        }
    };
}
with_code_table!(define_codes);

/// A `&str` that ends in its only NUL as a `CStr`, at compile time.
const fn c_str(with_nul: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(with_nul.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("not a C string"),
    }
}

impl Code {
    pub fn from_i32(value: i32) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| *c as i32 == value)
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

/// Classifies an `io::Error`. Raw OS error numbers are checked first
/// (errno on Unix, Winsock and Win32 error codes on Windows) because
/// `io::ErrorKind` folds several of them (EHOSTUNREACH, ENETUNREACH) into
/// kinds that older toolchains report as `Other`.
pub fn code_for_io(err: &io::Error) -> Code {
    if let Some(code) = err.raw_os_error().and_then(native_code) {
        return code;
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

/// The code for a raw OS error number of this platform, if it has one.
fn native_code(raw: i32) -> Option<Code> {
    #[cfg(unix)]
    return posix_code(raw);
    #[cfg(windows)]
    return windows_code(raw);
}

/// The errno table. Its numbers differ between Unix systems, so it exists
/// on Unix only, with the libc constants of the target.
#[cfg(unix)]
fn posix_code(errno: i32) -> Option<Code> {
    Some(match errno {
        libc::ECONNREFUSED => Code::Refused,
        libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ENETDOWN | libc::EHOSTDOWN => {
            Code::Unreachable
        }
        libc::ETIMEDOUT => Code::TimedOut,
        libc::EADDRINUSE => Code::AddressInUse,
        libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT => Code::AddressNotAvailable,
        libc::EACCES | libc::EPERM => Code::PermissionDenied,
        libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => Code::Reset,
        libc::ECANCELED => Code::Canceled,
        _ => return None,
    })
}

/// Winsock and Win32 error numbers. They are fixed by the Windows ABI, so
/// they are spelled out here and the table compiles (and is tested)
/// everywhere; a Windows build checks each against windows-sys.
#[cfg(any(windows, test))]
mod win {
    pub const WSAEACCES: i32 = 10013;
    pub const WSAEAFNOSUPPORT: i32 = 10047;
    pub const WSAEADDRINUSE: i32 = 10048;
    pub const WSAEADDRNOTAVAIL: i32 = 10049;
    pub const WSAENETDOWN: i32 = 10050;
    pub const WSAENETUNREACH: i32 = 10051;
    pub const WSAECONNABORTED: i32 = 10053;
    pub const WSAECONNRESET: i32 = 10054;
    /// Sending after a shutdown: Unix reports EPIPE.
    pub const WSAESHUTDOWN: i32 = 10058;
    pub const WSAETIMEDOUT: i32 = 10060;
    pub const WSAECONNREFUSED: i32 = 10061;
    pub const WSAEHOSTDOWN: i32 = 10064;
    pub const WSAEHOSTUNREACH: i32 = 10065;
    pub const WSAECANCELLED: i32 = 10103;
    /// Also WSA_OPERATION_ABORTED: overlapped I/O canceled.
    pub const ERROR_OPERATION_ABORTED: i32 = 995;
    // The Win32 spellings that completion-based I/O reports for the same
    // conditions.
    pub const ERROR_NETNAME_DELETED: i32 = 64;
    pub const ERROR_CONNECTION_REFUSED: i32 = 1225;
    pub const ERROR_NETWORK_UNREACHABLE: i32 = 1231;
    pub const ERROR_HOST_UNREACHABLE: i32 = 1232;
    pub const ERROR_CONNECTION_ABORTED: i32 = 1236;

    #[cfg(windows)]
    const _: () = {
        use windows_sys::Win32::Foundation as f;
        use windows_sys::Win32::Networking::WinSock as ws;
        assert!(WSAEACCES == ws::WSAEACCES);
        assert!(WSAEAFNOSUPPORT == ws::WSAEAFNOSUPPORT);
        assert!(WSAEADDRINUSE == ws::WSAEADDRINUSE);
        assert!(WSAEADDRNOTAVAIL == ws::WSAEADDRNOTAVAIL);
        assert!(WSAENETDOWN == ws::WSAENETDOWN);
        assert!(WSAENETUNREACH == ws::WSAENETUNREACH);
        assert!(WSAECONNABORTED == ws::WSAECONNABORTED);
        assert!(WSAECONNRESET == ws::WSAECONNRESET);
        assert!(WSAESHUTDOWN == ws::WSAESHUTDOWN);
        assert!(WSAETIMEDOUT == ws::WSAETIMEDOUT);
        assert!(WSAECONNREFUSED == ws::WSAECONNREFUSED);
        assert!(WSAEHOSTDOWN == ws::WSAEHOSTDOWN);
        assert!(WSAEHOSTUNREACH == ws::WSAEHOSTUNREACH);
        assert!(WSAECANCELLED == ws::WSAECANCELLED);
        assert!(ERROR_OPERATION_ABORTED == ws::WSA_OPERATION_ABORTED);
        assert!(ERROR_OPERATION_ABORTED as u32 == f::ERROR_OPERATION_ABORTED);
        assert!(ERROR_NETNAME_DELETED as u32 == f::ERROR_NETNAME_DELETED);
        assert!(ERROR_CONNECTION_REFUSED as u32 == f::ERROR_CONNECTION_REFUSED);
        assert!(ERROR_NETWORK_UNREACHABLE as u32 == f::ERROR_NETWORK_UNREACHABLE);
        assert!(ERROR_HOST_UNREACHABLE as u32 == f::ERROR_HOST_UNREACHABLE);
        assert!(ERROR_CONNECTION_ABORTED as u32 == f::ERROR_CONNECTION_ABORTED);
    };
}

/// The Windows table: each Winsock error gives the code of its POSIX twin
/// (WSAECONNREFUSED as ECONNREFUSED, and so on).
#[cfg(any(windows, test))]
fn windows_code(raw: i32) -> Option<Code> {
    use win::*;
    Some(match raw {
        WSAECONNREFUSED | ERROR_CONNECTION_REFUSED => Code::Refused,
        WSAEHOSTUNREACH
        | WSAENETUNREACH
        | WSAENETDOWN
        | WSAEHOSTDOWN
        | ERROR_NETWORK_UNREACHABLE
        | ERROR_HOST_UNREACHABLE => Code::Unreachable,
        WSAETIMEDOUT => Code::TimedOut,
        WSAEADDRINUSE => Code::AddressInUse,
        WSAEADDRNOTAVAIL | WSAEAFNOSUPPORT => Code::AddressNotAvailable,
        WSAEACCES => Code::PermissionDenied,
        WSAECONNRESET
        | WSAESHUTDOWN
        | WSAECONNABORTED
        | ERROR_NETNAME_DELETED
        | ERROR_CONNECTION_ABORTED => Code::Reset,
        WSAECANCELLED | ERROR_OPERATION_ABORTED => Code::Canceled,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for code in Code::ALL {
            assert_eq!(Code::from_i32(code as i32), Some(code));
        }
        assert_eq!(Code::from_i32(10), None);
        assert_eq!(Code::from_i32(-1000), None);
    }

    #[cfg(unix)]
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

    /// What a Windows socket call reports, through `code_for_io` (runs
    /// only on Windows, e.g. under wine).
    #[cfg(windows)]
    #[test]
    fn winsock_io_errors_map_to_distinct_codes() {
        let cases = [
            (10061, Code::Refused),
            (10065, Code::Unreachable),
            (10051, Code::Unreachable),
            (10060, Code::TimedOut),
            (10048, Code::AddressInUse),
            (10049, Code::AddressNotAvailable),
            (10013, Code::PermissionDenied),
            (10054, Code::Reset),
            (10053, Code::Reset),
            (1225, Code::Refused),
            // ERROR_ACCESS_DENIED: not in the table, but std's ErrorKind knows it.
            (5, Code::PermissionDenied),
            // WSAEWOULDBLOCK: neither.
            (10035, Code::Io),
        ];
        for (raw, code) in cases {
            assert_eq!(
                code_for_io(&io::Error::from_raw_os_error(raw)),
                code,
                "Windows error {raw}"
            );
        }
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "deadline");
        assert_eq!(code_for_io(&timed_out), Code::TimedOut);
    }

    /// Each Winsock error maps like its POSIX twin. Both tables are plain
    /// functions of the number, so this runs on Linux too.
    #[cfg(unix)]
    #[test]
    fn winsock_errors_map_like_their_posix_twins() {
        use super::win::*;
        let twins = [
            (WSAECONNREFUSED, libc::ECONNREFUSED),
            (WSAETIMEDOUT, libc::ETIMEDOUT),
            (WSAEHOSTUNREACH, libc::EHOSTUNREACH),
            (WSAENETUNREACH, libc::ENETUNREACH),
            (WSAENETDOWN, libc::ENETDOWN),
            (WSAEHOSTDOWN, libc::EHOSTDOWN),
            (WSAEADDRINUSE, libc::EADDRINUSE),
            (WSAEADDRNOTAVAIL, libc::EADDRNOTAVAIL),
            (WSAEAFNOSUPPORT, libc::EAFNOSUPPORT),
            (WSAECONNRESET, libc::ECONNRESET),
            (WSAECONNABORTED, libc::ECONNABORTED),
            (WSAESHUTDOWN, libc::EPIPE),
            (WSAEACCES, libc::EACCES),
            (WSAECANCELLED, libc::ECANCELED),
            (ERROR_CONNECTION_REFUSED, libc::ECONNREFUSED),
            (ERROR_NETWORK_UNREACHABLE, libc::ENETUNREACH),
            (ERROR_HOST_UNREACHABLE, libc::EHOSTUNREACH),
            (ERROR_CONNECTION_ABORTED, libc::ECONNABORTED),
            (ERROR_NETNAME_DELETED, libc::ECONNRESET),
            (ERROR_OPERATION_ABORTED, libc::ECANCELED),
        ];
        for (wsa, errno) in twins {
            let code = posix_code(errno);
            assert!(code.is_some(), "errno {errno} has a code");
            assert_eq!(windows_code(wsa), code, "Windows {wsa} vs errno {errno}");
        }
        // The common ones once more as bare numbers.
        let literal = [
            (10061, Code::Refused),
            (10060, Code::TimedOut),
            (10065, Code::Unreachable),
            (10051, Code::Unreachable),
            (10048, Code::AddressInUse),
            (10049, Code::AddressNotAvailable),
            (10054, Code::Reset),
            (10053, Code::Reset),
            (10013, Code::PermissionDenied),
        ];
        for (wsa, code) in literal {
            assert_eq!(windows_code(wsa), Some(code), "Windows {wsa}");
        }
        // Anything else falls through to io::ErrorKind, as on Unix.
        for unknown in [0, 5, 10035, 10038, 11001] {
            assert_eq!(windows_code(unknown), None, "Windows {unknown}");
        }
    }
}
