//! Unix domain sockets' own set-up: binding a listener (a stale socket file
//! replaced, the file's mode set before anyone can connect, the file
//! removed at close if it is still ours) and connecting a client.

#![cfg(unix)]

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

use socket2::{Domain, Socket, Type};
use tokio::net::{UnixListener, UnixStream};

use crate::address::UnixAddr;
use crate::error::{Code, Error, Result};

/// The socket file a listener created, removed when the listener closes
/// unless someone replaced it meanwhile (same device and inode, or it
/// stays).
#[derive(Debug)]
pub(crate) struct PathGuard {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl PathGuard {
    fn new(path: &str) -> io::Result<PathGuard> {
        let meta = fs::symlink_metadata(path)?;
        Ok(PathGuard {
            path: path.into(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                log::warn!("removing socket file {:?}: {e}", self.path);
            }
        }
    }
}

fn new_socket() -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Binds and listens on `addr`. A path whose socket nobody listens on any
/// more is removed first; a live one, or a file that is not a socket, is
/// refused with `AddressInUse` and left alone. `mode` (0: as the umask
/// leaves it) is set on the file between bind and listen, so no client
/// connects before it applies.
pub(crate) fn bind(
    addr: &UnixAddr,
    mode: u32,
    backlog: u32,
) -> Result<(UnixListener, Option<PathGuard>)> {
    let context = |what: &str| format!("{what} {addr}");
    let sock_addr = addr
        .sock_addr()
        .map_err(|e| Error::new(Code::BadAddress, format!("{addr}: {e}")))?;
    if let Some(path) = addr.path() {
        clear_stale(path)?;
    }
    let socket = new_socket().map_err(|e| Error::from_io(&context("socket for"), &e))?;
    socket
        .bind(&sock_addr)
        .map_err(|e| Error::from_io(&context("bind"), &e))?;
    // From here the file is ours: an error below drops the guard, which
    // removes it again.
    let guard = addr
        .path()
        .map(PathGuard::new)
        .transpose()
        .map_err(|e| Error::from_io(&context("stat"), &e))?;
    if let (Some(guard), true) = (&guard, mode != 0) {
        fs::set_permissions(&guard.path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::from_io(&context("chmod"), &e))?;
    }
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket
        .listen(backlog)
        .map_err(|e| Error::from_io(&context("listen on"), &e))?;
    let listener = UnixListener::from_std(socket.into())
        .map_err(|e| Error::from_io(&context("register"), &e))?;
    Ok((listener, guard))
}

/// Removes a socket file left by a listener that is gone (a connect to it
/// is refused); refuses a live socket and anything that is not a socket.
fn clear_stale(path: &str) -> Result<()> {
    let in_use = |why: &str| Error::new(Code::AddressInUse, format!("unix:{path}: {why}"));
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::from_io(&format!("stat unix:{path}"), &e)),
    };
    if !meta.file_type().is_socket() {
        return Err(in_use(
            "the path exists and is not a socket; it was left alone",
        ));
    }
    let probe = new_socket().map_err(|e| Error::from_io("socket", &e))?;
    let target = socket2::SockAddr::unix(path)
        .map_err(|e| Error::new(Code::BadAddress, format!("unix:{path}: {e}")))?;
    match probe.connect(&target) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            log::debug!("removing stale socket file {path:?}: nobody listens on it");
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::from_io(
                    &format!("removing stale socket file unix:{path}"),
                    &e,
                )),
                _ => Ok(()),
            }
        }
        // Accepted, or a full backlog (EAGAIN): someone is listening.
        Ok(()) => Err(in_use("another listener is accepting on it")),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            Err(in_use("another listener is accepting on it"))
        }
        Err(e) => Err(Error::from_io(
            &format!("checking whether unix:{path} is live"),
            &e,
        )),
    }
}

/// Connects to `target`, first binding the client's end to `bind` if
/// given. A path with no socket file answers `Refused`, as a port nobody
/// listens on does.
pub(crate) async fn connect(target: &UnixAddr, bind: Option<&UnixAddr>) -> Result<UnixStream> {
    let context = |what: &str| format!("{what} {target}");
    let socket = new_socket().map_err(|e| Error::from_io(&context("socket for"), &e))?;
    if let Some(bind) = bind {
        let local = bind
            .sock_addr()
            .map_err(|e| Error::new(Code::BadAddress, format!("{bind}: {e}")))?;
        socket
            .bind(&local)
            .map_err(|e| Error::from_io(&format!("bind {bind}"), &e))?;
    }
    let remote = target
        .sock_addr()
        .map_err(|e| Error::new(Code::BadAddress, format!("{target}: {e}")))?;
    let in_progress = match socket.connect(&remote) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::new(
                Code::Refused,
                format!("connect {target}: no socket at this path ({e})"),
            ))
        }
        Err(e) => return Err(Error::from_io(&context("connect"), &e)),
    };
    let stream = UnixStream::from_std(socket.into())
        .map_err(|e| Error::from_io(&context("register"), &e))?;
    if in_progress {
        // Not on Linux, where a Unix connect completes or fails at once.
        stream
            .writable()
            .await
            .map_err(|e| Error::from_io(&context("connect"), &e))?;
        if let Some(e) = stream.take_error().ok().flatten() {
            return Err(Error::from_io(&context("connect"), &e));
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sack-unix-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    fn path_addr(path: &std::path::Path) -> UnixAddr {
        UnixAddr::Path(path.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn stale_files_are_replaced_and_live_ones_refused() {
        let dir = temp_dir("stale");
        let path = dir.join("s.sock");
        let addr = path_addr(&path);
        // A socket file nobody listens on.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (live, guard) = bind(&addr, 0o600, 8).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let err = bind(&addr, 0, 8).unwrap_err();
        assert_eq!(err.code(), Code::AddressInUse, "{err}");
        assert!(path.exists(), "the live socket's file stays");
        drop(live);
        drop(guard);
        assert!(!path.exists(), "the listener's file goes with it");
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn other_files_are_never_removed() {
        let dir = temp_dir("plain");
        let path = dir.join("not-a-socket");
        fs::write(&path, b"keep").unwrap();
        let err = bind(&path_addr(&path), 0, 8).unwrap_err();
        assert_eq!(err.code(), Code::AddressInUse, "{err}");
        assert!(err.message().contains("not a socket"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"keep");
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_replaced_file_is_left_at_close() {
        let dir = temp_dir("replaced");
        let path = dir.join("s.sock");
        let (listener, guard) = bind(&path_addr(&path), 0, 8).unwrap();
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"someone else's").unwrap();
        drop(listener);
        drop(guard);
        assert_eq!(fs::read(&path).unwrap(), b"someone else's");
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn connecting_to_nothing_is_refused() {
        let dir = temp_dir("nothing");
        let err = connect(&path_addr(&dir.join("none.sock")), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Refused, "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
