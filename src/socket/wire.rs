//! The connection's system calls: one read, and writes that never raise a
//! signal.
//!
//! A library lives in its host's process and must not depend on the host
//! ignoring SIGPIPE. `write`/`writev` on a socket whose peer reset raise
//! SIGPIPE (which kills a process at the default disposition); `send` and
//! `sendmsg` with MSG_NOSIGNAL report EPIPE instead. Every byte the library
//! writes to a connection goes through [`try_send`] or
//! [`try_send_vectored`]. Where MSG_NOSIGNAL does not exist (Apple's
//! systems) the socket carries SO_NOSIGPIPE instead ([`no_sigpipe`]);
//! Windows has no SIGPIPE.

use std::io::{self, IoSlice, Read};

use socket2::SockRef;
use tokio::io::Interest;

use super::stream::Stream;

// Apple's systems lack MSG_NOSIGNAL (their sockets carry SO_NOSIGPIPE
// instead) and Windows has no SIGPIPE; every other Unix has the flag.
#[cfg(not(any(target_vendor = "apple", windows)))]
const SEND_FLAGS: i32 = libc::MSG_NOSIGNAL;
#[cfg(any(target_vendor = "apple", windows))]
const SEND_FLAGS: i32 = 0;

/// Where sends cannot carry MSG_NOSIGNAL, marks the socket itself so that a
/// write to a reset peer returns EPIPE instead of raising SIGPIPE.
pub(super) fn no_sigpipe(stream: &Stream) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    SockRef::from(stream).set_nosigpipe(true)?;
    let _ = stream;
    Ok(())
}

/// One non-blocking `send(MSG_NOSIGNAL)`; WouldBlock clears the stream's
/// write readiness, as tokio's own writes do.
pub(super) fn try_send(stream: &Stream, buf: &[u8]) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        SockRef::from(stream).send_with_flags(buf, SEND_FLAGS)
    })
}

/// One non-blocking `sendmsg(MSG_NOSIGNAL)` of several buffers.
pub(super) fn try_send_vectored(stream: &Stream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        SockRef::from(stream).send_vectored_with_flags(bufs, SEND_FLAGS)
    })
}

/// Writes as much of `data` as the kernel takes right now; returns the rest.
/// Errors are left for the task, which meets them on its next write.
pub(super) fn write_inline<'a>(stream: &Stream, mut data: &'a [u8]) -> &'a [u8] {
    while !data.is_empty() {
        match try_send(stream, data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    data
}

/// One read. As tokio's own `poll_read` does, a read that leaves part of
/// the buffer unfilled proves the socket drained and clears its readiness,
/// which saves the read that would only say EAGAIN (on Windows, where that
/// proof does not hold, the next read finds out). tokio never clears the
/// read-closed bit, so a FIN behind the data is still seen.
pub(super) fn read_once(stream: &Stream, buf: &mut [u8]) -> io::Result<usize> {
    if cfg!(windows) {
        return stream.try_read(buf);
    }
    let len = buf.len();
    let mut drained_after = 0;
    let result = stream.try_io(Interest::READABLE, || {
        let n = (&*SockRef::from(stream)).read(buf)?;
        if n > 0 && n < len {
            drained_after = n;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && drained_after > 0 => Ok(drained_after),
        other => other,
    }
}

#[cfg(all(test, not(windows)))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::Shutdown;
    use std::sync::Arc;
    use std::task::{Context, Waker};
    use std::time::Duration;

    async fn pair() -> (Stream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        (
            Stream::from(tokio::net::TcpStream::from_std(ours).unwrap()),
            peer,
        )
    }

    struct NoWake;

    impl std::task::Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }

    fn read_ready_now(stream: &Stream) -> bool {
        let waker = Waker::from(Arc::new(NoWake));
        stream
            .poll_read_ready(&mut Context::from_waker(&waker))
            .is_ready()
    }

    #[tokio::test]
    async fn a_short_read_clears_readiness_without_another_read() {
        let (ours, mut peer) = pair().await;
        peer.write_all(b"abc").unwrap();
        ours.readable().await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(read_once(&ours, &mut buf).unwrap(), 3);
        assert!(!read_ready_now(&ours), "the short read proved it drained");
        peer.write_all(b"de").unwrap();
        ours.readable().await.unwrap();
        assert_eq!(read_once(&ours, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"de");
    }

    #[tokio::test]
    async fn a_fin_behind_a_short_read_is_still_seen() {
        let (ours, mut peer) = pair().await;
        peer.write_all(b"abc").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        loop {
            tokio::time::timeout(Duration::from_secs(10), ours.readable())
                .await
                .expect("readiness for the data and then the FIN")
                .unwrap();
            match read_once(&ours, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"abc");
    }
}
