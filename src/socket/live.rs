//! Changing a live connection's TCP options (no_delay, keepalive, the user
//! timeout) and reaching its descriptor: the settings given at open are
//! only where a connection starts.

use std::time::Duration;

use socket2::SockRef;

use super::connection::Phase;
use super::figures::tcp_info;
pub use super::figures::Figures;
use super::{net, not_connected, Socket};
use crate::error::{Code, Error, Result};
use crate::options::{check_user_timeout, KeepAlive};

impl Socket {
    /// Runs `f` on the connection's socket under the state lock, so the
    /// driver cannot close the descriptor meanwhile.
    #[cfg_attr(not(unix), allow(dead_code))]
    fn with_live_stream<T>(
        &self,
        what: &str,
        f: impl FnOnce(SockRef<'_>) -> std::io::Result<T>,
    ) -> Result<T> {
        self.with_live(what, false, f)
    }

    /// As `with_live_stream`, for a TCP option: a Unix connection has none.
    fn with_live_tcp<T>(
        &self,
        what: &str,
        f: impl FnOnce(SockRef<'_>) -> std::io::Result<T>,
    ) -> Result<T> {
        self.with_live(what, true, f)
    }

    fn with_live<T>(
        &self,
        what: &str,
        tcp_only: bool,
        f: impl FnOnce(SockRef<'_>) -> std::io::Result<T>,
    ) -> Result<T> {
        let conn = self.connection()?;
        self.check_open()?;
        let st = conn.lock();
        match (&st.stream, st.phase) {
            (Some(stream), _) if tcp_only && !stream.is_tcp() => Err(Error::new(
                Code::NotApplicable,
                format!("{what}: a Unix domain connection has no TCP options"),
            )),
            (Some(stream), _) => f(SockRef::from(&**stream)).map_err(|e| Error::from_io(what, &e)),
            (None, Phase::Connecting) => Err(not_connected()),
            (None, _) => Err(Error::closed()),
        }
    }

    /// TCP_NODELAY on the live connection.
    pub fn set_no_delay(&self, on: bool) -> Result<()> {
        self.with_live_tcp("setting TCP_NODELAY", |s| s.set_tcp_nodelay(on))
    }

    /// Keepalive on the live connection: off with `idle` `None`, otherwise
    /// on with these times (interval and count `None` keep the socket's).
    pub fn set_keep_alive(
        &self,
        idle: Option<Duration>,
        interval: Option<Duration>,
        count: Option<u32>,
    ) -> Result<()> {
        let params = KeepAlive::new(idle, interval, count)?;
        self.with_live_tcp("setting keepalive", |s| {
            net::set_keep_alive(s, params.as_ref())
        })
    }

    /// TCP_USER_TIMEOUT on the live connection (`None`: the system's).
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let timeout = check_user_timeout(timeout)?;
        self.with_live_tcp("setting TCP_USER_TIMEOUT", |s| {
            net::set_user_timeout(s, timeout)
        })
    }

    /// The idle timeout on the live connection (`None`: never), its clock
    /// restarted from now.
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let conn = self.connection()?;
        self.check_open()?;
        let mut st = conn.lock();
        if st.phase == Phase::Closed {
            return Err(Error::closed());
        }
        let Some(addrs) = st.addrs.as_deref_mut() else {
            return Err(not_connected());
        };
        addrs.idle_timeout = Some(timeout);
        addrs.idle_changed = true;
        drop(st);
        conn.wake();
        Ok(())
    }

    /// The connection's figures: bytes each way, time connected and the
    /// kernel's TCP_INFO (fresh while open; frozen when it closed, so they
    /// stay readable in the close callback and after).
    pub fn figures(&self) -> Result<Figures> {
        let conn = self.connection()?;
        let mut guard = conn.lock();
        let st = &mut *guard;
        let Some(addrs) = st.addrs.as_deref_mut() else {
            return Err(not_connected());
        };
        if addrs.figures.ended_at.is_none() {
            if let Some(stream) = &st.stream {
                addrs.figures.tcp = tcp_info(stream).or(addrs.figures.tcp);
            }
        }
        Ok(addrs.figures)
    }

    /// The connection's descriptor, for options the library does not wrap.
    #[cfg(unix)]
    pub fn raw_fd(&self) -> Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.with_live_stream("reading the descriptor", |s| Ok(s.as_raw_fd()))
    }
}

impl Socket {
    fn listener(&self) -> Result<&super::listener::Listener> {
        self.check_open()?;
        match &self.role {
            super::Role::Listener(l) => Ok(l),
            super::Role::Connection(_) => Err(Error::new(
                crate::error::Code::NotApplicable,
                "this is a connection; the connection cap belongs to a listener",
            )),
        }
    }

    /// Accepted connections of this listener whose close has not been
    /// raised yet.
    pub fn connection_count(&self) -> Result<usize> {
        Ok(self.listener()?.connection_count())
    }

    /// Changes the listener's cap (0: none) for connections accepted from
    /// now on; open ones past a lowered cap stay open.
    pub fn set_max_connections(&self, max: u32) -> Result<()> {
        self.listener()?.set_max_connections(max);
        Ok(())
    }
}
