//! The few libc calls the standard library does not wrap. Every `unsafe`
//! block of the crate lives here.

use std::ffi::CString;
use std::ptr;

/// The TCP port of a service name (`"http"` → 80) from the local services
/// database. The node argument is NULL, so getaddrinfo only consults the
/// services database and never sends a DNS query.
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

/// A descriptor that is readable while it is raised: a non-blocking Unix
/// socket pair, written once to raise and drained to clear. (A pipe or an
/// eventfd would do as well; the socket pair needs no unsafe code.)
pub struct Signal {
    read: std::os::unix::net::UnixStream,
    write: std::os::unix::net::UnixStream,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_well_known_services() {
        assert_eq!(service_port("http"), Some(80));
        assert_eq!(service_port("ssh"), Some(22));
        assert_eq!(service_port("no-such-service-xyz"), None);
        assert_eq!(service_port("ht\0tp"), None);
    }
}
