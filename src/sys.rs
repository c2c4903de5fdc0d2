//! The few platform calls the standard library does not wrap (libc on
//! Unix, Winsock through windows-sys on Windows). One of the two modules
//! allowed unsafe code (see the crate root): the platform calls' unsafe
//! blocks live here; the C surface's, in `ffi`.

use std::ffi::CString;
use std::ptr;

/// The TCP port of a service name (`"http"` → 80) from the local services
/// database. The node argument is NULL, so getaddrinfo only consults the
/// services database and never sends a DNS query.
#[cfg(unix)]
pub fn service_port(name: &str) -> Option<u16> {
    let service = CString::new(name).ok()?;
    let hints = libc::addrinfo {
        ai_flags: libc::AI_PASSIVE,
        ai_family: libc::AF_UNSPEC,
        ai_socktype: libc::SOCK_STREAM,
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_addr: ptr::null_mut(),
        ai_canonname: ptr::null_mut(),
        ai_next: ptr::null_mut(),
    };
    let mut list: *mut libc::addrinfo = ptr::null_mut();
    // SAFETY: `service` is a NUL-terminated string and `hints` a fully
    // initialised addrinfo, both alive for the call; a NULL node is allowed
    // when a service is given. On success getaddrinfo stores a list it owns
    // in `list`, which is freed below.
    let rc = unsafe { libc::getaddrinfo(ptr::null(), service.as_ptr(), &hints, &mut list) };
    if rc != 0 || list.is_null() {
        return None;
    }
    // SAFETY: `list` is the non-NULL head of the list getaddrinfo returned,
    // valid until freeaddrinfo; `ai_addr` points at `ai_addrlen` bytes of a
    // socket address of family `ai_family`. Unaligned reads because nothing
    // promises that buffer is aligned for the concrete sockaddr type.
    let port = unsafe {
        let info = &*list;
        let len = info.ai_addrlen as usize;
        match info.ai_family {
            libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
                let addr = ptr::read_unaligned(info.ai_addr.cast::<libc::sockaddr_in>());
                Some(u16::from_be(addr.sin_port))
            }
            libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let addr = ptr::read_unaligned(info.ai_addr.cast::<libc::sockaddr_in6>());
                Some(u16::from_be(addr.sin6_port))
            }
            _ => None,
        }
    };
    // SAFETY: `list` came from a successful getaddrinfo, is freed exactly
    // once, and `info` above does not outlive this point.
    unsafe { libc::freeaddrinfo(list) };
    port
}

/// The TCP port of a service name (`"http"` → 80) from Windows' services
/// database (`%SystemRoot%\System32\drivers\etc\services`), through
/// Winsock's getaddrinfo with a NULL node, so no DNS query either.
#[cfg(windows)]
pub fn service_port(name: &str) -> Option<u16> {
    use windows_sys::Win32::Networking::WinSock as ws;

    let service = CString::new(name).ok()?;
    // Winsock must be started before getaddrinfo. Starting it is counted,
    // so this does not disturb the standard library's own start-up; the
    // WSACleanup below balances it.
    let mut data = ws::WSADATA::default();
    // SAFETY: `data` is a writable WSADATA for the call.
    if unsafe { ws::WSAStartup(0x0202, &mut data) } != 0 {
        return None;
    }
    let hints = ws::ADDRINFOA {
        ai_flags: ws::AI_PASSIVE as i32,
        ai_family: i32::from(ws::AF_UNSPEC),
        ai_socktype: ws::SOCK_STREAM,
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_canonname: ptr::null_mut(),
        ai_addr: ptr::null_mut(),
        ai_next: ptr::null_mut(),
    };
    let mut list: *mut ws::ADDRINFOA = ptr::null_mut();
    // SAFETY: as in the Unix version: `service` is NUL-terminated, `hints`
    // fully initialised, a NULL node is allowed with a service, and a
    // successful call stores a list it owns in `list`, freed below.
    let rc = unsafe { ws::getaddrinfo(ptr::null(), service.as_ptr().cast(), &hints, &mut list) };
    let port = if rc != 0 || list.is_null() {
        None
    } else {
        // SAFETY: `list` is the non-NULL head of getaddrinfo's list, valid
        // until freeaddrinfo; `ai_addr` points at `ai_addrlen` bytes of a
        // socket address of family `ai_family`, read unaligned.
        let port = unsafe {
            let info = &*list;
            let len = info.ai_addrlen;
            match info.ai_family {
                f if f == i32::from(ws::AF_INET)
                    && len >= std::mem::size_of::<ws::SOCKADDR_IN>() =>
                {
                    let addr = ptr::read_unaligned(info.ai_addr.cast::<ws::SOCKADDR_IN>());
                    Some(u16::from_be(addr.sin_port))
                }
                f if f == i32::from(ws::AF_INET6)
                    && len >= std::mem::size_of::<ws::SOCKADDR_IN6>() =>
                {
                    let addr = ptr::read_unaligned(info.ai_addr.cast::<ws::SOCKADDR_IN6>());
                    Some(u16::from_be(addr.sin6_port))
                }
                _ => None,
            }
        };
        // SAFETY: from a successful getaddrinfo, freed exactly once, and
        // `info` does not outlive this point.
        unsafe { ws::freeaddrinfo(list) };
        port
    };
    // SAFETY: balances the successful WSAStartup above.
    unsafe { ws::WSACleanup() };
    port
}

