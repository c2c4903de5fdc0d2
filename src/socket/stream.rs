//! A connection's stream: a TCP socket or a Unix domain socket, with
//! exactly the operations the driver, TLS and fallback detection use, so
//! they run unchanged over both. A match per call, no boxing: the TCP path
//! costs what it did.

use std::io;
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::address::Endpoint;

#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// The peer process of a Unix connection (SO_PEERCRED and its kin), read
/// once at accept or connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// -1 where the system does not say (it does on Linux).
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl From<TcpStream> for Stream {
    fn from(stream: TcpStream) -> Stream {
        Stream::Tcp(stream)
    }
}

#[cfg(unix)]
impl From<UnixStream> for Stream {
    fn from(stream: UnixStream) -> Stream {
        Stream::Unix(stream)
    }
}

impl Stream {
    pub(crate) fn is_tcp(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }

    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            #[cfg(unix)]
            Stream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            #[cfg(unix)]
            Stream::Unix(s) => s.poll_write_ready(cx),
        }
    }

    pub(crate) fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        match self {
            Stream::Tcp(s) => s.try_io(interest, f),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_io(interest, f),
        }
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable().await,
            #[cfg(unix)]
            Stream::Unix(s) => s.readable().await,
        }
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.try_read(buf),
        }
    }

    /// Waits for bytes and copies them without consuming them.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.peek(buf).await,
            // tokio's UnixStream has no peek: recv(MSG_PEEK) by hand.
            #[cfg(unix)]
            Stream::Unix(s) => loop {
                s.readable().await?;
                match s.try_io(Interest::READABLE, || {
                    crate::sys::peek(std::os::fd::AsFd::as_fd(s), buf)
                }) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
            },
        }
    }

    pub(crate) fn local_endpoint(&self) -> io::Result<Endpoint> {
        Ok(Endpoint::from_sock_addr(
            &socket2::SockRef::from(self).local_addr()?,
        ))
    }

    pub(crate) fn peer_endpoint(&self) -> io::Result<Endpoint> {
        Ok(Endpoint::from_sock_addr(
            &socket2::SockRef::from(self).peer_addr()?,
        ))
    }

    /// The peer process, for a Unix connection.
    pub(crate) fn peer_credentials(&self) -> io::Result<Option<PeerCredentials>> {
        match self {
            Stream::Tcp(_) => Ok(None),
            #[cfg(unix)]
            Stream::Unix(s) => {
                let cred = s.peer_cred()?;
                Ok(Some(PeerCredentials {
                    pid: cred.pid().unwrap_or(-1),
                    uid: cred.uid(),
                    gid: cred.gid(),
                }))
            }
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.as_fd().as_raw_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Stream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Stream::Tcp(s) => s.as_socket(),
        }
    }
}