/// One non-blocking `recv(MSG_PEEK)`: copies what is readable without
/// consuming it (tokio's UnixStream has no peek; socket2's takes
/// uninitialised buffers).
#[cfg(unix)]
pub fn peek(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `fd` is an open descriptor for the call (a BorrowedFd), and
    // `buf` is valid for writes of `buf.len()` bytes; recv writes at most
    // that many.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// A descriptor that is readable while it is raised: a non-blocking Unix
/// socket pair, written once to raise and drained to clear. (A pipe or an
/// eventfd would do as well; the socket pair needs no unsafe code.)
#[cfg(unix)]
pub struct Signal {
    read: std::os::unix::net::UnixStream,
    write: std::os::unix::net::UnixStream,
}

#[cfg(unix)]
impl Signal {
    pub fn new() -> std::io::Result<Signal> {
        let (read, write) = std::os::unix::net::UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(Signal { read, write })
    }

    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.read.as_raw_fd()
    }

    pub fn raise(&self) {
        use std::io::Write;
        // A full buffer means it is raised already.
        let _ = (&self.write).write(&[1]);
    }

    pub fn clear(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// On Windows the signal is a loopback TCP connection (Windows has neither
/// socketpair nor pipes that select/WSAPoll accept), so its read end is a
/// SOCKET. A SOCKET is pointer-sized and does not fit the `int32_t` of
/// `sack_tcp_get_event_fd`, which therefore reports
/// `SACK_TCP_ERR_NOT_APPLICABLE` there; the signal still tracks whether
/// events wait, ready for a pointer-sized accessor.
#[cfg(windows)]
pub type Signal = LoopbackSignal;

/// A readable-while-raised signal built from a loopback TCP connection:
/// Windows' `Signal`. Compiled for tests everywhere so that Linux runs it.
#[cfg(any(windows, test))]
pub struct LoopbackSignal {
    read: std::net::TcpStream,
    write: std::net::TcpStream,
}

#[cfg(any(windows, test))]
impl LoopbackSignal {
    pub fn new() -> std::io::Result<LoopbackSignal> {
        use std::net::{Ipv4Addr, TcpListener, TcpStream};
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let write = TcpStream::connect(listener.local_addr()?)?;
        // Another local process could connect to the port first: accept
        // until the peer is the socket connected above, which is already
        // in the backlog. The listener closes when this returns.
        let expected = write.local_addr()?;
        let read = loop {
            let (stream, peer) = listener.accept()?;
            if peer == expected {
                break stream;
            }
        };
        // Without this Nagle could hold a raise back until the previous
        // one is acknowledged (up to the peer's delayed-ACK time).
        write.set_nodelay(true)?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        Ok(LoopbackSignal { read, write })
    }

    pub fn raise(&self) {
        use std::io::Write;
        // A full buffer means it is raised already.
        let _ = (&self.write).write(&[1]);
    }

    pub fn clear(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// The prefix of Linux's `struct tcp_info` up to `tcpi_total_retrans`
/// (unchanged since Linux 2.6); the kernel copies what fits.
#[cfg(target_os = "linux")]
#[repr(C)]
struct TcpInfoPrefix {
    bytes: [u8; 8],
    words: [u32; 24],
}

/// Linux's TCP_INFO of socket `fd`: (smoothed RTT in µs, its variance in
/// µs, segments retransmitted in all), or `None` if the call fails.
#[cfg(target_os = "linux")]
pub(crate) fn tcp_info(fd: std::os::fd::RawFd) -> Option<(u32, u32, u32)> {
    const RTT: usize = 15;
    const RTT_VAR: usize = 16;
    const TOTAL_RETRANS: usize = 23;
    let mut info = TcpInfoPrefix {
        bytes: [0; 8],
        words: [0; 24],
    };
    let full = std::mem::size_of::<TcpInfoPrefix>() as libc::socklen_t;
    let mut len = full;
    // SAFETY: `info` is a plain repr(C) buffer of `len` writable bytes and
    // `len` a valid socklen_t; a bad descriptor only makes the call fail.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut TcpInfoPrefix).cast(),
            &mut len,
        )
    };
    let _ = info.bytes;
    (rc == 0 && len >= full).then(|| {
        (
            info.words[RTT],
            info.words[RTT_VAR],
            info.words[TOTAL_RETRANS],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_signal_is_readable_only_while_raised() {
        use std::io::Read;
        use std::time::{Duration, Instant};
        let signal = LoopbackSignal::new().unwrap();
        let pending = |signal: &LoopbackSignal| {
            let mut byte = [0u8; 1];
            // Readable (data waiting) shows as Ok(n > 0) from peek.
            matches!(signal.read.peek(&mut byte), Ok(n) if n > 0)
        };
        let wait_pending = |signal: &LoopbackSignal| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !pending(signal) {
                assert!(Instant::now() < deadline, "raise never arrived");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        assert!(!pending(&signal));
        for _ in 0..3 {
            signal.raise();
            signal.raise();
            wait_pending(&signal);
            signal.clear();
            assert!(!pending(&signal));
        }
        // Drained means a read would block, not that the peer went away.
        let mut byte = [0u8; 1];
        let err = (&signal.read).read(&mut byte).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }

    /// A numeric service needs no services database (minimal containers
    /// have no /etc/services), yet comes back through the same list and
    /// socket address reading as a name does.
    #[test]
    fn reads_the_port_getaddrinfo_returns() {
        for port in [1, 80, 8080, 65535] {
            assert_eq!(service_port(&port.to_string()), Some(port));
        }
        assert_eq!(service_port("no-such-service-xyz"), None);
        assert_eq!(service_port("ht\0tp"), None);
    }
}
